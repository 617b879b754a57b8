/*
 * pty.c: terminals on the sandbox's own devpts, and fd passing.
 *
 * The PTY is opened inside the sandbox, after the pivot, from its private devpts instance:
 * the slave is a device of the sandbox's own, so nothing in it names a host terminal, and
 * TIOCSTI is refused by seccomp. The master goes to the parent over a unix socket
 * (SCM_RIGHTS, base/fdpass.h). TIOCGPTPEER gets the slave without a path lookup.
 */
#include "base/fdpass.h"
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int pty_open(unsigned short rows, unsigned short cols, int *ret_master, int *ret_slave)
{
    int unlock = 0;
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return -errno;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
        goto fail;
    struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
    if (ioctl(m, TIOCSWINSZ, &ws) < 0)
        goto fail;
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0)
        goto fail;
    *ret_master = m;
    *ret_slave = s;
    return 0;
fail:;
    int e = errno;
    close(m);
    return -e;
}

int pty_send_fd(int sock, int fd)
{
    return fdpass_send(sock, "F", 1, &fd, 1);
}

int pty_recv_fd(int sock, int *ret_fd)
{
    char byte;
    size_t nfds = 0;
    ssize_t n = fdpass_recv(sock, &byte, 1, ret_fd, 1, &nfds, MSG_DONTWAIT);
    if (n < 0)
        return (int)n;
    if (n == 0)
        return -EPIPE;
    return nfds == 1 ? 0 : -EPROTO;
}

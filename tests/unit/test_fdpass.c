/* Unit tests for base/fdpass: fds arrive close-on-exec, nothing received is ever leaked
 * (surplus fds, a truncated message, too many fds for the control buffer). */
#include "base/fdpass.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int sv[2] = {-1, -1};

static void setup(void)
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void teardown(void)
{
    close(sv[0]);
    close(sv[1]);
}

TestSuite(fdpass, .init = setup, .fini = teardown);

/* Open descriptors of this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own */
}

static void pipe_fds(int p[2])
{
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
}

Test(fdpass, a_message_and_its_fds_arrive_close_on_exec)
{
    int p[2];
    pipe_fds(p);
    int fds[2] = {p[0], p[1]};
    cr_assert_eq(fdpass_send(sv[0], "hello", 5, fds, 2), 0);
    char buf[16];
    int got[2] = {-1, -1};
    size_t n = 0;
    cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), got, 2, &n, 0), 5);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
        cr_assert_neq(got[i], fds[i]);
    }
    /* They are the same pipe: what goes in one end comes out of the other. */
    cr_assert_eq(write(got[1], "x", 1), 1);
    char c;
    cr_assert_eq(read(p[0], &c, 1), 1);
    for (int i = 0; i < 2; i++) {
        close(got[i]);
        close(p[i]);
    }
}

Test(fdpass, surplus_fds_are_closed)
{
    int p[2];
    pipe_fds(p);
    int fds[3] = {p[0], p[1], p[0]};
    cr_assert_eq(fdpass_send(sv[0], "m", 1, fds, 3), 0);
    cr_assert_eq(fdpass_send(sv[0], "n", 1, fds, 3), 0);
    int before = open_fds();
    char buf[4];
    int got = -1;
    size_t n = 0;
    cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), &got, 1, &n, 0), 1);
    cr_assert_eq(n, 1);
    cr_assert_eq(open_fds(), before + 1, "only the one fd asked for stays open");
    close(got);
    /* No room for fds at all (ret_nfds NULL): every one is closed. */
    cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), NULL, 0, NULL, 0), 1);
    cr_assert_eq(open_fds(), before);
    close(p[0]);
    close(p[1]);
}

Test(fdpass, a_truncated_message_keeps_nothing)
{
    int p[2];
    pipe_fds(p);
    cr_assert_eq(fdpass_send(sv[0], "0123456789", 10, p, 2), 0);
    int before = open_fds();
    char buf[4];
    int got[2] = {-1, -1};
    size_t n = 99;
    cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), got, 2, &n, 0), -EMSGSIZE);
    cr_assert_eq(n, 99, "not set on failure");
    cr_assert_eq(open_fds(), before);
    close(p[0]);
    close(p[1]);
}

Test(fdpass, more_fds_than_the_control_buffer_keeps_nothing)
{
    /* A peer that sends more than FDPASS_MAX fds (by hand: fdpass_send refuses). */
    int fds[FDPASS_MAX + 4];
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        fds[i] = STDIN_FILENO;
    char cbuf[CMSG_SPACE(sizeof(fds))];
    memset(cbuf, 0, sizeof(cbuf));
    struct iovec iov = {.iov_base = "z", .iov_len = 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    cr_assert_eq(sendmsg(sv[0], &m, 0), 1);
    int before = open_fds();
    char buf[4];
    int got[FDPASS_MAX];
    size_t n = 0;
    cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), got, FDPASS_MAX, &n, 0), -EMSGSIZE);
    cr_assert_eq(open_fds(), before);
    cr_assert_eq(fdpass_send(sv[0], "z", 1, fds, FDPASS_MAX + 1), -EINVAL);
}

Test(fdpass, end_of_file_and_would_block)
{
    char buf[4];
    size_t n = 0;
    cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), NULL, 0, &n, MSG_DONTWAIT), -EAGAIN);
    close(sv[0]);
    sv[0] = -1;
    cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), NULL, 0, &n, 0), 0);
    cr_assert_eq(n, 0);
}

Test(fdpass, a_dead_peer_is_epipe_not_sigpipe)
{
    close(sv[1]);
    sv[1] = -1;
    cr_assert_eq(fdpass_send(sv[0], "x", 1, NULL, 0), -EPIPE);
}

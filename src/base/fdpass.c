/* fdpass: SCM_RIGHTS send and receive without malloc; see fdpass.h. */
#include "base/fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

union control {
    char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
    struct cmsghdr align;
};

int fdpass_send(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
    if (nfds > FDPASS_MAX || len == 0)
        return -EINVAL;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    union control u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&u, 0, sizeof(u));
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &m, MSG_NOSIGNAL);
        if (n >= 0)
            return (size_t)n == len ? 0 : -EMSGSIZE;
        if (errno != EINTR)
            return -errno;
    }
}

ssize_t fdpass_recv(int sock, void *data, size_t len, int *fds, size_t max_fds, size_t *ret_nfds,
                    int flags)
{
    struct iovec iov = {.iov_base = data, .iov_len = len};
    union control u;
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    do {
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (!ret_nfds)
        max_fds = 0;
    size_t got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + sizeof(int) * i, sizeof(int));
            if (got < max_fds)
                fds[got++] = fd;
            else
                close(fd); /* surplus: the caller did not ask for it */
        }
    }
    if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        /* Part of the message or of its fds is gone: nothing of it can be trusted. (The
         * kernel already closed the fds that did not fit.) */
        for (size_t i = 0; i < got; i++)
            close(fds[i]);
        return -EMSGSIZE;
    }
    if (ret_nfds)
        *ret_nfds = got;
    return n;
}

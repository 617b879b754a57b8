/*
 * fdpass: one message and a few file descriptors over a unix socket (SCM_RIGHTS).
 *
 * The server and its supervisor, the supervisor and a sandbox's set-up, the warm
 * template and its zygotes all hand descriptors over this way; this is the one copy.
 * The rules it keeps:
 *   - no malloc and no logging: it runs between clone and exec, and in zygotes;
 *   - every received fd is close-on-exec (MSG_CMSG_CLOEXEC), so none leaks into a sandbox;
 *   - EINTR is retried; sends use MSG_NOSIGNAL (a dead peer is -EPIPE, not SIGPIPE);
 *   - nothing received is leaked: fds beyond what the caller asked for are closed, and a
 *     truncated message (MSG_TRUNC, or MSG_CTRUNC: more fds than FDPASS_MAX) closes every
 *     fd that came with it and fails with -EMSGSIZE.
 * Received fds belong to the caller; sent fds stay the caller's too (the peer gets copies).
 */
#ifndef PYROOM_BASE_FDPASS_H
#define PYROOM_BASE_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX 8 /* fds in one message, either way */

/* Sends len bytes (len > 0) with nfds fds (0..FDPASS_MAX) as one message. Returns 0,
 * -EMSGSIZE on a short send, -EINVAL for too many fds, or -errno. */
int fdpass_send(int sock, const void *data, size_t len, const int *fds, size_t nfds);

/* Receives one message into data (at most len bytes) and up to max_fds fds into fds (may
 * be NULL when max_fds is 0). flags go to recvmsg (MSG_DONTWAIT). Returns the message's
 * length, 0 at end of file, or -errno (-EMSGSIZE: truncated, nothing kept). *ret_nfds
 * (may be NULL: then every fd is closed) is the number of fds stored, set on success. */
ssize_t fdpass_recv(int sock, void *data, size_t len, int *fds, size_t max_fds, size_t *ret_nfds,
                    int flags);

#endif

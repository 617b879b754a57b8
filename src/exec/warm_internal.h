/*
 * warm_internal.h: what the two halves of the warm pool share (not for the rest of the
 * program): the messages between a template (warm_template.c) and the pool in the
 * supervisor (warm.c), over a SOCK_SEQPACKET pair, a zygote's claim socket passed with
 * SCM_RIGHTS.
 */
#ifndef PYROOM_EXEC_WARM_INTERNAL_H
#define PYROOM_EXEC_WARM_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#define WARM_CTL_FD 3 /* in a template: its end of the socket with the supervisor */

enum warm_msg_type {
    WARM_BOOTED = 0x57410001, /* template -> supervisor: imports done (value: ms, text: errors) */
    WARM_ZYGOTE,              /* template -> supervisor: pid, with its claim socket */
    WARM_ERROR,               /* template -> supervisor: text */
    WARM_PONG,
    WARM_FORK, /* supervisor -> template: fork `value` zygotes */
    WARM_PING,
    WARM_REHEARSED, /* template -> supervisor: pages of the set named text (value) */
};

struct warm_msg {
    uint32_t type;
    int32_t pid;
    uint64_t value;
    char text[200];
};

/* Sends m and at most one fd (-1: none); 0 or -errno. */
int warm_msg_send(int sock, const struct warm_msg *m, int fd);
/* One message and at most one fd (close-on-exec, -1 if none); 0 on EOF, else its length
 * (-EPROTO for a message of the wrong size, whose fd is closed). */
ssize_t warm_msg_recv(int sock, struct warm_msg *m, int *ret_fd, int flags);

#endif

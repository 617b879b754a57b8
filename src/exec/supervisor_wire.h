/* supervisor_wire: the messages between the supervisor process (supervisor.c) and its
 * client (supervisor_client.c), and what the two share. Private to those two files; the
 * wire format is described at the top of supervisor.c. */
#ifndef PYROOM_EXEC_SUPERVISOR_WIRE_H
#define PYROOM_EXEC_SUPERVISOR_WIRE_H

#include "exec/supervisor.h"
#include "exec/warm.h"

#include <stdint.h>
#include <sys/types.h>

enum msg_type {
    MSG_HELLO = 0x50590001,
    MSG_SPAWN,
    MSG_SPAWNED,
    MSG_KILL,
    MSG_RESULT,
    MSG_STATS, /* client -> supervisor (with a channel): the warm pool's figures */
};

struct msg_hello {
    uint32_t type;
    int32_t err;     /* positive errno when the host cannot run sandboxes */
    char text[1600]; /* the host summary, or the error message */
};

struct msg_spawn {
    uint32_t type;
    uint32_t argc, envc;
    uint8_t pty, has_cwd, has_workspace, shared_workspace;
    uint8_t warm, pad[3];
    uint16_t rows, cols;
    struct sb_limits limits;
    uint32_t strings_len;
};

struct msg_spawned {
    uint32_t type;
    int32_t err;
    uint64_t id;
    int32_t pid;
    uint32_t nfds;
    uint32_t warm; /* started in a warm interpreter */
    char msg[256];
};

struct msg_stats {
    uint32_t type;
    struct warm_stats warm;
};

struct msg_kill {
    uint32_t type;
    uint32_t why;
};

struct msg_result {
    uint32_t type;
    struct sb_result result;
};

#define MAX_SPAWN_MSG (sizeof(struct msg_spawn) + SB_MAX_STRINGS)

struct sup {
    int fd;    /* our end of the main socket */
    pid_t pid; /* the supervisor */
    char summary[1600];
};

/* The supervisor process's body: serves the client on sock until it closes, then exits. */
__attribute__((noreturn)) void supervisor_main(int sock, const struct sup_config *cfg);

#endif

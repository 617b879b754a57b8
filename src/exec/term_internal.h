/*
 * exec/term_internal.h: what the files of the terminals module share; nothing outside
 * src/exec/terminals.c, term_loop.c and term_env.c includes it.
 *
 *   terminals.c  the public face (terminals.h): open, attach, revoke, list, end, new, free
 *   term_loop.c  the loop thread: clients, PTYs, input and output, ticks
 *   term_env.c   environments: directory, file system, sync, shells; the reaper thread
 *                (teardown off the loop) and the workspace leases
 *   ring.c       the scrollback (its own module: exec/ring.h)
 *
 * Locking: t->mu guards every env, term and client and the lists in struct terms; the
 * loop owns the epoll set and the sockets; functions below say which they need.
 */
#ifndef PYROOM_EXEC_TERM_INTERNAL_H
#define PYROOM_EXEC_TERM_INTERNAL_H

#include "base/buf.h"
#include "base/clock.h"
#include "exec/ring.h"
#include "exec/supervisor.h"
#include "exec/terminals.h"
#include "http/server.h"
#include "http/ws.h"
#include "workspace/fsdir.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK     (64u << 10) /* bytes read from a PTY at once */
#define MIN_ROOM       4096u       /* a client with less queue room than this blocks the PTY */
#define RX_SIZE        (16u << 10) /* bytes read from a client socket at once */
#define MAX_CONTROL    4096u       /* bytes in one text (control) message */
#define SLOW_CLIENT_MS 30000u      /* a client whose queue stays full this long is dropped */
#define CLOSING_MS     5000u       /* time given to a closing client to take its last bytes */
#define TICK_MS        200u        /* timer resolution of the loop */
#define LEASE_TTL_MS   60000       /* a lease lives this long unless renewed */
#define MAX_COLS       1000
#define MAX_ROWS       500

enum src_kind { SRC_WAKE, SRC_CLIENT, SRC_PTY, SRC_CHAN };

/* What an epoll event points at. Objects are freed only at the end of a loop batch. */
struct src {
    enum src_kind kind;
    void *obj;
};

struct client {
    struct src src;
    struct term *term;
    int fd;
    void *handle; /* for http_upgrade_close */
    struct ws *ws;
    uint8_t rx[RX_SIZE];
    size_t rx_off, rx_len; /* received bytes not fed to ws yet */
    uint32_t events;       /* current epoll interest */
    uint64_t last_rx_ms;   /* anything received (pongs too) */
    uint64_t last_ping_ms;
    uint64_t full_since_ms;    /* queue too full to take PTY output since, 0 when not */
    uint64_t closing_since_ms; /* close queued, waiting for the flush; 0 when not */
    int64_t user_id;           /* who attached, and with which credential (terms_revoke) */
    char session[80];          /* session token hash, "" for an API token */
    int64_t token_id;          /* API token id, 0 for a session */
    bool read_only;            /* a watcher: its input and resizes are not taken */
    bool told_read_only;       /* it was told so once */
    bool dead;
    struct client *next;
};

struct term {
    struct src pty_src, chan_src;
    struct env *env;
    char name[TERM_NAME_MAX + 1];
    struct sup_proc *proc;
    int pty; /* -1 once the shell side hung up */
    uint32_t pty_events;
    struct ring sb;
    struct buf in; /* input the PTY did not take yet */
    struct client *clients;
    unsigned refs; /* term_refs not attached yet */
    bool starting;
    bool exited; /* the sandbox ended: no longer in env->terms */
    int exit_code;
    struct term *next; /* in env->terms, or in t->dead_terms once exited */
};

struct env {
    struct terms *t;
    int64_t ws;
    int64_t owner;
    char dir[32]; /* name under DATA_DIR/envs */
    int dirfd;
    struct wsync *sync;
    struct term *terms;
    unsigned refs; /* opens and applies in progress on other threads */
    uint64_t started_ms;
    uint64_t active_ms; /* last I/O, attach or detach */
    uint64_t lease_ms;  /* last lease renewal */
    bool starting;
    bool ending; /* shells killed; torn down by the reaper once they are gone */
    bool reaping;
    struct env *next;
};

struct term_ref {
    struct terms *t;
    struct term *term;
    int64_t user_id; /* the caller, copied into the client (terms_ref_set_caller) */
    char session[80];
    int64_t token_id;
    uint64_t since_ms; /* when the caller was authenticated */
    bool read_only;    /* a watcher: output only (terms_watch) */
};

/* Recent revocations: a client whose upgrade was answered but not yet attached when its
 * credential was revoked is refused at attach time (the upgrade runs on another thread). */
#define REVOKED_RING 32
struct revocation {
    int64_t user_id;
    char session[80];
    int64_t token_id;
    uint64_t at_ms;
};

struct terms {
    struct terms_config cfg;
    char *data_dir;
    char *node;
    struct store *store;
    struct sup *sup;
    struct wsync_hub *hub;
    int envs_dirfd;
    int ep;
    struct src wake_src;
    int wake; /* eventfd: stop, or new work for the loop */
    pthread_t loop, reaper;
    bool loop_started, reaper_started;
    pthread_mutex_t mu; /* everything below, and every env, term and client */
    pthread_cond_t cv;  /* env and term state changes; reaper work */
    struct env *envs;
    struct term *dead_terms; /* exited terms waiting for their clients and refs to go */
    struct client *dead_clients;
    char *chunk; /* READ_CHUNK bytes, the loop's */
    uint64_t next_tick_ms;
    struct revocation revoked[REVOKED_RING];
    unsigned revoked_next; /* ring index */
    bool closing;
    bool stop;
};

static inline void wake(struct terms *t)
{
    uint64_t one = 1;
    (void)!write(t->wake, &one, sizeof(one));
}

/* ---- term_loop.c (called with t->mu held) ------------------------------------------- */

/* Closes c's socket and moves it to t->dead_clients (freed by sweep_clients). */
void client_close(struct terms *t, struct client *c);
/* Writes what c's queue holds, as far as the socket takes it; updates its epoll interest. */
void client_flush(struct terms *t, struct client *c);
/* Queues msg as a text frame to c; takes the caller's reference (msg is released). */
void client_send_json(struct terms *t, struct client *c, json_t *msg);
/* Queues a close frame (code, why) and lets c drain for CLOSING_MS. */
void client_end(struct terms *t, struct client *c, uint16_t code, const char *why);
/* Feeds what c's socket holds to its WebSocket and the terminal. */
void client_input(struct terms *t, struct client *c);
/* Writes a line of text into the terminal's output (scrollback and every client). */
void term_notice(struct terms *t, struct term *term, const char *text);
void term_free(struct term *term);
/* Ends env: every shell killed (why, if any, told to every client); the reaper then
 * stores the last changes and removes the directory. */
void env_end(struct terms *t, struct env *env, const char *why);
/* Frees the clients closed in this loop batch. */
void sweep_clients(struct terms *t);
/* The loop thread (pthread_create). */
void *loop_main(void *arg);

/* ---- term_env.c --------------------------------------------------------------------- */

/* The reaper thread (pthread_create): tears ended environments down and renews leases. */
void *reaper_main(void *arg);
/* The live environment of workspace ws, or NULL. With t->mu. */
struct env *find_env(struct terms *t, int64_t ws);
/* Makes env's directory and file system, writes the files, takes the lease. Without t->mu. */
int env_start(struct terms *t, struct env *env, struct err *err);
/* Starts term's shell. Without t->mu. */
int term_start(struct terms *t, struct term *term, struct err *err);

#endif

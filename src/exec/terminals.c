/* terminals: live environments, shells on PTYs, WebSocket clients; see terminals.h. */
#include "exec/terminals.h"

#include "base/buf.h"
#include "exec/supervisor.h"
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

/* The scrollback: the last `max` bytes of output. Grows on demand up to max, then wraps. */
struct ring {
    char *data;
    size_t cap;   /* bytes allocated */
    size_t max;   /* bytes kept at most */
    size_t start; /* offset of the oldest byte (0 until it wraps) */
    size_t len;   /* bytes held */
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

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wake(struct terms *t)
{
    uint64_t one = 1;
    (void)!write(t->wake, &one, sizeof(one));
}

/* ---- scrollback ----------------------------------------------------------------------- */

static void ring_append(struct ring *r, const char *p, size_t n)
{
    if (!r->max)
        return;
    if (n >= r->max) {
        p += n - r->max;
        n = r->max;
    }
    if (r->cap < r->max && r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n && cap < r->max)
            cap *= 2;
        if (cap > r->max)
            cap = r->max;
        char *d = realloc(r->data, cap);
        if (!d)
            return;
        r->data = d;
        r->cap = cap; /* start is 0 until cap == max: growing never has to unwrap */
    }
    for (size_t i = 0; i < n;) {
        size_t end = (r->start + r->len) % r->cap;
        if (r->len == r->cap) { /* full: overwrite the oldest */
            size_t k = r->cap - r->start;
            if (k > n - i)
                k = n - i;
            memcpy(r->data + r->start, p + i, k);
            r->start = (r->start + k) % r->cap;
            i += k;
            continue;
        }
        size_t k = (end >= r->start ? r->cap - end : r->start - end);
        if (k > n - i)
            k = n - i;
        if (k > r->cap - r->len)
            k = r->cap - r->len;
        memcpy(r->data + end, p + i, k);
        r->len += k;
        i += k;
    }
}

/* ---- clients ------------------------------------------------------------------------- */

static void set_events(struct terms *t, int fd, uint32_t *cur, uint32_t want, struct src *src)
{
    if (*cur == want)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = src};
    (void)epoll_ctl(t->ep, EPOLL_CTL_MOD, fd, &ev);
    *cur = want;
}

static void pty_update(struct terms *t, struct term *term);

static void client_close(struct terms *t, struct client *c)
{
    if (c->dead)
        return;
    c->dead = true;
    (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
    http_upgrade_close(c->handle); /* closes the socket */
    c->fd = -1;
    struct term *term = c->term;
    for (struct client **p = &term->clients; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    c->next = t->dead_clients;
    t->dead_clients = c;
    if (term->env)
        term->env->active_ms = now_ms();
    pty_update(t, term); /* a slow client gone may unblock the PTY */
}

/* Writes what the client's queue holds; closes it when done with a finished conversation
 * or when the socket is dead. */
static void client_flush(struct terms *t, struct client *c)
{
    if (c->dead)
        return;
    int r = ws_flush(c->ws, c->fd);
    if (r < 0 && r != -EAGAIN) {
        client_close(t, c);
        return;
    }
    if (r == 0 && (ws_finished(c->ws) || c->closing_since_ms)) {
        client_close(t, c);
        return;
    }
    uint32_t want = (c->events & EPOLLIN) | (r == -EAGAIN ? EPOLLOUT : 0);
    set_events(t, c->fd, &c->events, want, &c->src);
    if (c->full_since_ms && ws_send_room(c->ws) >= MIN_ROOM) {
        c->full_since_ms = 0;
        pty_update(t, c->term);
    }
}

static void client_send_json(struct terms *t, struct client *c, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text && !c->dead)
        (void)ws_send(c->ws, WS_TEXT, text, strlen(text));
    free(text);
    client_flush(t, c);
}

/* Queues a close and lets the flush finish it. */
static void client_end(struct terms *t, struct client *c, uint16_t code, const char *why)
{
    if (c->dead || c->closing_since_ms)
        return;
    ws_close(c->ws, code, why);
    c->closing_since_ms = now_ms();
    set_events(t, c->fd, &c->events, c->events & ~(uint32_t)EPOLLIN, &c->src);
    client_flush(t, c);
}

static void send_all(struct terms *t, struct term *term, const char *p, size_t n)
{
    for (struct client *c = term->clients, *next; c; c = next) {
        next = c->next;
        if (c->closing_since_ms)
            continue;
        if (ws_send(c->ws, WS_BINARY, p, n) < 0) {
            /* Only notices can pass the room check; a client that cannot take one is
             * too slow to keep. */
            client_close(t, c);
            continue;
        }
        client_flush(t, c);
    }
}

/* ---- PTY ------------------------------------------------------------------------------ */

/* Reads the PTY only while every client has room: the backpressure rule. */
static void pty_update(struct terms *t, struct term *term)
{
    if (term->pty < 0)
        return;
    bool room = true;
    uint64_t now = now_ms();
    for (struct client *c = term->clients; c; c = c->next) {
        if (c->closing_since_ms)
            continue;
        if (ws_send_room(c->ws) < MIN_ROOM) {
            room = false;
            if (!c->full_since_ms)
                c->full_since_ms = now;
        }
    }
    uint32_t want = (room ? EPOLLIN : 0) | (term->in.len ? EPOLLOUT : 0);
    set_events(t, term->pty, &term->pty_events, want, &term->pty_src);
}

static void client_input(struct terms *t, struct client *c);

/* The PTY took (some of) its pending input: let paused clients go on. */
static void pty_writable(struct terms *t, struct term *term)
{
    while (term->in.len) {
        ssize_t w = write(term->pty, term->in.data, term->in.len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        if (w <= 0) {
            buf_reset(&term->in);
            break;
        }
        memmove(term->in.data, term->in.data + w, term->in.len - (size_t)w);
        term->in.len -= (size_t)w;
    }
    pty_update(t, term);
    if (term->in.len)
        return;
    for (struct client *c = term->clients, *next; c; c = next) {
        next = c->next;
        if (!c->closing_since_ms && !(c->events & EPOLLIN)) {
            set_events(t, c->fd, &c->events, c->events | EPOLLIN, &c->src);
            client_input(t, c);
        }
        if (term->in.len)
            break;
    }
}

static void term_input(struct terms *t, struct term *term, const uint8_t *p, size_t n)
{
    if (term->pty < 0 || !n)
        return;
    term->env->active_ms = now_ms();
    if (!term->in.len) {
        while (n) {
            ssize_t w = write(term->pty, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            p += w;
            n -= (size_t)w;
        }
    }
    if (n && buf_append(&term->in, p, n) < 0)
        return; /* cannot happen: input stops while in holds anything */
    if (n)
        pty_update(t, term);
}

static void term_output(struct terms *t, struct term *term)
{
    size_t room = READ_CHUNK;
    for (struct client *c = term->clients; c; c = c->next) {
        if (c->closing_since_ms)
            continue;
        size_t r = ws_send_room(c->ws);
        if (r < room)
            room = r;
    }
    if (room < MIN_ROOM) {
        pty_update(t, term);
        return;
    }
    ssize_t n = read(term->pty, t->chunk, room);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* EIO: every slave fd is closed (the shell is gone); the channel says how it ended. */
        (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, term->pty, NULL);
        close(term->pty);
        term->pty = -1;
        return;
    }
    term->env->active_ms = now_ms();
    ring_append(&term->sb, t->chunk, (size_t)n);
    send_all(t, term, t->chunk, (size_t)n);
    pty_update(t, term);
}

/* Tells every client of the terminal something of ours, in colour, between lines. */
static void term_notice(struct terms *t, struct term *term, const char *text)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "\r\n\x1b[33mpyroom: %s\x1b[0m\r\n", text);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    ring_append(&term->sb, line, len);
    send_all(t, term, line, len);
}

static void term_free(struct term *term)
{
    free(term->sb.data);
    buf_done(&term->in);
    free(term);
}

/* The sandbox has ended: tell the clients, close them once their queues are out. */
static void term_end(struct terms *t, struct term *term)
{
    struct sb_result res;
    int r = sup_result(term->proc, &res);
    if (r == -EAGAIN)
        return;
    if (term->pty >= 0) {
        /* What the shell wrote last is still in the PTY. */
        for (int i = 0; i < 16; i++) {
            ssize_t n = read(term->pty, t->chunk, READ_CHUNK);
            if (n <= 0)
                break;
            ring_append(&term->sb, t->chunk, (size_t)n);
            for (struct client *c = term->clients; c; c = c->next)
                (void)ws_send(c->ws, WS_BINARY, t->chunk, (size_t)n);
        }
        (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, term->pty, NULL);
        close(term->pty);
        term->pty = -1;
    }
    term->exit_code = r < 0 ? -1 : res.signal ? 128 + res.signal : res.exit_code;
    (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, term->proc->chan, NULL);
    sup_proc_free(term->proc);
    term->proc = NULL;
    term->exited = true;
    struct env *env = term->env;
    for (struct term **p = &env->terms; *p; p = &(*p)->next)
        if (*p == term) {
            *p = term->next;
            break;
        }
    term->next = t->dead_terms;
    t->dead_terms = term;
    env->active_ms = now_ms();
    for (struct client *c = term->clients, *next; c; c = next) {
        next = c->next;
        client_send_json(t, c, json_pack("{s:s,s:i}", "type", "exit", "code", term->exit_code));
        client_end(t, c, 1000, "the shell exited");
    }
    pthread_cond_broadcast(&t->cv);
}

/* ---- client input ----------------------------------------------------------------------- */

static void control(struct terms *t, struct client *c, const uint8_t *p, size_t n)
{
    json_error_t e;
    json_t *msg = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &e);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (type && !strcmp(type, "resize")) {
        json_t *jc = json_object_get(msg, "cols"), *jr = json_object_get(msg, "rows");
        json_int_t cols = json_integer_value(jc), rows = json_integer_value(jr);
        if (json_is_integer(jc) && json_is_integer(jr) && cols >= 1 && cols <= MAX_COLS &&
            rows >= 1 && rows <= MAX_ROWS) {
            struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
            if (c->term->pty >= 0)
                (void)ioctl(c->term->pty, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH */
        } else {
            client_send_json(t, c,
                             json_pack("{s:s,s:s}", "type", "error", "message",
                                       "resize needs integer cols (1-1000) and rows (1-500)"));
        }
    } else {
        client_send_json(t, c,
                         json_pack("{s:s,s:s}", "type", "error", "message",
                                   "unknown control message (expected {\"type\":\"resize\"})"));
    }
    json_decref(msg);
}

/* Feeds received bytes to the protocol; stops while the PTY is not taking input. */
static void client_input(struct terms *t, struct client *c)
{
    struct term *term = c->term;
    for (int reads = 0; !c->dead && !c->closing_since_ms;) {
        if (term->in.len) {
            /* The PTY is full: stop reading this socket until it drains. */
            set_events(t, c->fd, &c->events, c->events & ~(uint32_t)EPOLLIN, &c->src);
            return;
        }
        if (c->rx_off == c->rx_len) {
            if (reads++ == 4)
                return; /* fairness: level-triggered epoll brings us back */
            ssize_t n = read(c->fd, c->rx, sizeof(c->rx));
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            if (n <= 0) {
                client_close(t, c);
                return;
            }
            c->rx_off = 0;
            c->rx_len = (size_t)n;
            c->last_rx_ms = now_ms();
        }
        while (c->rx_off < c->rx_len && !term->in.len && !c->dead) {
            size_t used = 0;
            struct ws_event ev;
            int r = ws_feed(c->ws, c->rx + c->rx_off, c->rx_len - c->rx_off, &used, &ev);
            c->rx_off += used;
            if (r < 0) {
                c->closing_since_ms = now_ms();
                client_flush(t, c);
                return;
            }
            switch (ev.type) {
            case WS_BINARY:
                if (!c->read_only)
                    term_input(t, term, ev.data, ev.len);
                else if (!c->told_read_only) {
                    c->told_read_only = true;
                    client_send_json(t, c,
                                     json_pack("{s:s,s:s,s:s}", "type", "error", "code",
                                               "read_only", "message",
                                               "you are watching this terminal; typing is off"));
                }
                break;
            case WS_TEXT:
                if (!c->read_only) /* a watcher's window size is not the terminal's */
                    control(t, c, ev.data, ev.len);
                break;
            case WS_CLOSE:
                c->closing_since_ms = now_ms();
                client_flush(t, c);
                return;
            case WS_PING: /* the pong is queued */
            case WS_PONG:
            case WS_NONE:
                break;
            }
        }
        client_flush(t, c);
    }
}

/* ---- environments ------------------------------------------------------------------------ */

static void env_end(struct terms *t, struct env *env, const char *why)
{
    if (env->ending)
        return;
    env->ending = true;
    for (struct term *term = env->terms; term; term = term->next) {
        if (why)
            for (struct client *c = term->clients; c; c = c->next)
                client_send_json(t, c, json_pack("{s:s,s:s}", "type", "error", "message", why));
        if (term->proc)
            (void)sup_kill(term->proc, SB_LIMIT_NONE);
    }
    pthread_cond_broadcast(&t->cv);
}

static void tick(struct terms *t, uint64_t now)
{
    uint64_t ping = (uint64_t)t->cfg.ping_s * 1000;
    for (struct env *env = t->envs; env; env = env->next) {
        unsigned clients = 0;
        for (struct term *term = env->terms; term; term = term->next) {
            for (struct client *c = term->clients, *next; c; c = next) {
                next = c->next;
                if (c->closing_since_ms) {
                    if (now - c->closing_since_ms > CLOSING_MS)
                        client_close(t, c);
                    continue;
                }
                clients++;
                if (ping && now - c->last_rx_ms > 3 * ping) {
                    client_end(t, c, 1001, "no answer to pings");
                } else if (c->full_since_ms && now - c->full_since_ms > SLOW_CLIENT_MS) {
                    client_close(t, c); /* its queue is full: a close frame would not fit */
                } else if (ping && now - c->last_ping_ms >= ping) {
                    c->last_ping_ms = now;
                    (void)ws_send(c->ws, WS_PING, "", 0);
                    client_flush(t, c);
                }
            }
        }
        if (env->starting || env->ending)
            continue;
        if (!env->terms && !env->refs)
            env_end(t, env, NULL);
        else if (!clients && !env->refs &&
                 now - env->active_ms >= (uint64_t)t->cfg.idle_timeout_s * 1000)
            env_end(t, env, NULL);
        else if (t->cfg.max_lifetime_s &&
                 now - env->started_ms >= (uint64_t)t->cfg.max_lifetime_s * 1000)
            env_end(t, env, "this environment reached its maximum lifetime and was ended");
    }
    /* Exited terminals whose last client is gone are freed here. */
    for (struct term **p = &t->dead_terms; *p;) {
        struct term *term = *p;
        for (struct client *c = term->clients, *next; c; c = next) {
            next = c->next;
            if (c->closing_since_ms && now - c->closing_since_ms > CLOSING_MS)
                client_close(t, c);
        }
        if (!term->clients && !term->refs) {
            *p = term->next;
            term_free(term);
        } else {
            p = &term->next;
        }
    }
    pthread_cond_broadcast(&t->cv); /* the reaper looks for ended environments */
}

static void sweep_clients(struct terms *t)
{
    while (t->dead_clients) {
        struct client *c = t->dead_clients;
        t->dead_clients = c->next;
        ws_free(c->ws);
        free(c);
    }
}

static void *loop_main(void *arg)
{
    struct terms *t = arg;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(t->ep, evs, 64, TICK_MS);
        pthread_mutex_lock(&t->mu);
        if (t->stop) {
            pthread_mutex_unlock(&t->mu);
            break;
        }
        for (int i = 0; i < n; i++) {
            struct src *s = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            switch (s->kind) {
            case SRC_WAKE: {
                uint64_t v;
                (void)!read(t->wake, &v, sizeof(v));
                break;
            }
            case SRC_CLIENT: {
                struct client *c = s->obj;
                if (c->dead)
                    break;
                if (e & EPOLLOUT)
                    client_flush(t, c);
                if (!c->dead && (e & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                    client_input(t, c);
                if (!c->dead && (e & (EPOLLHUP | EPOLLERR)) && !(c->events & EPOLLIN))
                    client_close(t, c);
                break;
            }
            case SRC_PTY: {
                struct term *term = s->obj;
                if (term->pty < 0)
                    break;
                if (e & EPOLLOUT)
                    pty_writable(t, term);
                if (term->pty >= 0 && (e & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                    term_output(t, term);
                break;
            }
            case SRC_CHAN: {
                struct term *term = s->obj;
                if (term->proc)
                    term_end(t, term);
                break;
            }
            }
        }
        uint64_t now = now_ms();
        if (now >= t->next_tick_ms) {
            t->next_tick_ms = now + TICK_MS;
            tick(t, now);
        }
        sweep_clients(t);
        pthread_mutex_unlock(&t->mu);
    }
    return NULL;
}

/* ---- the reaper: teardown and leases, off the loop (they touch disk and database) ----- */

/* An environment's directory goes: its file system with one unmount (a sandbox still
 * holding it lets go when it ends), then the directory (a tree when it had no file system
 * of its own). */
static void remove_env_dir(struct terms *t, const char *name)
{
    (void)sb_wsfs_unmount(t->envs_dirfd, name);
    (void)fsdir_remove_tree(t->envs_dirfd, name);
}

static bool reapable(const struct env *env)
{
    return env->ending && !env->terms && !env->refs && !env->starting && !env->reaping;
}

static void *reaper_main(void *arg)
{
    struct terms *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        struct env *env = NULL;
        for (struct env *e = t->envs; e && !env; e = e->next)
            if (reapable(e))
                env = e;
        if (env) {
            env->reaping = true;
            pthread_mutex_unlock(&t->mu);
            wsync_close(env->sync); /* the last changes reach the store */
            env->sync = NULL;
            close(env->dirfd);
            remove_env_dir(t, env->dir);
            (void)store_lease_release(t->store, env->ws, t->node, NULL);
            pthread_mutex_lock(&t->mu);
            for (struct env **p = &t->envs; *p; p = &(*p)->next)
                if (*p == env) {
                    *p = env->next;
                    break;
                }
            free(env);
            pthread_cond_broadcast(&t->cv);
            continue;
        }
        /* Leases: renewed at a third of their life. */
        uint64_t now = now_ms();
        int64_t due = 0;
        for (struct env *e = t->envs; e && !due; e = e->next)
            if (!e->starting && !e->ending && now - e->lease_ms >= LEASE_TTL_MS / 3) {
                e->lease_ms = now;
                due = e->ws;
            }
        if (due) {
            pthread_mutex_unlock(&t->mu);
            (void)store_lease_acquire(t->store, due, t->node, LEASE_TTL_MS, NULL, NULL);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        if (t->stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ---- opening ------------------------------------------------------------------------------ */

static void on_sync(void *ctx, int64_t ws, enum wsync_event ev, const char *path, const char *etag,
                    const char *message)
{
    struct env *env = ctx;
    struct terms *t = env->t;
    if (ev == WSYNC_LIMIT_EXCEEDED || ev == WSYNC_CONFLICT || ev == WSYNC_NOT_SAVED) {
        char text[900];
        snprintf(text, sizeof(text), "%s: %s", path, message ? message : "not saved");
        pthread_mutex_lock(&t->mu);
        for (struct term *term = env->terms; term; term = term->next)
            term_notice(t, term, text);
        pthread_mutex_unlock(&t->mu);
    }
    if (t->cfg.notify)
        t->cfg.notify(t->cfg.notify_ctx, ws, ev, path, etag, message);
}

static struct env *find_env(struct terms *t, int64_t ws)
{
    for (struct env *e = t->envs; e; e = e->next)
        if (e->ws == ws)
            return e;
    return NULL;
}

/* Makes the directory, writes the files, takes the lease. Called without t->mu. */
static int env_start(struct terms *t, struct env *env, struct err *err)
{
    int r = store_lease_acquire(t->store, env->ws, t->node, LEASE_TTL_MS, NULL, err);
    if (r < 0)
        return r;
    env->lease_ms = now_ms();
    snprintf(env->dir, sizeof(env->dir), "%lld", (long long)env->ws);
    remove_env_dir(t, env->dir);
    if (mkdirat(t->envs_dirfd, env->dir, 0700) < 0) {
        r = err_set(err, errno, "create the environment's directory");
        goto fail;
    }
    /* The environment's own file system (see sandbox.h): its size and inodes are what the
     * workspace may hold plus what a terminal may add, enforced by the kernel. */
    const struct store_limits *fl = &t->cfg.files;
    uint64_t bytes = (fl->max_workspace_bytes > 0 ? (uint64_t)fl->max_workspace_bytes : 1u << 30) +
                     (fl->max_entries > 0 ? (uint64_t)fl->max_entries * 4096 : 0) +
                     (t->cfg.limits.workspace_bytes ? t->cfg.limits.workspace_bytes : 1u << 30);
    uint64_t inodes = (fl->max_entries > 0 ? (uint64_t)fl->max_entries : 1000) + 64 +
                      (t->cfg.inodes ? t->cfg.inodes : 20000);
    struct err me = {0};
    env->dirfd = sb_wsfs_mount(t->envs_dirfd, env->dir, bytes, inodes, &me);
    if (env->dirfd == -EPERM || env->dirfd == -ENOSYS) /* not root: a plain directory */
        env->dirfd =
            openat(t->envs_dirfd, env->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (env->dirfd < 0) {
        r = err_set(err, -env->dirfd, "open the environment's directory: %s", me.msg);
        goto fail;
    }
    r = wsync_open(t->hub, env->ws, env->dirfd, 0, 0, on_sync, env, &env->sync, err);
    if (r < 0)
        goto fail;
    return 0;
fail:
    if (env->dirfd >= 0)
        close(env->dirfd);
    env->dirfd = -1;
    remove_env_dir(t, env->dir);
    (void)store_lease_release(t->store, env->ws, t->node, NULL);
    return r;
}

/* Starts the shell. Called without t->mu. */
static int term_start(struct terms *t, struct term *term, struct err *err)
{
    static const char *const argv[] = {"bash", "-l", NULL};
    /* The prompt is set after the profile (which sets its own) by a PROMPT_COMMAND that
     * removes itself; the history stays out of the workspace. */
    static const char *const env[] = {
        "TERM=xterm-256color",
        "COLORTERM=truecolor",
        "HISTFILE=/tmp/.bash_history",
        "PYTHONDONTWRITEBYTECODE=1",
        "MPLBACKEND=Agg",
        "PROMPT_COMMAND=PS1='\\[\\e[1;32m\\]\\u@pyroom\\[\\e[0m\\]:\\[\\e[1;34m\\]\\w\\[\\e[0m\\]"
        "\\$ ';"
        "unset PROMPT_COMMAND",
        NULL,
    };
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/envs/%s", t->data_dir, term->env->dir);
    struct sb_spec spec = {
        .argv = argv,
        .env = env,
        .workspace = dir,
        .shared_workspace = true,
        .pty = true,
        .rows = 24,
        .cols = 80,
        .limits = t->cfg.limits,
    };
    spec.limits.wall_ms = 0;      /* the lifetime setting bounds it */
    spec.limits.output_bytes = 0; /* we read the PTY, with backpressure */
    spec.limits.workspace_bytes = 0;
    int r = sup_spawn(t->sup, &spec, &term->proc, err);
    if (r < 0)
        return r;
    term->pty = term->proc->io.pty;
    int fl = fcntl(term->pty, F_GETFL);
    (void)fcntl(term->pty, F_SETFL, fl | O_NONBLOCK);
    return 0;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > TERM_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

int terms_open(struct terms *t, int64_t ws, int64_t owner, const char *name, struct term_ref **ret,
               struct err *err)
{
    if (!valid_name(name))
        return err_set(err, EINVAL, "invalid terminal name");
    if (!t->sup)
        return err_set(err, ENOSYS, "sandboxes are not available on this server");
    struct term_ref *ref = calloc(1, sizeof(*ref));
    if (!ref)
        return err_set(err, ENOMEM, "terminal");
    int r = 0;
    pthread_mutex_lock(&t->mu);
    struct env *env;
    for (;;) {
        if (t->closing) {
            r = err_set(err, ESHUTDOWN, "the server is shutting down");
            goto out;
        }
        env = find_env(t, ws);
        if (!env || (!env->starting && !env->ending))
            break;
        pthread_cond_wait(&t->cv, &t->mu);
    }
    if (!env) {
        unsigned mine = 0;
        for (struct env *e = t->envs; e; e = e->next)
            mine += e->owner == owner && !e->ending;
        if (t->cfg.max_per_user && mine >= t->cfg.max_per_user) {
            r = err_set(err, EUSERS, "%u live environments already", mine);
            goto out;
        }
        env = calloc(1, sizeof(*env));
        if (!env) {
            r = err_set(err, ENOMEM, "environment");
            goto out;
        }
        env->t = t;
        env->ws = ws;
        env->owner = owner;
        env->dirfd = -1;
        env->starting = true;
        env->started_ms = env->active_ms = now_ms();
        env->next = t->envs;
        t->envs = env;
        pthread_mutex_unlock(&t->mu);
        r = env_start(t, env, err);
        pthread_mutex_lock(&t->mu);
        env->starting = false;
        pthread_cond_broadcast(&t->cv);
        if (r < 0) {
            for (struct env **p = &t->envs; *p; p = &(*p)->next)
                if (*p == env) {
                    *p = env->next;
                    break;
                }
            free(env);
            goto out;
        }
    }
    env->refs++;
    struct term *term;
    for (;;) {
        for (term = env->terms; term && strcmp(term->name, name); term = term->next)
            ;
        if (!term || !term->starting)
            break;
        pthread_cond_wait(&t->cv, &t->mu);
    }
    if (!term && env->ending) {
        r = err_set(err, EAGAIN, "the environment is ending; try again");
        env->refs--;
        goto out;
    }
    if (!term) {
        unsigned n = 0;
        for (struct term *x = env->terms; x; x = x->next)
            n++;
        if (t->cfg.max_terminals && n >= t->cfg.max_terminals) {
            r = err_set(err, EMFILE, "%u terminals already", n);
            env->refs--;
            goto out;
        }
        term = calloc(1, sizeof(*term));
        if (!term) {
            r = err_set(err, ENOMEM, "terminal");
            env->refs--;
            goto out;
        }
        snprintf(term->name, sizeof(term->name), "%s", name);
        term->env = env;
        term->pty = -1;
        term->starting = true;
        term->sb.max = t->cfg.scrollback;
        buf_init(&term->in, RX_SIZE * 2);
        term->pty_src = (struct src){SRC_PTY, term};
        term->chan_src = (struct src){SRC_CHAN, term};
        term->next = env->terms;
        env->terms = term;
        pthread_mutex_unlock(&t->mu);
        r = term_start(t, term, err);
        pthread_mutex_lock(&t->mu);
        term->starting = false;
        pthread_cond_broadcast(&t->cv);
        struct epoll_event pe = {.events = EPOLLIN, .data.ptr = &term->pty_src};
        struct epoll_event ce = {.events = EPOLLIN, .data.ptr = &term->chan_src};
        if (r == 0 && (epoll_ctl(t->ep, EPOLL_CTL_ADD, term->pty, &pe) < 0 ||
                       epoll_ctl(t->ep, EPOLL_CTL_ADD, term->proc->chan, &ce) < 0))
            r = err_set(err, errno, "epoll");
        if (r < 0) {
            for (struct term **p = &env->terms; *p; p = &(*p)->next)
                if (*p == term) {
                    *p = term->next;
                    break;
                }
            if (term->proc) {
                (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, term->pty, NULL);
                (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, term->proc->chan, NULL);
                close(term->pty);
                term->pty = -1;
                sup_proc_free(term->proc);
                term->proc = NULL;
            }
            /* Freed by the loop: an event for it may be in the batch it is processing. */
            term->exited = true;
            term->next = t->dead_terms;
            t->dead_terms = term;
            env->refs--;
            env->active_ms = now_ms();
            goto out;
        }
        term->pty_events = EPOLLIN;
    }
    term->refs++;
    env->refs--;
    env->active_ms = now_ms();
    ref->t = t;
    ref->term = term;
out:
    pthread_mutex_unlock(&t->mu);
    if (r < 0) {
        free(ref);
        return r;
    }
    *ret = ref;
    return 0;
}

int terms_watch(struct terms *t, int64_t ws, const char *name, struct term_ref **ret)
{
    if (!valid_name(name))
        return -EINVAL;
    struct term_ref *ref = calloc(1, sizeof(*ref));
    if (!ref)
        return -ENOMEM;
    int r = -ENOENT;
    pthread_mutex_lock(&t->mu);
    struct env *env = t->closing ? NULL : find_env(t, ws);
    struct term *term = env && !env->starting && !env->ending ? env->terms : NULL;
    while (term && strcmp(term->name, name))
        term = term->next;
    if (term && !term->starting) {
        term->refs++;
        env->active_ms = now_ms();
        ref->t = t;
        ref->term = term;
        ref->read_only = true;
        r = 0;
    }
    pthread_mutex_unlock(&t->mu);
    if (r < 0) {
        free(ref);
        return r;
    }
    *ret = ref;
    return 0;
}

void terms_ref_free(struct term_ref *ref)
{
    if (!ref)
        return;
    pthread_mutex_lock(&ref->t->mu);
    ref->term->refs--;
    pthread_mutex_unlock(&ref->t->mu);
    free(ref);
}

/* Sends the scrollback to a new client, from a line start when the ring has wrapped. */
static void replay(struct client *c, const struct ring *r)
{
    if (!r->len)
        return;
    size_t skip = 0;
    if (r->len == r->cap && r->cap == r->max) {
        for (size_t i = 0; i < r->len && i < 4096; i++)
            if (r->data[(r->start + i) % r->cap] == '\n') {
                skip = i + 1;
                break;
            }
    }
    size_t from = (r->start + skip) % r->cap, left = r->len - skip;
    while (left) {
        size_t k = r->cap - from < left ? r->cap - from : left;
        if (ws_send(c->ws, WS_BINARY, r->data + from, k) < 0)
            return;
        from = (from + k) % r->cap;
        left -= k;
    }
}

void terms_ref_set_caller(struct term_ref *ref, int64_t user_id, const char *session_hash,
                          int64_t token_id)
{
    ref->user_id = user_id;
    ref->token_id = token_id;
    ref->since_ms = now_ms();
    snprintf(ref->session, sizeof(ref->session), "%s", session_hash ? session_hash : "");
}

static bool matches(int64_t user_id, const char *session, int64_t token_id, int64_t r_user,
                    const char *r_session, int64_t r_token)
{
    return (r_user > 0 && user_id == r_user) ||
           (r_session && *r_session && !strcmp(session, r_session)) ||
           (r_token > 0 && token_id == r_token);
}

/* Was ref's credential revoked after it was checked? Called with t->mu held. */
static bool revoked_since(const struct terms *t, const struct term_ref *ref)
{
    for (unsigned i = 0; i < REVOKED_RING; i++) {
        const struct revocation *r = &t->revoked[i];
        if (r->at_ms && r->at_ms >= ref->since_ms &&
            matches(ref->user_id, ref->session, ref->token_id, r->user_id, r->session, r->token_id))
            return true;
    }
    return false;
}

static void revoke_clients(struct terms *t, struct term *term, int64_t user_id,
                           const char *session_hash, int64_t token_id)
{
    for (struct client *c = term->clients, *next; c; c = next) {
        next = c->next; /* client_end may close (unlink) c */
        if (matches(c->user_id, c->session, c->token_id, user_id, session_hash, token_id))
            client_end(t, c, 1008, "your session has ended");
    }
}

void terms_revoke(struct terms *t, int64_t user_id, const char *session_hash, int64_t token_id)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    struct revocation *r = &t->revoked[t->revoked_next++ % REVOKED_RING];
    r->user_id = user_id;
    r->token_id = token_id;
    snprintf(r->session, sizeof(r->session), "%s", session_hash ? session_hash : "");
    r->at_ms = now_ms();
    for (struct env *env = t->envs; env; env = env->next)
        for (struct term *term = env->terms; term; term = term->next)
            revoke_clients(t, term, user_id, session_hash, token_id);
    for (struct term *term = t->dead_terms; term; term = term->next)
        revoke_clients(t, term, user_id, session_hash, token_id);
    pthread_mutex_unlock(&t->mu);
}

void terms_attach(struct terms *t, struct term_ref *ref, int fd, void *handle, const char *extra,
                  size_t extra_len)
{
    struct client *c = calloc(1, sizeof(*c));
    struct ws_config wc = {
        .role = WS_SERVER,
        .max_message = MAX_CONTROL,
        .max_queue = t->cfg.client_queue > t->cfg.scrollback + READ_CHUNK
                         ? t->cfg.client_queue
                         : t->cfg.scrollback + READ_CHUNK,
        .stream_binary = true,
    };
    if (!c || ws_new(&wc, &c->ws) < 0 || extra_len > sizeof(c->rx)) {
        if (c)
            ws_free(c->ws);
        free(c);
        http_upgrade_close(handle);
        terms_ref_free(ref);
        return;
    }
    int fl = fcntl(fd, F_GETFL);
    (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    c->src = (struct src){SRC_CLIENT, c};
    c->fd = fd;
    c->handle = handle;
    memcpy(c->rx, extra, extra_len);
    c->rx_len = extra_len;
    c->last_rx_ms = c->last_ping_ms = now_ms();
    c->user_id = ref->user_id;
    c->read_only = ref->read_only;
    c->token_id = ref->token_id;
    memcpy(c->session, ref->session, sizeof(c->session));
    pthread_mutex_lock(&t->mu);
    struct term *term = ref->term;
    term->refs--;
    bool revoked = revoked_since(t, ref);
    free(ref);
    c->term = term;
    c->next = term->clients;
    term->clients = c;
    c->events = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->src};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        c->events = 0;
        c->dead = true;
        http_upgrade_close(handle);
        term->clients = c->next;
        ws_free(c->ws);
        free(c);
        pthread_mutex_unlock(&t->mu);
        return;
    }
    term->env->active_ms = now_ms();
    replay(c, &term->sb);
    if (revoked) {
        client_end(t, c, 1008, "your session has ended");
    } else if (term->exited) {
        client_send_json(t, c, json_pack("{s:s,s:i}", "type", "exit", "code", term->exit_code));
        client_end(t, c, 1000, "the shell exited");
    } else if (t->closing) {
        client_send_json(
            t, c,
            json_pack("{s:s,s:s}", "type", "error", "message", "the server is shutting down"));
        client_end(t, c, 1001, "shutting down");
    } else {
        client_flush(t, c);
        if (c->rx_len && !c->dead)
            client_input(t, c);
    }
    pthread_mutex_unlock(&t->mu);
}

/* ---- the rest ----------------------------------------------------------------------------- */

void terms_workspace_changed(struct terms *t, int64_t ws, const char *path, const char *etag)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    struct env *env = find_env(t, ws);
    if (env && (env->starting || env->reaping || !env->sync))
        env = NULL; /* a starting environment reads the store after this change anyway */
    if (env)
        env->refs++;
    pthread_mutex_unlock(&t->mu);
    if (!env)
        return;
    (void)wsync_apply(env->sync, path, etag);
    pthread_mutex_lock(&t->mu);
    env->refs--;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

size_t terms_list(struct terms *t, int64_t owner, struct terms_env_info *out, size_t max)
{
    size_t n = 0;
    if (!t)
        return 0;
    uint64_t now = now_ms();
    pthread_mutex_lock(&t->mu);
    for (struct env *env = t->envs; env; env = env->next) {
        if (env->owner != owner || env->ending || env->starting)
            continue;
        if (n < max) {
            struct terms_env_info *i = &out[n];
            memset(i, 0, sizeof(*i));
            i->ws = env->ws;
            i->age_ms = now - env->started_ms;
            i->idle_ms = now - env->active_ms;
            for (struct term *term = env->terms; term; term = term->next) {
                if (i->nterms < TERMS_LIST_NAMES)
                    snprintf(i->names[i->nterms], sizeof(i->names[0]), "%s", term->name);
                i->nterms++;
                for (struct client *c = term->clients; c; c = c->next)
                    i->clients += !c->closing_since_ms;
            }
        }
        n++;
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

size_t terms_notice_all(struct terms *t, const char *text, int64_t *ret_ws, size_t max)
{
    size_t n = 0;
    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    for (struct env *env = t->envs; env; env = env->next) {
        if (env->starting || env->ending)
            continue;
        for (struct term *term = env->terms; term; term = term->next)
            term_notice(t, term, text);
        if (n < max)
            ret_ws[n] = env->ws;
        n++;
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

int terms_end(struct terms *t, int64_t ws, const char *name)
{
    int r = -ENOENT;
    if (!t)
        return r;
    pthread_mutex_lock(&t->mu);
    struct env *env = find_env(t, ws);
    if (env && !env->starting && !env->ending) {
        if (!name) {
            env_end(t, env, "this environment was ended from the page");
            r = 0;
        } else {
            for (struct term *term = env->terms; term; term = term->next)
                if (!strcmp(term->name, name) && term->proc) {
                    (void)sup_kill(term->proc, SB_LIMIT_NONE);
                    r = 0;
                    break;
                }
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (!r)
        wake(t);
    return r;
}

void terms_stats(struct terms *t, unsigned *ret_envs, unsigned *ret_terms, unsigned *ret_clients)
{
    unsigned e = 0, n = 0, c = 0;
    if (t) {
        pthread_mutex_lock(&t->mu);
        for (struct env *env = t->envs; env; env = env->next, e++)
            for (struct term *term = env->terms; term; term = term->next, n++)
                for (struct client *x = term->clients; x; x = x->next)
                    c++;
        pthread_mutex_unlock(&t->mu);
    }
    *ret_envs = e;
    *ret_terms = n;
    *ret_clients = c;
}

int terms_new(const struct terms_config *cfg, struct store *store, struct sup *sup,
              struct terms **ret, struct err *err)
{
    struct terms *t = calloc(1, sizeof(*t));
    if (!t)
        return err_set(err, ENOMEM, "terminals");
    t->cfg = *cfg;
    if (!t->cfg.ping_s)
        t->cfg.ping_s = 20;
    if (!t->cfg.client_queue)
        t->cfg.client_queue = 1u << 20;
    t->store = store;
    t->sup = sup;
    t->envs_dirfd = t->ep = t->wake = -1;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    t->data_dir = strdup(cfg->data_dir);
    t->node = strdup(cfg->node ? cfg->node : "");
    t->chunk = malloc(READ_CHUNK);
    int r;
    if (!t->data_dir || !t->node || !t->chunk) {
        r = err_set(err, ENOMEM, "terminals");
        goto fail;
    }
    /* The start-up sweep: whatever a crashed server left in DATA_DIR/envs goes (its
     * sandboxes died with its supervisor; the files it had not stored are lost). */
    (void)mkdir(cfg->data_dir, 0755);
    int parent = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent < 0) {
        r = err_set(err, errno, "open '%s'", cfg->data_dir);
        goto fail;
    }
    int old = openat(parent, "envs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (old >= 0) {
        sb_wsfs_sweep(old); /* their file systems first */
        close(old);
    }
    (void)fsdir_remove_tree(parent, "envs");
    (void)mkdirat(parent, "envs", 0700);
    t->envs_dirfd = openat(parent, "envs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(parent);
    if (t->envs_dirfd < 0) {
        r = err_set(err, errno, "open '%s/envs'", cfg->data_dir);
        goto fail;
    }
    struct wsync_config wc = {.store = store, .limits = cfg->files};
    if ((r = wsync_hub_new(&wc, &t->hub, err)) < 0)
        goto fail;
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    t->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->wake_src = (struct src){SRC_WAKE, NULL};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &t->wake_src};
    if (t->ep < 0 || t->wake < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, t->wake, &ev) < 0) {
        r = err_set(err, errno, "epoll");
        goto fail;
    }
    if ((r = pthread_create(&t->loop, NULL, loop_main, t))) {
        r = err_set(err, r, "terminal loop thread");
        goto fail;
    }
    t->loop_started = true;
    if ((r = pthread_create(&t->reaper, NULL, reaper_main, t))) {
        r = err_set(err, r, "terminal reaper thread");
        goto fail;
    }
    t->reaper_started = true;
    *ret = t;
    return 0;
fail:
    terms_free(t);
    return r < 0 ? r : -r;
}

void terms_free(struct terms *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->closing = true;
    for (struct env *env = t->envs; env; env = env->next)
        if (!env->starting)
            env_end(t, env, "the server is shutting down");
    /* Wait for every environment to be torn down (shells end, last changes stored). */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 15;
    while (t->envs && t->reaper_started && t->loop_started) {
        for (struct env *env = t->envs; env; env = env->next)
            if (!env->starting)
                env_end(t, env, "the server is shutting down");
        if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT)
            break;
    }
    t->stop = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (t->wake >= 0)
        wake(t);
    if (t->loop_started)
        pthread_join(t->loop, NULL);
    if (t->reaper_started)
        pthread_join(t->reaper, NULL);
    /* Whatever is left (a timeout above): close sockets so the HTTP server can stop. */
    for (struct env *env = t->envs, *en; env; env = en) {
        en = env->next;
        for (struct term *term = env->terms, *tn; term; term = tn) {
            tn = term->next;
            while (term->clients)
                client_close(t, term->clients);
            if (term->proc)
                sup_proc_free(term->proc);
            if (term->pty >= 0)
                close(term->pty);
            term_free(term);
        }
        wsync_close(env->sync);
        if (env->dirfd >= 0)
            close(env->dirfd);
        free(env);
    }
    for (struct term *term = t->dead_terms, *tn; term; term = tn) {
        tn = term->next;
        while (term->clients)
            client_close(t, term->clients);
        term_free(term);
    }
    sweep_clients(t);
    wsync_hub_free(t->hub);
    if (t->ep >= 0)
        close(t->ep);
    if (t->wake >= 0)
        close(t->wake);
    if (t->envs_dirfd >= 0)
        close(t->envs_dirfd);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->chunk);
    free(t->data_dir);
    free(t->node);
    free(t);
}

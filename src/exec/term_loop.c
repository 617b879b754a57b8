/* term_loop: the terminals' epoll thread (clients, PTYs, ticks); see term_internal.h. */
#include "exec/term_internal.h"

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

void client_close(struct terms *t, struct client *c)
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
        term->env->active_ms = clock_mono_ms();
    pty_update(t, term); /* a slow client gone may unblock the PTY */
}

/* Writes what the client's queue holds; closes it when done with a finished conversation
 * or when the socket is dead. */
void client_flush(struct terms *t, struct client *c)
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

void client_send_json(struct terms *t, struct client *c, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text && !c->dead)
        (void)ws_send(c->ws, WS_TEXT, text, strlen(text));
    free(text);
    client_flush(t, c);
}

/* Queues a close and lets the flush finish it. */
void client_end(struct terms *t, struct client *c, uint16_t code, const char *why)
{
    if (c->dead || c->closing_since_ms)
        return;
    ws_close(c->ws, code, why);
    c->closing_since_ms = clock_mono_ms();
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
    uint64_t now = clock_mono_ms();
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
    term->env->active_ms = clock_mono_ms();
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
    term->env->active_ms = clock_mono_ms();
    ring_append(&term->sb, t->chunk, (size_t)n);
    send_all(t, term, t->chunk, (size_t)n);
    pty_update(t, term);
}

/* Tells every client of the terminal something of ours, in colour, between lines. */
void term_notice(struct terms *t, struct term *term, const char *text)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "\r\n\x1b[33mpyroom: %s\x1b[0m\r\n", text);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    ring_append(&term->sb, line, len);
    send_all(t, term, line, len);
}

void term_free(struct term *term)
{
    ring_done(&term->sb);
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
    env->active_ms = clock_mono_ms();
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
void client_input(struct terms *t, struct client *c)
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
            c->last_rx_ms = clock_mono_ms();
        }
        while (c->rx_off < c->rx_len && !term->in.len && !c->dead) {
            size_t used = 0;
            struct ws_event ev;
            int r = ws_feed(c->ws, c->rx + c->rx_off, c->rx_len - c->rx_off, &used, &ev);
            c->rx_off += used;
            if (r < 0) {
                c->closing_since_ms = clock_mono_ms();
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
                c->closing_since_ms = clock_mono_ms();
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

void env_end(struct terms *t, struct env *env, const char *why)
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

void sweep_clients(struct terms *t)
{
    while (t->dead_clients) {
        struct client *c = t->dead_clients;
        t->dead_clients = c->next;
        ws_free(c->ws);
        free(c);
    }
}

void *loop_main(void *arg)
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
        uint64_t now = clock_mono_ms();
        if (now >= t->next_tick_ms) {
            t->next_tick_ms = now + TICK_MS;
            tick(t, now);
        }
        sweep_clients(t);
        pthread_mutex_unlock(&t->mu);
    }
    return NULL;
}

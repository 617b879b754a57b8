/* terminals: live environments, shells on PTYs, WebSocket clients; see terminals.h and
 * term_internal.h for how the files split. */
#include "base/clock.h"
#include "exec/term_internal.h"

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

/* The live environment of ws, started when there is none. With t->mu, which it drops
 * while the environment starts. */
static int open_env(struct terms *t, int64_t ws, int64_t owner, struct env **ret, struct err *err)
{
    struct env *env;
    for (;;) {
        if (t->closing)
            return err_set(err, ESHUTDOWN, "the server is shutting down");
        env = find_env(t, ws);
        if (!env || (!env->starting && !env->ending))
            break;
        pthread_cond_wait(&t->cv, &t->mu);
    }
    if (env) {
        *ret = env;
        return 0;
    }
    unsigned mine = 0;
    for (struct env *e = t->envs; e; e = e->next)
        mine += e->owner == owner && !e->ending;
    if (t->cfg.max_per_user && mine >= t->cfg.max_per_user)
        return err_set(err, EUSERS, "%u live environments already", mine);
    env = calloc(1, sizeof(*env));
    if (!env)
        return err_set(err, ENOMEM, "environment");
    env->t = t;
    env->ws = ws;
    env->owner = owner;
    env->dirfd = -1;
    env->starting = true;
    env->started_ms = env->active_ms = clock_mono_ms();
    env->next = t->envs;
    t->envs = env;
    pthread_mutex_unlock(&t->mu);
    int r = env_start(t, env, err);
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
        return r;
    }
    *ret = env;
    return 0;
}

/* A terminal whose shell did not start leaves env->terms; the loop frees it (an event for
 * it may be in the batch it is processing). With t->mu. */
static void term_abandon(struct terms *t, struct env *env, struct term *term)
{
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
    term->exited = true;
    term->next = t->dead_terms;
    t->dead_terms = term;
    env->active_ms = clock_mono_ms();
}

/* The terminal `name` of env, started when there is none. With t->mu, which it drops while
 * the shell starts, and a ref on env. */
static int open_term(struct terms *t, struct env *env, const char *name, struct term **ret,
                     struct err *err)
{
    struct term *term;
    for (;;) {
        for (term = env->terms; term && strcmp(term->name, name); term = term->next)
            ;
        if (!term || !term->starting)
            break;
        pthread_cond_wait(&t->cv, &t->mu);
    }
    if (term) {
        *ret = term;
        return 0;
    }
    if (env->ending)
        return err_set(err, EAGAIN, "the environment is ending; try again");
    unsigned n = 0;
    for (struct term *x = env->terms; x; x = x->next)
        n++;
    if (t->cfg.max_terminals && n >= t->cfg.max_terminals)
        return err_set(err, EMFILE, "%u terminals already", n);
    term = calloc(1, sizeof(*term));
    if (!term)
        return err_set(err, ENOMEM, "terminal");
    snprintf(term->name, sizeof(term->name), "%s", name);
    term->env = env;
    term->pty = -1;
    term->starting = true;
    ring_init(&term->sb, t->cfg.scrollback);
    buf_init(&term->in, RX_SIZE * 2);
    term->pty_src = (struct src){SRC_PTY, term};
    term->chan_src = (struct src){SRC_CHAN, term};
    term->next = env->terms;
    env->terms = term;
    pthread_mutex_unlock(&t->mu);
    int r = term_start(t, term, err);
    pthread_mutex_lock(&t->mu);
    term->starting = false;
    pthread_cond_broadcast(&t->cv);
    struct epoll_event pe = {.events = EPOLLIN, .data.ptr = &term->pty_src};
    struct epoll_event ce = {.events = EPOLLIN, .data.ptr = &term->chan_src};
    if (r == 0 && (epoll_ctl(t->ep, EPOLL_CTL_ADD, term->pty, &pe) < 0 ||
                   epoll_ctl(t->ep, EPOLL_CTL_ADD, term->proc->chan, &ce) < 0))
        r = err_set(err, errno, "epoll");
    if (r < 0) {
        term_abandon(t, env, term);
        return r;
    }
    term->pty_events = EPOLLIN;
    *ret = term;
    return 0;
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
    struct env *env = NULL;
    struct term *term = NULL;
    pthread_mutex_lock(&t->mu);
    int r = open_env(t, ws, owner, &env, err);
    if (r == 0) {
        env->refs++;
        r = open_term(t, env, name, &term, err);
        env->refs--;
    }
    if (r == 0) {
        term->refs++;
        env->active_ms = clock_mono_ms();
        ref->t = t;
        ref->term = term;
    }
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
        env->active_ms = clock_mono_ms();
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

static int replay_sink(void *ctx, const char *p, size_t n)
{
    struct client *c = ctx;
    return ws_send(c->ws, WS_BINARY, p, n);
}

void terms_ref_set_caller(struct term_ref *ref, int64_t user_id, const char *session_hash,
                          int64_t token_id)
{
    ref->user_id = user_id;
    ref->token_id = token_id;
    ref->since_ms = clock_mono_ms();
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
    r->at_ms = clock_mono_ms();
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
    c->last_rx_ms = c->last_ping_ms = clock_mono_ms();
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
    term->env->active_ms = clock_mono_ms();
    (void)ring_replay(&term->sb, replay_sink, c);
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

/* ---- listing, ending, start and stop
 * ----------------------------------------------------------------------------- */

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
    uint64_t now = clock_mono_ms();
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
    struct timespec ts = clock_deadline(15000);
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

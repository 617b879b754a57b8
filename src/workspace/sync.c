/* sync: a live environment's directory and the store, both ways; see sync.h. */
#include "workspace/sync.h"

#include "workspace/sync_internal.h"

static bool is_ignored(const char *path)
{
    size_t first = strcspn(path, "/");
    for (const char *const *p = ignored_top; *p; p++)
        if (strlen(*p) == first && !strncmp(path, *p, first))
            return true;
    for (const char *p = path; *p;) {
        size_t l = strcspn(p, "/");
        if (l == 11 && !strncmp(p, "__pycache__", 11))
            return true;
        p += l + (p[l] == '/');
    }
    return false;
}

/* ---- the base, watches, dirty paths (all under s->mu) -------------------------------- */

struct known *sync_base_find(struct wsync *s, const char *path)
{
    for (size_t i = 0; i < s->nbase; i++)
        if (!strcmp(s->base[i].path, path))
            return &s->base[i];
    return NULL;
}

int sync_base_set(struct wsync *s, const char *path, bool folder, const char *etag)
{
    struct known *k = sync_base_find(s, path);
    if (!k) {
        if (s->nbase == s->capbase) {
            size_t cap = s->capbase ? s->capbase * 2 : 64;
            struct known *p = realloc(s->base, cap * sizeof(*p));
            if (!p)
                return -ENOMEM;
            s->base = p;
            s->capbase = cap;
        }
        char *copy = strdup(path);
        if (!copy)
            return -ENOMEM;
        k = &s->base[s->nbase++];
        k->path = copy;
    }
    k->folder = folder;
    snprintf(k->etag, sizeof(k->etag), "%s", folder ? "" : etag);
    return 0;
}

/* Forgets path and everything under it. */
void sync_base_drop(struct wsync *s, const char *path)
{
    size_t o = 0;
    for (size_t i = 0; i < s->nbase; i++) {
        if (!strcmp(s->base[i].path, path) || path_is_under(s->base[i].path, path)) {
            free(s->base[i].path);
            continue;
        }
        s->base[o++] = s->base[i];
    }
    s->nbase = o;
}

/* Every missing parent folder of path becomes known (the store creates them too). */
void sync_base_parents(struct wsync *s, const char *path)
{
    char parent[PATH_BUF_SIZE];
    snprintf(parent, sizeof(parent), "%s", path);
    for (char *slash = strrchr(parent, '/'); slash; slash = strrchr(parent, '/')) {
        *slash = '\0';
        if (!sync_base_find(s, parent))
            (void)sync_base_set(s, parent, true, "");
    }
}

static void touch(struct wsync *s)
{
    uint64_t now = clock_mono_ms();
    if (!s->first_ms)
        s->first_ms = now;
    s->last_ms = now;
}

static size_t dirty_cap(const struct wsync *s)
{
    int64_t m = s->hub->cfg.limits.max_entries;
    return (m > 0 ? (size_t)m : 4096) * 2 + 64;
}

void sync_mark_dirty(struct wsync *s, const char *path)
{
    touch(s);
    if (s->rescan)
        return;
    for (size_t i = 0; i < s->ndirty; i++)
        if (!strcmp(s->dirty[i], path))
            return;
    if (s->ndirty >= dirty_cap(s)) {
        s->rescan = true; /* bounded: walk everything instead */
        return;
    }
    if (s->ndirty == s->capdirty) {
        size_t cap = s->capdirty ? s->capdirty * 2 : 32;
        char **p = realloc(s->dirty, cap * sizeof(*p));
        if (!p) {
            s->rescan = true;
            return;
        }
        s->dirty = p;
        s->capdirty = cap;
    }
    char *copy = strdup(path);
    if (!copy) {
        s->rescan = true;
        return;
    }
    s->dirty[s->ndirty++] = copy;
}

static struct watch *watch_by_wd(struct wsync *s, int wd)
{
    for (size_t i = 0; i < s->nwatch; i++)
        if (s->watches[i].wd == wd)
            return &s->watches[i];
    return NULL;
}

static void watch_set(struct wsync *s, int wd, const char *path)
{
    struct watch *w = watch_by_wd(s, wd);
    char *copy = strdup(path);
    if (!copy)
        return;
    if (w) {
        free(w->path);
        w->path = copy;
        return;
    }
    if (s->nwatch == s->capwatch) {
        size_t cap = s->capwatch ? s->capwatch * 2 : 16;
        struct watch *p = realloc(s->watches, cap * sizeof(*p));
        if (!p) {
            free(copy);
            return;
        }
        s->watches = p;
        s->capwatch = cap;
    }
    s->watches[s->nwatch++] = (struct watch){.wd = wd, .path = copy};
}

/* Drops the watches of path and of everything under it (a folder moved away or deleted). */
static void watch_drop(struct wsync *s, const char *path, bool rm)
{
    size_t o = 0;
    for (size_t i = 0; i < s->nwatch; i++) {
        struct watch *w = &s->watches[i];
        if (!strcmp(w->path, path) || (*path && path_is_under(w->path, path))) {
            if (rm)
                (void)inotify_rm_watch(s->hub->ifd, w->wd);
            free(w->path);
            continue;
        }
        s->watches[o++] = *w;
    }
    s->nwatch = o;
}

static bool too_many_watches(const struct wsync *s)
{
    /* More folders than the workspace may hold: they cannot be stored anyway. */
    int64_t maxe = s->hub->cfg.limits.max_entries;
    return maxe > 0 && s->nwatch > (size_t)maxe + 1;
}

/* Watches the folder open at fd, known as path. Through the fd we opened without links: a
 * path could be swapped for a link between a check and inotify_add_watch, the fd cannot. */
static void watch_fd(struct wsync *s, int fd, const char *path)
{
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    int wd = inotify_add_watch(s->hub->ifd, proc, WATCH_MASK);
    if (wd >= 0)
        watch_set(s, wd, path);
}

struct tree_walk {
    struct wsync *s;
    const char *root; /* the folder walked, as a workspace path */
    bool mark;
};

static int tree_visit(void *ctx, const struct beneath_entry *e)
{
    struct tree_walk *t = ctx;
    if (e->post)
        return BW_NEXT;
    char path[PATH_BUF_SIZE];
    if (path_join(t->root, e->path, path, sizeof(path), NULL) < 0 || is_ignored(path))
        return BW_SKIP; /* a name the store refuses (or past the path length): not wanted */
    if (!S_ISDIR(e->st->st_mode)) {
        if (t->mark)
            sync_mark_dirty(t->s, path);
        return BW_NEXT;
    }
    if (too_many_watches(t->s))
        return BW_SKIP;
    int fd = openat(e->dfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return BW_SKIP; /* replaced by a link or gone meanwhile */
    watch_fd(t->s, fd, path);
    close(fd);
    if (t->mark)
        sync_mark_dirty(t->s, path);
    return BW_NEXT;
}

/* Watches the folder path and everything under it, at any depth (base/beneath.h); with
 * mark, every entry found is dirty (it may have been written before its folder was
 * watched). */
void sync_add_tree(struct wsync *s, const char *path, bool mark)
{
    if (too_many_watches(s))
        return;
    int fd = beneath_open(s->dirfd, path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return;
    watch_fd(s, fd, path);
    if (mark && *path)
        sync_mark_dirty(s, path);
    struct tree_walk t = {.s = s, .root = path, .mark = mark};
    (void)beneath_walk(fd, 0, tree_visit, &t, NULL);
    close(fd);
}

static struct wsync *owner_of(struct wsync_hub *h, int wd, struct watch **ret)
{
    for (struct wsync *s = h->list; s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        struct watch *w = watch_by_wd(s, wd);
        pthread_mutex_unlock(&s->mu);
        if (w) {
            *ret = w;
            return s;
        }
    }
    return NULL;
}

/* One inotify event for directory s. Called with s->mu held. */
static void handle_event(struct wsync *s, struct watch *w, const struct inotify_event *ev)
{
    if (ev->mask & IN_IGNORED) {
        char *dead = w->path;
        *w = s->watches[--s->nwatch];
        free(dead);
        return;
    }
    if (!ev->len)
        return;
    char path[PATH_BUF_SIZE];
    if (path_join(w->path, ev->name, path, sizeof(path), NULL) < 0 || is_ignored(path))
        return;
    if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
        sync_add_tree(s, path, true);
    } else if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_DELETE | IN_MOVED_FROM))) {
        watch_drop(s, path, (ev->mask & IN_MOVED_FROM) != 0);
        sync_mark_dirty(s, path);
    } else {
        sync_mark_dirty(s, path);
    }
}

/* Turns pending inotify events into dirty paths. Called with h->mu held. */
static void read_events(struct wsync_hub *h)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(h->ifd, buf, sizeof(buf));
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                for (struct wsync *s = h->list; s; s = s->next) {
                    pthread_mutex_lock(&s->mu);
                    s->rescan = true;
                    touch(s);
                    pthread_mutex_unlock(&s->mu);
                }
                continue;
            }
            struct watch *w = NULL;
            struct wsync *s = owner_of(h, ev->wd, &w);
            if (!s)
                continue; /* a closed directory's last events */
            pthread_mutex_lock(&s->mu);
            w = watch_by_wd(s, ev->wd); /* found again under the lock */
            if (w)
                handle_event(s, w, ev);
            pthread_mutex_unlock(&s->mu);
        }
    }
}

static bool due(const struct wsync *s, uint64_t now, const struct wsync_config *c)
{
    if (!s->first_ms || (s->retry_ms && now < s->retry_ms))
        return false;
    return now - s->last_ms >= c->debounce_ms || now - s->first_ms >= c->max_delay_ms;
}

static void *hub_main(void *arg)
{
    struct wsync_hub *h = arg;
    struct epoll_event evs[32];
    for (;;) {
        int timeout = -1;
        pthread_mutex_lock(&h->mu);
        uint64_t now = clock_mono_ms();
        for (struct wsync *s = h->list; s; s = s->next) {
            pthread_mutex_lock(&s->mu);
            if (s->first_ms) {
                uint64_t at = s->last_ms + h->cfg.debounce_ms;
                uint64_t cap = s->first_ms + h->cfg.max_delay_ms;
                if (cap < at)
                    at = cap;
                if (s->retry_ms > at)
                    at = s->retry_ms;
                int t = at > now ? (int)(at - now) : 0;
                if (timeout < 0 || t < timeout)
                    timeout = t;
            }
            pthread_mutex_unlock(&s->mu);
        }
        bool stop = h->stop;
        pthread_mutex_unlock(&h->mu);
        if (stop)
            break;
        int n = epoll_wait(h->ep, evs, 32, timeout);
        pthread_mutex_lock(&h->mu);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == 0) {
                uint64_t v;
                (void)!read(h->wake, &v, sizeof(v));
            } else {
                read_events(h);
            }
        }
        now = clock_mono_ms();
        for (struct wsync *s = h->list; s; s = s->next) {
            pthread_mutex_lock(&s->mu);
            if (due(s, now, &h->cfg) || s->rescan)
                sync_flush_locked(s);
            pthread_mutex_unlock(&s->mu);
        }
        pthread_mutex_unlock(&h->mu);
    }
    return NULL;
}

int wsync_hub_new(const struct wsync_config *cfg, struct wsync_hub **ret, struct err *err)
{
    struct wsync_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return err_set(err, ENOMEM, "sync hub");
    h->cfg = *cfg;
    if (!h->cfg.debounce_ms)
        h->cfg.debounce_ms = 50;
    if (!h->cfg.max_delay_ms)
        h->cfg.max_delay_ms = 400;
    h->ep = epoll_create1(EPOLL_CLOEXEC);
    h->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    pthread_mutex_init(&h->mu, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    struct epoll_event iev = {.events = EPOLLIN, .data.u64 = 1};
    if (h->ep < 0 || h->wake < 0 || h->ifd < 0 ||
        epoll_ctl(h->ep, EPOLL_CTL_ADD, h->wake, &ev) < 0 ||
        epoll_ctl(h->ep, EPOLL_CTL_ADD, h->ifd, &iev) < 0) {
        int e = errno;
        wsync_hub_free(h);
        return err_set(err, e, "sync hub epoll");
    }
    int r = pthread_create(&h->thread, NULL, hub_main, h);
    if (r) {
        wsync_hub_free(h);
        return err_set(err, r, "sync hub thread");
    }
    h->started = true;
    *ret = h;
    return 0;
}

void wsync_hub_free(struct wsync_hub *h)
{
    if (!h)
        return;
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_mutex_unlock(&h->mu);
        uint64_t one = 1;
        (void)!write(h->wake, &one, sizeof(one));
        pthread_join(h->thread, NULL);
    }
    if (h->ep >= 0)
        close(h->ep);
    if (h->wake >= 0)
        close(h->wake);
    if (h->ifd >= 0)
        close(h->ifd);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static void wsync_free(struct wsync *s)
{
    for (size_t i = 0; i < s->nbase; i++)
        free(s->base[i].path);
    for (size_t i = 0; i < s->nwatch; i++)
        free(s->watches[i].path);
    for (size_t i = 0; i < s->ndirty; i++)
        free(s->dirty[i]);
    for (size_t i = 0; i < s->nrep; i++)
        free(s->rep[i].path);
    free(s->base);
    free(s->watches);
    free(s->dirty);
    free(s->rep);
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int wsync_open(struct wsync_hub *h, int64_t ws, int dirfd, uid_t uid, gid_t gid,
               wsync_notify_fn notify_fn, void *ctx, struct wsync **ret, struct err *err)
{
    struct wsync *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, ENOMEM, "sync");
    s->hub = h;
    s->ws = ws;
    s->notify = notify_fn;
    s->ctx = ctx;
    pthread_mutex_init(&s->mu, NULL);
    s->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (s->dirfd < 0) {
        int e = errno;
        wsync_free(s);
        return err_set(err, e, "dup");
    }
    struct store_file_list *files = NULL;
    int r = store_file_list(h->cfg.store, ws, true, &files, err);
    if (r < 0) {
        wsync_free(s);
        return r;
    }
    for (size_t i = 0; r == 0 && i < files->n; i++) {
        const struct store_file *f = &files->items[i];
        if (f->kind == STORE_KIND_FOLDER) {
            r = fsdir_mkdir(s->dirfd, f->path, uid, gid);
            if (r == 0)
                r = sync_base_set(s, f->path, true, "");
        } else {
            r = fsdir_write(s->dirfd, f->path, f->content, (size_t)f->size, uid, gid);
            if (r == 0)
                r = sync_base_set(s, f->path, false, f->etag);
        }
    }
    store_file_list_free(files);
    if (r < 0) {
        wsync_free(s);
        return err_set(err, -r, "write the workspace's files");
    }
    pthread_mutex_lock(&h->mu);
    pthread_mutex_lock(&s->mu);
    sync_add_tree(s, "", false);
    pthread_mutex_unlock(&s->mu);
    s->id = ++h->next_id;
    s->next = h->list;
    h->list = s;
    pthread_mutex_unlock(&h->mu);
    *ret = s;
    return 0;
}

int wsync_flush(struct wsync *s)
{
    struct wsync_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    read_events(h);
    pthread_mutex_lock(&s->mu);
    sync_flush_locked(s);
    if (s->rescan)
        sync_flush_locked(s);
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

void wsync_close(struct wsync *s)
{
    if (!s)
        return;
    struct wsync_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    read_events(h);
    pthread_mutex_lock(&s->mu);
    /* A last full walk: whatever a watch missed (watch limits, a lost event) is stored. */
    s->rescan = true;
    sync_flush_locked(s);
    for (size_t i = 0; i < s->nwatch; i++)
        (void)inotify_rm_watch(h->ifd, s->watches[i].wd);
    pthread_mutex_unlock(&s->mu);
    for (struct wsync **p = &h->list; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&h->mu);
    wsync_free(s);
}

/* ---- store -> directory --------------------------------------------------------------- */

/* Writes the stored file f into the directory; tells the terminal when that overwrites a
 * change of its own that was not stored yet. Called with s->mu held. */
static void apply_file(struct wsync *s, const struct store_file *f, uid_t uid, gid_t gid)
{
    struct known *k = sync_base_find(s, f->path);
    if (k && !k->folder && !strcmp(k->etag, f->etag))
        return;
    size_t max = s->hub->cfg.limits.max_file_bytes > 0 ? (size_t)s->hub->cfg.limits.max_file_bytes
                                                       : SIZE_MAX / 2;
    char *cur = NULL;
    size_t len = 0;
    if (k && !k->folder && beneath_read(s->dirfd, f->path, max, &cur, &len) == 0) {
        char etag[STORE_ETAG_LEN + 1];
        store_etag(cur, len, etag);
        if (strcmp(etag, k->etag) && strcmp(etag, f->etag))
            sync_notify(s, WSYNC_CONFLICT, f->path, f->etag,
                        "saved in the editor over a change made in the terminal: the editor's "
                        "version was kept");
    }
    free(cur);
    sync_base_parents(s, f->path);
    sync_base_set(s, f->path, false, f->etag);
    if (k && k->folder)
        (void)fsdir_remove(s->dirfd, f->path);
    (void)fsdir_write(s->dirfd, f->path, f->content, (size_t)f->size, uid, gid);
}

int wsync_apply(struct wsync *s, const char *path, const char *etag)
{
    uid_t uid;
    gid_t gid;
    int r = 0;
    struct store *st = s->hub->cfg.store;
    pthread_mutex_lock(&s->mu);
    sync_owner(s, &uid, &gid);
    if (!etag) {
        sync_base_drop(s, path);
        r = fsdir_remove(s->dirfd, path);
    } else if (!*etag) {
        /* A folder: made, or moved here with its subtree. */
        struct store_file_list *l = NULL;
        r = store_file_list(st, s->ws, false, &l, NULL);
        for (size_t i = 0; r == 0 && i < l->n; i++) {
            const struct store_file *e = &l->items[i];
            if (strcmp(e->path, path) && !path_is_under(e->path, path))
                continue;
            if (e->kind == STORE_KIND_FOLDER) {
                sync_base_set(s, e->path, true, "");
                (void)fsdir_mkdir(s->dirfd, e->path, uid, gid);
                continue;
            }
            struct store_file *f = NULL;
            if (store_file_get(st, s->ws, e->path, true, &f, NULL) == 0)
                apply_file(s, f, uid, gid);
            store_file_free(f);
        }
        store_file_list_free(l);
    } else {
        struct known *k = sync_base_find(s, path);
        if (!k || k->folder || strcmp(k->etag, etag)) {
            struct store_file *f = NULL;
            r = store_file_get(st, s->ws, path, true, &f, NULL);
            if (r == 0)
                apply_file(s, f, uid, gid);
            store_file_free(f);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* runs: admission, sandboxed execution, output streaming and write-back; see runs.h. */
#include "exec/runs.h"

#include "base/buf.h"
#include "base/embed.h"
#include "base/events.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/utf8.h"
#include "exec/supervisor.h"
#include "workspace/fsdir.h"
#include "workspace/path.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STDIN_PENDING_MAX (1u << 20) /* bytes of stdin waiting to be written */
#define READ_CHUNK        (64u << 10)
#define OUTPUT_SAVE_MS    1000         /* output reaches the store this often while a run runs */
#define PYROOM_FS_SLACK   (256u << 10) /* bytes of a run's file system for our own files */

/* Hidden folder of ours inside the run's home: our sitecustomize and the figures. It is
 * never written back to the workspace. */
#define PYROOM_DIR "/home/user/.pyroom"

/* Loaded by Python at start-up (PYTHONPATH): tracebacks name workspace files relatively,
 * and matplotlib figures (shown, or still open at exit) become PNG files for artifacts. */
EMBED_TEXT(run_sitecustomize_py, "src/exec/run_sitecustomize.py");
/* A matplotlib backend: Agg, whose show() saves the figures instead of warning. */
EMBED_TEXT(run_backend_py, "src/exec/run_backend.py");

static const struct {
    const char *ext;
    const char *argv0;
} interpreters[] = {
    {".py", "python3"},
    {".sh", "bash"},
};

const char *runs_interpreter(const char *entry)
{
    const char *dot = strrchr(path_basename(entry), '.');
    for (size_t i = 0; dot && i < sizeof(interpreters) / sizeof(interpreters[0]); i++)
        if (strcmp(dot, interpreters[i].ext) == 0)
            return interpreters[i].argv0;
    return NULL;
}

struct stream_out {
    struct buf data; /* what the program wrote, up to output_bytes */
    bool truncated;
    bool eof;
    char pending[4]; /* an incomplete UTF-8 sequence held back for the next chunk */
    size_t npending;
};

struct live {
    struct runs *owner;
    int64_t id;
    /* Monotonic phase marks (us, 0: not reached): recorded, admitted, files materialised,
     * program started, its output drained, tree ended (store_run_timings, metrics). */
    int64_t queued_us, admitted_us, prepared_us, spawned_us, drained_us, ended_us;
    int64_t user_id;
    struct run_request rq; /* copied: strings below are owned */
    char *entry;
    char **args;
    char *args_json;
    struct live *next;
    unsigned refs; /* the registry's, the worker's, each stream's; under runs->mu */
    bool admitted; /* counted in running */
    bool waiting;  /* counted in queued, not admitted yet */
    uint64_t seq;  /* order of arrival, for FIFO within a user */
    bool done;     /* no more events */
    bool recorded; /* its result is in the store: runs_wait() returns (clean-up may go on) */
    bool cancelled;
    bool stdin_closed;
    struct buf stdin_buf;  /* bytes waiting to be written to the program */
    int wake;              /* eventfd: stdin or cancel for the worker */
    struct sup_proc *proc; /* NULL until spawned */
    struct buf events;     /* SSE text for streams */
    struct stream_out out, err;
    struct run_waiter *waiters; /* told when the run is no longer live (runs_on_end) */
    struct run_stream *streams; /* readers to wake on new events (runs_stream_notify) */
};

struct run_waiter {
    void (*fn)(void *ctx);
    void *ctx;
    struct run_waiter *next;
};

/* A runs_start() between its place in the queue and its run being live (on its stack). */
struct reservation {
    int64_t user;
    struct reservation *next;
};

#define RR_USERS 256 /* users remembered for the round-robin (the least recent is forgotten) */

struct runs {
    struct runs_config cfg;
    struct {
        int64_t user;
        uint64_t at; /* r->admissions when last admitted */
    } served[RR_USERS];
    char *data_dir;
    char *node;
    struct store *store;
    struct sup *sup;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* admission changes, run ends, new events */
    struct live *live; /* every run queued or running */
    unsigned running;
    unsigned queued;
    unsigned threads; /* workers alive */
    uint64_t next_seq;
    struct reservation *reserved; /* runs_start() calls in their slow part */
    uint64_t admissions; /* runs admitted so far: a user's last one orders the round-robin */
    bool closing;
    int runs_dirfd;
};

struct run_stream {
    struct runs *r;
    struct live *l;
    size_t pos;                /* bytes of l->events already read */
    void (*notify)(void *ctx); /* called with r->mu held when events come or the run ends */
    void *notify_ctx;
    struct run_stream *next; /* in l->streams */
    bool linked;
};

/* Tells the readers that follow l. Called with r->mu held. */
static void notify_streams(struct live *l)
{
    for (struct run_stream *s = l->streams; s; s = s->next)
        if (s->notify)
            s->notify(s->notify_ctx);
}

static void live_unref(struct runs *r, struct live *l)
{
    /* Called with r->mu held. */
    if (--l->refs)
        return;
    (void)r;
    free(l->entry);
    for (size_t i = 0; l->args && l->args[i]; i++)
        free(l->args[i]);
    free(l->args);
    free(l->args_json);
    free((void *)l->rq.stdin_data);
    buf_done(&l->stdin_buf);
    buf_done(&l->events);
    buf_done(&l->out.data);
    buf_done(&l->err.data);
    if (l->wake >= 0)
        close(l->wake);
    free(l);
}

static struct live *find(struct runs *r, int64_t id)
{
    for (struct live *l = r->live; l; l = l->next)
        if (l->id == id)
            return l;
    return NULL;
}

static unsigned user_running(struct runs *r, int64_t user)
{
    unsigned n = 0;
    for (struct live *l = r->live; l; l = l->next)
        n += l->admitted && l->user_id == user;
    return n;
}

/* The user's runs waiting for admission, and those being recorded right now. */
static unsigned user_queued(struct runs *r, int64_t user)
{
    unsigned n = 0;
    for (struct live *l = r->live; l; l = l->next)
        n += l->waiting && l->user_id == user;
    for (struct reservation *v = r->reserved; v; v = v->next)
        n += v->user == user;
    return n;
}

static void unreserve(struct runs *r, struct reservation *me)
{
    for (struct reservation **p = &r->reserved; *p; p = &(*p)->next)
        if (*p == me) {
            *p = me->next;
            return;
        }
}

/* When the user was last admitted (0: never, or not lately). */
static uint64_t user_served(struct runs *r, int64_t user)
{
    for (size_t i = 0; i < RR_USERS; i++)
        if (r->served[i].user == user)
            return r->served[i].at;
    return 0;
}

static void note_served(struct runs *r, int64_t user)
{
    size_t slot = 0;
    for (size_t i = 0; i < RR_USERS; i++) {
        if (r->served[i].user == user) {
            slot = i;
            break;
        }
        if (r->served[i].at < r->served[slot].at)
            slot = i; /* the least recently served makes room */
    }
    r->served[slot].user = user;
    r->served[slot].at = ++r->admissions;
}

/* Fair admission: when a slot is free, the next run is the oldest waiting run of the user
 * served least recently among those under their own concurrency cap (round-robin between
 * users, FIFO within one). Called with r->mu held. */
static struct live *next_to_admit(struct runs *r)
{
    if (r->running >= r->cfg.max_running)
        return NULL;
    struct live *best = NULL;
    uint64_t best_served = 0;
    for (struct live *l = r->live; l; l = l->next) {
        if (!l->waiting || l->cancelled || user_running(r, l->user_id) >= r->cfg.max_per_user)
            continue;
        uint64_t served = user_served(r, l->user_id);
        if (!best || served < best_served || (served == best_served && l->seq < best->seq)) {
            best = l;
            best_served = served;
        }
    }
    return best;
}

/* Appends one SSE event; data is JSON text. Called with r->mu held. */
static void add_event(struct runs *r, struct live *l, const char *name, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!text)
        return;
    /* The log is bounded by the output caps (each byte escapes to at most 6). */
    (void)buf_printf(&l->events, "event: %s\ndata: %s\n\n", name, text);
    free(text);
    pthread_cond_broadcast(&r->cv);
    notify_streams(l);
}

/* Valid UTF-8 for JSON: invalid bytes become U+FFFD; an incomplete sequence at the end of
 * a chunk is held back in s->pending for the next one. */
static json_t *text_json(struct stream_out *s, const char *data, size_t len)
{
    struct buf in, t;
    buf_init(&in, len + sizeof(s->pending));
    buf_init(&t, (len + sizeof(s->pending)) * 3 + 8);
    buf_append(&in, s->pending, s->npending);
    buf_append(&in, data, len);
    long used = utf8_sanitize(in.data, in.len, false, &t);
    s->npending = 0;
    if (used >= 0 && (size_t)used < in.len && in.len - (size_t)used <= sizeof(s->pending)) {
        s->npending = in.len - (size_t)used;
        memcpy(s->pending, in.data + used, s->npending);
    }
    json_t *j = json_stringn(t.data ? t.data : "", t.len);
    buf_done(&in);
    buf_done(&t);
    return j ? j : json_string("");
}

/* Output from the program: keep it (capped) and publish it. Returns false when the cap
 * was passed (the caller kills the run). */
static bool on_output(struct runs *r, struct live *l, bool is_err, const char *data, size_t len)
{
    struct stream_out *s = is_err ? &l->err : &l->out;
    size_t room = s->data.max - s->data.len;
    size_t keep = len < room ? len : room;
    buf_append(&s->data, data, keep);
    pthread_mutex_lock(&r->mu);
    if (keep)
        add_event(r, l, is_err ? EVENT_RUN(stderr) : EVENT_RUN(stdout),
                  json_pack("{s:o}", "data", text_json(s, data, keep)));
    pthread_mutex_unlock(&r->mu);
    if (keep < len) {
        s->truncated = true;
        return false;
    }
    return true;
}

static int write_file(int dirfd, const char *path, const char *text)
{
    return fsdir_write(dirfd, path, text, strlen(text), 0, 0);
}

/* Writes the run's files into a fresh directory; returns its fd. */
static int materialise(struct runs *r, struct live *l, const char *name,
                       struct store_file_list **ret_files, struct err *err)
{
    struct store_file_list *files = NULL;
    int rc = l->rq.submission_id && !l->rq.workspace_id
                 ? store_snapshot_list(r->store, l->rq.submission_id, &files, err)
                 : store_file_list(r->store, l->rq.workspace_id, true, &files, err);
    if (rc < 0)
        return rc;
    if (mkdirat(r->runs_dirfd, name, 0700) < 0 && errno != EEXIST) {
        store_file_list_free(files);
        return err_set(err, errno, "create run directory");
    }
    /* The run's own file system: what it was given, plus what it may write. */
    uint64_t bytes = l->rq.limits.workspace_bytes ? l->rq.limits.workspace_bytes : 1u << 30;
    bytes += PYROOM_FS_SLACK;
    for (size_t i = 0; i < files->n; i++)
        bytes += ((uint64_t)files->items[i].size + 4095) / 4096 * 4096;
    uint64_t inodes = files->n + 16 + (r->cfg.run_inodes ? r->cfg.run_inodes : 20000);
    struct err me = {0};
    int dfd = sb_wsfs_mount(r->runs_dirfd, name, bytes, inodes, &me);
    if (dfd == -EPERM || dfd == -ENOSYS) /* not root (or no new mount API): a plain directory */
        dfd = openat(r->runs_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        store_file_list_free(files);
        return err_set(err, -dfd, "prepare run directory: %s", me.msg);
    }
    for (size_t i = 0; rc == 0 && i < files->n; i++) {
        struct store_file *f = &files->items[i];
        if (f->kind == STORE_KIND_FOLDER) {
            rc = fsdir_mkdir(dfd, f->path, 0, 0);
            continue;
        }
        if (l->rq.submission_id && !l->rq.workspace_id) {
            /* Snapshot lists come without content. */
            struct store_file *full = NULL;
            rc = store_snapshot_get(r->store, l->rq.submission_id, f->path, &full, err);
            if (rc == 0)
                rc = fsdir_write(dfd, f->path, full->content, (size_t)full->size, 0, 0);
            store_file_free(full);
        } else {
            rc = fsdir_write(dfd, f->path, f->content, (size_t)f->size, 0, 0);
        }
    }
    if (rc == 0)
        rc = write_file(dfd, ".pyroom/sitecustomize.py", run_sitecustomize_py);
    if (rc == 0)
        rc = write_file(dfd, ".pyroom/pyroom_backend.py", run_backend_py);
    if (rc < 0) {
        close(dfd);
        store_file_list_free(files);
        return err_set(err, -rc, "write the run's files");
    }
    /* Keep the etags only: the write-back compares against them. */
    for (size_t i = 0; i < files->n; i++) {
        free(files->items[i].content);
        files->items[i].content = NULL;
    }
    *ret_files = files;
    return dfd;
}

static const struct store_file *find_file(const struct store_file_list *l, const char *path)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (!strcmp(l->items[i].path, path))
            return &l->items[i];
    return NULL;
}

static const struct fsdir_entry *find_entry(const struct fsdir_scan *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].path, path))
            return &s->items[i];
    return NULL;
}

static bool skip_named(const struct fsdir_scan *s, const char *path)
{
    for (size_t i = 0; i < s->nskips; i++)
        if (!strcmp(s->skips[i].path, path))
            return true;
    return false;
}

/* Saves what the run changed in its directory back to the workspace, in one transaction
 * (a crash stores all of it or nothing), and says in notes what it did not save. The
 * editor wins a conflict: each write is conditional on the etag the file had when the run
 * started. Only a path confirmed absent is deleted: a file the scan could not take (too
 * big, too deep, past a limit, replaced by a link) keeps its stored version. */
static void write_back(struct runs *r, struct live *l, int dfd,
                       const struct store_file_list *before, struct buf *notes)
{
    static const char *const ignore[] = {".pyroom", "__pycache__", NULL};
    struct fsdir_scan scan;
    const struct store_limits *lim = &r->cfg.files;
    size_t max_entries = lim->max_entries > 0 ? (size_t)lim->max_entries : SIZE_MAX / 4;
    size_t max_bytes = lim->max_workspace_bytes > 0 ? (size_t)lim->max_workspace_bytes : SIZE_MAX;
    size_t max_file = lim->max_file_bytes > 0 ? (size_t)lim->max_file_bytes : SIZE_MAX;
    if (fsdir_scan(dfd, max_file, max_entries, max_bytes, ignore, &scan) < 0) {
        buf_printf(notes, "the run's files could not be read back: the workspace is as it was\n");
        return;
    }
    size_t nbefore = before ? before->n : 0;
    struct store_change *ch = calloc(scan.n + nbefore + 1, sizeof(*ch));
    if (!ch) {
        buf_printf(notes, "the run's files could not be saved: out of memory\n");
        fsdir_scan_done(&scan);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < scan.n; i++) {
        const struct fsdir_entry *e = &scan.items[i];
        const struct store_file *old = find_file(before, e->path);
        if (e->folder) {
            if (!old)
                ch[n++] = (struct store_change){.op = STORE_CHANGE_FOLDER, .path = e->path};
            continue;
        }
        char etag[STORE_ETAG_LEN + 1];
        store_etag(e->data, e->size, etag);
        if (old && old->kind == STORE_KIND_FILE && !strcmp(old->etag, etag))
            continue;
        ch[n++] = (struct store_change){.op = STORE_CHANGE_PUT,
                                        .path = e->path,
                                        .data = e->data,
                                        .len = e->size,
                                        .if_match = old ? old->etag : NULL,
                                        .create_only = !old,
                                        .author = l->rq.user_id,
                                        .source = STORE_SOURCE_RUN};
    }
    /* Files the run deleted: only those confirmed gone (folders stay). */
    for (size_t i = 0; i < nbefore; i++) {
        const struct store_file *f = &before->items[i];
        if (f->kind != STORE_KIND_FILE || find_entry(&scan, f->path))
            continue;
        if (fsdir_absent(dfd, f->path))
            ch[n++] = (struct store_change){
                .op = STORE_CHANGE_DELETE, .path = f->path, .if_match = f->etag};
        else if (!skip_named(&scan, f->path))
            buf_printf(notes,
                       "%s: the run's version could not be saved; the stored version "
                       "was kept\n",
                       f->path);
    }
    struct err e = {0};
    if (n && store_files_apply(r->store, l->rq.workspace_id, ch, n, lim, &e) < 0) {
        buf_printf(notes, "the run's files could not be saved (%s): the workspace is as it was\n",
                   e.msg);
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_change *c = &ch[i];
        if (c->rc == 0 && r->cfg.on_change)
            r->cfg.on_change(r->cfg.on_change_ctx, l->rq.workspace_id, c->path,
                             c->op == STORE_CHANGE_DELETE   ? NULL
                             : c->op == STORE_CHANGE_FOLDER ? ""
                                                            : c->etag);
        else if (c->rc == -ESTALE || (c->rc == -EEXIST && c->op == STORE_CHANGE_PUT))
            buf_printf(notes,
                       "%s: changed in the editor meanwhile; the editor's version was kept\n",
                       c->path);
        else if (c->rc == -EFBIG)
            buf_printf(notes, "%s: not saved, it would pass the workspace limits\n", c->path);
        else if (c->rc < 0 && c->rc != -ENOENT && c->rc != -EEXIST)
            buf_printf(notes, "%s: not saved (%s)\n", c->path, strerror(-c->rc));
    }
    for (size_t i = 0; i < scan.nskips; i++) {
        const struct fsdir_skip *k = &scan.skips[i];
        const struct store_file *old = find_file(before, k->path);
        buf_printf(notes, "%s: not saved, %s%s\n", k->path, k->why,
                   old && old->kind == STORE_KIND_FILE ? "; the stored version was kept" : "");
    }
    if (scan.skipped > scan.nskips)
        buf_printf(notes, "%zu more entries were not saved\n", scan.skipped - scan.nskips);
    if (scan.incomplete)
        buf_printf(notes, "the run left more entries than were looked at; the rest was not "
                          "saved\n");
    free(ch);
    fsdir_scan_done(&scan);
}

/* Figures saved by our sitecustomize become artifacts. */
static void collect_artifacts(struct runs *r, struct live *l, int dfd)
{
    /* One component at a time, never following a link: the program may have replaced
     * .pyroom by a symlink to a host directory, and O_NOFOLLOW only guards the last
     * component of a path (DESIGN.md, rules at the boundary). */
    int pfd = openat(dfd, ".pyroom", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return;
    int afd = openat(pfd, "artifacts", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(pfd);
    if (afd < 0)
        return;
    struct fsdir_scan scan;
    if (fsdir_scan(afd, r->cfg.max_artifact_bytes, r->cfg.max_artifacts,
                   r->cfg.max_artifacts * r->cfg.max_artifact_bytes, NULL, &scan) == 0) {
        for (size_t i = 0; i < scan.n; i++) {
            const struct fsdir_entry *e = &scan.items[i];
            size_t n = strlen(e->path);
            if (e->folder || strchr(e->path, '/') || n < 5 || strcmp(e->path + n - 4, ".png"))
                continue;
            (void)store_artifact_add(r->store, l->id, e->path, "image/png", e->data, e->size, NULL);
        }
        fsdir_scan_done(&scan);
    }
    close(afd);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Pumps the program's stdio until stdout and stderr are closed. Returns the limit that
 * made us kill it (SB_LIMIT_OUTPUT), or SB_LIMIT_NONE. */
static enum sb_limit pump(struct runs *r, struct live *l, struct sb_stdio *io)
{
    enum sb_limit why = SB_LIMIT_NONE;
    char *chunk = malloc(READ_CHUNK);
    if (!chunk)
        return SB_LIMIT_NONE;
    set_nonblock(io->in);
    bool killed = false;
    bool dirty = false; /* output not yet saved to the store */
    int64_t saved_ms = mono_ms();
    while (io->out >= 0 || io->err >= 0) {
        struct pollfd p[4];
        int n = 0, iout = -1, ierr = -1, iin = -1;
        pthread_mutex_lock(&r->mu);
        bool want_in = io->in >= 0 && l->stdin_buf.len > 0;
        bool close_in = io->in >= 0 && l->stdin_closed && l->stdin_buf.len == 0;
        bool cancel = l->cancelled && !killed;
        pthread_mutex_unlock(&r->mu);
        if (close_in) {
            close(io->in);
            io->in = -1;
        }
        if (cancel) {
            sup_kill(l->proc, SB_LIMIT_NONE);
            killed = true;
        }
        p[n] = (struct pollfd){.fd = l->wake, .events = POLLIN};
        n++;
        if (io->out >= 0) {
            iout = n;
            p[n++] = (struct pollfd){.fd = io->out, .events = POLLIN};
        }
        if (io->err >= 0) {
            ierr = n;
            p[n++] = (struct pollfd){.fd = io->err, .events = POLLIN};
        }
        if (want_in) {
            iin = n;
            p[n++] = (struct pollfd){.fd = io->in, .events = POLLOUT};
        }
        int64_t since = mono_ms() - saved_ms;
        int timeout = !dirty ? -1 : since >= OUTPUT_SAVE_MS ? 0 : (int)(OUTPUT_SAVE_MS - since);
        if (poll(p, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (dirty && mono_ms() - saved_ms >= OUTPUT_SAVE_MS) {
            /* A crash of the server from here on keeps what the run printed so far. */
            (void)store_run_save_output(r->store, l->id, l->out.data.data, l->out.data.len,
                                        l->err.data.data, l->err.data.len, NULL);
            dirty = false;
            saved_ms = mono_ms();
        }
        if (p[0].revents) {
            uint64_t v;
            (void)!read(l->wake, &v, sizeof(v));
        }
        int fds[2] = {iout, ierr};
        for (int k = 0; k < 2; k++) {
            int idx = fds[k];
            if (idx < 0 || !p[idx].revents)
                continue;
            int *fd = k == 0 ? &io->out : &io->err;
            ssize_t got = read(*fd, chunk, READ_CHUNK);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) {
                close(*fd);
                *fd = -1;
                continue;
            }
            dirty = true;
            if (!on_output(r, l, k == 1, chunk, (size_t)got) && !killed) {
                why = SB_LIMIT_OUTPUT;
                sup_kill(l->proc, SB_LIMIT_OUTPUT);
                killed = true;
            }
        }
        if (iin >= 0 && p[iin].revents) {
            if (p[iin].revents & (POLLERR | POLLHUP)) {
                close(io->in);
                io->in = -1;
                continue;
            }
            pthread_mutex_lock(&r->mu);
            ssize_t w = write(io->in, l->stdin_buf.data, l->stdin_buf.len);
            if (w > 0) {
                memmove(l->stdin_buf.data, l->stdin_buf.data + w, l->stdin_buf.len - (size_t)w);
                l->stdin_buf.len -= (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                l->stdin_buf.len = 0;
                l->stdin_closed = true;
            }
            pthread_mutex_unlock(&r->mu);
        }
    }
    if (io->in >= 0) {
        close(io->in);
        io->in = -1;
    }
    free(chunk);
    return why;
}

/* A run's scratch directory goes: its file system with one unmount, then the (empty)
 * directory; without a file system of its own (not root), the tree is removed. */
static void remove_run_dir(struct runs *r, const char *name)
{
    (void)sb_wsfs_unmount(r->runs_dirfd, name);
    (void)fsdir_remove_tree(r->runs_dirfd, name);
}

/* The run's end in the metrics: its status and limit, and how long each phase took. */
static void observe_end(struct live *l, const struct store_run_result *res)
{
    int64_t now = metrics_now_us();
    const char *limit = res->limit_hit && *res->limit_hit ? res->limit_hit : "none";
    metrics_inc(METRIC_RUNS_FINISHED, (const char *[]){store_run_status_name(res->status), limit});
    metrics_observe_us(METRIC_RUN_DURATION, NULL, now - l->queued_us);
    int64_t admitted = l->admitted_us ? l->admitted_us : now;
    metrics_observe_us(METRIC_RUN_PHASE, (const char *[]){"queue"}, admitted - l->queued_us);
    if (l->admitted_us)
        metrics_observe_us(METRIC_RUN_PHASE, (const char *[]){"start"},
                           (l->spawned_us ? l->spawned_us : now) - l->admitted_us);
    if (l->spawned_us)
        metrics_observe_us(METRIC_RUN_PHASE, (const char *[]){"program"}, now - l->spawned_us);
}

static int64_t span_ms(int64_t from_us, int64_t to_us)
{
    return from_us && to_us ? (to_us - from_us + 500) / 1000 : -1;
}

/* Where the run's time went, from its marks; `now` ends the last phase reached. */
static struct store_run_timings timings_of(const struct live *l, int64_t now)
{
    struct store_run_timings t = {
        .queue_ms = span_ms(l->queued_us, l->admitted_us),
        .prepare_ms = span_ms(l->admitted_us, l->prepared_us),
        .start_ms = span_ms(l->prepared_us, l->spawned_us),
        .program_ms = span_ms(l->spawned_us, l->drained_us),
        .exit_ms = span_ms(l->drained_us, l->ended_us),
        .collect_ms = span_ms(l->ended_us, now),
    };
    return t;
}

/* The result is stored: a ?wait=1 caller may answer now, and the next run may start,
 * before the clean-up. */
static void finish_record(struct runs *r, struct live *l, struct store_run_result *res)
{
    struct err e = {0};
    res->timings = timings_of(l, metrics_now_us());
    if (store_run_finish(r->store, l->id, res, &e) < 0 && e.code != EALREADY)
        log_event(LOG_ERROR, "run finish failed",
                  json_pack("{s:I,s:s}", "run_id", (json_int_t)l->id, "error", e.msg));
    pthread_mutex_lock(&r->mu);
    l->recorded = true;
    /* The sandbox is gone: its admission slot goes to the next run now, not after the
     * clean-up of the scratch file system (so the node's counts are right when a ?wait=1
     * caller sees the result). */
    if (l->admitted) {
        r->running--;
        l->admitted = false;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void run_body(struct runs *r, struct live *l)
{
    struct err e = {0};
    struct store_run_result res = {.status = STORE_RUN_FAILED, .exit_code = -1};
    struct store_file_list *before = NULL;
    struct buf notes; /* what the write-back did not save, one line each */
    buf_init(&notes, 64u << 10);
    char name[32];
    snprintf(name, sizeof(name), "%lld", (long long)l->id);
    int dfd = -1;
    if (!r->sup) {
        res.reason = "sandboxes are not available on this server";
        goto finish;
    }
    const char *interp = runs_interpreter(l->entry);
    if (!interp) {
        res.reason = "no interpreter for this file type (use .py or .sh)";
        goto finish;
    }
    dfd = materialise(r, l, name, &before, &e);
    if (dfd < 0) {
        res.reason = e.code == ENOENT ? "the workspace is gone" : "could not prepare the files";
        log_event(LOG_ERROR, "run materialise failed",
                  json_pack("{s:I,s:s}", "run_id", (json_int_t)l->id, "error", e.msg));
        goto finish;
    }
    if (!find_file(before, l->entry)) {
        res.status = STORE_RUN_ERROR;
        res.exit_code = 2;
        static const char msg[] = "pyroom: the entry file does not exist\n";
        on_output(r, l, true, msg, sizeof(msg) - 1);
        goto finish;
    }
    char host_dir[4096];
    snprintf(host_dir, sizeof(host_dir), "%s/runs/%s", r->data_dir, name);
    const char *argv[SB_MAX_ARGS + 3];
    size_t argc = 0;
    argv[argc++] = interp;
    argv[argc++] = l->entry;
    for (size_t i = 0; l->args && l->args[i] && argc < SB_MAX_ARGS; i++)
        argv[argc++] = l->args[i];
    argv[argc] = NULL;
    static const char *const env[] = {
        "PYTHONPATH=" PYROOM_DIR,
        "MPLBACKEND=module://pyroom_backend",
        "PYTHONUNBUFFERED=1",
        "PYTHONDONTWRITEBYTECODE=1",
        NULL,
    };
    l->prepared_us = metrics_now_us();
    struct sb_spec spec = {
        .argv = argv,
        .env = env,
        .workspace = host_dir,
        .limits = l->rq.limits,
        .warm = r->cfg.warm, /* the supervisor starts it cold when it cannot be warm */
    };
    struct sup_proc *proc = NULL;
    int rc = sup_spawn(r->sup, &spec, &proc, &e);
    if (rc < 0) {
        res.reason = "could not start the sandbox";
        log_event(LOG_ERROR, "run spawn failed",
                  json_pack("{s:I,s:s}", "run_id", (json_int_t)l->id, "error", e.msg));
        goto finish;
    }
    if (store_run_set_running(r->store, l->id, proc->warm, NULL) < 0) {
        /* cancelled while it started: closing the channel kills it */
        int fds[] = {proc->io.in, proc->io.out, proc->io.err, proc->io.pty};
        for (int i = 0; i < 4; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        sup_proc_free(proc);
        res.status = STORE_RUN_CANCELLED;
        goto finish;
    }
    pthread_mutex_lock(&r->mu);
    l->proc = proc;
    pthread_mutex_unlock(&r->mu);
    l->spawned_us = metrics_now_us();
    enum sb_limit why = pump(r, l, &proc->io);
    l->drained_us = metrics_now_us();
    struct sb_result sr;
    rc = sup_wait(proc, &sr);
    l->ended_us = metrics_now_us();
    pthread_mutex_lock(&r->mu);
    l->proc = NULL;
    pthread_mutex_unlock(&r->mu);
    sup_proc_free(proc);
    if (rc < 0) {
        res.reason = "lost track of the sandbox";
        goto finish;
    }
    if (why != SB_LIMIT_NONE && sr.limit_hit == SB_LIMIT_NONE)
        sr.limit_hit = why;
    res.exit_code = sr.signal ? -1 : sr.exit_code;
    res.signal = sr.signal;
    res.limit_hit = sb_limit_name(sr.limit_hit);
    res.wall_ms = (int64_t)sr.wall_ms;
    res.cpu_ms = (int64_t)sr.cpu_ms;
    res.peak_memory_bytes = (int64_t)sr.peak_memory_bytes;
    pthread_mutex_lock(&r->mu);
    bool cancelled = l->cancelled;
    pthread_mutex_unlock(&r->mu);
    if (cancelled)
        res.status = STORE_RUN_CANCELLED;
    else if (sr.limit_hit != SB_LIMIT_NONE)
        res.status = STORE_RUN_LIMIT;
    else if (sr.signal || sr.exit_code)
        res.status = STORE_RUN_ERROR;
    else
        res.status = STORE_RUN_OK;
    if (l->rq.workspace_id && !l->rq.no_write_back && !cancelled)
        write_back(r, l, dfd, before, &notes);
    collect_artifacts(r, l, dfd);
finish:
    if (notes.len) {
        /* Live readers see it now; the record keeps it for GET and late readers. */
        pthread_mutex_lock(&r->mu);
        add_event(r, l, EVENT_RUN(notice), json_pack("{s:s}", "data", notes.data));
        pthread_mutex_unlock(&r->mu);
        res.notices = notes.data;
    }
    observe_end(l, &res);
    res.stdout_data = l->out.data.data;
    res.stdout_len = l->out.data.len;
    res.stdout_truncated = l->out.truncated;
    res.stderr_data = l->err.data.data;
    res.stderr_len = l->err.data.len;
    res.stderr_truncated = l->err.truncated;
    finish_record(r, l, &res);
    if (dfd >= 0)
        close(dfd);
    remove_run_dir(r, name);
    store_file_list_free(before);
    buf_done(&notes);
}

static void *worker(void *arg)
{
    struct live *l = arg;
    struct runs *r = l->owner;
    pthread_mutex_lock(&r->mu);
    while (!r->closing && !l->cancelled && next_to_admit(r) != l)
        pthread_cond_wait(&r->cv, &r->mu);
    r->queued--;
    l->waiting = false;
    bool go = !r->closing && !l->cancelled;
    if (go) {
        l->admitted = true;
        r->running++;
        note_served(r, l->user_id);
    }
    /* Another waiting run may be next now (a slot may still be free). */
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (go) {
        l->admitted_us = metrics_now_us();
        run_body(r, l);
    } else {
        struct store_run_result res = {.status = STORE_RUN_CANCELLED,
                                       .exit_code = -1,
                                       .reason = "cancelled before it started"};
        observe_end(l, &res);
        finish_record(r, l, &res);
    }
    pthread_mutex_lock(&r->mu);
    if (l->admitted)
        r->running--;
    l->admitted = false;
    l->done = true;
    for (struct live **p = &r->live; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    r->threads--;
    pthread_cond_broadcast(&r->cv);
    notify_streams(l);
    struct run_waiter *w = l->waiters;
    l->waiters = NULL;
    live_unref(r, l);
    pthread_mutex_unlock(&r->mu);
    while (w) {
        struct run_waiter *next = w->next;
        w->fn(w->ctx);
        free(w);
        w = next;
    }
    return NULL;
}

int runs_start(struct runs *r, const struct run_request *rq, int64_t *ret_id, struct err *err)
{
    pthread_mutex_lock(&r->mu);
    /* Capacity is the running slots plus the queue, counted as one: a run counts as
     * queued from here until its worker is admitted, whatever the threads' timing. */
    bool full = r->closing || r->running + r->queued >= r->cfg.max_running + r->cfg.max_queued;
    /* One user may not take the queue from the others: beyond the runs they may run at
     * once, at most max_queued_per_user more may wait (counted whatever the workers'
     * timing: admitted or not yet). */
    if (!full && r->cfg.max_queued_per_user &&
        user_running(r, rq->user_id) + user_queued(r, rq->user_id) >=
            r->cfg.max_per_user + r->cfg.max_queued_per_user)
        full = true;
    /* Reserve the place before the slow part (this request counts as one of the user's
     * waiting runs until its run is live). */
    struct reservation me = {.user = rq->user_id, .next = r->reserved};
    if (!full) {
        r->queued++;
        r->reserved = &me;
    }
    pthread_mutex_unlock(&r->mu);
    if (full)
        return -EAGAIN;
    struct live *l = calloc(1, sizeof(*l));
    struct store_run *sr = NULL;
    int rc = -ENOMEM;
    if (!l)
        goto fail;
    l->queued_us = metrics_now_us();
    l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    l->rq = *rq;
    l->rq.stdin_data = NULL;
    l->user_id = rq->user_id;
    l->entry = strdup(rq->entry);
    l->args_json = strdup(rq->args_json ? rq->args_json : "[]");
    size_t nargs = 0;
    while (rq->args && rq->args[nargs])
        nargs++;
    l->args = calloc(nargs + 1, sizeof(char *));
    if (l->wake < 0 || !l->entry || !l->args_json || !l->args)
        goto fail;
    for (size_t i = 0; i < nargs; i++)
        if (!(l->args[i] = strdup(rq->args[i])))
            goto fail;
    buf_init(&l->stdin_buf, STDIN_PENDING_MAX);
    buf_init(&l->events, r->cfg.output_bytes * 16 + (1u << 20));
    size_t cap = r->cfg.output_bytes;
    if (rq->limits.output_bytes && rq->limits.output_bytes < cap)
        cap = (size_t)rq->limits.output_bytes;
    buf_init(&l->out.data, cap);
    buf_init(&l->err.data, cap);
    if (rq->stdin_len && buf_append(&l->stdin_buf, rq->stdin_data, rq->stdin_len) < 0) {
        rc = -E2BIG;
        goto fail;
    }
    l->stdin_closed = !rq->interactive;
    struct store_run_new nr = {
        .workspace_id = rq->workspace_id,
        .submission_id = rq->submission_id,
        .user_id = rq->user_id,
        .node = r->node,
        .entry = rq->entry,
        .args_json = l->args_json,
    };
    if ((rc = store_run_create(r->store, &nr, &sr, err)) < 0)
        goto fail;
    l->id = sr->id;
    store_run_free(sr);
    l->refs = 1; /* the worker's */
    l->owner = r;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    /* Live (findable by runs_wait, runs_cancel, streams) before its worker starts. */
    pthread_mutex_lock(&r->mu);
    r->threads++;
    unreserve(r, &me);
    l->waiting = true;
    l->seq = ++r->next_seq;
    l->next = r->live;
    r->live = l;
    pthread_mutex_unlock(&r->mu);
    rc = pthread_create(&t, &attr, worker, l);
    pthread_attr_destroy(&attr);
    if (rc) {
        pthread_mutex_lock(&r->mu);
        r->threads--;
        for (struct live **p = &r->live; *p; p = &(*p)->next)
            if (*p == l) {
                *p = l->next;
                break;
            }
        pthread_mutex_unlock(&r->mu);
        struct store_run_result res = {
            .status = STORE_RUN_FAILED, .exit_code = -1, .reason = "could not start a worker"};
        (void)store_run_finish(r->store, l->id, &res, NULL);
        rc = -rc;
        goto fail;
    }
    metrics_inc(METRIC_RUNS_STARTED, NULL);
    *ret_id = l->id;
    return 0;
fail:
    pthread_mutex_lock(&r->mu);
    r->queued--;
    unreserve(r, &me);
    if (l) {
        l->refs = 1;
        live_unref(r, l);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static void wake(struct live *l)
{
    uint64_t one = 1;
    (void)!write(l->wake, &one, sizeof(one));
}

int runs_stdin(struct runs *r, int64_t id, const void *data, size_t len)
{
    pthread_mutex_lock(&r->mu);
    struct live *l = find(r, id);
    int rc = 0;
    if (!l)
        rc = -ENOENT;
    else if (l->stdin_closed)
        rc = -EPIPE;
    else if (len == 0)
        l->stdin_closed = true;
    else if (buf_append(&l->stdin_buf, data, len) < 0)
        rc = -ENOBUFS;
    if (l && rc == 0)
        wake(l);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int runs_cancel(struct runs *r, int64_t id)
{
    pthread_mutex_lock(&r->mu);
    struct live *l = find(r, id);
    if (l) {
        l->cancelled = true;
        /* Kill now rather than when the worker wakes up: one hop less between the cancel
         * and the sandbox's death (sup_kill may race with the worker's sup_wait; l->proc
         * is cleared under r->mu before it is freed). */
        if (l->proc)
            (void)sup_kill(l->proc, SB_LIMIT_NONE);
        wake(l);
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return l ? 0 : -ENOENT;
}

static void deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int runs_wait(struct runs *r, int64_t id, int timeout_ms)
{
    struct timespec ts;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    struct live *l;
    while ((l = find(r, id)) && !l->recorded) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT) {
            l = find(r, id);
            rc = l && !l->recorded ? -ETIMEDOUT : 0;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int runs_on_end(struct runs *r, int64_t id, void (*fn)(void *ctx), void *ctx)
{
    struct run_waiter *w = malloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    pthread_mutex_lock(&r->mu);
    struct live *l = find(r, id);
    if (l) {
        *w = (struct run_waiter){.fn = fn, .ctx = ctx, .next = l->waiters};
        l->waiters = w;
    }
    pthread_mutex_unlock(&r->mu);
    if (!l)
        free(w);
    return l ? 0 : -ENOENT;
}

void runs_stats(struct runs *r, unsigned *ret_running, unsigned *ret_queued)
{
    pthread_mutex_lock(&r->mu);
    *ret_running = r->running;
    *ret_queued = r->queued;
    pthread_mutex_unlock(&r->mu);
}

struct run_stream *runs_stream_open(struct runs *r, int64_t id)
{
    pthread_mutex_lock(&r->mu);
    struct live *l = find(r, id);
    struct run_stream *s = l ? calloc(1, sizeof(*s)) : NULL;
    if (s) {
        s->r = r;
        s->l = l;
        l->refs++;
    }
    pthread_mutex_unlock(&r->mu);
    return s;
}

ssize_t runs_stream_read(struct run_stream *s, char *out, size_t max, int timeout_ms)
{
    struct runs *r = s->r;
    struct live *l = s->l;
    struct timespec ts;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&r->mu);
    while (s->pos == l->events.len && !l->done)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT)
            break;
    ssize_t n;
    if (s->pos < l->events.len) {
        size_t k = l->events.len - s->pos;
        if (k > max)
            k = max;
        memcpy(out, l->events.data + s->pos, k);
        s->pos += k;
        n = (ssize_t)k;
    } else {
        n = l->done ? -1 : 0;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

void runs_stream_notify(struct run_stream *s, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->r->mu);
    s->notify = fn;
    s->notify_ctx = ctx;
    if (!s->linked) {
        s->linked = true;
        s->next = s->l->streams;
        s->l->streams = s;
    }
    pthread_mutex_unlock(&s->r->mu);
}

void runs_stream_close(struct run_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->r->mu);
    for (struct run_stream **p = &s->l->streams; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    live_unref(s->r, s->l);
    pthread_mutex_unlock(&s->r->mu);
    free(s);
}

int runs_new(const struct runs_config *cfg, struct store *store, struct sup *sup, struct runs **ret,
             struct err *err)
{
    struct runs *r = calloc(1, sizeof(*r));
    if (!r)
        return err_set(err, ENOMEM, "allocate runs");
    r->cfg = *cfg;
    r->store = store;
    r->sup = sup;
    r->runs_dirfd = -1;
    r->data_dir = strdup(cfg->data_dir);
    r->node = strdup(cfg->node ? cfg->node : "");
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/runs", cfg->data_dir);
    (void)mkdir(cfg->data_dir, 0755);
    (void)mkdir(dir, 0700);
    r->runs_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->runs_dirfd < 0) {
        int e = errno;
        runs_free(r);
        return err_set(err, e, "open '%s'", dir);
    }
    /* Scratch directories left by a crash are removed now. */
    int parent = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent >= 0) {
        sb_wsfs_sweep(r->runs_dirfd); /* a crashed server's file systems */
        (void)fsdir_remove_tree(parent, "runs");
        close(parent);
        close(r->runs_dirfd);
        (void)mkdir(dir, 0700);
        r->runs_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    *ret = r;
    return 0;
}

void runs_stop(struct runs *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->closing = true;
    for (struct live *l = r->live; l; l = l->next) {
        l->cancelled = true;
        wake(l);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void runs_free(struct runs *r)
{
    if (!r)
        return;
    runs_stop(r);
    pthread_mutex_lock(&r->mu);
    while (r->threads)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    if (r->runs_dirfd >= 0)
        close(r->runs_dirfd);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->data_dir);
    free(r->node);
    free(r);
}

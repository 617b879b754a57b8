/*
 * archive: zip downloads of a workspace (GET /api/workspaces/{id}/archive), of one of its
 * folders (.../archive/{path}) and of a submission's snapshot (submissions.c calls
 * api_archive_reply). workspace/zip writes the format; this file decides what goes in,
 * checks the limits and streams the bytes.
 *
 * Theory of operation. The handler checks access, lists the entries without their bytes
 * and checks the limits before answering: more than --archive-max-files entries or
 * --archive-max-bytes file bytes is a 413 archive_too_large, and more than
 * --archive-streams downloads in progress on this node a 429. Then it answers 200 with a
 * pull-mode stream (http/server.h) and starts a producer thread of the download's own: it
 * reads one file at a time from the store (a call that may block, so never on an HTTP loop
 * thread), zips it and copies the bytes into a small queue (QUEUE_BYTES). The stream's fill
 * function takes from the queue on the loop thread and never blocks; a full queue makes the
 * producer wait. So a download holds the queue plus one file and its deflated copy in
 * memory, whatever the archive's size, and a slow client slows only its own producer.
 * The client going away closes the stream (on_close), which ends the producer at its next
 * write; api_free waits for the producers still running.
 *
 * The entries are listed once: a file deleted while the archive is written is left out, a
 * file changed meanwhile goes in as it is when read. The bytes actually read count against
 * --archive-max-bytes again; passing it then (a file grew), like a store error, ends the
 * download as failed (http_stream_fail's way: no last chunk), so the client sees a
 * truncated transfer rather than a complete body that is not a zip.
 *
 * Entry names are workspace paths, checked again by the writer (no "..", no absolute
 * path): a workspace's archive holds its paths as they are, a folder's holds them from the
 * folder's own name down ("src/pkg" gives "pkg/", "pkg/a.py"), a submission's holds the
 * snapshot's paths.
 */
#include "api/internal.h"
#include "base/log.h"
#include "workspace/path.h"
#include "workspace/zip.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_BYTES (256u * 1024) /* archive bytes waiting for the client, per download */

struct archives {
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when running drops to 0 */
    unsigned running;    /* producers alive */
    unsigned max;        /* --archive-streams */
};

/* One download: the producer's and the stream's (on_close) references. */
struct download {
    struct api *api;
    struct archives *owner;
    int64_t workspace_id;         /* the files of this workspace, or */
    int64_t submission_id;        /* the snapshot of this submission when set */
    struct store_file_list *list; /* the workspace's or snapshot's entries, without bytes */
    char path[PATH_BUF_SIZE];     /* only this path and what is under it go in ("": all) */
    size_t strip;                 /* bytes of each path dropped for its entry name */
    uint64_t max_bytes;           /* file bytes allowed */
    char rid[17];                 /* the request's id, for the log */
    pthread_mutex_t mu;
    pthread_cond_t room;          /* the queue has room, or the stream closed */
    unsigned char q[QUEUE_BYTES]; /* archive bytes for fill */
    size_t head, tail;            /* q[head..tail) waits */
    bool done;                    /* the producer is finished: after the queue, the end */
    bool failed;                  /* ... without the zip's end record: end with an error */
    bool closed;                  /* the stream is over for the server */
    struct http_stream *out;      /* the producer's reference */
    int refs;
};

int api_archives_new(unsigned max, struct archives **ret)
{
    struct archives *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->idle, NULL);
    a->max = max;
    *ret = a;
    return 0;
}

void api_archives_free(struct archives *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    while (a->running)
        pthread_cond_wait(&a->idle, &a->mu);
    pthread_mutex_unlock(&a->mu);
    pthread_cond_destroy(&a->idle);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* A download's place among --archive-streams: false when they are all taken. */
static bool slot_take(struct archives *a)
{
    pthread_mutex_lock(&a->mu);
    bool room = a->running < a->max;
    if (room)
        a->running++;
    pthread_mutex_unlock(&a->mu);
    return room;
}

static void slot_give(struct archives *a)
{
    pthread_mutex_lock(&a->mu);
    if (--a->running == 0)
        pthread_cond_broadcast(&a->idle);
    pthread_mutex_unlock(&a->mu);
}

static void download_unref(struct download *d)
{
    pthread_mutex_lock(&d->mu);
    bool last = --d->refs == 0;
    pthread_mutex_unlock(&d->mu);
    if (!last)
        return;
    store_file_list_free(d->list);
    pthread_cond_destroy(&d->room);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* ---- the queue between producer and stream ------------------------------------------ */

/* The stream's fill, on a loop thread: never blocks. */
static ssize_t fill(void *ctx, char *out, size_t max)
{
    struct download *d = ctx;
    pthread_mutex_lock(&d->mu);
    size_t k = d->tail - d->head;
    if (k > max)
        k = max;
    memcpy(out, d->q + d->head, k);
    d->head += k;
    if (d->head == d->tail)
        d->head = d->tail = 0;
    if (k)
        pthread_cond_signal(&d->room);
    ssize_t n = k ? (ssize_t)k : !d->done ? 0 : d->failed ? HTTP_FILL_FAILED : HTTP_FILL_END;
    pthread_mutex_unlock(&d->mu);
    return n;
}

static void on_close(void *ctx)
{
    struct download *d = ctx;
    pthread_mutex_lock(&d->mu);
    d->closed = true;
    pthread_cond_signal(&d->room);
    pthread_mutex_unlock(&d->mu);
    download_unref(d);
}

/* The zip writer's output, on the producer thread: waits for room, -EPIPE once closed. */
static int put(void *ctx, const void *data, size_t len)
{
    struct download *d = ctx;
    const unsigned char *p = data;
    while (len) {
        pthread_mutex_lock(&d->mu);
        if (d->tail == QUEUE_BYTES && d->head) {
            memmove(d->q, d->q + d->head, d->tail - d->head);
            d->tail -= d->head;
            d->head = 0;
        }
        while (!d->closed && d->tail == QUEUE_BYTES)
            pthread_cond_wait(&d->room, &d->mu);
        if (d->closed) {
            pthread_mutex_unlock(&d->mu);
            return -EPIPE;
        }
        size_t k = QUEUE_BYTES - d->tail;
        if (k > len)
            k = len;
        memcpy(d->q + d->tail, p, k);
        d->tail += k;
        pthread_mutex_unlock(&d->mu);
        http_stream_wake(d->out);
        p += k;
        len -= k;
    }
    return 0;
}

/* ---- the producer ------------------------------------------------------------------- */

static int read_file(struct download *d, const char *path, struct store_file **ret)
{
    if (d->submission_id)
        return store_snapshot_get(d->api->store, d->submission_id, path, ret, NULL);
    return store_file_get(d->api->store, d->workspace_id, path, true, ret, NULL);
}

/* Whether entry path goes into an archive of folder ("": everything). */
static bool selected(const char *path, const char *folder)
{
    return !*folder || strcmp(path, folder) == 0 || path_is_under(path, folder);
}

static int produce(struct download *d, struct zip *z)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < d->list->n; i++) {
        const struct store_file *e = &d->list->items[i];
        if (!selected(e->path, d->path))
            continue;
        const char *name = e->path + d->strip;
        int rc;
        if (e->kind == STORE_KIND_FOLDER) {
            rc = zip_add_folder(z, name, e->updated_at);
        } else {
            struct store_file *f = NULL;
            rc = read_file(d, e->path, &f);
            if (rc == -ENOENT || rc == -EISDIR)
                continue; /* deleted or replaced by a folder since the listing */
            if (rc < 0)
                return rc;
            bytes += (uint64_t)f->size;
            rc = bytes > d->max_bytes ? -EFBIG
                                      : zip_add_file(z, name, f->content ? f->content : "",
                                                     (size_t)f->size, f->updated_at);
            store_file_free(f);
        }
        if (rc < 0)
            return rc;
    }
    return zip_finish(z);
}

static void *producer_main(void *arg)
{
    struct download *d = arg;
    struct zip *z = NULL;
    int rc = zip_new(put, d, &z);
    if (rc == 0)
        rc = produce(d, z);
    if (rc < 0 && rc != -EPIPE)
        log_event(LOG_WARN, "zip download cut short",
                  json_pack("{s:s,s:I,s:I,s:s}", "request_id", d->rid, "workspace_id",
                            (json_int_t)d->workspace_id, "submission_id",
                            (json_int_t)d->submission_id, "error", strerror(-rc)));
    zip_free(z);
    pthread_mutex_lock(&d->mu);
    d->done = true;
    d->failed = rc < 0;
    pthread_mutex_unlock(&d->mu);
    http_stream_wake(d->out);
    http_stream_unref(d->out);
    struct archives *a = d->owner;
    download_unref(d);
    slot_give(a);
    return NULL;
}

/* ---- the request -------------------------------------------------------------------- */

/* Content-Disposition for name + ".zip": an ASCII fallback and the exact UTF-8 name
 * (RFC 6266, RFC 8187). */
static void disposition(const char *name, char *out, size_t size)
{
    char ascii[120], enc[3 * 120 + 1];
    size_t a = 0, e = 0;
    /* At most 100 bytes, cut at a character boundary (the rest of a sequence goes too). */
    for (const unsigned char *p = (const unsigned char *)name;
         *p && (a < 100 || ((*p & 0xC0) == 0x80 && a < 110)); p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';
        ascii[a++] = plain ? (char)*p : '_';
        if (plain)
            enc[e++] = (char)*p;
        else
            e += (size_t)snprintf(enc + e, sizeof(enc) - e, "%%%02X", *p);
    }
    ascii[a] = enc[e] = '\0';
    if (!a)
        snprintf(ascii, sizeof(ascii), "%s", "archive");
    snprintf(out, size, "attachment; filename=\"%s.zip\"; filename*=UTF-8''%s.zip", ascii,
             e ? enc : ascii);
}

/* Answers 200 and starts the producer of the entries of l under folder ("": all); takes l
 * on success. -errno before anything is answered. */
static int download_start(struct api *api, struct http_req *req, const struct archive_source *src,
                          struct store_file_list *l, const char *folder, uint64_t max_bytes)
{
    struct download *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->api = api;
    d->owner = api->archives;
    d->workspace_id = src->workspace_id;
    d->submission_id = src->submission_id;
    d->list = l;
    snprintf(d->path, sizeof(d->path), "%s", folder);
    /* A folder's entries are named from the folder's own name down. */
    d->strip = (size_t)(path_basename(folder) - folder);
    d->max_bytes = max_bytes;
    snprintf(d->rid, sizeof(d->rid), "%s", req->id);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->room, NULL);
    d->refs = 2; /* the producer's and on_close's */
    char cd[600];
    disposition(src->name, cd, sizeof(cd));
    const char *const h[] = {"Content-Disposition", cd, "Cache-Control", "no-store", NULL};
    struct http_stream_config sc = {
        .max_queue = 4096,
        .fill = fill,
        .on_close = on_close,
        .ctx = d,
    };
    int r = http_reply_stream(req, 200, "application/zip", &sc, h, &d->out);
    if (r < 0) {
        pthread_cond_destroy(&d->room);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return r;
    }
    /* From here the stream owns one reference: a producer that cannot start fails it. */
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, producer_main, d) != 0) {
        http_stream_fail(d->out);
        http_stream_unref(d->out);
        download_unref(d); /* on_close drops the last reference */
        slot_give(api->archives);
    }
    pthread_attr_destroy(&attr);
    return 0;
}

void api_archive_limits(const struct api *api, uint64_t *ret_files, uint64_t *ret_bytes)
{
    uint64_t files = api->cfg->archive_max_files, bytes = api->cfg->archive_max_bytes;
    if (files > ZIP_MAX_ENTRIES)
        files = ZIP_MAX_ENTRIES;
    if (bytes > ZIP_MAX_BYTES / 2)
        bytes = ZIP_MAX_BYTES / 2; /* the rest is room for headers and incompressible data */
    *ret_files = files;
    *ret_bytes = bytes;
}

void api_archive_reply(struct api *api, struct http_req *req, const struct archive_source *src)
{
    struct store_file_list *l = NULL;
    int r = src->submission_id ? store_snapshot_list(api->store, src->submission_id, &l, NULL)
                               : store_file_list(api->store, src->workspace_id, false, &l, NULL);
    if (r < 0) {
        api_fail(req, r, src->submission_id ? "submission" : "workspace");
        return;
    }
    const char *folder = src->path ? src->path : "";
    size_t count = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (selected(l->items[i].path, folder)) {
            count++;
            bytes += (uint64_t)l->items[i].size;
        }
    }
    if (*folder && !count) {
        store_file_list_free(l);
        api_reply_error(req, not_found, "no such folder");
        return;
    }
    uint64_t max_files, max_bytes;
    api_archive_limits(api, &max_files, &max_bytes);
    if (count > max_files || bytes > max_bytes) {
        store_file_list_free(l);
        if (count > max_files)
            api_reply_error(req, archive_too_large,
                            "the zip would hold %zu files and folders; a download may hold %llu "
                            "(--archive-max-files)",
                            count, (unsigned long long)max_files);
        else
            api_reply_error(req, archive_too_large,
                            "the zip would hold %llu bytes of files; a download may hold %llu "
                            "(--archive-max-bytes)",
                            (unsigned long long)bytes, (unsigned long long)max_bytes);
        return;
    }

    struct archives *a = api->archives;
    if (!slot_take(a)) {
        store_file_list_free(l);
        api_too_many(req, 5, "too many zip downloads on this node; try again in a moment");
        return;
    }
    r = download_start(api, req, src, l, folder, max_bytes);
    if (r < 0) {
        store_file_list_free(l);
        slot_give(a);
        api_fail(req, r, "archive");
    }
}

static void h_workspace(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    char path[PATH_BUF_SIZE];
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    if (req->rest && !api_url_path(req, path))
        goto out;
    struct archive_source src = {
        .workspace_id = w->id,
        .path = req->rest ? path : NULL,
        .name = req->rest ? path_basename(path) : w->name,
    };
    api_archive_reply(api, req, &src);
out:
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_archive_routes(struct router *r)
{
    router_add(r, "GET", "/api/workspaces/{}/archive", h_workspace);
    router_add(r, "GET", "/api/workspaces/{}/archive/{*}", h_workspace);
}

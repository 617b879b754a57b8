/* lang_sync: what a language worker holds of each workspace; see lang_sync.h. */
#include "exec/lang_sync.h"

#include "base/utf8.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lang_given_clear(struct lang_given *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->items[i].path);
    g->n = 0;
}

static bool python_file(const struct store_file *f, size_t max)
{
    size_t n = strlen(f->path);
    if (f->kind != STORE_KIND_FILE || f->size < 0 || (size_t)f->size > max)
        return false;
    return (n > 3 && strcmp(f->path + n - 3, ".py") == 0) ||
           (n > 4 && strcmp(f->path + n - 4, ".pyi") == 0);
}

static struct lang_sent *sent_find(struct lang_given *w, int64_t ws, const char *path)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->items[i].ws == ws && strcmp(w->items[i].path, path) == 0)
            return &w->items[i];
    return NULL;
}

/* Files past the budget are left out (imports of them then simply do not resolve). */
int lang_given_sync(struct lang_given *w, struct store *st, int64_t ws, size_t budget,
                    size_t max_file, json_t *rq, struct err *err)
{
    struct store_file_list *list = NULL;
    int r = store_file_list(st, ws, false, &list, err);
    if (r < 0)
        return r;
    json_t *files = json_object(), *drop = json_array();
    bool *keep = calloc(w->cap + 1, sizeof(*keep)); /* one per slot of w->items */
    if (!files || !drop || !keep) {
        r = err_set(err, ENOMEM, "sync");
        goto out;
    }
    for (size_t i = 0; i < list->n; i++) {
        const struct store_file *f = &list->items[i];
        if (!python_file(f, max_file) || (size_t)f->size > budget)
            continue;
        budget -= (size_t)f->size;
        struct lang_sent *s = sent_find(w, ws, f->path);
        if (s && strcmp(s->etag, f->etag) == 0) {
            keep[s - w->items] = true;
            continue;
        }
        struct store_file *full = NULL;
        if (store_file_get(st, ws, f->path, true, &full, NULL) < 0)
            continue; /* deleted meanwhile */
        if (!full->content || !utf8_valid(full->content, (size_t)full->size)) {
            store_file_free(full);
            continue;
        }
        json_object_set_new(files, full->path, json_stringn(full->content, (size_t)full->size));
        if (!s) {
            if (w->n == w->cap) {
                size_t cap = w->cap ? 2 * w->cap : 16;
                struct lang_sent *ns = realloc(w->items, cap * sizeof(*ns));
                bool *nk = realloc(keep, (cap + 1) * sizeof(*nk));
                if (nk)
                    keep = nk;
                if (!ns || !nk) {
                    if (ns)
                        w->items = ns;
                    store_file_free(full);
                    r = err_set(err, ENOMEM, "sync");
                    goto out;
                }
                w->items = ns;
                w->cap = cap;
            }
            s = &w->items[w->n];
            s->path = strdup(full->path);
            if (!s->path) {
                store_file_free(full);
                r = err_set(err, ENOMEM, "sync");
                goto out;
            }
            s->ws = ws;
            keep[w->n] = true;
            w->n++;
        } else {
            keep[s - w->items] = true;
        }
        snprintf(s->etag, sizeof(s->etag), "%s", full->etag);
        s->size = (size_t)full->size;
        store_file_free(full);
    }
    /* What this workspace no longer has goes; other workspaces' entries stay. */
    size_t j = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->items[i].ws == ws && !keep[i]) {
            json_array_append_new(drop, json_string(w->items[i].path));
            free(w->items[i].path);
            continue;
        }
        w->items[j++] = w->items[i];
    }
    w->n = j;
    json_object_set(rq, "files", files);
    json_object_set(rq, "drop", drop);
out:
    free(keep);
    json_decref(files);
    json_decref(drop);
    store_file_list_free(list);
    return r;
}

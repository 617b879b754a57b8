/* lang_sync: what a language worker holds of each workspace's Python files, and the
 * request fields ("files", "drop") that bring its copy up to date. Owned by the lang loop
 * thread (one set per worker); not thread-safe. */
#ifndef PYROOM_EXEC_LANG_SYNC_H
#define PYROOM_EXEC_LANG_SYNC_H

#include "base/err.h"
#include "store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* One file given to a worker: its workspace, path and the etag it had. */
struct lang_sent {
    int64_t ws;
    char *path;
    char etag[STORE_ETAG_LEN + 1];
    size_t size; /* bytes */
};

/* Every file given to one worker. Zero-initialised is empty; free items after clear. */
struct lang_given {
    struct lang_sent *items;
    size_t n, cap;
};

/* Forgets everything given (the worker ended); keeps the array for reuse. */
void lang_given_clear(struct lang_given *g);

/* Adds to rq what the worker needs for workspace ws: "files" (changed or new Python files
 * up to max_file bytes each, budget bytes in all) and "drop" (gone ones), and records them
 * as given. 0, or a negative errno with err set. */
int lang_given_sync(struct lang_given *g, struct store *st, int64_t ws, size_t budget,
                    size_t max_file, json_t *rq, struct err *err);

#endif

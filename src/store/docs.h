/*
 * store docs: the update logs of co-edited files (issue 17).
 *
 * The page edits a file together with others through a CRDT (Yjs) that the server cannot
 * run, so the server keeps, per file being co-edited, the updates the editors posted since
 * the last snapshot: a late joiner applies them all (in any order; CRDT updates commute and
 * repeat harmlessly) and has the merged text. A document starts with a snapshot posted
 * when none exists (two editors racing: one wins, the other gets -EEXIST and loads the
 * winner's); a later snapshot that covers every update up to id N replaces them, so the log
 * stays short. Each document's bytes are bounded by the caller (max_bytes); an append past
 * it is refused (-EFBIG) and the editor must post a snapshot first.
 *
 * Each document has an id, the id of the snapshot that started it. Every later append names
 * the document it is meant for: after a drop and a new start, an update or a covering
 * snapshot a page made for the old document (posted late, or by a page that has not heard of
 * the drop yet) is refused (-ENOENT), never mixed into the new one, whose CRDT history is
 * unrelated (applied there, it would add the old text again).
 *
 * The bytes here are not the file: saving stays the file API, and a change of the file
 * from elsewhere (a terminal, a run) drops the document (store_doc_drop).
 */
#ifndef PYROOM_STORE_DOCS_H
#define PYROOM_STORE_DOCS_H

#include "base/err.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_doc_update {
    int64_t id; /* increasing in the order appended (cluster-wide) */
    void *data; /* the update's bytes (malloc'd) */
    size_t len; /* bytes */
    bool snapshot;
};

struct store_doc_log {
    struct store_doc_update *items;
    size_t n;
    int64_t bytes; /* the document's stored bytes */
    int64_t doc;   /* the document's id */
};

/* Appends an update to the document of path in workspace ws; *ret_id gets its id.
 *   snapshot true, covers 0: starts the document (doc is ignored; the document's id is
 *     *ret_id); -EEXIST when one exists.
 *   snapshot false: an update of document doc; -ENOENT when path has no document or
 *     another one than doc (doc was dropped), -EFBIG when the document would pass max_bytes.
 *   snapshot true, covers N > 0: replaces the updates of document doc with id <= N (the
 *     snapshot holds them); -ENOENT and -EFBIG as for an update.
 * Every document of ws together holds at most max_ws_bytes: -EDQUOT beyond (a workspace
 * has at most max-files documents, so this, not their number, bounds the database).
 * One transaction. */
int store_doc_append(struct store *st, int64_t ws, const char *path, int64_t doc, const void *data,
                     size_t len, bool snapshot, int64_t covers, int64_t max_bytes,
                     int64_t max_ws_bytes, int64_t *ret_id, struct err *err);
/* The updates of the document with id > after, oldest first. -ENOENT: no document. */
int store_doc_log(struct store *st, int64_t ws, const char *path, int64_t after,
                  struct store_doc_log **ret, struct err *err);
void store_doc_log_free(struct store_doc_log *l);
/* The id of path's document in workspace ws now, 0 when it has none (*ret_doc). */
int store_doc_live(struct store *st, int64_t ws, const char *path, int64_t *ret_doc,
                   struct err *err);
/* Drops the document of path (NULL: every document of ws). *ret_dropped (may be NULL)
 * says whether one existed. */
int store_doc_drop(struct store *st, int64_t ws, const char *path, bool *ret_dropped,
                   struct err *err);

#endif

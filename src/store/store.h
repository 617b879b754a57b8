/*
 * store: pyroom's persistence. One set of domain queries (users, sessions, API tokens,
 * workspaces and their files, runs and artifacts, submissions with snapshots, reviews and
 * comments, the audit log, terminal leases) over two drivers: SQLite (embedded default;
 * WAL, synchronous=NORMAL, busy timeout, foreign keys on) and PostgreSQL (libpq).
 *
 * Threads: a struct store is safe to use from any number of threads at once. It keeps a
 * small pool of connections (pool_size); a call borrows one for its duration and blocks
 * while all are busy. Each call that changes several rows is one transaction.
 *
 * Conventions, for every function below:
 *   - Returns 0 or a negative errno. The codes that mean something to a caller:
 *       -ENOENT   no such row (or not visible: an expired session, a disabled user's token)
 *       -EEXIST   unique name taken: username, file path, move target, artifact name
 *       -ENOTDIR  a parent of a file path is a file
 *       -EISDIR   the path is a folder where a file is needed (put, get content)
 *       -EFBIG    a limit in struct store_limits would be passed (file, entries, bytes)
 *       -ESTALE   a precondition failed: If-Match etag differs, or the file is gone
 *       -EALREADY a state change from the wrong state (deciding a submission twice,
 *                 finishing a finished run)
 *       -EBUSY    a terminal lease is held by another node; the database is locked
 *                 longer than the busy timeout (retry later: 503)
 *       -ENOTCONN the database cannot be reached (down, restarting): 503, retry later
 *       -EINVAL   a bad argument (programmer error or unvalidated input)
 *       -EIO      the database failed (the message in err says how): 500/503
 *       -ENOMEM   out of memory
 *   - The last argument, struct err *err, may be NULL; when set it receives a message
 *     naming what failed first (for logs, never for users).
 *   - Results (ret_*) are set only on success, are owned by the caller and freed with the
 *     matching _free function (all accept NULL). A ret_* argument may be NULL when the
 *     caller does not want the result.
 *   - Ids are int64 > 0; 0 means "none" (a NULL column). Times are int64 milliseconds since
 *     the Unix epoch, taken by the store from CLOCK_REALTIME; 0 means "never/none".
 *   - Lists take limit and offset (limit 0: no limit) and set `more` when further rows
 *     exist past the page, so an API can answer next_offset = offset + n or null.
 *   - Strings are NUL-terminated UTF-8; blobs are (pointer, length) and may hold any byte.
 *     Callers validate names, paths and sizes (workspace/ path rules) before calling.
 */
#ifndef PYROOM_STORE_STORE_H
#define PYROOM_STORE_STORE_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store; /* opaque handle */

/* ---- opening, migrations, readiness ------------------------------------------------ */

struct store_options {
    int pool_size;       /* connections kept; <= 0: 8 */
    int busy_timeout_ms; /* SQLite busy timeout; PostgreSQL connect timeout; <= 0: 5000 */
};

/* Opens "sqlite:PATH" (the file is created if missing; ":memory:" is refused since every
 * connection would see its own database) or "postgres://..." / "postgresql://..." (any
 * libpq URL). opt may be NULL for the defaults. Does not migrate. */
int store_open(const char *url, const struct store_options *opt, struct store **ret,
               struct err *err);
/* Closes every connection. No call may be in flight. Accepts NULL. */
void store_close(struct store *st);
/* Applies the versioned migrations not yet applied (schema_version table), each in a
 * transaction; safe when several nodes start at once. Sets *ret_version (may be NULL). */
int store_migrate(struct store *st, int *ret_version, struct err *err);
/* 0 when the database answers a trivial query (GET /api/ready). */
int store_ping(struct store *st, struct err *err);
/* "sqlite" or "postgres". */
const char *store_driver_name(const struct store *st);
/* Milliseconds since the epoch, the clock the store stamps rows with. */
int64_t store_now_ms(void);

/* ---- users ------------------------------------------------------------------------- */

enum store_role { STORE_ROLE_SUBMITTER, STORE_ROLE_REVIEWER, STORE_ROLE_ADMIN };

/* "submitter", "reviewer", "admin"; parse returns -EINVAL for anything else. */
const char *store_role_name(enum store_role role);
int store_role_parse(const char *name, enum store_role *ret);

struct store_user {
    int64_t id;
    char *username;      /* as registered; unique ignoring ASCII case */
    char *password_hash; /* argon2id encoded string; only from store_user_get*, else NULL */
    enum store_role role;
    bool disabled;
    int64_t created_at; /* ms */
};

struct store_user_list {
    size_t n;
    struct store_user *items; /* password_hash is NULL in lists */
    bool more;
};

/* Creates a user. When first_is_admin and no user exists yet, the new user is an admin
 * whatever role says (decided atomically: two first registrations cannot both be admin).
 * -EEXIST when the username is taken (ignoring ASCII case). */
int store_user_create(struct store *st, const char *username, const char *password_hash,
                      enum store_role role, bool first_is_admin, struct store_user **ret,
                      struct err *err);
int store_user_get(struct store *st, int64_t id, struct store_user **ret, struct err *err);
/* Looks a username up ignoring ASCII case. */
int store_user_get_by_name(struct store *st, const char *username, struct store_user **ret,
                           struct err *err);
/* All users by id. */
int store_user_list(struct store *st, int limit, int offset, struct store_user_list **ret,
                    struct err *err);
int store_user_set_role(struct store *st, int64_t id, enum store_role role, struct err *err);
/* Disabling also deletes the user's sessions (same transaction); API tokens stay but
 * stop working while the user is disabled. */
int store_user_set_disabled(struct store *st, int64_t id, bool disabled, struct err *err);
int store_user_set_password(struct store *st, int64_t id, const char *password_hash,
                            struct err *err);
void store_user_free(struct store_user *u);
void store_user_list_free(struct store_user_list *l);

/* ---- sessions and API tokens -------------------------------------------------------
 * The store never sees a token, only its hash: the caller hashes the random token (e.g.
 * crypto_generichash, hex) and passes that text; lookups compare it exactly. */

struct store_session {
    int64_t id;
    int64_t user_id;
    char *csrf; /* the CSRF token given at creation (may be NULL) */
    int64_t created_at;
    int64_t expires_at;
    int64_t last_used_at;
    struct store_user user; /* the session's user (no password_hash) */
};

/* expires_at in ms. -ENOENT when the user does not exist. */
int store_session_create(struct store *st, int64_t user_id, const char *token_hash,
                         const char *csrf, int64_t expires_at, struct store_session **ret,
                         struct err *err);
/* The session with this hash, if it exists, has not expired and its user is not
 * disabled; else -ENOENT. Read-only (cheap: one indexed join). */
int store_session_lookup(struct store *st, const char *token_hash, struct store_session **ret,
                         struct err *err);
/* Sliding expiry: sets last_used_at to now and expires_at. -ENOENT if gone. */
int store_session_touch(struct store *st, int64_t session_id, int64_t expires_at, struct err *err);
/* Logout. -ENOENT if there was no such session. */
int store_session_delete(struct store *st, const char *token_hash, struct err *err);
/* Ends every session of a user (role change, disable, password change). */
int store_session_delete_user(struct store *st, int64_t user_id, struct err *err);
/* Deletes expired sessions; *ret_count (may be NULL) says how many. */
int store_session_purge(struct store *st, int *ret_count, struct err *err);
void store_session_free(struct store_session *s);

struct store_token {
    int64_t id;
    int64_t user_id;
    char *name;
    int64_t created_at;
    int64_t last_used_at;   /* 0: never */
    struct store_user user; /* filled by store_token_lookup only (else zero) */
};

struct store_token_list {
    size_t n;
    struct store_token *items;
    bool more;
};

int store_token_create(struct store *st, int64_t user_id, const char *name, const char *token_hash,
                       struct store_token **ret, struct err *err);
/* A user's tokens, oldest first. */
int store_token_list(struct store *st, int64_t user_id, struct store_token_list **ret,
                     struct err *err);
/* Deletes token id if it belongs to user_id; -ENOENT otherwise. */
int store_token_delete(struct store *st, int64_t user_id, int64_t id, struct err *err);
/* The token with this hash whose user is not disabled, else -ENOENT. Updates
 * last_used_at, at most once a minute per token (so most lookups do not write). */
int store_token_lookup(struct store *st, const char *token_hash, struct store_token **ret,
                       struct err *err);
void store_token_free(struct store_token *t);
void store_token_list_free(struct store_token_list *l);

/* ---- workspaces -------------------------------------------------------------------- */

struct store_workspace {
    int64_t id;
    int64_t owner_id;
    char *owner_name;
    char *name;
    int64_t created_at;
    int64_t updated_at;  /* last change of the workspace or any of its files */
    int64_t file_count;  /* files (not folders) */
    int64_t entry_count; /* files and folders: what max_entries limits */
    int64_t bytes;       /* sum of the files' sizes */
};

struct store_workspace_list {
    size_t n;
    struct store_workspace *items;
    bool more;
};

/* Names are not unique. -ENOENT when the owner does not exist. */
int store_workspace_create(struct store *st, int64_t owner_id, const char *name,
                           struct store_workspace **ret, struct err *err);
int store_workspace_get(struct store *st, int64_t id, struct store_workspace **ret,
                        struct err *err);
/* owner_id's workspaces, or everyone's when owner_id is 0; newest first (by id). */
int store_workspace_list(struct store *st, int64_t owner_id, int limit, int offset,
                         struct store_workspace_list **ret, struct err *err);
int store_workspace_rename(struct store *st, int64_t id, const char *name, struct err *err);
/* Deletes the workspace, its files, its runs and its lease. Submissions made from it
 * survive (with their snapshots, and with workspace_id 0), and so do runs attached to
 * them. */
int store_workspace_delete(struct store *st, int64_t id, struct err *err);
void store_workspace_free(struct store_workspace *w);
void store_workspace_list_free(struct store_workspace_list *l);

/* ---- files --------------------------------------------------------------------------
 * A workspace holds entries at '/'-separated relative paths (validated by the caller).
 * Invariant kept by every call: each entry's parent exists as a folder. Folders are
 * created as needed by put, folder_create and move, and count towards max_entries.
 * Paths sort bytewise (PostgreSQL column collation "C").
 *
 * Etags are computed by the store: STORE_ETAG_LEN hex characters of a BLAKE2b hash of the
 * content (store_etag), so equal contents have equal etags. Folders have etag "". */

#define STORE_ETAG_LEN 32

enum store_file_kind { STORE_KIND_FILE, STORE_KIND_FOLDER };
const char *store_kind_name(enum store_file_kind kind); /* "file", "folder" */

struct store_file {
    char *path;
    enum store_file_kind kind;
    int64_t size;                  /* bytes; 0 for folders */
    char etag[STORE_ETAG_LEN + 1]; /* "" for folders */
    int64_t updated_at;            /* ms */
    void *content;                 /* only when asked for; NUL-terminated (not counted) */
};

struct store_file_list {
    size_t n;
    struct store_file *items; /* sorted by path */
    bool more;
};

/* Limits passed in by the caller (its settings); 0 means unlimited. A change is refused
 * with -EFBIG only when it would pass a limit and grow usage, so a workspace over a
 * lowered limit can still shrink. */
struct store_limits {
    int64_t max_file_bytes;      /* per file */
    int64_t max_entries;         /* files + folders per workspace */
    int64_t max_workspace_bytes; /* sum of file sizes per workspace */
};

/* Preconditions of a put or delete (HTTP If-Match / If-None-Match: *). */
struct store_cond {
    const char *if_match; /* NULL: none; else the file must exist with this etag (-ESTALE) */
    bool create_only;     /* the path must not exist (-EEXIST) */
};

/* Writes etag (STORE_ETAG_LEN + 1 bytes) for content. */
void store_etag(const void *data, size_t len, char *etag);

/* One entry; with_content also fetches a file's bytes (-EISDIR for a folder). */
int store_file_get(struct store *st, int64_t ws, const char *path, bool with_content,
                   struct store_file **ret, struct err *err);
/* Every entry of a workspace sorted by path; with_content also fetches the bytes (to
 * materialise a sandbox). -ENOENT when the workspace does not exist. */
int store_file_list(struct store *st, int64_t ws, bool with_content, struct store_file_list **ret,
                    struct err *err);
/* Creates or replaces a file, in one transaction: checks cond and lim, creates missing
 * parent folders (-ENOTDIR when one is a file), refuses a folder at path (-EISDIR),
 * stores the bytes and their etag. *ret_created (may be NULL) says whether it is new;
 * *ret gets the entry without content. cond and lim may be NULL. -ENOENT: no workspace. */
int store_file_put(struct store *st, int64_t ws, const char *path, const void *data, size_t len,
                   const struct store_cond *cond, const struct store_limits *lim,
                   struct store_file **ret, bool *ret_created, struct err *err);
/* Creates a folder and its missing parents. -EEXIST when path exists (file or folder). */
int store_folder_create(struct store *st, int64_t ws, const char *path,
                        const struct store_limits *lim, struct store_file **ret, struct err *err);
/* Deletes a file, or a folder with everything under it. cond->if_match applies to files
 * (a folder with if_match set gives -ESTALE). *ret_count (may be NULL): entries deleted. */
int store_file_delete(struct store *st, int64_t ws, const char *path, const struct store_cond *cond,
                      int *ret_count, struct err *err);
/* Renames or moves a file or a folder with its subtree, atomically. -ENOENT: no `from`;
 * -EEXIST: `to` exists; -EINVAL: `to` is inside `from`; -ENOTDIR: a parent of `to` is a
 * file. Missing parents of `to` are created (within lim, which may be NULL). */
int store_file_move(struct store *st, int64_t ws, const char *from, const char *to,
                    const struct store_limits *lim, struct err *err);
/* A batch of changes applied in one transaction (a run's write-back): a crash stores all
 * of them or none. Each change's precondition and the limits are checked as for a single
 * call; one that is refused (-ESTALE, -EEXIST, -EFBIG, -ENOENT, -EISDIR, -ENOTDIR in rc)
 * is skipped and the others go on. Any other failure rolls the whole batch back and is
 * returned. On success rc and etag (for puts) are set in each change. */
enum store_change_op { STORE_CHANGE_PUT, STORE_CHANGE_FOLDER, STORE_CHANGE_DELETE };
struct store_change {
    enum store_change_op op;
    const char *path;              /* borrowed */
    const void *data;              /* put: the bytes (borrowed) */
    size_t len;                    /* put: bytes */
    const char *if_match;          /* put, delete: the etag it must still have, or NULL */
    bool create_only;              /* put: the path must not exist */
    int rc;                        /* out: 0, or why it was refused */
    char etag[STORE_ETAG_LEN + 1]; /* out: a put's new etag */
};
int store_files_apply(struct store *st, int64_t ws, struct store_change *changes, size_t n,
                      const struct store_limits *lim, struct err *err);
void store_file_free(struct store_file *f);
void store_file_list_free(struct store_file_list *l);

/* ---- runs and artifacts ------------------------------------------------------------ */

enum store_run_status {
    STORE_RUN_QUEUED,
    STORE_RUN_RUNNING,
    STORE_RUN_OK,    /* exit code 0 */
    STORE_RUN_ERROR, /* non-zero exit or a signal */
    STORE_RUN_LIMIT, /* a limit was hit (limit_hit says which) */
    STORE_RUN_CANCELLED,
    STORE_RUN_FAILED, /* internal failure (reason says why) */
};
/* "queued", "running", "ok", "error", "limit", "cancelled", "failed". */
const char *store_run_status_name(enum store_run_status s);
int store_run_status_parse(const char *name, enum store_run_status *ret);

struct store_artifact {
    int64_t id;
    int64_t run_id;
    char *name;         /* unique within a run, e.g. "figure-1.png" */
    char *content_type; /* e.g. "image/png" */
    int64_t size;       /* bytes */
    void *data;         /* only from store_artifact_get */
    int64_t created_at;
};

struct store_artifact_list {
    size_t n;
    struct store_artifact *items; /* by name */
    bool more;
};

struct store_run {
    int64_t id;
    int64_t workspace_id;  /* 0 for a run of a submission's snapshot, or a deleted ws */
    int64_t submission_id; /* 0 unless it ran (or was attached to) a submission */
    int64_t user_id;       /* who started it */
    char *node;            /* the node that runs it (for fail_unfinished); may be NULL */
    char *entry;           /* e.g. "main.py" */
    char *args_json;       /* JSON array text, as given */
    enum store_run_status status;
    int exit_code;   /* -1: none (not finished, or killed by a signal) */
    int signal;      /* 0: none */
    char *limit_hit; /* "none", "wall_time", "cpu_time", "memory", ... */
    int64_t wall_ms;
    int64_t cpu_ms;
    int64_t peak_memory_bytes;
    void *stdout_data; /* NUL-terminated; NULL in lists and until finished */
    size_t stdout_len;
    bool stdout_truncated;
    void *stderr_data;
    size_t stderr_len;
    bool stderr_truncated;
    bool warm;     /* started from the warm pool */
    char *reason;  /* why it failed (status failed/cancelled), may be NULL */
    char *notices; /* what its write-back kept or skipped, one per line; may be NULL */
    int64_t created_at;
    int64_t started_at;                   /* 0 until running */
    int64_t finished_at;                  /* 0 until finished */
    struct store_artifact_list artifacts; /* from store_run_get: metadata, no data */
};

struct store_run_list {
    size_t n;
    struct store_run *items; /* newest first; no output, no artifacts */
    bool more;
};

/* What a new run is: workspace_id or submission_id (or both when a workspace run is
 * made for a submission), the user, the node that will run it (NULL for none). */
struct store_run_new {
    int64_t workspace_id;
    int64_t submission_id;
    int64_t user_id;
    const char *node;
    const char *entry;
    const char *args_json; /* NULL: "[]" */
};

/* The outcome of a run, for store_run_finish. */
struct store_run_result {
    enum store_run_status status; /* a final one: ok, error, limit, cancelled, failed */
    int exit_code;                /* -1: none */
    int signal;
    const char *limit_hit; /* NULL: "none" */
    int64_t wall_ms;
    int64_t cpu_ms;
    int64_t peak_memory_bytes;
    const void *stdout_data;
    size_t stdout_len;
    bool stdout_truncated;
    const void *stderr_data;
    size_t stderr_len;
    bool stderr_truncated;
    const char *reason;  /* may be NULL */
    const char *notices; /* may be NULL */
};

/* Creates a run in status queued. -ENOENT: the workspace/submission/user is missing. */
int store_run_create(struct store *st, const struct store_run_new *r, struct store_run **ret,
                     struct err *err);
/* queued -> running (sets started_at and warm); -EALREADY from any other state. */
int store_run_set_running(struct store *st, int64_t id, bool warm, struct err *err);
/* queued|running -> a final state with its figures and output; -EALREADY when already
 * final (e.g. cancelled meanwhile). */
/* Stores the output a running run has produced so far, so that a crash of the server
 * leaves it with the run (which the next start marks failed). No effect once finished. */
int store_run_save_output(struct store *st, int64_t id, const void *out, size_t out_len,
                          const void *errd, size_t err_len, struct err *err);
int store_run_finish(struct store *st, int64_t id, const struct store_run_result *res,
                     struct err *err);
/* The run with its output and its artifacts' metadata. */
int store_run_get(struct store *st, int64_t id, struct store_run **ret, struct err *err);
/* Runs of a workspace (workspace_id > 0) or of a submission (workspace_id 0,
 * submission_id > 0), newest first, without output. */
int store_run_list(struct store *st, int64_t workspace_id, int64_t submission_id, int limit,
                   int offset, struct store_run_list **ret, struct err *err);
/* At start-up: marks every queued or running run of this node (node NULL: of every node)
 * as failed with reason. *ret_count (may be NULL) says how many. */
int store_runs_fail_unfinished(struct store *st, const char *node, const char *reason,
                               int *ret_count, struct err *err);
/* -EEXIST when the run already has an artifact of that name. */
int store_artifact_add(struct store *st, int64_t run_id, const char *name, const char *content_type,
                       const void *data, size_t len, struct err *err);
int store_artifact_list(struct store *st, int64_t run_id, struct store_artifact_list **ret,
                        struct err *err);
/* With its data. */
int store_artifact_get(struct store *st, int64_t run_id, const char *name,
                       struct store_artifact **ret, struct err *err);
void store_run_free(struct store_run *r);
void store_run_list_free(struct store_run_list *l);
void store_artifact_free(struct store_artifact *a);
void store_artifact_list_free(struct store_artifact_list *l);

/* ---- submissions, reviews, comments ------------------------------------------------ */

enum store_sub_status {
    STORE_SUB_ANY = -1, /* only as a list filter */
    STORE_SUB_PENDING,
    STORE_SUB_APPROVED,
    STORE_SUB_REJECTED,
    STORE_SUB_WITHDRAWN,
};
/* "pending", "approved", "rejected", "withdrawn". */
const char *store_sub_status_name(enum store_sub_status s);
int store_sub_status_parse(const char *name, enum store_sub_status *ret);

struct store_submission {
    int64_t id;
    int64_t workspace_id; /* 0 when the workspace was deleted since */
    char *workspace_name; /* at submission time */
    int64_t author_id;
    char *author_name;
    char *message;
    enum store_sub_status status;
    int64_t created_at;
    int64_t decided_at; /* 0 while pending */
    int64_t decided_by; /* user id; 0 while pending (the author for withdrawn) */
    char *decided_by_name;
    int64_t previous_id; /* the previous submission of the same workspace, 0 if none */
    int64_t run_id;      /* the run attached at submission time, 0 if none */
    int64_t file_count;  /* snapshot entries that are files */
    int64_t bytes;       /* snapshot size */
};

struct store_submission_list {
    size_t n;
    struct store_submission *items;
    bool more;
};

struct store_review {
    int64_t id;
    int64_t submission_id;
    int64_t reviewer_id;
    char *reviewer_name;
    enum store_sub_status decision; /* approved or rejected */
    char *comment;                  /* may be "" */
    int64_t at;
};

struct store_review_list {
    size_t n;
    struct store_review *items; /* oldest first */
    bool more;
};

struct store_comment {
    int64_t id;
    int64_t submission_id;
    int64_t author_id;
    char *author_name;
    char *body;
    char *path; /* NULL for a general comment */
    int line;   /* 0: none */
    int64_t at;
};

struct store_comment_list {
    size_t n;
    struct store_comment *items; /* oldest first */
    bool more;
};

/* Snapshots every entry of workspace ws (content included) into a new pending
 * submission by author_id, linked to the workspace's previous submission, in one
 * transaction. -ENOENT: no such workspace. */
int store_submission_create(struct store *st, int64_t ws, int64_t author_id, const char *message,
                            struct store_submission **ret, struct err *err);
int store_submission_get(struct store *st, int64_t id, struct store_submission **ret,
                         struct err *err);
/* Filter by status (STORE_SUB_ANY: all) and author (0: all). Pending only: oldest first;
 * otherwise newest first. */
int store_submission_list(struct store *st, enum store_sub_status status, int64_t author_id,
                          int limit, int offset, struct store_submission_list **ret,
                          struct err *err);
/* pending -> approved|rejected|withdrawn, atomically (compare-and-set): -EALREADY when no
 * longer pending, so deciding twice is refused. Sets decided_at/decided_by = actor_id.
 * For approved and rejected it also records a review (actor_id, comment, now) in the same
 * transaction. -EINVAL for a target status that is not one of those three. */
int store_submission_set_status(struct store *st, int64_t id, enum store_sub_status status,
                                int64_t actor_id, const char *comment, struct err *err);
/* Records run_id as the submission's run (and the run's submission_id). */
int store_submission_set_run(struct store *st, int64_t id, int64_t run_id, struct err *err);
/* The snapshot: entries sorted by path (no content), and one entry with its content. */
int store_snapshot_list(struct store *st, int64_t submission_id, struct store_file_list **ret,
                        struct err *err);
int store_snapshot_get(struct store *st, int64_t submission_id, const char *path,
                       struct store_file **ret, struct err *err);
int store_review_list(struct store *st, int64_t submission_id, struct store_review_list **ret,
                      struct err *err);
/* path NULL and line 0 for a general comment. */
int store_comment_add(struct store *st, int64_t submission_id, int64_t author_id, const char *body,
                      const char *path, int line, struct store_comment **ret, struct err *err);
int store_comment_list(struct store *st, int64_t submission_id, struct store_comment_list **ret,
                       struct err *err);
void store_submission_free(struct store_submission *s);
void store_submission_list_free(struct store_submission_list *l);
void store_review_list_free(struct store_review_list *l);
void store_comment_free(struct store_comment *c);
void store_comment_list_free(struct store_comment_list *l);

/* ---- audit log --------------------------------------------------------------------- */

struct store_audit {
    int64_t id;
    int64_t at;
    int64_t actor_id; /* 0: none (e.g. a failed login of an unknown user) */
    char *actor_name; /* NULL when actor_id is 0 */
    char *action;     /* "login", "role_change", "submission_approve", ... */
    char *target;     /* e.g. "user:7", "submission:3"; may be "" */
    char *detail;     /* free text or JSON; may be "" */
};

struct store_audit_list {
    size_t n;
    struct store_audit *items; /* newest first */
    bool more;
};

int store_audit_append(struct store *st, int64_t actor_id, const char *action, const char *target,
                       const char *detail, struct err *err);
int store_audit_list(struct store *st, int limit, int offset, struct store_audit_list **ret,
                     struct err *err);
void store_audit_list_free(struct store_audit_list *l);

/* ---- terminal leases ----------------------------------------------------------------
 * Which node owns a workspace's live environment (so a terminal's WebSocket is routed
 * there). A lease expires unless renewed; any node may take an expired one. */

struct store_lease {
    int64_t workspace_id;
    char *node;
    int64_t expires_at; /* ms */
};

/* Takes or renews the lease of ws for node for ttl_ms. -EBUSY when another node holds an
 * unexpired lease (store_lease_get says which). -ENOENT: no such workspace. */
int store_lease_acquire(struct store *st, int64_t ws, const char *node, int64_t ttl_ms,
                        struct store_lease **ret, struct err *err);
/* Releases it if node holds it; -ENOENT otherwise. */
int store_lease_release(struct store *st, int64_t ws, const char *node, struct err *err);
/* The unexpired lease of ws, else -ENOENT. */
int store_lease_get(struct store *st, int64_t ws, struct store_lease **ret, struct err *err);
void store_lease_free(struct store_lease *l);

#endif

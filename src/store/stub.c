/* store stubs: every function answers -ENOSYS until the drivers land. */
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>

int store_open(const char *url, const struct store_options *opt, struct store **ret, struct err *err)
{
    (void)url;
    (void)opt;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

void store_close(struct store *st)
{
    (void)st;
}

int store_migrate(struct store *st, int *ret_version, struct err *err)
{
    (void)st;
    (void)ret_version;
    (void)err;
    return -ENOSYS;
}

int store_ping(struct store *st, struct err *err)
{
    (void)st;
    (void)err;
    return -ENOSYS;
}

int store_user_create(struct store *st, const char *username, const char *password_hash, enum store_role role, bool first_is_admin, struct store_user **ret, struct err *err)
{
    (void)st;
    (void)username;
    (void)password_hash;
    (void)role;
    (void)first_is_admin;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_user_get(struct store *st, int64_t id, struct store_user **ret, struct err *err)
{
    (void)st;
    (void)id;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_user_get_by_name(struct store *st, const char *username, struct store_user **ret, struct err *err)
{
    (void)st;
    (void)username;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_user_list(struct store *st, int limit, int offset, struct store_user_list **ret, struct err *err)
{
    (void)st;
    (void)limit;
    (void)offset;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_user_set_role(struct store *st, int64_t id, enum store_role role, struct err *err)
{
    (void)st;
    (void)id;
    (void)role;
    (void)err;
    return -ENOSYS;
}

int store_user_set_disabled(struct store *st, int64_t id, bool disabled, struct err *err)
{
    (void)st;
    (void)id;
    (void)disabled;
    (void)err;
    return -ENOSYS;
}

int store_user_set_password(struct store *st, int64_t id, const char *password_hash, struct err *err)
{
    (void)st;
    (void)id;
    (void)password_hash;
    (void)err;
    return -ENOSYS;
}

void store_user_free(struct store_user *u)
{
    free(u);
}

void store_user_list_free(struct store_user_list *l)
{
    free(l);
}

int store_session_create(struct store *st, int64_t user_id, const char *token_hash, const char *csrf, int64_t expires_at, struct store_session **ret, struct err *err)
{
    (void)st;
    (void)user_id;
    (void)token_hash;
    (void)csrf;
    (void)expires_at;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_session_lookup(struct store *st, const char *token_hash, struct store_session **ret, struct err *err)
{
    (void)st;
    (void)token_hash;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_session_touch(struct store *st, int64_t session_id, int64_t expires_at, struct err *err)
{
    (void)st;
    (void)session_id;
    (void)expires_at;
    (void)err;
    return -ENOSYS;
}

int store_session_delete(struct store *st, const char *token_hash, struct err *err)
{
    (void)st;
    (void)token_hash;
    (void)err;
    return -ENOSYS;
}

int store_session_delete_user(struct store *st, int64_t user_id, struct err *err)
{
    (void)st;
    (void)user_id;
    (void)err;
    return -ENOSYS;
}

int store_session_purge(struct store *st, int *ret_count, struct err *err)
{
    (void)st;
    (void)ret_count;
    (void)err;
    return -ENOSYS;
}

void store_session_free(struct store_session *s)
{
    free(s);
}

int store_token_create(struct store *st, int64_t user_id, const char *name, const char *token_hash, struct store_token **ret, struct err *err)
{
    (void)st;
    (void)user_id;
    (void)name;
    (void)token_hash;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_token_list(struct store *st, int64_t user_id, struct store_token_list **ret, struct err *err)
{
    (void)st;
    (void)user_id;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_token_delete(struct store *st, int64_t user_id, int64_t id, struct err *err)
{
    (void)st;
    (void)user_id;
    (void)id;
    (void)err;
    return -ENOSYS;
}

int store_token_lookup(struct store *st, const char *token_hash, struct store_token **ret, struct err *err)
{
    (void)st;
    (void)token_hash;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

void store_token_free(struct store_token *t)
{
    free(t);
}

void store_token_list_free(struct store_token_list *l)
{
    free(l);
}

int store_workspace_create(struct store *st, int64_t owner_id, const char *name, struct store_workspace **ret, struct err *err)
{
    (void)st;
    (void)owner_id;
    (void)name;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_workspace_get(struct store *st, int64_t id, struct store_workspace **ret, struct err *err)
{
    (void)st;
    (void)id;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_workspace_list(struct store *st, int64_t owner_id, int limit, int offset, struct store_workspace_list **ret, struct err *err)
{
    (void)st;
    (void)owner_id;
    (void)limit;
    (void)offset;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_workspace_rename(struct store *st, int64_t id, const char *name, struct err *err)
{
    (void)st;
    (void)id;
    (void)name;
    (void)err;
    return -ENOSYS;
}

int store_workspace_delete(struct store *st, int64_t id, struct err *err)
{
    (void)st;
    (void)id;
    (void)err;
    return -ENOSYS;
}

void store_workspace_free(struct store_workspace *w)
{
    free(w);
}

void store_workspace_list_free(struct store_workspace_list *l)
{
    free(l);
}

int store_file_get(struct store *st, int64_t ws, const char *path, bool with_content, struct store_file **ret, struct err *err)
{
    (void)st;
    (void)ws;
    (void)path;
    (void)with_content;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_file_list(struct store *st, int64_t ws, bool with_content, struct store_file_list **ret, struct err *err)
{
    (void)st;
    (void)ws;
    (void)with_content;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_file_put(struct store *st, int64_t ws, const char *path, const void *data, size_t len, const struct store_cond *cond, const struct store_limits *lim, struct store_file **ret, bool *ret_created, struct err *err)
{
    (void)st;
    (void)ws;
    (void)path;
    (void)data;
    (void)len;
    (void)cond;
    (void)lim;
    (void)ret;
    (void)ret_created;
    (void)err;
    return -ENOSYS;
}

int store_folder_create(struct store *st, int64_t ws, const char *path, const struct store_limits *lim, struct store_file **ret, struct err *err)
{
    (void)st;
    (void)ws;
    (void)path;
    (void)lim;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_file_delete(struct store *st, int64_t ws, const char *path, const struct store_cond *cond, int *ret_count, struct err *err)
{
    (void)st;
    (void)ws;
    (void)path;
    (void)cond;
    (void)ret_count;
    (void)err;
    return -ENOSYS;
}

int store_file_move(struct store *st, int64_t ws, const char *from, const char *to, const struct store_limits *lim, struct err *err)
{
    (void)st;
    (void)ws;
    (void)from;
    (void)to;
    (void)lim;
    (void)err;
    return -ENOSYS;
}

void store_file_free(struct store_file *f)
{
    free(f);
}

void store_file_list_free(struct store_file_list *l)
{
    free(l);
}

int store_run_create(struct store *st, const struct store_run_new *r, struct store_run **ret, struct err *err)
{
    (void)st;
    (void)r;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_run_set_running(struct store *st, int64_t id, bool warm, struct err *err)
{
    (void)st;
    (void)id;
    (void)warm;
    (void)err;
    return -ENOSYS;
}

int store_run_finish(struct store *st, int64_t id, const struct store_run_result *res, struct err *err)
{
    (void)st;
    (void)id;
    (void)res;
    (void)err;
    return -ENOSYS;
}

int store_run_get(struct store *st, int64_t id, struct store_run **ret, struct err *err)
{
    (void)st;
    (void)id;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_run_list(struct store *st, int64_t workspace_id, int64_t submission_id, int limit, int offset, struct store_run_list **ret, struct err *err)
{
    (void)st;
    (void)workspace_id;
    (void)submission_id;
    (void)limit;
    (void)offset;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_runs_fail_unfinished(struct store *st, const char *node, const char *reason, int *ret_count, struct err *err)
{
    (void)st;
    (void)node;
    (void)reason;
    (void)ret_count;
    (void)err;
    return -ENOSYS;
}

int store_artifact_add(struct store *st, int64_t run_id, const char *name, const char *content_type, const void *data, size_t len, struct err *err)
{
    (void)st;
    (void)run_id;
    (void)name;
    (void)content_type;
    (void)data;
    (void)len;
    (void)err;
    return -ENOSYS;
}

int store_artifact_list(struct store *st, int64_t run_id, struct store_artifact_list **ret, struct err *err)
{
    (void)st;
    (void)run_id;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_artifact_get(struct store *st, int64_t run_id, const char *name, struct store_artifact **ret, struct err *err)
{
    (void)st;
    (void)run_id;
    (void)name;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

void store_run_free(struct store_run *r)
{
    free(r);
}

void store_run_list_free(struct store_run_list *l)
{
    free(l);
}

void store_artifact_free(struct store_artifact *a)
{
    free(a);
}

void store_artifact_list_free(struct store_artifact_list *l)
{
    free(l);
}

int store_submission_create(struct store *st, int64_t ws, int64_t author_id, const char *message, struct store_submission **ret, struct err *err)
{
    (void)st;
    (void)ws;
    (void)author_id;
    (void)message;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_submission_get(struct store *st, int64_t id, struct store_submission **ret, struct err *err)
{
    (void)st;
    (void)id;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_submission_list(struct store *st, enum store_sub_status status, int64_t author_id, int limit, int offset, struct store_submission_list **ret, struct err *err)
{
    (void)st;
    (void)status;
    (void)author_id;
    (void)limit;
    (void)offset;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_submission_set_status(struct store *st, int64_t id, enum store_sub_status status, int64_t actor_id, const char *comment, struct err *err)
{
    (void)st;
    (void)id;
    (void)status;
    (void)actor_id;
    (void)comment;
    (void)err;
    return -ENOSYS;
}

int store_submission_set_run(struct store *st, int64_t id, int64_t run_id, struct err *err)
{
    (void)st;
    (void)id;
    (void)run_id;
    (void)err;
    return -ENOSYS;
}

int store_snapshot_list(struct store *st, int64_t submission_id, struct store_file_list **ret, struct err *err)
{
    (void)st;
    (void)submission_id;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_snapshot_get(struct store *st, int64_t submission_id, const char *path, struct store_file **ret, struct err *err)
{
    (void)st;
    (void)submission_id;
    (void)path;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_review_list(struct store *st, int64_t submission_id, struct store_review_list **ret, struct err *err)
{
    (void)st;
    (void)submission_id;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_comment_add(struct store *st, int64_t submission_id, int64_t author_id, const char *body, const char *path, int line, struct store_comment **ret, struct err *err)
{
    (void)st;
    (void)submission_id;
    (void)author_id;
    (void)body;
    (void)path;
    (void)line;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_comment_list(struct store *st, int64_t submission_id, struct store_comment_list **ret, struct err *err)
{
    (void)st;
    (void)submission_id;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

void store_submission_free(struct store_submission *s)
{
    free(s);
}

void store_submission_list_free(struct store_submission_list *l)
{
    free(l);
}

void store_review_list_free(struct store_review_list *l)
{
    free(l);
}

void store_comment_free(struct store_comment *c)
{
    free(c);
}

void store_comment_list_free(struct store_comment_list *l)
{
    free(l);
}

int store_audit_append(struct store *st, int64_t actor_id, const char *action, const char *target, const char *detail, struct err *err)
{
    (void)st;
    (void)actor_id;
    (void)action;
    (void)target;
    (void)detail;
    (void)err;
    return -ENOSYS;
}

int store_audit_list(struct store *st, int limit, int offset, struct store_audit_list **ret, struct err *err)
{
    (void)st;
    (void)limit;
    (void)offset;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

void store_audit_list_free(struct store_audit_list *l)
{
    free(l);
}

int store_lease_acquire(struct store *st, int64_t ws, const char *node, int64_t ttl_ms, struct store_lease **ret, struct err *err)
{
    (void)st;
    (void)ws;
    (void)node;
    (void)ttl_ms;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

int store_lease_release(struct store *st, int64_t ws, const char *node, struct err *err)
{
    (void)st;
    (void)ws;
    (void)node;
    (void)err;
    return -ENOSYS;
}

int store_lease_get(struct store *st, int64_t ws, struct store_lease **ret, struct err *err)
{
    (void)st;
    (void)ws;
    (void)ret;
    (void)err;
    return -ENOSYS;
}

void store_lease_free(struct store_lease *l)
{
    free(l);
}
const char *store_driver_name(const struct store *st)
{
    (void)st;
    return "none";
}

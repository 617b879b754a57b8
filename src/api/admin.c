/* admin endpoints: users and roles, the audit log, node figures. Admins only. */
#include "api/internal.h"
#include "api/live.h"
#include "auth/password.h"
#include "base/log.h"
#include "exec/lang.h"
#include "exec/runs.h"
#include "exec/supervisor.h"
#include "exec/terminals.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool require_admin(struct api *api, struct http_req *req, struct api_caller *c)
{
    if (!api_auth(api, req, c))
        return false;
    if (!api_is_admin(c)) {
        api_caller_done(c);
        api_reply_error(req, forbidden, "only administrators may do this");
        return false;
    }
    return true;
}

static void h_users(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!require_admin(api, req, &c))
        return;
    int limit, offset;
    api_page(req, &limit, &offset);
    struct store_user_list *l = NULL;
    int r = store_user_list(api->store, limit, offset, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "user");
    } else {
        json_t *items = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(items, api_user_json(&l->items[i]));
        json_t *body = json_pack("{s:o}", "items", items);
        api_page_next(body, offset, l->n, l->more);
        http_reply_json(req, 200, body);
    }
    store_user_list_free(l);
    api_caller_done(&c);
}

static void h_user_patch(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    int64_t id;
    if (!require_admin(api, req, &c))
        return;
    json_t *body = NULL;
    struct store_user *u = NULL;
    if (!api_param_id(req, 0, &id) || !(body = api_body(req)))
        goto out;
    bool bad = false;
    const char *role = api_str(req, body, "role", false, &bad);
    json_t *disabled = json_object_get(body, "disabled");
    if (bad)
        goto out;
    enum store_role rv;
    if (role && store_role_parse(role, &rv) < 0) {
        api_reply_error(req, invalid_field, "role must be submitter, reviewer or admin");
        goto out;
    }
    if (disabled && !json_is_boolean(disabled)) {
        api_reply_error(req, invalid_field, "'disabled' must be true or false");
        goto out;
    }
    if (id == c.user.id && ((role && rv != STORE_ROLE_ADMIN) || json_is_true(disabled))) {
        api_reply_error(req, conflict,
                        "you cannot demote or disable yourself; ask another administrator");
        goto out;
    }
    int r = store_user_get(api->store, id, &u, NULL);
    char target[32], detail[64];
    snprintf(target, sizeof(target), "user:%lld", (long long)id);
    if (r == 0 && role && rv != u->role) {
        r = store_user_set_role(api->store, id, rv, NULL);
        if (r == 0) {
            snprintf(detail, sizeof(detail), "%s -> %s", store_role_name(u->role), role);
            api_audit(api, req, c.user.id, "role_change", target, detail);
        }
    }
    if (r == 0 && disabled && json_is_true(disabled) != u->disabled) {
        r = store_user_set_disabled(api->store, id, json_is_true(disabled), NULL);
        if (r == 0)
            api_audit(api, req, c.user.id, json_is_true(disabled) ? "user_disable" : "user_enable",
                      target, "");
    }
    store_user_free(u);
    u = NULL;
    if (r == 0 && (role || json_is_true(disabled)))
        api_live_revoke(api, id, NULL, 0);
    if (r == 0)
        r = store_user_get(api->store, id, &u, NULL);
    if (r < 0)
        api_fail(req, r, "user");
    else
        http_reply_json(req, 200, api_user_json(u));
out:
    store_user_free(u);
    json_decref(body);
    api_caller_done(&c);
}

/* The password an administrator sets: the body's "password" (by the policy), or a new
 * temporary one (password_generate) when it has none. Replies 400 and returns false when
 * the given one breaks the policy. */
static bool chosen_password(struct http_req *req, json_t *body, char ret[PASSWORD_MAX_BYTES + 1])
{
    bool bad = false;
    const char *pw = api_str(req, body, "password", false, &bad);
    if (bad)
        return false;
    if (!pw) {
        password_generate(ret);
        return true;
    }
    const char *reason = NULL;
    if (password_check_policy(pw, strlen(pw), &reason) < 0) {
        api_reply_error(req, invalid_field, "%s", reason);
        return false;
    }
    memcpy(ret, pw, strlen(pw) + 1);
    return true;
}

/* POST /api/admin/users/{id}/password {"password"?}: sets a user's password (a temporary one
 * is made when none is given) and ends all their sessions and live views; the answer has the
 * password, once, for the administrator to hand over. Not for oneself: that asks for the
 * current password (POST /api/auth/password). */
static void h_user_password(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    int64_t id;
    if (!require_admin(api, req, &c))
        return;
    json_t *body = NULL;
    struct store_user *u = NULL;
    char pw[PASSWORD_MAX_BYTES + 1], hash[PASSWORD_HASH_SIZE], target[32];
    if (!api_param_id(req, 0, &id) || !(body = api_body(req)) || !chosen_password(req, body, pw))
        goto out;
    if (id == c.user.id) {
        api_reply_error(req, conflict,
                        "change your own password on your account page (it asks for the "
                        "current one)");
        goto out;
    }
    int r = store_user_get(api->store, id, &u, NULL);
    if (r == 0 && (r = password_hash(pw, strlen(pw), hash)) == 0 &&
        (r = store_user_set_password(api->store, id, hash, NULL)) == 0)
        r = store_session_delete_user(api->store, id, NULL);
    if (r < 0) {
        api_fail(req, r, "user");
        goto out;
    }
    api_live_revoke(api, id, NULL, 0);
    snprintf(target, sizeof(target), "user:%lld", (long long)id);
    api_audit(api, req, c.user.id, "password_reset", target, "");
    http_reply_json(req, 200, json_pack("{s:o,s:s}", "user", api_user_json(u), "password", pw));
out:
    explicit_bzero(pw, sizeof(pw));
    store_user_free(u);
    json_decref(body);
    api_caller_done(&c);
}

/* POST /api/admin/users {"username","role"?,"password"?}: makes an account (whatever the
 * registration setting), with a temporary password unless one is given; the answer has it,
 * once. */
static void h_user_create(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!require_admin(api, req, &c))
        return;
    json_t *body = NULL;
    struct store_user *u = NULL;
    char pw[PASSWORD_MAX_BYTES + 1], hash[PASSWORD_HASH_SIZE], target[32];
    pw[0] = '\0';
    bool bad = false;
    if (!(body = api_body(req)))
        goto out;
    const char *name = api_str(req, body, "username", true, &bad);
    const char *role = bad ? NULL : api_str(req, body, "role", false, &bad);
    enum store_role rv = STORE_ROLE_SUBMITTER;
    if (bad)
        goto out;
    if (!api_valid_username(name)) {
        api_reply_error(req, invalid_field,
                        "usernames are 2 to 32 letters, digits, '_', '.' or '-'");
        goto out;
    }
    if (role && store_role_parse(role, &rv) < 0) {
        api_reply_error(req, invalid_field, "role must be submitter, reviewer or admin");
        goto out;
    }
    if (!chosen_password(req, body, pw))
        goto out;
    int r = password_hash(pw, strlen(pw), hash);
    if (r == 0)
        r = store_user_create(api->store, name, hash, rv, false, &u, NULL);
    if (r == -EEXIST) {
        api_reply_error(req, exists, "the username '%s' is taken", name);
        goto out;
    }
    if (r < 0) {
        api_fail(req, r, "user");
        goto out;
    }
    snprintf(target, sizeof(target), "user:%lld", (long long)u->id);
    api_audit(api, req, c.user.id, "user_create", target, store_role_name(u->role));
    http_reply_json(req, 201, json_pack("{s:o,s:s}", "user", api_user_json(u), "password", pw));
out:
    explicit_bzero(pw, sizeof(pw));
    store_user_free(u);
    json_decref(body);
    api_caller_done(&c);
}

static void h_audit(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!require_admin(api, req, &c))
        return;
    int limit, offset;
    api_page(req, &limit, &offset);
    struct store_audit_list *l = NULL;
    int r = store_audit_list(api->store, limit, offset, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "audit log");
    } else {
        json_t *items = json_array();
        for (size_t i = 0; i < l->n; i++) {
            const struct store_audit *a = &l->items[i];
            json_array_append_new(
                items, json_pack("{s:I,s:o,s:o,s:s,s:s,s:s}", "id", (json_int_t)a->id, "at",
                                 api_time(a->at), "actor", api_ref_json(a->actor_id, a->actor_name),
                                 "action", a->action, "target", a->target, "detail", a->detail));
        }
        json_t *body = json_pack("{s:o}", "items", items);
        api_page_next(body, offset, l->n, l->more);
        http_reply_json(req, 200, body);
    }
    store_audit_list_free(l);
    api_caller_done(&c);
}

/* The warm pool as the supervisor sees it; sizes in bytes. */
static json_t *warm_json(struct api *api)
{
    struct warm_stats w = {0};
    if (!api->sup || sup_warm_stats(api->sup, &w) < 0)
        return json_pack("{s:b}", "enabled", false);
    return json_pack(
        "{s:b,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "enabled", w.enabled,
        "templates", (int)w.templates, "ready", (int)w.ready, "claims", (json_int_t)w.claims,
        "fallbacks", (json_int_t)w.fallbacks, "failed_claims", (json_int_t)w.failed_claims,
        "restarts", (json_int_t)w.restarts, "pss_bytes", (json_int_t)w.pss_bytes,
        "template_pss_bytes", (json_int_t)w.template_pss_bytes, "cgroup_bytes",
        (json_int_t)w.cgroup_bytes, "memory_limit_bytes", (json_int_t)w.memory_limit_bytes,
        "boot_ms", (json_int_t)w.boot_ms, "prefault_pages", (json_int_t)w.prefault_pages,
        "prefault_pandas_pages", (json_int_t)w.prefault_pandas_pages, "prefault_matplotlib_pages",
        (json_int_t)w.prefault_matplotlib_pages, "last_error", w.last_error);
}

static json_t *lang_json(struct api *api)
{
    struct lang_stats st;
    if (!api->lang)
        return json_pack("{s:b}", "enabled", false);
    lang_stats(api->lang, &st);
    return json_pack("{s:b,s:i,s:i,s:I,s:I,s:I,s:I,s:I}", "enabled", true, "workers",
                     (int)st.workers, "queued", (int)st.queued, "requests", (json_int_t)st.requests,
                     "started", (json_int_t)st.started, "timeouts", (json_int_t)st.timeouts,
                     "failures", (json_int_t)st.failures, "abandoned", (json_int_t)st.abandoned);
}

json_t *api_stats_json(struct api *api)
{
    unsigned running = 0, queued = 0, envs = 0, terms = 0, clients = 0;
    runs_stats(api->runs, &running, &queued);
    if (api->terms)
        terms_stats(api->terms, &envs, &terms, &clients);
    return json_pack("{s:s,s:b,s:{s:i,s:i},s:{s:i,s:i,s:i},s:o,s:o}", "database",
                     store_driver_name(api->store), "sandboxes", api->sup != NULL, "runs",
                     "running", running, "queued", queued, "terminals", "environments", envs,
                     "terminals", terms, "clients", clients, "warm", warm_json(api), "lang",
                     lang_json(api));
}

static void h_stats(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!require_admin(api, req, &c))
        return;
    http_reply_json(req, 200, api_stats_json(api));
    api_caller_done(&c);
}

void api_admin_routes(struct router *r)
{
    router_add(r, "GET", "/api/admin/users", h_users);
    router_add(r, "POST", "/api/admin/users", h_user_create);
    router_add(r, "PATCH", "/api/admin/users/{}", h_user_patch);
    router_add(r, "POST", "/api/admin/users/{}/password", h_user_password);
    router_add(r, "GET", "/api/admin/audit", h_audit);
    router_add(r, "GET", "/api/admin/stats", h_stats);
}

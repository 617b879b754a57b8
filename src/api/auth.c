/*
 * auth endpoints: register, login, logout, me, own password, API tokens.
 * Sessions are random 256-bit tokens in an HttpOnly, SameSite=Lax cookie; the database
 * keeps only their hash, so a leaked database does not leak live sessions. Each session
 * has its own random CSRF token, returned by login and me, required on cookie writes.
 */
#include "api/internal.h"
#include "api/limits.h"
#include "api/live.h"
#include "auth/password.h"
#include "auth/ratelimit.h"
#include "auth/token.h"
#include "base/clock.h"
#include "base/metrics.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Starts a session for u: cookie header into cookie, csrf token into csrf. */
static int start_session(struct api *api, const struct store_user *u, char *cookie,
                         size_t cookie_len, char *csrf, size_t csrf_len)
{
    char token[TOKEN_SIZE], hash[TOKEN_HASH_SIZE];
    if (csrf_len < TOKEN_SIZE)
        return -ENOBUFS;
    token_new(TOKEN_PREFIX_SESSION, token);
    token_new("", csrf);
    token_hash(token, hash);
    int64_t ttl_ms = (int64_t)api->cfg->session_ttl * 1000;
    int r =
        store_session_create(api->store, u->id, hash, csrf, store_now_ms() + ttl_ms, NULL, NULL);
    if (r < 0)
        return r;
    snprintf(cookie, cookie_len,
             "pyroom_session=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%llu%s", token,
             (unsigned long long)api->cfg->session_ttl, api->cfg->secure_cookies ? "; Secure" : "");
    return 0;
}

static void reply_session(struct http_req *req, int status, const struct store_user *u,
                          const char *cookie, const char *csrf)
{
    json_t *body = json_pack("{s:o,s:s}", "user", api_user_json(u), "csrf_token", csrf);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *const h[] = {"Set-Cookie", cookie, "Cache-Control", "no-store", NULL};
    http_reply(req, status, "application/json", text, strlen(text), h);
    free(text);
}

static bool read_credentials(struct http_req *req, json_t **ret_body, const char **ret_user,
                             const char **ret_pw)
{
    json_t *body = api_body(req);
    if (!body)
        return false;
    bool bad = false;
    const char *user = api_str(req, body, "username", true, &bad);
    const char *pw = bad ? NULL : api_str(req, body, "password", true, &bad);
    if (bad) {
        json_decref(body);
        return false;
    }
    *ret_body = body;
    *ret_user = user;
    *ret_pw = pw;
    return true;
}

static void h_register(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    json_t *body;
    const char *username, *pw;
    if (!read_credentials(req, &body, &username, &pw))
        return;
    struct store_user *u = NULL;
    char cookie[512], csrf[TOKEN_SIZE], hash[PASSWORD_HASH_SIZE];
    if (!api_valid_username(username)) {
        api_reply_error(req, invalid_field,
                        "usernames are 2 to 32 letters, digits, '_', '.' or '-'");
        goto out;
    }
    const char *reason = NULL;
    if (password_check_policy(pw, strlen(pw), &reason) < 0) {
        api_reply_error(req, invalid_field, "%s", reason);
        goto out;
    }
    if (strcmp(api->cfg->registration, "open") != 0) {
        /* Closed registration still lets the very first account (the admin) in. */
        struct store_user_list *l = NULL;
        int r = store_user_list(api->store, 1, 0, &l, NULL);
        bool any = r == 0 && l->n > 0;
        store_user_list_free(l);
        if (r < 0 || any) {
            api_reply_error(req, registration_closed,
                            "registration is closed; ask an administrator for an account");
            goto out;
        }
    }
    /* Counted before the password is hashed, per client address: accounts are cheap to
     * ask for and each costs an argon2 hash and a row. */
    unsigned retry = 0;
    if (api->signup_by_ip &&
        !ratelimit_take(api->signup_by_ip, req->remote, clock_mono_ms(), &retry)) {
        api_too_many(req, retry, "too many accounts registered from this address; try later");
        goto out;
    }
    if (password_hash(pw, strlen(pw), hash) < 0) {
        api_fail(req, -ENOMEM, "password");
        goto out;
    }
    int r = store_user_create(api->store, username, hash, STORE_ROLE_SUBMITTER, true, &u, NULL);
    if (r == -EEXIST) {
        api_reply_error(req, exists, "the username '%s' is taken", username);
        goto out;
    }
    if (r < 0) {
        api_fail(req, r, "user");
        goto out;
    }
    api_audit(api, req, u->id, "register", "", store_role_name(u->role));
    if ((r = start_session(api, u, cookie, sizeof(cookie), csrf, sizeof(csrf))) < 0) {
        api_fail(req, r, "session");
        goto out;
    }
    req->user_id = u->id;
    reply_session(req, 201, u, cookie, csrf);
out:
    store_user_free(u);
    json_decref(body);
}

static void h_login(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    json_t *body;
    const char *username, *pw;
    if (!read_credentials(req, &body, &username, &pw))
        return;
    struct store_user *u = NULL;
    char cookie[512], csrf[TOKEN_SIZE], ukey[80];
    unsigned retry = 0;
    snprintf(ukey, sizeof(ukey), "%.64s", username);
    for (char *p = ukey; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    /* Every attempt is counted before the password is hashed (so a burst of parallel
     * guesses cannot all pass), and given back when it succeeds. The counts are the
     * cluster's (api/limits.h): another node does not start a fresh budget. */
    char by_ip_key[96], by_user_key[96];
    snprintf(by_ip_key, sizeof(by_ip_key), "login_ip:%s", req->remote);
    snprintf(by_user_key, sizeof(by_user_key), "login_user:%s", ukey);
    uint64_t rate = api->cfg->login_rate;
    bool by_ip = api_limit_take(api, by_ip_key, rate, &retry);
    bool by_user = by_ip && api_limit_take(api, by_user_key, rate, &retry);
    if (!by_ip || !by_user) {
        if (by_ip)
            api_limit_give_back(api, by_ip_key);
        metrics_inc(METRIC_LOGIN_FAILURES, (const char *[]){"throttled"});
        metrics_inc(METRIC_RATE_LIMITED, (const char *[]){"login"});
        api_too_many(req, retry, "too many failed logins; wait a little and try again");
        goto out;
    }
    int r = store_user_get_by_name(api->store, username, &u, NULL);
    if (r < 0 && r != -ENOENT) {
        api_fail(req, r, "user");
        goto out;
    }
    bool ok = false;
    if (u)
        ok = password_verify(u->password_hash, pw, strlen(pw));
    else
        password_verify_dummy(pw, strlen(pw)); /* same time for unknown users */
    if (!ok) {
        metrics_inc(METRIC_LOGIN_FAILURES, (const char *[]){"password"});
        api_audit(api, req, u ? u->id : 0, "login_failed", "", ukey);
        api_reply_error(req, bad_credentials, "wrong username or password");
        goto out;
    }
    if (u->disabled) {
        /* Said only to someone who knows the password: it tells nothing to a guesser. */
        metrics_inc(METRIC_LOGIN_FAILURES, (const char *[]){"disabled"});
        api_audit(api, req, u->id, "login_failed", "", "disabled");
        api_reply_error(req, account_disabled,
                        "this account is disabled; ask an administrator to enable it");
        goto out;
    }
    if ((r = start_session(api, u, cookie, sizeof(cookie), csrf, sizeof(csrf))) < 0) {
        api_fail(req, r, "session");
        goto out;
    }
    api_limit_give_back(api, by_ip_key);
    api_limit_give_back(api, by_user_key);
    api_audit(api, req, u->id, "login", "", "");
    req->user_id = u->id;
    reply_session(req, 200, u, cookie, csrf);
out:
    store_user_free(u);
    json_decref(body);
}

static void h_logout(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    if (c.by_cookie) {
        (void)store_session_delete(api->store, c.session_hash, NULL);
        api_live_revoke(api, 0, c.session_hash, 0);
    }
    api_caller_done(&c);
    const char *const h[] = {"Set-Cookie",
                             "pyroom_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0", NULL};
    http_reply(req, 204, NULL, "", 0, h);
}

static void h_me(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    http_reply_json(req, 200,
                    json_pack("{s:o,s:s?}", "user", api_user_json(&c.user), "csrf_token",
                              c.by_cookie ? c.csrf : NULL));
    api_caller_done(&c);
}

/* POST /api/auth/password {"current","new"}: the caller changes their own password. Every
 * session of the user ends (a stolen one too) and their live views close; a browser gets a
 * new session in the answer. API tokens stay: they are revoked on their own. A wrong
 * current password counts toward the login limit, so this is no guessing oracle. */
static void h_password(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    json_t *body = api_body(req);
    struct store_user *u = NULL;
    bool bad = false;
    const char *cur = body ? api_str(req, body, "current", true, &bad) : NULL;
    const char *pw = body && !bad ? api_str(req, body, "new", true, &bad) : NULL;
    char key[64], hash[PASSWORD_HASH_SIZE], cookie[512], csrf[TOKEN_SIZE];
    if (!body || bad)
        goto out;
    const char *reason = NULL;
    if (password_check_policy(pw, strlen(pw), &reason) < 0) {
        api_reply_error(req, invalid_field, "%s", reason);
        goto out;
    }
    unsigned retry = 0;
    snprintf(key, sizeof(key), "password_user:%lld", (long long)c.user.id);
    if (!api_limit_take(api, key, api->cfg->login_rate, &retry)) {
        metrics_inc(METRIC_RATE_LIMITED, (const char *[]){"login"});
        api_too_many(req, retry, "too many wrong passwords; wait a little and try again");
        goto out;
    }
    int r = store_user_get(api->store, c.user.id, &u, NULL);
    if (r < 0) {
        api_fail(req, r, "user");
        goto out;
    }
    if (!password_verify(u->password_hash, cur, strlen(cur))) {
        api_audit(api, req, c.user.id, "password_change_failed", "", "");
        api_reply_error(req, wrong_password, "the current password is not right");
        goto out;
    }
    api_limit_give_back(api, key);
    if ((r = password_hash(pw, strlen(pw), hash)) < 0 ||
        (r = store_user_set_password(api->store, c.user.id, hash, NULL)) < 0 ||
        (r = store_session_delete_user(api->store, c.user.id, NULL)) < 0) {
        api_fail(req, r, "password");
        goto out;
    }
    api_live_revoke(api, c.user.id, NULL, 0);
    api_audit(api, req, c.user.id, "password_change", "", "");
    if (!c.by_cookie) {
        http_reply_json(req, 200, json_pack("{s:o}", "user", api_user_json(u)));
        goto out;
    }
    if ((r = start_session(api, u, cookie, sizeof(cookie), csrf, sizeof(csrf))) < 0) {
        api_fail(req, r, "session");
        goto out;
    }
    reply_session(req, 200, u, cookie, csrf);
out:
    store_user_free(u);
    json_decref(body);
    api_caller_done(&c);
}

static json_t *token_json(const struct store_token *t)
{
    return json_pack("{s:I,s:s,s:o,s:o}", "id", (json_int_t)t->id, "name", t->name, "created_at",
                     api_time(t->created_at), "last_used_at", api_time(t->last_used_at));
}

static void h_tokens_list(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    struct store_token_list *l = NULL;
    int r = store_token_list(api->store, c.user.id, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "token");
    } else {
        json_t *items = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(items, token_json(&l->items[i]));
        http_reply_json(req, 200, json_pack("{s:o,s:n}", "items", items, "next_offset"));
    }
    store_token_list_free(l);
    api_caller_done(&c);
}

static void h_tokens_create(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    json_t *body = api_body(req);
    struct store_token *t = NULL;
    bool bad = false;
    const char *name = body ? api_str(req, body, "name", true, &bad) : NULL;
    if (!body || bad)
        goto out;
    if (!api_valid_name(name, 100)) {
        api_reply_error(req, invalid_field, "token names are 1 to 100 characters");
        goto out;
    }
    char token[TOKEN_SIZE], hash[TOKEN_HASH_SIZE];
    token_new(TOKEN_PREFIX_API, token);
    token_hash(token, hash);
    int r = store_token_create(api->store, c.user.id, name, hash, &t, NULL);
    if (r < 0) {
        api_fail(req, r, "token");
        goto out;
    }
    json_t *j = token_json(t);
    json_object_set_new(j, "token", json_string(token));
    http_reply_json(req, 201, j);
out:
    store_token_free(t);
    json_decref(body);
    api_caller_done(&c);
}

static void h_tokens_delete(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    int64_t id;
    if (!api_auth(api, req, &c))
        return;
    if (api_param_id(req, 0, &id)) {
        int r = store_token_delete(api->store, c.user.id, id, NULL);
        if (r < 0) {
            api_fail(req, r, "token");
        } else {
            api_live_revoke(api, 0, NULL, id);
            http_reply_empty(req, 204);
        }
    }
    api_caller_done(&c);
}

void api_auth_routes(struct router *r)
{
    router_add(r, "POST", "/api/auth/register", h_register);
    router_add(r, "POST", "/api/auth/login", h_login);
    router_add(r, "POST", "/api/auth/logout", h_logout);
    router_add(r, "GET", "/api/auth/me", h_me);
    router_add(r, "POST", "/api/auth/password", h_password);
    router_add(r, "GET", "/api/auth/tokens", h_tokens_list);
    router_add(r, "POST", "/api/auth/tokens", h_tokens_create);
    router_add(r, "DELETE", "/api/auth/tokens/{}", h_tokens_delete);
}

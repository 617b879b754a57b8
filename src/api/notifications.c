/*
 * notification endpoints: the unread notices of the review loop (store/review.h).
 *
 *   GET  /api/notifications          the caller's notices, newest first, and the unread count
 *                                    (?unread=1: unread only; ?limit=, ?offset= as elsewhere)
 *   POST /api/notifications/read     marks the caller's notices read: {"submission_id": N}
 *                                    (what the page sends when it opens a submission),
 *                                    {"id": N}, or {} for all
 *   GET  /api/events                 the caller's own event stream (SSE): `notification`
 *                                    whenever a notice for them is recorded or taken back
 *
 * Everyone sees and marks only their own: the user id comes from the credential, never from
 * the request, and the store's queries carry it in every WHERE. Who is told of what is
 * decided here (sub_notify): an author of a decision or of another person's comment on
 * their submission; those who reviewed or commented before, of the author's comment;
 * every reviewer and admin, of a new submission. Nobody is told of what they did.
 *
 * Push. Whoever got (or lost) a row is told at once on their own stream, on whichever node
 * it is (api_users_event goes over the cluster bus): `notification` with the kind and the
 * submission, no count (the stream's node may not be the one that wrote the row, and a
 * count in an event would race with reads), so the page fetches GET /api/notifications.
 * The page polls only while its stream is down.
 */
#include "api/live.h"
#include "api/submissions_internal.h"
#include "base/events.h"
#include "base/log.h"

#include <string.h>

/* Tells users (their own streams) that a notice of kind about submission s came or went. */
static void tell(struct api *api, struct store_user_ids *users, enum store_notify_kind kind,
                 int64_t s, bool taken_back)
{
    json_t *data = json_pack("{s:s,s:I,s:b}", "kind", store_notify_kind_name(kind), "submission_id",
                             (json_int_t)s, "taken_back", taken_back);
    if (data)
        api_users_event(api, users->ids, users->n, EVENT_USER(notification), data);
    json_decref(data);
    store_user_ids_done(users);
}

void sub_notify(struct api *api, const struct store_submission *s, enum store_notify_kind kind,
                int64_t actor_id)
{
    struct store_user_ids who = {0};
    int r;
    if (kind == STORE_NOTIFY_SUBMISSION)
        r = store_notify_reviewers(api->store, kind, s->id, actor_id, &who, NULL);
    else if (kind == STORE_NOTIFY_COMMENT && actor_id == s->author_id)
        r = store_notify_participants(api->store, kind, s->id, actor_id, &who, NULL);
    else
        r = store_notify_user(api->store, s->author_id, kind, s->id, actor_id, &who, NULL);
    if (r < 0)
        log_event(LOG_WARN, "could not record a notification",
                  json_pack("{s:I,s:s,s:i}", "submission", (json_int_t)s->id, "kind",
                            store_notify_kind_name(kind), "errno", -r));
    tell(api, &who, kind, s->id, false);
}

void sub_notify_withdrawn(struct api *api, const struct store_submission *s)
{
    struct store_user_ids who = {0};
    int r = store_notification_forget(api->store, s->id, STORE_NOTIFY_SUBMISSION, &who, NULL);
    if (r < 0)
        log_event(LOG_WARN, "could not take back the notices of a withdrawn submission",
                  json_pack("{s:I,s:i}", "submission", (json_int_t)s->id, "errno", -r));
    tell(api, &who, STORE_NOTIFY_SUBMISSION, s->id, true);
}

static json_t *notification_json(const struct store_notification *n)
{
    return json_pack("{s:I,s:s,s:I,s:s,s:s,s:o,s:o,s:b}", "id", (json_int_t)n->id, "kind",
                     store_notify_kind_name(n->kind), "submission_id", (json_int_t)n->submission_id,
                     "workspace_name", n->workspace_name ? n->workspace_name : "", "status",
                     store_sub_status_name(n->status), "actor",
                     api_ref_json(n->actor_id, n->actor_name), "at", api_time(n->at), "read",
                     n->read_at > 0);
}

static void h_list(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_notification_list *l = NULL;
    if (!api_auth(api, req, &c))
        return;
    int limit, offset;
    api_page(req, &limit, &offset);
    const char *unread = http_req_query(req, "unread");
    int r = store_notification_list(api->store, c.user.id, unread && strcmp(unread, "1") == 0,
                                    limit, offset, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "notification");
        goto out;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(items, notification_json(&l->items[i]));
    json_t *body = json_pack("{s:I,s:o}", "unread", (json_int_t)l->unread, "items", items);
    api_page_next(body, offset, l->n, l->more);
    http_reply_json(req, 200, body);
out:
    store_notification_list_free(l);
    api_caller_done(&c);
}

/* An optional positive integer member; answers 400 and returns false when it is not one. */
static bool id_field(struct http_req *req, json_t *body, const char *key, int64_t *ret)
{
    json_t *v = json_object_get(body, key);
    *ret = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        api_reply_error(req, invalid_field, "'%s' must be a positive integer", key);
        return false;
    }
    *ret = (int64_t)json_integer_value(v);
    return true;
}

static void h_read(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_notification_list *l = NULL;
    json_t *body = NULL;
    int64_t sub = 0, id = 0, changed = 0;
    if (!api_auth(api, req, &c))
        return;
    if (!(body = req->body.len ? api_body(req) : json_object()))
        goto out;
    if (!id_field(req, body, "submission_id", &sub) || !id_field(req, body, "id", &id))
        goto out;
    int r = store_notification_read(api->store, c.user.id, sub, id, &changed, NULL);
    if (r == 0)
        r = store_notification_list(api->store, c.user.id, true, 1, 0, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "notification");
        goto out;
    }
    http_reply_json(
        req, 200,
        json_pack("{s:I,s:I}", "marked", (json_int_t)changed, "unread", (json_int_t)l->unread));
out:
    store_notification_list_free(l);
    json_decref(body);
    api_caller_done(&c);
}

static void h_events(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    api_events_open(api, req, 0, &c, NULL);
    api_caller_done(&c);
}

void api_notification_routes(struct router *r)
{
    router_add(r, "GET", "/api/events", h_events);
    router_add(r, "GET", "/api/notifications", h_list);
    router_add(r, "POST", "/api/notifications/read", h_read);
}

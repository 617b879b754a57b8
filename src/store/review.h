/*
 * store review: what the review loop keeps besides the submissions themselves (issue 19).
 *
 * Checks. A reviewer's re-run of a submission may carry an expected output; the check row
 * holds it next to the run's id. Whether the run passed is not stored: the API compares the
 * run's stored stdout with the expected text when the check is read, so a check is never
 * out of date with its run.
 *
 * Notifications. One row per recipient and event: a decision or a comment on someone's
 * submission (for its author), a comment by the author (for those who reviewed or commented
 * before), a new submission (for every reviewer and admin). A row is unread until its
 * recipient reads it (read_at 0). Reading keeps at most STORE_NOTIFY_KEEP_READ read rows per
 * user, so the table grows with unread notices only.
 *
 * Who owns what: list structs and their strings are the caller's (free with the _free
 * functions, which accept NULL).
 */
#ifndef PYROOM_STORE_REVIEW_H
#define PYROOM_STORE_REVIEW_H

#include "base/err.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_NOTIFY_KEEP_READ 200 /* read notifications kept per user */

struct store_check {
    int64_t run_id;
    int64_t submission_id;
    char *expected; /* the expected output (UTF-8 text) */
    char *compare;  /* "exact" or "trim" */
};

/* Records the expected output of run_id, a re-run of submission_id. */
int store_check_add(struct store *st, int64_t run_id, int64_t submission_id, const char *expected,
                    const char *compare, struct err *err);
/* The check of run_id. -ENOENT: the run was started without an expected output. */
int store_check_get(struct store *st, int64_t run_id, struct store_check **ret, struct err *err);
void store_check_free(struct store_check *c);

enum store_notify_kind {
    STORE_NOTIFY_DECISION,   /* the submission was approved or rejected (for its author) */
    STORE_NOTIFY_COMMENT,    /* someone commented on a submission */
    STORE_NOTIFY_SUBMISSION, /* a new submission or resubmission (for reviewers) */
};

const char *store_notify_kind_name(enum store_notify_kind k);

struct store_notification {
    int64_t id;
    enum store_notify_kind kind;
    int64_t submission_id;
    char *workspace_name;         /* the submission's, at submission time */
    enum store_sub_status status; /* the submission's now (a decision's outcome) */
    int64_t actor_id;             /* who did it; 0 when the account is gone */
    char *actor_name;             /* NULL when the account is gone */
    int64_t at;                   /* ms */
    int64_t read_at;              /* ms; 0: unread */
};

struct store_notification_list {
    struct store_notification *items; /* newest first */
    size_t n;
    bool more;
    int64_t unread; /* the user's unread notifications, all of them */
};

/* The users a notice was recorded for (or taken back from), so they can be told at once
 * (api/notifications.c). ids is the caller's: free with store_user_ids_done. */
struct store_user_ids {
    int64_t *ids;
    size_t n;
};
void store_user_ids_done(struct store_user_ids *u);

/* A notification of kind about submission_id for user_id (no row when user_id is the
 * actor: nobody is told of what they did). ret (may be NULL) gets who got a row. */
int store_notify_user(struct store *st, int64_t user_id, enum store_notify_kind kind,
                      int64_t submission_id, int64_t actor_id, struct store_user_ids *ret,
                      struct err *err);
/* The same for every enabled reviewer and admin but the actor. */
int store_notify_reviewers(struct store *st, enum store_notify_kind kind, int64_t submission_id,
                           int64_t actor_id, struct store_user_ids *ret, struct err *err);
/* The same for everyone who reviewed or commented on submission_id, but the actor. */
int store_notify_participants(struct store *st, enum store_notify_kind kind, int64_t submission_id,
                              int64_t actor_id, struct store_user_ids *ret, struct err *err);
/* Drops the unread notifications of kind about submission_id, everyone's (a withdrawn
 * submission is no longer news for reviewers); ret (may be NULL) gets whose went. */
int store_notification_forget(struct store *st, int64_t submission_id, enum store_notify_kind kind,
                              struct store_user_ids *ret, struct err *err);
/* user_id's notifications, newest first (unread_only: only those), and the unread count. */
int store_notification_list(struct store *st, int64_t user_id, bool unread_only, int limit,
                            int offset, struct store_notification_list **ret, struct err *err);
/* Marks user_id's notifications read: those about submission_id (> 0), or the one with id
 * (> 0), or all (both 0). Rows of other users are never touched. *ret_changed (may be NULL)
 * gets how many changed. */
int store_notification_read(struct store *st, int64_t user_id, int64_t submission_id, int64_t id,
                            int64_t *ret_changed, struct err *err);
void store_notification_list_free(struct store_notification_list *l);

#endif

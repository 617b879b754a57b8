/*
 * submissions_internal: what the submission endpoints share, private to src/api/. The
 * routes are split by mechanism: submissions.c (hand in, list, read, withdraw, decide,
 * comment), submissions_diff.c (diffs between submissions and the comments carried to a
 * resubmission), submissions_run.c (reviewers' re-runs and their expected outputs) and
 * notifications.c (the unread notices of the review loop).
 */
#ifndef PYROOM_API_SUBMISSIONS_INTERNAL_H
#define PYROOM_API_SUBMISSIONS_INTERNAL_H

#include "api/internal.h"
#include "store/review.h"

#define SUB_MESSAGE_MAX    4000       /* bytes in a submission message */
#define SUB_COMMENT_MAX    10000      /* bytes in a comment or a review comment */
#define SUB_COMMENTS_MAX   500        /* comments on one submission */
#define SUB_PENDING_MAX    20         /* pending submissions per author */
#define SUB_DIFF_MAX_TOTAL (8u << 20) /* bytes of diff text in one answer */
#define SUB_CARRY_DEPTH    5          /* earlier submissions whose comments a resubmission shows */

/* The list form of a submission (no files, run, reviews or comments). */
json_t *sub_json(const struct store_submission *s);
json_t *sub_comment_json(const struct store_comment *c);
json_t *sub_review_json(const struct store_review *r);

/* Whether the caller may see s: its author, reviewers and admins. */
bool sub_may_see(const struct api_caller *c, const struct store_submission *s);
/* Loads submission id for the caller: absent or not visible → 404 answered, false. */
bool sub_load(struct api *api, struct http_req *req, const struct api_caller *c, int64_t id,
              struct store_submission **ret);
/* An authenticated caller and the visible submission of route param 0; false when answered
 * (the caller is then done). */
bool sub_request(struct api *api, struct http_req *req, struct api_caller *c,
                 struct store_submission **ret);

/* Comments and reviews of the submissions before s (its previous_id chain, at most
 * SUB_CARRY_DEPTH, only those the caller may see), each with its line mapped onto s's
 * snapshot (submissions_diff.c). A JSON array, or NULL on a store error (*ret_rc). */
json_t *sub_earlier_comments(struct api *api, const struct api_caller *c,
                             const struct store_submission *s, int *ret_rc);
/* The file the check run ran, or main.py, or the first .py file of the snapshot (NULL
 * when there is none); points into files or run. */
const char *sub_entry(const struct store_file_list *files, const struct store_run *run);

/* Tells who should know that actor did kind on s (notifications.c); failures are logged,
 * never answered: the action itself succeeded. A withdrawal takes back the reviewers'
 * unread notices of the submission (sub_notify_withdrawn). */
void sub_notify(struct api *api, const struct store_submission *s, enum store_notify_kind kind,
                int64_t actor_id);
void sub_notify_withdrawn(struct api *api, const struct store_submission *s);

void api_submission_diff_routes(struct router *r);
void api_submission_run_routes(struct router *r);
void api_notification_routes(struct router *r);

#endif

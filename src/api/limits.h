/*
 * limits: rate limits that hold across the cluster (private to src/api/).
 *
 * Counts live in the database's counters table, so every node sees the same budget:
 * failed logins per address and per username, runs started per user. The window is a
 * sliding minute estimated from two fixed ones (the previous minute's count weighted by
 * how much of it still overlaps the last 60 s, plus this minute's), so a budget does not
 * refill at a minute boundary. A database error lets the request through: it then fails
 * on the database anyway, with the right answer (503).
 */
#ifndef PYROOM_API_LIMITS_H
#define PYROOM_API_LIMITS_H

#include "api/internal.h"

#include <stdbool.h>
#include <stdint.h>

#define LIMIT_WINDOW_MS 60000

/* Takes one from name's budget of max per minute. false (nothing taken) when it is spent;
 * *ret_retry_s then says when to try again. */
bool api_limit_take(struct api *api, const char *name, uint64_t max, unsigned *ret_retry_s);
/* Gives back one taken by api_limit_take (a login that succeeded). */
void api_limit_give_back(struct api *api, const char *name);
/* Removes counts too old to matter (the heartbeat calls it). */
void api_limits_expire(struct api *api);

#endif

/* limits: cluster-wide rate limits over the counters table; see limits.h. */
#include "api/limits.h"

#include "store/nodes.h"

#include <stdlib.h>

bool api_limit_take(struct api *api, const char *name, uint64_t max, unsigned *ret_retry_s)
{
    int64_t now = store_now_ms(), win = now / LIMIT_WINDOW_MS, cur = 0, prev = 0;
    if (max == 0)
        max = 1;
    if (store_counter_add(api->store, name, win, 1, &cur, &prev, NULL) < 0)
        return true;
    int64_t into = now % LIMIT_WINDOW_MS;
    /* The count of the last 60 s, estimated: prev * (W - into) / W + cur <= max, compared
     * multiplied out by W (dividing first would round the estimate down, and let a burst
     * through right after a window boundary). */
    if (prev * (LIMIT_WINDOW_MS - into) + cur * LIMIT_WINDOW_MS <= (int64_t)max * LIMIT_WINDOW_MS)
        return true;
    (void)store_counter_add(api->store, name, win, -1, &cur, &prev, NULL);
    /* When will the estimate fall below max? The previous window's weight shrinks over
     * the rest of this window; this window's count only leaves with the next one. */
    int64_t wait_ms = LIMIT_WINDOW_MS - into;
    if (cur < (int64_t)max && prev > 0) {
        /* The weight of prev must fall by the excess (multiplied out by W as above). */
        int64_t excess =
            prev * (LIMIT_WINDOW_MS - into) + (cur + 1 - (int64_t)max) * LIMIT_WINDOW_MS;
        int64_t ms = excess / prev + 1;
        if (ms < wait_ms)
            wait_ms = ms;
    }
    *ret_retry_s = (unsigned)(wait_ms / 1000 + 1);
    return false;
}

void api_limit_give_back(struct api *api, const char *name)
{
    int64_t cur, prev;
    (void)store_counter_add(api->store, name, store_now_ms() / LIMIT_WINDOW_MS, -1, &cur, &prev,
                            NULL);
}

void api_limits_expire(struct api *api)
{
    (void)store_counters_expire(api->store, "", store_now_ms() / LIMIT_WINDOW_MS - 2, NULL);
}

/*
 * etag: parses the If-Match and If-None-Match headers (RFC 9110 section 13.1) and compares
 * entity tags, so that a stale editor tab gets a 412 instead of overwriting newer work.
 *
 * A header is "*" or a comma-separated list of entity tags, each "opaque" or W/"opaque".
 * Unquoted tags (sent by careless scripts) are accepted as strong tags. Comparison:
 *  - If-Match uses the strong function: a weak tag never matches (ETAG_STRONG);
 *  - If-None-Match uses the weak function: W/"x" matches "x" (ETAG_WEAK).
 * Our own etags are strong, compared without their quotes ("abc" in the header matches
 * the store's etag abc).
 *
 * The parsed list borrows the header string (items point into it): keep the header alive
 * while using the list. At most ETAG_LIST_MAX tags; a longer list is refused (-E2BIG).
 * Pure and thread-safe.
 */
#ifndef PYROOM_HTTP_ETAG_H
#define PYROOM_HTTP_ETAG_H

#include <stdbool.h>
#include <stddef.h>

#define ETAG_LIST_MAX 32

enum etag_cmp { ETAG_STRONG, ETAG_WEAK };

struct etag_list {
    bool any; /* the header was "*": matches any current representation */
    size_t n; /* number of tags in item */
    struct {
        const char *tag; /* the opaque part, without quotes or W/, not NUL-terminated */
        size_t len;      /* bytes in tag */
        bool weak;       /* it was W/"..." */
    } item[ETAG_LIST_MAX];
};

/* Parses value (NUL-terminated) into *ret. Returns 0, -EINVAL for a malformed header
 * (unterminated quote, junk between tags, "*" mixed with tags, an empty list), or -E2BIG. */
int etag_parse(const char *value, struct etag_list *ret);

/* True when the resource's current etag (NULL when it does not exist) matches the list:
 * "*" matches any existing resource; otherwise some tag equals etag under cmp. */
bool etag_list_match(const struct etag_list *list, const char *etag, enum etag_cmp cmp);

#endif

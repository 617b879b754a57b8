/*
 * fuzz_headers: the Cookie header lookup and the If-Match / If-None-Match parser.
 * Invariants: a found cookie value is a substring of the header without ';', fits the
 * buffer; every parsed etag lies inside the header, holds no '"' and compares equal to
 * itself; a "*" list has no items.
 */
#include "http/cookie.h"
#include "http/etag.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    char v[64];
    const char *names[] = {"pyroom_session", "a", "s"};
    for (size_t i = 0; i < 3; i++) {
        int r = cookie_get(s, names[i], v, sizeof(v));
        if (r == 0 && (strlen(v) >= sizeof(v) || strchr(v, ';') || !strstr(s, v)))
            abort();
        if (r != 0 && r != -ENOENT && r != -ENOBUFS)
            abort();
    }

    struct etag_list l;
    int r = etag_parse(s, &l);
    if (r == 0) {
        if (l.any && l.n)
            abort();
        if (!l.any && l.n == 0)
            abort();
        for (size_t i = 0; i < l.n; i++) {
            const char *t = l.item[i].tag;
            if (t < s || t + l.item[i].len > s + strlen(s) || memchr(t, '"', l.item[i].len))
                abort();
            char tag[4096];
            if (l.item[i].len < sizeof(tag)) {
                memcpy(tag, t, l.item[i].len);
                tag[l.item[i].len] = '\0';
                if (!etag_list_match(&l, tag, ETAG_WEAK))
                    abort();
                if (!l.item[i].weak && !etag_list_match(&l, tag, ETAG_STRONG))
                    abort();
            }
        }
    } else if (r != -EINVAL && r != -E2BIG) {
        abort();
    }
    free(s);
    return 0;
}

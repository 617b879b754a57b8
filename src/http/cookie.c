/* cookie: Cookie header lookup; see cookie.h. */
#include "http/cookie.h"

#include <errno.h>
#include <string.h>

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int cookie_get(const char *header, const char *name, char *ret, size_t size)
{
    size_t nl = strlen(name);
    const char *p = header;

    if (!header || nl == 0)
        return -ENOENT;
    while (*p) {
        while (is_ows(*p) || *p == ';')
            p++;
        const char *pair = p;
        size_t len = strcspn(p, ";");
        p += len;
        const char *eq = memchr(pair, '=', len);
        if (!eq)
            continue;
        /* name: trimmed of spaces on its right ("a =b" is sent by some clients) */
        size_t klen = (size_t)(eq - pair);
        while (klen && is_ows(pair[klen - 1]))
            klen--;
        if (klen != nl || memcmp(pair, name, nl) != 0)
            continue;
        const char *v = eq + 1, *end = pair + len;
        while (v < end && is_ows(*v))
            v++;
        while (end > v && is_ows(end[-1]))
            end--;
        if (end - v >= 2 && *v == '"' && end[-1] == '"') {
            v++;
            end--;
        }
        size_t vlen = (size_t)(end - v);
        if (vlen + 1 > size)
            return -ENOBUFS;
        memcpy(ret, v, vlen);
        ret[vlen] = '\0';
        return 0;
    }
    return -ENOENT;
}

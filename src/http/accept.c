/* accept: the Accept-Encoding header (see accept.h). */
#include "http/accept.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* q from "q=" value text [s, e): 0..1000 (thousandths), or -1 when malformed. */
static int qvalue(const char *s, const char *e)
{
    if (s >= e || (*s != '0' && *s != '1'))
        return -1;
    int whole = *s - '0';
    int milli = 0;
    s++;
    if (s < e && *s == '.') {
        s++;
        int digits = 0;
        for (; s < e && *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
            milli = milli * 10 + (*s - '0');
        if (digits == 0 && s < e)
            return -1;
        for (; digits < 3; digits++)
            milli *= 10;
    }
    if (s != e)
        return -1;
    int q = whole * 1000 + milli;
    return q > 1000 ? -1 : q;
}

/* One element [s, e): its coding name and q (1000 when not given); false when malformed. */
static bool element(const char *s, const char *e, const char **ret_name, size_t *ret_len,
                    int *ret_q)
{
    while (s < e && is_ows(*s))
        s++;
    while (e > s && is_ows(e[-1]))
        e--;
    const char *semi = memchr(s, ';', (size_t)(e - s));
    const char *name_end = semi ? semi : e;
    while (name_end > s && is_ows(name_end[-1]))
        name_end--;
    if (name_end == s)
        return false;
    int q = 1000;
    while (semi) {
        const char *p = semi + 1;
        semi = memchr(p, ';', (size_t)(e - p));
        const char *pe = semi ? semi : e;
        while (p < pe && is_ows(*p))
            p++;
        const char *end = pe;
        while (end > p && is_ows(end[-1]))
            end--;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            q = qvalue(p + 2, end);
            if (q < 0)
                return false;
        }
    }
    *ret_name = s;
    *ret_len = (size_t)(name_end - s);
    *ret_q = q;
    return true;
}

static bool named(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

unsigned accept_encoding(const char *header, size_t len)
{
    if (!header)
        return 0;
    const char *end = header + len;
    int q_gzip = -1, q_br = -1, q_any = -1; /* -1: not named */
    for (const char *s = header; s < end;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        const char *name;
        size_t n;
        int q;
        if (element(s, e, &name, &n, &q)) {
            if (named(name, n, "gzip") || named(name, n, "x-gzip"))
                q_gzip = q;
            else if (named(name, n, "br"))
                q_br = q;
            else if (named(name, n, "*"))
                q_any = q;
        }
        s = comma ? comma + 1 : end;
    }
    if (q_gzip < 0)
        q_gzip = q_any;
    if (q_br < 0)
        q_br = q_any;
    return (q_gzip > 0 ? ACCEPT_GZIP : 0) | (q_br > 0 ? ACCEPT_BR : 0);
}

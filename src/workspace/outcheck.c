/*
 * outcheck: comparing a program's output with an expected output (see outcheck.h).
 */
#include "workspace/outcheck.h"

#include <errno.h>
#include <string.h>

int outcheck_mode_parse(const char *s, enum outcheck_mode *ret)
{
    if (s && strcmp(s, "trim") == 0)
        *ret = OUTCHECK_TRIM;
    else if (s && strcmp(s, "exact") == 0)
        *ret = OUTCHECK_EXACT;
    else
        return -EINVAL;
    return 0;
}

const char *outcheck_mode_name(enum outcheck_mode m)
{
    return m == OUTCHECK_EXACT ? "exact" : "trim";
}

/* A text read line by line. */
struct cursor {
    const char *p, *end;
};

/* The next line at c (NULL p when none is left); in trim mode without its trailing blanks. */
static struct outcheck_line next_line(struct cursor *c, bool trim)
{
    struct outcheck_line l = {NULL, 0};
    if (c->p >= c->end)
        return l;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    const char *stop = nl ? nl : c->end;
    l.p = c->p;
    l.len = (size_t)(stop - c->p);
    c->p = nl ? nl + 1 : c->end;
    while (trim && l.len &&
           (l.p[l.len - 1] == ' ' || l.p[l.len - 1] == '\t' || l.p[l.len - 1] == '\r'))
        l.len--;
    return l;
}

/* The length of text without its trailing spaces, tabs, carriage returns and newlines: what
 * is left once the blank lines at the end (and the last line's blanks) are dropped. */
static size_t content_len(const char *p, size_t n)
{
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n;
}

/* The first line where e and a differ, and that line on each side. */
static void locate(const char *e, size_t elen, const char *a, size_t alen, bool trim,
                   struct outcheck_diff *d)
{
    struct cursor ce = {e, e + elen}, ca = {a, a + alen};
    for (size_t line = 1;; line++) {
        struct outcheck_line le = next_line(&ce, trim), la = next_line(&ca, trim);
        if (!le.p && !la.p) {
            /* Equal lines to the end: the difference is the final newline (exact mode). */
            d->line = line > 1 ? line - 1 : 1;
            d->expected = d->actual = (struct outcheck_line){NULL, 0};
            return;
        }
        if (!le.p || !la.p || le.len != la.len || memcmp(le.p, la.p, le.len) != 0) {
            d->line = line;
            d->expected = le;
            d->actual = la;
            return;
        }
    }
}

bool outcheck_match(const char *expected, size_t elen, const char *actual, size_t alen,
                    enum outcheck_mode mode, struct outcheck_diff *ret_diff)
{
    bool trim = mode == OUTCHECK_TRIM;
    if (trim) {
        elen = content_len(expected, elen);
        alen = content_len(actual, alen);
    }
    bool same;
    if (!trim) {
        same = elen == alen && memcmp(expected, actual, elen) == 0;
    } else {
        struct cursor ce = {expected, expected + elen}, ca = {actual, actual + alen};
        same = true;
        for (;;) {
            struct outcheck_line le = next_line(&ce, true), la = next_line(&ca, true);
            if (!le.p && !la.p)
                break;
            if (!le.p || !la.p || le.len != la.len || memcmp(le.p, la.p, le.len) != 0) {
                same = false;
                break;
            }
        }
    }
    if (!same && ret_diff)
        locate(expected, elen, actual, alen, trim, ret_diff);
    return same;
}

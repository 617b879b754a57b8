/*
 * fuzz_review: the review loop's handling of user texts: following a comment's line from one
 * version of a file to the next (workspace/linemap) and comparing a program's output with an
 * expected output (workspace/outcheck). Input: the bytes before the first NUL are text a, the
 * rest text b. Invariants:
 *  - a line that maps lands on a line of b with the same bytes, and mapped lines keep their
 *    order;
 *  - a text matches itself in both modes; an exact match is also a trim match; a text with
 *    blank lines appended still trim-matches; a mismatch names a line from 1.
 */
#include "workspace/linemap.h"
#include "workspace/outcheck.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Line n (1-based) of s: start and length without its '\n'; false when there is none. */
static bool nth_line(const char *s, size_t n, long line, const char **ret, size_t *ret_len)
{
    const char *p = s, *end = s + n;
    for (long i = 1; p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (i == line) {
            *ret = p;
            *ret_len = (size_t)(stop - p);
            return true;
        }
        p = nl ? nl + 1 : end;
    }
    return false;
}

static void check_map(const char *a, size_t an, const char *b, size_t bn)
{
    struct linemap *m = NULL;
    if (linemap_new(a, an, b, bn, &m) < 0)
        return;
    long last = 0;
    for (long l = 1; l <= 2000; l++) {
        const char *pa, *pb;
        size_t la, lb;
        if (!nth_line(a, an, l, &pa, &la))
            break;
        long to = linemap_line(m, l);
        if (to == 0)
            continue;
        if (to <= last || !nth_line(b, bn, to, &pb, &lb) || la != lb || memcmp(pa, pb, la) != 0)
            abort();
        last = to;
    }
    linemap_free(m);
}

static void check_compare(const char *a, size_t an, const char *b, size_t bn)
{
    struct outcheck_diff d;
    if (!outcheck_match(a, an, a, an, OUTCHECK_EXACT, NULL) ||
        !outcheck_match(a, an, a, an, OUTCHECK_TRIM, NULL))
        abort();
    bool exact = outcheck_match(a, an, b, bn, OUTCHECK_EXACT, &d);
    if (!exact && d.line < 1)
        abort();
    bool trim = outcheck_match(a, an, b, bn, OUTCHECK_TRIM, &d);
    if ((exact && !trim) || (!trim && d.line < 1))
        abort();
    char *padded = malloc(an + 3);
    if (!padded)
        return;
    memcpy(padded, a, an);
    memcpy(padded + an, " \n\n", 3);
    if (!outcheck_match(a, an, padded, an + 3, OUTCHECK_TRIM, NULL))
        abort();
    free(padded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *a = (const char *)data, *nul = memchr(data, 0, size);
    size_t an = nul ? (size_t)(nul - a) : size;
    const char *b = nul ? nul + 1 : a + size;
    size_t bn = size - an - (nul ? 1 : 0);
    check_map(a, an, b, bn);
    check_compare(a, an, b, bn);
    return 0;
}

/*
 * fuzz_diff: the unified diff of two user texts (a submission's files, a file's versions)
 * and the version numbers of a history request. Input: the bytes before the first NUL are
 * text a, the rest text b; the whole input is also parsed as "A..B" and as a version.
 * Invariants:
 *  - equal texts give "", and a diff never claims more lines than its sides have;
 *  - every line of the diff is a header, a hunk, ' ', '+', '-' or the no-newline marker;
 *  - an accepted range or version is positive, and printing it back parses to the same.
 */
#include "workspace/diff.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t lines(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '\n';
    return k + (n && s[n - 1] != '\n');
}

static void check_diff(const char *a, size_t an, const char *b, size_t bn)
{
    char *text = NULL;
    size_t len = 0;
    struct diff_stats st;
    int r = diff_unified(a, an, b, bn, "a", "b", DIFF_CONTEXT, &text, &len, &st);
    if (r < 0)
        return;
    /* Callers show only text (diff_is_text); other bytes must merely not crash. */
    bool text_in = diff_is_text(a, an) && diff_is_text(b, bn);
    if ((text_in && strlen(text) != len) || st.added > lines(b, bn) || st.removed > lines(a, an))
        abort();
    if (an == bn && memcmp(a, b, an) == 0 && len != 0)
        abort();
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!strchr(" +-@\\", *p) || *p == '\0')
            abort();
        p = nl ? nl + 1 : end;
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nul = memchr(in, '\0', size);
    size_t an = nul ? (size_t)(nul - in) : size;
    check_diff(in, an, nul ? nul + 1 : "", nul ? size - an - 1 : 0);
    check_diff(in, an, in, an);

    int64_t from, to, v, again_from, again_to;
    char buf[64];
    if (diff_range_parse(in, size, &from, &to) == 0) {
        if (from <= 0 || to <= 0)
            abort();
        int n = snprintf(buf, sizeof(buf), "%lld..%lld", (long long)from, (long long)to);
        if (diff_range_parse(buf, (size_t)n, &again_from, &again_to) != 0 || again_from != from ||
            again_to != to)
            abort();
    }
    if (diff_version_parse(in, size, &v) == 0) {
        if (v <= 0 || memchr(in, '.', size))
            abort();
        int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
        if (diff_version_parse(buf, (size_t)n, &again_from) != 0 || again_from != v)
            abort();
    }
    return 0;
}

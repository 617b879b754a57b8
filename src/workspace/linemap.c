/*
 * linemap: carrying line numbers through a diff (see linemap.h). The hunks come from
 * diff_unified with no context; only their "@@ -s,c +t,d @@" headers are read, and since
 * the text is ours (made just now by diff.c), a header that does not parse is a bug, not
 * input: it ends the map there, which maps fewer lines, never a wrong one.
 */
#include "workspace/linemap.h"

#include "workspace/diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct hunk {
    long old_start, old_count; /* lines of a replaced; old_count 0: an insertion after start */
    long new_start, new_count;
};

struct linemap {
    struct hunk *h;
    size_t n;
    long lines; /* lines of a */
};

/* Reads "N" or "N,M" at *p (M defaults to 1). */
static bool range(const char **p, long *start, long *count)
{
    char *end;
    *start = strtol(*p, &end, 10);
    if (end == *p)
        return false;
    *count = 1;
    if (*end == ',') {
        const char *q = end + 1;
        *count = strtol(q, &end, 10);
        if (end == q)
            return false;
    }
    *p = end;
    return true;
}

static bool header(const char *line, struct hunk *h)
{
    const char *p = line + 4; /* "@@ -" */
    if (!range(&p, &h->old_start, &h->old_count) || strncmp(p, " +", 2) != 0)
        return false;
    p += 2;
    return range(&p, &h->new_start, &h->new_count);
}

static long count_lines(const char *p, size_t n)
{
    long lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += p[i] == '\n';
    return lines + (n > 0 && p[n - 1] != '\n');
}

int linemap_new(const char *a, size_t alen, const char *b, size_t blen, struct linemap **ret)
{
    char *text = NULL;
    size_t len = 0;
    struct linemap *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->lines = count_lines(a, alen);
    int rc = diff_unified(a, alen, b, blen, NULL, NULL, 0, &text, &len, NULL);
    if (rc < 0)
        goto fail;
    /* By length, not to a NUL: a line of either text may hold one (found by fuzz_review). */
    for (const char *line = text, *end = text + len; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if ((size_t)(end - line) > 4 && memcmp(line, "@@ -", 4) == 0) {
            struct hunk h;
            if (!header(line, &h))
                break;
            struct hunk *grown = realloc(m->h, (m->n + 1) * sizeof(*m->h));
            if (!grown) {
                rc = -ENOMEM;
                goto fail;
            }
            m->h = grown;
            m->h[m->n++] = h;
        }
        line = nl ? nl + 1 : end;
    }
    free(text);
    *ret = m;
    return 0;
fail:
    free(text);
    linemap_free(m);
    return rc;
}

long linemap_line(const struct linemap *m, long line)
{
    if (line < 1 || line > m->lines)
        return 0;
    long shift = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct hunk *h = &m->h[i];
        /* An insertion (-s,0) sits after old line s; a change covers s..s+c-1. */
        long first = h->old_count ? h->old_start : h->old_start + 1;
        if (line < first)
            break;
        if (h->old_count && line < h->old_start + h->old_count)
            return 0;
        shift += h->new_count - h->old_count;
    }
    return line + shift;
}

void linemap_free(struct linemap *m)
{
    if (!m)
        return;
    free(m->h);
    free(m);
}

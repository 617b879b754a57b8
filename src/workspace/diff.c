/*
 * diff: unified diffs of two texts.
 *
 * Theory of operation. Both texts are cut into lines (a line keeps its '\n'), and each
 * distinct line gets a small integer (interning through one hash table), so the search
 * compares integers, never bytes. The common head and tail are skipped. On what is left,
 * Myers' greedy algorithm walks edit distances d = 0, 1, ... keeping, for each diagonal k,
 * the furthest point reached (V[k]); each d's V is kept (only the d + 1 diagonals of the
 * right parity, so (D+1)(D+2)/2 ints in all) to walk the path back and mark every deleted
 * line of a and added line of b. Output then walks both texts with those marks, grouping
 * changes whose gap is at most 2 * context into one hunk, as GNU diff does.
 */
#include "workspace/diff.h"

#include "base/buf.h"
#include "base/utf8.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int diff_version_parse(const char *s, size_t len, int64_t *ret)
{
    int64_t v = 0;
    if (len == 0 || len > 18) /* 18 digits cannot overflow an int64 */
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v == 0)
        return -EINVAL;
    *ret = v;
    return 0;
}

int diff_range_parse(const char *s, size_t len, int64_t *ret_from, int64_t *ret_to)
{
    const char *dots = len >= 2 ? memmem(s, len, "..", 2) : NULL;
    int64_t a, b;
    if (!dots || diff_version_parse(s, (size_t)(dots - s), &a) < 0 ||
        diff_version_parse(dots + 2, len - (size_t)(dots - s) - 2, &b) < 0)
        return -EINVAL;
    *ret_from = a;
    *ret_to = b;
    return 0;
}

bool diff_is_text(const void *data, size_t len)
{
    return memchr(data, '\0', len) == NULL && utf8_valid(data, len);
}

/* One side: its bytes cut into lines. */
struct side {
    const char *text;
    size_t n;      /* lines */
    size_t *start; /* n + 1 offsets; line i is text[start[i] .. start[i + 1]) */
    uint32_t *id;  /* interned line numbers */
    bool *changed; /* deleted (side a) or added (side b) */
};

static int side_split(struct side *s, const char *text, size_t len)
{
    size_t n = 0;
    for (const char *p = text; p && (p = memchr(p, '\n', len - (size_t)(p - text))); p++)
        n++;
    if (len > 0 && text[len - 1] != '\n')
        n++;
    if (n > DIFF_MAX_LINES)
        return -EFBIG;
    s->text = text;
    s->n = n;
    s->start = malloc((n + 1) * sizeof(*s->start));
    s->id = malloc((n + 1) * sizeof(*s->id));
    s->changed = calloc(n + 1, sizeof(*s->changed));
    if (!s->start || !s->id || !s->changed)
        return -ENOMEM;
    size_t i = 0, off = 0;
    while (off < len) {
        s->start[i++] = off;
        const char *nl = memchr(text + off, '\n', len - off);
        off = nl ? (size_t)(nl - text) + 1 : len;
    }
    s->start[n] = len;
    return 0;
}

static void side_done(struct side *s)
{
    free(s->start);
    free(s->id);
    free(s->changed);
}

static const char *line_at(const struct side *s, size_t i, size_t *ret_len)
{
    *ret_len = s->start[i + 1] - s->start[i];
    return s->text + s->start[i];
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Gives equal lines of both sides equal ids. The table holds (side, line) references. */
static int intern(struct side *a, struct side *b)
{
    size_t total = a->n + b->n, cap = 16;
    while (cap < total * 2)
        cap <<= 1;
    struct slot {
        uint64_t hash;
        const struct side *s; /* NULL: empty */
        size_t line;
        uint32_t id;
    } *t = calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    uint32_t next = 0;
    struct side *sides[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        struct side *s = sides[k];
        for (size_t i = 0; i < s->n; i++) {
            size_t len;
            const char *p = line_at(s, i, &len);
            uint64_t h = hash_bytes(p, len);
            size_t j = (size_t)h & (cap - 1);
            for (;; j = (j + 1) & (cap - 1)) {
                if (!t[j].s) {
                    t[j] = (struct slot){h, s, i, next++};
                    break;
                }
                size_t ol;
                const char *o = line_at(t[j].s, t[j].line, &ol);
                if (t[j].hash == h && ol == len && memcmp(o, p, len) == 0)
                    break;
            }
            s->id[i] = t[j].id;
        }
    }
    free(t);
    return 0;
}

/* The furthest x of diagonal k after d edits, in the parity-packed trace. */
#define TRACE(d, k) trace[base[d] + (size_t)(((k) + (d)) / 2)]

/* Myers over a[a0 .. a0+n) and b[b0 .. b0+m): marks the changed lines. Returns 0, 1 when a
 * limit was reached (nothing marked), or -ENOMEM. */
static int myers(struct side *a, size_t a0, size_t n, struct side *b, size_t b0, size_t m)
{
    const uint32_t *A = a->id + a0, *B = b->id + b0;
    long max_d = (long)(n + m) < DIFF_MAX_EDITS ? (long)(n + m) : DIFF_MAX_EDITS;
    size_t cap = 1024, used = 0;
    int32_t *trace = malloc(cap * sizeof(*trace));
    size_t *base = malloc(((size_t)max_d + 1) * sizeof(*base));
    int rc = 1;
    long d, k = 0;
    uint64_t work = 0;
    if (!trace || !base) {
        rc = -ENOMEM;
        goto out;
    }
    for (d = 0; d <= max_d; d++) {
        if (used + (size_t)d + 1 > cap) {
            while (used + (size_t)d + 1 > cap)
                cap *= 2;
            int32_t *t = realloc(trace, cap * sizeof(*trace));
            if (!t) {
                rc = -ENOMEM;
                goto out;
            }
            trace = t;
        }
        base[d] = used;
        used += (size_t)d + 1;
        for (k = -d; k <= d; k += 2) {
            long x;
            if (d == 0)
                x = 0;
            else if (k == -d || (k != d && TRACE(d - 1, k - 1) < TRACE(d - 1, k + 1)))
                x = TRACE(d - 1, k + 1); /* down: an insertion */
            else
                x = TRACE(d - 1, k - 1) + 1; /* right: a deletion */
            long y = x - k, x0 = x;
            while (x < (long)n && y < (long)m && A[x] == B[y]) {
                x++;
                y++;
            }
            work += (uint64_t)(x - x0) + 1;
            TRACE(d, k) = (int32_t)x;
            if (x >= (long)n && y >= (long)m) {
                rc = 0;
                goto found;
            }
        }
        if (work > DIFF_MAX_WORK)
            break;
    }
    goto out;
found:
    /* Walk back from (n, m) on diagonal k, marking each edit of the path. */
    for (; d > 0; d--) {
        bool down = k == -d || (k != d && TRACE(d - 1, k - 1) < TRACE(d - 1, k + 1));
        long pk = down ? k + 1 : k - 1;
        long px = TRACE(d - 1, pk), py = px - pk;
        if (down) /* from (px, py) down to (px, py + 1): b's line py was added */
            b->changed[b0 + (size_t)py] = true;
        else /* from (px, py) right to (px + 1, py): a's line px was deleted */
            a->changed[a0 + (size_t)px] = true;
        k = pk;
    }
out:
    free(trace);
    free(base);
    return rc;
}

/* Appends one output line: its mark and the line, then the no-newline note if it has none. */
static int put_line(struct buf *out, char mark, const struct side *s, size_t i)
{
    static const char nonl[] = "\n\\ No newline at end of file\n";
    size_t len;
    const char *p = line_at(s, i, &len);
    int rc = buf_append(out, &mark, 1);
    if (rc == 0)
        rc = buf_append(out, p, len);
    if (rc == 0 && (len == 0 || p[len - 1] != '\n'))
        rc = buf_append(out, nonl, sizeof(nonl) - 1);
    return rc;
}

static int put_range(struct buf *out, char sign, size_t start, size_t count)
{
    /* diff -u: "l,n"; "l" when n is 1; for an empty range l is the line before it. */
    if (count == 1)
        return buf_printf(out, "%c%zu", sign, start + 1);
    return buf_printf(out, "%c%zu,%zu", sign, count ? start + 1 : start, count);
}

/* Next change at or after (i, j): the first marked line on either side, walking both
 * through unchanged lines in step. Returns false when none is left. */
static bool next_change(const struct side *a, const struct side *b, size_t *i, size_t *j)
{
    while (*i < a->n || *j < b->n) {
        if ((*i < a->n && a->changed[*i]) || (*j < b->n && b->changed[*j]))
            return true;
        (*i)++;
        (*j)++;
    }
    return false;
}

static void skip_change(const struct side *a, const struct side *b, size_t *i, size_t *j)
{
    while (*i < a->n && a->changed[*i])
        (*i)++;
    while (*j < b->n && b->changed[*j])
        (*j)++;
}

static int emit(struct buf *out, const struct side *a, const struct side *b, size_t ctx,
                struct diff_stats *st)
{
    size_t i = 0, j = 0;
    int rc = 0;
    while (rc == 0 && next_change(a, b, &i, &j)) {
        /* A hunk: this change and every next one within 2 * ctx unchanged lines. */
        size_t ha = i > ctx ? i - ctx : 0, hb = j - (i - ha);
        size_t ea, eb;
        for (;;) {
            skip_change(a, b, &i, &j);
            ea = i;
            eb = j;
            size_t ni = i, nj = j;
            if (!next_change(a, b, &ni, &nj) || ni - i > 2 * ctx)
                break;
            i = ni;
            j = nj;
        }
        size_t tail = a->n - ea < ctx ? a->n - ea : ctx;
        ea += tail;
        eb += tail;
        rc = buf_append(out, "@@ ", 3);
        if (rc == 0)
            rc = put_range(out, '-', ha, ea - ha);
        if (rc == 0)
            rc = buf_append(out, " ", 1);
        if (rc == 0)
            rc = put_range(out, '+', hb, eb - hb);
        if (rc == 0)
            rc = buf_append(out, " @@\n", 4);
        st->hunks++;
        size_t x = ha, y = hb;
        while (rc == 0 && (x < ea || y < eb)) {
            if (x < ea && a->changed[x]) {
                rc = put_line(out, '-', a, x++);
                st->removed++;
            } else if (y < eb && b->changed[y]) {
                rc = put_line(out, '+', b, y++);
                st->added++;
            } else {
                rc = put_line(out, ' ', a, x++);
                y++;
            }
        }
        i = ea;
        j = eb;
    }
    return rc;
}

int diff_unified(const char *a, size_t alen, const char *b, size_t blen, const char *a_label,
                 const char *b_label, unsigned context, char **ret_text, size_t *ret_len,
                 struct diff_stats *ret_stats)
{
    if (alen > DIFF_MAX_BYTES || blen > DIFF_MAX_BYTES)
        return -EFBIG;
    struct side sa = {0}, sb = {0};
    struct diff_stats st = {.minimal = true};
    struct buf out;
    size_t labels = (a_label ? strlen(a_label) : 0) + (b_label ? strlen(b_label) : 0);
    /* Every input line is printed at most once, with a mark and maybe a no-newline note;
     * each hunk header is at most ~64 bytes and there are fewer hunks than lines + 1. */
    buf_init(&out, alen + blen + labels + 128 * ((size_t)DIFF_MAX_LINES * 2 + 2));
    int rc = side_split(&sa, a ? a : "", alen);
    if (rc == 0)
        rc = side_split(&sb, b ? b : "", blen);
    if (rc == 0)
        rc = intern(&sa, &sb);
    if (rc < 0)
        goto out;
    size_t head = 0, tail = 0;
    while (head < sa.n && head < sb.n && sa.id[head] == sb.id[head])
        head++;
    while (tail < sa.n - head && tail < sb.n - head &&
           sa.id[sa.n - 1 - tail] == sb.id[sb.n - 1 - tail])
        tail++;
    size_t n = sa.n - head - tail, m = sb.n - head - tail;
    rc = n + m ? myers(&sa, head, n, &sb, head, m) : 0;
    if (rc < 0)
        goto out;
    if (rc == 1) { /* a limit: show the middle as one replaced block */
        st.minimal = false;
        for (size_t i = 0; i < n; i++)
            sa.changed[head + i] = true;
        for (size_t i = 0; i < m; i++)
            sb.changed[head + i] = true;
        rc = 0;
    }
    if (n + m && a_label && b_label)
        rc = buf_printf(&out, "--- %s\n+++ %s\n", a_label, b_label);
    if (rc == 0)
        rc = emit(&out, &sa, &sb, context, &st);
    if (rc == 0 && !out.data)
        rc = buf_append(&out, "", 0); /* equal texts: an empty string, not NULL */
    if (rc == -E2BIG)
        rc = -EFBIG;
    if (rc < 0)
        goto out;
    *ret_text = buf_take(&out, ret_len);
    if (ret_stats)
        *ret_stats = st;
out:
    buf_done(&out);
    side_done(&sa);
    side_done(&sb);
    return rc;
}

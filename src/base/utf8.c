/* utf8: strict UTF-8 validation; see utf8.h. */
#include "base/utf8.h"

#include "base/buf.h"

#include <errno.h>

void utf8_init(struct utf8_state *s)
{
    *s = (struct utf8_state){0};
}

/* One byte through the state machine of Unicode Table 3-7. The narrowed ranges after
 * E0, ED, F0 and F4 are what exclude overlongs, surrogates and values above U+10FFFF. */
static bool step(struct utf8_state *s, uint8_t c)
{
    if (s->need) {
        if (c < s->lo || c > s->hi)
            return false;
        s->cp = (s->cp << 6) | (c & 0x3f);
        s->need--;
        s->lo = 0x80;
        s->hi = 0xbf;
        return true;
    }
    s->lo = 0x80;
    s->hi = 0xbf;
    if (c < 0x80) {
        s->cp = c;
    } else if (c >= 0xc2 && c <= 0xdf) {
        s->cp = c & 0x1f;
        s->need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        s->cp = c & 0x0f;
        s->need = 2;
        if (c == 0xe0)
            s->lo = 0xa0;
        else if (c == 0xed)
            s->hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        s->cp = c & 0x07;
        s->need = 3;
        if (c == 0xf0)
            s->lo = 0x90;
        else if (c == 0xf4)
            s->hi = 0x8f;
    } else {
        return false; /* 80..C1 (stray or overlong lead), F5..FF */
    }
    return true;
}

bool utf8_feed(struct utf8_state *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (s->bad)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!step(s, p[i])) {
            s->bad = true;
            return false;
        }
    }
    return true;
}

bool utf8_complete(const struct utf8_state *s)
{
    return !s->bad && s->need == 0;
}

bool utf8_valid(const void *data, size_t n)
{
    struct utf8_state s = {0};
    return utf8_feed(&s, data, n) && utf8_complete(&s);
}

int utf8_decode(const void *data, size_t n, uint32_t *ret_cp)
{
    const uint8_t *p = data;
    struct utf8_state s = {0};
    for (size_t i = 0; i < n && i < 4; i++) {
        if (!step(&s, p[i]))
            return -EILSEQ;
        if (s.need == 0) {
            *ret_cp = s.cp;
            return (int)i + 1;
        }
    }
    return -EILSEQ;
}

long utf8_sanitize(const void *data, size_t n, bool final, struct buf *out)
{
    const unsigned char *p = data;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_decode(p + i, n - i, &cp);
        if (k > 0) {
            size_t run = (size_t)k;
            if (buf_append(out, p + i, run) < 0)
                return -E2BIG;
            i += run;
            continue;
        }
        /* A lead byte whose continuation bytes may still come in the next chunk. */
        size_t need = p[i] >= 0xF0 && p[i] <= 0xF4 ? 4 : p[i] >= 0xE0 ? 3 : p[i] >= 0xC2 ? 2 : 0;
        if (!final && need && n - i < need) {
            bool prefix = true;
            for (size_t j = i + 1; j < n; j++)
                prefix = prefix && (p[j] & 0xC0) == 0x80;
            if (prefix)
                return (long)i;
        }
        if (buf_append(out, "\xEF\xBF\xBD", 3) < 0)
            return -E2BIG;
        i++;
    }
    return (long)n;
}

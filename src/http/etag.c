/* etag: If-Match / If-None-Match parsing and comparison; see etag.h. */
#include "http/etag.h"

#include <errno.h>
#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* etagc = %x21 / %x23-7E / obs-text: visible ASCII except '"', and bytes >= 0x80. */
static bool is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

int etag_parse(const char *value, struct etag_list *ret)
{
    const char *p = value;
    struct etag_list l;

    l.any = false;
    l.n = 0;
    if (!value)
        return -EINVAL;
    while (is_ows(*p))
        p++;
    if (*p == '*') {
        p++;
        while (is_ows(*p))
            p++;
        if (*p)
            return -EINVAL;
        l.any = true;
        *ret = l;
        return 0;
    }
    for (;;) {
        /* empty list elements (", ,") are allowed by the #rule */
        while (is_ows(*p) || *p == ',')
            p++;
        if (!*p)
            break;
        bool weak = false;
        if (p[0] == 'W' && p[1] == '/') {
            weak = true;
            p += 2;
        }
        const char *tag;
        size_t len = 0;
        if (*p == '"') {
            tag = ++p;
            while (is_etagc((unsigned char)p[len]))
                len++;
            if (p[len] != '"')
                return -EINVAL;
            p += len + 1;
        } else {
            if (weak || *p == '*')
                return -EINVAL; /* W/ needs a quoted tag; "*" only stands alone */
            tag = p;
            while (is_etagc((unsigned char)p[len]) && p[len] != ',')
                len++;
            if (len == 0)
                return -EINVAL;
            p += len;
        }
        if (l.n == ETAG_LIST_MAX)
            return -E2BIG;
        l.item[l.n].tag = tag;
        l.item[l.n].len = len;
        l.item[l.n].weak = weak;
        l.n++;
        while (is_ows(*p))
            p++;
        if (*p && *p != ',')
            return -EINVAL;
    }
    if (l.n == 0)
        return -EINVAL;
    *ret = l;
    return 0;
}

bool etag_list_match(const struct etag_list *list, const char *etag, enum etag_cmp cmp)
{
    if (!etag)
        return false;
    if (list->any)
        return true;
    size_t el = strlen(etag);
    for (size_t i = 0; i < list->n; i++) {
        if (cmp == ETAG_STRONG && list->item[i].weak)
            continue;
        if (list->item[i].len == el && memcmp(list->item[i].tag, etag, el) == 0)
            return true;
    }
    return false;
}

/* head: an HTTP/1.x response head; see head.h. */
#include "http/head.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copies the value of header line[0..n) into out when it is `name:`. */
static void value(const char *line, size_t n, const char *name, char *out, size_t len)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if (vl >= len)
        vl = len - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static const char *find(const char *p, const char *end, const char *what)
{
    size_t n = strlen(what);
    for (; p + n <= end; p++)
        if (memcmp(p, what, n) == 0)
            return p;
    return NULL;
}

int http_head_parse(const char *data, size_t len, struct http_head *ret)
{
    struct http_head h;
    memset(&h, 0, sizeof(h));
    h.length = -1;
    const char *end = find(data, data + len, "\r\n\r\n");
    if (!end)
        return -EAGAIN;
    h.head_len = (size_t)(end - data) + 4;
    /* "HTTP/1.x NNN": exactly three digits. */
    if (end - data < 12 || memcmp(data, "HTTP/1.", 7) != 0 || data[8] != ' ')
        return -EPROTO;
    for (int i = 9; i < 12; i++)
        if (data[i] < '0' || data[i] > '9')
            return -EPROTO;
    h.status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
    if (h.status < 100 || h.status > 599)
        return -EPROTO;
    const char *line = find(data, end + 2, "\r\n") + 2;
    while (line < end + 2) {
        const char *eol = find(line, end + 2, "\r\n");
        size_t n = (size_t)(eol - line);
        char num[24] = "";
        value(line, n, "Content-Type", h.ctype, sizeof(h.ctype));
        value(line, n, "Retry-After", h.retry_after, sizeof(h.retry_after));
        value(line, n, "Cache-Control", h.cache, sizeof(h.cache));
        value(line, n, "Sec-WebSocket-Accept", h.accept, sizeof(h.accept));
        value(line, n, "Sec-WebSocket-Version", h.version, sizeof(h.version));
        value(line, n, "Content-Security-Policy", h.csp, sizeof(h.csp));
        value(line, n, "Content-Length", num, sizeof(num));
        if (*num) {
            char *e;
            long long v = strtoll(num, &e, 10);
            h.length = (*e || v < 0 || num[0] < '0' || num[0] > '9') ? -1 : v;
        }
        line = eol + 2;
    }
    *ret = h;
    return 0;
}

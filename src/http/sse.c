/* sse: Server-Sent Events framing; see sse.h. */
#include "http/sse.h"

#include <errno.h>
#include <string.h>

bool sse_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SSE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

int sse_append(struct buf *out, const char *name, const char *data, size_t len)
{
    if (!sse_valid_name(name) || (len && memchr(data, '\0', len)))
        return -EINVAL;
    size_t start = out->len;
    int rc = buf_printf(out, "event: %s\n", name);
    /* One data line per line of data; a trailing line break gives a last, empty line, which
     * is what makes the browser's data end with that line break again. */
    for (size_t i = 0;;) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        if (rc == 0)
            rc = buf_append(out, "data: ", 6);
        if (rc == 0)
            rc = buf_append(out, data + i, j - i);
        if (rc == 0)
            rc = buf_append(out, "\n", 1);
        if (rc < 0 || j >= len)
            break;
        if (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    if (rc == 0)
        rc = buf_append(out, "\n", 1);
    if (rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

int sse_append_comment(struct buf *out, const char *text)
{
    if (!text || !*text)
        return buf_append(out, ":\n\n", 3);
    if (strpbrk(text, "\r\n"))
        return -EINVAL;
    return buf_printf(out, ": %s\n\n", text);
}

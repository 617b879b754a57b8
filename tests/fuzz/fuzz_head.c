/*
 * fuzz_head: the HTTP response head parser of node-to-node forwarding (http/head.h).
 * Invariants: on success the head lies inside the input and ends with a blank line, the
 * status is 100..599, every kept value is NUL-terminated inside its buffer, and a length is
 * -1 or non-negative; otherwise -EAGAIN (no blank line in the input) or -EPROTO.
 */
#include "http/head.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1); /* not NUL-terminated: the parser must not need it */
    if (!s)
        return 0;
    memcpy(s, data, size);
    struct http_head h;
    int r = http_head_parse(s, size, &h);
    if (r == 0) {
        if (h.head_len < 16 || h.head_len > size || memcmp(s + h.head_len - 4, "\r\n\r\n", 4))
            abort();
        if (h.status < 100 || h.status > 599 || h.length < -1)
            abort();
        if (strnlen(h.ctype, sizeof(h.ctype)) == sizeof(h.ctype) ||
            strnlen(h.accept, sizeof(h.accept)) == sizeof(h.accept) ||
            strnlen(h.csp, sizeof(h.csp)) == sizeof(h.csp) ||
            strnlen(h.version, sizeof(h.version)) == sizeof(h.version))
            abort();
    } else if (r == -EAGAIN) {
        for (size_t i = 0; i + 4 <= size; i++)
            if (!memcmp(s + i, "\r\n\r\n", 4))
                abort();
    } else if (r != -EPROTO) {
        abort();
    }
    free(s);
    return 0;
}

/*
 * fuzz_accept: the Accept-Encoding parser (http/accept.h). Invariants: no read outside the
 * input (it is not NUL-terminated), only known bits in the answer, and the answer does not
 * depend on anything after the input's end.
 */
#include "http/accept.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    unsigned a = accept_encoding(s, size);
    if (a & ~(unsigned)(ACCEPT_GZIP | ACCEPT_BR))
        abort();
    free(s);
    return 0;
}

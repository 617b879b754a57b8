/*
 * fuzz_path: workspace path rules. Invariants checked on every input:
 *  - an accepted path has no '.' / '..' / empty segment, no leading '/', no backslash,
 *    no byte below 0x20 and no DEL, is valid UTF-8 and within the length limits;
 *  - path_from_url accepts only what path_check accepts after decoding, and
 *    path_to_url -> path_from_url gives the same path back;
 *  - input without '%' decodes to itself;
 *  - parent/basename/join/is_under agree with each other on accepted paths.
 */
#include "base/utf8.h"
#include "workspace/path.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void invariants(const char *p, size_t n)
{
    if (n == 0 || n > PATH_LEN_MAX || p[0] == '/' || !utf8_valid(p, n))
        abort();
    size_t seg = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && ((unsigned char)p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\'))
            abort();
        if (i == n || p[i] == '/') {
            size_t len = i - seg;
            if (len == 0 || len > PATH_SEGMENT_MAX)
                abort();
            if ((len == 1 && p[seg] == '.') || (len == 2 && p[seg] == '.' && p[seg + 1] == '.'))
                abort();
            seg = i + 1;
        }
    }
}

static void helpers(const char *p)
{
    char parent[PATH_BUF_SIZE], joined[PATH_BUF_SIZE];
    if (path_parent(p, parent, sizeof(parent)) != 0)
        abort();
    const char *base = path_basename(p);
    if (path_join(parent, base, joined, sizeof(joined), NULL) != 0 || strcmp(joined, p) != 0)
        abort();
    if (!path_is_under(p, parent) || path_is_under(p, p) || path_is_under(parent, p))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char dec[PATH_BUF_SIZE], enc[3 * PATH_BUF_SIZE], again[PATH_BUF_SIZE];

    int plain = path_check(in, size, NULL);
    if (plain == 0) {
        invariants(in, size);
        memcpy(dec, in, size);
        dec[size] = '\0';
        helpers(dec);
    }

    int r = path_from_url(in, size, dec, sizeof(dec), NULL);
    if (!memchr(in, '%', size) && (r == 0) != (plain == 0))
        abort();
    if (r == 0) {
        size_t n = strlen(dec);
        invariants(dec, n);
        if (path_check(dec, n, NULL) != 0)
            abort();
        if (path_to_url(dec, enc, sizeof(enc)) != 0)
            abort();
        if (path_from_url(enc, strlen(enc), again, sizeof(again), NULL) != 0 ||
            strcmp(again, dec) != 0)
            abort();
    }
    return 0;
}

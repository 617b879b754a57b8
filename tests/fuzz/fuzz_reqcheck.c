/*
 * fuzz_reqcheck: the request rules we add on top of libmicrohttpd (http/reqcheck.h) and
 * the query decoding handlers use (http_unescape). The input is a request head: a target
 * on the first line, then "Name: value" lines.
 * Invariants: a refusal has a code and a message; an accepted HTTP/1.1 head has exactly one
 * Host, at most one Content-Length and never Transfer-Encoding with it; after
 * reqcheck_flatten_query the target has at most one parameter and is otherwise unchanged
 * in length; a decoded string never holds a NUL and is no longer than its input.
 */
#include "http/reqcheck.h"
#include "http/server.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct reqcheck_header h[32];
    size_t n = 0;
    char *save = NULL;
    char *target = strtok_r(s, "\n", &save);
    for (char *line = strtok_r(NULL, "\n", &save); line && n < 32;
         line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        h[n++] = (struct reqcheck_header){line, v};
    }
    for (int v = 0; v < 2; v++) {
        const char *version = v ? "HTTP/1.1" : "HTTP/1.0";
        struct reqcheck_refusal why = {0};
        if (!reqcheck_headers(version, h, n, &why)) {
            if (!why.code || !*why.code || !why.message || !*why.message)
                abort();
            continue;
        }
        size_t hosts = 0, lengths = 0, te = 0;
        for (size_t i = 0; i < n; i++) {
            hosts += !strcasecmp(h[i].name, "Host");
            lengths += !strcasecmp(h[i].name, "Content-Length");
            te += !strcasecmp(h[i].name, "Transfer-Encoding");
        }
        if ((v && hosts != 1) || hosts > 1 || lengths > 1 || (te && lengths) || te > 1)
            abort();
    }
    if (target) {
        size_t len = strlen(target);
        char *dec = http_unescape(target, len, true);
        if (dec && (strlen(dec) > len))
            abort();
        free(dec);
        reqcheck_flatten_query(target);
        if (strlen(target) != len || reqcheck_query_params(target) > 1)
            abort();
    }
    free(s);
    return 0;
}

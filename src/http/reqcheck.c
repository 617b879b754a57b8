/* reqcheck: request rules on top of libmicrohttpd's parser; see reqcheck.h. */
#include "http/reqcheck.h"

#include <string.h>
#include <strings.h>

static bool refuse(struct reqcheck_refusal *ret, const char *code, const char *message)
{
    ret->code = code;
    ret->message = message;
    return false;
}

/* Content-Length is 1*DIGIT and nothing else (no sign, no spaces inside, no list). */
static bool valid_length(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

bool reqcheck_headers(const char *version, const struct reqcheck_header *h, size_t n,
                      struct reqcheck_refusal *ret)
{
    size_t hosts = 0, lengths = 0, encodings = 0;
    const char *te = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = h[i].name ? h[i].name : "";
        const char *value = h[i].value ? h[i].value : "";
        if (!strcasecmp(name, "Host")) {
            hosts++;
        } else if (!strcasecmp(name, "Content-Length")) {
            lengths++;
            if (!valid_length(value))
                return refuse(ret, "bad_request", "Content-Length must be a decimal number");
        } else if (!strcasecmp(name, "Transfer-Encoding")) {
            encodings++;
            te = value;
        }
    }
    if (lengths > 1)
        return refuse(ret, "bad_request", "more than one Content-Length header");
    if (encodings && lengths)
        return refuse(ret, "bad_request", "Transfer-Encoding together with Content-Length");
    if (encodings > 1 || (te && strcasecmp(te, "chunked") != 0))
        return refuse(ret, "bad_request", "the only Transfer-Encoding accepted is chunked");
    bool v11 = version && !strcmp(version, "HTTP/1.1");
    if (v11 && hosts != 1)
        return refuse(ret, "bad_request",
                      hosts ? "more than one Host header" : "HTTP/1.1 needs a Host header");
    if (hosts > 1)
        return refuse(ret, "bad_request", "more than one Host header");
    return true;
}

size_t reqcheck_query_params(const char *target)
{
    const char *q = target ? strchr(target, '?') : NULL;
    if (!q || !q[1])
        return 0;
    size_t n = 1;
    for (const char *p = q + 1; *p; p++)
        n += *p == '&';
    return n;
}

void reqcheck_flatten_query(char *target)
{
    char *q = target ? strchr(target, '?') : NULL;
    if (!q)
        return;
    for (char *p = q + 1; *p; p++)
        if (*p == '&')
            *p = '_';
}

/*
 * reqcheck: the request rules libmicrohttpd does not enforce, as pure functions over what it
 * parsed (so they can be fuzzed without a socket). A request that breaks one is answered
 * with a single 400 and the connection is closed: two Content-Length headers, or
 * Transfer-Encoding with Content-Length, are how requests are smuggled past a proxy that
 * reads them differently (RFC 9112 section 6.3); HTTP/1.1 without exactly one Host is
 * refused by the RFC; a query with more parameters than a handler could use is refused
 * before anything walks it.
 */
#ifndef PYROOM_HTTP_REQCHECK_H
#define PYROOM_HTTP_REQCHECK_H

#include <stdbool.h>
#include <stddef.h>

struct reqcheck_header {
    const char *name; /* as received, NUL-terminated */
    const char *value;
};

/* A refusal: a stable error code and a sentence for the client. */
struct reqcheck_refusal {
    const char *code;
    const char *message;
};

/* Checks the header list of one request. version is "HTTP/1.0" or "HTTP/1.1". Returns true
 * when acceptable; false with *ret filled otherwise. */
bool reqcheck_headers(const char *version, const struct reqcheck_header *h, size_t n,
                      struct reqcheck_refusal *ret);

/* Parameters in the query part of a raw request target ("/p?a=1&b" has 2; "&&" counts the
 * empty ones too, as a parser would walk them). */
size_t reqcheck_query_params(const char *target);

/* Neutralises the query of target in place so that a parser sees at most one parameter
 * (every '&' becomes '_'): used once the request is already refused for having too
 * many, so that libmicrohttpd does not exhaust its connection memory on them first. */
void reqcheck_flatten_query(char *target);

#endif

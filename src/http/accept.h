/*
 * accept: which content codings a client takes, from its Accept-Encoding header (RFC 9110
 * section 12.5.3), so pre-compressed static files can be served to those who can read them.
 *
 * The header is a comma-separated list of codings, each with optional parameters; only
 * "q" is looked at. A coding with q=0 is refused; "*" stands for every coding not named;
 * "identity" needs nothing from us. Names are case-insensitive. Anything malformed in one
 * element makes that element count for nothing (never an error): the worst a bad header
 * gets is the uncompressed file. Pure and thread-safe; the header need not be terminated.
 */
#ifndef PYROOM_HTTP_ACCEPT_H
#define PYROOM_HTTP_ACCEPT_H

#include <stddef.h>

enum accept_coding {
    ACCEPT_GZIP = 1u << 0,
    ACCEPT_BR = 1u << 1,
};

/* The codings among ACCEPT_GZIP | ACCEPT_BR that header (len bytes; NULL = absent) accepts
 * with a q above 0. An absent header accepts none of them (only identity is safe then). */
unsigned accept_encoding(const char *header, size_t len);

#endif

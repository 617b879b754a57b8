/*
 * pct: percent-encoding in URLs (RFC 3986 section 2.1): decoding one "%XX" escape and the
 * unreserved characters that are never escaped. The one copy for the server's query
 * decoding (http_unescape), workspace paths in URLs (workspace/path) and the relay's
 * queries (api/forward_peer). Pure and thread-safe.
 */
#ifndef PYROOM_BASE_PCT_H
#define PYROOM_BASE_PCT_H

#include <stdbool.h>
#include <stddef.h>

/* The byte that the escape at s stands for: s[0] is '%' and s[1], s[2] are hex digits (either
 * case), with avail bytes readable from s. -1 when it is not a complete, valid escape. */
int pct_decode_escape(const char *s, size_t avail);
/* True for RFC 3986's unreserved characters (ALPHA, DIGIT, '-', '.', '_', '~'). */
bool pct_unreserved(unsigned char c);

#endif

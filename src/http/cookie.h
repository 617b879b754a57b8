/*
 * cookie: finds one cookie's value in a request's Cookie header (RFC 6265 section 5.4:
 * "name=value; name2=value2"). Tolerant of what real clients send (extra spaces, empty
 * pairs, pairs without '='), strict about what it returns: the value of the first pair
 * whose name matches exactly (case-sensitive), without surrounding double quotes.
 * Browsers send the cookie with the most specific path first, so the first one wins.
 * Pure and thread-safe.
 */
#ifndef PYROOM_HTTP_COOKIE_H
#define PYROOM_HTTP_COOKIE_H

#include <stddef.h>

/* Writes the value of cookie name from header (a NUL-terminated Cookie header value) to
 * ret (size bytes, NUL-terminated). Returns 0, -ENOENT when absent, -ENOBUFS when the value
 * does not fit (a session token never needs more than a few dozen bytes). */
int cookie_get(const char *header, const char *name, char *ret, size_t size);

#endif

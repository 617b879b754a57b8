/*
 * head: parses the status line and headers of an HTTP/1.x response (what a peer node
 * answered to a forwarded request, api/forward.c). Only what a relay needs is kept: the
 * status, the body's length and type, and the few headers passed back to the client, each
 * copied into a fixed buffer (longer values are cut, never overflow). Pure function,
 * fuzzed (tests/fuzz/fuzz_head.c).
 */
#ifndef PYROOM_HTTP_HEAD_H
#define PYROOM_HTTP_HEAD_H

#include <stddef.h>

struct http_head {
    int status;           /* 100..599 */
    char ctype[128];      /* Content-Type, "" when absent */
    char retry_after[16]; /* Retry-After */
    char cache[64];       /* Cache-Control */
    char accept[64];      /* Sec-WebSocket-Accept */
    char csp[256];        /* Content-Security-Policy */
    char version[8];      /* Sec-WebSocket-Version */
    long long length;     /* Content-Length, -1 when absent or malformed */
    size_t head_len;      /* bytes of the head, its blank line included: the body follows */
};

/* Parses the head at the start of data[0..len). 0 and *ret filled; -EAGAIN when the blank
 * line ending the head has not come yet; -EPROTO when it is not a response head. */
int http_head_parse(const char *data, size_t len, struct http_head *ret);

#endif

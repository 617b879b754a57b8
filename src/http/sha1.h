/*
 * sha1: SHA-1 (FIPS 180-4), for one purpose only: the WebSocket handshake's
 * Sec-WebSocket-Accept (RFC 6455 section 4.2.2), which the protocol fixes to SHA-1.
 * Not for anything that needs collision resistance. libsodium has no SHA-1, and this is
 * smaller than another dependency. Pure and thread-safe.
 */
#ifndef PYROOM_HTTP_SHA1_H
#define PYROOM_HTTP_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_BYTES 20

struct sha1 {
    uint32_t h[5];
    uint64_t bytes;    /* message length so far */
    uint8_t block[64]; /* partial block */
    size_t fill;       /* bytes in block */
};

void sha1_init(struct sha1 *s);
void sha1_update(struct sha1 *s, const void *data, size_t len);
void sha1_final(struct sha1 *s, uint8_t ret[SHA1_BYTES]);
/* One call: the digest of len bytes at data. */
void sha1(const void *data, size_t len, uint8_t ret[SHA1_BYTES]);

#endif

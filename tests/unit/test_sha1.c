/* Unit tests for http/sha1: the FIPS 180-4 / RFC 3174 test vectors, one shot and in pieces
 * of every size, and the WebSocket handshake's example (RFC 6455 section 1.3). */
#include "http/sha1.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void hex(const uint8_t d[SHA1_BYTES], char out[2 * SHA1_BYTES + 1])
{
    for (size_t i = 0; i < SHA1_BYTES; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void expect_digest(const void *data, size_t len, const char *want)
{
    uint8_t d[SHA1_BYTES];
    char h[2 * SHA1_BYTES + 1];
    sha1(data, len, d);
    hex(d, h);
    cr_expect_str_eq(h, want, "sha1 of %zu bytes", len);
}

Test(sha1, fips_vectors)
{
    expect_digest("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect_digest("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    expect_digest(two_blocks, strlen(two_blocks), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

Test(sha1, a_million_a_in_pieces)
{
    static char chunk[1000];
    memset(chunk, 'a', sizeof(chunk));
    struct sha1 s;
    sha1_init(&s);
    for (int i = 0; i < 1000; i++)
        sha1_update(&s, chunk, sizeof(chunk));
    uint8_t d[SHA1_BYTES];
    char h[2 * SHA1_BYTES + 1];
    sha1_final(&s, d);
    hex(d, h);
    cr_expect_str_eq(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* Every split of a message around the block and padding boundaries gives the one-shot
 * digest. */
Test(sha1, any_split_is_the_same)
{
    char msg[200];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (char)(i * 7 + 3);
    size_t lens[] = {55, 56, 63, 64, 65, 119, 120, 128, 200};
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        size_t len = lens[k];
        uint8_t want[SHA1_BYTES];
        sha1(msg, len, want);
        for (size_t cut = 0; cut <= len; cut++) {
            struct sha1 s;
            uint8_t got[SHA1_BYTES];
            sha1_init(&s);
            sha1_update(&s, msg, cut);
            sha1_update(&s, msg + cut, len - cut);
            sha1_final(&s, got);
            cr_assert(memcmp(got, want, SHA1_BYTES) == 0, "length %zu cut at %zu", len, cut);
        }
    }
}

Test(sha1, websocket_accept_example)
{
    /* RFC 6455 1.3: the key plus the GUID hashes to b37a4f2cc0624f1690f64606cf385945b2bec4ea
     * (base64 s3pPLMBiTxaQ9kYGzzhZRbK+xOo=). */
    const char *in = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    expect_digest(in, strlen(in), "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
}

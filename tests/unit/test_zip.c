/* Unit tests for workspace/zip: archives read back by a small reader of the central
 * directory (sizes, CRC, names, flags, modes), deflate against store, the names refused,
 * the limits and a failing write function. Python's zipfile reads real archives in
 * tests/api/test_archive.py. */
#include "base/buf.h"
#include "workspace/zip.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int to_buf(void *ctx, const void *data, size_t len)
{
    return buf_append(ctx, data, len) < 0 ? -ENOSPC : 0;
}

static unsigned get16(const unsigned char *p)
{
    return p[0] | (unsigned)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
    return get16(p) | (uint32_t)get16(p + 2) << 16;
}

struct got {
    char name[600];
    unsigned flags, method;
    uint32_t crc, csize, size, attr, offset;
    unsigned char data[4096];
    size_t data_len;
};

/* Reads entry i of the archive in b through the central directory and its local header. */
static void read_entry(const struct buf *b, unsigned i, struct got *g)
{
    const unsigned char *a = (const unsigned char *)b->data;
    const unsigned char *end = a + b->len - 22;
    cr_assert_eq(get32(end), 0x06054b50u);
    cr_assert_lt(i, get16(end + 10));
    const unsigned char *c = a + get32(end + 16);
    for (unsigned k = 0; k < i; k++)
        c += 46 + get16(c + 28) + get16(c + 30) + get16(c + 32);
    cr_assert_eq(get32(c), 0x02014b50u);
    g->flags = get16(c + 8);
    g->method = get16(c + 10);
    g->crc = get32(c + 16);
    g->csize = get32(c + 20);
    g->size = get32(c + 24);
    unsigned nlen = get16(c + 28);
    g->attr = get32(c + 38);
    g->offset = get32(c + 42);
    memcpy(g->name, c + 46, nlen);
    g->name[nlen] = '\0';
    const unsigned char *l = a + g->offset;
    cr_assert_eq(get32(l), 0x04034b50u);
    cr_assert_eq(get32(l + 14), g->crc, "local and central CRC agree");
    cr_assert_eq(get32(l + 18), g->csize);
    cr_assert_eq(get32(l + 22), g->size);
    cr_assert_eq(memcmp(l + 30, g->name, nlen), 0);
    const unsigned char *d = l + 30 + nlen + get16(l + 28);
    cr_assert_leq(g->size, sizeof(g->data));
    if (g->method == 0) {
        memcpy(g->data, d, g->size);
    } else {
        cr_assert_eq(g->method, 8);
        z_stream zs = {0};
        cr_assert_eq(inflateInit2(&zs, -15), Z_OK);
        zs.next_in = (Bytef *)(uintptr_t)d;
        zs.avail_in = g->csize;
        zs.next_out = g->data;
        zs.avail_out = sizeof(g->data);
        cr_assert_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
        inflateEnd(&zs);
    }
    g->data_len = g->size;
    cr_assert_eq((uint32_t)crc32(0, g->data, (uInt)g->size), g->crc);
}

Test(zip, files_and_folders_read_back)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    struct zip *z = NULL;
    cr_assert_eq(zip_new(to_buf, &b, &z), 0);
    char text[2000];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = "crlf\r\n"[i % 6];
    const unsigned char bin[] = {0, 1, 2, 0xff, 0xfe, '\r', '\n', 0};
    cr_assert_eq(zip_add_folder(z, "src", 0), 0);
    cr_assert_eq(zip_add_file(z, "src/data.csv", text, sizeof(text), 1700000000000), 0);
    cr_assert_eq(zip_add_file(z, "bin.dat", bin, sizeof(bin), 1700000000000), 0);
    cr_assert_eq(zip_add_file(z, "empty.txt", "", 0, 0), 0);
    cr_assert_eq(zip_add_file(z, "\xc3\xa9t\xc3\xa9/\xe6\x97\xa5.py", "x", 1, 0), 0);
    cr_assert_eq(zip_entries(z), 5);
    cr_assert_eq(zip_finish(z), 0);
    cr_assert_eq(zip_written(z), b.len);
    cr_assert_eq(zip_add_file(z, "late.py", "", 0, 0), -EINVAL, "nothing after finish");

    struct got g;
    read_entry(&b, 0, &g);
    cr_expect_str_eq(g.name, "src/");
    cr_expect_eq(g.attr >> 16, 040755u);
    cr_expect_eq(g.attr & 0x10, 0x10, "the DOS folder bit");
    cr_expect_eq(g.size, 0);
    read_entry(&b, 1, &g);
    cr_expect_str_eq(g.name, "src/data.csv");
    cr_expect_eq(g.method, 8, "text is deflated");
    cr_expect_lt(g.csize, g.size);
    cr_expect_eq(g.data_len, sizeof(text));
    cr_expect_eq(memcmp(g.data, text, sizeof(text)), 0, "CRLF kept byte for byte");
    cr_expect_eq(g.attr >> 16, 0100644u);
    read_entry(&b, 2, &g);
    cr_expect_eq(g.method, 0, "a short binary file is stored");
    cr_expect_eq(g.data_len, sizeof(bin));
    cr_expect_eq(memcmp(g.data, bin, sizeof(bin)), 0);
    read_entry(&b, 3, &g);
    cr_expect_eq(g.size, 0);
    cr_expect_eq(g.crc, 0);
    read_entry(&b, 4, &g);
    cr_expect_str_eq(g.name, "\xc3\xa9t\xc3\xa9/\xe6\x97\xa5.py");
    cr_expect_eq(g.flags & 0x0800, 0x0800, "names flagged UTF-8");
    zip_free(z);
    buf_done(&b);
}

Test(zip, empty_archive)
{
    struct buf b;
    buf_init(&b, 1024);
    struct zip *z = NULL;
    cr_assert_eq(zip_new(to_buf, &b, &z), 0);
    cr_assert_eq(zip_finish(z), 0);
    cr_assert_eq(b.len, 22, "only the end record");
    cr_assert_eq(get32((unsigned char *)b.data), 0x06054b50u);
    zip_free(z);
    buf_done(&b);
}

Test(zip, names_that_escape_are_refused)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    struct zip *z = NULL;
    cr_assert_eq(zip_new(to_buf, &b, &z), 0);
    const char *bad[] = {"",    "/etc/passwd", "../x", "a/../../x", "a//b",    "a\\..\\b",
                         "a/.", "./a",         "a/",   "x\x01y",    "\xc0\xaf"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(zip_add_file(z, bad[i], "x", 1, 0), -EINVAL, "file %zu", i);
        cr_expect_eq(zip_add_folder(z, bad[i], 0), -EINVAL, "folder %zu", i);
    }
    cr_expect_eq(b.len, 0, "nothing written for a refused name");
    cr_expect_eq(zip_entries(z), 0);
    zip_free(z);
    buf_done(&b);
}

static int fail_after(void *ctx, const void *data, size_t len)
{
    (void)data;
    size_t *left = ctx;
    if (len > *left)
        return -EPIPE;
    *left -= len;
    return 0;
}

Test(zip, write_errors_are_returned_and_sticky)
{
    size_t left = 40;
    struct zip *z = NULL;
    cr_assert_eq(zip_new(fail_after, &left, &z), 0);
    cr_expect_eq(zip_add_file(z, "a.py", "print(1)\n", 9, 0), -EPIPE);
    cr_expect_eq(zip_add_file(z, "b.py", "", 0, 0), -EPIPE);
    cr_expect_eq(zip_finish(z), -EPIPE);
    zip_free(z);
}

static int count_only(void *ctx, const void *data, size_t len)
{
    (void)data;
    *(uint64_t *)ctx += len;
    return 0;
}

Test(zip, entry_count_is_bounded)
{
    uint64_t n = 0;
    struct zip *z = NULL;
    cr_assert_eq(zip_new(count_only, &n, &z), 0);
    char name[16];
    for (unsigned i = 0; i < ZIP_MAX_ENTRIES; i++) {
        snprintf(name, sizeof(name), "d%u", i);
        cr_assert_eq(zip_add_folder(z, name, 0), 0);
    }
    cr_expect_eq(zip_add_folder(z, "one-more", 0), -EFBIG);
    cr_expect_eq(zip_entries(z), ZIP_MAX_ENTRIES);
    cr_expect_eq(zip_finish(z), 0, "the archive is still whole");
    zip_free(z);
}

Test(zip, dos_time_is_utc_and_clamped)
{
    struct buf b;
    buf_init(&b, 4096);
    struct zip *z = NULL;
    cr_assert_eq(zip_new(to_buf, &b, &z), 0);
    /* 2024-02-29 13:14:16 UTC */
    cr_assert_eq(zip_add_file(z, "a", "", 0, 1709212456000LL), 0);
    cr_assert_eq(zip_add_file(z, "b", "", 0, -5), 0);
    cr_assert_eq(zip_finish(z), 0);
    const unsigned char *l = (const unsigned char *)b.data;
    cr_expect_eq(get16(l + 12), ((2024 - 1980) << 9) | (2 << 5) | 29);
    cr_expect_eq(get16(l + 10), (13 << 11) | (14 << 5) | 8);
    cr_expect_eq(get32(l + 30 + 1 + 5), 1709212456u, "the exact time in 0x5455");
    const unsigned char *l2 = l + 30 + 1 + 9;
    cr_expect_eq(get16(l2 + 12), (0 << 9) | (1 << 5) | 1, "before 1980 becomes 1980-01-01");
    zip_free(z);
    buf_done(&b);
}

/* zip: the streaming zip writer; see zip.h. Record layouts are APPNOTE 6.3.x sections
 * 4.3.7 (local file header), 4.3.12 (central directory header), 4.3.16 (end record) and
 * 4.5.5 / extrafld.txt (0x5455, the extended timestamp). All integers little-endian. */
#include "workspace/zip.h"

#include "base/buf.h"
#include "workspace/path.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define SIG_LOCAL      0x04034b50u
#define SIG_CENTRAL    0x02014b50u
#define SIG_END        0x06054b50u
#define LOCAL_LEN      30u /* fixed part of a local header */
#define CENTRAL_LEN    46u /* fixed part of a central header */
#define END_LEN        22u
#define EXTRA_LEN      9u     /* the 0x5455 field: tag, size, flags, mtime */
#define VERSION        20u    /* 2.0: deflate and folders */
#define MADE_BY        0x0314 /* host 3 (Unix), version 2.0: the external attributes are a mode */
#define FLAG_UTF8      0x0800u
#define METHOD_STORE   0u
#define METHOD_DEFLATE 8u
#define DOS_DIR        0x10u

struct zip {
    zip_write_fn write;
    void *ctx;
    struct buf central; /* the central directory so far */
    uint64_t offset;    /* bytes written */
    unsigned entries;
    bool finished;
    int failed; /* the first write error, sticky */
    z_stream zs;
    bool zs_ready;
    unsigned char *packed; /* deflate output, reused */
    size_t packed_cap;
};

struct entry {
    const char *name;
    size_t name_len; /* with a folder's trailing '/' */
    bool folder;
    uint16_t method;
    uint32_t crc;
    uint64_t size, csize;
    uint16_t dos_time, dos_date;
    uint32_t unix_time;
};

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

int zip_new(zip_write_fn write, void *ctx, struct zip **ret)
{
    struct zip *z = calloc(1, sizeof(*z));
    if (!z)
        return -ENOMEM;
    z->write = write;
    z->ctx = ctx;
    /* Bounded by ZIP_MAX_ENTRIES names of at most PATH_LEN_MAX + 1 bytes. */
    buf_init(&z->central, (size_t)ZIP_MAX_ENTRIES * (CENTRAL_LEN + EXTRA_LEN + PATH_LEN_MAX + 1));
    *ret = z;
    return 0;
}

void zip_free(struct zip *z)
{
    if (!z)
        return;
    if (z->zs_ready)
        deflateEnd(&z->zs);
    buf_done(&z->central);
    free(z->packed);
    free(z);
}

uint64_t zip_written(const struct zip *z)
{
    return z->offset;
}

unsigned zip_entries(const struct zip *z)
{
    return z->entries;
}

static int emit(struct zip *z, const void *data, size_t len)
{
    if (z->failed)
        return z->failed;
    if (!len)
        return 0;
    int rc = z->write(z->ctx, data, len);
    if (rc < 0) {
        z->failed = rc;
        return rc;
    }
    z->offset += len;
    return 0;
}

/* DOS date and time in UTC, clamped to what they can say (1980..2107). */
static void set_time(struct entry *e, int64_t mtime_ms)
{
    int64_t secs = mtime_ms / 1000;
    if (secs < 315532800) /* 1980-01-01 */
        secs = 315532800;
    if (secs > 4354819199LL) /* 2107-12-31 23:59:59 */
        secs = 4354819199LL;
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    e->dos_date =
        (uint16_t)(((tm.tm_year + 1900 - 1980) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
    e->dos_time = (uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
    e->unix_time = secs > UINT32_MAX ? UINT32_MAX : (uint32_t)secs;
}

static void put_extra(unsigned char *p, uint32_t unix_time)
{
    put16(p, 0x5455);
    put16(p + 2, 5);
    p[4] = 1; /* mtime present */
    put32(p + 5, unix_time);
}

/* The fields local and central headers share, from "version needed" to "extra length". */
static void put_common(unsigned char *p, const struct entry *e)
{
    put16(p, VERSION);
    put16(p + 2, FLAG_UTF8);
    put16(p + 4, e->method);
    put16(p + 6, e->dos_time);
    put16(p + 8, e->dos_date);
    put32(p + 10, e->crc);
    put32(p + 14, (uint32_t)e->csize);
    put32(p + 18, (uint32_t)e->size);
    put16(p + 22, (unsigned)e->name_len);
    put16(p + 24, EXTRA_LEN);
}

/* Writes the local header, the data and records the central header. */
static int write_entry(struct zip *z, const struct entry *e, const void *data)
{
    uint64_t entry_bytes = LOCAL_LEN + e->name_len + EXTRA_LEN + e->csize;
    uint64_t central_bytes = z->central.len + CENTRAL_LEN + e->name_len + EXTRA_LEN;
    if (z->entries >= ZIP_MAX_ENTRIES ||
        z->offset + entry_bytes + central_bytes + END_LEN > ZIP_MAX_BYTES)
        return -EFBIG;

    unsigned char c[CENTRAL_LEN + EXTRA_LEN];
    put32(c, SIG_CENTRAL);
    put16(c + 4, MADE_BY);
    put_common(c + 6, e);
    put16(c + 32, 0); /* comment length */
    put16(c + 34, 0); /* disk number */
    put16(c + 36, 0); /* internal attributes */
    uint32_t mode = e->folder ? 040755u : 0100644u;
    put32(c + 38, (mode << 16) | (e->folder ? DOS_DIR : 0));
    put32(c + 42, (uint32_t)z->offset);
    put_extra(c + CENTRAL_LEN, e->unix_time);
    size_t mark = z->central.len;
    if (buf_append(&z->central, c, CENTRAL_LEN) < 0 ||
        buf_append(&z->central, e->name, e->name_len) < 0 ||
        buf_append(&z->central, c + CENTRAL_LEN, EXTRA_LEN) < 0) {
        z->central.len = mark;
        return -ENOMEM;
    }

    unsigned char l[LOCAL_LEN + EXTRA_LEN];
    put32(l, SIG_LOCAL);
    put_common(l + 4, e);
    put_extra(l + LOCAL_LEN, e->unix_time);
    int rc = emit(z, l, LOCAL_LEN);
    if (rc == 0)
        rc = emit(z, e->name, e->name_len);
    if (rc == 0)
        rc = emit(z, l + LOCAL_LEN, EXTRA_LEN);
    if (rc == 0)
        rc = emit(z, data, (size_t)e->csize);
    if (rc == 0)
        z->entries++;
    return rc;
}

static int check(struct zip *z, const char *name, size_t *ret_len)
{
    if (z->finished)
        return -EINVAL;
    if (z->failed)
        return z->failed;
    size_t n = strlen(name);
    if (path_check(name, n, NULL) < 0)
        return -EINVAL;
    *ret_len = n;
    return 0;
}

/* Deflates data into z->packed; returns its size, or len (or more) when storing is smaller. */
static int deflate_into(struct zip *z, const void *data, size_t len, size_t *ret)
{
    if (!z->zs_ready) {
        if (deflateInit2(&z->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK)
            return -ENOMEM;
        z->zs_ready = true;
    } else if (deflateReset(&z->zs) != Z_OK) {
        return -EIO;
    }
    size_t bound = deflateBound(&z->zs, (uLong)len);
    if (bound > z->packed_cap) {
        unsigned char *p = realloc(z->packed, bound);
        if (!p)
            return -ENOMEM;
        z->packed = p;
        z->packed_cap = bound;
    }
    z->zs.next_in = (Bytef *)(uintptr_t)data;
    z->zs.avail_in = (uInt)len;
    z->zs.next_out = z->packed;
    z->zs.avail_out = (uInt)bound;
    if (deflate(&z->zs, Z_FINISH) != Z_STREAM_END)
        return -EIO;
    *ret = bound - z->zs.avail_out;
    return 0;
}

int zip_add_file(struct zip *z, const char *name, const void *data, size_t len, int64_t mtime_ms)
{
    struct entry e = {.name = name, .size = len};
    int rc = check(z, name, &e.name_len);
    if (rc < 0)
        return rc;
    if (len > ZIP_MAX_BYTES)
        return -EFBIG;
    set_time(&e, mtime_ms);
    e.crc = (uint32_t)crc32_z(0, (const Bytef *)data, len);
    size_t packed = len;
    if (len && (rc = deflate_into(z, data, len, &packed)) < 0)
        return rc;
    const void *body = data;
    e.method = METHOD_STORE;
    e.csize = len;
    if (packed < len) {
        body = z->packed;
        e.method = METHOD_DEFLATE;
        e.csize = packed;
    }
    return write_entry(z, &e, body);
}

int zip_add_folder(struct zip *z, const char *name, int64_t mtime_ms)
{
    struct entry e = {.folder = true, .method = METHOD_STORE};
    size_t n = 0;
    int rc = check(z, name, &n);
    if (rc < 0)
        return rc;
    char slashed[PATH_BUF_SIZE + 1];
    memcpy(slashed, name, n);
    slashed[n] = '/';
    slashed[n + 1] = '\0';
    e.name = slashed;
    e.name_len = n + 1;
    set_time(&e, mtime_ms);
    return write_entry(z, &e, "");
}

int zip_finish(struct zip *z)
{
    if (z->finished)
        return -EINVAL;
    if (z->failed)
        return z->failed;
    uint64_t cd_offset = z->offset;
    unsigned char end[END_LEN];
    put32(end, SIG_END);
    put16(end + 4, 0); /* this disk */
    put16(end + 6, 0); /* the disk with the central directory */
    put16(end + 8, z->entries);
    put16(end + 10, z->entries);
    put32(end + 12, (uint32_t)z->central.len);
    put32(end + 16, (uint32_t)cd_offset);
    put16(end + 20, 0); /* comment length */
    int rc = emit(z, z->central.data, z->central.len);
    if (rc == 0)
        rc = emit(z, end, END_LEN);
    z->finished = true;
    return rc;
}

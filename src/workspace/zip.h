/*
 * zip: a streaming zip writer (PKWARE APPNOTE 6.3.x) for downloading a workspace, a folder
 * or a submission's snapshot. Entries go in one at a time; archive bytes come out through
 * the caller's write function as soon as each entry is done; the writer keeps only the
 * central directory (about 60 bytes plus the name per entry), never the archive.
 *
 * Each file's bytes are given whole (a workspace file is at most --max-file-bytes), so its
 * CRC-32 and sizes are known before its local header is written: no data descriptors,
 * which every unzip (streaming ones too) reads. A file is deflated (zlib, raw deflate)
 * when that makes it smaller, else stored.
 *
 * Names are workspace paths (workspace/path.h): relative, '/'-separated, strict UTF-8, no
 * "." or ".." segment, no backslash, no control characters, so no entry can escape the
 * folder it is unpacked into (the "zip slip"); a name breaking the rules is refused with
 * -EINVAL. Every entry carries the UTF-8 flag (bit 11), a Unix mode (0644 files, 0755
 * folders) and its modification time as a DOS time in UTC plus the exact Unix time (the
 * 0x5455 extra field). Folders are entries whose name ends in '/'.
 *
 * No Zip64: an archive is limited to ZIP_MAX_ENTRIES entries and ZIP_MAX_BYTES bytes;
 * an entry that would pass either is refused with -EFBIG before anything of it is written.
 *
 * The write function returns 0 or -errno; a failure is returned by the call that wrote,
 * and the archive is then unusable (only zip_free is allowed). Not thread-safe: one
 * archive, one thread. The caller owns the writer and frees it with zip_free.
 */
#ifndef PYROOM_WORKSPACE_ZIP_H
#define PYROOM_WORKSPACE_ZIP_H

#include <stddef.h>
#include <stdint.h>

#define ZIP_MAX_ENTRIES 65535u      /* entries in one archive (16-bit counts) */
#define ZIP_MAX_BYTES   0xFFFF0000u /* bytes of one archive (32-bit offsets, with room) */

/* Writes len bytes of archive; 0 or -errno. */
typedef int (*zip_write_fn)(void *ctx, const void *data, size_t len);

struct zip;

int zip_new(zip_write_fn write, void *ctx, struct zip **ret);
/* Adds a file: name a valid path, data the whole content, mtime in ms since the epoch. */
int zip_add_file(struct zip *z, const char *name, const void *data, size_t len, int64_t mtime_ms);
/* Adds a folder entry ("name/"). */
int zip_add_folder(struct zip *z, const char *name, int64_t mtime_ms);
/* Writes the central directory and the end record. Nothing may be added after it. */
int zip_finish(struct zip *z);
/* Bytes of archive written so far. */
uint64_t zip_written(const struct zip *z);
/* Entries added so far. */
unsigned zip_entries(const struct zip *z);
/* Accepts NULL. */
void zip_free(struct zip *z);

#endif

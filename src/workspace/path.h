/*
 * path: the rules for a file path inside a workspace, the one place that decides whether
 * a user-given name may reach the store or a sandbox directory.
 *
 * A valid path is relative and '/'-separated: "main.py", "src/util/io.py". It is strict
 * UTF-8 (no overlongs, surrogates or invalid sequences); it has no leading '/', no empty
 * segment (so no "//" and no trailing '/'), no "." or ".." segment, no backslash, no
 * control character (C0, DEL, C1) and no bidirectional-override character (U+202A..U+202E,
 * U+2066..U+2069: they make "gpj.exe" read as "exe.jpg"); it is 1..PATH_LEN_MAX bytes
 * and each segment 1..PATH_SEGMENT_MAX bytes. Paths are compared as bytes: no case
 * folding and no Unicode normalisation, so what is stored is what the user sent.
 *
 * The empty string "" names the workspace root; path_check refuses it (a user never names
 * the root), while path_parent, path_join and path_is_under accept it as the root folder.
 *
 * Every function is pure (no allocation, no I/O) and thread-safe. Rejections return
 * -EINVAL with *ret_reason pointing to a static, human sentence for the API's 400 body
 * (e.g. "path contains a '..' segment"); ret_reason may be NULL. Output buffers are the
 * caller's: PATH_BUF_SIZE bytes always suffice, and a smaller one gives -ENOBUFS.
 */
#ifndef PYROOM_WORKSPACE_PATH_H
#define PYROOM_WORKSPACE_PATH_H

#include <stdbool.h>
#include <stddef.h>

#define PATH_LEN_MAX     512 /* bytes in a whole path */
#define PATH_SEGMENT_MAX 255 /* bytes in one segment (a file or folder name) */
#define PATH_BUF_SIZE    (PATH_LEN_MAX + 1)

/* Validates the len bytes at p (need not be NUL-terminated; an embedded NUL is refused). */
int path_check(const char *p, size_t len, const char **ret_reason);

/* Percent-decodes a path taken raw from a URL ("a%20b/c.py"), refusing malformed escapes
 * ("%", "%4", "%zz") and an encoded NUL, then applies path_check to the result, so
 * "%2e%2e/x" and "a%2f..%2fb" are refused like "../x". '+' is not a space here (that is a
 * query-string rule) and "%2F" decodes to '/' (a separator, checked like any other).
 * On success writes the NUL-terminated path to ret (size bytes). */
int path_from_url(const char *enc, size_t len, char *ret, size_t size, const char **ret_reason);

/* Percent-encodes a valid path for a URL: every byte except A-Z a-z 0-9 - . _ ~ and '/'
 * becomes %XX, so path_from_url(path_to_url(p)) == p. Needs 3 * strlen(path) + 1 bytes;
 * -ENOBUFS otherwise, -EINVAL if path is not valid. */
int path_to_url(const char *path, char *ret, size_t size);

/* Writes the folder holding path ("a/b/c" -> "a/b", "a" -> "" the root) to ret.
 * -EINVAL for the root itself, which has no parent. path must be valid or "". */
int path_parent(const char *path, char *ret, size_t size);

/* Returns the last segment of path (a pointer into path; "a/b/c" -> "c"). */
const char *path_basename(const char *path);

/* Joins folder ("" for the root) and name (one or more segments) into ret and validates
 * the result, so a name of ".." or "x/../y", or a result longer than PATH_LEN_MAX, is
 * refused with a reason. */
int path_join(const char *folder, const char *name, char *ret, size_t size,
              const char **ret_reason);

/* True when child lies strictly inside folder: "a/b" is under "a", "a" is not under "a",
 * "ab" is not under "a", and every non-empty path is under the root "". For "the folder
 * or anything in it" test strcmp(child, folder) == 0 as well. */
bool path_is_under(const char *child, const char *folder);

#endif

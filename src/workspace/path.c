/*
 * path: workspace path rules; see path.h.
 *
 * The check walks the bytes once, segment by segment, decoding each code point with the
 * strict decoder from base/utf8 and refusing on the first rule broken, so the reason
 * names the first problem a user would see reading left to right.
 */
#include "workspace/path.h"

#include "base/pct.h"
#include "base/utf8.h"

#include <errno.h>
#include <string.h>

static int reject(const char **ret_reason, const char *reason)
{
    if (ret_reason)
        *ret_reason = reason;
    return -EINVAL;
}

/* Characters that are valid UTF-8 but never belong in a file name. */
static const char *bad_code_point(unsigned cp)
{
    if (cp == 0)
        return "path contains a NUL character";
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
        return "path contains a control character";
    if (cp == '\\')
        return "path contains a backslash";
    /* Bidirectional embeddings, overrides and isolates: they reorder how a name is
     * displayed ("Trojan Source", CVE-2021-42574), so a listing could lie. */
    if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
        return "path contains a bidirectional control character";
    return NULL;
}

int path_check(const char *p, size_t len, const char **ret_reason)
{
    if (!p || len == 0)
        return reject(ret_reason, "path is empty");
    if (len > PATH_LEN_MAX)
        return reject(ret_reason, "path is longer than 512 bytes");
    if (p[0] == '/')
        return reject(ret_reason, "path must be relative (no leading '/')");

    size_t seg = 0; /* start of the current segment */
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == '/') {
            size_t n = i - seg;
            if (n == 0)
                return reject(ret_reason, i == len ? "path ends with '/'"
                                                   : "path contains an empty segment ('//')");
            if (n == 1 && p[seg] == '.')
                return reject(ret_reason, "path contains a '.' segment");
            if (n == 2 && p[seg] == '.' && p[seg + 1] == '.')
                return reject(ret_reason, "path contains a '..' segment");
            if (n > PATH_SEGMENT_MAX)
                return reject(ret_reason, "path has a name longer than 255 bytes");
            seg = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            continue; /* printable ASCII: the common case, no decoding needed */
        uint32_t cp;
        int k = utf8_decode(p + i, len - i, &cp);
        if (k < 0)
            return reject(ret_reason, "path is not valid UTF-8");
        const char *why = bad_code_point(cp);
        if (why)
            return reject(ret_reason, why);
        i += (size_t)k - 1;
    }
    return 0;
}

int path_from_url(const char *enc, size_t len, char *ret, size_t size, const char **ret_reason)
{
    char out[PATH_BUF_SIZE];
    size_t n = 0;

    if (!enc)
        return reject(ret_reason, "path is empty");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)enc[i];
        if (c == '%') {
            int b = pct_decode_escape(enc + i, len - i);
            if (b < 0)
                return reject(ret_reason, "path contains a malformed percent-escape");
            c = (unsigned char)b;
            if (c == 0)
                return reject(ret_reason, "path contains a NUL character");
            i += 2;
        } else if (c == 0) {
            return reject(ret_reason, "path contains a NUL character");
        }
        if (n == PATH_LEN_MAX)
            return reject(ret_reason, "path is longer than 512 bytes");
        out[n++] = (char)c;
    }
    int r = path_check(out, n, ret_reason);
    if (r < 0)
        return r;
    if (size < n + 1)
        return -ENOBUFS;
    memcpy(ret, out, n);
    ret[n] = '\0';
    return 0;
}

int path_to_url(const char *path, char *ret, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(path), n = 0;

    if (path_check(path, len, NULL) < 0)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '/' || pct_unreserved(c)) {
            if (n + 1 >= size)
                return -ENOBUFS;
            ret[n++] = (char)c;
        } else {
            if (n + 3 >= size)
                return -ENOBUFS;
            ret[n++] = '%';
            ret[n++] = hex[c >> 4];
            ret[n++] = hex[c & 15];
        }
    }
    if (n >= size)
        return -ENOBUFS;
    ret[n] = '\0';
    return 0;
}

int path_parent(const char *path, char *ret, size_t size)
{
    if (!path || !*path)
        return -EINVAL;
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (size < n + 1)
        return -ENOBUFS;
    memcpy(ret, path, n);
    ret[n] = '\0';
    return 0;
}

const char *path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int path_join(const char *folder, const char *name, char *ret, size_t size, const char **ret_reason)
{
    size_t fl = strlen(folder), nl = strlen(name);
    char out[PATH_BUF_SIZE];
    size_t n = fl ? fl + 1 + nl : nl;

    if (fl && path_check(folder, fl, ret_reason) < 0)
        return -EINVAL;
    if (nl == 0)
        return reject(ret_reason, "name is empty");
    if (n > PATH_LEN_MAX)
        return reject(ret_reason, "path is longer than 512 bytes");
    if (fl) {
        memcpy(out, folder, fl);
        out[fl] = '/';
        memcpy(out + fl + 1, name, nl);
    } else {
        memcpy(out, name, nl);
    }
    int r = path_check(out, n, ret_reason);
    if (r < 0)
        return r;
    if (size < n + 1)
        return -ENOBUFS;
    memcpy(ret, out, n);
    ret[n] = '\0';
    return 0;
}

bool path_is_under(const char *child, const char *folder)
{
    size_t fl = strlen(folder);
    if (fl == 0)
        return child[0] != '\0';
    return strncmp(child, folder, fl) == 0 && child[fl] == '/' && child[fl + 1] != '\0';
}

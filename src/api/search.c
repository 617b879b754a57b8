/*
 * search: GET /api/workspaces/{id}/search?q=TEXT[&case=1] finds the lines of the
 * workspace's text files that contain TEXT (ASCII letters case-insensitive unless case=1),
 * for the page's "search across files" (Ctrl+Shift+F). Files that are not UTF-8 text (or
 * hold a NUL byte) are skipped. At most --search-max-matches lines are returned, in path
 * then line order, with "truncated": true when there were more; each line's text is cut
 * to TEXT_MAX bytes at a character boundary. The files come from the store, the same
 * bytes the files API serves; the work is bounded by --max-workspace-bytes.
 */
#include "api/internal.h"
#include "base/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUERY_MAX 200 /* bytes in q */
#define TEXT_MAX  240 /* bytes of a matching line returned */

/* The first occurrence of needle (n bytes) in [s, s+len), or NULL. */
static const char *find(const char *s, size_t len, const char *needle, size_t n, bool fold)
{
    if (n > len)
        return NULL;
    for (size_t i = 0; i + n <= len; i++)
        if (fold ? strncasecmp(s + i, needle, n) == 0 : memcmp(s + i, needle, n) == 0)
            return s + i;
    return NULL;
}

/* len cut down to at most TEXT_MAX bytes, at a UTF-8 character boundary. */
static size_t cut(const char *s, size_t len)
{
    if (len <= TEXT_MAX)
        return len;
    len = TEXT_MAX;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    return len;
}

static void h_search(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    struct store_file_list *l = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    const char *q = http_req_query(req, "q");
    const char *cs = http_req_query(req, "case");
    size_t qn = q ? strlen(q) : 0;
    if (qn == 0 || qn > QUERY_MAX || !utf8_valid(q, qn) || memchr(q, '\n', qn)) {
        api_reply_error(req, invalid_field,
                        "q is the text to find: 1 to %d bytes of UTF-8 on one line", QUERY_MAX);
        goto out;
    }
    bool fold = !(cs && strcmp(cs, "1") == 0);
    int r = store_file_list(api->store, w->id, true, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "workspace");
        goto out;
    }
    uint64_t max = api->cfg->search_max_matches;
    json_t *items = json_array();
    size_t files = 0, found = 0;
    bool truncated = false;
    for (size_t i = 0; i < l->n && !truncated; i++) {
        const struct store_file *f = &l->items[i];
        const char *text = f->content;
        size_t len = (size_t)f->size;
        if (f->kind != STORE_KIND_FILE || !text || memchr(text, '\0', len) ||
            !utf8_valid(text, len))
            continue;
        files++;
        size_t line = 1;
        for (const char *p = text, *end = text + len; p < end; line++) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *e = nl ? nl : end;
            size_t ll = (size_t)(e - p);
            if (ll && p[ll - 1] == '\r')
                ll--;
            if (find(p, ll, q, qn, fold)) {
                if (found == max) {
                    truncated = true;
                    break;
                }
                found++;
                json_array_append_new(items, json_pack("{s:s,s:I,s:s%}", "path", f->path, "line",
                                                       (json_int_t)line, "text", p, cut(p, ll)));
            }
            p = nl ? nl + 1 : end;
        }
    }
    http_reply_json(req, 200,
                    json_pack("{s:o,s:b,s:I}", "items", items, "truncated", truncated,
                              "files_searched", (json_int_t)files));
out:
    store_file_list_free(l);
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_search_routes(struct router *r)
{
    router_add(r, "GET", "/api/workspaces/{}/search", h_search);
}

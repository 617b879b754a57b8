/* lang_answer: the check of a language worker's answers (lang_answer, see lang.h). A worker
 * read hostile files, so what it says is rebuilt from checked fields only. */
#include "exec/lang.h"
#include "workspace/path.h"

#include <string.h>

#define MAX_ITEMS 500 /* items kept from a worker's answer */

/* ---- answers, checked and rebuilt ----------------------------------------------------- */

static json_t *str_or(json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_copy(v) : json_string(dflt);
}

/* A non-negative integer member below max, or -1. */
static json_int_t int_in(json_t *o, const char *key, json_int_t max)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return -1;
    return json_integer_value(v);
}

static json_t *rebuild_complete(json_t *ok)
{
    json_t *items = json_array(), *in = json_object_get(ok, "items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (i >= MAX_ITEMS)
            break;
        if (!json_is_object(it) || !json_is_string(json_object_get(it, "label")))
            continue;
        json_array_append_new(
            items, json_pack("{s:o,s:o,s:o,s:o}", "label", str_or(it, "label", ""), "kind",
                             str_or(it, "kind", ""), "detail", str_or(it, "detail", ""), "insert",
                             str_or(it, "insert", "")));
    }
    return json_pack("{s:o}", "items", items);
}

static json_t *rebuild_signature(json_t *ok)
{
    json_t *sigs = json_array(), *in = json_object_get(ok, "signatures");
    size_t i, j;
    json_t *s, *p;
    json_array_foreach(in, i, s)
    {
        if (i >= 16)
            break;
        if (!json_is_object(s) || !json_is_string(json_object_get(s, "label")))
            continue;
        json_t *params = json_array();
        json_array_foreach(json_object_get(s, "params"), j, p)
        {
            if (j < 64 && json_is_string(p))
                json_array_append(params, p);
        }
        json_int_t active = int_in(s, "active_param", 1000);
        json_array_append_new(sigs, json_pack("{s:o,s:o,s:o,s:o}", "label", str_or(s, "label", ""),
                                              "params", params, "active_param",
                                              active < 0 ? json_null() : json_integer(active),
                                              "doc", str_or(s, "doc", "")));
    }
    return json_pack("{s:o}", "signatures", sigs);
}

static json_t *rebuild_hover(json_t *ok)
{
    return json_pack("{s:o}", "markdown", str_or(ok, "markdown", ""));
}

static json_t *rebuild_definition(json_t *ok)
{
    json_t *items = json_array(), *in = json_object_get(ok, "items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (i >= 16)
            break;
        json_int_t line = int_in(it, "line", 1 << 30), col = int_in(it, "column", 1 << 30);
        if (!json_is_object(it) || line < 1 || col < 0)
            continue;
        json_t *path = json_object_get(it, "path");
        const char *reason;
        if (json_is_string(path)) {
            /* A workspace file: a path by our rules, or nothing. */
            if (path_check(json_string_value(path), json_string_length(path), &reason) < 0)
                continue;
            json_array_append_new(
                items, json_pack("{s:O,s:I,s:I}", "path", path, "line", line, "column", col));
        } else if (json_is_string(json_object_get(it, "text"))) {
            /* A library's source, shown read-only. */
            json_array_append_new(items, json_pack("{s:n,s:o,s:I,s:I,s:o}", "path", "module",
                                                   str_or(it, "module", ""), "line", line, "column",
                                                   col, "text", str_or(it, "text", "")));
        }
    }
    return json_pack("{s:o}", "items", items);
}

static json_t *rebuild_diagnostics(json_t *ok)
{
    json_t *items = json_array(), *in = json_object_get(ok, "items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (i >= MAX_ITEMS)
            break;
        json_int_t line = int_in(it, "line", 1 << 30), col = int_in(it, "column", 1 << 30);
        json_int_t eline = int_in(it, "end_line", 1 << 30),
                   ecol = int_in(it, "end_column", 1 << 30);
        const char *sev = json_string_value(json_object_get(it, "severity"));
        if (line < 1 || col < 0 || eline < line || ecol < 0 || !sev ||
            (strcmp(sev, "error") != 0 && strcmp(sev, "warning") != 0))
            continue;
        json_array_append_new(
            items, json_pack("{s:I,s:I,s:I,s:I,s:s,s:o,s:o}", "line", line, "column", col,
                             "end_line", eline, "end_column", ecol, "severity", sev, "message",
                             str_or(it, "message", ""), "code", str_or(it, "code", "")));
    }
    return json_pack("{s:o}", "items", items);
}

static json_t *rebuild_format(json_t *ok)
{
    json_t *src = json_object_get(ok, "source");
    return json_is_string(src) ? json_pack("{s:O}", "source", src) : NULL;
}

json_t *lang_answer(const char *op, json_t *ok)
{
    if (!json_is_object(ok))
        return NULL;
    if (strcmp(op, "complete") == 0)
        return rebuild_complete(ok);
    if (strcmp(op, "signature") == 0)
        return rebuild_signature(ok);
    if (strcmp(op, "hover") == 0)
        return rebuild_hover(ok);
    if (strcmp(op, "definition") == 0)
        return rebuild_definition(ok);
    if (strcmp(op, "diagnostics") == 0)
        return rebuild_diagnostics(ok);
    if (strcmp(op, "format") == 0)
        return rebuild_format(ok);
    return NULL;
}

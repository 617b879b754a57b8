/*
 * fuzz_lang: the check of a language worker's answers (exec/lang: lang_answer). A worker
 * reads hostile files, so what it prints is untrusted. The first byte picks the op, the rest
 * is the worker's JSON line. Invariants on every input:
 *  - the result is NULL or an object with exactly the documented members;
 *  - every definition path passes the workspace path rules, every line is >= 1, every
 *    column >= 0, every diagnostic's severity is "error" or "warning";
 *  - no more items than the caps.
 */
#include "exec/lang.h"
#include "workspace/path.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = {"complete",    "signature", "hover", "definition",
                                  "diagnostics", "format",    "nope"};

static void need(bool ok)
{
    if (!ok)
        abort();
}

static void check(const char *op, json_t *out)
{
    size_t i;
    json_t *it;
    need(json_is_object(out));
    if (strcmp(op, "definition") == 0) {
        need(json_array_size(json_object_get(out, "items")) <= 16);
        json_array_foreach(json_object_get(out, "items"), i, it)
        {
            json_t *p = json_object_get(it, "path");
            need(json_integer_value(json_object_get(it, "line")) >= 1);
            need(json_integer_value(json_object_get(it, "column")) >= 0);
            if (json_is_string(p))
                need(path_check(json_string_value(p), json_string_length(p), NULL) == 0);
            else
                need(json_is_null(p) && json_is_string(json_object_get(it, "text")));
        }
    } else if (strcmp(op, "diagnostics") == 0) {
        json_array_foreach(json_object_get(out, "items"), i, it)
        {
            const char *sev = json_string_value(json_object_get(it, "severity"));
            need(sev && (strcmp(sev, "error") == 0 || strcmp(sev, "warning") == 0));
            need(json_integer_value(json_object_get(it, "line")) >= 1);
            need(json_integer_value(json_object_get(it, "end_line")) >=
                 json_integer_value(json_object_get(it, "line")));
        }
    } else if (strcmp(op, "complete") == 0) {
        need(json_array_size(json_object_get(out, "items")) <= 500);
        json_array_foreach(json_object_get(out, "items"), i, it)
        {
            need(json_object_size(it) == 4);
            need(json_is_string(json_object_get(it, "label")));
            need(json_is_string(json_object_get(it, "insert")));
        }
    } else if (strcmp(op, "hover") == 0) {
        need(json_is_string(json_object_get(out, "markdown")));
    } else if (strcmp(op, "format") == 0) {
        need(json_is_string(json_object_get(out, "source")));
    }
    char *text = json_dumps(out, JSON_COMPACT);
    need(text != NULL);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *op = ops[data[0] % (sizeof(ops) / sizeof(ops[0]))];
    json_t *in = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    json_t *out = lang_answer(op, in);
    if (out)
        check(op, out);
    if (strcmp(op, "nope") == 0 || !json_is_object(in))
        need(out == NULL);
    json_decref(out);
    json_decref(in);
    return 0;
}

/* Unit tests for exec/lang's check of worker answers (lang_answer): what a worker that read
 * hostile files could print, and what the API may pass on. The workers themselves are
 * tested end to end in tests/api/test_lang.py. */
#include "exec/lang.h"

#include <criterion/criterion.h>
#include <string.h>

static json_t *answer(const char *op, const char *text)
{
    json_error_t e;
    json_t *in = json_loads(text, 0, &e);
    cr_assert_not_null(in, "bad test JSON: %s", e.text);
    json_t *out = lang_answer(op, in);
    json_decref(in);
    return out;
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

Test(lang, completion_items_keep_only_their_four_strings)
{
    char *s =
        dump(answer("complete", "{\"items\":[{\"label\":\"linspace\",\"kind\":\"function\","
                                "\"detail\":\"def linspace\",\"insert\":\"space\","
                                "\"evil\":\"<script>\"},{\"label\":3},\"x\",{\"label\":\"y\"}]}"));
    cr_assert_str_eq(s, "{\"items\":[{\"detail\":\"def linspace\",\"insert\":\"space\",\"kind\":"
                        "\"function\",\"label\":\"linspace\"},{\"detail\":\"\",\"insert\":\"\","
                        "\"kind\":\"\",\"label\":\"y\"}]}");
    free(s);
}

Test(lang, definitions_name_workspace_paths_only)
{
    char *s = dump(answer(
        "definition", "{\"items\":[{\"path\":\"util.py\",\"line\":1,\"column\":4},"
                      "{\"path\":\"../../etc/shadow\",\"line\":1,\"column\":0},"
                      "{\"path\":\"/etc/passwd\",\"line\":1,\"column\":0},"
                      "{\"path\":\"a.py\",\"line\":0,\"column\":0},"
                      "{\"path\":null,\"module\":\"json\",\"line\":2,\"column\":0,\"text\":\"t\"},"
                      "{\"path\":null,\"line\":2,\"column\":0}]}"));
    cr_assert_str_eq(s, "{\"items\":[{\"column\":4,\"line\":1,\"path\":\"util.py\"},{\"column\":0,"
                        "\"line\":2,\"module\":\"json\",\"path\":null,\"text\":\"t\"}]}");
    free(s);
}

Test(lang, diagnostics_need_sane_ranges_and_known_severities)
{
    char *s = dump(answer("diagnostics",
                          "{\"items\":[{\"line\":4,\"column\":11,\"end_line\":4,\"end_column\":16,"
                          "\"severity\":\"error\",\"message\":\"m\",\"code\":\"UndefinedName\"},"
                          "{\"line\":5,\"column\":0,\"end_line\":4,\"end_column\":1,"
                          "\"severity\":\"error\"},"
                          "{\"line\":1,\"column\":-1,\"end_line\":1,\"end_column\":1,"
                          "\"severity\":\"warning\"},"
                          "{\"line\":1,\"column\":0,\"end_line\":1,\"end_column\":1,"
                          "\"severity\":\"fatal\"}]}"));
    cr_assert_str_eq(s, "{\"items\":[{\"code\":\"UndefinedName\",\"column\":11,\"end_column\":16,"
                        "\"end_line\":4,\"line\":4,\"message\":\"m\",\"severity\":\"error\"}]}");
    free(s);
}

Test(lang, signatures_hover_and_format)
{
    char *s = dump(answer("signature", "{\"signatures\":[{\"label\":\"f(a)\",\"params\":[\"a\",1],"
                                       "\"active_param\":-3,\"doc\":\"d\"}]}"));
    cr_assert_str_eq(s, "{\"signatures\":[{\"active_param\":null,\"doc\":\"d\",\"label\":\"f(a)\","
                        "\"params\":[\"a\"]}]}");
    free(s);
    s = dump(answer("hover", "{\"markdown\":7}"));
    cr_assert_str_eq(s, "{\"markdown\":\"\"}");
    free(s);
    cr_assert_null(answer("format", "{\"source\":null}"));
    cr_assert_null(answer("unknown", "{}"));
    cr_assert_null(answer("complete", "[]"));
}

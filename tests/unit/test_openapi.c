/* Unit tests for api/openapi: the embedded OpenAPI document against the router of a real
 * api (every route documented, every documented route routed) and against the error
 * table of api/errors.h. */
#include "api/api.h"
#include "api/errors.h"
#include "base/settings.h"
#include "store/store.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct routes {
    char items[128][160];
    size_t n;
};

static void collect(void *ctx, const char *method, const char *pattern)
{
    struct routes *r = ctx;
    cr_assert_lt(r->n, 128);
    snprintf(r->items[r->n++], sizeof(r->items[0]), "%s %s", method, pattern);
}

static bool has(const struct routes *r, const char *s)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i], s) == 0)
            return true;
    return false;
}

/* "/api/workspaces/{id}/files/{path}" -> "/api/workspaces/{}/files/{*}" */
static void to_pattern(const char *path, char *out, size_t len)
{
    size_t o = 0;
    for (const char *p = path; *p && o + 4 < len;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            cr_assert(end, "unclosed template in %s", path);
            bool rest = (size_t)(end - p - 1) == 4 && strncmp(p + 1, "path", 4) == 0;
            memcpy(out + o, rest ? "{*}" : "{}", rest ? 3 : 2);
            o += rest ? 3 : 2;
            p = end + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static struct api *api;
static struct store *st;
static struct settings cfg;
static char dir[] = "/tmp/pyroom-openapi-XXXXXX";

static void setup(void)
{
    char errbuf[256], db[300], data[300];
    cr_assert(mkdtemp(dir));
    cr_assert_eq(settings_init(&cfg, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
    snprintf(db, sizeof(db), "sqlite:%s/t.db", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    cr_assert_eq(settings_set(&cfg, "data-dir", data, errbuf, sizeof(errbuf)), 0);
    cr_assert_eq(settings_set(&cfg, "web-dir", dir, errbuf, sizeof(errbuf)), 0);
    struct err e = {0};
    cr_assert_eq(store_open(db, NULL, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(store_migrate(st, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(api_new(&cfg, st, NULL, &api, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
    api_stop_live(api);
    api_free(api);
    store_close(st);
    settings_done(&cfg);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(openapi, .init = setup, .fini = teardown);

static json_t *document(void)
{
    size_t len;
    const char *text = api_openapi_json(&len);
    cr_assert_eq(strlen(text), len, "the document holds a NUL byte");
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    cr_assert(doc, "the embedded document is not JSON: %s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    return doc;
}

Test(openapi, every_route_is_documented_and_every_path_is_routed)
{
    struct routes routed = {0}, documented = {0};
    api_routes_each(api, collect, &routed);
    cr_assert_gt(routed.n, 40);
    json_t *doc = document();
    const char *path, *method;
    json_t *item, *op;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        char pattern[200];
        to_pattern(path, pattern, sizeof(pattern));
        json_object_foreach(item, method, op)
        {
            char upper[16];
            size_t i = 0;
            for (; method[i] && i < sizeof(upper) - 1; i++)
                upper[i] = (char)(method[i] - 'a' + 'A');
            upper[i] = '\0';
            char key[240];
            snprintf(key, sizeof(key), "%s %s", upper, pattern);
            collect(&documented, upper, pattern);
            cr_expect(has(&routed, key), "documented but not routed: %s", key);
        }
    }
    for (size_t i = 0; i < routed.n; i++)
        cr_expect(has(&documented, routed.items[i]), "routed but not documented: %s",
                  routed.items[i]);
    json_decref(doc);
}

Test(openapi, error_codes_are_the_table)
{
    json_t *doc = document();
    json_t *codes = json_object_get(doc, "x-error-codes");
    cr_assert_eq(json_array_size(codes), API_ERR__COUNT);
    for (size_t i = 0; i < API_ERR__COUNT; i++) {
        json_t *c = json_array_get(codes, i);
        cr_expect_str_eq(json_string_value(json_object_get(c, "code")),
                         api_error_name((enum api_error)i));
        cr_expect_eq(json_integer_value(json_object_get(c, "status")),
                     api_error_status((enum api_error)i));
    }
    /* every error answer of every operation names codes of the table with its status */
    const char *path, *method, *status;
    json_t *item, *op, *resp;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        json_object_foreach(item, method, op)
        {
            json_object_foreach(json_object_get(op, "responses"), status, resp)
            {
                json_t *schema = json_object_get(
                    json_object_get(
                        json_object_get(json_object_get(resp, "content"), "application/json"),
                        "schema"),
                    "x-codes");
                size_t k;
                json_t *code;
                json_array_foreach(schema, k, code)
                {
                    size_t e = 0;
                    while (e < API_ERR__COUNT &&
                           strcmp(api_error_name((enum api_error)e), json_string_value(code)))
                        e++;
                    cr_assert_lt(e, API_ERR__COUNT, "%s %s: unknown code", method, path);
                    cr_expect_eq(api_error_status((enum api_error)e), atoi(status),
                                 "%s %s: %s is not a %s", method, path, json_string_value(code),
                                 status);
                }
            }
        }
    }
    json_decref(doc);
}

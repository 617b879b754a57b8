/* store: names of the enums the API speaks, the clock and etags. */
#include "store/store.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

static const char *const role_names[] = {"submitter", "reviewer", "admin"};
static const char *const kind_names[] = {"file", "folder"};
static const char *const run_names[] = {"queued", "running",   "ok",    "error",
                                        "limit",  "cancelled", "failed"};
static const char *const sub_names[] = {"pending", "approved", "rejected", "withdrawn"};
static const char *const member_names[] = {"none", "viewer", "editor", "owner"};
static const char *const source_names[] = {"save", "terminal", "run", "restore"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int lookup(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -EINVAL;
}

const char *store_role_name(enum store_role role)
{
    return (unsigned)role < N(role_names) ? role_names[role] : "?";
}

int store_role_parse(const char *name, enum store_role *ret)
{
    int i = lookup(role_names, N(role_names), name);
    if (i < 0)
        return i;
    *ret = (enum store_role)i;
    return 0;
}

const char *store_kind_name(enum store_file_kind kind)
{
    return (unsigned)kind < N(kind_names) ? kind_names[kind] : "?";
}

const char *store_run_status_name(enum store_run_status s)
{
    return (unsigned)s < N(run_names) ? run_names[s] : "?";
}

int store_run_status_parse(const char *name, enum store_run_status *ret)
{
    int i = lookup(run_names, N(run_names), name);
    if (i < 0)
        return i;
    *ret = (enum store_run_status)i;
    return 0;
}

const char *store_sub_status_name(enum store_sub_status s)
{
    return (unsigned)s < N(sub_names) ? sub_names[s] : "?";
}

int store_sub_status_parse(const char *name, enum store_sub_status *ret)
{
    int i = lookup(sub_names, N(sub_names), name);
    if (i < 0)
        return i;
    *ret = (enum store_sub_status)i;
    return 0;
}

const char *store_member_role_name(enum store_member_role role)
{
    return (unsigned)role < N(member_names) ? member_names[role] : "?";
}

int store_member_role_parse(const char *name, enum store_member_role *ret)
{
    int i = lookup(member_names, N(member_names), name);
    if (i < 0)
        return i;
    *ret = (enum store_member_role)i;
    return 0;
}

const char *store_source_name(enum store_source s)
{
    return (unsigned)s < N(source_names) ? source_names[s] : "?";
}

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_etag(const void *data, size_t len, char *etag)
{
    unsigned char h[STORE_ETAG_LEN / 2];
    crypto_generichash(h, sizeof(h), data, len, NULL, 0);
    sodium_bin2hex(etag, STORE_ETAG_LEN + 1, h, sizeof(h));
}

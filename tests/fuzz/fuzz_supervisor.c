/* libFuzzer target: the supervisor's spawn request decoder (the privilege boundary between
 * the server and the process that makes sandboxes). Anything decoded must re-encode to the
 * same bytes, and decode again to the same spec. */
#include "exec/supervisor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int same_list(const char *const *a, const char *const *b)
{
    for (; *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0)
            return 0;
    return !*a && !*b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *argv[SB_MAX_ARGS + 1], *env[SB_MAX_ENV + 1];
    struct sb_spec spec;
    if (sup_decode_spawn(data, size, &spec, argv, env) < 0)
        return 0;
    static char buf[200000];
    size_t len = 0;
    if (sup_encode_spawn(&spec, buf, sizeof(buf), &len) < 0)
        abort(); /* whatever decodes must encode */
    const char *argv2[SB_MAX_ARGS + 1], *env2[SB_MAX_ENV + 1];
    struct sb_spec spec2;
    if (sup_decode_spawn(buf, len, &spec2, argv2, env2) < 0)
        abort();
    if (!same_list(spec.argv, spec2.argv) || !same_list(spec.env, spec2.env) ||
        (spec.cwd == NULL) != (spec2.cwd == NULL) ||
        (spec.cwd && strcmp(spec.cwd, spec2.cwd) != 0) ||
        (spec.workspace == NULL) != (spec2.workspace == NULL) ||
        (spec.workspace && strcmp(spec.workspace, spec2.workspace) != 0) ||
        memcmp(&spec.limits, &spec2.limits, sizeof(spec.limits)) != 0 || spec.pty != spec2.pty ||
        spec.warm != spec2.warm)
        abort();
    return 0;
}

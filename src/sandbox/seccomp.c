/*
 * seccomp.c: the system-call filter as built, and its loading in a sandbox's child. What it
 * denies and why is in seccomp_rules.c; the build compiles those rules with libseccomp
 * (scripts/seccomp-gen.c) into the BPF program embedded here, so no running binary links
 * libseccomp or compiles a filter (tests/unit/test_seccomp.c: the embedded program is the
 * rules' one).
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include PYROOM_SECCOMP_FILTER /* static const struct sock_filter seccomp_code[] */

static const struct sock_fprog prog = {
    .len = (unsigned short)(sizeof(seccomp_code) / sizeof(seccomp_code[0])),
    .filter = (struct sock_filter *)seccomp_code, /* the kernel only reads it */
};

const struct sock_fprog *seccomp_prog(void)
{
    return &prog;
}

/* child */
int seccomp_prog_load(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
        return -errno;
    return 0;
}

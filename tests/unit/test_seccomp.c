/* Unit tests for sandbox/seccomp: the filter built into the binaries is the one the rules
 * (seccomp_rules.c) compile to now, and a process that loads it is refused what they deny. */
#include "base/err.h"
#include "sandbox/internal.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

Test(seccomp, the_built_filter_is_the_rules_compiled_now)
{
    const struct sock_fprog *built = seccomp_prog();
    struct sock_fprog now;
    struct err e = {0};
    cr_assert_eq(seccomp_rules_compile(&now, &e), 0, "%s", e.msg);
    cr_assert_gt(built->len, 50, "a filter of %u instructions", built->len);
    cr_assert_eq(built->len, now.len);
    cr_assert_eq(memcmp(built->filter, now.filter, now.len * sizeof(*now.filter)), 0,
                 "build/gen/seccomp_filter.h is stale: make rebuilds it from seccomp_rules.c");
    free(now.filter);
}

/* In a child: loads the built filter, then each probe's outcome is one bit of the status. */
static int probe_child(void)
{
    if (seccomp_prog_load() < 0)
        return 100;
    int bad = 0;
    errno = 0;
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM)
        bad |= 1;
    errno = 0;
    if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
        bad |= 2;
    errno = 0;
    if (socket(AF_PACKET, SOCK_RAW, 0) != -1 || errno != EAFNOSUPPORT)
        bad |= 4;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        bad |= 8;
    if (getppid() <= 0)
        bad |= 16;
    return bad;
}

Test(seccomp, a_process_with_the_built_filter_is_refused_what_the_rules_deny)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(probe_child());
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 0,
                 "probe bits %d (1 ptrace, 2 clone3, 4 AF_PACKET, 8 AF_UNIX, "
                 "16 getppid; 100: not loaded)",
                 WEXITSTATUS(st));
}

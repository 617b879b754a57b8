/* Unit tests of src/exec/supervisor through supervisor.h: many threads at once. */
#include "exec/supervisor.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ROUNDS 6 /* spawns per thread */

static struct sup *start(void)
{
    struct sup *s = NULL;
    struct err e = {0};
    if (geteuid() != 0)
        cr_skip_test("needs root");
    cr_assert_eq(sup_start(NULL, &s, &e), 0, "%s", e.msg);
    return s;
}

static void close_io(struct sup_proc *p)
{
    int *fds[] = {&p->io.in, &p->io.out, &p->io.err, &p->io.pty};
    for (int i = 0; i < 4; i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
}

struct job {
    struct sup *s;
    int n;
    int ok;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    for (int k = 0; k < ROUNDS; k++) {
        char want[32];
        snprintf(want, sizeof(want), "t%d-%d", j->n, k);
        const char *argv[] = {"sh", "-c", "cat; echo \"$0\"", want, NULL};
        struct sb_spec spec = {.argv = argv};
        sb_limits_default(&spec.limits);
        struct sup_proc *p;
        struct err e = {0};
        if (sup_spawn(j->s, &spec, &p, &e) < 0) {
            fprintf(stderr, "spawn %s: %s\n", want, e.msg);
            return NULL;
        }
        (void)!write(p->io.in, "in:", 3);
        close(p->io.in);
        p->io.in = -1;
        char buf[64] = {0};
        size_t got = 0;
        ssize_t n;
        while ((n = read(p->io.out, buf + got, sizeof(buf) - 1 - got)) > 0)
            got += (size_t)n;
        struct sb_result r;
        char expect[48];
        snprintf(expect, sizeof(expect), "in:%s\n", want);
        int wr = sup_wait(p, &r);
        if (wr == 0 && r.exit_code == 0 && strcmp(buf, expect) == 0)
            j->ok++;
        else
            fprintf(stderr, "%s: wait %d exit %d signal %d out '%s'\n", want, wr, r.exit_code,
                    r.signal, buf);
        close_io(p);
        sup_proc_free(p);
    }
    return NULL;
}

Test(supervisor, spawns_from_many_threads)
{
    struct sup *s = start();
    pthread_t th[8];
    struct job jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (struct job){.s = s, .n = i};
        cr_assert_eq(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(jobs[i].ok, ROUNDS, "thread %d: %d of %d", i, jobs[i].ok, ROUNDS);
    }
    sup_stop(s);
}

struct killer {
    struct sup_proc *p;
    int fd; /* stdout of the sandbox: "ready" once it runs */
};

static void *kill_after_ready(void *arg)
{
    struct killer *k = arg;
    char buf[8];
    (void)!read(k->fd, buf, sizeof(buf));
    sup_kill(k->p, SB_LIMIT_OUTPUT);
    return NULL;
}

Test(supervisor, kill_from_another_thread_while_waiting)
{
    struct sup *s = start();
    const char *argv[] = {"sh", "-c", "echo ready; exec sleep 100", NULL};
    struct sb_spec spec = {.argv = argv};
    sb_limits_default(&spec.limits);
    struct sup_proc *p;
    struct err e = {0};
    cr_assert_eq(sup_spawn(s, &spec, &p, &e), 0, "%s", e.msg);
    struct killer k = {.p = p, .fd = p->io.out};
    pthread_t th;
    pthread_create(&th, NULL, kill_after_ready, &k);
    struct sb_result r;
    cr_assert_eq(sup_wait(p, &r), 0);
    pthread_join(th, NULL);
    cr_assert_eq(r.limit_hit, SB_LIMIT_OUTPUT);
    cr_assert_eq(r.signal, SIGKILL);
    cr_assert(r.killed);
    close_io(p);
    sup_proc_free(p);
    sup_stop(s);
}

Test(supervisor, result_fd_is_pollable_and_errors_come_back)
{
    struct sup *s = start();
    const char *argv[] = {"true", NULL};
    struct sb_spec spec = {.argv = argv, .pty = true};
    sb_limits_default(&spec.limits);
    struct sup_proc *p;
    struct err e = {0};
    cr_assert_eq(sup_spawn(s, &spec, &p, &e), 0, "%s", e.msg);
    cr_assert(p->io.pty >= 0 && p->io.in == -1);
    struct pollfd pfd = {.fd = p->chan, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 30000), 1);
    struct sb_result r;
    cr_assert_eq(sup_result(p, &r), 0);
    cr_assert_eq(r.exit_code, 0);
    close_io(p);
    sup_proc_free(p);

    const char *bad[] = {"/no/such/program", NULL};
    spec.argv = bad;
    cr_assert_eq(sup_spawn(s, &spec, &p, &e), -ENOENT);
    cr_assert(strstr(e.msg, "/no/such/program"), "%s", e.msg);
    sup_stop(s);
}

Test(supervisor, dead_supervisor_is_noticed)
{
    struct sup *s = start();
    const char *argv[] = {"sleep", "100", NULL};
    struct sb_spec spec = {.argv = argv};
    sb_limits_default(&spec.limits);
    struct sup_proc *p;
    struct err e = {0};
    cr_assert_eq(sup_spawn(s, &spec, &p, &e), 0, "%s", e.msg);
    /* find and kill the supervisor: our only child */
    char path[64], buf[64] = {0};
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", getpid(), getpid());
    FILE *f = fopen(path, "r");
    cr_assert(f && fgets(buf, sizeof(buf), f));
    fclose(f);
    kill(atoi(buf), SIGKILL);
    struct pollfd pfd = {.fd = sup_fd(s), .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 30000), 1);
    cr_assert(pfd.revents & (POLLHUP | POLLIN));
    struct sb_result r;
    cr_assert(sup_wait(p, &r) < 0);
    close_io(p);
    sup_proc_free(p);
    cr_assert(sup_spawn(s, &spec, &p, &e) < 0);
    sup_stop(s);
}

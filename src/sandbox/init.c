/*
 * init.c: a sandbox's pid 1 once the program runs (child.c hands over to init_run).
 *
 * It reaps everything until the program exits, reports the program's status over the
 * status pipe and exits, so that the kernel kills whatever is left of the tree.
 *
 * A warm program also tells its own end: our code in it, once its output is flushed and
 * closed, queues SB_END_SIGNAL to pid 1 with its exit status (sb_program_end) and calls
 * _exit. Its exit then takes the kernel a few milliseconds more, freeing a large copy of an
 * interpreter's address space, before waitpid() would see it. So pid 1, once told (the
 * sender must claim the program's pid: a stray signal does nothing), kills every other
 * process of the namespace, waits until every task of the tree is exiting (a zombie, or
 * PF_EXITING: past the point where it can run code of its own or make a system call) and
 * reports then, with `early` set; the supervisor sends the result on that and keeps the
 * sandbox's cgroups and slot until the tree has gone. The program's own code could send
 * the signal at any time: that only ends the tree now, as the program's exit would have,
 * with a status it could have exited with anyway. Limits are the supervisor's to tell
 * (cgroups), never this status. Nothing of this shows in the program's view: no fd, no
 * mapping.
 */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PF_EXITING_FLAG 0x00000004u /* include/linux/sched.h */
#define EXITING_WAIT_MS 2000        /* then pid 1 reports as if no end had been told */

/* Whether the task whose stat file is `name` under dirfd is exiting, or gone. */
static bool task_exiting(int dirfd, const char *name)
{
    char buf[512];
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return true; /* reaped between the open and the read */
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
    if (!p || p[1] != ' ' || !p[2])
        return false;
    char state = p[2];
    if (state == 'Z' || state == 'X' || state == 'x')
        return true;
    /* after the state: ppid pgrp session tty_nr tpgid flags */
    p += 3;
    for (int field = 0; field < 5; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return false;
    }
    return (strtoul(p + 1, NULL, 10) & PF_EXITING_FLAG) != 0;
}

/* Whether every task of the namespace but ours is exiting (our /proc is the sandbox's): 1
 * yes, 0 not yet, -1 cannot tell. */
static int tree_exiting(void)
{
    char buf[4096], path[300];
    int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc < 0)
        return -1;
    bool all = true;
    ssize_t n;
    while (all && (n = getdents64(proc, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; all && off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            char *end;
            long pid = strtol(d->d_name, &end, 10);
            if (*end || pid <= 1)
                continue;
            snprintf(path, sizeof(path), "%ld/task", pid);
            int task = openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (task < 0)
                continue; /* gone */
            char tbuf[2048];
            ssize_t m;
            while (all && (m = getdents64(task, tbuf, sizeof(tbuf))) > 0)
                for (ssize_t o = 0; all && o < m;) {
                    struct dirent64 *t = (struct dirent64 *)(tbuf + o);
                    o += t->d_reclen;
                    if (t->d_name[0] == '.')
                        continue;
                    snprintf(path, sizeof(path), "%s/stat", t->d_name);
                    all = task_exiting(task, path);
                }
            close(task);
        }
    }
    close(proc);
    return all ? 1 : 0;
}

/* After a told end: the rest of the tree killed, every task exiting. False: a task would
 * not exit in time (stuck in the kernel), or /proc cannot be read; pid 1 then waits for the
 * program as usual. */
static bool end_tree(void)
{
    kill(-1, SIGKILL);
    struct timespec start, now, pause = {0, 100 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    int r;
    while ((r = tree_exiting()) != 1) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (r < 0)
            return false;
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
            EXITING_WAIT_MS)
            return false;
        nanosleep(&pause, NULL);
    }
    return true;
}

static sigset_t listened(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SB_END_SIGNAL);
    return set;
}

int init_listen(void)
{
    sigset_t set = listened();
    /* blocked, so that it is queued for us: a namespace's init ignores a signal from inside
     * it that it neither handles nor blocks */
    return sigprocmask(SIG_BLOCK, &set, NULL) < 0 ? -errno : 0;
}

void sb_program_end(int status)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = SB_END_SIGNAL;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = status & 0xff;
    (void)syscall(SYS_rt_sigqueueinfo, 1, SB_END_SIGNAL, &si);
    _exit(status & 0xff);
}

/* Reaps children (orphans included) until the program is reaped (true, its status in *wst)
 * or it tells its end (false, the status in *wst). False with *wst -1: no end can be told
 * (the signalfd failed); the caller waits as usual. */
static bool wait_told(pid_t pid, int *wst)
{
    sigset_t set = listened();
    *wst = -1;
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        return false;
    for (;;) {
        int s;
        pid_t w;
        while ((w = waitpid(-1, &s, __WALL | WNOHANG)) > 0)
            if (w == pid) {
                *wst = s;
                close(sfd);
                return true;
            }
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            break;
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
            if ((int)si.ssi_signo == SB_END_SIGNAL && si.ssi_code == SI_QUEUE &&
                (pid_t)si.ssi_pid == pid) {
                *wst = W_EXITCODE(si.ssi_int & 0xff, 0);
                close(sfd);
                return false;
            }
    }
    close(sfd);
    return false;
}

void init_run(pid_t pid, int status_fd, bool listen)
{
    struct init_status st;
    memset(&st, 0, sizeof(st));
    st.wait_status = -1;
    bool reaped = false;
    int told = -1; /* the status the program told, if it did */
    if (listen) {
        int wst;
        reaped = wait_told(pid, &wst);
        if (reaped) {
            st.wait_status = wst;
        } else if (wst != -1) {
            told = st.wait_status = wst;
            st.early = end_tree();
        }
    }
    for (; !reaped && !st.early;) {
        int wst;
        pid_t w = waitpid(-1, &wst, __WALL);
        if (w == pid) {
            /* (killed by us after it told its end: what it told) */
            st.wait_status = told != -1 ? told : wst;
            break;
        }
        if (w < 0 && errno != EINTR)
            break;
    }
    struct statfs sf;
    if (statfs("/tmp", &sf) == 0 && sf.f_bavail == 0)
        st.tmp_full = 1;
    if (!st.early)
        getrusage(RUSAGE_CHILDREN, &st.ru);
    (void)!write(status_fd, &st, sizeof(st));
    if (st.early) /* reap the rest: the tree goes with us anyway */
        while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
            ;
    _exit(0);
}

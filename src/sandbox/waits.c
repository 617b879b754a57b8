/*
 * waits: whether a sandbox's program is blocked reading its stdin, in the kernel's words
 * rather than the program's. /proc/PID/syscall names the system call a blocked task is in
 * and its arguments ("0 0x0 0x7ff... ..." is read(0, ...) on x86-64); a running task says
 * "running". The program is the sandbox's pid 1 (a claimed warm interpreter) or a child
 * of it (cold: pid 1 is our init, src/sandbox/child.c), so both are looked at.
 *
 * Only the main thread of each is seen, which is where input() reads. Reading another
 * process's syscall file needs ptrace access, which the supervisor has over the sandboxes
 * it made; any failure answers "not waiting", so the time counts toward the wall limit as
 * it would without this. The answer only moves a deadline within --run-idle-ms: a program
 * that contrives to look blocked gains at most that much wall time.
 */
#include "sandbox/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_CHILDREN 4 /* children of pid 1 looked at (the program is the first) */

/* Reads a small /proc file into buf (NUL-terminated); its length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static bool reading_fd0(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return false;
    char *end = NULL;
    long nr = strtol(buf, &end, 10);
    if (end == buf || nr != SYS_read || *end != ' ')
        return false;
    unsigned long fd = strtoul(end + 1, &end, 16);
    return fd == 0;
}

bool sb_waits_for_stdin(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (reading_fd0(pid))
        return true;
    char path[80], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return false;
    char *p = buf;
    for (int i = 0; i < MAX_CHILDREN; i++) {
        char *end = NULL;
        long child = strtol(p, &end, 10);
        if (end == p || child <= 0)
            break;
        if (reading_fd0((pid_t)child))
            return true;
        p = end;
    }
    return false;
}

/*
 * slot.c: sandbox slots. Each live sandbox holds a slot: an flock on RUN_DIR/slot-N.lock, so
 * several pyroom processes on one host never hand out the same slot; the slot gives the
 * sandbox its host uid (uid_base + N, when we are root) and its cgroup name (pyroom-sbN). A
 * slot whose lock nobody holds but whose cgroup exists is a crashed pyroom's leftover and
 * is removed.
 */
#include "base/fdpass.h"
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int slot_lock(struct sb_host *h, uint32_t slot, bool block)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/slot-%u.lock", h->run_dir, slot);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | (block ? 0 : LOCK_NB)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int slot_acquire(struct sb_host *h, uint32_t *ret_slot, struct err *err)
{
    for (uint32_t i = 0; i < h->slots; i++) {
        uint32_t s = (h->next_slot + i) % h->slots;
        if (h->slot_refs[s])
            continue;
        int fd = slot_lock(h, s, false);
        if (fd == -EWOULDBLOCK)
            continue;
        if (fd < 0)
            return err_set(err, -fd, "lock slot %u in '%s'", s, h->run_dir);
        h->slot_refs[s] = 1;
        h->slot_lock_fd[s] = fd;
        h->next_slot = s + 1;
        *ret_slot = s;
        return fd;
    }
    return err_set(err, EAGAIN, "all %u sandbox slots are in use", h->slots);
}

/* Drops one reference; the lock goes when the last sandbox using the slot has ended. */
static void slot_unref(struct sb_host *h, uint32_t slot)
{
    if (h->slot_refs[slot] && --h->slot_refs[slot] == 0) {
        close(h->slot_lock_fd[slot]);
        h->slot_lock_fd[slot] = -1;
    }
}

void slot_release(struct sb_proc *p)
{
    if (p->slot_fd < 0)
        return;
    slot_unref(p->h, p->slot);
    if (p->uid_slot != p->slot)
        slot_unref(p->h, p->uid_slot);
    p->slot_fd = -1;
}

bool slot_sweep_free(void *ctx, const char *name)
{
    struct sb_host *h = ctx;
    char *end;
    unsigned long s = strtoul(name + strlen("pyroom-sb"), &end, 10);
    if (*end || s >= h->slots || h->slot_refs[s])
        return false;
    int fd = slot_lock(h, (uint32_t)s, false);
    if (fd < 0)
        return false;
    close(fd); /* removal happens right after; a racing taker re-cleans before use */
    return true;
}

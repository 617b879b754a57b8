/*
 * sandbox: pyroom's own Linux isolation for every run and terminal.
 *
 * A sandbox is a process tree in new user, pid, mount, net, ipc, uts and cgroup namespaces.
 * Inside, uid/gid 1000 ("user") maps to a host uid of its own per slot (uid_base + slot),
 * so two live sandboxes never share a host uid. The root is a tmpfs holding read-only
 * binds of /usr (and the /bin, /lib*, /sbin links), a generated /etc, a fresh /proc, a
 * minimal /dev with a private devpts, a size-limited /tmp and the workspace at /home/user.
 * Only `lo` exists. A seccomp filter (compiled when pyroom is built, loaded per spawn),
 * no_new_privs and an empty capability set apply before the user's program starts.
 *
 * Theory of operation. sb_spawn() clones a child into the new namespaces; the parent writes
 * its uid/gid maps and puts it in the slot's cgroups, then lets it go on. The child (child.c,
 * no malloc, errors over a pipe) builds the root, drops privileges and forks the user's
 * program; it stays behind as the namespace's pid 1, reaps orphans and, when the program
 * exits, reports the program's status over a pipe and exits, which makes the kernel kill
 * everything left in the pid namespace: a daemon cannot outlive its run. sb_kill() kills
 * that pid 1 (and, on cgroup v2, the cgroup), which kills the whole tree the same way.
 *
 * Limits are cgroup-exact when the host lets us create cgroups (root on v1 or v2, or a
 * delegated v2 subtree) below the cgroup pyroom runs in; otherwise they fall back to
 * rlimits, and sb_host_summary() says which limits are exact. Wall time and the cgroup
 * checks (CPU, pids, OOM) are enforced by whoever drives sb_proc_check(): the supervisor.
 *
 * Threads: an sb_host and its sb_procs belong to one thread of a single-threaded process
 * (the supervisor, src/exec/supervisor.h, or `pyroom sandbox`). Multi-threaded code must go
 * through the supervisor: cloning from a threaded process can deadlock the child.
 */
#ifndef PYROOM_SANDBOX_SANDBOX_H
#define PYROOM_SANDBOX_SANDBOX_H

#include "base/err.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Bounds on what a spec may carry (the supervisor's messages are sized from these). */
#define SB_MAX_ARGS    256
#define SB_MAX_ENV     256
#define SB_MAX_STRINGS 65536 /* bytes of argv + env + paths, NULs included */

/* Which limit ended a sandbox. The names (sb_limit_name) are the API's strings. */
enum sb_limit {
    SB_LIMIT_NONE = 0,
    SB_LIMIT_WALL_TIME,
    SB_LIMIT_CPU_TIME,
    SB_LIMIT_MEMORY,
    SB_LIMIT_PIDS,
    SB_LIMIT_OUTPUT,
    SB_LIMIT_DISK,
    SB_LIMIT_IDLE, /* waited for input (blocked reading stdin) longer than idle_ms */
};

/* Every limit of one sandbox; 0 means "no limit" for each field. */
struct sb_limits {
    uint64_t wall_ms; /* wall-clock time from spawn, ms; with idle_ms, less the time
                         spent waiting for input */
    /* Time the program may spend blocked reading its stdin, in all, ms. That time does not
     * count toward wall_ms (a person is typing); past it the tree is killed (SB_LIMIT_IDLE).
     * 0: waiting counts toward wall_ms like any other time. */
    uint64_t idle_ms;
    uint64_t cpu_ms;          /* CPU time of the whole tree, ms */
    uint64_t memory_bytes;    /* memory (+ swap) of the whole tree, bytes */
    uint64_t pids;            /* processes and threads alive at once (never set it to 1) */
    uint64_t open_files;      /* RLIMIT_NOFILE per process */
    uint64_t file_size_bytes; /* largest file a process may write (RLIMIT_FSIZE), bytes */
    uint64_t tmpfs_bytes;     /* size of /tmp (shared with /dev/shm), bytes */
    uint64_t output_bytes;    /* stdout + stderr bytes: enforced by the reader of the pipes */
    uint64_t workspace_bytes; /* bytes the tree may add to /home/user (beyond what it was
                                 given), checked every 100 ms and at the end */
};

/* The product defaults: wall 10 s, CPU 10 s, 256 MiB, 64 pids, 256 files, 50 MiB files and
 * workspace, 64 MiB /tmp, 1 MiB output. */
void sb_limits_default(struct sb_limits *ret);
/* Lowers `l` to `req` field by field; a 0 in `req` leaves the field as it is (users may only
 * lower limits, never raise or remove them). */
void sb_limits_lower(struct sb_limits *l, const struct sb_limits *req);

/* What to run. Strings are borrowed for the duration of sb_spawn(). */
struct sb_spec {
    const char *const *argv; /* NULL-terminated; argv[0] is looked up in PATH inside */
    const char *const *env;  /* NULL-terminated "NAME=value" overriding the defaults (PATH,
                                HOME, USER, LANG, TERM, MPLBACKEND=Agg, MPLCONFIGDIR...); NULL
                                for none */
    const char *cwd;         /* inside the sandbox; NULL for /home/user */
    const char *workspace;   /* host directory bound read-write at /home/user (chowned to the
                                slot's uid during the run, back afterwards); NULL: empty tmpfs */
    bool shared_workspace;   /* several live sandboxes use this workspace at once (a
                                workspace's terminals): when a live sandbox of this host owns
                                it, run as that sandbox's uid (reserved until the last of them
                                ends), and do not hand it back at the end */
    bool pty;                /* stdin/stdout/stderr on a terminal of the sandbox's own devpts */
    unsigned short rows;     /* PTY size; 0 for 24x80 */
    unsigned short cols;
    struct sb_limits limits;
    bool warm; /* supervisor: run `python3 FILE ARGS...` in a warm interpreter
                  when one is ready (src/exec/warm.h), else cold as usual */
};

/* How it ended. */
struct sb_result {
    int exit_code;              /* exit status of the program when signal == 0 */
    int signal;                 /* signal that ended the program, 0 when it exited */
    enum sb_limit limit_hit;    /* which limit ended (or marked) it, SB_LIMIT_NONE if none */
    bool killed;                /* pyroom killed the tree (for a limit or sb_kill) */
    uint64_t wall_ms;           /* from spawn to the end of the tree */
    uint64_t waited_ms;         /* of which blocked reading stdin (with limits.idle_ms) */
    uint64_t cpu_ms;            /* user + system time of the tree */
    uint64_t peak_memory_bytes; /* cgroup peak; without cgroups, the largest process RSS */
};

/* The parent ends of a sandbox's stdio, close-on-exec, owned by the caller. In pipe mode
 * `in`, `out` and `err` are set and `pty` is -1; in PTY mode only `pty` (the master) is. */
struct sb_stdio {
    int in;
    int out;
    int err;
    int pty;
};

struct sb_config {
    const char *run_dir; /* slot locks and caches; NULL: /run/pyroom as root, else
                            $XDG_RUNTIME_DIR/pyroom or /tmp/pyroom-UID */
    uint32_t uid_base;   /* first host uid of the slots (root only); 0: 2000000000 */
    uint32_t slots;      /* slots, hence concurrent sandboxes per host; 0: 4096 */
    bool no_cgroups;     /* use the rlimit fallback even where cgroups work */
    bool no_ahead;       /* make nothing ahead of a run (network namespaces): for a single
                            sandbox there is nothing to gain, only a namespace to waste */
};

/* What the host allows, detected once; owns the slots. */
struct sb_host;

/* Probes the host (user namespaces, cgroup v1/v2 controllers under our own cgroup, seccomp),
 * and removes what a crashed pyroom left behind (cgroups of slots no
 * live pyroom holds). Fails with a message saying what to enable when sandboxes are
 * impossible here (no user namespaces and not root). */
int sb_host_new(const struct sb_config *cfg, struct sb_host **ret, struct err *err);
void sb_host_free(struct sb_host *h);
/* One line for the start-up log: the mode and which limits are exact or approximate. */
const char *sb_host_summary(const struct sb_host *h);
/* true when limits are enforced by cgroups (exact), false for the rlimit fallback. */
bool sb_host_has_cgroups(const struct sb_host *h);

/* One live sandbox. */
struct sb_proc;

/* Starts spec in a new sandbox. Returns when the program has been exec'd (its errors, such
 * as a missing command, come back here) with the parent ends of its stdio. */
int sb_spawn(struct sb_host *h, const struct sb_spec *spec, struct sb_proc **ret_proc,
             struct sb_stdio *ret_io, struct err *err);
/* The same in steps, for an event loop (the supervisor): sb_spawn_begin() returns once the
 * child is cloned; when sb_spawn_fd() is readable, call sb_spawn_end(), which returns
 * -EAGAIN until the program has been exec'd (0, with its stdio) or the set-up failed (< 0:
 * sb_proc_free() it). Keep calling sb_proc_check() meanwhile: it ends a set-up that hangs. */
int sb_spawn_begin(struct sb_host *h, const struct sb_spec *spec, struct sb_proc **ret_proc,
                   struct err *err);
int sb_spawn_fd(const struct sb_proc *p);
int sb_spawn_end(struct sb_proc *p, struct sb_stdio *ret_io, struct err *err);
/* A pidfd that becomes readable when the tree has ended: then call sb_reap(). */
int sb_proc_fd(const struct sb_proc *p);
/* Readable when pid 1 reports the program's end, which for a warm program that told its
 * own end comes before the tree has ended: then call sb_reap() too. -1 once sb_reap() has
 * read all it will say: stop polling it then (it stays open until sb_proc_free()). */
int sb_proc_end_fd(const struct sb_proc *p);
/* Whether the tree has ended (after an early result: the kernel still frees its memory). */
bool sb_proc_gone(struct sb_proc *p);
/* Host pid of the sandbox's pid 1. */
pid_t sb_proc_pid(const struct sb_proc *p);
/* Enforces wall time and the cgroup limits (CPU, pids, OOM) at now_ms (CLOCK_MONOTONIC);
 * kills the tree when one is passed. Returns the time at which to check again, in ms. */
uint64_t sb_proc_check(struct sb_proc *p, uint64_t now_ms);
/* Kills the whole tree; `why` is recorded as the limit hit (SB_LIMIT_NONE: a cancel). The
 * first reason given wins. */
int sb_kill(struct sb_proc *p, enum sb_limit why);
/* Collects the result once the tree has ended, or once every task of it is exiting after
 * a warm program told its own end; -EAGAIN while it runs. Also hands the workspace back to
 * the host uid (no symlink is followed) and checks what was added. The cgroups and the slot
 * stay until sb_proc_free(), so the result can be sent first. */
int sb_reap(struct sb_proc *p, struct sb_result *ret);
/* Blocks until the tree ends (enforcing its limits meanwhile), then sb_reap(). */
int sb_wait(struct sb_proc *p, struct sb_result *ret);
/* Kills the tree if it still runs, waits until it has ended (sb_proc_gone: call this once it
 * is, not to wait), removes its cgroups and frees its slot. NULL is fine. */
void sb_proc_free(struct sb_proc *p);

const char *sb_limit_name(enum sb_limit l);

/* ---- warm sandboxes ------------------------------------------------------------------
 * A warm pool (src/exec/warm.c) keeps template processes (interpreters that have loaded
 * their libraries, never running user code) and, forked from them ahead of demand,
 * "zygotes": processes in fresh user, pid, net, ipc and uts namespaces (sb_zygote_spawn()
 * made them: the zygote is pid 1 of them) that wait on a socket. sb_claim_begin() turns a zygote
 * into the sandbox of a spec with the same slot, host uid, uid maps, cgroups, limits, workspace
 * hand-over, mount tree, seccomp filter and capabilities as sb_spawn_begin(); the zygote then forks
 * the program, which calls hooks->run where a cold sandbox would exec. sb_spawn_fd/_end,
 * sb_proc_check, sb_kill and sb_reap work on it as on a cold sandbox. */
struct sb_zygote_hooks {
    /* In the program process, forked ahead of demand, before it waits for its claim: still
     * the pool's (its priority, its cgroup), with nothing of a run's; may be NULL. */
    void (*before_wait)(void *ctx);
    /* In the program process, once every restriction is in place, stdio is the run's and
     * the error pipe closed; argv and envp are what exec would have been given. Must not
     * return. tell_end: end with sb_program_end() rather than _exit(), once the program's
     * output is flushed and closed: pid 1 then ends the tree and reports without waiting
     * for the kernel to free the program's memory. */
    void (*run)(void *ctx, char *const *argv, char *const *envp, bool tell_end);
    void *ctx;
};

/* A warm program's last act when its run hook was told to (tell_end): tells its sandbox's
 * pid 1 its exit status and exits with it. */
__attribute__((noreturn)) void sb_program_end(int status);
/* In the template: one clone makes fresh user, pid, net, ipc and uts namespaces and their
 * pid 1, the zygote proper, as a child of the caller's parent, which must be a subreaper
 * that reaps it (the supervisor). pid 1 forks pid 2 (a copy of the caller that will run the
 * program, through hooks->run) and then execs exe_fd (a small binary of ours) as
 * `__warm-init` (sb_zygote_pid1_main), to wait for its claim on sock; this returns once it
 * has. The caller must be single-threaded and prepares its runtime for the fork itself;
 * its fds other than sock and exe_fd do not reach the zygote. */
int sb_zygote_spawn(int exe_fd, int sock, const struct sb_zygote_hooks *hooks, pid_t *ret_pid);
/* `pyroom __warm-init`: pid 1 of a zygote. Returns (an exit status) only when the pool lets
 * it go unused or the claim is bad; once claimed it never returns. */
int sb_zygote_pid1_main(void);
/* In the supervisor: like sb_spawn_begin, on zygote `pid` (a child of the caller, which is
 * a subreaper) waiting on `sock` and running as host uid `zygote_uid`. No PTY. */
int sb_claim_begin(struct sb_host *h, const struct sb_spec *spec, pid_t pid, int sock,
                   uid_t zygote_uid, struct sb_proc **ret_proc, struct err *err);
/* true when sb_spawn_end found a warm program started (a claimed zygote). */
bool sb_proc_warm(const struct sb_proc *p);

/* The warm pool's own identity: a host uid of its own (root) with no capabilities, its own
 * net, ipc and uts namespaces, a private directory (HOME, TMPDIR and matplotlib's config,
 * with the pre-built font cache) and one cgroup of memory_bytes for all its templates and
 * unclaimed zygotes. */
struct sb_pool;
int sb_pool_open(struct sb_host *h, uint64_t memory_bytes, struct sb_pool **ret, struct err *err);
/* Removes the cgroup (killing what is left in it) and the directory. NULL is fine. */
void sb_pool_close(struct sb_pool *p);
const char *sb_pool_dir(const struct sb_pool *p);
uid_t sb_pool_uid(const struct sb_pool *p);
/* Memory charged to the pool's cgroup, bytes; 0 without cgroups. */
uint64_t sb_pool_memory_bytes(const struct sb_pool *p);
/* In a fresh fork of the supervisor, before it execs a template: joins the pool's cgroup,
 * its namespaces and directory, and becomes its uid with no capabilities. */
int sb_pool_enter(const struct sb_pool *p);

/* ---- workspace file systems (wsdir.c) ---------------------------------------------------
 * A run's or a terminal environment's /home/user is a tmpfs of its own, mounted by the
 * (root) server on its scratch directory: the kernel enforces its size and inode count
 * (a write past them fails with ENOSPC inside the sandbox), it is nosuid and nodev, and it
 * is removed by one unmount whatever is inside. The host path of the directory does not
 * show in the sandbox's mountinfo (the bind's root is the tmpfs's own "/"). */

/* Mounts a new tmpfs of `bytes` bytes and `inodes` inodes on the empty directory `name`
 * beneath parent_fd; returns an fd (close-on-exec) of its root, or -errno (-EPERM without
 * CAP_SYS_ADMIN: then the caller uses the plain directory, with walks for the limits). */
int sb_wsfs_mount(int parent_fd, const char *name, uint64_t bytes, uint64_t inodes,
                  struct err *err);
/* Unmounts (lazily) whatever is mounted on parent_fd/name; returns how many mounts went
 * (0 for a plain directory) or -errno. The directory itself is left for the caller. */
int sb_wsfs_unmount(int parent_fd, const char *name);
/* Unmounts what is mounted on each entry of dir_fd (a crashed server's leftovers, found
 * at start-up in a directory of our own). */
void sb_wsfs_sweep(int dir_fd);
/* true when fd is on a workspace tmpfs that has no free block or no free inode left. */
bool sb_wsfs_full(int fd);
/* true when fd is the root of a size-limited tmpfs (a workspace file system rather than a
 * plain directory, even one that lies on a tmpfs). */
bool sb_wsfs_is(int fd);

#endif

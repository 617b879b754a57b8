/*
 * sandbox/internal.h: what the files of src/sandbox/ share; nothing outside includes it.
 *
 * Functions marked "child" run between clone and exec (child.c): they must not allocate,
 * log or touch stdio; they return 0 or -errno and let child.c report over the error pipe.
 */
#ifndef PYROOM_SANDBOX_INTERNAL_H
#define PYROOM_SANDBOX_INTERNAL_H

#include "base/err.h"
#include "sandbox/sandbox.h"

#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#define SB_INSIDE_UID 1000
#define SB_INSIDE_GID 1000
#define SB_HOME       "/home/user"

/* ---- child.c: the process between clone and exec ---------------------------------- */

/* A failure in the child, written to the error pipe; EOF on that pipe means exec worked. */
struct child_report {
    int err;       /* positive errno */
    char msg[248]; /* what failed, NUL-terminated */
};

/* What pid 1 tells the parent when the program has ended (the status pipe). */
struct init_status {
    int wait_status;  /* of the program, as from waitpid */
    int tmp_full;     /* /tmp had no free blocks left */
    int early;        /* a warm program told its own end (child.c): every task of the tree
                       * was exiting, not yet gone; ru is then empty */
    struct rusage ru; /* RUSAGE_CHILDREN of pid 1: the program and reaped orphans */
};

/* Everything the child needs, prepared by the parent before clone (no allocation after). */
struct child_args {
    int sync_fd;             /* read end: one byte once the maps are written, EOF to abort */
    const char *cg_procs[3]; /* cgroup.procs files to move ourselves into, NULL-padded */
    int err_fd;              /* write end (CLOEXEC) of the error pipe */
    int status_fd;           /* write end of the status pipe (struct init_status) */
    const char *ws_path;     /* host path of the workspace directory, NULL for a tmpfs home */
    dev_t ws_dev;            /* ...which must still be this directory (checked in the child) */
    ino_t ws_ino;
    int mpl_fd;           /* pre-built matplotlib font cache to copy into /tmp, or -1 */
    const char *mpl_name; /* its file name */
    int stdio[3];         /* child ends of the pipes (pipe mode), -1 otherwise */
    int pty_sock;         /* socket to send the PTY master over (PTY mode), -1 otherwise */
    unsigned short rows, cols;
    char *const *argv;
    char *const *envp;
    const char *path; /* PATH to search argv[0] in */
    const char *cwd;
    struct sb_limits limits;
    bool rlimit_memory; /* no memory cgroup: approximate with RLIMIT_DATA */
    bool rlimit_nproc;  /* no pids cgroup: approximate with RLIMIT_NPROC */
    const char *hostname;
    bool lo_ready; /* the network namespace was made ahead, lo is up (ns_net_pool) */
    const char *etc_passwd, *etc_group, *etc_hosts, *etc_nsswitch, *etc_hostname;
    int ws_fd; /* warm: the supervisor's fd of the workspace (host namespace), -1 */
    const struct sb_zygote_hooks *warm; /* warm: run the program in this process, NULL */
    int handover_fd;   /* warm, pid 1: socket to the program process forked in advance */
    pid_t program;     /* warm, pid 1: that process */
    const void *claim; /* warm, pid 1: the claim message, passed on to it */
    size_t claim_len;
};

/* What every sandbox's /etc and hostname say. */
#define CHILD_HOSTNAME "sandbox"
#define CHILD_ETC_PASSWD                                                                           \
    "user:x:1000:1000:user:" SB_HOME ":/bin/bash\n"                                                \
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
#define CHILD_ETC_GROUP "user:x:1000:\nnogroup:x:65534:\n"
#define CHILD_ETC_HOSTS "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"
#define CHILD_ETC_NSSWITCH                                                                         \
    "passwd: files\ngroup: files\nshadow: files\nhosts: files\n"                                   \
    "networks: files\nprotocols: files\nservices: files\n"
#define CHILD_ETC_HOSTNAME "sandbox\n"
/* The above as struct child_args initialisers, for the cold and the warm child alike. */
#define CHILD_ETC_FIELDS                                                                           \
    .hostname = CHILD_HOSTNAME, .etc_passwd = CHILD_ETC_PASSWD, .etc_group = CHILD_ETC_GROUP,      \
    .etc_hosts = CHILD_ETC_HOSTS, .etc_nsswitch = CHILD_ETC_NSSWITCH,                              \
    .etc_hostname = CHILD_ETC_HOSTNAME

/* Runs in the child; never returns. */
__attribute__((noreturn)) void child_main(const struct child_args *a);

/* ---- init.c: pid 1 once the program runs -------------------------------------------- */

/* The signal a warm program's end queues to pid 1, with its exit status (sb_program_end). */
#define SB_END_SIGNAL (SIGRTMIN + 1)
/* Before the program may run: pid 1 will listen for its told end (init_run's `listen`). */
int init_listen(void);
/* Reaps until the program (pid) has ended, or (listen) has told its end and every task is
 * exiting; writes a struct init_status to status_fd and exits. */
__attribute__((noreturn)) void init_run(pid_t pid, int status_fd, bool listen);
/* A claimed zygote (warm sandbox): already pid 1 of its user, pid, net, ipc and uts
 * namespaces, with its uid maps written; makes its mount namespace and goes on exactly as
 * child_main. Never returns. */
__attribute__((noreturn)) void child_claimed_main(const struct child_args *a);
/* The warm program process, forked by the zygote in advance: once pid 1 has built the
 * sandbox and handed over (mnt_fd: its mount namespace), takes the per-process steps a
 * forked child would inherit (cgroups, mount and cgroup namespaces, uid 1000, rlimits, no
 * capabilities, not dumpable) and runs the program. Never returns. */
__attribute__((noreturn)) void child_program_main(const struct child_args *a, int mnt_fd);

/* ---- ns.c ------------------------------------------------------------------------- */

/* parent: maps inside uid/gid 1000 to host uid/gid for the child `pid`. Without privilege
 * (unpriv) the host ids must be our own and setgroups is denied first. */
int ns_write_maps(pid_t pid, uid_t host_uid, gid_t host_gid, bool unpriv, struct err *err);
/* child: become uid/gid 1000 inside while keeping every capability (to build the root). */
int ns_become_user(void);
/* child: hostname and the loopback interface up (unless lo_ready: a network namespace made
 * ahead, see below, has it up already). */
int ns_setup_uts_net(const char *hostname, bool lo_ready);

/* Network namespaces made ahead (as root only): a new network namespace costs its creation
 * (~0.5-1 ms, and a wait on the lock that the previous sandbox's teardown holds) on the run's
 * critical path; the supervisor makes the next ones after starting a sandbox instead, each
 * with lo up, each used by exactly one sandbox. Such a namespace belongs to the host's user
 * namespace, not the sandbox's: the sandbox's pid 1 cannot reconfigure it (it had no reason
 * to: its program gets no capability either way). */
#define NS_NET_AHEAD 2
struct ns_net_pool {
    int host;             /* our own network namespace, to come back to; -1: no pool */
    int fd[NS_NET_AHEAD]; /* ready namespaces */
    int n;
};
/* parent: starts the pool (root only; otherwise it stays empty) and fills it. */
void ns_net_pool_init(struct ns_net_pool *np, bool root);
/* parent: makes namespaces until the pool is full (or one fails: then it stops using it). */
void ns_net_pool_fill(struct ns_net_pool *np);
/* parent: a ready namespace (the caller owns the fd), or -1. */
int ns_net_pool_take(struct ns_net_pool *np);
/* parent: clones flags | SIGCHLD in the namespace netfd (consumed; -1: flags as given).
 * Returns what clone returns, or -errno. */
pid_t ns_net_clone(struct ns_net_pool *np, unsigned long flags, int netfd);
void ns_net_pool_done(struct ns_net_pool *np);
/* child: clear the bounding, ambient and effective/permitted/inheritable sets. */
int ns_drop_caps(void);

/* ---- mount.c ---------------------------------------------------------------------- */

/* child: builds the new root on a tmpfs and pivots into it, binding the directory `ws`
 * (an O_PATH fd, or -1 for a tmpfs) at /home/user; *what names a failed step. */
int mount_build_root(const struct child_args *a, int ws, const char **what);

/* ---- seccomp.c, seccomp_rules.c --------------------------------------------------- */

/* The deny-list filter as built. */
const struct sock_fprog *seccomp_prog(void);
/* child: no_new_privs, then the filter as built. */
int seccomp_prog_load(void);
/* Build time only (scripts/seccomp-gen.c, and the unit test that the built filter is the
 * rules' one): compiles the rules with libseccomp into *ret (ret->filter malloc'd). */
int seccomp_rules_compile(struct sock_fprog *ret, struct err *err);

/* ---- rlimit.c --------------------------------------------------------------------- */

/* child: per-process limits (files, file size, CPU, core; memory and nproc as fallback). */
int rlimit_apply(const struct child_args *a, const char **what);

/* ---- pty.c ------------------------------------------------------------------------ */

/* child: opens a PTY pair on the sandbox's own devpts (/dev/ptmx after the pivot). */
int pty_open(unsigned short rows, unsigned short cols, int *ret_master, int *ret_slave);
/* child and parent: one fd over a unix socket with SCM_RIGHTS. */
int pty_send_fd(int sock, int fd);
int pty_recv_fd(int sock, int *ret_fd);

/* ---- cgroup.c --------------------------------------------------------------------- */

enum cg_mode { CG_NONE, CG_V1, CG_V2 };

/* The cgroup roots we may create under (each the cgroup pyroom itself runs in). */
struct cg_host {
    enum cg_mode mode;
    char memory[512]; /* v1: .../memory/<self>; v2: the one directory */
    char pids[512];   /* v1 only */
    char cpuacct[512];
    char why[160]; /* why cgroups are unusable, for the summary */
};

/* One sandbox's cgroups; fds kept open for cheap checks. */
struct cg_proc {
    const struct cg_host *host;
    char name[32]; /* pyroom-sbSLOT */
    bool created;
    int cpu_fd;     /* cpuacct.usage (v1) or cpu.stat (v2) */
    int pids_ev_fd; /* pids.events */
    int oom_fd;     /* memory.oom_control (v1) or memory.events (v2) */
};

int cg_host_detect(struct cg_host *h);
/* Removes the leftovers of a slot (kills what is inside, rmdir) */
void cg_slot_cleanup(const struct cg_host *h, const char *name);
/* Lists leftover cgroup names; calls fn for each. */
void cg_sweep(const struct cg_host *h, bool (*owned)(void *ctx, const char *name), void *ctx);
int cg_create(const struct cg_host *h, const char *name, const struct sb_limits *l,
              struct cg_proc *ret, struct err *err);
/* The cgroup.procs paths of c (v1: 3, v2: 1) into out; returns how many. */
int cg_procs_paths(const struct cg_proc *c, char out[3][640]);
uint64_t cg_cpu_ns(const struct cg_proc *c);
uint64_t cg_pids_max_events(const struct cg_proc *c);
uint64_t cg_oom_kills(const struct cg_proc *c);
uint64_t cg_memory_peak(const struct cg_proc *c);
uint64_t cg_memory_current(const struct cg_proc *c);
void cg_kill(const struct cg_proc *c);
void cg_destroy(struct cg_proc *c);

/* ---- wsdir.c ---------------------------------------------------------------------- */

struct ws_walk {
    uint64_t file_cap; /* input to ws_chown_tree: note a file of exactly this size, or 0 */
    bool at_cap;       /* a regular file is exactly file_cap bytes */
    uint64_t bytes;    /* sum of regular file sizes */
    uint64_t largest;  /* largest regular file, bytes */
    uint64_t entries;
    bool truncated; /* stopped at the entry or depth bound */
};

/* Changes the owner of dir_fd and of everything below it, never following a symlink and
 * never opening anything but directories (O_NOFOLLOW); sums sizes as it goes. */
int ws_chown_tree(int dir_fd, uid_t uid, gid_t gid, struct ws_walk *ret);
/* Sums regular file sizes below dir_fd the same safe way, stopping once the sum passes
 * stop_bytes or after max_entries entries (then ret->truncated). */
int ws_measure(int dir_fd, uint64_t stop_bytes, uint64_t max_entries, struct ws_walk *ret);

/* ---- host.c, slot.c, spawn.c, zygote.c, pool.c: the host and its sandboxes ----------- */

#define SB_CLONE_FLAGS                                                                             \
    (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

struct sb_host {
    char run_dir[256];
    uint32_t uid_base;
    uint32_t slots;
    uint32_t next_slot;
    uint16_t *slot_refs; /* per slot: live sandboxes using it (its own, and those sharing its
                            uid through shared_workspace); 0 when free */
    int *slot_lock_fd;   /* per slot: its lock while slot_refs > 0, else -1 */
    bool root;           /* distinct host uids, chown of workspaces */
    uid_t my_uid;
    gid_t my_gid;
    struct cg_host cg;
    struct ns_net_pool net; /* network namespaces made ahead (ns.c) */
    int mpl_fd;             /* pre-built matplotlib font cache, or -1 */
    char mpl_name[64];
    char summary[1536];
};

struct sb_proc {
    struct sb_host *h;
    pid_t pid; /* host pid of the sandbox's pid 1 */
    int pidfd;
    int status_fd; /* read end of the status pipe */
    uint32_t slot;
    int slot_fd;       /* the slot's lock, -1 once released */
    uint32_t uid_slot; /* the slot whose uid it runs as: its own, or a sharer's */
    bool shared;       /* spec.shared_workspace: ownership is left alone at the end */
    struct cg_proc cg;
    bool has_cg;
    char cg_procs[3][640];   /* its cgroup.procs files, for the child to join */
    int start_fd;            /* error pipe while the child sets up (sb_spawn_end), else -1 */
    int pty_sock;            /* where the PTY master comes from while starting, else -1 */
    struct sb_stdio io;      /* parent ends until sb_spawn_end hands them over */
    struct child_report rep; /* the child's failure report, as read so far */
    size_t rep_got;
    bool setup_timed_out;
    uint64_t start_ms;
    uint64_t waited_ms;      /* blocked reading stdin so far (limits.idle_ms), ms */
    uint64_t last_sample_ms; /* when stdin was last found waited on, 0: not then */
    struct sb_limits limits;
    bool warm;    /* a claimed zygote (sb_claim_begin), not a clone of ours */
    bool started; /* warm: the program reported that it runs (sb_spawn_end) */
    bool killed;
    enum sb_limit why; /* first reason given to sb_kill */
    bool reaped;       /* the result is known (sb_reap) */
    bool gone;         /* ...and the tree has ended: pid 1 reaped */
    bool have_status;  /* status read from the status pipe */
    bool status_done;  /* ...or its end of file: it has nothing more to say */
    struct init_status status;
    struct sb_result result;
    int ws_fd;              /* the workspace directory, to hand back at the end; -1 */
    uint64_t next_ws_check; /* when to measure the workspace again (ms, monotonic) */
    uint64_t ws_base_bytes; /* bytes in the workspace when it was handed over */
    uid_t ws_uid;           /* its owner before the run */
    gid_t ws_gid;
    bool ws_fs; /* the workspace is a file system of its own (sb_wsfs_mount): the kernel
                   enforces its size and inodes, so no walk measures it */
};

/* A zygote to claim instead of cloning (warm sandboxes). */
struct zygote_ref {
    pid_t pid;
    int sock;
    uid_t uid;
};

/* waits.c: whether the program of the sandbox whose pid 1 is pid (host pid) is blocked
 * reading its stdin right now. */
bool sb_waits_for_stdin(pid_t pid);

static inline void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* slot.c: takes a free slot (its lock held, its leftover cgroup removed). */
int slot_acquire(struct sb_host *h, uint32_t *ret_slot, struct err *err);
/* slot.c: lets go of p's slot (and of the sharer's uid slot it counted on). */
void slot_release(struct sb_proc *p);
/* slot.c: cg_sweep's question: is this leftover's slot free (no live pyroom holds it)? */
bool slot_sweep_free(void *ctx, const char *name);

/* zygote.c: the last step of sb_claim_begin: moves the zygote into the slot's cgroups,
 * writes its uid maps and sends it the child's arguments with the pipes' far ends (which
 * it then closes; p keeps the status pipe's read end). */
int claim_send(struct sb_host *h, struct sb_proc *p, const struct zygote_ref *z,
               const struct child_args *a, char **env, int *sync_p, int *err_p, int *status_p,
               int *in_p, int *out_p, int *err_out_p);

#endif

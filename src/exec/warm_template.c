/*
 * warm_template.c: the template half of the warm pool (see warm.h for the theory of
 * operation), everything that runs in a template's process or is forked from it:
 *
 *   1. libpython, loaded with dlopen in the template only (the server does not link it);
 *   2. the Python half (_pyroom_warm, src/exec/warm_python.py): boot() in the template,
 *      prepare(), finish() and _shutdown() in each program;
 *   3. the template process: boot, then fork zygotes on request;
 *   4. the zygote hooks: what the program process does instead of exec.
 *
 * The pool, in the supervisor, is warm.c; the messages between them, warm_internal.h.
 */
#include "base/clock.h"
#include "base/embed.h"
#include "exec/runs.h"
#include "exec/warm.h"
#include "exec/warm_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

/* ---- 1. libpython ----------------------------------------------------------------------
 * Only the handful of functions we need, looked up at run time: the template is the only
 * process that loads Python this way, and a host without libpython simply has no pool. */

typedef struct pyobj pyobj;

static struct {
    void *lib;
    wchar_t *(*DecodeLocale)(const char *, size_t *);
    void (*SetProgramName)(const wchar_t *);
    void (*InitializeEx)(int);
    pyobj *(*CompileString)(const char *, const char *, int);
    pyobj *(*ExecCodeModule)(const char *, pyobj *);
    pyobj *(*ImportModule)(const char *);
    pyobj *(*CallMethod)(pyobj *, const char *, const char *, ...);
    pyobj *(*TupleGetItem)(pyobj *, ssize_t);
    pyobj *(*EvalCode)(pyobj *, pyobj *, pyobj *);
    void (*ErrFetch)(pyobj **, pyobj **, pyobj **);
    void (*ErrNormalize)(pyobj **, pyobj **, pyobj **);
    int (*ExcSetTraceback)(pyobj *, pyobj *);
    void (*ErrPrint)(void);
    const char *(*AsUTF8)(pyobj *);
    void (*BeforeFork)(void);
    void (*AfterForkParent)(void);
    void (*AfterForkChild)(void);
    pyobj *None;
    long (*AsLong)(pyobj *);
    pyobj *(*GetModuleDict)(void);
    pyobj *(*GetAttrString)(pyobj *, const char *);
    pyobj *(*ListNew)(ssize_t);
    int (*ListAppend)(pyobj *, pyobj *);
    int (*DictNext)(pyobj *, ssize_t *, pyobj **, pyobj **);
    int (*SetContains)(pyobj *, pyobj *);
    int (*SetAttrString)(pyobj *, const char *, pyobj *);
    pyobj *(*LongFromLong)(long);
    pyobj *(*DictGetItemString)(pyobj *, const char *);
} py;

#define PY_FILE_INPUT 257 /* Py_file_input */

/* The libpython of Debian's python3 (the same build, as a shared library). */
static int py_load(char *errbuf, size_t n)
{
    char target[64] = "", name[96];
    ssize_t l = readlink("/usr/bin/python3", target, sizeof(target) - 1);
    if (l > 0)
        target[l] = '\0';
    const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
    if (strncmp(base, "python3.", 8) != 0)
        base = "python3.11";
    snprintf(name, sizeof(name), "lib%s.so.1.0", base);
    py.lib = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
    if (!py.lib) {
        snprintf(errbuf, n, "dlopen %s: %s", name, dlerror());
        return -ENOENT;
    }
    struct {
        void **slot;
        const char *sym;
    } syms[] = {
        {(void **)&py.DecodeLocale, "Py_DecodeLocale"},
        {(void **)&py.SetProgramName, "Py_SetProgramName"},
        {(void **)&py.InitializeEx, "Py_InitializeEx"},
        {(void **)&py.CompileString, "Py_CompileString"},
        {(void **)&py.ExecCodeModule, "PyImport_ExecCodeModule"},
        {(void **)&py.ImportModule, "PyImport_ImportModule"},
        {(void **)&py.CallMethod, "PyObject_CallMethod"},
        {(void **)&py.TupleGetItem, "PyTuple_GetItem"},
        {(void **)&py.EvalCode, "PyEval_EvalCode"},
        {(void **)&py.ErrFetch, "PyErr_Fetch"},
        {(void **)&py.ErrNormalize, "PyErr_NormalizeException"},
        {(void **)&py.ExcSetTraceback, "PyException_SetTraceback"},
        {(void **)&py.ErrPrint, "PyErr_Print"},
        {(void **)&py.AsUTF8, "PyUnicode_AsUTF8"},
        {(void **)&py.BeforeFork, "PyOS_BeforeFork"},
        {(void **)&py.AfterForkParent, "PyOS_AfterFork_Parent"},
        {(void **)&py.AfterForkChild, "PyOS_AfterFork_Child"},
        {(void **)&py.None, "_Py_NoneStruct"},
        {(void **)&py.AsLong, "PyLong_AsLong"},
        {(void **)&py.GetModuleDict, "PyImport_GetModuleDict"},
        {(void **)&py.GetAttrString, "PyObject_GetAttrString"},
        {(void **)&py.ListNew, "PyList_New"},
        {(void **)&py.ListAppend, "PyList_Append"},
        {(void **)&py.DictNext, "PyDict_Next"},
        {(void **)&py.SetContains, "PySet_Contains"},
        {(void **)&py.SetAttrString, "PyObject_SetAttrString"},
        {(void **)&py.LongFromLong, "PyLong_FromLong"},
        {(void **)&py.DictGetItemString, "PyDict_GetItemString"},
    };
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        *syms[i].slot = dlsym(py.lib, syms[i].sym);
        if (!*syms[i].slot) {
            snprintf(errbuf, n, "%s: no symbol %s", name, syms[i].sym);
            return -ENOENT;
        }
    }
    return 0;
}

/* ---- 2. the Python half ----------------------------------------------------------------
 * src/exec/warm_python.py, the module _pyroom_warm: boot() in the template; prepare(),
 * finish() and _shutdown() in each program, around the PyEval_EvalCode of its file. */
EMBED_TEXT(warm_python, "src/exec/warm_python.py");
/* The run's sitecustomize, for the rehearsal (section 5): the same file runs.c writes. */
EMBED_TEXT(warm_rehearsal_sitecustomize, "src/exec/run_sitecustomize.py");
/* and its matplotlib backend, for the matplotlib rehearsal */
EMBED_TEXT(warm_rehearsal_backend, "src/exec/run_backend.py");

/* ---- 5. prefaulting a claimed program ---------------------------------------------------
 * A claimed program writes to ~1,100 of the template's pages before and after the file
 * runs (reference counts, the fresh __main__, sitecustomize's import, the end-of-run
 * clean-up), each a copy-on-write fault. On a paravirtualised VM a fault costs ~20 us, and
 * half of that is the trap: the same copies made by one madvise(MADV_POPULATE_WRITE) per
 * range cost half. Which pages those are is learnt once per template by a *rehearsal*: a
 * fork of the template runs `print(1)` through the very path a claimed program takes
 * (zygote_run, with stdio on /dev/null, in a directory of the template's own) and reports
 * the template pages it made its own; two more rehearsals do the same with a small pandas
 * program and a pyplot figure saved to a PNG, for the pages only those modules' work
 * writes (a matplotlib plot: ~2,700 more). Nothing of a user's run is ever learnt from (that
 * would tell one run something of another's), and the pages are prefaulted after the
 * claim, in the run's cgroup, so that a waiting interpreter is no larger than before. */

#define HOT_MAX_PAGES 8192  /* at most 32 MiB prefaulted per set */
#define HOT_PEEK      16384 /* bytes of the program's file looked at for a set's trigger */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

struct hot_range {
    uintptr_t start;
    size_t len;
};

/* The page sets, each learnt by a rehearsal of its own program. The first is prefaulted by
 * every claimed program; a module's (the pages its rehearsal wrote beyond the first set's)
 * only when the program's file names the module (`trigger`): a cheap guess, read before
 * Python resumes, whose only effect is time (a wrong guess prefaults pages the program does
 * not write, or leaves it its faults one by one). */
static struct hot_set {
    const char *name;    /* the stats' name */
    const char *module;  /* rehearsed only when the template imported it */
    const char *trigger; /* in the program's file: prefault this set */
    const char *program;
    struct hot_range *r;
    size_t n;
} hot_sets[] = {
    {"print", NULL, NULL, "print(1)\n", NULL, 0},
    {"pandas", "pandas", "pandas",
     "import numpy as np\nimport pandas as pd\n"
     "df = pd.DataFrame({'k': np.arange(200) % 7, 'v': np.linspace(0, 1, 200)})\n"
     "print(df.head())\nprint(df.groupby('k')['v'].agg(['sum', 'mean']))\n"
     "print(df.groupby('k')['v'].sum())\nprint(df.describe())\n",
     NULL, 0},
    {"matplotlib", "matplotlib.pyplot", "matplotlib",
     "import matplotlib.pyplot as plt\n"
     "fig, ax = plt.subplots()\nax.plot(range(20), [x * x for x in range(20)], label='y')\n"
     "ax.set_title('t')\nax.set_xlabel('x')\nax.legend()\nfig.savefig('plot.png')\n"
     "plt.plot([1, 2, 3], [4, 1, 9])\nplt.savefig('plot.png')\nplt.close('all')\n",
     NULL, 0},
};
#define N_HOT_SETS (sizeof(hot_sets) / sizeof(hot_sets[0]))

/* Prefaults set s from byte `from` of its pages on; stops after `budget` bytes (0: no
 * bound). Returns the bytes it went through. */
static size_t prefault_set(const struct hot_set *s, size_t from, size_t budget)
{
    size_t seen = 0;
    for (size_t i = 0; i < s->n; i++) {
        uintptr_t a = s->r[i].start;
        size_t len = s->r[i].len;
        if (seen + len <= from) {
            seen += len;
            continue;
        }
        if (seen < from) {
            a += from - seen;
            len -= from - seen;
            seen = from;
        }
        if (budget && seen + len > from + budget)
            len = from + budget - seen;
        if (len && madvise((void *)a, len, MADV_POPULATE_WRITE) < 0 && errno == EINVAL)
            break; /* a kernel before 5.14: faults are taken one by one, as before */
        seen += len;
        if (budget && seen >= from + budget)
            break;
    }
    return seen - from;
}

/* How much of the first set a waiting interpreter copies before its claim (zygote_wait):
 * those pages then cost a claimed program nothing. Bounded so that a waiting interpreter
 * stays as small as it was when the fork of a fork that made it had copied about as many
 * pages of its own (PSS per ready interpreter 31.4 MiB then, 28.7 without this). */
#define HOT_EARLY_BYTES (640u * 4096u)
static size_t early_bytes; /* of the first set, done before the claim in this process */

/* The program's file, if it is a regular one: its first HOT_PEEK bytes (a FIFO or a device
 * is not opened, so reading it here changes nothing the program sees). */
static size_t peek_program(const char *path, char *buf, size_t cap)
{
    struct stat st;
    if (!path || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t have = 0;
    ssize_t n;
    while (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && have < cap &&
           ((n = read(fd, buf + have, cap - have)) > 0 || (n < 0 && errno == EINTR)))
        have += n > 0 ? (size_t)n : 0;
    close(fd);
    return have;
}

static void prefault(const char *script)
{
    static char src[HOT_PEEK];
    size_t len = 0;
    bool peeked = false;
    for (size_t i = 0; i < N_HOT_SETS; i++) {
        const struct hot_set *s = &hot_sets[i];
        if (!s->n)
            continue;
        if (s->trigger) {
            if (!peeked) {
                len = peek_program(script, src, sizeof(src));
                peeked = true;
            }
            if (!memmem(src, len, s->trigger, strlen(s->trigger)))
                continue;
        }
        prefault_set(s, i == 0 ? early_bytes : 0, 0);
    }
}

/* ---- 4. zygote hooks -------------------------------------------------------------------- */

static int put(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The names in sys.modules that are not the template's, in import order. Walked here with
 * borrowed references because a walk in Python takes a reference to every name: a write
 * to each of the template's ~1,500 module names, each on a page shared with the template,
 * hence hundreds of copy-on-write faults on the run's path. */
static pyobj *new_modules(pyobj *mod)
{
    pyobj *tmpl = py.GetAttrString(mod, "_template_modules");
    pyobj *modules = py.GetModuleDict();
    pyobj *list = tmpl && modules ? py.ListNew(0) : NULL;
    pyobj *key, *value;
    ssize_t pos = 0;
    while (list && py.DictNext(modules, &pos, &key, &value))
        if (py.SetContains(tmpl, key) == 0 && py.ListAppend(list, key) < 0)
            list = NULL; /* (leaked: the process ends now) */
    return list;         /* NULL: _shutdown() walks sys.modules itself */
}

/* The program process: every restriction is in place; hand over to Python. */
__attribute__((noreturn)) static void zygote_run(void *ctx, char *const *argv, char *const *envp,
                                                 bool tell_end)
{
    (void)ctx;
    prefault(argv[0] ? argv[1] : NULL);
    int fd = (int)syscall(SYS_memfd_create, "pyroom-run", MFD_CLOEXEC);
    if (fd < 0)
        _exit(126);
    char num[32];
    size_t argc = 0, envc = 0;
    while (argv[argc])
        argc++;
    while (envp[envc])
        envc++;
    int r = 0;
    int l = snprintf(num, sizeof(num), "%zu", argc);
    r |= put(fd, num, (size_t)l + 1);
    l = snprintf(num, sizeof(num), "%zu", envc);
    r |= put(fd, num, (size_t)l + 1);
    for (size_t i = 0; i < argc; i++)
        r |= put(fd, argv[i], strlen(argv[i]) + 1);
    for (size_t i = 0; i < envc; i++)
        r |= put(fd, envp[i], strlen(envp[i]) + 1);
    if (r < 0 || lseek(fd, 0, SEEK_SET) != 0)
        _exit(126);

    pyobj *mod = py.ImportModule("_pyroom_warm");
    pyobj *prep = mod ? py.CallMethod(mod, "prepare", "i", fd) : NULL;
    if (!prep) {
        py.ErrPrint();
        _exit(1);
    }
    pyobj *code = py.TupleGetItem(prep, 0), *globals = py.TupleGetItem(prep, 1);
    pyobj *res = code && globals ? py.EvalCode(code, globals, globals) : NULL;
    pyobj *t = NULL, *v = NULL, *tb = NULL;
    if (!res) {
        py.ErrFetch(&t, &v, &tb);
        py.ErrNormalize(&t, &v, &tb);
        if (v && tb)
            py.ExcSetTraceback(v, tb);
    }
    pyobj *rc =
        py.CallMethod(mod, "finish", "OOO", t ? t : py.None, v ? v : py.None, tb ? tb : py.None);
    /* An uncaught KeyboardInterrupt ends with status 1, not by SIGINT: what python3 does
     * under our excepthook unless the program imported `traceback` itself (CPython's
     * "unhandled KeyboardInterrupt" flag is cleared on the way otherwise). */
    long status = rc ? py.AsLong(rc) : 1;
    if (!py.CallMethod(mod, "_exit_begin", NULL))
        py.ErrPrint();
    pyobj *names = new_modules(mod);
    pyobj *end = py.CallMethod(mod, "_shutdown", "liO", status, 0, names ? names : py.None);
    int exit_status = end ? (int)py.AsLong(end) : 1;
    if (!end)
        py.ErrPrint();
    if (tell_end) /* output flushed and closed: pid 1 may report now (src/sandbox/init.c) */
        sb_program_end(exit_status);
    _exit(exit_status);
}

/* The program-to-be, before it waits: the early part of the first set (HOT_EARLY_BYTES),
 * then Python's own after-fork work (its at-fork handlers: random's reseed, threading's and
 * logging's locks), at the pool's priority and charged to the pool: 3-5 ms less for each
 * claimed run, 0.9 MiB more PSS per waiting interpreter (31.6 MiB, within the 32.1 of
 * before issue 14). */
static void zygote_wait(void *ctx)
{
    (void)ctx;
    early_bytes = prefault_set(&hot_sets[0], 0, HOT_EARLY_BYTES);
    py.AfterForkChild();
}

static const struct sb_zygote_hooks zygote_hooks = {
    .before_wait = zygote_wait,
    .run = zygote_run,
};

/* ---- 3. the template process ------------------------------------------------------------ */

#define T_STDIN 0

static void tell(int type, int32_t pid, uint64_t value, const char *text, int fd)
{
    struct warm_msg m = {.type = (uint32_t)type, .pid = pid, .value = value};
    if (text)
        snprintf(m.text, sizeof(m.text), "%s", text);
    (void)warm_msg_send(WARM_CTL_FD, &m, fd);
}

static int exe_fd = -1; /* our small binary (O_PATH), exec'd as each zygote's pid 1 */

/* What each zygote's pid 1 execs: `pyroom-sandbox` beside our own binary (built and
 * installed with it; it links jansson only), else our own binary. The
 * server's binary loads ~30 libraries with ~10,000 relocations (-z now): most of a
 * zygote's cost, paid again for every refill, where the small one loads four. Found
 * beside /proc/self/exe only (never through PATH), and only a regular file owned by the
 * owner of our own binary. */
static int open_init_binary(void)
{
    char path[4096];
    struct stat me, it;
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
    char *slash = n > 0 ? memrchr(path, '/', (size_t)n) : NULL;
    if (slash) {
        strcpy(slash + 1, "pyroom-sandbox");
        int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &it) == 0 && stat("/proc/self/exe", &me) == 0 &&
            S_ISREG(it.st_mode) && it.st_uid == me.st_uid && (it.st_mode & 0022) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
    }
    return open("/proc/self/exe", O_PATH | O_CLOEXEC);
}

/* Makes one zygote: one clone of ours makes the namespaces with their pid 1 (our small
 * binary) and pid 2 (a copy of the interpreter, the future program); pid 1 is the
 * supervisor's child from the start (see sb_zygote_spawn). */
static void fork_zygote(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        tell(WARM_ERROR, 0, 0, "socketpair failed", -1);
        return;
    }
    pid_t z = 0;
    py.BeforeFork();
    int r = sb_zygote_spawn(exe_fd, sv[1], &zygote_hooks, &z);
    py.AfterForkParent();
    close(sv[1]);
    if (r == 0) {
        tell(WARM_ZYGOTE, z, 0, NULL, sv[0]);
    } else {
        char t[96];
        snprintf(t, sizeof(t), "fork zygote: %s", strerror(-r));
        tell(WARM_ERROR, 0, 0, t, -1);
    }
    close(sv[0]);
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = put(fd, text, strlen(text));
    close(fd);
    return r;
}

static int cmp_addr(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether the template imported a module (a set whose module it did not is not rehearsed). */
static bool template_has(const char *module)
{
    pyobj *modules = py.GetModuleDict();
    return modules && py.DictGetItemString(modules, module);
}

static void remove_tree(const char *dir);

/* Section 5's rehearsal of one set, once the template has booted: its program runs in a fork
 * through zygote_run, in a directory of our own; the template pages it wrote, sorted, in
 * *out. A failure gives 0 pages: claimed programs then take those faults one by one. */
static size_t rehearse(pyobj *mod, const char *program, uint64_t **out)
{
    const char *home = getenv("HOME");
    char dir[400], pyroom[420], envhome[420], envpath[440], tmp[420];
    *out = NULL;
    /* (templates share the pool's directory: one of their own each) */
    if (!home || !*home ||
        snprintf(dir, sizeof(dir), "%s/rehearsal-%d", home, (int)getpid()) >= (int)sizeof(dir))
        return 0;
    snprintf(pyroom, sizeof(pyroom), "%s/.pyroom", dir);
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || (mkdir(pyroom, 0700) < 0 && errno != EEXIST) ||
        write_text(dir, "main.py", program) < 0 ||
        write_text(pyroom, "sitecustomize.py", warm_rehearsal_sitecustomize) < 0 ||
        write_text(pyroom, "pyroom_backend.py", warm_rehearsal_backend) < 0) {
        remove_tree(dir);
        return 0;
    }
    int pp[2];
    if (pipe2(pp, O_CLOEXEC) < 0) {
        remove_tree(dir);
        return 0;
    }
    snprintf(envhome, sizeof(envhome), "HOME=%s", dir);
    snprintf(envpath, sizeof(envpath), "PYTHONPATH=%s", pyroom);
    snprintf(tmp, sizeof(tmp), "TMPDIR=%s", dir);
    char *argv[] = {"python3", "main.py", NULL};
    /* a run's environment (runs.c, the sandbox's defaults), in the template's directory */
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
                    envhome,
                    "USER=user",
                    "LOGNAME=user",
                    "SHELL=/bin/bash",
                    "LANG=C.UTF-8",
                    "TERM=dumb",
                    envpath,
                    "MPLBACKEND=module://pyroom_backend",
                    "PYTHONUNBUFFERED=1",
                    "PYTHONDONTWRITEBYTECODE=1",
                    tmp,
                    NULL};
    py.BeforeFork();
    pid_t pid = fork();
    if (pid == 0) {
        py.AfterForkChild();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        pyobj *fd = py.LongFromLong(pp[1]);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
            chdir(dir) < 0 || !fd || py.SetAttrString(mod, "_rehearsal_fd", fd) < 0)
            _exit(1);
        close(pp[0]);
        /* Our own /proc/self/pagemap, read at the end, is root's in a process that is not
         * dumpable. This one runs our code only, and only the pool's processes (never a
         * claimed one: those have a slot's uid) share its uid. */
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        /* (a zygote's program called AfterForkChild before its claim, zygote_wait) */
        zygote_run(NULL, argv, envp, false);
    }
    py.AfterForkParent();
    close(pp[1]);
    size_t cap = HOT_MAX_PAGES, n = 0;
    uint64_t *pages = pid > 0 ? malloc(cap * sizeof(*pages)) : NULL;
    ssize_t got = 0;
    size_t have = 0; /* bytes in pages[] */
    while (pages && have < cap * sizeof(*pages) &&
           ((got = read(pp[0], (char *)pages + have, cap * sizeof(*pages) - have)) > 0 ||
            (got < 0 && errno == EINTR)))
        have += got > 0 ? (size_t)got : 0;
    close(pp[0]);
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* the pool removes its directory when it ends: leave nothing in it */
    remove_tree(dir);
    n = have / sizeof(*pages);
    if (!pages || pid <= 0 || !WIFEXITED(st) || n == 0) {
        free(pages);
        return 0;
    }
    qsort(pages, n, sizeof(*pages), cmp_addr);
    *out = pages;
    return n;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st;
    (void)type;
    (void)f;
    (void)remove(path);
    return 0;
}

/* The rehearsal's directory and whatever its program left in it (never a symlink's target:
 * FTW_PHYS). */
static void remove_tree(const char *dir)
{
    (void)nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Every set's rehearsal; a module's set keeps the pages the first set does not have. */
static void rehearse_all(pyobj *mod)
{
    uint64_t *base = NULL;
    size_t nbase = 0;
    size_t psz = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t k = 0; k < N_HOT_SETS; k++) {
        struct hot_set *s = &hot_sets[k];
        if (s->module && !template_has(s->module))
            continue;
        uint64_t *pages = NULL;
        size_t n = rehearse(mod, s->program, &pages);
        s->r = n ? malloc(n * sizeof(*s->r)) : NULL;
        for (size_t i = 0, b = 0; s->r && i < n; i++) {
            while (k && b < nbase && base[b] < pages[i])
                b++;
            if (k && b < nbase && base[b] == pages[i])
                continue; /* the first set's */
            struct hot_range *last = s->n ? &s->r[s->n - 1] : NULL;
            if (last && last->start + last->len == pages[i])
                last->len += psz;
            else if (!last || last->start + last->len < pages[i])
                s->r[s->n++] = (struct hot_range){.start = (uintptr_t)pages[i], .len = psz};
        }
        if (k == 0) {
            base = pages;
            nbase = n;
        } else {
            free(pages);
        }
    }
    free(base);
}

static uint64_t set_pages(const struct hot_set *s)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < s->n; i++)
        bytes += s->r[i].len;
    return bytes / (uint64_t)sysconf(_SC_PAGESIZE);
}

int warm_template_main(int argc, char **argv)
{
    char errbuf[200];
    const char *modules = argc > 2 ? argv[2] : WARM_DEFAULT_MODULES;
    bool private_uid = argc > 3 && !strcmp(argv[3], "1");
    prctl(PR_SET_NAME, "pyroom-warm", 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Other processes of the pool's uid may not read or trace us (when it is ours alone:
     * without root our /proc files must stay writable for the supervisor's uid maps). */
    if (private_uid)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* Above the fds a zygote's fork arranges (3, 4, 5), so that none overwrites it. */
    int self = open_init_binary();
    exe_fd = self >= 0 ? fcntl(self, F_DUPFD_CLOEXEC, 10) : -1;
    if (self >= 0)
        close(self);
    if (exe_fd < 0) {
        tell(WARM_ERROR, 0, 0, "cannot open our own binary", -1);
        return 1;
    }
    if (py_load(errbuf, sizeof(errbuf)) < 0) {
        tell(WARM_ERROR, 0, 0, errbuf, -1);
        return 1;
    }
    uint64_t t0 = clock_mono_ms();
    wchar_t *prog = py.DecodeLocale("/usr/bin/python3", NULL);
    if (prog)
        py.SetProgramName(prog); /* sys.executable, prefixes: those of python3 */
    py.InitializeEx(1);
    pyobj *code = py.CompileString(warm_python, "<pyroom-warm>", PY_FILE_INPUT);
    pyobj *mod = code ? py.ExecCodeModule("_pyroom_warm", code) : NULL;
    pyobj *res = mod ? py.CallMethod(mod, "boot", "sss", modules, warm_rehearsal_sitecustomize,
                                     PYROOM_DIR "/sitecustomize.py")
                     : NULL;
    if (!res) {
        py.ErrPrint();
        tell(WARM_ERROR, 0, 0, "the template's Python set-up failed (see its log)", -1);
        return 1;
    }
    const char *errors = py.AsUTF8(res);
    rehearse_all(mod);
    for (size_t k = 0; k < N_HOT_SETS; k++)
        tell(WARM_REHEARSED, 0, set_pages(&hot_sets[k]), hot_sets[k].name, -1);
    tell(WARM_BOOTED, 0, clock_mono_ms() - t0, errors ? errors : "", -1);

    for (;;) {
        struct warm_msg m;
        int fd;
        ssize_t n = warm_msg_recv(WARM_CTL_FD, &m, &fd, 0);
        if (fd >= 0)
            close(fd);
        if (n == 0 || (n < 0 && n != -EPROTO))
            return 0; /* the supervisor is gone, or wants us gone */
        if (n < 0)
            continue;
        if (m.type == WARM_PING) {
            tell(WARM_PONG, 0, 0, NULL, -1);
        } else if (m.type == WARM_FORK) {
            for (uint64_t i = 0; i < m.value && i < WARM_MAX_CHILDREN; i++)
                fork_zygote();
        }
    }
}

int warm_init_main(void)
{
    return sb_zygote_pid1_main();
}

/*
 * warm.c: the warm Python pool (see warm.h for the theory of operation).
 *
 *   1. libpython, loaded with dlopen in the template only (the server does not link it);
 *   2. the Python half (_pyroom_warm): boot() in the template, prepare() and finish() in
 *      each program;
 *   3. the template process: boot, then fork zygotes on request;
 *   4. the zygote hooks: what the program process does instead of exec;
 *   5. the pool, in the supervisor: templates' lives, ready zygotes, health, stats.
 *
 * Template <-> supervisor: a SOCK_SEQPACKET pair (fd 3 in the template), struct warm_msg,
 * a zygote's claim socket passed with SCM_RIGHTS.
 */
#include "exec/warm.h"

#include "base/fdpass.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#define PING_EVERY_MS   10000 /* health ping of a booted template */
#define PING_TIMEOUT_MS 5000  /* ...which must answer within this */
#define BOOT_TIMEOUT_MS 120000
#define MAX_FAILS       3 /* consecutive failed claims before a template is replaced */
#define BACKOFF_MIN_MS  1000
#define BACKOFF_MAX_MS  60000

enum warm_msg_type {
    WARM_BOOTED = 0x57410001, /* template -> supervisor: imports done (value: ms, text: errors) */
    WARM_ZYGOTE,              /* template -> supervisor: pid, with its claim socket */
    WARM_ERROR,               /* template -> supervisor: text */
    WARM_PONG,
    WARM_FORK, /* supervisor -> template: fork `value` zygotes */
    WARM_PING,
};

struct warm_msg {
    uint32_t type;
    int32_t pid;
    uint64_t value;
    char text[200];
};

static int send_msg(int sock, const struct warm_msg *m, int fd)
{
    return fdpass_send(sock, m, sizeof(*m), &fd, fd >= 0 ? 1 : 0);
}

/* One message and at most one fd (close-on-exec, -1 if none); 0 on EOF, else its length;
 * -EPROTO for a message of the wrong size (nothing kept). */
static ssize_t recv_msg(int sock, struct warm_msg *m, int *ret_fd, int flags)
{
    size_t nfds = 0;
    *ret_fd = -1;
    ssize_t n = fdpass_recv(sock, m, sizeof(*m), ret_fd, 1, &nfds, flags);
    if (n == -EMSGSIZE)
        return -EPROTO;
    if (n > 0 && n != (ssize_t)sizeof(*m)) {
        if (nfds)
            close(*ret_fd);
        *ret_fd = -1;
        return -EPROTO;
    }
    if (n < 0)
        *ret_fd = -1;
    m->text[sizeof(m->text) - 1] = '\0';
    return n;
}

static uint64_t now_ms(void)
{
    return sb_now_ms();
}

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
 * boot() runs once in the template. prepare() runs in each program process, after every
 * restriction is in place: it makes the interpreter look as `python3 FILE ARGS...` with
 * this environment would at the moment it runs FILE, and returns the compiled file and a
 * fresh __main__ dict; C then evaluates it (so no frame of ours is above the program's),
 * and finish() ends the process as the interpreter's own exit would. */
static const char py_source[] =
    "import sys, os, gc\n"
    "_template_modules = frozenset()\n"
    "_base_path = []\n"
    "_main = None\n"
    "\n"
    "def boot(names):\n"
    "    global _template_modules, _base_path\n"
    "    import importlib\n"
    "    errors = []\n"
    "    for name in names.split(','):\n"
    "        name = name.strip()\n"
    "        if not name:\n"
    "            continue\n"
    "        try:\n"
    "            importlib.import_module(name)\n"
    "            if name == 'matplotlib':\n"
    "                importlib.import_module('matplotlib.pyplot')\n"
    "                importlib.import_module('matplotlib.backends.backend_agg')\n"
    "        except BaseException as e:\n"
    "            errors.append('%s: %r' % (name, e))\n"
    "    mpl = sys.modules.get('matplotlib.backends.backend_agg')\n"
    "    if mpl is not None:\n"
    "        # a first drawing loads fonts and fills caches that every plot uses; done here\n"
    "        # without pyplot, so no figure, number or backend choice is left behind\n"
    "        try:\n"
    "            import io\n"
    "            from matplotlib.figure import Figure\n"
    "            fig = Figure()\n"
    "            ax = fig.subplots()\n"
    "            ax.plot([1, 2, 3], [3, 1, 2], label='a')\n"
    "            ax.bar(['a', 'b'], [1, 2])\n"
    "            ax.set_title('warm')\n"
    "            ax.set_xlabel('x')\n"
    "            ax.legend()\n"
    "            mpl.FigureCanvasAgg(fig).print_png(io.BytesIO())\n"
    "            del fig, ax\n"
    "        except Exception as e:\n"
    "            errors.append('matplotlib warm-up: %r' % (e,))\n"
    "    import site, tempfile, types, importlib.machinery, signal, atexit\n"
    "    _base_path = list(sys.path)\n"
    "    _template_modules = frozenset(sys.modules)\n"
    "    gc.collect()\n"
    "    gc.freeze()\n"
    "    return '; '.join(errors)\n"
    "\n"
    "def prepare(fd):\n"
    "    global _main\n"
    "    import site, types, builtins, importlib, importlib.machinery\n"
    "    chunks = []\n"
    "    while True:\n"
    "        b = os.read(fd, 1 << 16)\n"
    "        if not b:\n"
    "            break\n"
    "        chunks.append(b)\n"
    "    os.close(fd)\n"
    "    fields = b''.join(chunks).split(b'\\0')\n"
    "    argc, envc = int(fields[0]), int(fields[1])\n"
    "    argv = [os.fsdecode(a) for a in fields[2:2 + argc]]\n"
    "    env = os.environ\n"
    "    env.clear()\n"
    "    for kv in fields[2 + argc:2 + argc + envc]:\n"
    "        k, _, v = kv.partition(b'=')\n"
    "        env[os.fsdecode(k)] = os.fsdecode(v)\n"
    "    sys.argv = argv[1:]\n"
    "    sys.orig_argv = list(argv)\n"
    "    script = argv[1]\n"
    "    path = os.path.abspath(script)\n"
    "    # sys.path as python3 computes it: the script's real directory, PYTHONPATH, then\n"
    "    # the interpreter's own, with the user site of this HOME\n"
    "    pp = env.get('PYTHONPATH', '')\n"
    "    extra = [os.path.abspath(p) for p in pp.split(os.pathsep)] if pp else []\n"
    "    sys.path[:] = [os.path.dirname(os.path.realpath(script))] + extra + _base_path\n"
    "    # finders of the template's own path entries stay (they revalidate by mtime and\n"
    "    # /usr is the same); any other entry is looked at afresh in this sandbox\n"
    "    base = set(_base_path)\n"
    "    for p in list(sys.path_importer_cache):\n"
    "        if p not in base:\n"
    "            del sys.path_importer_cache[p]\n"
    "    site.USER_BASE = None\n"
    "    site.USER_SITE = None\n"
    "    if site.ENABLE_USER_SITE:\n"
    "        us = site.getusersitepackages()\n"
    "        if os.path.isdir(us):\n"
    "            at = next((i for i, p in enumerate(sys.path)\n"
    "                       if p in _base_path and p.endswith(('-packages',))), len(sys.path))\n"
    "            sys.path.insert(at, us)\n"
    "            site.addsitedir(us)\n"
    "    tf = sys.modules.get('tempfile')\n"
    "    if tf is not None:\n"
    "        tf.tempdir = None\n"
    "    mpl = sys.modules.get('matplotlib')\n"
    "    if mpl is not None:\n"
    "        for fn in (mpl.get_configdir, mpl.get_cachedir):\n"
    "            for cell in fn.__closure__ or ():\n"
    "                try:\n"
    "                    if cell.cell_contents is True:\n"
    "                        cell.cell_contents = False\n"
    "                except ValueError:\n"
    "                    pass\n"
    "        if os.path.exists('matplotlibrc') or env.get('MATPLOTLIBRC'):\n"
    "            try:\n"
    "                mpl.rc_file(mpl.matplotlib_fname())\n"
    "            except Exception:\n"
    "                pass\n"
    "        mpl.rcParams['backend'] = env.get('MPLBACKEND') or mpl.rcParamsOrig['backend']\n"
    "    np = sys.modules.get('numpy')\n"
    "    if np is not None:\n"
    "        np.random.seed()\n"
    "    sys.modules.pop('sitecustomize', None)\n"
    "    site.execsitecustomize()\n"
    "    if site.ENABLE_USER_SITE:\n"
    "        sys.modules.pop('usercustomize', None)\n"
    "        site.execusercustomize()\n"
    "    main = types.ModuleType('__main__')\n"
    "    d = main.__dict__\n"
    "    d['__annotations__'] = {}\n"
    "    d['__builtins__'] = builtins\n"
    "    d['__file__'] = path\n"
    "    d['__cached__'] = None\n"
    "    d['__loader__'] = importlib.machinery.SourceFileLoader('__main__', path)\n"
    "    sys.modules['__main__'] = main\n"
    "    sys.modules.pop('_pyroom_warm', None)\n"
    "    _main = main\n"
    "    try:\n"
    "        with open(path, 'rb') as f:\n"
    "            source = f.read()\n"
    "    except OSError as e:\n"
    "        sys.stderr.write(\"%s: can't open file %r: [Errno %d] %s\\n\"\n"
    "                         % (sys.executable, path, e.errno, e.strerror))\n"
    "        _shutdown(2, False)\n"
    "    try:\n"
    "        code = compile(source, path, 'exec', dont_inherit=True)\n"
    "    except BaseException as e:\n"
    "        _shutdown(finish(type(e), e.with_traceback(None), None), False)\n"
    "    return code, d\n"
    "\n"
    "def finish(t, v, tb):\n"
    "    # the exit status the program's end gives, as python3 works it out\n"
    "    rc = 0\n"
    "    if t is not None:\n"
    "        if issubclass(t, SystemExit):\n"
    "            code = v.code\n"
    "            if code is None:\n"
    "                rc = 0\n"
    "            elif isinstance(code, int):\n"
    "                rc = code if -2 ** 63 <= code < 2 ** 63 else -1\n"
    "            else:\n"
    "                try:\n"
    "                    sys.stderr.write(str(code) + '\\n')\n"
    "                except BaseException:\n"
    "                    pass\n"
    "                rc = 1\n"
    "        else:\n"
    "            try:\n"
    "                sys.excepthook(t, v, tb)\n"
    "            except BaseException:\n"
    "                pass\n"
    "            rc = 1\n"
    "    return rc\n"
    "\n"
    "def _shutdown(rc, sigint):\n"
    "    # what Py_FinalizeEx does for a program: its threads, atexit, its objects (so that\n"
    "    # its open files are flushed), stdio; the template's modules need no teardown\n"
    "    th = sys.modules.get('threading')\n"
    "    if th is not None:\n"
    "        try:\n"
    "            th._shutdown()\n"
    "        except BaseException:\n"
    "            pass\n"
    "    import atexit\n"
    "    atexit._run_exitfuncs()\n"
    "    for name in reversed(list(sys.modules)):\n"
    "        if name in _template_modules:\n"
    "            continue\n"
    "        m = sys.modules.get(name)\n"
    "        d = getattr(m, '__dict__', None)\n"
    "        if isinstance(d, dict):\n"
    "            for k in list(d):\n"
    "                if k != '__builtins__':\n"
    "                    d[k] = None\n"
    "    if _main is not None:\n"
    "        d = _main.__dict__\n"
    "        for k in list(d):\n"
    "            if k != '__builtins__':\n"
    "                d[k] = None\n"
    "    gc.collect()\n"
    "    for f in (sys.stdout, sys.stderr):\n"
    "        try:\n"
    "            if f is not None:\n"
    "                f.flush()\n"
    "        except BaseException:\n"
    "            if rc == 0:\n"
    "                rc = 120\n"
    "    if sigint:\n"
    "        import signal\n"
    "        signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "        os.kill(os.getpid(), signal.SIGINT)\n"
    "    os._exit(rc & 0xff)\n";

/* ---- 4. zygote hooks -------------------------------------------------------------------- */

static void zygote_before_fork(void *ctx)
{
    (void)ctx;
    py.BeforeFork();
}

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

/* The program process: every restriction is in place; hand over to Python. */
__attribute__((noreturn)) static void zygote_run(void *ctx, char *const *argv, char *const *envp)
{
    (void)ctx;
    py.AfterForkChild();
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
    py.CallMethod(mod, "_shutdown", "li", status, 0);
    py.ErrPrint();
    _exit(1);
}

static const struct sb_zygote_hooks zygote_hooks = {
    .before_fork = zygote_before_fork,
    .run = zygote_run,
};

/* ---- 3. the template process ------------------------------------------------------------ */

#define T_STDIN 0
#define T_CTL   3

static void tell(int type, int32_t pid, uint64_t value, const char *text, int fd)
{
    struct warm_msg m = {.type = (uint32_t)type, .pid = pid, .value = value};
    if (text)
        snprintf(m.text, sizeof(m.text), "%s", text);
    (void)send_msg(T_CTL, &m, fd);
}

static int exe_fd = -1; /* our binary (O_PATH), exec'd as each zygote's pid 1 */

/* Makes one zygote: a fork of ours makes the namespaces with their pid 1 (our binary,
 * small) and pid 2 (a copy of the interpreter, the future program) and exits, so that the
 * zygote is re-parented to the supervisor (see sb_zygote_start). */
static void fork_zygote(void)
{
    int sv[2], pp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        tell(WARM_ERROR, 0, 0, "socketpair failed", -1);
        return;
    }
    if (pipe2(pp, O_CLOEXEC) < 0) {
        close(sv[0]);
        close(sv[1]);
        tell(WARM_ERROR, 0, 0, "pipe failed", -1);
        return;
    }
    py.BeforeFork();
    pid_t w = fork();
    if (w == 0) {
        py.AfterForkChild();
        /* Only stdio, the claim socket (3), the pid pipe (4), our binary (5) from here on. */
        if (dup2(sv[1], 3) < 0 || dup2(pp[1], 4) < 0 || dup2(exe_fd, 5) < 0)
            _exit(1);
        close_range(6, ~0u, 0);
        fcntl(5, F_SETFD, FD_CLOEXEC);
        fcntl(4, F_SETFD, FD_CLOEXEC);
        pid_t z = 0;
        int r = sb_zygote_start(5, 3, &zygote_hooks, &z);
        int32_t v = r < 0 ? r : z;
        (void)!write(4, &v, sizeof(v));
        _exit(0);
    }
    py.AfterForkParent();
    close(sv[1]);
    close(pp[1]);
    int32_t z = w < 0 ? -errno : -EPIPE;
    if (w > 0) {
        if (read(pp[0], &z, sizeof(z)) != sizeof(z))
            z = -EPIPE;
        while (waitpid(w, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    close(pp[0]);
    if (z > 0) {
        tell(WARM_ZYGOTE, z, 0, NULL, sv[0]);
    } else {
        char t[96];
        snprintf(t, sizeof(t), "fork zygote: %s", strerror(-z));
        tell(WARM_ERROR, 0, 0, t, -1);
    }
    close(sv[0]);
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
    int self = open("/proc/self/exe", O_PATH | O_CLOEXEC);
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
    struct err e = {0};
    if (sb_zygote_init(&e) < 0) {
        tell(WARM_ERROR, 0, 0, "seccomp filter could not be compiled", -1);
        return 1;
    }
    uint64_t t0 = now_ms();
    wchar_t *prog = py.DecodeLocale("/usr/bin/python3", NULL);
    if (prog)
        py.SetProgramName(prog); /* sys.executable, prefixes: those of python3 */
    py.InitializeEx(1);
    pyobj *code = py.CompileString(py_source, "<pyroom-warm>", PY_FILE_INPUT);
    pyobj *mod = code ? py.ExecCodeModule("_pyroom_warm", code) : NULL;
    pyobj *res = mod ? py.CallMethod(mod, "boot", "s", modules) : NULL;
    if (!res) {
        py.ErrPrint();
        tell(WARM_ERROR, 0, 0, "the template's Python set-up failed (see its log)", -1);
        return 1;
    }
    const char *errors = py.AsUTF8(res);
    tell(WARM_BOOTED, 0, now_ms() - t0, errors ? errors : "", -1);

    for (;;) {
        struct warm_msg m;
        int fd;
        ssize_t n = recv_msg(T_CTL, &m, &fd, 0);
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

/* ---- 5. the pool, in the supervisor ------------------------------------------------------ */

enum tag_kind { TAG_CTL, TAG_PID, TAG_LOG, TAG_ZYGOTE };

struct tag {
    enum tag_kind kind;
    void *obj;
};

struct tmpl {
    int idx;
    pid_t pid; /* 0 when not running */
    int pidfd, ctl, log;
    bool booted;
    unsigned asked;  /* zygotes asked for, not delivered yet */
    unsigned ready;  /* its zygotes in the ready list */
    unsigned fails;  /* consecutive failed claims */
    unsigned deaths; /* zygotes that died unclaimed since the last good claim */
    uint64_t started_ms;
    uint64_t ping_ms;    /* when the last ping went out */
    bool ping_out;       /* ...unanswered */
    uint64_t restart_at; /* when not running: when to start again (ms) */
    unsigned backoff_ms;
    bool ever_booted;
    struct tag tctl, tpid, tlog;
};

struct zyg {
    pid_t pid;
    int pidfd;
    int sock;
    int tmpl;
    struct tag tag;
    struct zyg *next;
};

struct warm_pool {
    struct warm_config cfg;
    struct sb_host *h;
    struct sb_pool *sp;
    int ep;     /* our own epoll set, itself watched by the supervisor's */
    int exe_fd; /* our binary, to exec templates */
    struct tmpl t[WARM_MAX_TEMPLATES];
    struct zyg *ready;
    unsigned running; /* claimed runs not yet ended (warm_pool_ended) */
    struct warm_stats st;
};

static void watch(struct warm_pool *p, int fd, struct tag *tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    (void)epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void unwatch(struct warm_pool *p, int fd)
{
    if (fd >= 0)
        (void)epoll_ctl(p->ep, EPOLL_CTL_DEL, fd, NULL);
}

static void set_error(struct warm_pool *p, const char *what, const char *text)
{
    size_t n = sizeof(p->st.last_error);
    size_t l = strlen(what) < n - 1 ? strlen(what) : n - 1;
    memcpy(p->st.last_error, what, l);
    size_t k = strnlen(text, n - 1 - l);
    memcpy(p->st.last_error + l, text, k);
    p->st.last_error[l + k] = '\0';
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int tmpl_start(struct warm_pool *p, struct tmpl *t)
{
    int ctl[2] = {-1, -1}, logp[2] = {-1, -1}, inp[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0 ||
        pipe2(logp, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(inp, O_CLOEXEC) < 0) {
        int e = -errno;
        close_fd(&ctl[0]);
        close_fd(&ctl[1]);
        close_fd(&logp[0]);
        close_fd(&logp[1]);
        return e;
    }
    const char *dir = sb_pool_dir(p->sp);
    char home[400], mplcfg[400], tmpdir[400];
    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(mplcfg, sizeof(mplcfg), "MPLCONFIGDIR=%s", dir);
    snprintf(tmpdir, sizeof(tmpdir), "TMPDIR=%s", dir);
    /* What Python reads at start-up is what a run's python3 gets (sandbox defaults and
     * runs.c's environment; warm_eligible() refuses anything else); never PYTHONPATH, nor
     * a HOME or cwd that someone else controls: templates share the host's file system. */
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
                    home,
                    "USER=user",
                    "LOGNAME=user",
                    "SHELL=/bin/bash",
                    "LANG=C.UTF-8",
                    "MPLBACKEND=Agg",
                    mplcfg,
                    "PYTHONDONTWRITEBYTECODE=1",
                    "PYTHONUNBUFFERED=1",
                    tmpdir,
                    "TERM=dumb",
                    NULL};
    bool own = sb_pool_uid(p->sp) != getuid();
    char *argv[] = {"pyroom-warm", "__warm-template", p->cfg.modules, own ? "1" : "0", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (dup2(inp[0], 0) < 0 || dup2(logp[1], 1) < 0 || dup2(logp[1], 2) < 0 ||
            dup2(ctl[1], T_CTL) < 0 || dup2(p->exe_fd, 4) < 0)
            _exit(126);
        fcntl(4, F_SETFD, FD_CLOEXEC);
        fcntl(1, F_SETFL, 0);
        close_range(5, ~0u, 0);
        if (sb_pool_enter(p->sp) < 0)
            _exit(126);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        syscall(SYS_execveat, 4, "", argv, envp, AT_EMPTY_PATH);
        _exit(127);
    }
    int e = pid < 0 ? -errno : 0;
    close(ctl[1]);
    close(logp[1]);
    close(inp[0]);
    close(inp[1]); /* the template's stdin: a pipe at end of file, as a run's may be */
    if (e < 0) {
        close(ctl[0]);
        close(logp[0]);
        return e;
    }
    t->pid = pid;
    t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    t->ctl = ctl[0];
    t->log = logp[0];
    t->booted = false;
    t->asked = t->ready = t->fails = 0;
    t->ping_out = false;
    t->started_ms = now_ms();
    t->restart_at = 0;
    t->tctl = (struct tag){TAG_CTL, t};
    t->tpid = (struct tag){TAG_PID, t};
    t->tlog = (struct tag){TAG_LOG, t};
    watch(p, t->ctl, &t->tctl);
    if (t->pidfd >= 0)
        watch(p, t->pidfd, &t->tpid);
    watch(p, t->log, &t->tlog);
    return 0;
}

static void zyg_free(struct warm_pool *p, struct zyg *z)
{
    unwatch(p, z->pidfd);
    close_fd(&z->sock); /* an unclaimed zygote exits on EOF */
    if (z->pidfd >= 0) {
        siginfo_t si;
        syscall(SYS_pidfd_send_signal, z->pidfd, SIGKILL, NULL, 0);
        memset(&si, 0, sizeof(si));
        (void)waitid(P_PIDFD, (id_t)z->pidfd, &si, WEXITED);
    }
    close_fd(&z->pidfd);
    if (z->tmpl >= 0 && p->t[z->tmpl].ready)
        p->t[z->tmpl].ready--;
    free(z);
}

static void unlink_zyg(struct warm_pool *p, struct zyg *z)
{
    for (struct zyg **pp = &p->ready; *pp; pp = &(*pp)->next)
        if (*pp == z) {
            *pp = z->next;
            return;
        }
}

/* The template ended (or is made to): reap it, drop its zygotes, plan its restart. */
static void tmpl_dead(struct warm_pool *p, struct tmpl *t)
{
    if (!t->pid)
        return;
    if (t->pidfd >= 0) {
        siginfo_t si;
        syscall(SYS_pidfd_send_signal, t->pidfd, SIGKILL, NULL, 0);
        memset(&si, 0, sizeof(si));
        (void)waitid(P_PIDFD, (id_t)t->pidfd, &si, WEXITED);
    }
    unwatch(p, t->ctl);
    unwatch(p, t->pidfd);
    unwatch(p, t->log);
    close_fd(&t->ctl);
    close_fd(&t->pidfd);
    close_fd(&t->log);
    t->pid = 0;
    for (struct zyg *z = p->ready, *next; z; z = next) {
        next = z->next;
        if (z->tmpl == t->idx) {
            unlink_zyg(p, z);
            zyg_free(p, z);
        }
    }
    t->ready = t->asked = 0;
    if (t->booted)
        p->st.restarts++;
    t->booted = false;
    /* A template that never boots is retried ever more slowly. */
    t->backoff_ms = t->ever_booted && now_ms() - t->started_ms > 60000
                        ? BACKOFF_MIN_MS
                        : (t->backoff_ms ? t->backoff_ms * 2 : BACKOFF_MIN_MS);
    if (t->backoff_ms > BACKOFF_MAX_MS)
        t->backoff_ms = BACKOFF_MAX_MS;
    t->restart_at = now_ms() + t->backoff_ms;
}

/* Asks for the zygotes missing. Forking one costs a template ~10 ms of CPU: while warm
 * runs are in progress and one is still ready, that waits for them to end, so that a run
 * does not share the CPUs with the refill it caused. */
static void top_up(struct warm_pool *p, struct tmpl *t)
{
    if (!t->pid || !t->booted)
        return;
    if (p->running && t->ready)
        return;
    unsigned have = t->ready + t->asked;
    if (have >= p->cfg.children)
        return;
    struct warm_msg m = {.type = WARM_FORK, .value = p->cfg.children - have};
    if (send_msg(t->ctl, &m, -1) == 0)
        t->asked += (unsigned)m.value;
}

static void on_ctl(struct warm_pool *p, struct tmpl *t)
{
    for (;;) {
        struct warm_msg m;
        int fd;
        ssize_t n = recv_msg(t->ctl, &m, &fd, MSG_DONTWAIT);
        if (n == -EAGAIN)
            return;
        if (n == 0 || (n < 0 && n != -EPROTO)) {
            tmpl_dead(p, t);
            return;
        }
        if (n < 0)
            continue;
        switch (m.type) {
        case WARM_BOOTED:
            t->booted = t->ever_booted = true;
            p->st.boot_ms = m.value;
            if (m.text[0])
                set_error(p, "template imports: ", m.text);
            top_up(p, t);
            break;
        case WARM_ZYGOTE: {
            if (t->asked)
                t->asked--;
            struct zyg *z = fd >= 0 && m.pid > 0 ? calloc(1, sizeof(*z)) : NULL;
            if (!z) {
                close_fd(&fd);
                break;
            }
            z->pid = m.pid;
            z->sock = fd;
            fd = -1;
            z->tmpl = t->idx;
            z->pidfd = (int)syscall(SYS_pidfd_open, m.pid, 0);
            z->tag = (struct tag){TAG_ZYGOTE, z};
            if (z->pidfd < 0) {
                z->tmpl = -1;
                zyg_free(p, z);
                break;
            }
            watch(p, z->pidfd, &z->tag);
            z->next = p->ready;
            p->ready = z;
            t->ready++;
            break;
        }
        case WARM_ERROR:
            if (t->asked && !strncmp(m.text, "fork zygote", 11))
                t->asked--;
            set_error(p, "template: ", m.text);
            break;
        case WARM_PONG:
            t->ping_out = false;
            break;
        default:
            break;
        }
        close_fd(&fd);
    }
}

static void on_log(struct warm_pool *p, struct tmpl *t)
{
    char buf[4096];
    ssize_t n = read(t->log, buf, sizeof(buf) - 1);
    if (n <= 0) {
        if (n == 0) {
            unwatch(p, t->log);
            close_fd(&t->log);
        }
        return;
    }
    buf[n] = '\0';
    /* Keep the last complete line as the pool's last error. */
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    char *line = strrchr(buf, '\n');
    set_error(p, "template said: ", line ? line + 1 : buf);
}

void warm_pool_handle(struct warm_pool *p)
{
    struct epoll_event evs[32];
    int n = epoll_wait(p->ep, evs, 32, 0);
    for (int i = 0; i < n; i++) {
        struct tag *tag = evs[i].data.ptr;
        if (tag->kind == TAG_ZYGOTE) {
            /* died unclaimed */
            struct zyg *z = tag->obj;
            bool found = false;
            for (struct zyg *q = p->ready; q; q = q->next)
                found |= q == z;
            if (!found)
                continue;
            unlink_zyg(p, z);
            int ti = z->tmpl;
            zyg_free(p, z);
            if (ti >= 0 && ++p->t[ti].deaths >= MAX_FAILS * 2) {
                /* its zygotes keep dying: replace it (with a back-off), do not spin */
                set_error(p, "template: ", "its waiting interpreters keep dying; replaced");
                p->t[ti].deaths = 0;
                tmpl_dead(p, &p->t[ti]);
            } else if (ti >= 0) {
                top_up(p, &p->t[ti]);
            }
            continue;
        }
        struct tmpl *t = tag->obj;
        if (!t->pid)
            continue; /* handled earlier in this batch */
        if (tag->kind == TAG_CTL)
            on_ctl(p, t);
        else if (tag->kind == TAG_LOG)
            on_log(p, t);
        else
            tmpl_dead(p, t);
    }
}

uint64_t warm_pool_tick(struct warm_pool *p, uint64_t now)
{
    uint64_t next = now + 1000;
    for (unsigned i = 0; i < p->cfg.templates; i++) {
        struct tmpl *t = &p->t[i];
        if (!t->pid) {
            if (now >= t->restart_at && tmpl_start(p, t) < 0)
                t->restart_at = now + BACKOFF_MAX_MS;
            continue;
        }
        if (!t->booted) {
            if (now - t->started_ms > BOOT_TIMEOUT_MS) {
                set_error(p, "template: ", "did not boot in time");
                tmpl_dead(p, t);
            }
            continue;
        }
        if (t->ping_out && now - t->ping_ms > PING_TIMEOUT_MS) {
            set_error(p, "template: ", "did not answer a ping");
            tmpl_dead(p, t);
            continue;
        }
        if (!t->ping_out && now - t->ping_ms > PING_EVERY_MS) {
            struct warm_msg m = {.type = WARM_PING};
            if (send_msg(t->ctl, &m, -1) == 0) {
                t->ping_out = true;
                t->ping_ms = now;
            }
        }
        top_up(p, t);
    }
    return next;
}

int warm_pool_new(const struct warm_config *cfg, struct sb_host *h, int ep, void *tag,
                  struct warm_pool **ret, struct err *err)
{
    struct warm_pool *p = calloc(1, sizeof(*p));
    int r;
    if (!p)
        return err_set(err, ENOMEM, "warm pool");
    p->cfg = *cfg;
    if (!p->cfg.templates)
        p->cfg.templates = 1;
    if (p->cfg.templates > WARM_MAX_TEMPLATES)
        p->cfg.templates = WARM_MAX_TEMPLATES;
    if (!p->cfg.children)
        p->cfg.children = 1;
    if (p->cfg.children > WARM_MAX_CHILDREN)
        p->cfg.children = WARM_MAX_CHILDREN;
    if (!p->cfg.modules[0])
        snprintf(p->cfg.modules, sizeof(p->cfg.modules), "%s", WARM_DEFAULT_MODULES);
    p->h = h;
    p->ep = -1;
    p->exe_fd = -1;
    for (unsigned i = 0; i < WARM_MAX_TEMPLATES; i++)
        p->t[i] = (struct tmpl){.idx = (int)i, .pidfd = -1, .ctl = -1, .log = -1};
    p->st.enabled = true;
    p->st.memory_limit_bytes = cfg->memory_bytes;
    /* Our zygotes are re-parented to us when the process that made them exits. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        r = err_set(err, errno, "become a subreaper");
        goto fail;
    }
    p->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (p->exe_fd < 0) {
        r = err_set(err, errno, "open /proc/self/exe");
        goto fail;
    }
    if ((r = sb_pool_open(h, cfg->memory_bytes, &p->sp, err)) < 0)
        goto fail;
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    if (p->ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p->ep, &ev) < 0) {
        r = err_set(err, errno, "epoll");
        goto fail;
    }
    for (unsigned i = 0; i < p->cfg.templates; i++)
        if ((r = tmpl_start(p, &p->t[i])) < 0) {
            err_set(err, -r, "start a template");
            goto fail;
        }
    *ret = p;
    return 0;
fail:
    warm_pool_free(p);
    return r;
}

void warm_pool_free(struct warm_pool *p)
{
    if (!p)
        return;
    while (p->ready) {
        struct zyg *z = p->ready;
        p->ready = z->next;
        z->tmpl = -1;
        zyg_free(p, z);
    }
    for (unsigned i = 0; i < WARM_MAX_TEMPLATES; i++)
        tmpl_dead(p, &p->t[i]);
    if (p->ep >= 0)
        close(p->ep);
    if (p->exe_fd >= 0)
        close(p->exe_fd);
    sb_pool_close(p->sp);
    free(p);
}

bool warm_eligible(const struct sb_spec *spec)
{
    if (!spec->warm || spec->pty || !spec->argv || !spec->argv[0] || !spec->argv[1])
        return false;
    if (strcmp(spec->argv[0], "python3") != 0 || spec->argv[1][0] == '-' || !spec->argv[1][0])
        return false;
    bool unbuffered = false;
    for (const char *const *e = spec->env; e && *e; e++) {
        const char *kv = *e;
        if (!strncmp(kv, "PYTHONUNBUFFERED=", 17)) {
            unbuffered = !strcmp(kv + 17, "1");
            if (!unbuffered)
                return false;
        } else if (!strncmp(kv, "PYTHONPATH=", 11)) {
            continue; /* applied by prepare() */
        } else if (!strncmp(kv, "PYTHONDONTWRITEBYTECODE=", 24)) {
            if (strcmp(kv + 24, "1") != 0)
                return false;
        } else if (!strncmp(kv, "PYTHON", 6) || !strncmp(kv, "LC_", 3) ||
                   !strncmp(kv, "LANG=", 5)) {
            /* read at start-up (hash seed, I/O encoding, locale...): only cold can honour */
            if (strcmp(kv, "LANG=C.UTF-8") != 0)
                return false;
        }
    }
    return unbuffered;
}

int warm_pool_take(struct warm_pool *p, pid_t *ret_pid, int *ret_sock, uid_t *ret_uid,
                   int *ret_tmpl)
{
    struct zyg *z = p->ready;
    if (!z)
        return -EAGAIN;
    p->ready = z->next;
    unwatch(p, z->pidfd);
    close_fd(&z->pidfd); /* the sandbox opens its own */
    struct tmpl *t = &p->t[z->tmpl];
    if (t->ready)
        t->ready--;
    *ret_pid = z->pid;
    *ret_sock = z->sock;
    *ret_uid = sb_pool_uid(p->sp);
    *ret_tmpl = z->tmpl;
    free(z);
    p->running++;
    top_up(p, t);
    return 0;
}

void warm_pool_ended(struct warm_pool *p)
{
    if (p->running)
        p->running--;
    for (unsigned i = 0; i < p->cfg.templates; i++)
        top_up(p, &p->t[i]);
}

void warm_pool_claimed(struct warm_pool *p, int tmpl, const char *error)
{
    if (tmpl < 0 || tmpl >= WARM_MAX_TEMPLATES)
        return;
    struct tmpl *t = &p->t[tmpl];
    if (!error) {
        p->st.claims++;
        t->fails = t->deaths = 0;
        return;
    }
    p->st.failed_claims++;
    p->st.fallbacks++;
    set_error(p, "claim: ", error);
    if (++t->fails >= MAX_FAILS && t->pid) {
        /* (the claim error above stays the last error) */
        t->fails = 0;
        tmpl_dead(p, t);
    }
}

void warm_pool_fallback(struct warm_pool *p)
{
    p->st.fallbacks++;
}

bool warm_pool_owns(const struct warm_pool *p, pid_t pid)
{
    for (unsigned i = 0; i < WARM_MAX_TEMPLATES; i++)
        if (p->t[i].pid == pid)
            return true;
    for (struct zyg *z = p->ready; z; z = z->next)
        if (z->pid == pid)
            return true;
    return false;
}

/* Proportional set size of a process (shared pages divided among their users), bytes. */
static uint64_t pss_of(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *s = strstr(buf, "\nPss:");
    return s ? strtoull(s + 5, NULL, 10) * 1024 : 0;
}

void warm_pool_stats(struct warm_pool *p, struct warm_stats *ret)
{
    p->st.templates = 0;
    p->st.ready = 0;
    p->st.pss_bytes = 0;
    p->st.template_pss_bytes = 0;
    for (unsigned i = 0; i < p->cfg.templates; i++) {
        if (!p->t[i].pid || !p->t[i].booted)
            continue;
        p->st.templates++;
        uint64_t v = pss_of(p->t[i].pid);
        p->st.pss_bytes += v;
        if (v > p->st.template_pss_bytes)
            p->st.template_pss_bytes = v;
    }
    for (struct zyg *z = p->ready; z; z = z->next) {
        p->st.ready++;
        p->st.pss_bytes += pss_of(z->pid);
        /* and its program process, forked in advance */
        char path[64], buf[256];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)z->pid, (int)z->pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n > 0) {
            buf[n] = '\0';
            for (char *q = buf, *e; *q; q = e) {
                long c = strtol(q, &e, 10);
                if (e == q)
                    break;
                p->st.pss_bytes += pss_of((pid_t)c);
            }
        }
    }
    p->st.cgroup_bytes = sb_pool_memory_bytes(p->sp);
    *ret = p->st;
}

# The warm pool's Python half, the module _pyroom_warm (src/exec/warm.c embeds this file
# and runs it in each template interpreter; see src/exec/warm.h for the theory of operation).
#
# boot() runs once in the template: it imports the module list, warms matplotlib's caches
# and freezes the heap for the garbage collector. prepare() runs in each program process,
# after every restriction is in place: it makes the interpreter look as `python3 FILE
# ARGS...` with this environment would at the moment it runs FILE, and returns the
# compiled file and a fresh __main__ dict; C then evaluates it (so no frame of ours is
# above the program's), and finish() and _shutdown() end the process as the interpreter's
# own exit would. Nothing here may print, or leave a name in the program's view.
import sys, os, gc
_template_modules = frozenset()
_site_src = b''  # our sitecustomize (run_sitecustomize.py), as runs.c writes it
_site_code = None, None  # (the path in a run, its code compiled there)
_base_path = []
_finders = 0  # entries of sys.path_importer_cache when the template was frozen
_main = None
_regions = ()  # the template's writable private mappings (start, end), for rehearse()
_rehearsal_fd = -1  # set (in a rehearsal only) by warm_template.c's rehearse()


def _kept_finder(p, base):
    # a finder the template cached that describes the sandbox's file system as well: one of
    # the interpreter's own path entries, or a directory of /usr (bound read-only from the
    # host's into every sandbox; a finder revalidates its listing by the directory's mtime)
    return p in base or (isinstance(p, str) and (p == '/usr' or p.startswith('/usr/')))


def _drop_finders(base):
    for p in list(sys.path_importer_cache):
        if not _kept_finder(p, base):
            del sys.path_importer_cache[p]

def boot(names, site_src, site_path):
    global _template_modules, _base_path, _finders, _regions, _site_src, _site_code
    _site_src = site_src.encode()
    _site_code = site_path, compile(site_src, site_path, 'exec', dont_inherit=True)
    import importlib
    errors = []
    for name in names.split(','):
        name = name.strip()
        if not name:
            continue
        try:
            importlib.import_module(name)
            if name == 'matplotlib':
                importlib.import_module('matplotlib.pyplot')
                importlib.import_module('matplotlib.backends.backend_agg')
        except BaseException as e:
            errors.append('%s: %r' % (name, e))
    mpl = sys.modules.get('matplotlib.backends.backend_agg')
    if mpl is not None:
        # a first drawing loads fonts and fills caches that every plot uses; done here
        # without pyplot, so no figure, number or backend choice is left behind
        try:
            import io
            from matplotlib.figure import Figure
            fig = Figure()
            ax = fig.subplots()
            ax.plot([1, 2, 3], [3, 1, 2], label='a')
            ax.bar(['a', 'b'], [1, 2])
            ax.set_title('warm')
            ax.set_xlabel('x')
            ax.legend()
            mpl.FigureCanvasAgg(fig).print_png(io.BytesIO())
            del fig, ax
        except Exception as e:
            errors.append('matplotlib warm-up: %r' % (e,))
    pd = sys.modules.get('pandas')
    if pd is not None:
        # the first DataFrame, groupby and repr import pandas' lazy modules and fill its
        # caches (1,470 -> 1,265 copy-on-write faults and 60 -> 50 ms of CPU for the
        # issue's script in a claimed interpreter); no option is set and nothing is kept
        try:
            import io
            import warnings
            with warnings.catch_warnings():
                # a warning shown here would be in a registry of pandas' (a run's same
                # warning then not shown): none may happen, and one is an error
                warnings.simplefilter('error')
                df = pd.DataFrame({'k': [1, 2, 1, 3], 'v': [0.5, 1.5, 2.5, 3.5]})
                g = df.groupby('k')
                for shown in (df, g['v'].sum(), g.agg(['sum', 'mean', 'count']), df.describe()):
                    repr(shown)
                df.to_csv(io.StringIO())
                del df, g, shown
        except Exception as e:
            errors.append('pandas warm-up: %r' % (e,))
    # what prepare() and _shutdown() use, imported now so that they are the template's
    for name in ('site', 'tempfile', 'types', 'importlib.machinery', 'importlib.util', 'signal',
                 'atexit'):
        importlib.import_module(name)
    _base_path = list(sys.path)
    # sys.modules' names, copied next to each other: a run's end reads the hash of every
    # name (warm_template.c's new_modules()), and 1,500 names spread over hundreds of the
    # template's pages cost 3 ms of first touches in a process just claimed
    for name in list(sys.modules):
        if type(name) is str:
            sys.modules[(name + '.')[:-1]] = sys.modules.pop(name)
    _template_modules = frozenset(sys.modules)
    # Finders of anything but /usr go now, once: dropping them in each run released
    # thousands of shared objects, each a copy-on-write page fault on the run's path.
    _drop_finders(set(_base_path))
    _finders = len(sys.path_importer_cache)
    # matplotlib empties its font cache in every fork's child (os.register_at_fork): its
    # fonts (FT2Font, each holding the font file open) would be released in each claimed
    # program, after the zygote has closed the template's fds. Emptied once here: no
    # template font is kept, no file stays open, and a fork's child has nothing to release.
    fm = sys.modules.get('matplotlib.font_manager')
    if fm is not None:
        fm._get_font.cache_clear()
    gc.collect()
    gc.freeze()
    _regions = _writable_regions()
    return '; '.join(errors)


def _writable_regions():
    out = []
    with open('/proc/self/maps') as f:
        for line in f:
            addr, perms = line.split(None, 2)[:2]
            if perms[1] == 'w' and perms[3] == 'p':
                a, b = addr.split('-')
                out.append((int(a, 16), int(b, 16)))
    return tuple(out)


def _rehearsal_report(fd):
    # The end of a rehearsal (a fork of the template that ran a tiny program through
    # prepare() and _shutdown(), never user code): the addresses of the template's pages
    # this process has written (now its own: exclusively mapped, bit 56 of pagemap), which
    # every claimed run writes too. warm_template.c prefaults them in each claimed program
    # with one madvise per range (a fault taken one page at a time costs twice as much).
    import struct
    pages = []
    ps = os.sysconf('SC_PAGE_SIZE')
    with open('/proc/self/pagemap', 'rb') as pm:
        for a, b in _regions:
            if b - a > 1 << 32:
                continue  # a reservation (a sanitizer's shadow), not the interpreter's heap
            for c in range(a, b, ps << 16):
                pm.seek(c // ps * 8)
                data = pm.read((min(b, c + (ps << 16)) - c) // ps * 8)
                for i, (e,) in enumerate(struct.iter_unpack('Q', data)):
                    if e >> 63 and (e >> 56) & 1:
                        pages.append(c + i * ps)
    buf = struct.pack('%dQ' % len(pages), *pages)
    while buf:
        buf = buf[os.write(fd, buf):]

def prepare(fd):
    global _main
    import site, types, builtins, importlib, importlib.machinery
    chunks = []
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    fields = b''.join(chunks).split(b'\0')
    argc, envc = int(fields[0]), int(fields[1])
    argv = [os.fsdecode(a) for a in fields[2:2 + argc]]
    env = os.environ
    env.clear()
    for kv in fields[2 + argc:2 + argc + envc]:
        k, _, v = kv.partition(b'=')
        env[os.fsdecode(k)] = os.fsdecode(v)
    sys.argv = argv[1:]
    sys.orig_argv = list(argv)
    script = argv[1]
    path = os.path.abspath(script)
    # sys.path as python3 computes it: the script's real directory, PYTHONPATH, then
    # the interpreter's own, with the user site of this HOME
    pp = env.get('PYTHONPATH', '')
    extra = [os.path.abspath(p) for p in pp.split(os.pathsep)] if pp else []
    sys.path[:] = extra + _base_path  # the script's directory comes after site's work
    # the template left only finders that hold in the sandbox too (_kept_finder); any
    # other entry is looked at afresh here
    if len(sys.path_importer_cache) != _finders:
        _drop_finders(set(_base_path))
    site.USER_BASE = None
    site.USER_SITE = None
    if site.ENABLE_USER_SITE:
        us = site.getusersitepackages()
        if os.path.isdir(us):
            at = next((i for i, p in enumerate(sys.path)
                       if p in _base_path and p.endswith(('-packages',))), len(sys.path))
            sys.path.insert(at, us)
            site.addsitedir(us)
    tf = sys.modules.get('tempfile')
    if tf is not None:
        tf.tempdir = None
    mpl = sys.modules.get('matplotlib')
    if mpl is not None:
        for fn in (mpl.get_configdir, mpl.get_cachedir):
            for cell in fn.__closure__ or ():
                try:
                    if cell.cell_contents is True:
                        cell.cell_contents = False
                except ValueError:
                    pass
        if os.path.exists('matplotlibrc') or env.get('MATPLOTLIBRC'):
            try:
                mpl.rc_file(mpl.matplotlib_fname())
            except Exception:
                pass
        mpl.rcParams['backend'] = env.get('MPLBACKEND') or mpl.rcParamsOrig['backend']
    # (seeding numpy before the claim, in the process that makes each waiting interpreter,
    # took 118 faults off this path but made each waiting interpreter 1 MiB larger)
    np = sys.modules.get('numpy')
    if np is not None:
        np.random.seed()
    _sitecustomize(extra)
    if site.ENABLE_USER_SITE:
        sys.modules.pop('usercustomize', None)
        site.execusercustomize()
    # python3 puts the script's directory first once site has imported sitecustomize and
    # usercustomize (so a workspace's sitecustomize.py is not what runs at start-up)
    sys.path.insert(0, os.path.dirname(os.path.realpath(script)))
    main = types.ModuleType('__main__')
    d = main.__dict__
    d['__annotations__'] = {}
    d['__builtins__'] = builtins
    d['__file__'] = path
    d['__cached__'] = None
    d['__loader__'] = importlib.machinery.SourceFileLoader('__main__', path)
    sys.modules['__main__'] = main
    sys.modules.pop('_pyroom_warm', None)
    _main = main
    try:
        with open(path, 'rb') as f:
            source = f.read()
    except OSError as e:
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n"
                         % (sys.executable, path, e.errno, e.strerror))
        os._exit(_shutdown(2, False))
    try:
        code = compile(source, path, 'exec', dont_inherit=True)
    except BaseException as e:
        os._exit(_shutdown(finish(type(e), e.with_traceback(None), None), False))
    return code, d

def _sitecustomize(extra):
    # site.execsitecustomize(), with sys.path as python3 has it then. A run's PYTHONPATH is
    # the run's .pyroom, where runs.c wrote our sitecustomize: when the file there is that
    # text, byte for byte, it runs from the code boot() compiled, as an import would run it
    # (the same module attributes), without a search of the path and a compile in each run.
    import site, importlib.util
    sys.modules.pop('sitecustomize', None)
    path = os.path.join(extra[0], 'sitecustomize.py') if len(extra) == 1 else None
    ours = False
    if path and _site_src:
        try:
            with open(path, 'rb') as f:
                ours = f.read(len(_site_src) + 1) == _site_src
        except OSError:
            pass
    if not ours:
        site.execsitecustomize()
        return
    at, code = _site_code
    if path != at:
        code = compile(_site_src, path, 'exec', dont_inherit=True)
    spec = importlib.util.spec_from_file_location('sitecustomize', path)
    m = importlib.util.module_from_spec(spec)
    sys.modules['sitecustomize'] = m
    try:
        exec(code, m.__dict__)
    except Exception as err:
        sys.modules.pop('sitecustomize', None)
        sys.stderr.write('Error in sitecustomize; set PYTHONVERBOSE for traceback:\n'
                         '%s: %s\n' % (err.__class__.__name__, err))


def finish(t, v, tb):
    # the exit status the program's end gives, as python3 works it out
    rc = 0
    if t is not None:
        if issubclass(t, SystemExit):
            code = v.code
            if code is None:
                rc = 0
            elif isinstance(code, int):
                rc = code if -2 ** 63 <= code < 2 ** 63 else -1
            else:
                try:
                    sys.stderr.write(str(code) + '\n')
                except BaseException:
                    pass
                rc = 1
        else:
            try:
                sys.excepthook(t, v, tb)
            except BaseException:
                pass
            rc = 1
    return rc

def _exit_begin():
    # the start of what Py_FinalizeEx does for a program: its threads, atexit
    th = sys.modules.get('threading')
    if th is not None:
        try:
            th._shutdown()
        except BaseException:
            pass
    import atexit
    atexit._run_exitfuncs()


def _shutdown(rc, sigint, new_modules=None):
    # the rest of it: the program's objects (so that its open files are flushed), stdio;
    # the template's modules need no teardown. new_modules: the names in sys.modules that
    # are not the template's, in import order (warm.c walks them without writing to the
    # template's pages); None: _exit_begin() has not run, and the names are found here.
    # Returns the exit status (C exits with it, telling pid 1 first: src/sandbox/init.c).
    if new_modules is None:
        _exit_begin()
        new_modules = [n for n in list(sys.modules) if n not in _template_modules]
    for name in reversed(new_modules):
        m = sys.modules.get(name)
        d = getattr(m, '__dict__', None)
        if isinstance(d, dict):
            for k in list(d):
                if k != '__builtins__':
                    d[k] = None
    if _main is not None:
        d = _main.__dict__
        for k in list(d):
            if k != '__builtins__':
                d[k] = None
    gc.collect()
    for f in (sys.stdout, sys.stderr):
        try:
            if f is not None:
                f.flush()
        except BaseException:
            if rc == 0:
                rc = 120
    # the output is complete: the server sees its end now, not after the kernel has torn
    # down this copy of the interpreter's address space (the run's exit_ms, not program_ms)
    os.closerange(0, 3)
    if _rehearsal_fd >= 0:
        _rehearsal_report(_rehearsal_fd)
    if sigint:
        import signal
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return rc & 0xff

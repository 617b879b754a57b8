/*
 * pyroom-server: the command line of the server binary. Users type `pyroom`, a small front
 * (main_front.c) that runs the sandbox commands itself and execs this binary, beside it, for
 * every other command with the same arguments; this one runs all of them.
 *
 *   pyroom serve [--flag value ...]     run the server (flags: pyroom serve --help)
 *   pyroom user add NAME --role ROLE    create an account; the password comes from stdin
 *   pyroom user set-role NAME ROLE      change an account's role
 *   pyroom migrate                      apply database migrations and exit
 *   pyroom sandbox ...                  drive the sandbox directly (tests, debugging)
 *   pyroom version
 *
 * Start-up order matters for `serve`: the sandbox supervisor is forked before any thread
 * exists (cloning from a threaded process can deadlock the child on malloc locks), then
 * the store opens, then the HTTP threads start. SIGTERM/SIGINT are taken with sigwait in
 * the main thread: stop accepting, finish in-flight requests, end runs, close the store.
 */
#include "api/api.h"
#include "auth/password.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/settings.h"
#include "cmd_sandbox.h"
#include "exec/supervisor.h"
#include "exec/warm.h"
#include "http/server.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define VERSION "0.1.0"

static void usage(FILE *out)
{
    fputs("usage: pyroom COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  serve [FLAGS]                 run the server (see `pyroom serve --help`)\n"
          "  user add NAME [--role ROLE]   create an account (password read from stdin)\n"
          "  user set-role NAME ROLE       change a role: submitter, reviewer or admin\n"
          "  migrate                       apply database migrations and exit\n"
          "  drain [--data-dir DIR]        stop the server of DIR gracefully (SIGTERM) and wait\n"
          "                                until it has exited (a Kubernetes preStop hook)\n"
          "  sandbox run [FLAGS] -- CMD    run a command in a sandbox (see its --help)\n"
          "  doctor                        check that this host can build sandboxes\n"
          "  version                       print the version\n"
          "\n"
          "Every command takes --database URL (or $PYROOM_DATABASE).\n",
          out);
}

static void serve_help(FILE *out)
{
    fputs("usage: pyroom serve [FLAGS]\n\nflags (each also an environment variable):\n", out);
    settings_help(out);
}

/* Parses --name value / --name=value flags into s. Returns 0, or 2 after printing a
 * one-line error. Non-flag arguments are collected in pos (at most npos). */
static int parse_flags(struct settings *s, int argc, char **argv, const char **pos, int *npos,
                       void (*help)(FILE *))
{
    int max = *npos;
    *npos = 0;
    char errbuf[256];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            if (*npos == max) {
                fprintf(stderr, "pyroom: unexpected argument '%s'\n", a);
                return 2;
            }
            pos[(*npos)++] = a;
            continue;
        }
        char name[64];
        const char *value;
        const char *eq = strchr(a + 2, '=');
        if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a - 2), a + 2);
            value = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a + 2);
            if (!settings_exists(name)) {
                fprintf(stderr, "pyroom: unknown flag --%s (see --help)\n", name);
                return 2;
            }
            if (settings_is_bool(name) &&
                (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0 ||
                 (strcmp(argv[i + 1], "true") && strcmp(argv[i + 1], "false"))))
                value = "true";
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                fprintf(stderr, "pyroom: --%s needs a value\n", name);
                return 2;
            }
        }
        if (settings_set(s, name, value, errbuf, sizeof(errbuf)) < 0) {
            fprintf(stderr, "pyroom: %s\n", errbuf);
            return 2;
        }
    }
    return 0;
}

static int open_store(const struct settings *s, struct store **ret)
{
    struct err e = {0};
    struct store_options opt = {.pool_size = (int)s->db_pool, .busy_timeout_ms = 5000};
    if (store_open(s->database, &opt, ret, &e) < 0) {
        fprintf(stderr, "pyroom: cannot open the database: %s\n", e.msg);
        return 1;
    }
    if (store_migrate(*ret, NULL, &e) < 0) {
        fprintf(stderr, "pyroom: cannot migrate the database: %s\n", e.msg);
        store_close(*ret);
        return 1;
    }
    return 0;
}

static int split_listen(const char *listen, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return -EINVAL;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -EINVAL;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hostlen)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}

/* web/dist next to the build directory of the binary (build/pyroom -> web/dist). */
static void default_web_dir(struct settings *s)
{
    if (*s->web_dir)
        return;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char dir[4200];
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(dir, sizeof(dir), "%s/../web/dist", exe);
    } else {
        snprintf(dir, sizeof(dir), "web/dist");
    }
    char errbuf[64];
    settings_set(s, "web-dir", dir, errbuf, sizeof(errbuf));
}

/* Each connection is a file descriptor: raise the soft limit toward the hard one, so that
 * --max-connections, not a default of 1024 descriptors, is what caps them. */
static void raise_open_files(uint64_t connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t want = (rlim_t)connections + 4096;
    if (want > rl.rlim_max)
        want = rl.rlim_max;
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The HTTP server's configuration from the settings (host and port from --listen). */
static struct http_config http_settings(const struct settings *s, const char *host, uint16_t port)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return (struct http_config){
        .listen_host = host,
        .listen_port = port,
        .max_body = s->max_body,
        .max_connections = (unsigned)s->max_connections,
        .connection_timeout = (unsigned)s->connection_timeout,
        .header_timeout = (unsigned)s->header_timeout,
        .min_body_rate = (unsigned)s->min_body_rate,
        .max_query_params = (unsigned)s->max_query_params,
        .connection_memory = (size_t)s->connection_memory,
        .loop_threads =
            s->http_threads ? (unsigned)s->http_threads : (unsigned)(cores > 0 ? cores : 1),
        .workers = (unsigned)s->http_workers,
        .queue = (unsigned)s->http_queue,
        .access_log = s->access_log,
        .trust_proxy = s->trust_proxy,
        .max_per_ip = (unsigned)s->max_connections_per_ip,
        .inline_ok = api_inline_ok,
    };
}

static void set_log_level(const char *level)
{
    if (!strcmp(level, "debug"))
        log_set_level(LOG_DEBUG);
    else if (!strcmp(level, "warn"))
        log_set_level(LOG_WARN);
    else if (!strcmp(level, "error"))
        log_set_level(LOG_ERROR);
}

static int cmd_serve(struct settings *s)
{
    char host[256];
    uint16_t port;
    struct err e = {0};
    if (split_listen(s->listen, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "pyroom: --listen: '%s' is not HOST:PORT\n", s->listen);
        return 2;
    }
    default_web_dir(s);
    set_log_level(s->log_level);

    /* Signals are taken by sigwait below; every thread inherits this mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The supervisor first: before any thread exists. */
    struct sup *sup = NULL;
    struct sup_config supcfg = {
        .warm =
            {
                .enabled = s->warm_pool,
                .templates = (unsigned)s->warm_templates,
                .children = (unsigned)s->warm_children,
                .memory_bytes = s->warm_memory,
            },
    };
    snprintf(supcfg.warm.modules, sizeof(supcfg.warm.modules), "%s", s->warm_modules);
    if (sup_start(&supcfg, &sup, &e) < 0) {
        log_event(LOG_WARN, "sandboxes unavailable; runs and terminals are disabled",
                  json_pack("{s:s}", "error", e.msg));
        sup = NULL;
    } else {
        log_event(LOG_INFO, "sandbox", json_pack("{s:s}", "mode", sup_summary(sup)));
    }

    struct store *st = NULL;
    int rc = open_store(s, &st);
    if (rc) {
        sup_stop(sup);
        return rc;
    }
    if (password_init(0) < 0) {
        fprintf(stderr, "pyroom: libsodium failed to initialise\n");
        return 1;
    }

    struct api *api = NULL;
    if (api_new(s, st, sup, &api, &e) < 0) {
        fprintf(stderr, "pyroom: %s\n", e.msg);
        store_close(st);
        return 1;
    }
    metrics_set_enabled(s->metrics);
    const char *mode = !sup                                    ? "none"
                       : strstr(sup_summary(sup), "cgroup v1") ? "cgroup_v1"
                       : strstr(sup_summary(sup), "cgroup v2") ? "cgroup_v2"
                                                               : "rlimit";
    metrics_set(METRIC_BUILD_INFO, (const char *[]){VERSION, store_driver_name(st), mode}, 1);
    struct http_config hc = http_settings(s, host, port);
    raise_open_files(s->max_connections);
    struct http_server *srv = NULL;
    if (http_server_start(&hc, api_handle, api, &srv, &e) < 0) {
        fprintf(stderr, "pyroom: %s\n", e.msg);
        api_free(api);
        store_close(st);
        return 1;
    }
    api_metrics_node(http_server_port(srv));
    log_event(LOG_INFO, "listening",
              json_pack("{s:s,s:i,s:s,s:s}", "host", host, "port", http_server_port(srv),
                        "database", store_driver_name(st), "version", VERSION));

    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGTERM) {
        /* Drain (api/drain.h) until the runs here are done or --drain-grace passed; a
         * second signal stops at once. SIGINT (Ctrl+C) stops at once. */
        api_drain_start(api);
        const struct timespec step = {0, 200 * 1000 * 1000};
        while (!api_drained(api) && sigtimedwait(&sigs, NULL, &step) < 0)
            ;
    }
    log_event(LOG_INFO, "shutting down", json_pack("{s:i}", "signal", sig));
    /* Stop accepting and join the handlers; end live streams, relays and terminals (their
     * sockets must close before the server's); close the rest; then free (api/live.h). */
    http_server_quiesce(srv);
    api_stop_live(api);
    http_server_stop(srv);
    api_free(api);
    store_close(st);
    sup_stop(sup);
    log_event(LOG_INFO, "stopped", NULL);
    return 0;
}

/* `pyroom drain`: signals the server that holds DATA_DIR/node.lock (its pid is in the
 * file, api/cluster.c) and waits until it lets go of the lock, i.e. has exited: at most
 * --drain-grace plus a minute for ending terminals and requests. 0 when no server is left,
 * 1 when it is still running at the end. */
static int cmd_drain(const struct settings *s)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/node.lock", s->data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0) {
        printf("pyroom: no server is running on %s\n", s->data_dir);
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char text[32] = "";
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    long pid = n > 0 ? strtol(text, NULL, 10) : 0;
    if (pid <= 0 || kill((pid_t)pid, SIGTERM) < 0) {
        fprintf(stderr, "pyroom: cannot signal the server of %s (pid '%.20s')\n", s->data_dir,
                text);
        close(fd);
        return 1;
    }
    printf("pyroom: draining the server (pid %ld), up to %llu s for its runs\n", pid,
           (unsigned long long)s->drain_grace);
    fflush(stdout);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const struct timespec step = {0, 100 * 1000 * 1000};
    int rc = 1;
    for (;;) {
        if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
            rc = 0;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((uint64_t)(now.tv_sec - start.tv_sec) > s->drain_grace + 60)
            break;
        nanosleep(&step, NULL);
    }
    close(fd);
    puts(rc ? "pyroom: the server is still running" : "pyroom: the server has stopped");
    return rc;
}

static int read_password(char *out, size_t len)
{
    if (!fgets(out, (int)len, stdin))
        return -EINVAL;
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

static int cmd_user(struct settings *s, int argc, char **argv)
{
    const char *pos[4];
    int npos = 4;
    const char *role = "submitter";
    /* --role is specific to `user add`; take it out before the common flags. */
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (!strncmp(argv[i], "--role=", 7))
            role = argv[i] + 7;
        else
            rest[nrest++] = argv[i];
    }
    int rc = parse_flags(s, nrest, rest, pos, &npos, usage);
    free(rest);
    if (rc)
        return rc;
    enum store_role rv;
    bool add = npos == 2 && !strcmp(pos[0], "add");
    bool set = npos == 3 && !strcmp(pos[0], "set-role");
    if (!add && !set) {
        fputs("pyroom: usage: pyroom user add NAME [--role ROLE] | user set-role NAME ROLE\n",
              stderr);
        return 2;
    }
    if (set)
        role = pos[2];
    if (store_role_parse(role, &rv) < 0) {
        fprintf(stderr, "pyroom: role '%s' is not submitter, reviewer or admin\n", role);
        return 2;
    }
    struct store *st = NULL;
    if ((rc = open_store(s, &st)))
        return rc;
    struct err e = {0};
    int r;
    if (add) {
        char pw[1100], hash[PASSWORD_HASH_SIZE];
        const char *reason = NULL;
        if (password_init(0) < 0 || read_password(pw, sizeof(pw)) < 0 ||
            password_check_policy(pw, strlen(pw), &reason) < 0) {
            fprintf(stderr, "pyroom: bad password on stdin: %s\n", reason ? reason : "none given");
            store_close(st);
            return 2;
        }
        if (password_hash(pw, strlen(pw), hash) < 0) {
            store_close(st);
            return 1;
        }
        struct store_user *u = NULL;
        r = store_user_create(st, pos[1], hash, rv, false, &u, &e);
        if (r == 0)
            printf("created user %s (id %lld, %s)\n", u->username, (long long)u->id,
                   store_role_name(u->role));
        store_user_free(u);
    } else {
        struct store_user *u = NULL;
        r = store_user_get_by_name(st, pos[1], &u, &e);
        if (r == 0)
            r = store_user_set_role(st, u->id, rv, &e);
        if (r == 0)
            r = store_session_delete_user(st, u->id, &e);
        if (r == 0)
            printf("%s is now %s\n", u->username, store_role_name(rv));
        store_user_free(u);
    }
    store_close(st);
    if (r == -EEXIST || r == -ENOENT) {
        fprintf(stderr, "pyroom: user '%s' %s\n", pos[1],
                r == -EEXIST ? "already exists" : "does not exist");
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "pyroom: %s\n", e.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    /* The warm pool's template process, exec'd by the supervisor (src/exec/warm.h). */
    if (!strcmp(cmd, "__warm-template"))
        return warm_template_main(argc, argv);
    if (!strcmp(cmd, "__warm-init"))
        return warm_init_main();
    if (!strcmp(cmd, "sandbox"))
        return cmd_sandbox_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "doctor")) {
        char *dargv[] = {"sandbox", "doctor", NULL};
        return cmd_sandbox_main(2, dargv);
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        puts("pyroom " VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    struct settings s;
    char errbuf[256];
    if (settings_init(&s, errbuf, sizeof(errbuf)) < 0) {
        fprintf(stderr, "pyroom: %s\n", errbuf);
        settings_done(&s);
        return 2;
    }
    int rc;
    if (!strcmp(cmd, "serve")) {
        int npos = 0;
        rc = parse_flags(&s, argc - 2, argv + 2, NULL, &npos, serve_help);
        if (!rc)
            rc = cmd_serve(&s);
    } else if (!strcmp(cmd, "migrate")) {
        int npos = 0;
        rc = parse_flags(&s, argc - 2, argv + 2, NULL, &npos, usage);
        struct store *st = NULL;
        if (!rc && !(rc = open_store(&s, &st))) {
            puts("database is up to date");
            store_close(st);
        }
    } else if (!strcmp(cmd, "drain")) {
        int npos = 0;
        rc = parse_flags(&s, argc - 2, argv + 2, NULL, &npos, usage);
        if (!rc)
            rc = cmd_drain(&s);
    } else if (!strcmp(cmd, "user")) {
        rc = cmd_user(&s, argc - 2, argv + 2);
    } else if (!strcmp(cmd, "settings-markdown")) {
        settings_markdown(stdout);
        rc = 0;
    } else {
        fprintf(stderr, "pyroom: unknown command '%s' (try pyroom --help)\n", cmd);
        rc = 2;
    }
    settings_done(&s);
    return rc;
}

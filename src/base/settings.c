/* settings: the table of serve settings; see settings.h. */
#include "base/settings.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STR, K_U64, K_SIZE, K_BOOL };

struct def {
    const char *name; /* flag without dashes */
    enum kind kind;
    size_t off;
    const char *def;
    const char *choices; /* "a|b" for enumerated strings, else NULL */
    const char *help;
};

#define F(field) offsetof(struct settings, field)

static const struct def defs[] = {
    {"listen", K_STR, F(listen), "127.0.0.1:8080", NULL, "address and port to listen on"},
    {"advertise", K_STR, F(advertise), "", NULL,
     "http://HOST:PORT where the other nodes reach this one (default: from --listen; a "
     "wildcard address becomes the host name)"},
    {"node-timeout", K_U64, F(node_timeout), "15", NULL,
     "seconds without a heartbeat after which the other nodes fail a node's runs and take "
     "over its terminals (heartbeats go every fifth of it)"},
    {"drain-grace", K_U64, F(drain_grace), "30", NULL,
     "seconds a node given SIGTERM (or `pyroom drain`) lets its running runs finish before it "
     "stops them; meanwhile other nodes take new runs and terminals, and terminal users are "
     "told their terminal will move"},
    {"database", K_STR, F(database), "sqlite:data/pyroom.db", NULL,
     "sqlite:PATH or postgres://USER@HOST:PORT/DB"},
    {"data-dir", K_STR, F(data_dir), "data", NULL, "directory for sandbox working files"},
    {"web-dir", K_STR, F(web_dir), "", NULL,
     "the built page (default: web/dist next to the binary's build directory)"},
    {"registration", K_STR, F(registration), "open", "open|closed",
     "whether anyone may register (the first account is always allowed and becomes admin)"},
    {"log-level", K_STR, F(log_level), "info", "debug|info|warn|error", "lowest level logged"},
    {"secure-cookies", K_BOOL, F(secure_cookies), "false", NULL,
     "mark cookies Secure (set when a TLS proxy is in front)"},
    {"access-log", K_BOOL, F(access_log), "true", NULL, "one JSON line per request"},
    {"trust-proxy", K_BOOL, F(trust_proxy), "false", NULL,
     "take the client address from the last X-Forwarded-For entry (set behind nginx)"},
    {"max-connections-per-ip", K_U64, F(max_connections_per_ip), "256", NULL,
     "concurrent connections from one address (0: no limit); with --trust-proxy, requests in "
     "flight per forwarded client address"},
    {"session-ttl", K_U64, F(session_ttl), "604800", NULL, "session lifetime, seconds"},
    {"max-body", K_SIZE, F(max_body), "2M", NULL, "largest request body, bytes (413 beyond)"},
    {"max-connections", K_U64, F(max_connections), "16384", NULL,
     "concurrent HTTP connections (each costs memory, not a thread)"},
    {"connection-timeout", K_U64, F(connection_timeout), "60", NULL,
     "seconds a connection may stay silent while its answer is written"},
    {"header-timeout", K_U64, F(header_timeout), "10", NULL,
     "seconds a client has to send complete request headers, from connecting or from its "
     "previous answer (0: no limit); slower clients get 408 and are dropped"},
    {"min-body-rate", K_U64, F(min_body_rate), "1024", NULL,
     "bytes/s a request body must average once --header-timeout has passed (slower: 408)"},
    {"connection-memory", K_SIZE, F(connection_memory), "32K", NULL,
     "bytes of buffer per connection for the request head and the answer's headers (an idle "
     "connection costs about this much; longer request heads get 414/431)"},
    {"max-query-params", K_U64, F(max_query_params), "64", NULL,
     "parameters in a query string (400 beyond)"},
    {"http-threads", K_U64, F(http_threads), "0", NULL,
     "event-loop threads serving connections (0: one per core)"},
    {"http-workers", K_U64, F(http_workers), "16", NULL,
     "threads running handlers that may block (database, password hashing)"},
    {"http-queue", K_U64, F(http_queue), "1024", NULL,
     "requests waiting for a worker (503 beyond)"},
    {"max-event-streams-per-user", K_U64, F(max_event_streams_per_user), "64", NULL,
     "open event streams (workspace and own) per user (429 beyond)"},
    {"db-pool", K_U64, F(db_pool), "16", NULL, "PostgreSQL connections per node"},
    {"login-rate", K_U64, F(login_rate), "10", NULL,
     "failed logins allowed per minute, per client address and per username"},
    {"register-rate", K_U64, F(register_rate), "20", NULL,
     "accounts that may be registered per hour from one client address (0: no limit)"},
    {"max-file-bytes", K_SIZE, F(max_file_bytes), "1M", NULL, "largest file in a workspace"},
    {"max-files", K_U64, F(max_files), "1000", NULL, "files and folders per workspace"},
    {"max-workspace-bytes", K_SIZE, F(max_workspace_bytes), "50M", NULL,
     "total file bytes per workspace"},
    {"search-max-matches", K_U64, F(search_max_matches), "500", NULL,
     "matching lines one search across a workspace's files returns (then \"truncated\")"},
    {"archive-max-bytes", K_SIZE, F(archive_max_bytes), "256M", NULL,
     "file bytes one zip download (a workspace, a folder, a submission) may hold (413 beyond; "
     "at most 2G: no Zip64)"},
    {"archive-max-files", K_U64, F(archive_max_files), "10000", NULL,
     "files and folders one zip download may hold (413 beyond; at most 65535)"},
    {"archive-streams", K_U64, F(archive_streams), "8", NULL,
     "zip downloads a node streams at once, each on a thread of its own (429 beyond)"},
    {"max-workspaces", K_U64, F(max_workspaces), "100", NULL, "workspaces per user"},
    {"max-members", K_U64, F(max_members), "50", NULL,
     "members (viewers and editors) a workspace may be shared with"},
    {"history-versions", K_U64, F(history_versions), "50", NULL,
     "stored versions kept per file, oldest dropped first (0: no limit)"},
    {"history-bytes", K_SIZE, F(history_bytes), "20M", NULL,
     "bytes of stored file versions kept per workspace, oldest dropped first; each file's "
     "newest version always stays (0: no limit)"},
    {"run-wall-ms", K_U64, F(run_wall_ms), "10000", NULL, "wall-clock limit of a run, ms"},
    {"run-idle-ms", K_U64, F(run_idle_ms), "300000", NULL,
     "time an interactive run may spend waiting for input, in all, ms; that time does not "
     "count toward --run-wall-ms, and past it the run ends with limit \"idle\""},
    {"run-cpu-ms", K_U64, F(run_cpu_ms), "10000", NULL, "CPU time limit of a run, ms"},
    {"run-memory", K_SIZE, F(run_memory), "256M", NULL, "memory limit of a run, bytes"},
    {"run-pids", K_U64, F(run_pids), "64", NULL, "processes and threads in a run"},
    {"run-output", K_SIZE, F(run_output), "1M", NULL, "bytes kept per output stream of a run"},
    {"run-files", K_SIZE, F(run_files), "50M", NULL, "bytes a run may write to disk"},
    {"run-inodes", K_U64, F(run_inodes), "20000", NULL,
     "files and folders a run or a terminal environment may add (its file system's inodes)"},
    {"run-tmp", K_SIZE, F(run_tmp), "64M", NULL, "size of /tmp in a sandbox"},
    {"max-runs", K_U64, F(max_runs), "0", NULL, "concurrent runs per node (0: twice the cores)"},
    {"max-runs-per-user", K_U64, F(max_runs_per_user), "2", NULL, "concurrent runs per user"},
    {"run-queue", K_U64, F(run_queue), "64", NULL, "runs waiting for a slot per node (429 beyond)"},
    {"max-queued-per-user", K_U64, F(max_queued_per_user), "4", NULL,
     "runs one user may have waiting for a slot per node (429 beyond)"},
    {"runs-per-minute", K_U64, F(runs_per_minute), "30", NULL, "runs started per user per minute"},
    {"max-artifacts", K_U64, F(max_artifacts), "8", NULL, "plots kept per run"},
    {"max-artifact-bytes", K_SIZE, F(max_artifact_bytes), "4M", NULL, "bytes per plot"},
    {"require-passing-run", K_BOOL, F(require_passing_run), "false", NULL,
     "refuse a submission whose entry file does not run cleanly"},
    {"terminal-idle-timeout", K_U64, F(terminal_idle_timeout), "1800", NULL,
     "seconds a live environment (terminals) may stay without a client and without input or "
     "output"},
    {"terminal-max-lifetime", K_U64, F(terminal_max_lifetime), "7200", NULL,
     "seconds a live environment may live at most (0: no limit)"},
    {"terminal-max-per-user", K_U64, F(terminal_max_per_user), "3", NULL,
     "live environments (workspaces with terminals open) per user"},
    {"terminal-max-per-workspace", K_U64, F(terminal_max_per_workspace), "8", NULL,
     "terminals per live environment"},
    {"terminal-memory", K_SIZE, F(terminal_memory), "512M", NULL,
     "memory limit of one terminal's sandbox, bytes"},
    {"terminal-pids", K_U64, F(terminal_pids), "256", NULL,
     "processes and threads in one terminal's sandbox"},
    {"terminal-cpu-ms", K_U64, F(terminal_cpu_ms), "3600000", NULL,
     "CPU time limit of one terminal's sandbox, ms (0: no limit)"},
    {"terminal-scrollback", K_SIZE, F(terminal_scrollback), "256K", NULL,
     "terminal output kept per terminal and replayed when a client (re)attaches, bytes"},
    {"terminal-client-queue", K_SIZE, F(terminal_client_queue), "1M", NULL,
     "output queued per terminal client before the shell is paused (backpressure), bytes"},
    {"terminal-ping", K_U64, F(terminal_ping), "20", NULL,
     "seconds between WebSocket pings; a client silent for three is dropped"},
    {"collab-doc-bytes", K_SIZE, F(collab_doc_bytes), "1M", NULL,
     "co-editing updates kept per file since its last snapshot, bytes; past it an editor must "
     "post a snapshot first (also the largest single update)"},
    {"warm-pool", K_BOOL, F(warm_pool), "true", NULL,
     "start Python runs in pre-forked interpreters that have already imported the warm modules "
     "(a run with none ready starts cold)"},
    {"warm-templates", K_U64, F(warm_templates), "1", NULL,
     "template interpreters of the warm pool per node (1-8)"},
    {"warm-children", K_U64, F(warm_children), "2", NULL,
     "pre-forked interpreters kept ready per template (1-16)"},
    {"warm-modules", K_STR, F(warm_modules), "numpy,pandas,scipy,scipy.stats,matplotlib", NULL,
     "comma-separated modules that every template imports (matplotlib also loads pyplot and Agg)"},
    {"warm-memory", K_SIZE, F(warm_memory), "1G", NULL,
     "memory of the whole warm pool (its cgroup), bytes; a template past it is replaced"},
    {"metrics", K_BOOL, F(metrics), "true", NULL,
     "record metrics for GET /metrics and the admin charts (false: they stay at zero; for "
     "measuring their cost)"},
    {"metrics-token", K_STR, F(metrics_token), "", NULL,
     "bearer token a Prometheus scraper sends to GET /metrics (empty: only an admin's session "
     "or API token may read it)"},
    {"lang", K_BOOL, F(lang), "true", NULL,
     "language services: completion, signatures, hover, definitions, diagnostics, formatting"},
    {"lang-workers", K_U64, F(lang_workers), "4", NULL,
     "live language workers (sandboxed analysers, one per user) per node, and as many light ones "
     "(diagnostics only)"},
    {"lang-idle", K_U64, F(lang_idle), "600", NULL,
     "seconds before an unused language worker ends"},
    {"lang-timeout-ms", K_U64, F(lang_timeout_ms), "5000", NULL,
     "time for one language request, ms (the worker is killed past it)"},
    {"lang-queue", K_U64, F(lang_queue), "8", NULL,
     "language requests waiting per language worker (429 beyond)"},
    {"lang-start-ms", K_U64, F(lang_start_ms), "30000", NULL,
     "time for the first request of a fresh language worker (imports and indexing), ms"},
    {"lang-cancel-ms", K_U64, F(lang_cancel_ms), "2000", NULL,
     "time a language worker has to stop an analysis whose client left, ms (ended past it)"},
    {"lang-lifetime", K_U64, F(lang_lifetime), "3600", NULL,
     "seconds a language worker lives at most (the next request starts another)"},
    {"lang-cpu-ms", K_U64, F(lang_cpu_ms), "600000", NULL,
     "CPU time of a language worker over its life, ms"},
    {"lang-memory", K_SIZE, F(lang_memory), "512M", NULL,
     "memory limit of a language worker, bytes"},
    {"lang-max-source", K_SIZE, F(lang_max_source), "512K", NULL,
     "largest source in a language request, bytes (413 beyond)"},
    {"lang-sync-bytes", K_SIZE, F(lang_sync_bytes), "8M", NULL,
     "bytes of a workspace's Python files a language worker is given (imports between them)"},
    {"lang-per-minute", K_U64, F(lang_per_minute), "600", NULL,
     "language requests per user per minute (429 beyond)"},
    {"lang-preload", K_STR, F(lang_preload), "numpy,pandas,matplotlib.pyplot", NULL,
     "comma-separated modules each language worker indexes at start"},
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))

static const struct def *find(const char *name)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

static void env_name(const char *name, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "PYROOM_");
    for (const char *p = name; *p && o + 1 < len; p++)
        out[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[o] = '\0';
}

static int parse_u64(const char *v, bool size, uint64_t *ret)
{
    if (!*v || !isdigit((unsigned char)*v))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno)
        return -EINVAL;
    uint64_t mult = 1;
    if (size && *end) {
        switch (toupper((unsigned char)*end)) {
        case 'K':
            mult = 1ULL << 10;
            break;
        case 'M':
            mult = 1ULL << 20;
            break;
        case 'G':
            mult = 1ULL << 30;
            break;
        default:
            return -EINVAL;
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
    }
    if (*end || (mult > 1 && n > UINT64_MAX / mult))
        return -EINVAL;
    *ret = n * mult;
    return 0;
}

static int apply(struct settings *s, const struct def *d, const char *value, char *errbuf,
                 size_t errlen)
{
    char *base = (char *)s;
    switch (d->kind) {
    case K_STR: {
        if (d->choices) {
            size_t vl = strlen(value);
            const char *c = d->choices;
            bool ok = false;
            while (*c) {
                size_t l = strcspn(c, "|");
                if (l == vl && strncmp(c, value, l) == 0)
                    ok = true;
                c += l + (c[l] == '|');
            }
            if (!ok) {
                snprintf(errbuf, errlen, "--%s: '%s' is not one of %s", d->name, value, d->choices);
                return -EINVAL;
            }
        }
        char *copy = strdup(value);
        if (!copy)
            return -ENOMEM;
        char **field = (char **)(base + d->off);
        free(*field);
        *field = copy;
        return 0;
    }
    case K_BOOL: {
        bool *field = (bool *)(base + d->off);
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
            *field = true;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
            *field = false;
        else {
            snprintf(errbuf, errlen, "--%s: '%s' is not true or false", d->name, value);
            return -EINVAL;
        }
        return 0;
    }
    case K_U64:
    case K_SIZE: {
        uint64_t v;
        if (parse_u64(value, d->kind == K_SIZE, &v) < 0) {
            snprintf(errbuf, errlen, "--%s: '%s' is not a %s", d->name, value,
                     d->kind == K_SIZE ? "size (e.g. 512K, 2M)" : "non-negative integer");
            return -EINVAL;
        }
        *(uint64_t *)(base + d->off) = v;
        return 0;
    }
    }
    return -EINVAL;
}

int settings_init(struct settings *s, char *errbuf, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < NDEFS; i++) {
        int r = apply(s, &defs[i], defs[i].def, errbuf, errlen);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < NDEFS; i++) {
        char env[64];
        env_name(defs[i].name, env, sizeof(env));
        const char *v = getenv(env);
        if (!v)
            continue;
        int r = apply(s, &defs[i], v, errbuf, errlen);
        if (r < 0) {
            size_t l = strlen(errbuf);
            snprintf(errbuf + l, errlen - l, " (from %s)", env);
            return r;
        }
    }
    return 0;
}

int settings_set(struct settings *s, const char *name, const char *value, char *errbuf,
                 size_t errlen)
{
    const struct def *d = find(name);
    if (!d) {
        snprintf(errbuf, errlen, "unknown flag --%s", name);
        return -ENOENT;
    }
    return apply(s, d, value, errbuf, errlen);
}

bool settings_exists(const char *name)
{
    return find(name) != NULL;
}

bool settings_is_bool(const char *name)
{
    const struct def *d = find(name);
    return d && d->kind == K_BOOL;
}

void settings_help(FILE *out)
{
    for (size_t i = 0; i < NDEFS; i++) {
        char env[64], flag[64];
        env_name(defs[i].name, env, sizeof(env));
        snprintf(flag, sizeof(flag), "--%s", defs[i].name);
        fprintf(out, "  %-24s %s (default %s; $%s)\n", flag, defs[i].help,
                *defs[i].def ? defs[i].def : "see text", env);
    }
}

void settings_markdown(FILE *out)
{
    fprintf(out, "| flag | environment | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < NDEFS; i++) {
        char env[64];
        env_name(defs[i].name, env, sizeof(env));
        fprintf(out, "| `--%s` | `%s` | `%s` | %s |\n", defs[i].name, env, defs[i].def,
                defs[i].help);
    }
}

void settings_done(struct settings *s)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (defs[i].kind == K_STR) {
            char **field = (char **)((char *)s + defs[i].off);
            free(*field);
            *field = NULL;
        }
}

/*
 * settings: every knob of `pyroom serve`, in one table. Each setting has a flag
 * (--max-body), an environment variable (PYROOM_MAX_BODY), a default and a help line.
 * Precedence: default < environment < flag. Sizes accept K/M/G suffixes (powers of 1024);
 * durations are plain numbers in the unit the name says (_ms, seconds otherwise).
 * `settings_help` prints the table; the README's settings table is generated from it.
 */
#ifndef PYROOM_BASE_SETTINGS_H
#define PYROOM_BASE_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct settings {
    char *listen;       /* HOST:PORT */
    char *advertise;    /* http://HOST:PORT where peers reach this node ("": from listen) */
    char *database;     /* sqlite:PATH or postgres://... */
    char *data_dir;     /* working files: sandboxes' workspaces, run scratch */
    char *web_dir;      /* the built page (web/dist) */
    char *registration; /* open | closed */
    char *log_level;    /* debug | info | warn | error */
    bool secure_cookies;
    bool access_log;
    bool trust_proxy; /* client address from X-Forwarded-For */
    uint64_t max_connections_per_ip;
    uint64_t session_ttl;        /* seconds */
    uint64_t max_body;           /* bytes */
    uint64_t max_connections;    /* concurrent HTTP connections */
    uint64_t connection_timeout; /* seconds */
    uint64_t header_timeout;     /* seconds to send complete request headers */
    uint64_t min_body_rate;      /* bytes/s */
    uint64_t max_query_params;
    uint64_t connection_memory;          /* bytes of libmicrohttpd buffer per connection */
    uint64_t http_threads;               /* event loops; 0: one per core */
    uint64_t http_workers;               /* handler threads */
    uint64_t http_queue;                 /* requests waiting for a worker */
    uint64_t max_event_streams_per_user; /* open event streams per user per node */
    uint64_t db_pool;                    /* PostgreSQL connections */
    uint64_t login_rate;                 /* failed logins per minute per IP and per username */
    uint64_t register_rate;              /* registrations per hour per client address */
    uint64_t max_file_bytes;
    uint64_t max_files;
    uint64_t max_workspace_bytes;
    uint64_t max_workspaces;     /* per user */
    uint64_t archive_max_bytes;  /* file bytes in one zip download */
    uint64_t archive_max_files;  /* files and folders in one zip download */
    uint64_t archive_streams;    /* zip downloads streaming at once per node */
    uint64_t search_max_matches; /* lines one search across files returns */
    uint64_t max_members;        /* per workspace */
    uint64_t history_versions;   /* per file */
    uint64_t history_bytes;      /* per workspace */
    uint64_t run_wall_ms;
    uint64_t run_idle_ms; /* waiting for input, in all, per interactive run */
    uint64_t run_cpu_ms;
    uint64_t run_memory; /* bytes */
    uint64_t run_pids;
    uint64_t run_output;            /* bytes per stream */
    uint64_t run_files;             /* bytes written to disk by a run */
    uint64_t run_tmp;               /* bytes of /tmp in a sandbox */
    uint64_t run_inodes;            /* files and folders a run or terminal may add */
    uint64_t max_runs;              /* concurrent runs per node; 0 = 2 x cores */
    uint64_t max_runs_per_user;     /* concurrent runs per user */
    uint64_t run_queue;             /* runs waiting for a slot per node */
    uint64_t max_queued_per_user;   /* runs one user may have waiting per node */
    uint64_t runs_per_minute;       /* per user */
    uint64_t max_artifacts;         /* plots per run */
    uint64_t max_artifact_bytes;    /* bytes per plot */
    bool require_passing_run;       /* a submission needs its entry file to run cleanly */
    uint64_t terminal_idle_timeout; /* seconds without client and I/O before an environment ends */
    uint64_t terminal_max_lifetime; /* seconds an environment may live */
    uint64_t terminal_max_per_user; /* live environments per user */
    uint64_t terminal_max_per_workspace; /* terminals per environment */
    uint64_t terminal_memory;            /* bytes per terminal sandbox */
    uint64_t terminal_pids;              /* processes and threads per terminal sandbox */
    uint64_t terminal_cpu_ms;            /* CPU time per terminal sandbox, ms (0: unlimited) */
    uint64_t terminal_scrollback;        /* bytes replayed to a (re)attaching client */
    uint64_t terminal_client_queue;      /* bytes queued per client before backpressure */
    uint64_t terminal_ping;              /* seconds between WebSocket pings */
    uint64_t collab_doc_bytes;           /* bytes of CRDT updates kept per co-edited file */
    bool warm_pool;                      /* run Python in warm interpreters when one is ready */
    uint64_t warm_templates;             /* template interpreters per node */
    uint64_t warm_children;              /* pre-forked interpreters kept ready per template */
    char *warm_modules;                  /* comma-separated modules each template imports */
    uint64_t warm_memory;                /* bytes of memory for the whole pool (0: unbounded) */
    bool metrics;                        /* record metrics (false only to measure what they cost) */
    char *metrics_token;      /* bearer token for GET /metrics ("": admins' credentials only) */
    bool lang;                /* language services (completion, diagnostics...) */
    uint64_t lang_workers;    /* live language workers per node */
    uint64_t lang_idle;       /* seconds before an unused worker ends */
    uint64_t lang_timeout_ms; /* one request, ms */
    uint64_t lang_start_ms;   /* first request of a fresh worker, ms */
    uint64_t lang_cancel_ms;  /* to stop an analysis whose client left, ms */
    uint64_t lang_queue;      /* language requests waiting per worker */
    uint64_t lang_lifetime;   /* seconds a worker lives at most */
    uint64_t lang_cpu_ms;     /* CPU time of a worker over its life, ms */
    uint64_t lang_memory;     /* bytes per worker */
    uint64_t lang_max_source; /* bytes of source per request */
    uint64_t lang_sync_bytes; /* bytes of a workspace's Python files given to a worker */
    uint64_t lang_per_minute; /* requests per user per minute */
    char *lang_preload;       /* modules each worker indexes at start */
    uint64_t node_timeout;    /* seconds without a heartbeat before peers declare a node dead */
    uint64_t drain_grace;     /* seconds a draining node lets its runs finish (SIGTERM) */
};

/* Fills s with the defaults, then the environment. Returns 0 or -EINVAL with a message. */
int settings_init(struct settings *s, char *errbuf, size_t errlen);
/* Applies one flag: name without dashes, value as given. -ENOENT for an unknown flag,
 * -EINVAL for a bad value; errbuf says which. */
int settings_set(struct settings *s, const char *name, const char *value, char *errbuf,
                 size_t errlen);
/* True if name is a setting. */
bool settings_exists(const char *name);
/* True if name is a boolean setting (a flag that may stand alone). */
bool settings_is_bool(const char *name);
void settings_help(FILE *out);
/* The table as Markdown rows: | flag | variable | default | meaning |. */
void settings_markdown(FILE *out);
void settings_done(struct settings *s);

#endif

/*
 * events: the one table of Server-Sent Event names (as src/api/errors.h is for error
 * codes). Each line gives an event's name and what it means, once. Code names an event with
 * EVENT_WS(name) / EVENT_USER(name) / EVENT_RUN(name), so a name that is not in the table does not
 * compile; scripts/openapi.py reads this file for the OpenAPI document's x-sse-events, and
 * tests/api/test_openapi.py checks it against docs/terminal.md, docs/runs.md, the page's
 * listeners and web/src/codes.ts (made by scripts/gen-codes.py). A new event starts here.
 *
 * It lives in base/ because the names are emitted on two layers: run events by exec/runs.c,
 * workspace and user events by api/.
 */
#ifndef PYROOM_BASE_EVENTS_H
#define PYROOM_BASE_EVENTS_H

/* GET /api/workspaces/{id}/events. X(name, meaning) */
#define EVENTS_WORKSPACE(X)                                                                        \
    X(file_changed, "a file was stored (editor, terminal, run)")                                   \
    X(file_deleted, "a file or folder was deleted")                                                \
    X(folder_created, "a folder was created")                                                      \
    X(limit_exceeded, "a terminal's file was not stored: a workspace limit")                       \
    X(conflict, "the terminal changed a file the editor saved meanwhile; the editor's version "    \
                "was kept")                                                                        \
    X(not_saved, "a terminal's change could not be stored yet (database unreachable); retried "    \
                 "every second")                                                                   \
    X(server_restarting, "the node holding this workspace's terminals is restarting (draining): "  \
                         "they move to another node in a moment; path is empty")                   \
    X(resync, "this subscriber fell behind, or the cluster bus reconnected: reload the tree")      \
    X(presence_joined, "a page opened this stream with ?client= (the others answer by posting "    \
                       "their presence)")                                                          \
    X(presence_left, "that page's stream ended")                                                   \
    X(presence, "where a page is: file, cursor (1-based line, 0-based column), scroll (pixels)")   \
    X(doc_update, "a co-editing update of a file's document; `update` (base64) inline when "       \
                  "small, else fetch the log after your last id")                                  \
    X(doc_reset, "a file's co-editing document was dropped (the file changed in a terminal or a "  \
                 "run, or went): reload it")

/* GET /api/events (the caller's own stream). X(name, meaning) */
#define EVENTS_USER(X)                                                                             \
    X(notification, "a notice for you was recorded or taken back (a decision, a comment, a "       \
                    "submission, a withdrawal): fetch GET /api/notifications for the count")       \
    X(resync, "notices may have been missed (the cluster bus reconnected): fetch the count again")

/* GET /api/runs/{id}/events. X(name, meaning) */
#define EVENTS_RUN(X)                                                                              \
    X(stdout, "program output, in order")                                                          \
    X(stderr, "program errors, in order")                                                          \
    X(notice, "what the write-back kept or skipped")                                               \
    X(result, "the finished run; the stream ends")

enum event_ws {
#define EVENT_WS_ENUM(name, meaning) EVENT_WS_##name,
    EVENTS_WORKSPACE(EVENT_WS_ENUM)
#undef EVENT_WS_ENUM
        EVENT_WS__COUNT
};

enum event_user {
#define EVENT_USER_ENUM(name, meaning) EVENT_USER_##name,
    EVENTS_USER(EVENT_USER_ENUM)
#undef EVENT_USER_ENUM
        EVENT_USER__COUNT
};

enum event_run {
#define EVENT_RUN_ENUM(name, meaning) EVENT_RUN_##name,
    EVENTS_RUN(EVENT_RUN_ENUM)
#undef EVENT_RUN_ENUM
        EVENT_RUN__COUNT
};

static inline const char *event_ws_name(enum event_ws e)
{
    static const char *const names[] = {
#define EVENT_WS_NAME(name, meaning) [EVENT_WS_##name] = #name,
        EVENTS_WORKSPACE(EVENT_WS_NAME)
#undef EVENT_WS_NAME
    };
    return names[e];
}

static inline const char *event_user_name(enum event_user e)
{
    static const char *const names[] = {
#define EVENT_USER_NAME(name, meaning) [EVENT_USER_##name] = #name,
        EVENTS_USER(EVENT_USER_NAME)
#undef EVENT_USER_NAME
    };
    return names[e];
}

static inline const char *event_run_name(enum event_run e)
{
    static const char *const names[] = {
#define EVENT_RUN_NAME(name, meaning) [EVENT_RUN_##name] = #name,
        EVENTS_RUN(EVENT_RUN_NAME)
#undef EVENT_RUN_NAME
    };
    return names[e];
}

/* The name of an event of the table; a name that is not there does not compile. */
#define EVENT_WS(name)   event_ws_name(EVENT_WS_##name)
#define EVENT_RUN(name)  event_run_name(EVENT_RUN_##name)
#define EVENT_USER(name) event_user_name(EVENT_USER_##name)

#endif

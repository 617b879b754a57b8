/*
 * outcheck: does a program's output equal the output a reviewer expected?
 *
 * Two ways to compare (docs/api.md, "Re-running a submission"):
 *   OUTCHECK_EXACT  byte for byte;
 *   OUTCHECK_TRIM   line by line ('\n' ends a line), ignoring spaces, tabs and carriage
 *                   returns at the end of each line, and blank lines at the end of the
 *                   output (so a missing or extra final newline, or CRLF against LF, does
 *                   not fail a check).
 * When they differ, the first line that differs is reported (1-based, in the lines as split
 * above), with both sides of it (either may be missing: the output is shorter).
 *
 * Pure and thread-safe; nothing is allocated: the lines point into the inputs.
 */
#ifndef PYROOM_WORKSPACE_OUTCHECK_H
#define PYROOM_WORKSPACE_OUTCHECK_H

#include <stdbool.h>
#include <stddef.h>

enum outcheck_mode { OUTCHECK_TRIM, OUTCHECK_EXACT };

/* A line of one side: where it starts and how long it is (trimmed in TRIM mode). */
struct outcheck_line {
    const char *p; /* NULL: that side has no such line */
    size_t len;    /* bytes, without the '\n' */
};

struct outcheck_diff {
    size_t line; /* 1-based */
    struct outcheck_line expected, actual;
};

/* "trim" or "exact"; -EINVAL for anything else. */
int outcheck_mode_parse(const char *s, enum outcheck_mode *ret);
const char *outcheck_mode_name(enum outcheck_mode m);
/* True when actual matches expected under mode; otherwise false and *ret_diff (may be NULL)
 * says where. */
bool outcheck_match(const char *expected, size_t elen, const char *actual, size_t alen,
                    enum outcheck_mode mode, struct outcheck_diff *ret_diff);

#endif

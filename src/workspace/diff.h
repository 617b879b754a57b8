/*
 * diff: a line-based unified diff of two texts, as `diff -u` prints it, for showing a
 * reviewer what changed between two submissions of the same workspace, or between two stored
 * versions of a file (its history); and the version numbers a history request names.
 *
 * Lines are compared byte for byte, including their '\n' (so a last line without one differs
 * from the same line with one, and the output says "\ No newline at end of file", which keeps
 * the result a patch that `patch` applies). The common head and tail are trimmed first; the
 * middle goes through Myers' greedy O((N+M)D) algorithm over interned line numbers.
 *
 * Every cost is bounded by the constants below, since both texts come from users: a side
 * larger than DIFF_MAX_BYTES or DIFF_MAX_LINES is refused with -EFBIG ("too large to diff"),
 * and a middle that needs more than DIFF_MAX_EDITS edits or DIFF_MAX_WORK comparisons is
 * shown as one replaced block: still a correct diff, just not a minimal one
 * (stats.minimal says which). Memory stays within a few times the input plus
 * O(DIFF_MAX_EDITS^2 / 2) ints for the search.
 *
 * Pure and thread-safe: no I/O, no globals. The caller owns the returned text.
 */
#ifndef PYROOM_WORKSPACE_DIFF_H
#define PYROOM_WORKSPACE_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIFF_MAX_BYTES (4u << 20) /* bytes per side; beyond: -EFBIG */
#define DIFF_MAX_LINES 100000     /* lines per side; beyond: -EFBIG */
#define DIFF_MAX_EDITS 2000       /* edit distance searched before falling back */
#define DIFF_MAX_WORK  50000000   /* line comparisons before falling back */
#define DIFF_CONTEXT   3          /* context lines around each change, as diff -u */

struct diff_stats {
    size_t added;   /* lines marked '+' */
    size_t removed; /* lines marked '-' */
    size_t hunks;
    bool minimal; /* false when a limit made the diff fall back to a replaced block */
};

/* A version number from the len bytes at s: 1 to 18 ASCII digits, not 0. 0 or -EINVAL. */
int diff_version_parse(const char *s, size_t len, int64_t *ret);
/* "A..B", two version numbers as above (A may be greater than B). 0 or -EINVAL. */
int diff_range_parse(const char *s, size_t len, int64_t *ret_from, int64_t *ret_to);

/* True when the len bytes look like text a diff can show: valid UTF-8 without NUL. */
bool diff_is_text(const void *data, size_t len);

/* Writes the unified diff that turns a into b to *ret_text (NUL-terminated, malloc'd, the
 * caller frees; its length in *ret_len, which may be NULL). Equal texts give "". When a_label
 * and b_label are both non-NULL the diff starts with "--- a_label" and "+++ b_label" lines.
 * context: lines around each change (DIFF_CONTEXT is diff's default). ret_stats may be NULL.
 * Returns 0, -EFBIG when a side passes DIFF_MAX_BYTES or DIFF_MAX_LINES, or -ENOMEM. */
int diff_unified(const char *a, size_t alen, const char *b, size_t blen, const char *a_label,
                 const char *b_label, unsigned context, char **ret_text, size_t *ret_len,
                 struct diff_stats *ret_stats);

#endif

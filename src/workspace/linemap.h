/*
 * linemap: where a line of one version of a file is in the next version, for carrying a
 * reviewer's line comment from a submission to its resubmission.
 *
 * A line maps when the diff of the two texts (workspace/diff.h, no context) leaves it
 * unchanged: its new number is its old one shifted by the lines added and removed above it.
 * A line inside a changed block does not map (the comment is "on an earlier version").
 * Texts that diff refuses (larger than DIFF_MAX_BYTES or DIFF_MAX_LINES) map nothing, and so
 * does a diff that fell back to one replaced block for the part it covers.
 *
 * Pure and thread-safe. The caller owns the map (linemap_free accepts NULL).
 */
#ifndef PYROOM_WORKSPACE_LINEMAP_H
#define PYROOM_WORKSPACE_LINEMAP_H

#include <stddef.h>

struct linemap;

/* The map from text a to text b. 0, -EFBIG (too large to diff) or -ENOMEM. */
int linemap_new(const char *a, size_t alen, const char *b, size_t blen, struct linemap **ret);
/* The 1-based line of b that line (1-based, of a) became, or 0 when it was changed or
 * removed, or is not a line of a. */
long linemap_line(const struct linemap *m, long line);
void linemap_free(struct linemap *m);

#endif

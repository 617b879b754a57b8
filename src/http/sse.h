/*
 * sse: the Server-Sent Events wire format (HTML Living Standard, "server-sent events").
 * One event is "event: NAME\n" then one "data: LINE\n" per line of the data, then "\n". A
 * line break inside the data (CR, LF or CRLF) starts a new data line, so no byte of the data
 * can end the event early or forge another event or field. Event names are 1..64 bytes of
 * letters, digits, '_' and '-'.
 */
#ifndef PYROOM_HTTP_SSE_H
#define PYROOM_HTTP_SSE_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define SSE_NAME_MAX 64

/* True when name may be an event name. */
bool sse_valid_name(const char *name);
/* Appends one event to out. -EINVAL for a bad name or a NUL byte in data, -E2BIG when out
 * would pass its ceiling (out is then unchanged). */
int sse_append(struct buf *out, const char *name, const char *data, size_t len);
/* Appends a comment line (": text\n\n", or ":\n\n" for an empty text); text holds no line
 * break. */
int sse_append_comment(struct buf *out, const char *text);

#endif

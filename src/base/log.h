/*
 * log: one JSON line per event on stderr: {"ts":..., "level":..., "msg":..., fields...}.
 * Only main.c, api/ and top-level callbacks log; libraries return errors instead.
 * Fields are given as a jansson object (stolen), so user strings are always quoted.
 */
#ifndef PYROOM_BASE_LOG_H
#define PYROOM_BASE_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level min);
/* Logs msg with the fields of `fields` (may be NULL; the reference is stolen). */
void log_event(enum log_level level, const char *msg, json_t *fields);
/* Convenience: printf-style message, no fields. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/*
 * err: an error with a message, for the places where an errno alone does not say
 * what failed (crun's libcrun_error_t, simplified). Low layers return 0 or -errno and,
 * when given a non-NULL struct err, fill it with a human message naming what failed first.
 *
 *     struct err e = {0};
 *     if (store_open(url, &st, &e) < 0) die("%s", e.msg);
 */
#ifndef PYROOM_BASE_ERR_H
#define PYROOM_BASE_ERR_H

#include <stddef.h>

struct err {
    int code;      /* positive errno value, 0 when unset */
    char msg[256]; /* human message, NUL-terminated */
};

/* Sets err (if non-NULL) from errnum and a printf-style message; returns -errnum so a
 * caller can write `return err_set(err, errno, "open '%s'", path);`. The errno's text is
 * appended when errnum is non-zero. */
int err_set(struct err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err. */
void err_clear(struct err *err);

#endif

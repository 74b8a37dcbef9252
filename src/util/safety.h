/*
 * Control-flow helpers so that the happy path reads straight down.
 *
 *   GUARD(expr)          evaluate an int-returning call; on a negative result
 *                        store it in `rc` and jump to `out`.
 *   ENSURE(cond, code)   if cond is false, set rc = code and jump to `out`.
 *
 * Every function that uses them declares `int rc` and has one `out:` label
 * that frees and wipes. Misuse of the API by the programmer (a NULL where
 * the contract forbids it) is not an error to return: it aborts.
 */
#ifndef PARLEY_UTIL_SAFETY_H
#define PARLEY_UTIL_SAFETY_H

#include <stdio.h>
#include <stdlib.h>
#include "parley/result.h"

#define GUARD(expr)                                                                                \
    do {                                                                                           \
        int guard_rc_ = (expr);                                                                    \
        if (guard_rc_ < 0) {                                                                       \
            rc = guard_rc_;                                                                        \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#define ENSURE(cond, code)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            rc = (code);                                                                           \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#define PARLEY_MISUSE(cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "parley: API misuse at %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define PARLEY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif

/*
 * A minimal test harness: CHECK records a failure and carries on, so one
 * run reports every broken assertion; TEST_MAIN prints the closing
 * "N passed, M failed" line and sets the exit status.
 */
#ifndef PARLEY_TEST_CHECK_H
#define PARLEY_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* 1 in a build under AddressSanitizer (GCC's macro, or clang's feature):
 * memory bounds measured through RSS do not hold there. */
#if defined(__SANITIZE_ADDRESS__)
#define PARLEY_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PARLEY_TEST_ASAN 1
#endif
#endif
#ifndef PARLEY_TEST_ASAN
#define PARLEY_TEST_ASAN 0
#endif

static int check_passed, check_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                       \
        }                                                                                          \
    } while (0)

#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int check_rc_ = (expr);                                                                    \
        if (check_rc_ == (want)) {                                                                 \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s returned %d, want %d\n", __FILE__, __LINE__, #expr,    \
                    check_rc_, (int)(want));                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

static inline size_t check_unhex(uint8_t *out, size_t max, const char *hex)
{
    size_t n = 0;
    while (hex[0] && hex[1] && n < max) {
        unsigned v;
        if (sscanf(hex, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

#define TEST_MAIN_END()                                                                            \
    do {                                                                                           \
        printf("%d passed, %d failed\n", check_passed, check_failed);                              \
        return check_failed == 0 ? 0 : 1;                                                          \
    } while (0)

#endif

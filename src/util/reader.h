/*
 * A bounds-checked reader over untrusted bytes (after s2n-tls's stuffer).
 * Every read either succeeds whole or fails with PARLEY_ERR_DECODE and
 * leaves the cursor where it was; parsers never do pointer arithmetic of
 * their own on wire data.
 */
#ifndef PARLEY_UTIL_READER_H
#define PARLEY_UTIL_READER_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} preader;

static inline void preader_init(preader *r, const uint8_t *data, size_t len)
{
    r->data = data;
    r->len = len;
    r->pos = 0;
}

static inline size_t preader_left(const preader *r)
{
    return r->len - r->pos;
}

PARLEY_MUST_CHECK int preader_u8(preader *r, uint8_t *out);
PARLEY_MUST_CHECK int preader_u16be(preader *r, uint16_t *out);
PARLEY_MUST_CHECK int preader_u24be(preader *r, uint32_t *out);
PARLEY_MUST_CHECK int preader_u32be(preader *r, uint32_t *out);
PARLEY_MUST_CHECK int preader_u64be(preader *r, uint64_t *out);
/* Copy n bytes out. */
PARLEY_MUST_CHECK int preader_bytes(preader *r, uint8_t *out, size_t n);
/* Borrow a pointer to the next n bytes (valid while the input is). */
PARLEY_MUST_CHECK int preader_view(preader *r, const uint8_t **out, size_t n);
/* Borrow everything that is left. */
void preader_rest(preader *r, const uint8_t **out, size_t *n);

#endif

/*
 * A growable byte buffer with a hard maximum fixed at creation (after curl's
 * dynbuf): appending past the maximum fails with PARLEY_ERR_BUFFER and
 * leaves the contents unchanged. pbuf_free wipes before freeing, so a buffer
 * may hold secrets.
 */
#ifndef PARLEY_UTIL_BUF_H
#define PARLEY_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
} pbuf;

void pbuf_init(pbuf *b, size_t max);
PARLEY_MUST_CHECK int pbuf_append(pbuf *b, const void *p, size_t n);
PARLEY_MUST_CHECK int pbuf_append_u8(pbuf *b, uint8_t v);
PARLEY_MUST_CHECK int pbuf_append_u16be(pbuf *b, uint16_t v);
PARLEY_MUST_CHECK int pbuf_append_u24be(pbuf *b, uint32_t v);
PARLEY_MUST_CHECK int pbuf_append_u32be(pbuf *b, uint32_t v);
PARLEY_MUST_CHECK int pbuf_append_u64be(pbuf *b, uint64_t v);
PARLEY_MUST_CHECK int pbuf_reserve(pbuf *b, size_t extra);
/* Drop the first n bytes (consumed input), keeping the rest. */
void pbuf_consume(pbuf *b, size_t n);
void pbuf_reset(pbuf *b); /* wipe contents, keep memory */
void pbuf_free(pbuf *b);  /* wipe and release */

#endif

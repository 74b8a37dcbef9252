#include "util/buf.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>

void pbuf_init(pbuf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

int pbuf_reserve(pbuf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return PARLEY_ERR_BUFFER;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return PARLEY_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    /* Grow by copying so the old block can be wiped: it may hold secrets. */
    uint8_t *p = malloc(cap);
    if (p == NULL)
        return PARLEY_ERR_NOMEM;
    if (b->data != NULL) {
        memcpy(p, b->data, b->len);
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return PARLEY_OK;
}

int pbuf_append(pbuf *b, const void *p, size_t n)
{
    int rc = pbuf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return PARLEY_OK;
}

int pbuf_append_u8(pbuf *b, uint8_t v)
{
    return pbuf_append(b, &v, 1);
}

static int append_be(pbuf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return pbuf_append(b, tmp, n);
}

int pbuf_append_u16be(pbuf *b, uint16_t v)
{
    return append_be(b, v, 2);
}

int pbuf_append_u24be(pbuf *b, uint32_t v)
{
    if (v > 0xffffffu)
        return PARLEY_ERR_INVALID_ARG;
    return append_be(b, v, 3);
}

int pbuf_append_u32be(pbuf *b, uint32_t v)
{
    return append_be(b, v, 4);
}

int pbuf_append_u64be(pbuf *b, uint64_t v)
{
    return append_be(b, v, 8);
}

void pbuf_consume(pbuf *b, size_t n)
{
    if (n >= b->len) {
        pbuf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    sodium_memzero(b->data + b->len - n, n);
    b->len -= n;
}

void pbuf_reset(pbuf *b)
{
    if (b->data != NULL)
        sodium_memzero(b->data, b->cap);
    b->len = 0;
}

void pbuf_free(pbuf *b)
{
    if (b->data != NULL) {
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

#include "util/reader.h"

#include <string.h>

int preader_view(preader *r, const uint8_t **out, size_t n)
{
    if (n > preader_left(r))
        return PARLEY_ERR_DECODE;
    *out = r->data + r->pos;
    r->pos += n;
    return PARLEY_OK;
}

int preader_bytes(preader *r, uint8_t *out, size_t n)
{
    const uint8_t *p;
    if (preader_view(r, &p, n) < 0)
        return PARLEY_ERR_DECODE;
    if (n > 0)
        memcpy(out, p, n);
    return PARLEY_OK;
}

static int read_be(preader *r, size_t n, uint64_t *out)
{
    const uint8_t *p;
    uint64_t v = 0;
    if (preader_view(r, &p, n) < 0)
        return PARLEY_ERR_DECODE;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    *out = v;
    return PARLEY_OK;
}

int preader_u8(preader *r, uint8_t *out)
{
    uint64_t v;
    if (read_be(r, 1, &v) < 0)
        return PARLEY_ERR_DECODE;
    *out = (uint8_t)v;
    return PARLEY_OK;
}

int preader_u16be(preader *r, uint16_t *out)
{
    uint64_t v;
    if (read_be(r, 2, &v) < 0)
        return PARLEY_ERR_DECODE;
    *out = (uint16_t)v;
    return PARLEY_OK;
}

int preader_u24be(preader *r, uint32_t *out)
{
    uint64_t v;
    if (read_be(r, 3, &v) < 0)
        return PARLEY_ERR_DECODE;
    *out = (uint32_t)v;
    return PARLEY_OK;
}

int preader_u32be(preader *r, uint32_t *out)
{
    uint64_t v;
    if (read_be(r, 4, &v) < 0)
        return PARLEY_ERR_DECODE;
    *out = (uint32_t)v;
    return PARLEY_OK;
}

int preader_u64be(preader *r, uint64_t *out)
{
    return read_be(r, 8, out);
}

void preader_rest(preader *r, const uint8_t **out, size_t *n)
{
    *out = r->data + r->pos;
    *n = preader_left(r);
    r->pos = r->len;
}

/*
 * The signed device list (docs/protocol.md, "Device list"):
 *   "parley-devices-v1" 0x00 user 0x00 u32be version (u32be id, 33-byte key)*
 * with ids strictly increasing, signed with XEdDSA by device 1's identity
 * key. Clients fan out only to devices in a list that verifies.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "parley/xeddsa.h"
#include "util/buf.h"
#include "util/reader.h"
#include "util/safety.h"

#define DEVLIST_MAX (64u + PARLEY_CLIENT_ADDR_MAX + 4u + PARLEY_CLIENT_MAX_DEVICES * 37u)

int parley_device_list_encode(const parley_device_list *l, const char *user, uint8_t **out,
                              size_t *out_len)
{
    pbuf b;
    int rc;
    pbuf_init(&b, DEVLIST_MAX);
    ENSURE(l->count <= PARLEY_CLIENT_MAX_DEVICES, PARLEY_ERR_INVALID_ARG);
    ENSURE(strlen(user) > 0 && strlen(user) < PARLEY_CLIENT_ADDR_MAX, PARLEY_ERR_INVALID_ARG);
    GUARD(pbuf_append(&b, PCL_DEVLIST_MAGIC, sizeof PCL_DEVLIST_MAGIC - 1));
    GUARD(pbuf_append_u8(&b, 0));
    GUARD(pbuf_append(&b, user, strlen(user)));
    GUARD(pbuf_append_u8(&b, 0));
    GUARD(pbuf_append_u32be(&b, l->version));
    for (size_t i = 0; i < l->count; i++) {
        ENSURE(i == 0 || l->ids[i] > l->ids[i - 1], PARLEY_ERR_INVALID_ARG);
        GUARD(pbuf_append_u32be(&b, l->ids[i]));
        GUARD(pbuf_append(&b, l->keys[i], 33));
    }
    *out = b.data;
    *out_len = b.len;
    b.data = NULL;
    rc = PARLEY_OK;
out:
    if (b.data)
        pbuf_free(&b);
    return rc;
}

int parley_device_list_verify(parley_device_list *l, const char *user, const uint8_t *data,
                              size_t len, const uint8_t *sig)
{
    preader r;
    const uint8_t *magic, *name;
    uint8_t zero;
    size_t ulen = strlen(user);
    int have_primary = 0;
    uint8_t primary[32];
    int rc;
    memset(l, 0, sizeof *l);
    preader_init(&r, data, len);
    GUARD(preader_view(&r, &magic, sizeof PCL_DEVLIST_MAGIC - 1));
    ENSURE(memcmp(magic, PCL_DEVLIST_MAGIC, sizeof PCL_DEVLIST_MAGIC - 1) == 0, PARLEY_ERR_DECODE);
    GUARD(preader_u8(&r, &zero));
    ENSURE(zero == 0, PARLEY_ERR_DECODE);
    ENSURE(ulen > 0 && ulen < PARLEY_CLIENT_ADDR_MAX, PARLEY_ERR_INVALID_ARG);
    GUARD(preader_view(&r, &name, ulen));
    ENSURE(memcmp(name, user, ulen) == 0, PARLEY_ERR_CLIENT_DEVICES);
    GUARD(preader_u8(&r, &zero));
    ENSURE(zero == 0, PARLEY_ERR_CLIENT_DEVICES);
    GUARD(preader_u32be(&r, &l->version));
    ENSURE(preader_left(&r) % 37 == 0, PARLEY_ERR_DECODE);
    ENSURE(preader_left(&r) / 37 <= PARLEY_CLIENT_MAX_DEVICES, PARLEY_ERR_CLIENT_DEVICES);
    while (preader_left(&r) > 0) {
        size_t i = l->count;
        GUARD(preader_u32be(&r, &l->ids[i]));
        GUARD(preader_bytes(&r, l->keys[i], 33));
        ENSURE(l->ids[i] >= 1, PARLEY_ERR_CLIENT_DEVICES);
        ENSURE(i == 0 || l->ids[i] > l->ids[i - 1], PARLEY_ERR_CLIENT_DEVICES);
        if (l->ids[i] == 1) {
            GUARD(parley_key_decode(primary, l->keys[i], 33));
            have_primary = 1;
        } else {
            uint8_t tmp[32];
            GUARD(parley_key_decode(tmp, l->keys[i], 33));
        }
        l->count++;
    }
    ENSURE(have_primary, PARLEY_ERR_CLIENT_DEVICES);
    if (sig)
        GUARD(parley_xeddsa_verify(primary, data, len, sig));
    rc = PARLEY_OK;
out:
    if (rc != PARLEY_OK)
        memset(l, 0, sizeof *l);
    return rc;
}

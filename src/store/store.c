/*
 * The backend-independent half of the store: argument checks against the
 * bounds in store.h, code hashing, and the synchronous wrappers over the
 * backend table. Every check happens here, once, so a backend may assume
 * well-formed input.
 */
#include "store/store.h"
#include "store/store_internal.h"

#include <string.h>

#include "crypto/crypto.h"
#include "util/safety.h"

int pstore_check_address(const char *address)
{
    /* local@domain: exactly one '@' with something on each side, no device
     * suffix, no whitespace or control characters (DESIGN.md section 2). */
    size_t n = strnlen(address, PSTORE_ADDRESS_MAX + 1);
    if (n > PSTORE_ADDRESS_MAX)
        return PARLEY_ERR_STORE_TOO_LARGE;
    size_t at = n, ats = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)address[i];
        if (ch <= 0x20 || ch == 0x7f || ch == '/')
            return PARLEY_ERR_INVALID_ARG;
        if (ch == '@') {
            ats++;
            at = i;
        }
    }
    if (ats != 1 || at == 0 || at + 1 == n)
        return PARLEY_ERR_INVALID_ARG;
    return PARLEY_OK;
}

int pstore_check_pubkey(size_t len)
{
    if (len > PSTORE_PUBKEY_MAX)
        return PARLEY_ERR_STORE_TOO_LARGE;
    if (len < PSTORE_PUBKEY_MIN)
        return PARLEY_ERR_INVALID_ARG;
    return PARLEY_OK;
}

static int check_device_id(uint32_t id)
{
    /* Device ids start at 1 and are stored as SQL integers; keep them in
     * the signed 31-bit range every engine handles alike. */
    return id >= 1 && id <= PSTORE_DEVICE_ID_MAX ? PARLEY_OK : PARLEY_ERR_INVALID_ARG;
}

static int check_code(const char *code, size_t *len)
{
    size_t n = strnlen(code, PSTORE_CODE_MAX + 1);
    if (n > PSTORE_CODE_MAX)
        return PARLEY_ERR_STORE_TOO_LARGE;
    if (n < PSTORE_CODE_MIN)
        return PARLEY_ERR_INVALID_ARG;
    *len = n;
    return PARLEY_OK;
}

int pstore_check_envelope(const pstore_envelope *env)
{
    int rc;
    PARLEY_MISUSE(env->recipient && env->sender && env->client_id);
    PARLEY_MISUSE(env->stanza || env->stanza_len == 0);
    GUARD(pstore_check_address(env->recipient));
    GUARD(pstore_check_address(env->sender));
    GUARD(check_device_id(env->recipient_device));
    GUARD(check_device_id(env->sender_device));
    size_t idn = strnlen(env->client_id, PSTORE_CLIENT_ID_MAX + 1);
    ENSURE(idn <= PSTORE_CLIENT_ID_MAX, PARLEY_ERR_STORE_TOO_LARGE);
    ENSURE(idn > 0, PARLEY_ERR_INVALID_ARG);
    ENSURE(env->stanza_len <= PSTORE_STANZA_MAX, PARLEY_ERR_STORE_TOO_LARGE);
    ENSURE(env->stanza_len > 0, PARLEY_ERR_INVALID_ARG);
    rc = PARLEY_OK;
out:
    return rc;
}

int pstore_check_device_ref(const char *user, uint32_t device_id)
{
    int rc = pstore_check_address(user);
    if (rc < 0)
        return rc;
    return check_device_id(device_id);
}

int pstore_schema_version(void)
{
    return PSTORE_SCHEMA_VERSION;
}

void pstore_close(pstore *s)
{
    if (!s)
        return;
    pstore_commitq_stop(s);
    s->ops->close(s);
}

/* ---- accounts and codes ------------------------------------------------ */

int pstore_account_create(pstore *s, const char *address, int64_t now)
{
    int rc;
    PARLEY_MISUSE(s && address);
    GUARD(pstore_check_address(address));
    rc = s->ops->account_create(s, address, now);
out:
    return rc;
}

int pstore_account_get(pstore *s, const char *address, pstore_account *out)
{
    int rc;
    PARLEY_MISUSE(s && address && out);
    GUARD(pstore_check_address(address));
    rc = s->ops->account_get(s, address, out);
out:
    return rc;
}

int pstore_account_set_status(pstore *s, const char *address, pstore_account_status st)
{
    int rc;
    PARLEY_MISUSE(s && address);
    GUARD(pstore_check_address(address));
    ENSURE(st == PSTORE_ACCOUNT_ACTIVE || st == PSTORE_ACCOUNT_SUSPENDED, PARLEY_ERR_INVALID_ARG);
    rc = s->ops->account_set_status(s, address, st);
out:
    return rc;
}

int pstore_code_generate(char out[PSTORE_CODE_GEN_LEN + 1])
{
    /* Crockford's base32: no I, L, O or U, so a code read aloud or typed
     * from paper survives. 256 is a multiple of 32, so masking a random
     * byte is uniform. */
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint8_t r[25];
    int rc;
    PARLEY_MISUSE(out);
    GUARD(pc_random(r, sizeof r));
    size_t o = 0;
    for (size_t i = 0; i < sizeof r; i++) {
        if (i > 0 && i % 5 == 0)
            out[o++] = '-';
        out[o++] = alphabet[r[i] & 31];
    }
    out[o] = '\0';
    rc = PARLEY_OK;
out:
    pc_wipe(r, sizeof r);
    return rc;
}

static int code_hash(uint8_t hash[32], const char *code, size_t len)
{
    return pc_sha256(hash, (const uint8_t *)code, len);
}

static int check_kind(pstore_code_kind kind)
{
    return kind == PSTORE_CODE_REGISTRATION || kind == PSTORE_CODE_LINK ? PARLEY_OK
                                                                        : PARLEY_ERR_INVALID_ARG;
}

int pstore_code_add(pstore *s, pstore_code_kind kind, const char *code, const char *address,
                    int64_t expires)
{
    uint8_t hash[32];
    size_t len;
    int rc;
    PARLEY_MISUSE(s && code && address);
    GUARD(check_kind(kind));
    GUARD(check_code(code, &len));
    GUARD(pstore_check_address(address));
    GUARD(code_hash(hash, code, len));
    rc = s->ops->code_add(s, kind, hash, address, expires);
out:
    pc_wipe(hash, sizeof hash);
    return rc;
}

int pstore_code_redeem(pstore *s, pstore_code_kind kind, const char *code, int64_t now,
                       char address[PSTORE_ADDRESS_MAX + 1])
{
    uint8_t hash[32];
    size_t len;
    int rc;
    PARLEY_MISUSE(s && code && address);
    address[0] = '\0';
    GUARD(check_kind(kind));
    GUARD(check_code(code, &len));
    GUARD(code_hash(hash, code, len));
    rc = s->ops->code_redeem(s, kind, hash, now, address);
out:
    pc_wipe(hash, sizeof hash);
    return rc;
}

/* ---- devices ----------------------------------------------------------- */

int pstore_device_add(pstore *s, pstore_device *d)
{
    int rc;
    PARLEY_MISUSE(s && d);
    GUARD(pstore_check_address(d->user));
    ENSURE(d->device_id == 0 || check_device_id(d->device_id) == PARLEY_OK, PARLEY_ERR_INVALID_ARG);
    GUARD(pstore_check_pubkey(d->identity_key_len));
    rc = s->ops->device_add(s, d);
out:
    return rc;
}

int pstore_device_get(pstore *s, const char *user, uint32_t device_id, pstore_device *out)
{
    int rc;
    PARLEY_MISUSE(s && user && out);
    GUARD(pstore_check_device_ref(user, device_id));
    rc = s->ops->device_get(s, user, device_id, out);
out:
    return rc;
}

int pstore_device_by_key(pstore *s, const uint8_t key[PSTORE_NOISE_KEY_LEN], pstore_device *out)
{
    PARLEY_MISUSE(s && key && out);
    return s->ops->device_by_key(s, key, out);
}

int pstore_device_list(pstore *s, const char *user, pstore_device *out, size_t max, size_t *count)
{
    int rc;
    PARLEY_MISUSE(s && user && count && (out || max == 0));
    *count = 0;
    GUARD(pstore_check_address(user));
    rc = s->ops->device_list(s, user, out, max, count);
out:
    return rc;
}

int pstore_device_touch(pstore *s, const char *user, uint32_t device_id, int64_t now)
{
    int rc;
    PARLEY_MISUSE(s && user);
    GUARD(pstore_check_device_ref(user, device_id));
    rc = s->ops->device_touch(s, user, device_id, now);
out:
    return rc;
}

int pstore_device_remove(pstore *s, const char *user, uint32_t device_id)
{
    int rc;
    PARLEY_MISUSE(s && user);
    GUARD(pstore_check_device_ref(user, device_id));
    rc = s->ops->device_remove(s, user, device_id);
out:
    return rc;
}

int pstore_devlist_put(pstore *s, const char *user, uint64_t version, const uint8_t *blob,
                       size_t len)
{
    int rc;
    PARLEY_MISUSE(s && user && (blob || len == 0));
    GUARD(pstore_check_address(user));
    ENSURE(len <= PSTORE_DEVICE_LIST_MAX, PARLEY_ERR_STORE_TOO_LARGE);
    ENSURE(len > 0, PARLEY_ERR_INVALID_ARG);
    ENSURE(version <= INT64_MAX, PARLEY_ERR_INVALID_ARG);
    rc = s->ops->devlist_put(s, user, version, blob, len);
out:
    return rc;
}

int pstore_devlist_get(pstore *s, const char *user, uint64_t *version, uint8_t *blob, size_t max,
                       size_t *len)
{
    int rc;
    PARLEY_MISUSE(s && user && version && len && (blob || max == 0));
    *version = 0;
    *len = 0;
    GUARD(pstore_check_address(user));
    rc = s->ops->devlist_get(s, user, version, blob, max, len);
out:
    return rc;
}

/* ---- prekeys ----------------------------------------------------------- */

int pstore_signed_prekey_put(pstore *s, const char *user, uint32_t device_id,
                             const pstore_prekey *k)
{
    int rc;
    PARLEY_MISUSE(s && user && k);
    GUARD(pstore_check_device_ref(user, device_id));
    GUARD(pstore_check_pubkey(k->pub_len));
    rc = s->ops->signed_prekey_put(s, user, device_id, k);
out:
    return rc;
}

int pstore_signed_prekey_get(pstore *s, const char *user, uint32_t device_id, pstore_prekey *out)
{
    int rc;
    PARLEY_MISUSE(s && user && out);
    GUARD(pstore_check_device_ref(user, device_id));
    rc = s->ops->signed_prekey_get(s, user, device_id, out);
out:
    return rc;
}

int pstore_prekeys_add(pstore *s, const char *user, uint32_t device_id, const pstore_prekey *keys,
                       size_t n)
{
    int rc;
    PARLEY_MISUSE(s && user && (keys || n == 0));
    GUARD(pstore_check_device_ref(user, device_id));
    ENSURE(n <= PSTORE_PREKEY_BATCH_MAX, PARLEY_ERR_STORE_TOO_LARGE);
    ENSURE(n > 0, PARLEY_ERR_INVALID_ARG);
    for (size_t i = 0; i < n; i++)
        GUARD(pstore_check_pubkey(keys[i].pub_len));
    rc = s->ops->prekeys_add(s, user, device_id, keys, n);
out:
    return rc;
}

int pstore_prekeys_count(pstore *s, const char *user, uint32_t device_id, uint32_t *count)
{
    int rc;
    PARLEY_MISUSE(s && user && count);
    *count = 0;
    GUARD(pstore_check_device_ref(user, device_id));
    rc = s->ops->prekeys_count(s, user, device_id, count);
out:
    return rc;
}

/* The synchronous writes are single-op batches: the same code path, and the
 * same transaction shape, as the writer thread's. */
static int run_one(pstore *s, pstore_op *op)
{
    pstore_op *one[1] = {op};
    int rc = s->ops->batch_run(s, one, 1);
    return rc < 0 ? rc : op->rc;
}

int pstore_prekey_take(pstore *s, const char *user, uint32_t device_id, pstore_prekey *out,
                       uint32_t *remaining)
{
    pstore_op op;
    int rc;
    PARLEY_MISUSE(s && user && out);
    GUARD(pstore_op_init_take(&op, user, device_id));
    GUARD(run_one(s, &op));
    *out = op.u.take.key;
    if (remaining)
        *remaining = op.u.take.remaining;
    rc = PARLEY_OK;
out:
    pc_wipe(&op, sizeof op);
    return rc;
}

/* ---- the message queue ------------------------------------------------- */

int pstore_enqueue(pstore *s, const pstore_envelope *env, uint64_t *server_id, int *duplicate)
{
    pstore_op op;
    int rc;
    PARLEY_MISUSE(s && env && server_id);
    GUARD(pstore_op_init_enqueue(&op, env, env->stanza));
    GUARD(run_one(s, &op));
    *server_id = op.u.enq.server_id;
    if (duplicate)
        *duplicate = op.u.enq.duplicate;
    rc = PARLEY_OK;
out:
    return rc;
}

int pstore_fetch(pstore *s, const char *user, uint32_t device_id, uint64_t after, size_t limit,
                 pstore_fetch_fn fn, void *ctx)
{
    int rc;
    PARLEY_MISUSE(s && user && fn);
    GUARD(pstore_check_device_ref(user, device_id));
    ENSURE(limit <= PSTORE_FETCH_MAX, PARLEY_ERR_STORE_TOO_LARGE);
    ENSURE(limit > 0 && after <= INT64_MAX, PARLEY_ERR_INVALID_ARG);
    rc = s->ops->queue_fetch(s, user, device_id, after, limit, fn, ctx);
out:
    return rc;
}

int pstore_ack(pstore *s, const char *user, uint32_t device_id, uint64_t server_id)
{
    pstore_op op;
    int rc;
    PARLEY_MISUSE(s && user);
    GUARD(pstore_op_init_ack(&op, user, device_id, server_id));
    rc = run_one(s, &op);
out:
    return rc;
}

int pstore_queue_count(pstore *s, const char *user, uint32_t device_id, uint64_t *count)
{
    int rc;
    PARLEY_MISUSE(s && user && count);
    *count = 0;
    GUARD(pstore_check_device_ref(user, device_id));
    rc = s->ops->queue_count(s, user, device_id, count);
out:
    return rc;
}

/* ---- building operations ----------------------------------------------- */

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int pstore_op_init_enqueue(pstore_op *op, const pstore_envelope *env, const uint8_t *stanza)
{
    int rc;
    memset(op, 0, sizeof *op);
    GUARD(pstore_check_envelope(env));
    op->kind = PSTORE_OP_ENQUEUE;
    copy_str(op->user, sizeof op->user, env->recipient);
    op->device_id = env->recipient_device;
    copy_str(op->u.enq.sender, sizeof op->u.enq.sender, env->sender);
    op->u.enq.sender_device = env->sender_device;
    copy_str(op->u.enq.client_id, sizeof op->u.enq.client_id, env->client_id);
    op->u.enq.timestamp = env->timestamp;
    op->u.enq.stanza = stanza;
    op->u.enq.stanza_len = env->stanza_len;
    rc = PARLEY_OK;
out:
    return rc;
}

int pstore_op_init_ack(pstore_op *op, const char *user, uint32_t device_id, uint64_t server_id)
{
    int rc;
    memset(op, 0, sizeof *op);
    GUARD(pstore_check_device_ref(user, device_id));
    ENSURE(server_id >= 1 && server_id <= INT64_MAX, PARLEY_ERR_INVALID_ARG);
    op->kind = PSTORE_OP_ACK;
    copy_str(op->user, sizeof op->user, user);
    op->device_id = device_id;
    op->u.ack.server_id = server_id;
    rc = PARLEY_OK;
out:
    return rc;
}

int pstore_op_init_take(pstore_op *op, const char *user, uint32_t device_id)
{
    int rc;
    memset(op, 0, sizeof *op);
    GUARD(pstore_check_device_ref(user, device_id));
    op->kind = PSTORE_OP_PREKEY_TAKE;
    copy_str(op->user, sizeof op->user, user);
    op->device_id = device_id;
    rc = PARLEY_OK;
out:
    return rc;
}

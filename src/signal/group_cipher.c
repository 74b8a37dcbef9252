/*
 * Group messaging with sender keys (libsignal rust/protocol/src/group_cipher.rs):
 * create our sender key and describe it in an SKDM, accept others' SKDMs,
 * encrypt once per group message, decrypt with the sender's chain.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "parley/xeddsa.h"
#include "signal/sender_key_internal.h"
#include "util/safety.h"

int parley_group_create(parley_group_store *s, const char *self, uint32_t self_device,
                        const uint8_t distribution_id[SK_DIST_LEN], uint8_t *skdm, size_t skdm_max,
                        size_t *skdm_len)
{
    int rc;
    sk_record *r = NULL;
    sk_state st;
    sk_skdm m;
    memset(&st, 0, sizeof st);
    memset(&m, 0, sizeof m);
    PARLEY_MISUSE(s != NULL && self != NULL && distribution_id != NULL && skdm != NULL &&
                  skdm_len != NULL);

    GUARD(sk_store_get(s, self, self_device, distribution_id, &r));
    if (r->nstates == 0) {
        uint32_t chain_id;
        /* libsignal-protocol-java used 31-bit chain ids; libsignal keeps that. */
        GUARD(pc_random((uint8_t *)&chain_id, sizeof chain_id));
        st.version = SK_VERSION;
        st.chain_id = chain_id >> 1;
        st.iteration = 0;
        GUARD(pc_random(st.chain_key, SK_KEY_LEN));
        GUARD(pc_x25519_keygen(st.sig_pub, st.sig_priv));
        st.has_priv = 1;
        sk_record_add_state(r, &st);
    }
    const sk_state *cur = &r->states[0];
    /* Our current state must be ours to send with. */
    ENSURE(cur->has_priv, PARLEY_ERR_STATE);
    memcpy(m.dist, distribution_id, SK_DIST_LEN);
    m.chain_id = cur->chain_id;
    m.iteration = cur->iteration;
    memcpy(m.chain_key, cur->chain_key, SK_KEY_LEN);
    memcpy(m.sig_pub, cur->sig_pub, SK_KEY_LEN);
    GUARD(sk_skdm_encode(&m, skdm, skdm_max, skdm_len));
    rc = PARLEY_OK;
out:
    sk_state_clear(&st);
    pc_wipe(&m, sizeof m);
    if (rc != PARLEY_OK)
        sk_store_drop_if_empty(s, r);
    return rc;
}

int parley_group_process(parley_group_store *s, const char *sender, uint32_t device,
                         const uint8_t *skdm, size_t len)
{
    int rc;
    sk_record *r = NULL;
    sk_skdm m;
    sk_state st;
    memset(&st, 0, sizeof st);
    memset(&m, 0, sizeof m);
    PARLEY_MISUSE(s != NULL && sender != NULL && (skdm != NULL || len == 0));

    GUARD(sk_skdm_decode(&m, skdm, len));
    GUARD(sk_store_get(s, sender, device, m.dist, &r));
    st.version = SK_VERSION;
    st.chain_id = m.chain_id;
    st.iteration = m.iteration;
    memcpy(st.chain_key, m.chain_key, SK_KEY_LEN);
    memcpy(st.sig_pub, m.sig_pub, SK_KEY_LEN);
    st.has_priv = 0;
    sk_record_add_state(r, &st);
    rc = PARLEY_OK;
out:
    sk_state_clear(&st);
    pc_wipe(&m, sizeof m);
    return rc;
}

/* AES-256-CBC under the message key derived from seed. */
static int seal(uint8_t *out, size_t out_max, size_t *out_len, const uint8_t seed[SK_KEY_LEN],
                const uint8_t *in, size_t n)
{
    int rc;
    uint8_t iv[SK_IV_LEN], key[SK_KEY_LEN];
    GUARD(sk_message_keys(iv, key, seed));
    GUARD(pc_aes256_cbc_encrypt(out, out_max, out_len, key, iv, in, n));
    rc = PARLEY_OK;
out:
    pc_wipe(iv, sizeof iv);
    pc_wipe(key, sizeof key);
    return rc;
}

static int open_ct(uint8_t *out, size_t out_max, size_t *out_len, const uint8_t seed[SK_KEY_LEN],
                   const uint8_t *in, size_t n)
{
    int rc;
    uint8_t iv[SK_IV_LEN], key[SK_KEY_LEN];
    GUARD(sk_message_keys(iv, key, seed));
    rc = pc_aes256_cbc_decrypt(out, out_max, out_len, key, iv, in, n);
    if (rc == PARLEY_ERR_DECODE)
        rc = PARLEY_ERR_INVALID_MESSAGE;
    GUARD(rc);
    rc = PARLEY_OK;
out:
    pc_wipe(iv, sizeof iv);
    pc_wipe(key, sizeof key);
    return rc;
}

int parley_group_encrypt(parley_group_store *s, const char *self, uint32_t self_device,
                         const uint8_t distribution_id[SK_DIST_LEN], const uint8_t *plaintext,
                         size_t n, uint8_t *out, size_t out_max, size_t *out_len)
{
    int rc;
    uint8_t seed[SK_KEY_LEN], next[SK_KEY_LEN];
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    PARLEY_MISUSE(s != NULL && self != NULL && distribution_id != NULL && out != NULL &&
                  out_len != NULL && (plaintext != NULL || n == 0));
    ENSURE(n <= PARLEY_GROUP_MAX_PLAINTEXT, PARLEY_ERR_INVALID_ARG);

    sk_record *r = sk_store_find(s, self, self_device, distribution_id);
    ENSURE(r != NULL && r->nstates > 0, PARLEY_ERR_NO_SESSION);
    sk_state *st = &r->states[0];
    ENSURE(st->has_priv, PARLEY_ERR_NO_SESSION);
    /* libsignal refuses to wrap the 32-bit iteration counter. */
    ENSURE(st->iteration != UINT32_MAX, PARLEY_ERR_STATE);

    GUARD(sk_chain_message_seed(seed, st->chain_key));
    size_t ct_max = n + PC_AES_BLOCK;
    ct = malloc(ct_max);
    ENSURE(ct != NULL, PARLEY_ERR_NOMEM);
    GUARD(seal(ct, ct_max, &ct_len, seed, plaintext, n));
    if (!st->has_signer) {
        GUARD(xeddsa_expand(&st->signer, st->sig_priv));
        st->has_signer = 1;
    }
    GUARD(sk_skm_encode(out, out_max, out_len, distribution_id, st->chain_id, st->iteration, ct,
                        ct_len, &st->signer));
    GUARD(sk_chain_next(next, st->chain_key));
    memcpy(st->chain_key, next, SK_KEY_LEN);
    st->iteration++;
    rc = PARLEY_OK;
out:
    pc_wipe(seed, sizeof seed);
    pc_wipe(next, sizeof next);
    free(ct);
    return rc;
}

/* The chain key at iteration `target` >= st->iteration, without changing st. */
static int chain_at(uint8_t ck[SK_KEY_LEN], const sk_state *st, uint32_t target)
{
    int rc;
    uint8_t next[SK_KEY_LEN];
    memcpy(ck, st->chain_key, SK_KEY_LEN);
    for (uint32_t it = st->iteration; it < target; it++) {
        GUARD(sk_chain_next(next, ck));
        memcpy(ck, next, SK_KEY_LEN);
    }
    rc = PARLEY_OK;
out:
    pc_wipe(next, sizeof next);
    return rc;
}

/*
 * Move st's chain to target + 1, keeping the message keys of the
 * iterations skipped on the way (libsignal's get_sender_key). Only the
 * newest PARLEY_GROUP_MAX_MESSAGE_KEYS survive in any case, so older ones
 * are evicted first and never stored, which gives the same result as
 * storing each and evicting one by one.
 */
static int advance_to(sk_state *st, uint32_t target)
{
    int rc;
    uint8_t ck[SK_KEY_LEN], next[SK_KEY_LEN], seed[SK_KEY_LEN];
    size_t jump = (size_t)(target - st->iteration);
    size_t keep = jump < PARLEY_GROUP_MAX_MESSAGE_KEYS ? jump : PARLEY_GROUP_MAX_MESSAGE_KEYS;
    if (st->nkeys + keep > PARLEY_GROUP_MAX_MESSAGE_KEYS) {
        size_t drop = st->nkeys + keep - PARLEY_GROUP_MAX_MESSAGE_KEYS;
        memmove(st->keys, st->keys + drop, (st->nkeys - drop) * sizeof *st->keys);
        pc_wipe(st->keys + (st->nkeys - drop), drop * sizeof *st->keys);
        st->nkeys -= drop;
    }
    memcpy(ck, st->chain_key, SK_KEY_LEN);
    for (size_t i = 0; i < jump; i++) {
        if (i >= jump - keep) {
            GUARD(sk_chain_message_seed(seed, ck));
            GUARD(sk_state_add_key(st, (uint32_t)(st->iteration + i), seed));
        }
        GUARD(sk_chain_next(next, ck));
        memcpy(ck, next, SK_KEY_LEN);
    }
    /* ck is now the chain key at target; the chain moves past it. */
    GUARD(sk_chain_next(next, ck));
    memcpy(st->chain_key, next, SK_KEY_LEN);
    st->iteration = target + 1;
    rc = PARLEY_OK;
out:
    pc_wipe(ck, sizeof ck);
    pc_wipe(next, sizeof next);
    pc_wipe(seed, sizeof seed);
    return rc;
}

int parley_group_decrypt(parley_group_store *s, const char *sender, uint32_t device,
                         const uint8_t *msg, size_t len, uint8_t *out, size_t out_max,
                         size_t *out_len)
{
    int rc;
    sk_skm m;
    uint8_t seed[SK_KEY_LEN], ck[SK_KEY_LEN];
    size_t key_index = 0;
    int from_skipped = 0;
    memset(&m, 0, sizeof m);
    PARLEY_MISUSE(s != NULL && sender != NULL && out != NULL && out_len != NULL &&
                  (msg != NULL || len == 0));

    GUARD(sk_skm_decode(&m, msg, len));
    sk_record *r = sk_store_find(s, sender, device, m.dist);
    ENSURE(r != NULL, PARLEY_ERR_NO_SESSION);
    sk_state *st = sk_record_find_chain(r, m.chain_id);
    ENSURE(st != NULL, PARLEY_ERR_NO_SESSION);
    ENSURE(m.version == (st->version == 0 ? SK_VERSION : st->version), PARLEY_ERR_INVALID_MESSAGE);
    /* The signature is checked before any key is derived or consumed. */
    if (st->verifier == NULL) {
        xeddsa_verify_key *vk = malloc(sizeof *vk);
        ENSURE(vk != NULL, PARLEY_ERR_NOMEM);
        /* A key under which nothing verifies (u = -1, small order, the
         * twist) is not kept: every message from it fails. */
        int krc = xeddsa_verify_key_init(vk, st->sig_pub);
        if (krc != PARLEY_OK)
            free(vk);
        ENSURE(krc == PARLEY_OK, PARLEY_ERR_INVALID_SIGNATURE);
        st->verifier = vk;
    }
    ENSURE(xeddsa_verify_expanded(st->verifier, m.signed_part, m.signed_len, m.signature) ==
               PARLEY_OK,
           PARLEY_ERR_INVALID_SIGNATURE);

    if (m.iteration < st->iteration) {
        /* An old iteration: only a kept skipped key can open it. */
        for (key_index = 0; key_index < st->nkeys; key_index++)
            if (st->keys[key_index].iteration == m.iteration)
                break;
        ENSURE(key_index < st->nkeys, PARLEY_ERR_DUPLICATE);
        memcpy(seed, st->keys[key_index].seed, SK_KEY_LEN);
        from_skipped = 1;
    } else {
        ENSURE(m.iteration - st->iteration <= PARLEY_GROUP_MAX_FORWARD_JUMPS,
               PARLEY_ERR_TOO_FAR_AHEAD);
        ENSURE(m.iteration != UINT32_MAX, PARLEY_ERR_INVALID_MESSAGE);
        GUARD(chain_at(ck, st, m.iteration));
        GUARD(sk_chain_message_seed(seed, ck));
    }
    ENSURE(m.ciphertext_len > 0 && m.ciphertext_len % PC_AES_BLOCK == 0,
           PARLEY_ERR_INVALID_MESSAGE);
    ENSURE(m.ciphertext_len <= out_max, PARLEY_ERR_BUFFER);
    GUARD(open_ct(out, out_max, out_len, seed, m.ciphertext, m.ciphertext_len));

    /* Success: only now does the state move (libsignal stores the record
     * only after the plaintext is recovered). */
    if (from_skipped) {
        memmove(st->keys + key_index, st->keys + key_index + 1,
                (st->nkeys - key_index - 1) * sizeof *st->keys);
        st->nkeys--;
        pc_wipe(st->keys + st->nkeys, sizeof *st->keys);
    } else {
        GUARD(advance_to(st, m.iteration));
    }
    rc = PARLEY_OK;
out:
    sk_skm_free(&m);
    pc_wipe(seed, sizeof seed);
    pc_wipe(ck, sizeof ck);
    return rc;
}

void parley_group_buffer_free(uint8_t *p, size_t len)
{
    if (p == NULL)
        return;
    pc_wipe(p, len);
    free(p);
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int parley_group_uuid_parse(uint8_t out[SK_DIST_LEN], const char *s)
{
    PARLEY_MISUSE(out != NULL && s != NULL);
    /* RFC 9562 section 4: 8-4-4-4-12 hex digits. */
    size_t j = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return PARLEY_ERR_DECODE;
            continue;
        }
        int hi = hex_nibble(s[i]);
        if (hi < 0)
            return PARLEY_ERR_DECODE;
        int lo = hex_nibble(s[++i]);
        if (lo < 0)
            return PARLEY_ERR_DECODE;
        out[j++] = (uint8_t)((hi << 4) | lo);
    }
    if (s[36] != '\0')
        return PARLEY_ERR_DECODE;
    return PARLEY_OK;
}

void parley_group_uuid_format(char out[37], const uint8_t id[SK_DIST_LEN])
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < SK_DIST_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[id[i] >> 4];
        out[k++] = hex[id[i] & 15];
    }
    out[k] = '\0';
}

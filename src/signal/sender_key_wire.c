/*
 * SenderKeyDistributionMessage and SenderKeyMessage, byte for byte as
 * libsignal's rust/protocol/src/protocol.rs writes them:
 *   SKDM: version byte (0x33) || protobuf SenderKeyDistributionMessage
 *   SKM:  version byte (0x33) || protobuf SenderKeyMessage || XEdDSA
 *         signature (64) over everything before it, by the chain's
 *         signing key
 * The version byte's high nibble is the message version; its low nibble
 * is the current version and is ignored on input.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "parley/xeddsa.h"
#include "sender_key.pb-c.h"
#include "signal/sender_key_internal.h"
#include "util/reader.h"
#include "util/safety.h"

/* libsignal: version < 3 is a legacy message, > 3 one we cannot read. */
static int check_version(uint8_t byte)
{
    uint8_t v = (uint8_t)(byte >> 4);
    if (v < SK_VERSION)
        return PARLEY_ERR_LEGACY_VERSION;
    if (v > SK_VERSION)
        return PARLEY_ERR_INVALID_MESSAGE;
    return PARLEY_OK;
}

int sk_skdm_encode(const sk_skdm *m, uint8_t *out, size_t out_max, size_t *out_len)
{
    uint8_t sig_key[SK_SERIALIZED_KEY_LEN];
    Parley__Sk__SenderKeyDistributionMessage pb = PARLEY__SK__SENDER_KEY_DISTRIBUTION_MESSAGE__INIT;
    sig_key[0] = SK_KEY_TYPE_DJB;
    memcpy(sig_key + 1, m->sig_pub, SK_KEY_LEN);
    pb.has_distribution_uuid = 1;
    pb.distribution_uuid.data = (uint8_t *)(uintptr_t)m->dist;
    pb.distribution_uuid.len = SK_DIST_LEN;
    pb.has_chain_id = 1;
    pb.chain_id = m->chain_id;
    pb.has_iteration = 1;
    pb.iteration = m->iteration;
    pb.has_chain_key = 1;
    pb.chain_key.data = (uint8_t *)(uintptr_t)m->chain_key;
    pb.chain_key.len = SK_KEY_LEN;
    pb.has_signing_key = 1;
    pb.signing_key.data = sig_key;
    pb.signing_key.len = SK_SERIALIZED_KEY_LEN;
    size_t n = parley__sk__sender_key_distribution_message__get_packed_size(&pb);
    if (out_max < 1 || n > out_max - 1)
        return PARLEY_ERR_BUFFER;
    out[0] = SK_VERSION_BYTE;
    *out_len = 1 + parley__sk__sender_key_distribution_message__pack(&pb, out + 1);
    return PARLEY_OK;
}

int sk_skdm_decode(sk_skdm *m, const uint8_t *in, size_t len)
{
    int rc;
    preader r;
    uint8_t version;
    const uint8_t *body;
    size_t body_len;
    Parley__Sk__SenderKeyDistributionMessage *pb = NULL;
    preader_init(&r, in, len);
    /* libsignal: at least a version byte, a 32-byte chain key and a key. */
    ENSURE(len >= 1 + 32 + 32 && len <= PARLEY_GROUP_SKDM_MAX * 4, PARLEY_ERR_INVALID_MESSAGE);
    GUARD(preader_u8(&r, &version));
    GUARD(check_version(version));
    preader_rest(&r, &body, &body_len);
    pb = parley__sk__sender_key_distribution_message__unpack(NULL, body_len, body);
    ENSURE(pb != NULL, PARLEY_ERR_INVALID_MESSAGE);
    ENSURE(pb->has_distribution_uuid && pb->distribution_uuid.len == SK_DIST_LEN &&
               pb->has_chain_id && pb->has_iteration && pb->has_chain_key &&
               pb->chain_key.len == SK_KEY_LEN && pb->has_signing_key &&
               pb->signing_key.len == SK_SERIALIZED_KEY_LEN &&
               pb->signing_key.data[0] == SK_KEY_TYPE_DJB,
           PARLEY_ERR_INVALID_MESSAGE);
    memcpy(m->dist, pb->distribution_uuid.data, SK_DIST_LEN);
    m->chain_id = pb->chain_id;
    m->iteration = pb->iteration;
    memcpy(m->chain_key, pb->chain_key.data, SK_KEY_LEN);
    memcpy(m->sig_pub, pb->signing_key.data + 1, SK_KEY_LEN);
    rc = PARLEY_OK;
out:
    if (pb != NULL) {
        if (pb->has_chain_key)
            pc_wipe(pb->chain_key.data, pb->chain_key.len);
        parley__sk__sender_key_distribution_message__free_unpacked(pb, NULL);
    }
    return rc;
}

int sk_skm_encode(uint8_t *out, size_t out_max, size_t *out_len, const uint8_t dist[SK_DIST_LEN],
                  uint32_t chain_id, uint32_t iteration, const uint8_t *ct, size_t ct_len,
                  const xeddsa_signing_key *signer)
{
    int rc;
    Parley__Sk__SenderKeyMessage pb = PARLEY__SK__SENDER_KEY_MESSAGE__INIT;
    pb.has_distribution_uuid = 1;
    pb.distribution_uuid.data = (uint8_t *)(uintptr_t)dist;
    pb.distribution_uuid.len = SK_DIST_LEN;
    pb.has_chain_id = 1;
    pb.chain_id = chain_id;
    pb.has_iteration = 1;
    pb.iteration = iteration;
    pb.has_ciphertext = 1;
    pb.ciphertext.data = (uint8_t *)(uintptr_t)ct;
    pb.ciphertext.len = ct_len;
    size_t n = parley__sk__sender_key_message__get_packed_size(&pb);
    ENSURE(out_max >= 1 + SK_SIG_LEN && n <= out_max - 1 - SK_SIG_LEN, PARLEY_ERR_BUFFER);
    out[0] = SK_VERSION_BYTE;
    n = 1 + parley__sk__sender_key_message__pack(&pb, out + 1);
    GUARD(xeddsa_sign_expanded(out + n, signer, out, n));
    *out_len = n + SK_SIG_LEN;
    rc = PARLEY_OK;
out:
    return rc;
}

int sk_skm_decode(sk_skm *m, const uint8_t *in, size_t len)
{
    int rc;
    preader r;
    uint8_t version;
    const uint8_t *body;
    Parley__Sk__SenderKeyMessage *pb = NULL;
    memset(m, 0, sizeof *m);
    preader_init(&r, in, len);
    ENSURE(len >= 1 + SK_SIG_LEN && len <= PARLEY_GROUP_CIPHERTEXT_MAX(PARLEY_GROUP_MAX_PLAINTEXT),
           PARLEY_ERR_INVALID_MESSAGE);
    GUARD(preader_u8(&r, &version));
    GUARD(check_version(version));
    size_t body_len = len - 1 - SK_SIG_LEN;
    GUARD(preader_view(&r, &body, body_len));
    GUARD(preader_view(&r, &m->signature, SK_SIG_LEN));
    pb = parley__sk__sender_key_message__unpack(NULL, body_len, body);
    ENSURE(pb != NULL, PARLEY_ERR_INVALID_MESSAGE);
    ENSURE(pb->has_distribution_uuid && pb->distribution_uuid.len == SK_DIST_LEN &&
               pb->has_chain_id && pb->has_iteration && pb->has_ciphertext,
           PARLEY_ERR_INVALID_MESSAGE);
    m->version = (uint32_t)(version >> 4);
    memcpy(m->dist, pb->distribution_uuid.data, SK_DIST_LEN);
    m->chain_id = pb->chain_id;
    m->iteration = pb->iteration;
    m->ciphertext = pb->ciphertext.data;
    m->ciphertext_len = pb->ciphertext.len;
    m->signed_part = in;
    m->signed_len = len - SK_SIG_LEN;
    m->owned = pb;
    pb = NULL;
    rc = PARLEY_OK;
out:
    if (pb != NULL)
        parley__sk__sender_key_message__free_unpacked(pb, NULL);
    if (rc != PARLEY_OK && rc != PARLEY_ERR_LEGACY_VERSION)
        rc = rc == PARLEY_ERR_DECODE ? PARLEY_ERR_INVALID_MESSAGE : rc;
    return rc;
}

void sk_skm_free(sk_skm *m)
{
    if (m->owned != NULL)
        parley__sk__sender_key_message__free_unpacked(m->owned, NULL);
    memset(m, 0, sizeof *m);
}

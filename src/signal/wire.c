/*
 * SignalMessage and PreKeySignalMessage, message version 3, as
 * libsignal-protocol-c's protocol.c writes and reads them:
 *
 *   SignalMessage       = version || protobuf SignalMessage || MAC[8]
 *   PreKeySignalMessage = version || protobuf PreKeySignalMessage
 *
 * version = (3 << 4) | 3. MAC = HMAC-SHA256(mac key, sender identity (33)
 * || receiver identity (33) || version || protobuf), first 8 bytes.
 * protobuf-c parses the protobuf part; everything around it goes through
 * the bounds-checked reader.
 */
#include "signal/session_internal.h"

#include <stdlib.h>
#include <string.h>
#include "crypto/crypto.h"
#include "signal_wire.pb-c.h"
#include "util/reader.h"
#include "util/safety.h"

static void *arena_alloc(void *data, size_t size)
{
    sig_arena *a = data;
    size_t need = (size + 15u) & ~(size_t)15u;
    if (need >= size && need <= sizeof a->buf - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    return malloc(size);
}

static void arena_free(void *data, void *p)
{
    sig_arena *a = data;
    const uint8_t *q = p;
    if (q >= a->buf && q < a->buf + sizeof a->buf)
        return;
    free(p);
}

static void arena_allocator(ProtobufCAllocator *al, sig_arena *a)
{
    a->used = 0;
    al->alloc = arena_alloc;
    al->free = arena_free;
    al->allocator_data = a;
}

/* The high nibble is the message version (protocol.c). */
static int check_version(uint8_t b)
{
    uint8_t v = (uint8_t)(b >> 4);
    if (v < PARLEY_SIGNAL_VERSION)
        return PARLEY_ERR_LEGACY_VERSION;
    if (v > PARLEY_SIGNAL_VERSION)
        return PARLEY_ERR_INVALID_MESSAGE;
    return PARLEY_OK;
}

static int decode_key(uint8_t out[32], const ProtobufCBinaryData *d)
{
    if (d->data == NULL || parley_key_decode(out, d->data, d->len) != PARLEY_OK)
        return PARLEY_ERR_INVALID_MESSAGE;
    return PARLEY_OK;
}

int sig_signal_msg_decode(sig_signal_msg *m, const uint8_t *in, size_t n)
{
    int rc;
    preader r;
    uint8_t vb;
    const uint8_t *body;
    ProtobufCAllocator al;
    Parley__Wire__SignalMessage *pb = NULL;

    memset(m, 0, offsetof(sig_signal_msg, arena_));
    preader_init(&r, in, n);
    ENSURE(preader_u8(&r, &vb) == PARLEY_OK, PARLEY_ERR_INVALID_MESSAGE);
    GUARD(check_version(vb));
    ENSURE(preader_left(&r) > SIG_MAC_LEN, PARLEY_ERR_INVALID_MESSAGE);
    size_t body_len = preader_left(&r) - SIG_MAC_LEN;
    ENSURE(preader_view(&r, &body, body_len) == PARLEY_OK, PARLEY_ERR_INVALID_MESSAGE);

    arena_allocator(&al, &m->arena_);
    pb = parley__wire__signal_message__unpack(&al, body_len, body);
    ENSURE(pb != NULL, PARLEY_ERR_INVALID_MESSAGE);
    /* Incomplete messages are refused, as protocol.c does. */
    ENSURE(pb->has_ratchetkey && pb->has_counter && pb->has_ciphertext &&
               pb->ciphertext.data != NULL,
           PARLEY_ERR_INVALID_MESSAGE);
    GUARD(decode_key(m->ratchet, &pb->ratchetkey));
    m->version = (uint8_t)(vb >> 4);
    m->counter = pb->counter;
    m->previous_counter = pb->has_previouscounter ? pb->previouscounter : 0;
    m->ciphertext = pb->ciphertext.data;
    m->ciphertext_len = pb->ciphertext.len;
    m->serialized = in;
    m->serialized_len = n;
    m->pb_ = pb;
    pb = NULL;
    rc = PARLEY_OK;
out:
    if (pb != NULL)
        parley__wire__signal_message__free_unpacked(pb, &al);
    return rc;
}

void sig_signal_msg_free(sig_signal_msg *m)
{
    if (m->pb_ != NULL) {
        ProtobufCAllocator al = {arena_alloc, arena_free, &m->arena_};
        parley__wire__signal_message__free_unpacked(m->pb_, &al);
        m->pb_ = NULL;
    }
}

int sig_prekey_msg_decode(sig_prekey_msg *m, const uint8_t *in, size_t n)
{
    int rc;
    preader r;
    uint8_t vb;
    const uint8_t *body;
    size_t body_len;
    ProtobufCAllocator al;
    Parley__Wire__PreKeySignalMessage *pb = NULL;

    memset(m, 0, offsetof(sig_prekey_msg, arena_));
    preader_init(&r, in, n);
    ENSURE(preader_u8(&r, &vb) == PARLEY_OK, PARLEY_ERR_INVALID_MESSAGE);
    GUARD(check_version(vb));
    preader_rest(&r, &body, &body_len);

    arena_allocator(&al, &m->arena_);
    pb = parley__wire__pre_key_signal_message__unpack(&al, body_len, body);
    ENSURE(pb != NULL, PARLEY_ERR_INVALID_MESSAGE);
    ENSURE(pb->has_signedprekeyid && pb->has_basekey && pb->has_identitykey && pb->has_message &&
               pb->message.data != NULL,
           PARLEY_ERR_INVALID_MESSAGE);
    GUARD(decode_key(m->base_key, &pb->basekey));
    GUARD(decode_key(m->identity_key, &pb->identitykey));
    m->version = (uint8_t)(vb >> 4);
    m->registration_id = pb->has_registrationid ? pb->registrationid : 0;
    m->has_prekey_id = pb->has_prekeyid;
    m->prekey_id = pb->has_prekeyid ? pb->prekeyid : 0;
    m->signed_prekey_id = pb->signedprekeyid;
    m->message = pb->message.data;
    m->message_len = pb->message.len;
    m->pb_ = pb;
    pb = NULL;
    rc = PARLEY_OK;
out:
    if (pb != NULL)
        parley__wire__pre_key_signal_message__free_unpacked(pb, &al);
    return rc;
}

void sig_prekey_msg_free(sig_prekey_msg *m)
{
    if (m->pb_ != NULL) {
        ProtobufCAllocator al = {arena_alloc, arena_free, &m->arena_};
        parley__wire__pre_key_signal_message__free_unpacked(m->pb_, &al);
        m->pb_ = NULL;
    }
}

static int compute_mac(uint8_t mac[32], const uint8_t mac_key[32], const uint8_t sender[32],
                       const uint8_t receiver[32], const uint8_t *body, size_t body_len)
{
    uint8_t s[PARLEY_PUBKEY_LEN], rcv[PARLEY_PUBKEY_LEN];
    parley_key_encode(s, sender);
    parley_key_encode(rcv, receiver);
    pc_part parts[3] = {{s, sizeof s}, {rcv, sizeof rcv}, {body, body_len}};
    pc_hmac_key k;
    int rc = pc_hmac_key_init(&k, mac_key, 32);
    if (rc == PARLEY_OK)
        rc = pc_hmac_keyed(mac, &k, parts, 3);
    pc_hmac_key_wipe(&k);
    return rc;
}

int sig_signal_msg_encode(uint8_t *out, size_t out_max, size_t *out_len, const uint8_t mac_key[32],
                          const uint8_t ratchet[32], uint32_t counter, uint32_t previous_counter,
                          const uint8_t *ct, size_t ct_len, const uint8_t sender_identity[32],
                          const uint8_t receiver_identity[32])
{
    int rc;
    uint8_t rk[PARLEY_PUBKEY_LEN], mac[32];
    Parley__Wire__SignalMessage pb = PARLEY__WIRE__SIGNAL_MESSAGE__INIT;

    parley_key_encode(rk, ratchet);
    pb.has_ratchetkey = 1;
    pb.ratchetkey.data = rk;
    pb.ratchetkey.len = sizeof rk;
    pb.has_counter = 1;
    pb.counter = counter;
    pb.has_previouscounter = 1;
    pb.previouscounter = previous_counter;
    pb.has_ciphertext = 1;
    pb.ciphertext.data = (uint8_t *)(uintptr_t)ct;
    pb.ciphertext.len = ct_len;

    size_t pl = parley__wire__signal_message__get_packed_size(&pb);
    ENSURE(out_max >= 1 + pl + SIG_MAC_LEN, PARLEY_ERR_BUFFER);
    out[0] = SIG_WIRE_VERSION_BYTE;
    ENSURE(parley__wire__signal_message__pack(&pb, out + 1) == pl, PARLEY_ERR_CRYPTO);
    GUARD(compute_mac(mac, mac_key, sender_identity, receiver_identity, out, 1 + pl));
    memcpy(out + 1 + pl, mac, SIG_MAC_LEN);
    *out_len = 1 + pl + SIG_MAC_LEN;
    rc = PARLEY_OK;
out:
    pc_wipe(mac, sizeof mac);
    return rc;
}

int sig_signal_msg_verify_mac(const sig_signal_msg *m, const uint8_t mac_key[32],
                              const uint8_t sender_identity[32],
                              const uint8_t receiver_identity[32])
{
    int rc;
    uint8_t mac[32];
    size_t body_len = m->serialized_len - SIG_MAC_LEN;
    GUARD(compute_mac(mac, mac_key, sender_identity, receiver_identity, m->serialized, body_len));
    ENSURE(pc_ct_eq(mac, m->serialized + body_len, SIG_MAC_LEN), PARLEY_ERR_INVALID_MAC);
    rc = PARLEY_OK;
out:
    pc_wipe(mac, sizeof mac);
    return rc;
}

int sig_prekey_msg_encode(uint8_t *out, size_t out_max, size_t *out_len, const sig_prekey_msg *m)
{
    int rc;
    uint8_t bk[PARLEY_PUBKEY_LEN], ik[PARLEY_PUBKEY_LEN];
    Parley__Wire__PreKeySignalMessage pb = PARLEY__WIRE__PRE_KEY_SIGNAL_MESSAGE__INIT;

    parley_key_encode(bk, m->base_key);
    parley_key_encode(ik, m->identity_key);
    pb.has_registrationid = 1;
    pb.registrationid = m->registration_id;
    if (m->has_prekey_id) {
        pb.has_prekeyid = 1;
        pb.prekeyid = m->prekey_id;
    }
    pb.has_signedprekeyid = 1;
    pb.signedprekeyid = m->signed_prekey_id;
    pb.has_basekey = 1;
    pb.basekey.data = bk;
    pb.basekey.len = sizeof bk;
    pb.has_identitykey = 1;
    pb.identitykey.data = ik;
    pb.identitykey.len = sizeof ik;
    pb.has_message = 1;
    pb.message.data = (uint8_t *)(uintptr_t)m->message;
    pb.message.len = m->message_len;

    size_t pl = parley__wire__pre_key_signal_message__get_packed_size(&pb);
    ENSURE(out_max >= 1 + pl, PARLEY_ERR_BUFFER);
    out[0] = SIG_WIRE_VERSION_BYTE;
    ENSURE(parley__wire__pre_key_signal_message__pack(&pb, out + 1) == pl, PARLEY_ERR_CRYPTO);
    *out_len = 1 + pl;
    rc = PARLEY_OK;
out:
    return rc;
}

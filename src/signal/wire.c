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

/* A protobuf varint of at most five bytes whose value fits in 32 bits;
 * anything else is left to protobuf-c (-1). */
static int varint32(preader *r, uint32_t *out)
{
    uint32_t v = 0;
    uint8_t b;
    for (int i = 0; i < 5; i++) {
        if (preader_u8(r, &b) != PARLEY_OK)
            return -1;
        if (i == 4 && b > 0x0F)
            return -1;
        v |= (uint32_t)(b & 0x7F) << (7 * i);
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/*
 * The SignalMessage protobuf exactly as protobuf-c and libsignal write it:
 * fields 1 (33-byte key), 2, 3 and 4 (non-empty), in that order, once
 * each, nothing else. Every message either library sends has this form;
 * reading it directly lets the ciphertext stay where it is (protobuf-c
 * copies every bytes field). Any other encoding (reordered, repeated or
 * unknown fields, long varints) returns -1 and takes the general protobuf-c
 * path, so what is accepted, and how, does not change.
 */
static int decode_canonical(sig_signal_msg *m, const uint8_t *body, size_t body_len)
{
    preader r;
    uint8_t tag, len;
    uint32_t ct_len;
    const uint8_t *key;
    preader_init(&r, body, body_len);
    if (preader_u8(&r, &tag) != PARLEY_OK || tag != 0x0A || preader_u8(&r, &len) != PARLEY_OK ||
        len != PARLEY_PUBKEY_LEN || preader_view(&r, &key, PARLEY_PUBKEY_LEN) != PARLEY_OK)
        return -1;
    if (preader_u8(&r, &tag) != PARLEY_OK || tag != 0x10 || varint32(&r, &m->counter) != 0)
        return -1;
    if (preader_u8(&r, &tag) != PARLEY_OK || tag != 0x18 ||
        varint32(&r, &m->previous_counter) != 0)
        return -1;
    if (preader_u8(&r, &tag) != PARLEY_OK || tag != 0x22 || varint32(&r, &ct_len) != 0 ||
        ct_len == 0 || ct_len != preader_left(&r) ||
        preader_view(&r, &m->ciphertext, ct_len) != PARLEY_OK)
        return -1;
    /* A malformed key is refused by both paths alike. */
    if (parley_key_decode(m->ratchet, key, PARLEY_PUBKEY_LEN) != PARLEY_OK)
        return -1;
    m->ciphertext_len = ct_len;
    return 0;
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

    if (decode_canonical(m, body, body_len) == PARLEY_OK) {
        m->version = (uint8_t)(vb >> 4);
        m->serialized = in;
        m->serialized_len = n;
        rc = PARLEY_OK;
        goto out;
    }
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

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/*
 * The four fields written by hand, in field-number order with minimal
 * varints: byte for byte what protobuf-c's generic packer (and libsignal)
 * produce for this message, without walking its descriptor. Everything up
 * to the ciphertext is written; returns the length of the whole body
 * (version byte included) or 0 when it does not fit in out_max with the
 * MAC.
 */
static size_t put_header(uint8_t *out, size_t out_max, const uint8_t ratchet[32],
                         uint32_t counter, uint32_t previous_counter, size_t ct_len)
{
    uint8_t *p = out;
    if (ct_len > PARLEY_SIGNAL_MAX_MESSAGE)
        return 0;
    size_t body = 1 + 2 + PARLEY_PUBKEY_LEN + 1 + varint_len(counter) + 1 +
                  varint_len(previous_counter) + 1 + varint_len(ct_len) + ct_len;
    if (out_max < body + SIG_MAC_LEN)
        return 0;
    *p++ = SIG_WIRE_VERSION_BYTE;
    *p++ = 0x0A; /* field 1, length-delimited */
    *p++ = PARLEY_PUBKEY_LEN;
    parley_key_encode(p, ratchet);
    p += PARLEY_PUBKEY_LEN;
    *p++ = 0x10; /* field 2, varint */
    p = put_varint(p, counter);
    *p++ = 0x18; /* field 3, varint */
    p = put_varint(p, previous_counter);
    *p++ = 0x22; /* field 4, length-delimited */
    p = put_varint(p, ct_len);
    return (size_t)(p - out) + ct_len == body ? body : 0;
}

int sig_signal_msg_encode(uint8_t *out, size_t out_max, size_t *out_len, const uint8_t mac_key[32],
                          const uint8_t ratchet[32], uint32_t counter, uint32_t previous_counter,
                          const uint8_t *ct, size_t ct_len, const uint8_t sender_identity[32],
                          const uint8_t receiver_identity[32])
{
    int rc;
    uint8_t mac[32];
    size_t body = put_header(out, out_max, ratchet, counter, previous_counter, ct_len);
    ENSURE(body > 0, PARLEY_ERR_BUFFER);
    memcpy(out + body - ct_len, ct, ct_len);
    GUARD(compute_mac(mac, mac_key, sender_identity, receiver_identity, out, body));
    memcpy(out + body, mac, SIG_MAC_LEN);
    *out_len = body + SIG_MAC_LEN;
    rc = PARLEY_OK;
out:
    pc_wipe(mac, sizeof mac);
    return rc;
}

int sig_signal_msg_seal(uint8_t *out, size_t out_max, size_t *out_len, const sig_msg_keys *mk,
                        const uint8_t ratchet[32], uint32_t counter, uint32_t previous_counter,
                        const uint8_t *pt, size_t pt_len, const uint8_t sender_identity[32],
                        const uint8_t receiver_identity[32])
{
    int rc;
    /* The MAC input before the ciphertext: both identities, the version
     * byte and the protobuf fields before the ciphertext bytes. */
    uint8_t mac[32], head[2 * PARLEY_PUBKEY_LEN + 64];
    size_t ct_len = pt_len + (PC_AES_BLOCK - pt_len % PC_AES_BLOCK), got = 0;
    size_t body = put_header(out, out_max, ratchet, counter, previous_counter, ct_len);
    ENSURE(body > 0, PARLEY_ERR_BUFFER);
    size_t hdr = body - ct_len;
    ENSURE(hdr <= sizeof head - 2 * PARLEY_PUBKEY_LEN, PARLEY_ERR_CRYPTO);
    parley_key_encode(head, sender_identity);
    parley_key_encode(head + PARLEY_PUBKEY_LEN, receiver_identity);
    memcpy(head + 2 * PARLEY_PUBKEY_LEN, out, hdr);
    /* Encrypt straight into the message, hashing as the ciphertext is
     * produced: no copy of it, and one pass over it. */
    GUARD(pc_cbc_hmac_seal(out + hdr, ct_len, &got, mk->cipher_key, mk->iv, mk->mac_key, head,
                           2 * PARLEY_PUBKEY_LEN + hdr, pt, pt_len, mac));
    ENSURE(got == ct_len, PARLEY_ERR_CRYPTO);
    memcpy(out + body, mac, SIG_MAC_LEN);
    *out_len = body + SIG_MAC_LEN;
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

int sig_signal_msg_open(const sig_signal_msg *m, const sig_msg_keys *mk,
                        const uint8_t sender_identity[32], const uint8_t receiver_identity[32],
                        uint8_t *out, size_t out_max, size_t *out_len)
{
    int rc;
    uint8_t mac[32], head[2 * PARLEY_PUBKEY_LEN + 64];
    size_t body_len = m->serialized_len - SIG_MAC_LEN;
    const uint8_t *body_end = m->serialized + body_len;
    /* One pass when the ciphertext closes the body (the canonical layout,
     * read in place) and fits out: the MAC is still checked before the
     * plaintext or the padding verdict is used. */
    if (out_max >= m->ciphertext_len && m->ciphertext + m->ciphertext_len == body_end &&
        body_len - m->ciphertext_len <= sizeof head - 2 * PARLEY_PUBKEY_LEN) {
        size_t hdr = body_len - m->ciphertext_len;
        parley_key_encode(head, sender_identity);
        parley_key_encode(head + PARLEY_PUBKEY_LEN, receiver_identity);
        memcpy(head + 2 * PARLEY_PUBKEY_LEN, m->serialized, hdr);
        int dec = pc_cbc_hmac_open(out, out_max, out_len, mk->cipher_key, mk->iv, mk->mac_key,
                                   head, 2 * PARLEY_PUBKEY_LEN + hdr, m->ciphertext,
                                   m->ciphertext_len, mac);
        if (dec != PARLEY_OK && dec != PARLEY_ERR_DECODE) {
            pc_wipe(out, m->ciphertext_len);
            rc = dec;
            goto out;
        }
        if (!pc_ct_eq(mac, body_end, SIG_MAC_LEN)) {
            pc_wipe(out, m->ciphertext_len);
            rc = PARLEY_ERR_INVALID_MAC;
            goto out;
        }
        ENSURE(dec == PARLEY_OK, PARLEY_ERR_INVALID_MESSAGE);
        rc = PARLEY_OK;
        goto out;
    }
    GUARD(sig_signal_msg_verify_mac(m, mk->mac_key, sender_identity, receiver_identity));
    ENSURE(out_max >= m->ciphertext_len, PARLEY_ERR_BUFFER);
    rc = pc_aes256_cbc_decrypt(out, out_max, out_len, mk->cipher_key, mk->iv, m->ciphertext,
                               m->ciphertext_len);
    if (rc != PARLEY_OK) {
        pc_wipe(out, m->ciphertext_len);
        rc = PARLEY_ERR_INVALID_MESSAGE;
    }
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

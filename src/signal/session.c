/*
 * The local device and its 1:1 sessions: identity, prekeys, X3DH session
 * building (libsignal's session_builder.c) and the Double Ratchet cipher
 * (session_cipher.c), message version 3.
 *
 * Decryption never mutates a state until the message has been
 * authenticated and decrypted: try_decrypt computes the ratchet step and
 * the message key from the state without changing it and returns a plan;
 * commit applies the plan. So a bad message (wrong MAC, replay, forward
 * jump too far) leaves the session exactly as it was, with no copy of the
 * state made per message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/crypto.h"
#include "parley/signal.h"
#include "parley/xeddsa.h"
#include "signal/session_internal.h"
#include "util/buf.h"
#include "util/reader.h"
#include "util/safety.h"

#define LOCAL_KEY     "identity"
#define LOCAL_FORMAT  1
#define PREKEY_FORMAT 1
/* libsignal's prekey ids are 24-bit (Medium.MAX_VALUE). */
#define PREKEY_ID_MAX 0xFFFFFFu
/* libsignal's key_helper: registration id in 1..16380. */
#define REGISTRATION_ID_RANGE 16380u
#define STORE_KEY_LEN         80

struct sess_entry {
    struct sess_entry *next;
    char *name;
    uint32_t device;
    char key[STORE_KEY_LEN + 16]; /* store key of the record */
    sig_record rec;
    /* The remote identity last found trusted, and when: encrypt skips the
     * store lookup while no trust decision has been recorded since. */
    uint8_t trusted_identity[32];
    uint64_t trusted_epoch;
};

struct parley_signal {
    parley_signal_store *store;
    uint8_t identity_pub[32];
    uint8_t *identity_priv; /* 32 bytes of guarded memory */
    uint32_t registration_id;
    uint32_t next_prekey_id;
    uint32_t signed_prekey_id; /* 0: none yet */
    struct sess_entry *sessions;
    uint64_t trust_epoch; /* bumped by every trust record written */
    pbuf scratch_msg; /* reused per message: no heap churn when steady */
    pbuf scratch_rec; /* serialized session record on its way to the store */
};

/* ---- local identity record ---- */

static int save_local(parley_signal *s)
{
    uint8_t b[1 + 32 + 32 + 12];
    b[0] = LOCAL_FORMAT;
    memcpy(b + 1, s->identity_pub, 32);
    memcpy(b + 33, s->identity_priv, 32);
    for (int i = 0; i < 4; i++) {
        b[65 + i] = (uint8_t)(s->registration_id >> (24 - 8 * i));
        b[69 + i] = (uint8_t)(s->next_prekey_id >> (24 - 8 * i));
        b[73 + i] = (uint8_t)(s->signed_prekey_id >> (24 - 8 * i));
    }
    int rc = parley_signal_store_put(s->store, PARLEY_STORE_LOCAL, LOCAL_KEY, b, sizeof b);
    pc_wipe(b, sizeof b);
    return rc;
}

static int load_local(parley_signal *s)
{
    int rc;
    uint8_t *blob = NULL, fmt;
    size_t len = 0;
    preader r;
    GUARD(parley_signal_store_get(s->store, PARLEY_STORE_LOCAL, LOCAL_KEY, &blob, &len));
    preader_init(&r, blob, len);
    ENSURE(preader_u8(&r, &fmt) == PARLEY_OK && fmt == LOCAL_FORMAT, PARLEY_ERR_STORE);
    ENSURE(preader_bytes(&r, s->identity_pub, 32) == PARLEY_OK, PARLEY_ERR_STORE);
    ENSURE(preader_bytes(&r, s->identity_priv, 32) == PARLEY_OK, PARLEY_ERR_STORE);
    ENSURE(preader_u32be(&r, &s->registration_id) == PARLEY_OK, PARLEY_ERR_STORE);
    ENSURE(preader_u32be(&r, &s->next_prekey_id) == PARLEY_OK, PARLEY_ERR_STORE);
    ENSURE(preader_u32be(&r, &s->signed_prekey_id) == PARLEY_OK, PARLEY_ERR_STORE);
    ENSURE(preader_left(&r) == 0, PARLEY_ERR_STORE);
    rc = PARLEY_OK;
out:
    parley_signal_store_blob_free(blob, len);
    return rc;
}

static int signal_alloc(parley_signal **out, parley_signal_store *store)
{
    PARLEY_MISUSE(out != NULL && store != NULL);
    if (pc_init() < 0)
        return PARLEY_ERR_CRYPTO;
    parley_signal *s = calloc(1, sizeof *s);
    if (s == NULL)
        return PARLEY_ERR_NOMEM;
    s->identity_priv = pc_secure_alloc(32);
    if (s->identity_priv == NULL) {
        free(s);
        return PARLEY_ERR_NOMEM;
    }
    s->store = store;
    s->trust_epoch = 1;
    pbuf_init(&s->scratch_msg, PARLEY_SIGNAL_MAX_MESSAGE);
    pbuf_init(&s->scratch_rec, SIG_RECORD_MAX);
    *out = s;
    return PARLEY_OK;
}

int parley_signal_create(parley_signal **out, parley_signal_store *store)
{
    int rc;
    parley_signal *s = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    rc = parley_signal_store_get(store, PARLEY_STORE_LOCAL, LOCAL_KEY, &blob, &len);
    parley_signal_store_blob_free(blob, len);
    ENSURE(rc == PARLEY_ERR_NOT_FOUND, rc == PARLEY_OK ? PARLEY_ERR_STATE : rc);
    GUARD(signal_alloc(&s, store));
    GUARD(pc_x25519_keygen(s->identity_pub, s->identity_priv));
    s->registration_id = pc_random_uniform(REGISTRATION_ID_RANGE) + 1;
    s->next_prekey_id = 1;
    s->signed_prekey_id = 0;
    GUARD(save_local(s));
    *out = s;
    s = NULL;
    rc = PARLEY_OK;
out:
    parley_signal_free(s);
    return rc;
}

int parley_signal_open(parley_signal **out, parley_signal_store *store)
{
    int rc;
    parley_signal *s = NULL;
    GUARD(signal_alloc(&s, store));
    GUARD(load_local(s));
    *out = s;
    s = NULL;
    rc = PARLEY_OK;
out:
    parley_signal_free(s);
    return rc;
}

static void sess_entry_free(struct sess_entry *e)
{
    sig_record_clear(&e->rec);
    free(e->name);
    free(e);
}

void parley_signal_free(parley_signal *s)
{
    if (s == NULL)
        return;
    while (s->sessions != NULL) {
        struct sess_entry *e = s->sessions;
        s->sessions = e->next;
        sess_entry_free(e);
    }
    pc_secure_free(s->identity_priv);
    pbuf_free(&s->scratch_msg);
    pbuf_free(&s->scratch_rec);
    pc_wipe(s, sizeof *s);
    free(s);
}

void parley_signal_identity_key(const parley_signal *s, uint8_t out[PARLEY_PUBKEY_LEN])
{
    parley_key_encode(out, s->identity_pub);
}

void parley_signal_identity_private(const parley_signal *s, uint8_t out[32])
{
    memcpy(out, s->identity_priv, 32);
}

uint32_t parley_signal_registration_id(const parley_signal *s)
{
    return s->registration_id;
}

/* ---- prekeys ---- */

static void id_key(char out[16], uint32_t id)
{
    snprintf(out, 16, "%u", (unsigned)id);
}

int parley_signal_new_signed_prekey(parley_signal *s, uint32_t id, uint64_t timestamp_ms)
{
    int rc;
    uint8_t b[1 + 32 + 32 + 64 + 8], ser[PARLEY_PUBKEY_LEN];
    char key[16];
    PARLEY_MISUSE(s != NULL);
    ENSURE(id <= PREKEY_ID_MAX, PARLEY_ERR_INVALID_ARG);
    b[0] = PREKEY_FORMAT;
    GUARD(pc_x25519_keygen(b + 1, b + 33));
    parley_key_encode(ser, b + 1);
    /* The signature covers the serialized public key, type byte included
     * (session_builder.c checks it the same way). */
    GUARD(parley_xeddsa_sign(b + 65, s->identity_priv, ser, sizeof ser));
    for (int i = 0; i < 8; i++)
        b[129 + i] = (uint8_t)(timestamp_ms >> (56 - 8 * i));
    id_key(key, id);
    GUARD(parley_signal_store_put(s->store, PARLEY_STORE_SIGNED_PREKEY, key, b, sizeof b));
    s->signed_prekey_id = id;
    GUARD(save_local(s));
    rc = PARLEY_OK;
out:
    pc_wipe(b, sizeof b);
    return rc;
}

/* Load a signed prekey: pub, priv, signature. */
static int load_signed_prekey(parley_signal *s, uint32_t id, uint8_t pub[32], uint8_t priv[32],
                              uint8_t sig[64])
{
    int rc;
    uint8_t *blob = NULL;
    size_t len = 0;
    char key[16];
    id_key(key, id);
    rc = parley_signal_store_get(s->store, PARLEY_STORE_SIGNED_PREKEY, key, &blob, &len);
    ENSURE(rc != PARLEY_ERR_NOT_FOUND, PARLEY_ERR_INVALID_KEY_ID);
    GUARD(rc);
    ENSURE(len == 1 + 32 + 32 + 64 + 8 && blob[0] == PREKEY_FORMAT, PARLEY_ERR_STORE);
    memcpy(pub, blob + 1, 32);
    memcpy(priv, blob + 33, 32);
    memcpy(sig, blob + 65, 64);
    rc = PARLEY_OK;
out:
    parley_signal_store_blob_free(blob, len);
    return rc;
}

int parley_signal_new_prekey(parley_signal *s, uint32_t *id, uint8_t pub[PARLEY_PUBKEY_LEN])
{
    int rc;
    uint8_t b[1 + 32 + 32];
    char key[16];
    uint32_t pid = s->next_prekey_id;
    PARLEY_MISUSE(s != NULL && id != NULL && pub != NULL);
    if (pid == 0 || pid > PREKEY_ID_MAX)
        pid = 1;
    b[0] = PREKEY_FORMAT;
    GUARD(pc_x25519_keygen(b + 1, b + 33));
    id_key(key, pid);
    GUARD(parley_signal_store_put(s->store, PARLEY_STORE_PREKEY, key, b, sizeof b));
    s->next_prekey_id = pid + 1 > PREKEY_ID_MAX ? 1 : pid + 1;
    GUARD(save_local(s));
    *id = pid;
    parley_key_encode(pub, b + 1);
    rc = PARLEY_OK;
out:
    pc_wipe(b, sizeof b);
    return rc;
}

static int load_prekey(parley_signal *s, uint32_t id, uint8_t priv[32])
{
    int rc;
    uint8_t *blob = NULL;
    size_t len = 0;
    char key[16];
    id_key(key, id);
    rc = parley_signal_store_get(s->store, PARLEY_STORE_PREKEY, key, &blob, &len);
    ENSURE(rc != PARLEY_ERR_NOT_FOUND, PARLEY_ERR_INVALID_KEY_ID);
    GUARD(rc);
    ENSURE(len == 65 && blob[0] == PREKEY_FORMAT, PARLEY_ERR_STORE);
    memcpy(priv, blob + 33, 32);
    rc = PARLEY_OK;
out:
    parley_signal_store_blob_free(blob, len);
    return rc;
}

int parley_signal_bundle(parley_signal *s, uint32_t device_id, int one_time,
                         parley_prekey_bundle *out)
{
    int rc;
    uint8_t pub[32], priv[32];
    PARLEY_MISUSE(s != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (s->signed_prekey_id == 0)
        GUARD(parley_signal_new_signed_prekey(s, 1, 0));
    GUARD(load_signed_prekey(s, s->signed_prekey_id, pub, priv, out->signed_prekey_signature));
    out->registration_id = s->registration_id;
    out->device_id = device_id;
    parley_key_encode(out->identity_key, s->identity_pub);
    out->signed_prekey_id = s->signed_prekey_id;
    parley_key_encode(out->signed_prekey, pub);
    if (one_time) {
        GUARD(parley_signal_new_prekey(s, &out->prekey_id, out->prekey));
        out->has_prekey = 1;
    }
    rc = PARLEY_OK;
out:
    pc_wipe(priv, sizeof priv);
    return rc;
}

/* ---- trust on first use, per peer name ---- */

/* Store keys are file-name safe: the name in hex when short, else "h" and
 * the hex of its SHA-256. */
static int name_key(char out[STORE_KEY_LEN], const char *name)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(name);
    if (n > 0 && n <= 32) {
        for (size_t i = 0; i < n; i++) {
            out[2 * i] = hex[(uint8_t)name[i] >> 4];
            out[2 * i + 1] = hex[(uint8_t)name[i] & 15];
        }
        out[2 * n] = 0;
        return PARLEY_OK;
    }
    uint8_t h[32];
    int rc = pc_sha256(h, (const uint8_t *)name, n);
    if (rc != PARLEY_OK)
        return rc;
    out[0] = 'h';
    for (size_t i = 0; i < 32; i++) {
        out[1 + 2 * i] = hex[h[i] >> 4];
        out[2 + 2 * i] = hex[h[i] & 15];
    }
    out[65] = 0;
    return PARLEY_OK;
}

/* PARLEY_OK and *known = 0 when nothing is trusted for name yet (first
 * use); PARLEY_ERR_UNTRUSTED_IDENTITY when another key is. */
static int trust_check(parley_signal *s, const char *name, const uint8_t key[32], int *known)
{
    int rc;
    char k[STORE_KEY_LEN];
    uint8_t *blob = NULL;
    size_t len = 0;
    *known = 0;
    GUARD(name_key(k, name));
    rc = parley_signal_store_get(s->store, PARLEY_STORE_TRUST, k, &blob, &len);
    if (rc == PARLEY_ERR_NOT_FOUND) {
        rc = PARLEY_OK;
        goto out;
    }
    GUARD(rc);
    ENSURE(len == 32, PARLEY_ERR_STORE);
    ENSURE(pc_ct_eq(blob, key, 32), PARLEY_ERR_UNTRUSTED_IDENTITY);
    *known = 1;
    rc = PARLEY_OK;
out:
    parley_signal_store_blob_free(blob, len);
    return rc;
}

static int trust_save(parley_signal *s, const char *name, const uint8_t key[32])
{
    char k[STORE_KEY_LEN];
    s->trust_epoch++;
    int rc = name_key(k, name);
    if (rc != PARLEY_OK)
        return rc;
    return parley_signal_store_put(s->store, PARLEY_STORE_TRUST, k, key, 32);
}

int parley_signal_trust(parley_signal *s, const char *name, const uint8_t key[PARLEY_PUBKEY_LEN])
{
    int rc;
    uint8_t pub[32];
    PARLEY_MISUSE(s != NULL && name != NULL && key != NULL);
    GUARD(parley_key_decode(pub, key, PARLEY_PUBKEY_LEN));
    GUARD(trust_save(s, name, pub));
    rc = PARLEY_OK;
out:
    return rc;
}

/* ---- session cache over the store ---- */

static int session_store_key(char out[STORE_KEY_LEN + 16], const char *name, uint32_t device)
{
    char k[STORE_KEY_LEN];
    int rc = name_key(k, name);
    if (rc != PARLEY_OK)
        return rc;
    snprintf(out, STORE_KEY_LEN + 16, "%s.%u", k, (unsigned)device);
    return PARLEY_OK;
}

/* The cached record for name/device, loaded from the store on first use
 * (an empty record when the store has none). */
static int session_get(parley_signal *s, const char *name, uint32_t device, struct sess_entry **out)
{
    int rc;
    char key[STORE_KEY_LEN + 16];
    uint8_t *blob = NULL;
    size_t len = 0;
    struct sess_entry *e = NULL;
    for (struct sess_entry **pp = &s->sessions; *pp != NULL; pp = &(*pp)->next) {
        struct sess_entry *c = *pp;
        if (c->device == device && strcmp(c->name, name) == 0) {
            /* Move to front: the active conversation is found first. */
            *pp = c->next;
            c->next = s->sessions;
            s->sessions = c;
            *out = c;
            return PARLEY_OK;
        }
    }
    GUARD(session_store_key(key, name, device));
    e = calloc(1, sizeof *e);
    ENSURE(e != NULL, PARLEY_ERR_NOMEM);
    e->name = strdup(name);
    ENSURE(e->name != NULL, PARLEY_ERR_NOMEM);
    e->device = device;
    memcpy(e->key, key, sizeof key);
    sig_record_init(&e->rec);
    rc = parley_signal_store_get(s->store, PARLEY_STORE_SESSION, key, &blob, &len);
    if (rc == PARLEY_OK)
        ENSURE(sig_record_load(&e->rec, blob, len) == PARLEY_OK, PARLEY_ERR_STORE);
    else if (rc != PARLEY_ERR_NOT_FOUND)
        GUARD(rc);
    e->next = s->sessions;
    s->sessions = e;
    *out = e;
    e = NULL;
    rc = PARLEY_OK;
out:
    parley_signal_store_blob_free(blob, len);
    if (e != NULL)
        sess_entry_free(e);
    return rc;
}

/* Drop a cached record (after a failed save), so the next use reloads
 * what the store holds. */
static void session_forget(parley_signal *s, struct sess_entry *e)
{
    for (struct sess_entry **pp = &s->sessions; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            sess_entry_free(e);
            return;
        }
    }
}

static int session_save(parley_signal *s, struct sess_entry *e)
{
    int rc;
    GUARD(sig_record_serialize_into(&e->rec, &s->scratch_rec));
    GUARD(parley_signal_store_put(s->store, PARLEY_STORE_SESSION, e->key, s->scratch_rec.data,
                                  s->scratch_rec.len));
    rc = PARLEY_OK;
out:
    /* Wipe what this record used, not the whole (possibly large) buffer. */
    if (s->scratch_rec.data != NULL)
        pc_wipe(s->scratch_rec.data, s->scratch_rec.len);
    s->scratch_rec.len = 0;
    if (rc != PARLEY_OK)
        session_forget(s, e);
    return rc;
}

int parley_signal_has_session(parley_signal *s, const char *name, uint32_t device)
{
    struct sess_entry *e;
    int rc = session_get(s, name, device, &e);
    if (rc != PARLEY_OK)
        return rc;
    return e->rec.current != NULL;
}

/* ---- session building: X3DH as initiator ---- */

int parley_signal_start(parley_signal *s, const char *name, uint32_t device,
                        const parley_prekey_bundle *b)
{
    int rc;
    uint8_t their_identity[32], their_spk[32], their_opk[32], base_pub[32], base_priv[32];
    int known = 0;
    sig_state *st = NULL;
    struct sess_entry *e;
    PARLEY_MISUSE(s != NULL && name != NULL && b != NULL);

    GUARD(parley_key_decode(their_identity, b->identity_key, PARLEY_PUBKEY_LEN));
    GUARD(parley_key_decode(their_spk, b->signed_prekey, PARLEY_PUBKEY_LEN));
    if (b->has_prekey)
        GUARD(parley_key_decode(their_opk, b->prekey, PARLEY_PUBKEY_LEN));
    GUARD(trust_check(s, name, their_identity, &known));
    ENSURE(parley_xeddsa_verify(their_identity, b->signed_prekey, PARLEY_PUBKEY_LEN,
                                b->signed_prekey_signature) == PARLEY_OK,
           PARLEY_ERR_INVALID_SIGNATURE);
    GUARD(session_get(s, name, device, &e));

    GUARD(pc_x25519_keygen(base_pub, base_priv));
    st = sig_state_new();
    ENSURE(st != NULL, PARLEY_ERR_NOMEM);
    sig_alice_params ap = {
        .our_identity_priv = s->identity_priv,
        .our_identity_pub = s->identity_pub,
        .our_base_priv = base_priv,
        .our_base_pub = base_pub,
        .their_identity = their_identity,
        .their_signed_prekey = their_spk,
        .their_one_time = b->has_prekey ? their_opk : NULL,
        .their_ratchet = their_spk,
    };
    GUARD(sig_ratchet_init_alice(st, &ap));
    /* Until the responder answers, every message carries the X3DH header
     * (session_state's "unacknowledged prekey message"). */
    st->pending = 1;
    st->pending_has_prekey = b->has_prekey ? 1 : 0;
    st->pending_prekey_id = b->has_prekey ? b->prekey_id : 0;
    st->pending_signed_prekey_id = b->signed_prekey_id;
    memcpy(st->pending_base, base_pub, 32);
    st->local_registration_id = s->registration_id;
    st->remote_registration_id = b->registration_id;
    memcpy(st->alice_base, base_pub, 32);

    sig_record_archive_current(&e->rec);
    e->rec.current = st;
    st = NULL;
    GUARD(session_save(s, e));
    if (!known)
        GUARD(trust_save(s, name, their_identity));
    rc = PARLEY_OK;
out:
    sig_state_free(st);
    pc_wipe(base_priv, sizeof base_priv);
    return rc;
}

/* ---- the cipher ---- */

static int scratch_reserve(pbuf *b, size_t n)
{
    b->len = 0;
    return pbuf_reserve(b, n);
}

int parley_signal_encrypt(parley_signal *s, const char *name, uint32_t device, const uint8_t *in,
                          size_t n, uint8_t *out, size_t out_max, size_t *out_len, int *type)
{
    int rc;
    uint8_t seed[32], next[32];
    sig_msg_keys mk;
    size_t ct_len = 0, msg_len = 0;
    int known;
    struct sess_entry *e;
    sig_state *st;
    PARLEY_MISUSE(s != NULL && name != NULL && (in != NULL || n == 0) && out != NULL &&
                  out_len != NULL && type != NULL);
    ENSURE(n <= PARLEY_SIGNAL_MAX_PLAINTEXT, PARLEY_ERR_INVALID_ARG);
    GUARD(session_get(s, name, device, &e));
    st = e->rec.current;
    ENSURE(st != NULL, PARLEY_ERR_NO_SESSION);
    if (e->trusted_epoch != s->trust_epoch ||
        memcmp(e->trusted_identity, st->remote_identity, 32) != 0) {
        GUARD(trust_check(s, name, st->remote_identity, &known));
        memcpy(e->trusted_identity, st->remote_identity, 32);
        e->trusted_epoch = s->trust_epoch;
    }

    GUARD(sig_chain_step(seed, next, st->send_key));
    GUARD(sig_message_keys(&mk, seed));
    if (!st->pending) {
        GUARD(sig_signal_msg_seal(out, out_max, out_len, &mk, st->send_pub, st->send_index,
                                  st->previous_counter, in, n, st->local_identity,
                                  st->remote_identity));
        *type = PARLEY_MSG_SIGNAL;
    } else {
        ct_len = n + (PC_AES_BLOCK - n % PC_AES_BLOCK);
        GUARD(scratch_reserve(&s->scratch_msg, ct_len + 128));
        GUARD(sig_signal_msg_seal(s->scratch_msg.data, ct_len + 128, &msg_len, &mk, st->send_pub,
                                  st->send_index, st->previous_counter, in, n,
                                  st->local_identity, st->remote_identity));
        sig_prekey_msg pk;
        memset(&pk, 0, offsetof(sig_prekey_msg, arena_));
        pk.registration_id = st->local_registration_id;
        pk.has_prekey_id = st->pending_has_prekey;
        pk.prekey_id = st->pending_prekey_id;
        pk.signed_prekey_id = st->pending_signed_prekey_id;
        memcpy(pk.base_key, st->pending_base, 32);
        memcpy(pk.identity_key, st->local_identity, 32);
        pk.message = s->scratch_msg.data;
        pk.message_len = msg_len;
        GUARD(sig_prekey_msg_encode(out, out_max, out_len, &pk));
        *type = PARLEY_MSG_PREKEY;
    }

    /* Advance the chain and make it durable before the ciphertext leaves:
     * a crash must never hand out this message key twice. */
    memcpy(st->send_key, next, 32);
    st->send_index++;
    rc = session_save(s, e);
    if (rc != PARLEY_OK) {
        /* e has been dropped from the cache; the store keeps the old
         * record. */
        pc_wipe(out, out_max < *out_len ? out_max : *out_len);
        *out_len = 0;
    }
out:
    pc_wipe(seed, sizeof seed);
    pc_wipe(next, sizeof next);
    pc_wipe(&mk, sizeof mk);
    return rc;
}

/* What a successful decrypt does to a state, computed without doing it. */
typedef struct {
    int step;             /* a DH ratchet step: new receiving chain */
    uint8_t root[32];     /* root after both halves of the step */
    uint8_t recv_key[32]; /* chain key of the new receiving chain, index 0 */
    uint8_t send_pub[32], send_priv[32], send_key[32];
    int chain;             /* index of the receiving chain used, if !step */
    int skipped;           /* index of the skipped key used, or -1 */
    uint32_t from_index;   /* first index of the chain advance */
    uint8_t from_key[32];  /* chain key at from_index */
    uint8_t final_key[32]; /* chain key after the message */
} sig_plan;

static int find_chain(const sig_state *st, const uint8_t ratchet[32])
{
    for (uint32_t i = 0; i < st->n_recv; i++)
        if (memcmp(st->recv[i].ratchet, ratchet, 32) == 0)
            return (int)i;
    return -1;
}

static int find_skipped(const sig_state *st, const uint8_t ratchet[32], uint32_t counter)
{
    for (uint32_t i = 0; i < st->n_skipped; i++)
        if (st->skipped[i].counter == counter && memcmp(st->skipped[i].ratchet, ratchet, 32) == 0)
            return (int)i;
    return -1;
}

/* Decrypt m with st without changing st; on success fill plan and the
 * plaintext (session_cipher.c: decrypt_from_state). */
static int try_decrypt(const sig_state *st, const sig_signal_msg *m, uint8_t *out, size_t out_max,
                       size_t *out_len, sig_plan *plan)
{
    int rc;
    uint8_t ck[32], seed[32], root2[32];
    uint32_t index;
    sig_msg_keys mk;
    memset(plan, 0, sizeof *plan);
    plan->skipped = -1;
    ENSURE(m->version == st->version, PARLEY_ERR_INVALID_MESSAGE);

    plan->chain = find_chain(st, m->ratchet);
    if (plan->chain < 0) {
        /* Keys skipped on a chain that has since been dropped from the
         * receiving chains are still kept: use one if it is there. */
        plan->skipped = find_skipped(st, m->ratchet, m->counter);
        if (plan->skipped >= 0) {
            memcpy(seed, st->skipped[plan->skipped].seed, 32);
            goto keys;
        }
    }
    if (plan->chain >= 0) {
        memcpy(ck, st->recv[plan->chain].key, 32);
        index = st->recv[plan->chain].index;
    } else {
        /* DH ratchet step (Double Ratchet, 3.5): a receiving chain from
         * their new key with our current one, then a new sending key. */
        plan->step = 1;
        GUARD(sig_root_step(root2, ck, st->root, m->ratchet, st->send_priv));
        GUARD(pc_x25519_keygen(plan->send_pub, plan->send_priv));
        GUARD(sig_root_step(plan->root, plan->send_key, root2, m->ratchet, plan->send_priv));
        memcpy(plan->recv_key, ck, 32);
        index = 0;
    }

    if (m->counter < index) {
        /* An old message: only a kept skipped key can open it. */
        plan->skipped = find_skipped(st, m->ratchet, m->counter);
        ENSURE(plan->skipped >= 0, PARLEY_ERR_DUPLICATE);
        memcpy(seed, st->skipped[plan->skipped].seed, 32);
    } else {
        ENSURE(m->counter - index <= SIG_MAX_FORWARD_JUMP, PARLEY_ERR_TOO_FAR_AHEAD);
        plan->from_index = index;
        memcpy(plan->from_key, ck, 32);
        for (uint32_t i = index; i < m->counter; i++)
            GUARD(sig_chain_next(ck, ck));
        GUARD(sig_chain_step(seed, plan->final_key, ck));
    }
keys:
    GUARD(sig_message_keys(&mk, seed));
    GUARD(sig_signal_msg_open(m, &mk, st->remote_identity, st->local_identity, out, out_max,
                              out_len));
    rc = PARLEY_OK;
out:
    pc_wipe(ck, sizeof ck);
    pc_wipe(seed, sizeof seed);
    pc_wipe(root2, sizeof root2);
    pc_wipe(&mk, sizeof mk);
    return rc;
}

/* Apply a plan from try_decrypt (session_cipher.c: the state changes of
 * get_or_create_chain_key and get_or_create_message_keys). */
static int commit(sig_state *st, const sig_signal_msg *m, const sig_plan *plan)
{
    int rc;
    uint8_t ck[32], seed[32];
    sig_chain *chain;
    /* The only allocation comes first, before anything changes. */
    if (plan->skipped < 0)
        GUARD(sig_state_reserve_skipped(st, m->counter - plan->from_index));
    if (plan->step) {
        /* Newest first; the oldest of SIG_MAX_RECEIVER_CHAINS is dropped. */
        uint32_t keep =
            st->n_recv < SIG_MAX_RECEIVER_CHAINS ? st->n_recv : SIG_MAX_RECEIVER_CHAINS - 1;
        if (st->n_recv > keep)
            pc_wipe(&st->recv[keep], sizeof(sig_chain));
        memmove(&st->recv[1], &st->recv[0], keep * sizeof(sig_chain));
        st->n_recv = keep + 1;
        memcpy(st->recv[0].ratchet, m->ratchet, 32);
        memcpy(st->recv[0].key, plan->recv_key, 32);
        st->recv[0].index = 0;
        st->previous_counter = st->send_index > 0 ? st->send_index - 1 : 0;
        memcpy(st->send_pub, plan->send_pub, 32);
        memcpy(st->send_priv, plan->send_priv, 32);
        memcpy(st->send_key, plan->send_key, 32);
        st->send_index = 0;
        memcpy(st->root, plan->root, 32);
        chain = &st->recv[0];
    } else {
        chain = plan->chain >= 0 ? &st->recv[plan->chain] : NULL;
    }
    if (plan->skipped >= 0) {
        uint32_t i = (uint32_t)plan->skipped;
        pc_wipe(&st->skipped[i], sizeof(sig_skipped));
        memmove(&st->skipped[i], &st->skipped[i + 1],
                (st->n_skipped - i - 1) * sizeof(sig_skipped));
        st->n_skipped--;
    } else if (chain != NULL) {
        /* Keep the keys of the messages jumped over, for late arrivals. */
        memcpy(ck, plan->from_key, 32);
        for (uint32_t i = plan->from_index; i < m->counter; i++) {
            GUARD(sig_chain_step(seed, ck, ck));
            GUARD(sig_state_add_skipped(st, m->ratchet, i, seed));
        }
        memcpy(chain->key, plan->final_key, 32);
        chain->index = m->counter + 1;
    }
    /* The responder has answered: stop sending the X3DH header. */
    st->pending = 0;
    rc = PARLEY_OK;
out:
    pc_wipe(ck, sizeof ck);
    pc_wipe(seed, sizeof seed);
    return rc;
}

static int retry_worthy(int rc)
{
    return rc == PARLEY_ERR_INVALID_MAC || rc == PARLEY_ERR_INVALID_MESSAGE;
}

/*
 * Decrypt a SignalMessage against a record: the current state first, then
 * the archived ones, newest first; an archived state that opens the
 * message becomes current (session_cipher.c:
 * decrypt_from_record_and_signal_message). A duplicate or a jump too far
 * ahead ends the search at once, as there.
 */
static int decrypt_record(sig_record *rec, const sig_signal_msg *m, uint8_t *out, size_t out_max,
                          size_t *out_len)
{
    int rc, saw_mac = 0;
    sig_plan plan;
    ENSURE(rec->current != NULL || rec->n_previous > 0, PARLEY_ERR_NO_SESSION);
    if (rec->current != NULL) {
        rc = try_decrypt(rec->current, m, out, out_max, out_len, &plan);
        if (rc == PARLEY_OK) {
            GUARD(commit(rec->current, m, &plan));
            goto out;
        }
        if (!retry_worthy(rc))
            goto out;
        saw_mac |= rc == PARLEY_ERR_INVALID_MAC;
    }
    for (uint32_t i = 0; i < rec->n_previous; i++) {
        rc = try_decrypt(rec->previous[i], m, out, out_max, out_len, &plan);
        if (rc == PARLEY_OK) {
            GUARD(commit(rec->previous[i], m, &plan));
            sig_record_promote(rec, i);
            goto out;
        }
        if (!retry_worthy(rc))
            goto out;
        saw_mac |= rc == PARLEY_ERR_INVALID_MAC;
    }
    rc = saw_mac ? PARLEY_ERR_INVALID_MAC : PARLEY_ERR_INVALID_MESSAGE;
out:
    pc_wipe(&plan, sizeof plan);
    return rc;
}

static int decrypt_signal(parley_signal *s, const char *name, uint32_t device, const uint8_t *in,
                          size_t n, uint8_t *out, size_t out_max, size_t *out_len)
{
    int rc;
    sig_signal_msg m;
    struct sess_entry *e;
    int decoded = 0;
    /* Parse first, as libsignal's callers do: a malformed message is
     * invalid whether or not a session exists. */
    GUARD(sig_signal_msg_decode(&m, in, n));
    decoded = 1;
    GUARD(session_get(s, name, device, &e));
    ENSURE(e->rec.current != NULL || e->rec.n_previous > 0, PARLEY_ERR_NO_SESSION);
    GUARD(decrypt_record(&e->rec, &m, out, out_max, out_len));
    rc = session_save(s, e);
    if (rc != PARLEY_OK)
        pc_wipe(out, *out_len);
out:
    if (decoded)
        sig_signal_msg_free(&m);
    return rc;
}

/* Does any state of rec come from the X3DH with this base key? Then the
 * prekey message is one more of an exchange already set up
 * (session_record_has_session_state). */
static int record_has_base(const sig_record *rec, const uint8_t base[32])
{
    if (rec->current != NULL && rec->current->version == PARLEY_SIGNAL_VERSION &&
        memcmp(rec->current->alice_base, base, 32) == 0)
        return 1;
    for (uint32_t i = 0; i < rec->n_previous; i++)
        if (rec->previous[i]->version == PARLEY_SIGNAL_VERSION &&
            memcmp(rec->previous[i]->alice_base, base, 32) == 0)
            return 1;
    return 0;
}

static int decrypt_prekey(parley_signal *s, const char *name, uint32_t device, const uint8_t *in,
                          size_t n, uint8_t *out, size_t out_max, size_t *out_len)
{
    int rc;
    sig_prekey_msg pk;
    sig_signal_msg m;
    int pk_decoded = 0, m_decoded = 0, known = 0;
    struct sess_entry *e;
    sig_state *st = NULL;
    sig_plan plan;
    uint8_t spk_pub[32], spk_priv[32], spk_sig[64], opk_priv[32];
    memset(&plan, 0, sizeof plan);

    GUARD(sig_prekey_msg_decode(&pk, in, n));
    pk_decoded = 1;
    GUARD(sig_signal_msg_decode(&m, pk.message, pk.message_len));
    m_decoded = 1;
    ENSURE(m.version == pk.version, PARLEY_ERR_INVALID_MESSAGE);
    GUARD(trust_check(s, name, pk.identity_key, &known));
    GUARD(session_get(s, name, device, &e));

    if (record_has_base(&e->rec, pk.base_key)) {
        /* A further prekey message of a session we already built. */
        GUARD(decrypt_record(&e->rec, &m, out, out_max, out_len));
    } else {
        /* X3DH as responder (session_builder.c: process_pre_key_signal_message_v3). */
        GUARD(load_signed_prekey(s, pk.signed_prekey_id, spk_pub, spk_priv, spk_sig));
        if (pk.has_prekey_id)
            GUARD(load_prekey(s, pk.prekey_id, opk_priv));
        st = sig_state_new();
        ENSURE(st != NULL, PARLEY_ERR_NOMEM);
        sig_bob_params bp = {
            .our_identity_priv = s->identity_priv,
            .our_identity_pub = s->identity_pub,
            .our_signed_priv = spk_priv,
            .our_signed_pub = spk_pub,
            .our_one_time_priv = pk.has_prekey_id ? opk_priv : NULL,
            .our_ratchet_priv = spk_priv,
            .our_ratchet_pub = spk_pub,
            .their_identity = pk.identity_key,
            .their_base = pk.base_key,
        };
        GUARD(sig_ratchet_init_bob(st, &bp));
        st->local_registration_id = s->registration_id;
        st->remote_registration_id = pk.registration_id;
        memcpy(st->alice_base, pk.base_key, 32);
        GUARD(try_decrypt(st, &m, out, out_max, out_len, &plan));
        GUARD(commit(st, &m, &plan));
        sig_record_archive_current(&e->rec);
        e->rec.current = st;
        st = NULL;
    }
    rc = session_save(s, e);
    if (rc != PARLEY_OK) {
        pc_wipe(out, *out_len);
        goto out;
    }
    if (!known)
        GUARD(trust_save(s, name, pk.identity_key));
    /* A one-time prekey serves one session only. */
    if (pk.has_prekey_id) {
        char key[16];
        id_key(key, pk.prekey_id);
        GUARD(parley_signal_store_del(s->store, PARLEY_STORE_PREKEY, key));
    }
    rc = PARLEY_OK;
out:
    if (m_decoded)
        sig_signal_msg_free(&m);
    if (pk_decoded)
        sig_prekey_msg_free(&pk);
    sig_state_free(st);
    pc_wipe(spk_priv, sizeof spk_priv);
    pc_wipe(opk_priv, sizeof opk_priv);
    pc_wipe(&plan, sizeof plan);
    return rc;
}

int parley_signal_decrypt(parley_signal *s, const char *name, uint32_t device, int type,
                          const uint8_t *in, size_t n, uint8_t *out, size_t out_max,
                          size_t *out_len)
{
    PARLEY_MISUSE(s != NULL && name != NULL && (in != NULL || n == 0) && out != NULL &&
                  out_len != NULL);
    *out_len = 0;
    if (n > PARLEY_SIGNAL_MAX_MESSAGE)
        return PARLEY_ERR_INVALID_MESSAGE;
    if (type == PARLEY_MSG_SIGNAL)
        return decrypt_signal(s, name, device, in, n, out, out_max, out_len);
    if (type == PARLEY_MSG_PREKEY)
        return decrypt_prekey(s, name, device, in, n, out, out_max, out_len);
    return PARLEY_ERR_INVALID_ARG;
}

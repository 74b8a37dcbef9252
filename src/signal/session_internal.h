/*
 * Internal types of the 1:1 session core: wire limits, the ratchet state of
 * one session, the record (current state plus archived ones), and the
 * functions shared between keys.c, ratchet.c, wire.c, record.c, session.c
 * and the stores. Every bound the code enforces is named here.
 */
#ifndef PARLEY_SIGNAL_SESSION_INTERNAL_H
#define PARLEY_SIGNAL_SESSION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "parley/signal.h"
#include "util/buf.h"

/* Limits, as libsignal-protocol-c sets them. */
enum {
    SIG_MAX_RECEIVER_CHAINS = 5,  /* session_state.c: MAX_RECEIVER_CHAINS */
    SIG_MAX_SKIPPED_KEYS = 2000,  /* session_state.c: MAX_MESSAGE_KEYS (we bound per state) */
    SIG_MAX_FORWARD_JUMP = 2000,  /* session_cipher.c: counter - index > 2000 refused */
    SIG_MAX_ARCHIVED_STATES = 40, /* session_record.c: ARCHIVED_STATES_MAX_LENGTH */
    SIG_MAC_LEN = 8,              /* protocol.c: MAC_LENGTH */
    SIG_KEY_LEN = 32,
    SIG_WIRE_VERSION_BYTE = (PARLEY_SIGNAL_VERSION << 4) | PARLEY_SIGNAL_VERSION,
    SIG_RECORD_FORMAT = 1, /* version of our own record serialization */
    /* 41 states with 2000 skipped keys each fit: about 5.7 MB. */
    SIG_RECORD_MAX = 8u * 1024u * 1024u,
};

/* Message keys derived from one chain step (ratchet.c). */
typedef struct {
    uint8_t cipher_key[32];
    uint8_t mac_key[32];
    uint8_t iv[16];
} sig_msg_keys;

typedef struct {
    uint8_t ratchet[32]; /* their ratchet public key */
    uint8_t key[32];     /* chain key at index */
    uint32_t index;
} sig_chain;

/* A skipped message key, kept as its 32-byte seed (HMAC(ck, 0x01)) from
 * which the 80 bytes of keys are derived again on use. */
typedef struct {
    uint8_t ratchet[32];
    uint32_t counter;
    uint8_t seed[32];
} sig_skipped;

typedef struct sig_state {
    uint8_t version; /* PARLEY_SIGNAL_VERSION */
    uint8_t local_identity[32];
    uint8_t remote_identity[32];
    uint8_t root[32];
    uint32_t previous_counter;
    /* sending chain */
    uint8_t send_pub[32];
    uint8_t send_priv[32];
    uint8_t send_key[32];
    uint32_t send_index;
    /* receiving chains, newest first */
    uint32_t n_recv;
    sig_chain recv[SIG_MAX_RECEIVER_CHAINS];
    /* unacknowledged prekey message (initiator until the first reply) */
    uint8_t pending;
    uint8_t pending_has_prekey;
    uint32_t pending_prekey_id;
    uint32_t pending_signed_prekey_id;
    uint8_t pending_base[32];
    uint32_t remote_registration_id;
    uint32_t local_registration_id;
    uint8_t alice_base[32];
    /* skipped message keys, oldest first; heap, at most SIG_MAX_SKIPPED_KEYS */
    uint32_t n_skipped;
    uint32_t cap_skipped;
    sig_skipped *skipped;
} sig_state;

typedef struct {
    sig_state *current; /* NULL: a fresh record */
    uint32_t n_previous;
    sig_state *previous[SIG_MAX_ARCHIVED_STATES]; /* newest first */
} sig_record;

/* ---- ratchet.c ---- */
/* HMAC(ck, 0x01) → seed; HMAC(ck, 0x02) → next chain key. */
PARLEY_MUST_CHECK int sig_chain_seed(uint8_t seed[32], const uint8_t ck[32]);
PARLEY_MUST_CHECK int sig_chain_next(uint8_t next[32], const uint8_t ck[32]);
/* Both at once, absorbing ck into the HMAC state only once. */
PARLEY_MUST_CHECK int sig_chain_step(uint8_t seed[32], uint8_t next[32], const uint8_t ck[32]);
/* HKDF(seed, salt zeros, "WhisperMessageKeys", 80). */
PARLEY_MUST_CHECK int sig_message_keys(sig_msg_keys *mk, const uint8_t seed[32]);
/* DH(their, our_priv); HKDF(salt root, "WhisperRatchet", 64) → root, chain. */
PARLEY_MUST_CHECK int sig_root_step(uint8_t new_root[32], uint8_t chain[32], const uint8_t root[32],
                                    const uint8_t their[32], const uint8_t our_priv[32]);
/* HKDF(0xFF*32 || dh..., salt zeros, "WhisperText", 64) → root, chain. */
PARLEY_MUST_CHECK int sig_x3dh_derive(uint8_t root[32], uint8_t chain[32], const uint8_t *dhs,
                                      size_t n_dh);

typedef struct {
    const uint8_t *our_identity_priv, *our_identity_pub; /* 32 each */
    const uint8_t *our_base_priv, *our_base_pub;
    const uint8_t *their_identity, *their_signed_prekey;
    const uint8_t *their_one_time; /* NULL if none */
    const uint8_t *their_ratchet;  /* their signed prekey in X3DH */
} sig_alice_params;

typedef struct {
    const uint8_t *our_identity_priv, *our_identity_pub;
    const uint8_t *our_signed_priv, *our_signed_pub;
    const uint8_t *our_one_time_priv; /* NULL if none */
    const uint8_t *our_ratchet_priv, *our_ratchet_pub;
    const uint8_t *their_identity, *their_base;
} sig_bob_params;

/* Fill st (already zeroed by the caller) as libsignal's
 * ratcheting_session_alice_initialize / _bob_initialize do. */
PARLEY_MUST_CHECK int sig_ratchet_init_alice(sig_state *st, const sig_alice_params *p);
PARLEY_MUST_CHECK int sig_ratchet_init_bob(sig_state *st, const sig_bob_params *p);

/* ---- wire.c ---- */
/* Small decodes come out of an arena inside the message struct, so a
 * steady-state decrypt does not touch the heap; larger ones fall back to
 * malloc. */
typedef struct {
    _Alignas(16) uint8_t buf[1024];
    size_t used;
} sig_arena;

typedef struct {
    uint8_t version;
    uint8_t ratchet[32];
    uint32_t counter;
    uint32_t previous_counter;
    const uint8_t *ciphertext; /* borrowed from the serialized input */
    size_t ciphertext_len;
    const uint8_t *serialized; /* whole input: version || protobuf || mac */
    size_t serialized_len;
    void *pb_;
    sig_arena arena_;
} sig_signal_msg;

typedef struct {
    uint8_t version;
    uint32_t registration_id;
    int has_prekey_id;
    uint32_t prekey_id;
    uint32_t signed_prekey_id;
    uint8_t base_key[32];
    uint8_t identity_key[32];
    const uint8_t *message; /* the embedded SignalMessage */
    size_t message_len;
    void *pb_;
    sig_arena arena_;
} sig_prekey_msg;

/* Decoders: PARLEY_ERR_LEGACY_VERSION for a version below 3,
 * PARLEY_ERR_INVALID_MESSAGE for anything else malformed (including a
 * version above 3). serialized points into in; the other pointers into
 * the decoded message, valid until the matching _free. On failure nothing
 * needs freeing. */
PARLEY_MUST_CHECK int sig_signal_msg_decode(sig_signal_msg *m, const uint8_t *in, size_t n);
void sig_signal_msg_free(sig_signal_msg *m);
PARLEY_MUST_CHECK int sig_prekey_msg_decode(sig_prekey_msg *m, const uint8_t *in, size_t n);
void sig_prekey_msg_free(sig_prekey_msg *m);
/* Serialize version || protobuf || MAC into out (out_max bytes). */
PARLEY_MUST_CHECK int sig_signal_msg_encode(uint8_t *out, size_t out_max, size_t *out_len,
                                            const uint8_t mac_key[32], const uint8_t ratchet[32],
                                            uint32_t counter, uint32_t previous_counter,
                                            const uint8_t *ct, size_t ct_len,
                                            const uint8_t sender_identity[32],
                                            const uint8_t receiver_identity[32]);
/* The same, encrypting pt (AES-256-CBC under mk) straight into out. */
PARLEY_MUST_CHECK int sig_signal_msg_seal(uint8_t *out, size_t out_max, size_t *out_len,
                                          const sig_msg_keys *mk, const uint8_t ratchet[32],
                                          uint32_t counter, uint32_t previous_counter,
                                          const uint8_t *pt, size_t pt_len,
                                          const uint8_t sender_identity[32],
                                          const uint8_t receiver_identity[32]);
/* Check the MAC (PARLEY_ERR_INVALID_MAC) and decrypt the ciphertext into
 * out (PARLEY_ERR_BUFFER when out_max < the ciphertext length,
 * PARLEY_ERR_INVALID_MESSAGE on bad padding); out holds nothing on
 * failure. */
PARLEY_MUST_CHECK int sig_signal_msg_open(const sig_signal_msg *m, const sig_msg_keys *mk,
                                          const uint8_t sender_identity[32],
                                          const uint8_t receiver_identity[32], uint8_t *out,
                                          size_t out_max, size_t *out_len);
PARLEY_MUST_CHECK int sig_prekey_msg_encode(uint8_t *out, size_t out_max, size_t *out_len,
                                            const sig_prekey_msg *m);
/* Constant-time check of the 8-byte MAC over sender || receiver || body. */
PARLEY_MUST_CHECK int sig_signal_msg_verify_mac(const sig_signal_msg *m, const uint8_t mac_key[32],
                                                const uint8_t sender_identity[32],
                                                const uint8_t receiver_identity[32]);

/* ---- record.c ---- */
sig_state *sig_state_new(void);
void sig_state_free(sig_state *st);
/* Make room for extra more skipped keys, so that adding them cannot fail
 * half-way through a commit. */
PARLEY_MUST_CHECK int sig_state_reserve_skipped(sig_state *st, uint32_t extra);
/* Append a skipped key; when SIG_MAX_SKIPPED_KEYS are kept, the oldest goes. */
PARLEY_MUST_CHECK int sig_state_add_skipped(sig_state *st, const uint8_t ratchet[32],
                                            uint32_t counter, const uint8_t seed[32]);
void sig_record_init(sig_record *r);
void sig_record_clear(sig_record *r);
/* Move the current state to the front of the archive (dropping the oldest
 * beyond SIG_MAX_ARCHIVED_STATES); the record becomes fresh. */
void sig_record_archive_current(sig_record *r);
/* Make previous[i] current, archiving the old current. */
void sig_record_promote(sig_record *r, uint32_t i);
/* Serialized form (docs/signal.md, "Session record"). */
PARLEY_MUST_CHECK int sig_record_serialize(const sig_record *r, uint8_t **out, size_t *out_len);
/* The same into b (emptied first, not wiped: the caller wipes what it
 * used; its maximum should be SIG_RECORD_MAX), so a caller that saves
 * after every message reuses one buffer. */
PARLEY_MUST_CHECK int sig_record_serialize_into(const sig_record *r, pbuf *b);
PARLEY_MUST_CHECK int sig_record_load(sig_record *r, const uint8_t *in, size_t n);

#endif

/*
 * Sender-key state shared by the files that implement include/parley/group.h:
 *   sender_key.c        chain and message keys, states, records, the store
 *   sender_key_wire.c   SenderKeyMessage and SenderKeyDistributionMessage
 *   sender_key_store.c  serializing and loading a whole store
 *   group_cipher.c      create / process / encrypt / decrypt
 * Layout and rules follow libsignal's rust/protocol/src/sender_keys.rs.
 */
#ifndef PARLEY_SIGNAL_SENDER_KEY_INTERNAL_H
#define PARLEY_SIGNAL_SENDER_KEY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "parley/group.h"
#include "signal/xeddsa_internal.h"

/* SENDERKEY_MESSAGE_CURRENT_VERSION: the high nibble of the version byte,
 * repeated in the low nibble, so the byte is 0x33. */
#define SK_VERSION            3
#define SK_VERSION_BYTE       ((SK_VERSION << 4) | SK_VERSION)
#define SK_KEY_LEN            32
#define SK_SERIALIZED_KEY_LEN 33 /* 0x05 || 32 */
#define SK_KEY_TYPE_DJB       0x05
#define SK_SIG_LEN            64
#define SK_IV_LEN             16
#define SK_DIST_LEN           PARLEY_GROUP_DISTRIBUTION_ID_LEN

typedef struct {
    uint32_t iteration;
    uint8_t seed[SK_KEY_LEN];
} sk_message_key;

typedef struct {
    uint32_t version;
    uint32_t chain_id;
    uint32_t iteration; /* of chain_key: the next message key to use or expect */
    uint8_t chain_key[SK_KEY_LEN];
    uint8_t sig_pub[SK_KEY_LEN];
    uint8_t sig_priv[SK_KEY_LEN];
    int has_priv;
    /* Skipped message keys, oldest first; at most PARLEY_GROUP_MAX_MESSAGE_KEYS
     * (the array is allocated at that size on first use). */
    sk_message_key *keys;
    size_t nkeys;
    /* Built on first use and never stored, so that a chain pays for the
     * per-key half of XEdDSA verification (the Edwards form of its signing
     * key and a table of multiples) once rather than per message. Heap
     * (about 5 KiB); moves with the state, freed by sk_state_clear. */
    xeddsa_verify_key *verifier;
    xeddsa_signing_key signer;
    int has_signer;
} sk_state;

typedef struct {
    char name[PARLEY_GROUP_NAME_MAX + 1];
    uint32_t device;
    uint8_t dist[SK_DIST_LEN];
    /* states[0] is the newest: the one we encrypt with, when it is ours. */
    sk_state states[PARLEY_GROUP_MAX_STATES];
    size_t nstates;
} sk_record;

struct parley_group_store {
    sk_record **records;
    size_t n, cap;
};

/* --- sender_key.c --- */

/* Message key seed = HMAC-SHA256(chain key, 0x01); next chain key =
 * HMAC-SHA256(chain key, 0x02). */
PARLEY_MUST_CHECK int sk_chain_message_seed(uint8_t seed[SK_KEY_LEN], const uint8_t ck[SK_KEY_LEN]);
PARLEY_MUST_CHECK int sk_chain_next(uint8_t next[SK_KEY_LEN], const uint8_t ck[SK_KEY_LEN]);
/* HKDF-SHA256(salt none, seed, "WhisperGroup", 48) -> IV (16) || key (32). */
PARLEY_MUST_CHECK int sk_message_keys(uint8_t iv[SK_IV_LEN], uint8_t key[SK_KEY_LEN],
                                      const uint8_t seed[SK_KEY_LEN]);

void sk_state_clear(sk_state *st); /* wipes and frees the key array */
/* Move src into dst (dst must be clear); src is left clear. */
void sk_state_move(sk_state *dst, sk_state *src);
/* Append a skipped key, evicting the oldest beyond the limit. */
PARLEY_MUST_CHECK int sk_state_add_key(sk_state *st, uint32_t iteration,
                                       const uint8_t seed[SK_KEY_LEN]);

sk_record *sk_store_find(const parley_group_store *s, const char *name, uint32_t device,
                         const uint8_t dist[SK_DIST_LEN]);
/* Find, or add an empty record (PARLEY_ERR_BUFFER when the store is full). */
PARLEY_MUST_CHECK int sk_store_get(parley_group_store *s, const char *name, uint32_t device,
                                   const uint8_t dist[SK_DIST_LEN], sk_record **out);
/* Drop a record that get just added but that ended up empty. */
void sk_store_drop_if_empty(parley_group_store *s, sk_record *r);

sk_state *sk_record_find_chain(sk_record *r, uint32_t chain_id);
/* libsignal's add_sender_key_state: keep an existing state of the same
 * chain id and signing key (so a repeated SKDM does not rewind the chain),
 * drop others of that chain id, evict the oldest beyond
 * PARLEY_GROUP_MAX_STATES, and put the state first. *st is consumed. */
void sk_record_add_state(sk_record *r, sk_state *st);

/* --- sender_key_wire.c --- */

typedef struct {
    uint8_t dist[SK_DIST_LEN];
    uint32_t chain_id;
    uint32_t iteration;
    uint8_t chain_key[SK_KEY_LEN];
    uint8_t sig_pub[SK_KEY_LEN];
} sk_skdm;

typedef struct {
    uint32_t version;
    uint8_t dist[SK_DIST_LEN];
    uint32_t chain_id;
    uint32_t iteration;
    const uint8_t *ciphertext; /* borrowed from an owned unpacked message */
    size_t ciphertext_len;
    const uint8_t *signed_part; /* version byte || protobuf, borrowed from the input */
    size_t signed_len;
    const uint8_t *signature; /* SK_SIG_LEN bytes, borrowed from the input */
    void *owned;              /* the unpacked protobuf; free with sk_skm_free */
} sk_skm;

PARLEY_MUST_CHECK int sk_skdm_encode(const sk_skdm *m, uint8_t *out, size_t out_max,
                                     size_t *out_len);
PARLEY_MUST_CHECK int sk_skdm_decode(sk_skdm *m, const uint8_t *in, size_t len);
/* Build and sign a SenderKeyMessage. */
PARLEY_MUST_CHECK int sk_skm_encode(uint8_t *out, size_t out_max, size_t *out_len,
                                    const uint8_t dist[SK_DIST_LEN], uint32_t chain_id,
                                    uint32_t iteration, const uint8_t *ct, size_t ct_len,
                                    const xeddsa_signing_key *signer);
PARLEY_MUST_CHECK int sk_skm_decode(sk_skm *m, const uint8_t *in, size_t len);
void sk_skm_free(sk_skm *m);

#endif

/*
 * parley's Signal protocol core for 1:1 sessions: identity and prekeys,
 * X3DH session setup and the Double Ratchet, message version 3, wire- and
 * key-compatible with libsignal-protocol-c 2.3.3.
 *
 * A parley_signal is one local device: its identity key pair, registration
 * id and a store (parley_signal_store) that persists identity, prekeys,
 * signed prekeys, sessions (per peer name and device) and the identity
 * trusted for each peer name. Sessions are loaded from the store on first
 * use and cached; every change is written to the store before a ciphertext
 * or plaintext is handed back, so a crash never makes a message key be
 * used twice.
 *
 * Results: PARLEY_OK or a negative code from parley/result.h.
 * docs/signal.md describes the state kept and its limits.
 */
#ifndef PARLEY_SIGNAL_H
#define PARLEY_SIGNAL_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Serialized public key: type byte 0x05 then 32 bytes (Curve25519). */
#define PARLEY_KEY_TYPE_DJB  0x05
#define PARLEY_PUBKEY_LEN    33
#define PARLEY_SIGNATURE_LEN 64
/* Message version this library speaks (PQXDH would be version 4). */
#define PARLEY_SIGNAL_VERSION 3
/* Largest plaintext accepted by encrypt and produced by decrypt. */
#define PARLEY_SIGNAL_MAX_PLAINTEXT (256u * 1024u)
/* Largest serialized message (plaintext plus padding, keys, MAC). */
#define PARLEY_SIGNAL_MAX_MESSAGE (PARLEY_SIGNAL_MAX_PLAINTEXT + 256u)
/* Upper bound of the overhead encrypt adds to a plaintext. */
#define PARLEY_SIGNAL_OVERHEAD 256u

/* Serialize a 32-byte Curve25519 public key as 0x05 || key. */
void parley_key_encode(uint8_t out[PARLEY_PUBKEY_LEN], const uint8_t pub[32]);
/* Decode a serialized public key; PARLEY_ERR_INVALID_KEY for another type
 * byte or length. */
PARLEY_MUST_CHECK int parley_key_decode(uint8_t pub[32], const uint8_t *in, size_t len);

/* ---- stores -------------------------------------------------------------- */

/*
 * The store is a table of functions over opaque blobs, keyed by a kind and
 * a short printable key. parley serializes every record itself, so a store
 * only has to keep bytes. get fills *out (allocated with malloc, freed by
 * the caller with parley_signal_store_blob_free) or returns
 * PARLEY_ERR_NOT_FOUND; put replaces atomically; del of an absent key is
 * not an error.
 */
typedef enum {
    PARLEY_STORE_LOCAL = 0,     /* the local identity: one record, key "identity" */
    PARLEY_STORE_PREKEY,        /* one-time prekeys by decimal id */
    PARLEY_STORE_SIGNED_PREKEY, /* signed prekeys by decimal id */
    PARLEY_STORE_SESSION,       /* session records by "hex(name).device" */
    PARLEY_STORE_TRUST,         /* trusted identity by hex(name) */
    PARLEY_STORE_APP,           /* free for the application */
    PARLEY_STORE_KIND_COUNT
} parley_store_kind;

typedef struct parley_signal_store_ops {
    int (*get)(void *ctx, parley_store_kind kind, const char *key, uint8_t **out, size_t *out_len);
    int (*put)(void *ctx, parley_store_kind kind, const char *key, const uint8_t *data, size_t len);
    int (*del)(void *ctx, parley_store_kind kind, const char *key);
    void (*destroy)(void *ctx);
} parley_signal_store_ops;

typedef struct parley_signal_store parley_signal_store;

/* A store over caller-supplied functions; ctx is passed to each. */
PARLEY_MUST_CHECK int parley_signal_store_new(parley_signal_store **out,
                                              const parley_signal_store_ops *ops, void *ctx);
/* Everything in memory, gone on free. */
PARLEY_MUST_CHECK int parley_signal_store_new_memory(parley_signal_store **out);
/* One file per record under dir (created 0700 if absent); files are
 * written atomically (temporary file, fsync, rename, directory fsync) with
 * mode 0600. */
PARLEY_MUST_CHECK int parley_signal_store_open_dir(parley_signal_store **out, const char *dir);
void parley_signal_store_free(parley_signal_store *s);

PARLEY_MUST_CHECK int parley_signal_store_get(parley_signal_store *s, parley_store_kind kind,
                                              const char *key, uint8_t **out, size_t *out_len);
PARLEY_MUST_CHECK int parley_signal_store_put(parley_signal_store *s, parley_store_kind kind,
                                              const char *key, const uint8_t *data, size_t len);
PARLEY_MUST_CHECK int parley_signal_store_del(parley_signal_store *s, parley_store_kind kind,
                                              const char *key);
void parley_signal_store_blob_free(uint8_t *blob, size_t len);

/* ---- the local device ---------------------------------------------------- */

typedef struct parley_signal parley_signal;

/* A new identity (key pair and 14-bit registration id in 1..16380, as
 * libsignal's key helper draws it) saved to store; fails with
 * PARLEY_ERR_STATE if the store already holds one. The store is borrowed
 * and must outlive the parley_signal. */
PARLEY_MUST_CHECK int parley_signal_create(parley_signal **out, parley_signal_store *store);
/* The identity already in store; PARLEY_ERR_NOT_FOUND if none. */
PARLEY_MUST_CHECK int parley_signal_open(parley_signal **out, parley_signal_store *store);
void parley_signal_free(parley_signal *s);

void parley_signal_identity_key(const parley_signal *s, uint8_t out[PARLEY_PUBKEY_LEN]);
/* Copy of the identity private key (callers wipe it) for XEdDSA signing. */
void parley_signal_identity_private(const parley_signal *s, uint8_t out[32]);
uint32_t parley_signal_registration_id(const parley_signal *s);

/* A prekey bundle as a server hands it out. */
typedef struct {
    uint32_t registration_id;
    uint32_t device_id;
    uint8_t identity_key[PARLEY_PUBKEY_LEN];
    uint32_t signed_prekey_id;
    uint8_t signed_prekey[PARLEY_PUBKEY_LEN];
    uint8_t signed_prekey_signature[PARLEY_SIGNATURE_LEN];
    int has_prekey;
    uint32_t prekey_id;
    uint8_t prekey[PARLEY_PUBKEY_LEN];
} parley_prekey_bundle;

/* Generate and store a signed prekey (XEdDSA signature by the identity key
 * over its 33-byte serialized public key); it becomes the one put in
 * bundles. */
PARLEY_MUST_CHECK int parley_signal_new_signed_prekey(parley_signal *s, uint32_t id,
                                                      uint64_t timestamp_ms);
/* Generate and store a one-time prekey under the next free id; its public
 * half and id are returned. */
PARLEY_MUST_CHECK int parley_signal_new_prekey(parley_signal *s, uint32_t *id,
                                               uint8_t pub[PARLEY_PUBKEY_LEN]);
/* Fill a bundle for this device: the current signed prekey and, when
 * one_time is set, a fresh one-time prekey. */
PARLEY_MUST_CHECK int parley_signal_bundle(parley_signal *s, uint32_t device_id, int one_time,
                                           parley_prekey_bundle *out);

/* ---- sessions ------------------------------------------------------------- */

/*
 * X3DH as initiator from a peer's bundle (libsignal's
 * session_builder_process_pre_key_bundle): PARLEY_ERR_UNTRUSTED_IDENTITY
 * when name trusts another identity, PARLEY_ERR_INVALID_SIGNATURE when the
 * signed prekey's signature fails, PARLEY_ERR_INVALID_KEY for a malformed
 * key. An existing session is archived, not lost.
 */
PARLEY_MUST_CHECK int parley_signal_start(parley_signal *s, const char *name, uint32_t device,
                                          const parley_prekey_bundle *bundle);

#define PARLEY_MSG_SIGNAL 2 /* "msg": SignalMessage */
#define PARLEY_MSG_PREKEY 3 /* "pkmsg": PreKeySignalMessage */

/* Encrypt n bytes for name/device. out must hold n + PARLEY_SIGNAL_OVERHEAD.
 * *type is PARLEY_MSG_PREKEY until the peer has answered. */
PARLEY_MUST_CHECK int parley_signal_encrypt(parley_signal *s, const char *name, uint32_t device,
                                            const uint8_t *in, size_t n, uint8_t *out,
                                            size_t out_max, size_t *out_len, int *type);
/* Decrypt a message of the given type. out must hold n bytes. A failed
 * decrypt changes nothing. */
PARLEY_MUST_CHECK int parley_signal_decrypt(parley_signal *s, const char *name, uint32_t device,
                                            int type, const uint8_t *in, size_t n, uint8_t *out,
                                            size_t out_max, size_t *out_len);
/* Accept key (serialized, 33 bytes) as the identity of every device of
 * name from now on. */
PARLEY_MUST_CHECK int parley_signal_trust(parley_signal *s, const char *name,
                                          const uint8_t key[PARLEY_PUBKEY_LEN]);
/* 1 when a session with name/device exists, 0 otherwise (or a negative
 * code when the store fails). */
int parley_signal_has_session(parley_signal *s, const char *name, uint32_t device);

#ifdef __cplusplus
}
#endif
#endif

/*
 * parley — the Noise Protocol Framework (revision 34) for 25519_AESGCM_SHA256.
 *
 * Two layers:
 *   - parley_noise_hs / parley_noise_cipher: a generic HandshakeState and
 *     CipherState (spec sections 5.1-5.3) driven by pattern tables, so every
 *     pattern of sections 7.4-7.6, the psk modifiers of section 9 and the
 *     fallback modifier of section 10.2 work from their protocol names
 *     ("Noise_XXfallback+psk0_25519_AESGCM_SHA256").
 *   - parley's Noise Pipes transport and server certificates live in
 *     parley/noise_conn.h and parley/noise_cert.h.
 *
 * All functions return PARLEY_OK or a negative parley_result code.
 */
#ifndef PARLEY_NOISE_H
#define PARLEY_NOISE_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PARLEY_NOISE_KEY_LEN 32    /* DHLEN, cipher key and PSK length */
#define PARLEY_NOISE_HASH_LEN 32   /* HASHLEN for SHA256 */
#define PARLEY_NOISE_TAG_LEN 16
#define PARLEY_NOISE_MAX_MSG 65535 /* spec section 3: any Noise message */
#define PARLEY_NOISE_MAX_NAME 128  /* longest protocol name accepted */
#define PARLEY_NOISE_MAX_PSKS 4

/* What the handshake expects the caller to do next. */
typedef enum {
    PARLEY_NOISE_ACTION_WRITE = 1, /* call parley_noise_hs_write */
    PARLEY_NOISE_ACTION_READ = 2,  /* call parley_noise_hs_read */
    PARLEY_NOISE_ACTION_SPLIT = 3, /* handshake complete: call parley_noise_hs_split */
    PARLEY_NOISE_ACTION_FAILED = 4 /* a step failed; the state is unusable */
} parley_noise_action;

typedef struct parley_noise_hs parley_noise_hs;
typedef struct parley_noise_cipher parley_noise_cipher;

/*
 * Creates a HandshakeState for a full protocol name. Only the
 * 25519_AESGCM_SHA256 suite is supported (PARLEY_ERR_INVALID_ARG otherwise,
 * also for unknown patterns or modifiers).
 */
PARLEY_MUST_CHECK int parley_noise_hs_new(parley_noise_hs **out, const char *protocol_name,
                                          int initiator);
void parley_noise_hs_free(parley_noise_hs *hs);

/* Configuration, before the first read or write. */
PARLEY_MUST_CHECK int parley_noise_hs_set_prologue(parley_noise_hs *hs, const uint8_t *p, size_t n);
PARLEY_MUST_CHECK int parley_noise_hs_set_static(parley_noise_hs *hs,
                                                 const uint8_t priv[PARLEY_NOISE_KEY_LEN]);
/* The same with the public key given, to skip deriving it on every handshake
 * (a server's static key): pub must be X25519(priv, 9). */
PARLEY_MUST_CHECK int parley_noise_hs_set_static_keypair(parley_noise_hs *hs,
                                                         const uint8_t priv[PARLEY_NOISE_KEY_LEN],
                                                         const uint8_t pub[PARLEY_NOISE_KEY_LEN]);
PARLEY_MUST_CHECK int parley_noise_hs_set_remote_static(parley_noise_hs *hs,
                                                        const uint8_t pub[PARLEY_NOISE_KEY_LEN]);
/* Fixed ephemeral key (test vectors, or reuse of an ephemeral in fallback). */
PARLEY_MUST_CHECK int parley_noise_hs_set_ephemeral(parley_noise_hs *hs,
                                                    const uint8_t priv[PARLEY_NOISE_KEY_LEN]);
/* The peer's ephemeral for patterns with an "e" pre-message (fallback). */
PARLEY_MUST_CHECK int parley_noise_hs_set_remote_ephemeral(parley_noise_hs *hs,
                                                           const uint8_t pub[PARLEY_NOISE_KEY_LEN]);
/* PSKs in the order the pattern's psk tokens use them. */
PARLEY_MUST_CHECK int parley_noise_hs_add_psk(parley_noise_hs *hs,
                                              const uint8_t psk[PARLEY_NOISE_KEY_LEN]);

/* Which keys the pattern needs from the caller (for tools and checks). */
int parley_noise_hs_needs_static(const parley_noise_hs *hs);
int parley_noise_hs_needs_remote_static(const parley_noise_hs *hs);
int parley_noise_hs_needs_remote_ephemeral(const parley_noise_hs *hs);
int parley_noise_hs_psk_count(const parley_noise_hs *hs);
int parley_noise_hs_is_one_way(const parley_noise_hs *hs);

parley_noise_action parley_noise_hs_action(const parley_noise_hs *hs);

/*
 * WriteMessage (spec 5.3): writes the next handshake message carrying
 * payload into out (at most out_max bytes; never more than 65535).
 */
PARLEY_MUST_CHECK int parley_noise_hs_write(parley_noise_hs *hs, const uint8_t *payload, size_t n,
                                            uint8_t *out, size_t out_max, size_t *out_len);
/*
 * ReadMessage: reads one handshake message and writes its payload to
 * payload (at most max bytes). Any failure leaves the state FAILED.
 */
PARLEY_MUST_CHECK int parley_noise_hs_read(parley_noise_hs *hs, const uint8_t *msg, size_t n,
                                           uint8_t *payload, size_t max, size_t *payload_len);

/*
 * Split (spec 5.2): once ACTION_SPLIT, returns the cipher for sending and
 * the one for receiving (for one-way patterns the responder's send cipher
 * and the initiator's receive cipher are NULL).
 */
PARLEY_MUST_CHECK int parley_noise_hs_split(parley_noise_hs *hs, parley_noise_cipher **send,
                                            parley_noise_cipher **recv);

PARLEY_MUST_CHECK int parley_noise_hs_handshake_hash(const parley_noise_hs *hs,
                                                     uint8_t out[PARLEY_NOISE_HASH_LEN]);
/* The peer's static key once known (PARLEY_ERR_STATE before). */
PARLEY_MUST_CHECK int parley_noise_hs_remote_static(const parley_noise_hs *hs,
                                                    uint8_t out[PARLEY_NOISE_KEY_LEN]);
PARLEY_MUST_CHECK int parley_noise_hs_local_static_public(const parley_noise_hs *hs,
                                                          uint8_t out[PARLEY_NOISE_KEY_LEN]);

/*
 * CipherState for transport messages (spec 5.1). Each message is at most
 * 65535 bytes including the 16-byte tag. Nonce 2^64-1 is reserved: when
 * the counter reaches it, encrypt/decrypt fail with
 * PARLEY_ERR_NOISE_NONCE_EXHAUSTED. A failed decryption does not advance
 * the nonce.
 */
PARLEY_MUST_CHECK int parley_noise_cipher_encrypt(parley_noise_cipher *c, const uint8_t *ad,
                                                  size_t ad_len, const uint8_t *in, size_t n,
                                                  uint8_t *out, size_t out_max, size_t *out_len);
PARLEY_MUST_CHECK int parley_noise_cipher_decrypt(parley_noise_cipher *c, const uint8_t *ad,
                                                  size_t ad_len, const uint8_t *in, size_t n,
                                                  uint8_t *out, size_t out_max, size_t *out_len);
/* Rekey (spec 4.2 and 11.3): k = first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros). */
PARLEY_MUST_CHECK int parley_noise_cipher_rekey(parley_noise_cipher *c);
uint64_t parley_noise_cipher_nonce(const parley_noise_cipher *c);
/* SetNonce (spec 5.1), for out-of-order transports and tests. */
void parley_noise_cipher_set_nonce(parley_noise_cipher *c, uint64_t n);
void parley_noise_cipher_free(parley_noise_cipher *c);

#ifdef __cplusplus
}
#endif
#endif

/*
 * Internals of the Noise framework (revision 34): handshake patterns as
 * data, the CipherState and the SymmetricState. Not part of the public API.
 */
#ifndef PARLEY_NOISE_INTERNAL_H
#define PARLEY_NOISE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "crypto/crypto.h"
#include "parley/noise.h"

/* Tokens of spec section 7.1 and the psk token of section 9. */
typedef enum { NT_E = 1, NT_S, NT_EE, NT_ES, NT_SE, NT_SS, NT_PSK } noise_token;

#define NP_MAX_MSGS 8
#define NP_MAX_TOKENS 12
#define NP_MAX_PRE 3

/*
 * A handshake pattern in canonical (initiator-first) form (spec 7.2):
 * message i is sent by the initiator when i is even.
 */
typedef struct {
    uint8_t pre_i[NP_MAX_PRE], n_pre_i; /* initiator's pre-message (e, s) */
    uint8_t pre_r[NP_MAX_PRE], n_pre_r; /* responder's pre-message */
    uint8_t msg[NP_MAX_MSGS][NP_MAX_TOKENS];
    uint8_t msg_len[NP_MAX_MSGS];
    uint8_t n_msgs;
    uint8_t psk_mode; /* any psk modifier: "e" also calls MixKey (spec 9.2) */
    uint8_t n_psk;    /* psk tokens in the pattern */
    uint8_t one_way;
} noise_pattern;

/*
 * Parses "Noise_<pattern>_25519_AESGCM_SHA256" into a pattern, applying
 * modifiers ("psk0".."psk9", "fallback", joined by '+') in the order given.
 * PARLEY_ERR_INVALID_ARG for anything unknown or another suite.
 */
PARLEY_MUST_CHECK int noise_pattern_parse(const char *protocol_name, noise_pattern *out);

/* CipherState (spec 5.1) with the AESGCM nonce of spec 12.4. */
typedef struct {
    uint8_t k[PARLEY_NOISE_KEY_LEN];
    int has_k;
    uint64_t n;
    pc_gcm *g; /* keyed context, made on first use */
} noise_cs;

void noise_cs_init_key(noise_cs *cs, const uint8_t k[PARLEY_NOISE_KEY_LEN]);
void noise_cs_clear(noise_cs *cs);
/* out has room for n + 16 (or n without a key); in and out may alias. */
PARLEY_MUST_CHECK int noise_cs_encrypt(noise_cs *cs, const uint8_t *ad, size_t ad_len,
                                       const uint8_t *in, size_t n, uint8_t *out);
/* n >= 16 when keyed; writes n - 16 bytes. The nonce advances on success only. */
PARLEY_MUST_CHECK int noise_cs_decrypt(noise_cs *cs, const uint8_t *ad, size_t ad_len,
                                       const uint8_t *in, size_t n, uint8_t *out);
PARLEY_MUST_CHECK int noise_cs_rekey(noise_cs *cs);

/* SymmetricState (spec 5.2). */
typedef struct {
    noise_cs cs;
    uint8_t ck[PARLEY_NOISE_HASH_LEN];
    uint8_t h[PARLEY_NOISE_HASH_LEN];
} noise_ss;

PARLEY_MUST_CHECK int noise_ss_init(noise_ss *ss, const char *protocol_name);
PARLEY_MUST_CHECK int noise_ss_mix_key(noise_ss *ss, const uint8_t *ikm, size_t n);
PARLEY_MUST_CHECK int noise_ss_mix_hash(noise_ss *ss, const uint8_t *data, size_t n);
PARLEY_MUST_CHECK int noise_ss_mix_key_and_hash(noise_ss *ss, const uint8_t *ikm, size_t n);
PARLEY_MUST_CHECK int noise_ss_encrypt_and_hash(noise_ss *ss, const uint8_t *in, size_t n,
                                                uint8_t *out, size_t *out_len);
PARLEY_MUST_CHECK int noise_ss_decrypt_and_hash(noise_ss *ss, const uint8_t *in, size_t n,
                                                uint8_t *out, size_t *out_len);
PARLEY_MUST_CHECK int noise_ss_split(noise_ss *ss, uint8_t k1[PARLEY_NOISE_KEY_LEN],
                                     uint8_t k2[PARLEY_NOISE_KEY_LEN]);
void noise_ss_clear(noise_ss *ss);

struct parley_noise_cipher {
    noise_cs cs;
};

/* Makes a transport cipher from a split key (copied; caller wipes its copy). */
PARLEY_MUST_CHECK int noise_cipher_from_key(parley_noise_cipher **out,
                                            const uint8_t k[PARLEY_NOISE_KEY_LEN]);

/* Releases the keyed AES-GCM context of an idle cipher (made again on use). */
void noise_cipher_trim(parley_noise_cipher *c);

/* A fixed ephemeral key pair, public key given (no derivation). */
PARLEY_MUST_CHECK int noise_hs_set_ephemeral_keypair(parley_noise_hs *hs,
                                                     const uint8_t priv[PARLEY_NOISE_KEY_LEN],
                                                     const uint8_t pub[PARLEY_NOISE_KEY_LEN]);

/* Private ephemeral key of a handshake (Noise Pipes reuses it in fallback). */
PARLEY_MUST_CHECK int noise_hs_local_ephemeral(const parley_noise_hs *hs,
                                               uint8_t priv[PARLEY_NOISE_KEY_LEN]);

#endif

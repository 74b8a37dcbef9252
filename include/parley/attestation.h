/*
 * Provider attestations (docs/parts/thirdparty.md, "Attestations";
 * DESIGN.md section 5, "Enlistment").
 *
 * A third-party provider vouches that a device belongs to one of its users:
 * it binds `user@provider-domain`, the device's Noise static key and its
 * Signal identity key, for a bounded time, and signs the lot with one of
 * its Ed25519 attestation keys. The gatekeeper checks the attestation when
 * the device enlists and again at every login.
 *
 * Wire form (version 1), all integers big-endian:
 *
 *   "PLAT"                  4   magic
 *   version                 1   = 1
 *   provider id length      1   1..64, then the id ([a-z0-9.-])
 *   key id                  4   which of the provider's keys signed
 *   user length             2   3..255, then "local@domain"
 *   noise static key       32   X25519 public key
 *   identity key length     1   32..64, then the key (33 bytes: 0x05 || X25519)
 *   issued at               8   Unix seconds
 *   expires                 8   Unix seconds, > issued at
 *   signature              64   Ed25519 over every byte before it
 *
 * The signed bytes begin with the magic and version, so a signature over an
 * attestation can never be mistaken for one over any other message the
 * same key might sign.
 */
#ifndef PARLEY_ATTESTATION_H
#define PARLEY_ATTESTATION_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    PARLEY_ATTEST_VERSION = 1,
    PARLEY_ATTEST_PROVIDER_MAX = 64,
    PARLEY_ATTEST_USER_MIN = 3,
    PARLEY_ATTEST_USER_MAX = 255,
    PARLEY_ATTEST_NOISE_KEY_LEN = 32,
    PARLEY_ATTEST_IDENTITY_MIN = 32,
    PARLEY_ATTEST_IDENTITY_MAX = 64,
    PARLEY_ATTEST_SIG_LEN = 64,
    PARLEY_ATTEST_PUB_LEN = 32,
    PARLEY_ATTEST_PRIV_LEN = 64,
    /* Largest encoding: every variable field at its maximum. */
    PARLEY_ATTEST_MAX_LEN = 4 + 1 + 1 + PARLEY_ATTEST_PROVIDER_MAX + 4 + 2 +
                            PARLEY_ATTEST_USER_MAX + PARLEY_ATTEST_NOISE_KEY_LEN + 1 +
                            PARLEY_ATTEST_IDENTITY_MAX + 8 + 8 + PARLEY_ATTEST_SIG_LEN,
    /* Keys and domains one provider may have at once. */
    PARLEY_ATTEST_KEYS_MAX = 8,
    PARLEY_ATTEST_DOMAINS_MAX = 8,
};

/* The claims of an attestation, decoded or about to be issued. */
typedef struct {
    uint8_t version;
    char provider[PARLEY_ATTEST_PROVIDER_MAX + 1];
    uint32_t key_id;
    char user[PARLEY_ATTEST_USER_MAX + 1];
    uint8_t noise_key[PARLEY_ATTEST_NOISE_KEY_LEN];
    uint8_t identity_key[PARLEY_ATTEST_IDENTITY_MAX];
    size_t identity_key_len;
    uint64_t issued_at;
    uint64_t expires;
} parley_attestation;

/* One attestation public key of a provider, as the gatekeeper records it. */
typedef struct {
    uint32_t key_id;
    uint8_t pub[PARLEY_ATTEST_PUB_LEN];
} parley_attest_key;

/* What the gatekeeper knows of the provider the device claims to belong to
 * (its registry record): only active keys belong in keys. */
typedef struct {
    const char *provider;       /* the provider id */
    const char *const *domains; /* its user domains */
    size_t domain_count;
    const parley_attest_key *keys; /* its active attestation keys */
    size_t key_count;
    uint64_t max_lifetime; /* refuse longer validity; 0: no bound */
    uint64_t skew;         /* clock skew tolerated, seconds */
} parley_attest_trust;

/*
 * Encode `a` and sign it with the provider key `priv` (libsodium's 64-byte
 * Ed25519 secret key). a->version is ignored (version 1 is written).
 * PARLEY_ERR_INVALID_ARG for a field out of its bounds or expires <=
 * issued_at; PARLEY_ERR_BUFFER when out_max is too small
 * (PARLEY_ATTEST_MAX_LEN always suffices).
 */
PARLEY_MUST_CHECK int parley_attestation_issue(uint8_t *out, size_t out_max, size_t *out_len,
                                               const parley_attestation *a,
                                               const uint8_t priv[PARLEY_ATTEST_PRIV_LEN]);

/*
 * Decode without verifying (to find which provider and key to check it
 * against). Any deviation from the wire form above, including trailing
 * bytes, an unknown version, a provider id or user outside its alphabet,
 * gives PARLEY_ERR_DECODE.
 */
PARLEY_MUST_CHECK int parley_attestation_decode(parley_attestation *out, const uint8_t *in,
                                                size_t n);

/*
 * Decode and verify against the provider's record, at time `now` (Unix
 * seconds), for a device presenting `noise_key` (its Noise static key from
 * the handshake) and `identity_key` (the Signal identity key it enlists or
 * uploaded). Checks, in order, each with its own result:
 *   decode                              PARLEY_ERR_DECODE
 *   provider id is trust->provider      PARLEY_ERR_ATTEST_PROVIDER
 *   key id is one of trust->keys        PARLEY_ERR_ATTEST_UNKNOWN_KEY
 *   Ed25519 signature                   PARLEY_ERR_ATTEST_SIGNATURE
 *   user's domain in trust->domains     PARLEY_ERR_ATTEST_DOMAIN
 *   issued_at <= now + skew             PARLEY_ERR_ATTEST_NOT_YET_VALID
 *   now < expires + skew                PARLEY_ERR_ATTEST_EXPIRED
 *   expires - issued_at <= max_lifetime PARLEY_ERR_ATTEST_LIFETIME
 *   keys equal the ones presented       PARLEY_ERR_ATTEST_KEY_MISMATCH
 * identity_key may be NULL to skip its binding (a login, where the
 * identity key is already bound to the device). out may be NULL.
 */
PARLEY_MUST_CHECK int
parley_attestation_verify(parley_attestation *out, const uint8_t *in, size_t n,
                          const parley_attest_trust *trust,
                          const uint8_t noise_key[PARLEY_ATTEST_NOISE_KEY_LEN],
                          const uint8_t *identity_key, size_t identity_key_len, uint64_t now);

/* The domain part of "local@domain" (after the last '@'), or NULL. */
const char *parley_attestation_domain(const char *user);

#ifdef __cplusplus
}
#endif
#endif

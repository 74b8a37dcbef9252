/*
 * parley — server certificates for the Noise transport.
 *
 * The gatekeeper's offline root key (Ed25519) signs each chat server's
 * static Noise key with a serial number and a validity window. Clients pin
 * the root public key and refuse a server whose certificate does not
 * verify, is outside its window, or names another key than the one the
 * handshake authenticated. The wire format (docs/protocol.md, "Server
 * certificate"), 121 bytes:
 *
 *   u8   version      = 1
 *   u64  serial       big-endian
 *   u64  not_before   Unix seconds, big-endian
 *   u64  not_after    Unix seconds, big-endian (inclusive)
 *   [32] server static X25519 public key
 *   [64] Ed25519 signature by the root over
 *        "parley server certificate v1" || 0x00 || the 57 bytes above
 */
#ifndef PARLEY_NOISE_CERT_H
#define PARLEY_NOISE_CERT_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PARLEY_CERT_VERSION 1
#define PARLEY_CERT_LEN 121
#define PARLEY_CERT_ROOT_PUB_LEN 32
#define PARLEY_CERT_ROOT_PRIV_LEN 64
#define PARLEY_CERT_KEY_LEN 32

typedef struct {
    uint8_t version;
    uint64_t serial;
    uint64_t not_before;
    uint64_t not_after;
    uint8_t server_key[PARLEY_CERT_KEY_LEN];
} parley_noise_cert_info;

/* A new root key pair; keep root_priv offline. */
PARLEY_MUST_CHECK int parley_noise_root_keygen(uint8_t root_pub[PARLEY_CERT_ROOT_PUB_LEN],
                                               uint8_t root_priv[PARLEY_CERT_ROOT_PRIV_LEN]);

/* Issues a certificate for server_key valid from not_before to not_after inclusive. */
PARLEY_MUST_CHECK int parley_noise_cert_issue(uint8_t out[PARLEY_CERT_LEN],
                                              const uint8_t root_priv[PARLEY_CERT_ROOT_PRIV_LEN],
                                              const uint8_t server_key[PARLEY_CERT_KEY_LEN],
                                              uint64_t serial, uint64_t not_before,
                                              uint64_t not_after);

/*
 * Parses a certificate without checking its signature (inspection tools).
 * PARLEY_ERR_CERT_INVALID on a wrong length, version or window.
 */
PARLEY_MUST_CHECK int parley_noise_cert_decode(const uint8_t *cert, size_t n,
                                               parley_noise_cert_info *info);

/*
 * Verifies a certificate: format and signature against the pinned root
 * (PARLEY_ERR_CERT_INVALID), then not_before <= now <= not_after
 * (PARLEY_ERR_CERT_EXPIRED), then, when expect_key is not NULL, that it
 * names that key (PARLEY_ERR_CERT_KEY_MISMATCH). info may be NULL.
 */
PARLEY_MUST_CHECK int parley_noise_cert_verify(const uint8_t *cert, size_t n,
                                               const uint8_t root_pub[PARLEY_CERT_ROOT_PUB_LEN],
                                               const uint8_t *expect_key, uint64_t now,
                                               parley_noise_cert_info *info);

#ifdef __cplusplus
}
#endif
#endif

/*
 * Safety numbers, identical to libsignal's Fingerprint (version 2, 5200
 * iterations of SHA-512): a 60-digit string two users read to each other
 * and a scannable protobuf (CombinedFingerprints) one shows as a QR code
 * and the other scans. See docs/groups.md, "Safety numbers".
 */
#ifndef PARLEY_FINGERPRINT_H
#define PARLEY_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PARLEY_FINGERPRINT_VERSION     2
#define PARLEY_FINGERPRINT_ITERATIONS  5200
#define PARLEY_FINGERPRINT_DISPLAY_LEN 60
/* version, two 32-byte logical fingerprints, protobuf framing: 74 bytes
 * for any version below 128. */
#define PARLEY_FINGERPRINT_SCANNABLE_MAX 80
/* Stable identifiers (phone numbers, service ids) are short; this bound
 * keeps a hostile one from making the hash chain slow. */
#define PARLEY_FINGERPRINT_ID_MAX 1024

/*
 * The safety number for a conversation between local (stable id local_id,
 * identity public key local_key) and remote. display receives 60 digits
 * and a NUL; both sides compute the same string. scannable receives this
 * side's CombinedFingerprints (local first), scannable_len its length.
 * Keys are raw 32-byte Curve25519 public keys (hashed in libsignal's
 * 0x05-prefixed form).
 */
PARLEY_MUST_CHECK int
parley_fingerprint_compute(char display[PARLEY_FINGERPRINT_DISPLAY_LEN + 1],
                           uint8_t scannable[PARLEY_FINGERPRINT_SCANNABLE_MAX],
                           size_t *scannable_len, const uint8_t *local_id, size_t local_id_len,
                           const uint8_t local_key[32], const uint8_t *remote_id,
                           size_t remote_id_len, const uint8_t remote_key[32]);

/* The same with an explicit scannable version and iteration count
 * (2..1000000), for libsignal's older test vectors. */
PARLEY_MUST_CHECK int parley_fingerprint_compute_ex(
    char display[PARLEY_FINGERPRINT_DISPLAY_LEN + 1],
    uint8_t scannable[PARLEY_FINGERPRINT_SCANNABLE_MAX], size_t *scannable_len, uint32_t version,
    uint32_t iterations, const uint8_t *local_id, size_t local_id_len, const uint8_t local_key[32],
    const uint8_t *remote_id, size_t remote_id_len, const uint8_t remote_key[32]);

/*
 * Compare our scannable form with one scanned from the other device: 1
 * when theirs is ours mirrored (their local is our remote and vice versa),
 * 0 when not, PARLEY_ERR_LEGACY_VERSION when its version differs from
 * ours, PARLEY_ERR_DECODE when it is not a CombinedFingerprints.
 */
PARLEY_MUST_CHECK int parley_fingerprint_compare(const uint8_t *ours, size_t ours_len,
                                                 const uint8_t *theirs, size_t theirs_len);

#ifdef __cplusplus
}
#endif
#endif

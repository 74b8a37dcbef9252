/*
 * Proxy mode login (docs/parts/thirdparty.md "Proxy mode"; DESIGN.md
 * section 1, "a proxy run by the provider ... the client's IP passed on").
 *
 * In proxy mode a provider's proxy terminates its client's connection and
 * keeps one Noise connection of its own to the gatekeeper for it. The
 * login payload on that connection carries, besides the device's
 * attestation, a statement signed by the provider's attestation key:
 *
 *   "parley-proxy-login-v1" 0x00
 *   provider id 0x00  key id (u32be)
 *   user 0x00  device (u32be)
 *   connection static key (32)   the proxy's Noise static key on THIS
 *                                gatekeeper connection, so the statement
 *                                cannot be replayed on another connection
 *   client IP (16)               IPv6, or IPv4 as ::ffff:a.b.c.d
 *   issued at (u64be, Unix seconds)
 *
 * and the gatekeeper applies its per-IP limits to that client IP.
 */
#ifndef PARLEY_INTEROP_PROXY_H
#define PARLEY_INTEROP_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include "parley/attestation.h"
#include "parley/result.h"

enum {
    PARLEY_PROXY_IP_TEXT_MAX = 46, /* INET6_ADDRSTRLEN */
    PARLEY_PROXY_WINDOW = 120,     /* seconds a statement stays acceptable */
};

typedef struct {
    char provider[PARLEY_ATTEST_PROVIDER_MAX + 1];
    uint32_t key_id;
    char user[PARLEY_ATTEST_USER_MAX + 1];
    uint32_t device;
    uint8_t conn_key[32];
    uint8_t ip[16];
    uint64_t t;
} parley_proxy_login;

/* Parse a textual IPv4 or IPv6 address into the 16-byte form;
 * PARLEY_ERR_DECODE otherwise. */
PARLEY_MUST_CHECK int parley_proxy_ip_parse(uint8_t ip[16], const char *text);
/* The canonical text of a 16-byte address (IPv4-mapped shown as IPv4). */
void parley_proxy_ip_format(char out[PARLEY_PROXY_IP_TEXT_MAX], const uint8_t ip[16]);

/* Sign with the provider's attestation key (64-byte libsodium form). */
PARLEY_MUST_CHECK int parley_proxy_login_sign(uint8_t sig[64], const parley_proxy_login *p,
                                              const uint8_t priv[64]);

/*
 * Check a statement for a gatekeeper connection whose Noise static key is
 * conn_key, at time now: the provider and key as in
 * parley_attestation_verify (PARLEY_ERR_ATTEST_PROVIDER, _UNKNOWN_KEY,
 * _SIGNATURE), the user's domain (PARLEY_ERR_ATTEST_DOMAIN), |now - t| <=
 * PARLEY_PROXY_WINDOW (PARLEY_ERR_ATTEST_EXPIRED), and conn_key
 * (PARLEY_ERR_ATTEST_KEY_MISMATCH).
 */
PARLEY_MUST_CHECK int parley_proxy_login_verify(const parley_proxy_login *p, const uint8_t sig[64],
                                                const parley_attest_trust *trust,
                                                const uint8_t conn_key[32], uint64_t now);

#endif

/*
 * Server certificates: the gatekeeper root key signs a server's static
 * Noise key, serial and validity window (format in parley/noise_cert.h).
 *
 * Ed25519 rather than XEdDSA: the root key is a signing-only key kept
 * offline and never used for Diffie-Hellman, so nothing is gained by
 * signing with a Curve25519 key, while Ed25519 is a standard (RFC 8032)
 * that every third-party implementer's library offers with strict,
 * deterministic verification.
 */
#include "parley/noise_cert.h"

#include <string.h>
#include "crypto/crypto.h"
#include "util/reader.h"
#include "util/safety.h"

#define BODY_LEN (1 + 8 + 8 + 8 + PARLEY_CERT_KEY_LEN)
/* Domain separation: a root signature over anything else never passes as a certificate. */
static const char cert_context[] = "parley server certificate v1";
#define CONTEXT_LEN (sizeof cert_context) /* includes the NUL separator */

_Static_assert(BODY_LEN + PC_ED25519_SIG_LEN == PARLEY_CERT_LEN, "certificate length");

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

int parley_noise_root_keygen(uint8_t root_pub[PARLEY_CERT_ROOT_PUB_LEN],
                             uint8_t root_priv[PARLEY_CERT_ROOT_PRIV_LEN])
{
    PARLEY_MISUSE(root_pub != NULL && root_priv != NULL);
    return pc_ed25519_keygen(root_pub, root_priv);
}

int parley_noise_cert_issue(uint8_t out[PARLEY_CERT_LEN],
                            const uint8_t root_priv[PARLEY_CERT_ROOT_PRIV_LEN],
                            const uint8_t server_key[PARLEY_CERT_KEY_LEN], uint64_t serial,
                            uint64_t not_before, uint64_t not_after)
{
    int rc;
    uint8_t tbs[CONTEXT_LEN + BODY_LEN];
    PARLEY_MISUSE(out != NULL && root_priv != NULL && server_key != NULL);
    ENSURE(not_before <= not_after, PARLEY_ERR_INVALID_ARG);
    out[0] = PARLEY_CERT_VERSION;
    put_u64(out + 1, serial);
    put_u64(out + 9, not_before);
    put_u64(out + 17, not_after);
    memcpy(out + 25, server_key, PARLEY_CERT_KEY_LEN);
    memcpy(tbs, cert_context, CONTEXT_LEN);
    memcpy(tbs + CONTEXT_LEN, out, BODY_LEN);
    GUARD(pc_ed25519_sign(out + BODY_LEN, tbs, sizeof tbs, root_priv));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_noise_cert_decode(const uint8_t *cert, size_t n, parley_noise_cert_info *info)
{
    int rc;
    preader r;
    parley_noise_cert_info ci;
    PARLEY_MISUSE((cert != NULL || n == 0) && info != NULL);
    ENSURE(n == PARLEY_CERT_LEN, PARLEY_ERR_CERT_INVALID);
    preader_init(&r, cert, n);
    ENSURE(preader_u8(&r, &ci.version) == PARLEY_OK, PARLEY_ERR_CERT_INVALID);
    ENSURE(ci.version == PARLEY_CERT_VERSION, PARLEY_ERR_CERT_INVALID);
    ENSURE(preader_u64be(&r, &ci.serial) == PARLEY_OK, PARLEY_ERR_CERT_INVALID);
    ENSURE(preader_u64be(&r, &ci.not_before) == PARLEY_OK, PARLEY_ERR_CERT_INVALID);
    ENSURE(preader_u64be(&r, &ci.not_after) == PARLEY_OK, PARLEY_ERR_CERT_INVALID);
    ENSURE(ci.not_before <= ci.not_after, PARLEY_ERR_CERT_INVALID);
    ENSURE(preader_bytes(&r, ci.server_key, sizeof ci.server_key) == PARLEY_OK,
           PARLEY_ERR_CERT_INVALID);
    ENSURE(preader_left(&r) == PC_ED25519_SIG_LEN, PARLEY_ERR_CERT_INVALID);
    *info = ci;
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_noise_cert_verify(const uint8_t *cert, size_t n,
                             const uint8_t root_pub[PARLEY_CERT_ROOT_PUB_LEN],
                             const uint8_t *expect_key, uint64_t now,
                             parley_noise_cert_info *info)
{
    int rc;
    parley_noise_cert_info ci;
    uint8_t tbs[CONTEXT_LEN + BODY_LEN];
    PARLEY_MISUSE(root_pub != NULL);
    GUARD(parley_noise_cert_decode(cert, n, &ci));
    memcpy(tbs, cert_context, CONTEXT_LEN);
    memcpy(tbs + CONTEXT_LEN, cert, BODY_LEN);
    ENSURE(pc_ed25519_verify(cert + BODY_LEN, tbs, sizeof tbs, root_pub) == PARLEY_OK,
           PARLEY_ERR_CERT_INVALID);
    ENSURE(now >= ci.not_before && now <= ci.not_after, PARLEY_ERR_CERT_EXPIRED);
    if (expect_key != NULL)
        ENSURE(pc_ct_eq(expect_key, ci.server_key, PARLEY_CERT_KEY_LEN),
               PARLEY_ERR_CERT_KEY_MISMATCH);
    if (info != NULL)
        *info = ci;
    rc = PARLEY_OK;
out:
    return rc;
}

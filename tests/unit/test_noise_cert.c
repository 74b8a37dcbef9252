/* Server certificates: issue, verify, and every refusal. */
#include <string.h>

#include "check.h"
#include "crypto/crypto.h"
#include "parley/noise_cert.h"

int main(void)
{
    uint8_t root_pub[32], root_priv[64], other_pub[32], other_priv[64];
    uint8_t key[32], key_priv[32], key2[32], key2_priv[32];
    uint8_t cert[PARLEY_CERT_LEN], bad[PARLEY_CERT_LEN + 1];
    parley_noise_cert_info info;

    CHECK_RC(parley_noise_root_keygen(root_pub, root_priv), PARLEY_OK);
    CHECK_RC(parley_noise_root_keygen(other_pub, other_priv), PARLEY_OK);
    CHECK_RC(pc_x25519_keygen(key, key_priv), PARLEY_OK);
    CHECK_RC(pc_x25519_keygen(key2, key2_priv), PARLEY_OK);
    CHECK_RC(parley_noise_cert_issue(cert, root_priv, key, 7, 1000, 2000), PARLEY_OK);
    CHECK_RC(parley_noise_cert_issue(bad, root_priv, key, 7, 2001, 2000), PARLEY_ERR_INVALID_ARG);

    /* Accepted inside its window, bounds included. */
    CHECK_RC(parley_noise_cert_verify(cert, sizeof cert, root_pub, key, 1500, &info), PARLEY_OK);
    CHECK(info.version == 1 && info.serial == 7 && info.not_before == 1000 &&
          info.not_after == 2000);
    CHECK_MEM(info.server_key, key, 32);
    CHECK_RC(parley_noise_cert_verify(cert, sizeof cert, root_pub, key, 1000, NULL), PARLEY_OK);
    CHECK_RC(parley_noise_cert_verify(cert, sizeof cert, root_pub, key, 2000, NULL), PARLEY_OK);
    CHECK_RC(parley_noise_cert_verify(cert, sizeof cert, root_pub, NULL, 2000, NULL), PARLEY_OK);

    /* Wire layout. */
    CHECK(cert[0] == 1);
    CHECK(cert[8] == 7 && cert[1] == 0);
    CHECK(cert[15] == (1000 >> 8) && cert[16] == (1000 & 0xff));
    CHECK_MEM(cert + 25, key, 32);

    /* Time. */
    CHECK_RC(parley_noise_cert_verify(cert, sizeof cert, root_pub, key, 999, NULL),
             PARLEY_ERR_CERT_EXPIRED);
    CHECK_RC(parley_noise_cert_verify(cert, sizeof cert, root_pub, key, 2001, NULL),
             PARLEY_ERR_CERT_EXPIRED);
    /* Another key than the handshake's. */
    CHECK_RC(parley_noise_cert_verify(cert, sizeof cert, root_pub, key2, 1500, NULL),
             PARLEY_ERR_CERT_KEY_MISMATCH);
    /* Another root. */
    CHECK_RC(parley_noise_cert_verify(cert, sizeof cert, other_pub, key, 1500, NULL),
             PARLEY_ERR_CERT_INVALID);
    /* Every bit is covered by the signature (or the format). */
    for (size_t i = 0; i < sizeof cert; i++) {
        for (int b = 0; b < 8; b += 3) {
            memcpy(bad, cert, sizeof cert);
            bad[i] ^= (uint8_t)(1u << b);
            CHECK_RC(parley_noise_cert_verify(bad, sizeof cert, root_pub, NULL, 1500, NULL),
                     PARLEY_ERR_CERT_INVALID);
        }
    }
    /* Lengths. */
    memcpy(bad, cert, sizeof cert);
    bad[sizeof cert] = 0;
    CHECK_RC(parley_noise_cert_verify(bad, sizeof cert + 1, root_pub, key, 1500, NULL),
             PARLEY_ERR_CERT_INVALID);
    CHECK_RC(parley_noise_cert_verify(cert, sizeof cert - 1, root_pub, key, 1500, NULL),
             PARLEY_ERR_CERT_INVALID);
    CHECK_RC(parley_noise_cert_verify(cert, 0, root_pub, key, 1500, NULL), PARLEY_ERR_CERT_INVALID);
    CHECK_RC(parley_noise_cert_decode(cert, 60, &info), PARLEY_ERR_CERT_INVALID);
    /* Decode alone: version and window checks, no signature. */
    memcpy(bad, cert, sizeof cert);
    bad[0] = 2;
    CHECK_RC(parley_noise_cert_decode(bad, sizeof cert, &info), PARLEY_ERR_CERT_INVALID);
    memcpy(bad, cert, sizeof cert);
    bad[9] = 0xff; /* not_before after not_after */
    CHECK_RC(parley_noise_cert_decode(bad, sizeof cert, &info), PARLEY_ERR_CERT_INVALID);
    memcpy(bad, cert, sizeof cert);
    bad[100] ^= 1; /* signature bytes do not matter to decode */
    CHECK_RC(parley_noise_cert_decode(bad, sizeof cert, &info), PARLEY_OK);
    /* A signature made by the root over the body without the context does not verify. */
    uint8_t raw_sig[64];
    CHECK_RC(pc_ed25519_sign(raw_sig, cert, 57, root_priv), PARLEY_OK);
    memcpy(bad, cert, 57);
    memcpy(bad + 57, raw_sig, 64);
    CHECK_RC(parley_noise_cert_verify(bad, sizeof cert, root_pub, key, 1500, NULL),
             PARLEY_ERR_CERT_INVALID);
    /* Ed25519 primitive: wrong message. */
    CHECK_RC(pc_ed25519_verify(raw_sig, cert, 56, root_pub), PARLEY_ERR_INVALID_SIGNATURE);
    CHECK_RC(pc_ed25519_verify(raw_sig, cert, 57, root_pub), PARLEY_OK);
    TEST_MAIN_END();
}

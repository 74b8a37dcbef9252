/* Built against an installed libparley by install_check.sh: issues a
 * server certificate under a new root key, verifies it, and checks that a
 * tampered copy is refused. */
#include <stdio.h>
#include <string.h>
#include <parley/noise_cert.h>
#include <parley/result.h>

int main(void)
{
    uint8_t root_pub[PARLEY_CERT_ROOT_PUB_LEN], root_priv[PARLEY_CERT_ROOT_PRIV_LEN];
    uint8_t key[PARLEY_CERT_KEY_LEN], cert[PARLEY_CERT_LEN];
    memset(key, 0x42, sizeof key);
    if (parley_noise_root_keygen(root_pub, root_priv) < 0 ||
        parley_noise_cert_issue(cert, root_priv, key, 7, 1000, 2000) < 0) {
        fprintf(stderr, "prog: could not issue a certificate\n");
        return 1;
    }
    parley_noise_cert_info info;
    if (parley_noise_cert_verify(cert, sizeof cert, root_pub, key, 1500, &info) != PARLEY_OK ||
        info.serial != 7) {
        fprintf(stderr, "prog: certificate does not verify\n");
        return 1;
    }
    cert[sizeof cert - 1] ^= 1;
    int rc = parley_noise_cert_verify(cert, sizeof cert, root_pub, key, 1500, NULL);
    if (rc != PARLEY_ERR_CERT_INVALID) {
        fprintf(stderr, "prog: tampered certificate: %s\n", parley_strerror(rc));
        return 1;
    }
    printf("installed libparley: tampered certificate refused (%s)\n", parley_strerror(rc));
    return 0;
}

/*
 * Key derivation of Signal message version 3: X3DH master secret, root
 * chain (DH ratchet) and symmetric chain (Double Ratchet spec, section 2.2;
 * libsignal-protocol-c ratchet.c). Everything here is a pure function of
 * its inputs, so ratchet steps can be computed before they are committed.
 */
#include "signal/session_internal.h"

#include <string.h>
#include "crypto/crypto.h"
#include "util/safety.h"

static const uint8_t info_text[] = "WhisperText";
static const uint8_t info_ratchet[] = "WhisperRatchet";
static const uint8_t info_keys[] = "WhisperMessageKeys";

static int chain_hmac(uint8_t out[32], const uint8_t ck[32], uint8_t byte)
{
    pc_hmac_key k;
    const pc_part p = {&byte, 1};
    int rc = pc_hmac_key_init(&k, ck, 32);
    if (rc == PARLEY_OK)
        rc = pc_hmac_keyed(out, &k, &p, 1);
    pc_hmac_key_wipe(&k);
    return rc;
}

int sig_chain_seed(uint8_t seed[32], const uint8_t ck[32])
{
    return chain_hmac(seed, ck, 0x01);
}

int sig_chain_next(uint8_t next[32], const uint8_t ck[32])
{
    return chain_hmac(next, ck, 0x02);
}

int sig_chain_step(uint8_t seed[32], uint8_t next[32], const uint8_t ck[32])
{
    /* Both MACs under one key state, computed side by side. */
    return pc_hmac_sha256_two(seed, next, ck, 0x01, 0x02);
}

int sig_message_keys(sig_msg_keys *mk, const uint8_t seed[32])
{
    int rc;
    uint8_t okm[80];
    /* RFC 5869 with libsignal's zero salt: 80 bytes of cipher key (32),
     * MAC key (32) and IV (16). */
    GUARD(pc_hkdf_sha256_short(okm, sizeof okm, seed, info_keys, sizeof info_keys - 1));
    memcpy(mk->cipher_key, okm, 32);
    memcpy(mk->mac_key, okm + 32, 32);
    memcpy(mk->iv, okm + 64, 16);
    rc = PARLEY_OK;
out:
    pc_wipe(okm, sizeof okm);
    return rc;
}

int sig_root_step(uint8_t new_root[32], uint8_t chain[32], const uint8_t root[32],
                  const uint8_t their[32], const uint8_t our_priv[32])
{
    int rc;
    uint8_t shared[32], okm[64];
    GUARD(pc_x25519(shared, our_priv, their));
    GUARD(pc_hkdf_sha256(okm, sizeof okm, root, 32, shared, 32, info_ratchet,
                         sizeof info_ratchet - 1));
    memcpy(new_root, okm, 32);
    memcpy(chain, okm + 32, 32);
    rc = PARLEY_OK;
out:
    pc_wipe(shared, sizeof shared);
    pc_wipe(okm, sizeof okm);
    return rc;
}

int sig_x3dh_derive(uint8_t root[32], uint8_t chain[32], const uint8_t *dhs, size_t n_dh)
{
    int rc;
    uint8_t secret[32 * 5], okm[64];
    PARLEY_MISUSE(n_dh >= 3 && n_dh <= 4);
    /* 32 bytes of 0xFF first: the "discontinuity bytes" that keep the
     * secret from ever being a valid X25519 output prefix (X3DH, 2.2). */
    memset(secret, 0xff, 32);
    memcpy(secret + 32, dhs, 32 * n_dh);
    GUARD(pc_hkdf_sha256(okm, sizeof okm, NULL, 0, secret, 32 * (n_dh + 1), info_text,
                         sizeof info_text - 1));
    memcpy(root, okm, 32);
    memcpy(chain, okm + 32, 32);
    rc = PARLEY_OK;
out:
    pc_wipe(secret, sizeof secret);
    pc_wipe(okm, sizeof okm);
    return rc;
}

int sig_ratchet_init_alice(sig_state *st, const sig_alice_params *p)
{
    int rc;
    uint8_t dh[32 * 4], root[32], chain[32];
    size_t n = 3;
    GUARD(pc_x25519(dh, p->our_identity_priv, p->their_signed_prekey));  /* DH1 */
    GUARD(pc_x25519(dh + 32, p->our_base_priv, p->their_identity));      /* DH2 */
    GUARD(pc_x25519(dh + 64, p->our_base_priv, p->their_signed_prekey)); /* DH3 */
    if (p->their_one_time != NULL) {
        GUARD(pc_x25519(dh + 96, p->our_base_priv, p->their_one_time)); /* DH4 */
        n = 4;
    }
    GUARD(sig_x3dh_derive(root, chain, dh, n));

    st->version = PARLEY_SIGNAL_VERSION;
    memcpy(st->local_identity, p->our_identity_pub, 32);
    memcpy(st->remote_identity, p->their_identity, 32);
    /* Their signed prekey doubles as their first ratchet key. */
    memcpy(st->recv[0].ratchet, p->their_ratchet, 32);
    memcpy(st->recv[0].key, chain, 32);
    st->recv[0].index = 0;
    st->n_recv = 1;
    /* Ratchet at once with a fresh sending key, so the first message
     * already carries forward secrecy beyond the prekeys. */
    GUARD(pc_x25519_keygen(st->send_pub, st->send_priv));
    GUARD(sig_root_step(st->root, st->send_key, root, p->their_ratchet, st->send_priv));
    st->send_index = 0;
    rc = PARLEY_OK;
out:
    pc_wipe(dh, sizeof dh);
    pc_wipe(root, sizeof root);
    pc_wipe(chain, sizeof chain);
    return rc;
}

int sig_ratchet_init_bob(sig_state *st, const sig_bob_params *p)
{
    int rc;
    uint8_t dh[32 * 4], root[32], chain[32];
    size_t n = 3;
    GUARD(pc_x25519(dh, p->our_signed_priv, p->their_identity));    /* DH1 */
    GUARD(pc_x25519(dh + 32, p->our_identity_priv, p->their_base)); /* DH2 */
    GUARD(pc_x25519(dh + 64, p->our_signed_priv, p->their_base));   /* DH3 */
    if (p->our_one_time_priv != NULL) {
        GUARD(pc_x25519(dh + 96, p->our_one_time_priv, p->their_base)); /* DH4 */
        n = 4;
    }
    GUARD(sig_x3dh_derive(root, chain, dh, n));

    st->version = PARLEY_SIGNAL_VERSION;
    memcpy(st->local_identity, p->our_identity_pub, 32);
    memcpy(st->remote_identity, p->their_identity, 32);
    memcpy(st->send_pub, p->our_ratchet_pub, 32);
    memcpy(st->send_priv, p->our_ratchet_priv, 32);
    memcpy(st->send_key, chain, 32);
    st->send_index = 0;
    memcpy(st->root, root, 32);
    rc = PARLEY_OK;
out:
    pc_wipe(dh, sizeof dh);
    pc_wipe(root, sizeof root);
    pc_wipe(chain, sizeof chain);
    return rc;
}

/*
 * HandshakeState (Noise revision 34, section 5.3), interpreting the token
 * tables of pattern.c. One engine runs every pattern: the tokens decide
 * what is sent, what is read and which DH is mixed in.
 */
#include "noise/noise_internal.h"

#include <stdlib.h>
#include <string.h>
#include "util/reader.h"
#include "util/safety.h"

#define DHLEN PARLEY_NOISE_KEY_LEN

struct parley_noise_hs {
    noise_pattern pat;
    noise_ss ss;
    int initiator;
    int started;      /* Initialize() finished: prologue and pre-messages hashed */
    int prologue_set;
    int failed;
    uint8_t msg_i;    /* next message index */
    uint8_t s_priv[DHLEN], s_pub[DHLEN];
    uint8_t e_priv[DHLEN], e_pub[DHLEN];
    uint8_t rs[DHLEN], re[DHLEN];
    int has_s, has_e, has_rs, has_re;
    uint8_t psks[PARLEY_NOISE_MAX_PSKS][PARLEY_NOISE_KEY_LEN];
    uint8_t n_psks, psk_next;
};

int parley_noise_hs_new(parley_noise_hs **out, const char *protocol_name, int initiator)
{
    int rc;
    parley_noise_hs *hs = NULL;
    PARLEY_MISUSE(out != NULL && protocol_name != NULL);
    hs = calloc(1, sizeof *hs);
    ENSURE(hs != NULL, PARLEY_ERR_NOMEM);
    GUARD(noise_pattern_parse(protocol_name, &hs->pat));
    GUARD(noise_ss_init(&hs->ss, protocol_name));
    hs->initiator = initiator != 0;
    *out = hs;
    hs = NULL;
    rc = PARLEY_OK;
out:
    parley_noise_hs_free(hs);
    return rc;
}

void parley_noise_hs_free(parley_noise_hs *hs)
{
    if (hs == NULL)
        return;
    noise_ss_clear(&hs->ss);
    pc_wipe(hs, sizeof *hs);
    free(hs);
}

int parley_noise_hs_set_prologue(parley_noise_hs *hs, const uint8_t *p, size_t n)
{
    PARLEY_MISUSE(hs != NULL && (p != NULL || n == 0));
    if (hs->started || hs->prologue_set)
        return PARLEY_ERR_STATE;
    hs->prologue_set = 1;
    return noise_ss_mix_hash(&hs->ss, p, n);
}

int parley_noise_hs_set_static(parley_noise_hs *hs, const uint8_t priv[DHLEN])
{
    PARLEY_MISUSE(hs != NULL && priv != NULL);
    if (hs->started)
        return PARLEY_ERR_STATE;
    memcpy(hs->s_priv, priv, DHLEN);
    hs->has_s = 1;
    return pc_x25519_public(hs->s_pub, hs->s_priv);
}

int parley_noise_hs_set_static_keypair(parley_noise_hs *hs, const uint8_t priv[DHLEN],
                                       const uint8_t pub[DHLEN])
{
    PARLEY_MISUSE(hs != NULL && priv != NULL && pub != NULL);
    if (hs->started)
        return PARLEY_ERR_STATE;
    memcpy(hs->s_priv, priv, DHLEN);
    memcpy(hs->s_pub, pub, DHLEN);
    hs->has_s = 1;
    return PARLEY_OK;
}

int parley_noise_hs_set_remote_static(parley_noise_hs *hs, const uint8_t pub[DHLEN])
{
    PARLEY_MISUSE(hs != NULL && pub != NULL);
    if (hs->started)
        return PARLEY_ERR_STATE;
    memcpy(hs->rs, pub, DHLEN);
    hs->has_rs = 1;
    return PARLEY_OK;
}

int parley_noise_hs_set_ephemeral(parley_noise_hs *hs, const uint8_t priv[DHLEN])
{
    PARLEY_MISUSE(hs != NULL && priv != NULL);
    if (hs->started)
        return PARLEY_ERR_STATE;
    memcpy(hs->e_priv, priv, DHLEN);
    hs->has_e = 1;
    return pc_x25519_public(hs->e_pub, hs->e_priv);
}

int noise_hs_set_ephemeral_keypair(parley_noise_hs *hs, const uint8_t priv[DHLEN],
                                   const uint8_t pub[DHLEN])
{
    if (hs->started)
        return PARLEY_ERR_STATE;
    memcpy(hs->e_priv, priv, DHLEN);
    memcpy(hs->e_pub, pub, DHLEN);
    hs->has_e = 1;
    return PARLEY_OK;
}

int parley_noise_hs_set_remote_ephemeral(parley_noise_hs *hs, const uint8_t pub[DHLEN])
{
    PARLEY_MISUSE(hs != NULL && pub != NULL);
    if (hs->started)
        return PARLEY_ERR_STATE;
    memcpy(hs->re, pub, DHLEN);
    hs->has_re = 1;
    return PARLEY_OK;
}

int parley_noise_hs_add_psk(parley_noise_hs *hs, const uint8_t psk[PARLEY_NOISE_KEY_LEN])
{
    PARLEY_MISUSE(hs != NULL && psk != NULL);
    if (hs->started || hs->n_psks >= hs->pat.n_psk)
        return PARLEY_ERR_STATE;
    memcpy(hs->psks[hs->n_psks++], psk, PARLEY_NOISE_KEY_LEN);
    return PARLEY_OK;
}

static int pre_has(const uint8_t *toks, uint8_t n, uint8_t t)
{
    for (uint8_t i = 0; i < n; i++)
        if (toks[i] == t)
            return 1;
    return 0;
}

/* The pre-message sent by this party and the one by the peer. */
static void own_pre(const parley_noise_hs *hs, const uint8_t **t, uint8_t *n)
{
    *t = hs->initiator ? hs->pat.pre_i : hs->pat.pre_r;
    *n = hs->initiator ? hs->pat.n_pre_i : hs->pat.n_pre_r;
}

static void peer_pre(const parley_noise_hs *hs, const uint8_t **t, uint8_t *n)
{
    *t = hs->initiator ? hs->pat.pre_r : hs->pat.pre_i;
    *n = hs->initiator ? hs->pat.n_pre_r : hs->pat.n_pre_i;
}

/* Does this party send "s" in some message? */
static int sends_token(const parley_noise_hs *hs, int initiator, uint8_t tok)
{
    for (uint8_t m = 0; m < hs->pat.n_msgs; m++) {
        int by_init = (m % 2) == 0;
        if (by_init != initiator)
            continue;
        for (uint8_t i = 0; i < hs->pat.msg_len[m]; i++)
            if (hs->pat.msg[m][i] == tok)
                return 1;
    }
    return 0;
}

int parley_noise_hs_needs_static(const parley_noise_hs *hs)
{
    const uint8_t *t;
    uint8_t n;
    own_pre(hs, &t, &n);
    if (pre_has(t, n, NT_S) || sends_token(hs, hs->initiator, NT_S))
        return 1;
    /* A static key used in a DH without being sent: only via pre-messages. */
    return 0;
}

int parley_noise_hs_needs_remote_static(const parley_noise_hs *hs)
{
    const uint8_t *t;
    uint8_t n;
    peer_pre(hs, &t, &n);
    return pre_has(t, n, NT_S);
}

int parley_noise_hs_needs_remote_ephemeral(const parley_noise_hs *hs)
{
    const uint8_t *t;
    uint8_t n;
    peer_pre(hs, &t, &n);
    return pre_has(t, n, NT_E);
}

int parley_noise_hs_psk_count(const parley_noise_hs *hs)
{
    return hs->pat.n_psk;
}

int parley_noise_hs_is_one_way(const parley_noise_hs *hs)
{
    return hs->pat.one_way;
}

/* Hashes one side's pre-message keys (spec 5.3 Initialize, 9.2 for psk). */
static int mix_pre(parley_noise_hs *hs, const uint8_t *toks, uint8_t n, int local)
{
    int rc = PARLEY_OK;
    for (uint8_t i = 0; i < n; i++) {
        if (toks[i] == NT_S) {
            ENSURE(local ? hs->has_s : hs->has_rs, PARLEY_ERR_STATE);
            GUARD(noise_ss_mix_hash(&hs->ss, local ? hs->s_pub : hs->rs, DHLEN));
        } else {
            ENSURE(local ? hs->has_e : hs->has_re, PARLEY_ERR_STATE);
            const uint8_t *e = local ? hs->e_pub : hs->re;
            GUARD(noise_ss_mix_hash(&hs->ss, e, DHLEN));
            if (hs->pat.psk_mode)
                GUARD(noise_ss_mix_key(&hs->ss, e, DHLEN));
        }
    }
out:
    return rc;
}

static int start(parley_noise_hs *hs)
{
    int rc;
    if (hs->started)
        return PARLEY_OK;
    ENSURE(hs->n_psks == hs->pat.n_psk, PARLEY_ERR_STATE);
    if (!hs->prologue_set)
        GUARD(noise_ss_mix_hash(&hs->ss, NULL, 0)); /* the empty prologue */
    hs->prologue_set = 1;
    /* The initiator's pre-message keys are hashed first. */
    GUARD(mix_pre(hs, hs->pat.pre_i, hs->pat.n_pre_i, hs->initiator));
    GUARD(mix_pre(hs, hs->pat.pre_r, hs->pat.n_pre_r, !hs->initiator));
    hs->started = 1;
    rc = PARLEY_OK;
out:
    return rc;
}

parley_noise_action parley_noise_hs_action(const parley_noise_hs *hs)
{
    if (hs->failed)
        return PARLEY_NOISE_ACTION_FAILED;
    if (hs->msg_i >= hs->pat.n_msgs)
        return PARLEY_NOISE_ACTION_SPLIT;
    int init_sends = (hs->msg_i % 2) == 0;
    return init_sends == hs->initiator ? PARLEY_NOISE_ACTION_WRITE : PARLEY_NOISE_ACTION_READ;
}

/* The DH a token names, from this party's point of view (spec 5.3). */
static int token_dh(parley_noise_hs *hs, uint8_t tok)
{
    int rc;
    uint8_t shared[DHLEN];
    const uint8_t *priv = NULL, *pub = NULL;
    int lhs_e, rhs_e; /* initiator's key is e?, responder's key is e? */

    switch (tok) {
    case NT_EE: lhs_e = 1; rhs_e = 1; break;
    case NT_ES: lhs_e = 1; rhs_e = 0; break;
    case NT_SE: lhs_e = 0; rhs_e = 1; break;
    default:    lhs_e = 0; rhs_e = 0; break; /* NT_SS */
    }
    int mine_e = hs->initiator ? lhs_e : rhs_e;
    int theirs_e = hs->initiator ? rhs_e : lhs_e;
    if (mine_e) {
        ENSURE(hs->has_e, PARLEY_ERR_STATE);
        priv = hs->e_priv;
    } else {
        ENSURE(hs->has_s, PARLEY_ERR_STATE);
        priv = hs->s_priv;
    }
    if (theirs_e) {
        ENSURE(hs->has_re, PARLEY_ERR_STATE);
        pub = hs->re;
    } else {
        ENSURE(hs->has_rs, PARLEY_ERR_STATE);
        pub = hs->rs;
    }
    /* An all-zero result (low-order peer key) fails the handshake. */
    rc = pc_x25519(shared, priv, pub);
    ENSURE(rc == PARLEY_OK, PARLEY_ERR_NOISE_HANDSHAKE);
    GUARD(noise_ss_mix_key(&hs->ss, shared, DHLEN));
    rc = PARLEY_OK;
out:
    pc_wipe(shared, sizeof shared);
    return rc;
}

static int token_psk(parley_noise_hs *hs)
{
    if (hs->psk_next >= hs->n_psks)
        return PARLEY_ERR_STATE;
    return noise_ss_mix_key_and_hash(&hs->ss, hs->psks[hs->psk_next++], PARLEY_NOISE_KEY_LEN);
}

int parley_noise_hs_write(parley_noise_hs *hs, const uint8_t *payload, size_t n, uint8_t *out,
                          size_t out_max, size_t *out_len)
{
    int rc;
    size_t pos = 0, len;
    PARLEY_MISUSE(hs != NULL && out != NULL && out_len != NULL && (payload != NULL || n == 0));
    /* Asking at the wrong time changes nothing; any later failure is final. */
    if (parley_noise_hs_action(hs) != PARLEY_NOISE_ACTION_WRITE)
        return PARLEY_ERR_STATE;
    if (out_max > PARLEY_NOISE_MAX_MSG)
        out_max = PARLEY_NOISE_MAX_MSG;
    GUARD(start(hs));
    const uint8_t *toks = hs->pat.msg[hs->msg_i];
    for (uint8_t i = 0; i < hs->pat.msg_len[hs->msg_i]; i++) {
        switch (toks[i]) {
        case NT_E: /* e */
            if (!hs->has_e) {
                GUARD(pc_x25519_keygen(hs->e_pub, hs->e_priv));
                hs->has_e = 1;
            }
            ENSURE(out_max - pos >= DHLEN, PARLEY_ERR_BUFFER);
            memcpy(out + pos, hs->e_pub, DHLEN);
            pos += DHLEN;
            GUARD(noise_ss_mix_hash(&hs->ss, hs->e_pub, DHLEN));
            if (hs->pat.psk_mode)
                GUARD(noise_ss_mix_key(&hs->ss, hs->e_pub, DHLEN));
            break;
        case NT_S: /* s */
            ENSURE(hs->has_s, PARLEY_ERR_STATE);
            ENSURE(out_max - pos >= DHLEN + (hs->ss.cs.has_k ? PC_GCM_TAG_LEN : 0),
                   PARLEY_ERR_BUFFER);
            GUARD(noise_ss_encrypt_and_hash(&hs->ss, hs->s_pub, DHLEN, out + pos, &len));
            pos += len;
            break;
        case NT_PSK:
            GUARD(token_psk(hs));
            break;
        default: /* ee, es, se, ss */
            GUARD(token_dh(hs, toks[i]));
            break;
        }
    }
    ENSURE(out_max - pos >= n + (hs->ss.cs.has_k ? PC_GCM_TAG_LEN : 0), PARLEY_ERR_BUFFER);
    GUARD(noise_ss_encrypt_and_hash(&hs->ss, payload, n, out + pos, &len));
    pos += len;
    hs->msg_i++;
    *out_len = pos;
    rc = PARLEY_OK;
out:
    if (rc < 0)
        hs->failed = 1;
    return rc;
}

int parley_noise_hs_read(parley_noise_hs *hs, const uint8_t *msg, size_t n, uint8_t *payload,
                         size_t max, size_t *payload_len)
{
    int rc;
    preader r;
    const uint8_t *v;
    size_t len;
    PARLEY_MISUSE(hs != NULL && (msg != NULL || n == 0) && payload_len != NULL &&
                  (payload != NULL || max == 0));
    if (parley_noise_hs_action(hs) != PARLEY_NOISE_ACTION_READ)
        return PARLEY_ERR_STATE;
    ENSURE(n <= PARLEY_NOISE_MAX_MSG, PARLEY_ERR_FRAME_TOO_LARGE);
    GUARD(start(hs));
    preader_init(&r, msg, n);
    const uint8_t *toks = hs->pat.msg[hs->msg_i];
    for (uint8_t i = 0; i < hs->pat.msg_len[hs->msg_i]; i++) {
        switch (toks[i]) {
        case NT_E: /* e */
            ENSURE(!hs->has_re, PARLEY_ERR_STATE);
            ENSURE(preader_view(&r, &v, DHLEN) == PARLEY_OK, PARLEY_ERR_NOISE_HANDSHAKE);
            memcpy(hs->re, v, DHLEN);
            hs->has_re = 1;
            GUARD(noise_ss_mix_hash(&hs->ss, hs->re, DHLEN));
            if (hs->pat.psk_mode)
                GUARD(noise_ss_mix_key(&hs->ss, hs->re, DHLEN));
            break;
        case NT_S: { /* s */
            size_t want = DHLEN + (hs->ss.cs.has_k ? PC_GCM_TAG_LEN : 0);
            uint8_t tmp[DHLEN + PC_GCM_TAG_LEN];
            ENSURE(!hs->has_rs, PARLEY_ERR_STATE);
            ENSURE(preader_view(&r, &v, want) == PARLEY_OK, PARLEY_ERR_NOISE_HANDSHAKE);
            GUARD(noise_ss_decrypt_and_hash(&hs->ss, v, want, tmp, &len));
            memcpy(hs->rs, tmp, DHLEN);
            hs->has_rs = 1;
            break;
        }
        case NT_PSK:
            GUARD(token_psk(hs));
            break;
        default:
            GUARD(token_dh(hs, toks[i]));
            break;
        }
    }
    preader_rest(&r, &v, &len);
    if (hs->ss.cs.has_k) {
        ENSURE(len >= PC_GCM_TAG_LEN, PARLEY_ERR_NOISE_DECRYPT);
        ENSURE(max >= len - PC_GCM_TAG_LEN, PARLEY_ERR_BUFFER);
    } else {
        ENSURE(max >= len, PARLEY_ERR_BUFFER);
    }
    GUARD(noise_ss_decrypt_and_hash(&hs->ss, v, len, payload, payload_len));
    hs->msg_i++;
    rc = PARLEY_OK;
out:
    if (rc < 0)
        hs->failed = 1;
    return rc;
}

int parley_noise_hs_split(parley_noise_hs *hs, parley_noise_cipher **send,
                          parley_noise_cipher **recv)
{
    int rc;
    uint8_t k1[PARLEY_NOISE_KEY_LEN], k2[PARLEY_NOISE_KEY_LEN];
    parley_noise_cipher *c1 = NULL, *c2 = NULL;
    PARLEY_MISUSE(hs != NULL && send != NULL && recv != NULL);
    ENSURE(parley_noise_hs_action(hs) == PARLEY_NOISE_ACTION_SPLIT, PARLEY_ERR_STATE);
    GUARD(noise_ss_split(&hs->ss, k1, k2));
    /* c1 carries initiator-to-responder traffic; one-way patterns use only c1. */
    GUARD(noise_cipher_from_key(&c1, k1));
    if (!hs->pat.one_way)
        GUARD(noise_cipher_from_key(&c2, k2));
    if (hs->initiator) {
        *send = c1;
        *recv = c2;
    } else {
        *send = c2;
        *recv = c1;
    }
    c1 = c2 = NULL;
    rc = PARLEY_OK;
out:
    parley_noise_cipher_free(c1);
    parley_noise_cipher_free(c2);
    pc_wipe(k1, sizeof k1);
    pc_wipe(k2, sizeof k2);
    return rc;
}

int parley_noise_hs_handshake_hash(const parley_noise_hs *hs, uint8_t out[PARLEY_NOISE_HASH_LEN])
{
    PARLEY_MISUSE(hs != NULL && out != NULL);
    memcpy(out, hs->ss.h, PARLEY_NOISE_HASH_LEN);
    return PARLEY_OK;
}

int parley_noise_hs_remote_static(const parley_noise_hs *hs, uint8_t out[DHLEN])
{
    PARLEY_MISUSE(hs != NULL && out != NULL);
    if (!hs->has_rs)
        return PARLEY_ERR_STATE;
    memcpy(out, hs->rs, DHLEN);
    return PARLEY_OK;
}

int parley_noise_hs_local_static_public(const parley_noise_hs *hs, uint8_t out[DHLEN])
{
    PARLEY_MISUSE(hs != NULL && out != NULL);
    if (!hs->has_s)
        return PARLEY_ERR_STATE;
    memcpy(out, hs->s_pub, DHLEN);
    return PARLEY_OK;
}

int noise_hs_local_ephemeral(const parley_noise_hs *hs, uint8_t priv[DHLEN])
{
    if (!hs->has_e)
        return PARLEY_ERR_STATE;
    memcpy(priv, hs->e_priv, DHLEN);
    return PARLEY_OK;
}

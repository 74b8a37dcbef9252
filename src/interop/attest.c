/*
 * Provider attestations: the wire form and its checks
 * (include/parley/attestation.h, docs/parts/thirdparty.md "Attestations").
 * Every byte of an attestation goes through the bounds-checked reader; the
 * checks run in a fixed order so that each failure has one stable result.
 */
#include "parley/attestation.h"

#include <string.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/reader.h"
#include "util/safety.h"

static const uint8_t magic[4] = {'P', 'L', 'A', 'T'};

/* Provider ids are DNS-like tokens, so they can name a file or a metric. */
static int provider_ok(const char *p, size_t n)
{
    if (n == 0 || n > PARLEY_ATTEST_PROVIDER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* "local@domain": printable ASCII without spaces, one '@' with both sides
 * non-empty. The server normalizes addresses before storing them; an
 * attestation carries the normalized form. */
static int user_ok(const char *u, size_t n)
{
    size_t at = n, ats = 0;
    if (n < PARLEY_ATTEST_USER_MIN || n > PARLEY_ATTEST_USER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c >= 0x7f || c == '/')
            return 0;
        if (c == '@') {
            at = i;
            ats++;
        }
    }
    return ats == 1 && at > 0 && at + 1 < n;
}

const char *parley_attestation_domain(const char *user)
{
    const char *at = user ? strrchr(user, '@') : NULL;
    return at && at[1] ? at + 1 : NULL;
}

/* The signed body, everything up to the signature. */
static int encode_body(pbuf *b, const parley_attestation *a)
{
    int rc;
    size_t plen = strnlen(a->provider, PARLEY_ATTEST_PROVIDER_MAX + 1);
    size_t ulen = strnlen(a->user, PARLEY_ATTEST_USER_MAX + 1);
    ENSURE(provider_ok(a->provider, plen), PARLEY_ERR_INVALID_ARG);
    ENSURE(user_ok(a->user, ulen), PARLEY_ERR_INVALID_ARG);
    ENSURE(a->identity_key_len >= PARLEY_ATTEST_IDENTITY_MIN &&
               a->identity_key_len <= PARLEY_ATTEST_IDENTITY_MAX,
           PARLEY_ERR_INVALID_ARG);
    ENSURE(a->expires > a->issued_at, PARLEY_ERR_INVALID_ARG);
    GUARD(pbuf_append(b, magic, sizeof magic));
    GUARD(pbuf_append_u8(b, PARLEY_ATTEST_VERSION));
    GUARD(pbuf_append_u8(b, (uint8_t)plen));
    GUARD(pbuf_append(b, a->provider, plen));
    GUARD(pbuf_append_u32be(b, a->key_id));
    GUARD(pbuf_append_u16be(b, (uint16_t)ulen));
    GUARD(pbuf_append(b, a->user, ulen));
    GUARD(pbuf_append(b, a->noise_key, sizeof a->noise_key));
    GUARD(pbuf_append_u8(b, (uint8_t)a->identity_key_len));
    GUARD(pbuf_append(b, a->identity_key, a->identity_key_len));
    GUARD(pbuf_append_u64be(b, a->issued_at));
    GUARD(pbuf_append_u64be(b, a->expires));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_attestation_issue(uint8_t *out, size_t out_max, size_t *out_len,
                             const parley_attestation *a,
                             const uint8_t priv[PARLEY_ATTEST_PRIV_LEN])
{
    int rc;
    pbuf b;
    PARLEY_MISUSE(out && out_len && a && priv);
    pbuf_init(&b, PARLEY_ATTEST_MAX_LEN);
    GUARD(encode_body(&b, a));
    ENSURE(b.len + PARLEY_ATTEST_SIG_LEN <= out_max, PARLEY_ERR_BUFFER);
    GUARD(pc_ed25519_sign(out + b.len, b.data, b.len, priv));
    memcpy(out, b.data, b.len);
    *out_len = b.len + PARLEY_ATTEST_SIG_LEN;
    rc = PARLEY_OK;
out:
    pbuf_free(&b);
    return rc;
}

/* Decode; *body_len is the length of the signed part, *sig the signature. */
static int decode(parley_attestation *a, const uint8_t *in, size_t n, size_t *body_len,
                  const uint8_t **sig)
{
    int rc;
    preader r;
    const uint8_t *m, *p;
    uint8_t plen, ilen;
    uint16_t ulen;
    memset(a, 0, sizeof *a);
    preader_init(&r, in, n);
    GUARD(preader_view(&r, &m, sizeof magic));
    ENSURE(memcmp(m, magic, sizeof magic) == 0, PARLEY_ERR_DECODE);
    GUARD(preader_u8(&r, &a->version));
    ENSURE(a->version == PARLEY_ATTEST_VERSION, PARLEY_ERR_DECODE);
    GUARD(preader_u8(&r, &plen));
    GUARD(preader_view(&r, &p, plen));
    ENSURE(provider_ok((const char *)p, plen), PARLEY_ERR_DECODE);
    memcpy(a->provider, p, plen);
    GUARD(preader_u32be(&r, &a->key_id));
    GUARD(preader_u16be(&r, &ulen));
    ENSURE(ulen <= PARLEY_ATTEST_USER_MAX, PARLEY_ERR_DECODE);
    GUARD(preader_view(&r, &p, ulen));
    ENSURE(user_ok((const char *)p, ulen), PARLEY_ERR_DECODE);
    memcpy(a->user, p, ulen);
    GUARD(preader_bytes(&r, a->noise_key, sizeof a->noise_key));
    GUARD(preader_u8(&r, &ilen));
    ENSURE(ilen >= PARLEY_ATTEST_IDENTITY_MIN && ilen <= PARLEY_ATTEST_IDENTITY_MAX,
           PARLEY_ERR_DECODE);
    GUARD(preader_bytes(&r, a->identity_key, ilen));
    a->identity_key_len = ilen;
    GUARD(preader_u64be(&r, &a->issued_at));
    GUARD(preader_u64be(&r, &a->expires));
    ENSURE(a->expires > a->issued_at, PARLEY_ERR_DECODE);
    *body_len = r.pos;
    GUARD(preader_view(&r, sig, PARLEY_ATTEST_SIG_LEN));
    ENSURE(preader_left(&r) == 0, PARLEY_ERR_DECODE);
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_attestation_decode(parley_attestation *out, const uint8_t *in, size_t n)
{
    size_t body_len;
    const uint8_t *sig;
    PARLEY_MISUSE(out && (in || n == 0));
    return decode(out, in, n, &body_len, &sig);
}

int parley_attestation_verify(parley_attestation *out, const uint8_t *in, size_t n,
                              const parley_attest_trust *trust,
                              const uint8_t noise_key[PARLEY_ATTEST_NOISE_KEY_LEN],
                              const uint8_t *identity_key, size_t identity_key_len, uint64_t now)
{
    int rc;
    parley_attestation a;
    size_t body_len = 0;
    const uint8_t *sig = NULL;
    const parley_attest_key *key = NULL;
    const char *domain;
    int domain_found = 0;
    PARLEY_MISUSE(trust && trust->provider && noise_key && (in || n == 0));
    PARLEY_MISUSE(trust->key_count == 0 || trust->keys);
    PARLEY_MISUSE(trust->domain_count == 0 || trust->domains);

    GUARD(decode(&a, in, n, &body_len, &sig));
    ENSURE(strcmp(a.provider, trust->provider) == 0, PARLEY_ERR_ATTEST_PROVIDER);
    for (size_t i = 0; i < trust->key_count; i++)
        if (trust->keys[i].key_id == a.key_id)
            key = &trust->keys[i];
    ENSURE(key != NULL, PARLEY_ERR_ATTEST_UNKNOWN_KEY);
    ENSURE(pc_ed25519_verify(sig, in, body_len, key->pub) == PARLEY_OK,
           PARLEY_ERR_ATTEST_SIGNATURE);
    /* Only now, with the claims authenticated, do they mean anything. */
    domain = parley_attestation_domain(a.user);
    for (size_t i = 0; domain && i < trust->domain_count; i++)
        if (trust->domains[i] && strcmp(trust->domains[i], domain) == 0)
            domain_found = 1;
    ENSURE(domain_found, PARLEY_ERR_ATTEST_DOMAIN);
    ENSURE(a.issued_at <= now || a.issued_at - now <= trust->skew, PARLEY_ERR_ATTEST_NOT_YET_VALID);
    ENSURE(now < a.expires || now - a.expires < trust->skew, PARLEY_ERR_ATTEST_EXPIRED);
    ENSURE(trust->max_lifetime == 0 || a.expires - a.issued_at <= trust->max_lifetime,
           PARLEY_ERR_ATTEST_LIFETIME);
    ENSURE(pc_ct_eq(a.noise_key, noise_key, sizeof a.noise_key), PARLEY_ERR_ATTEST_KEY_MISMATCH);
    if (identity_key != NULL)
        ENSURE(identity_key_len == a.identity_key_len &&
                   pc_ct_eq(a.identity_key, identity_key, identity_key_len),
               PARLEY_ERR_ATTEST_KEY_MISMATCH);
    if (out)
        *out = a;
    rc = PARLEY_OK;
out:
    return rc;
}

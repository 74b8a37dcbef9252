/*
 * Proxy mode login statements (include/parley/interop_proxy.h). The signed
 * bytes start with their own context string, so a statement can never be
 * taken for an attestation ("PLAT") or anything else the same provider
 * key signs.
 */
#include "parley/interop_proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/safety.h"

static const char context[] = "parley-proxy-login-v1";

int parley_proxy_ip_parse(uint8_t ip[16], const char *text)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (text == NULL || strnlen(text, PARLEY_PROXY_IP_TEXT_MAX) >= PARLEY_PROXY_IP_TEXT_MAX)
        return PARLEY_ERR_DECODE;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &a4, 4);
        return PARLEY_OK;
    }
    if (inet_pton(AF_INET6, text, &a6) == 1) {
        memcpy(ip, &a6, 16);
        return PARLEY_OK;
    }
    return PARLEY_ERR_DECODE;
}

void parley_proxy_ip_format(char out[PARLEY_PROXY_IP_TEXT_MAX], const uint8_t ip[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(ip, mapped, 12) == 0) {
        snprintf(out, PARLEY_PROXY_IP_TEXT_MAX, "%u.%u.%u.%u", ip[12], ip[13], ip[14], ip[15]);
        return;
    }
    if (inet_ntop(AF_INET6, ip, out, PARLEY_PROXY_IP_TEXT_MAX) == NULL)
        out[0] = 0;
}

static int tbs(pbuf *b, const parley_proxy_login *p)
{
    int rc;
    size_t pl = strnlen(p->provider, sizeof p->provider);
    size_t ul = strnlen(p->user, sizeof p->user);
    ENSURE(pl > 0 && pl < sizeof p->provider && ul > 0 && ul < sizeof p->user,
           PARLEY_ERR_INVALID_ARG);
    /* The NUL separators are unambiguous: neither field may hold a NUL. */
    GUARD(pbuf_append(b, context, sizeof context)); /* with its NUL */
    GUARD(pbuf_append(b, p->provider, pl + 1));
    GUARD(pbuf_append_u32be(b, p->key_id));
    GUARD(pbuf_append(b, p->user, ul + 1));
    GUARD(pbuf_append_u32be(b, p->device));
    GUARD(pbuf_append(b, p->conn_key, sizeof p->conn_key));
    GUARD(pbuf_append(b, p->ip, sizeof p->ip));
    GUARD(pbuf_append_u64be(b, p->t));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_proxy_login_sign(uint8_t sig[64], const parley_proxy_login *p, const uint8_t priv[64])
{
    int rc;
    pbuf b;
    PARLEY_MISUSE(sig && p && priv);
    pbuf_init(&b, 512);
    GUARD(tbs(&b, p));
    GUARD(pc_ed25519_sign(sig, b.data, b.len, priv));
    rc = PARLEY_OK;
out:
    pbuf_free(&b);
    return rc;
}

int parley_proxy_login_verify(const parley_proxy_login *p, const uint8_t sig[64],
                              const parley_attest_trust *trust, const uint8_t conn_key[32],
                              uint64_t now)
{
    int rc;
    pbuf b;
    const parley_attest_key *key = NULL;
    const char *domain;
    int found = 0;
    PARLEY_MISUSE(p && sig && trust && trust->provider && conn_key);
    pbuf_init(&b, 512);
    ENSURE(strcmp(p->provider, trust->provider) == 0, PARLEY_ERR_ATTEST_PROVIDER);
    for (size_t i = 0; i < trust->key_count; i++)
        if (trust->keys[i].key_id == p->key_id)
            key = &trust->keys[i];
    ENSURE(key != NULL, PARLEY_ERR_ATTEST_UNKNOWN_KEY);
    GUARD(tbs(&b, p));
    ENSURE(pc_ed25519_verify(sig, b.data, b.len, key->pub) == PARLEY_OK,
           PARLEY_ERR_ATTEST_SIGNATURE);
    domain = parley_attestation_domain(p->user);
    for (size_t i = 0; domain && i < trust->domain_count; i++)
        if (strcmp(trust->domains[i], domain) == 0)
            found = 1;
    ENSURE(found, PARLEY_ERR_ATTEST_DOMAIN);
    ENSURE(p->t <= now + PARLEY_PROXY_WINDOW && now <= p->t + PARLEY_PROXY_WINDOW,
           PARLEY_ERR_ATTEST_EXPIRED);
    ENSURE(pc_ct_eq(p->conn_key, conn_key, 32), PARLEY_ERR_ATTEST_KEY_MISMATCH);
    rc = PARLEY_OK;
out:
    pbuf_free(&b);
    return rc;
}

/* Proxy mode login statements: the client IP signed by the provider. */
#include "check.h"
#include "crypto/crypto.h"
#include "parley/interop_proxy.h"

int main(void)
{
    uint8_t pub[32], priv[64], pub2[32], priv2[64], sig[64], ck[32];
    char text[PARLEY_PROXY_IP_TEXT_MAX];
    static const char *const doms[] = {"birdy.example"};
    CHECK(pc_ed25519_keygen(pub, priv) == PARLEY_OK && pc_ed25519_keygen(pub2, priv2) == PARLEY_OK);
    parley_attest_key k = {.key_id = 4};
    memcpy(k.pub, pub, 32);
    parley_attest_trust t = {
        .provider = "birdy", .domains = doms, .domain_count = 1, .keys = &k, .key_count = 1};
    parley_proxy_login p;
    memset(&p, 0, sizeof p);
    strcpy(p.provider, "birdy");
    p.key_id = 4;
    strcpy(p.user, "bob@birdy.example");
    p.device = 2;
    memset(p.conn_key, 0x77, 32);
    memcpy(ck, p.conn_key, 32);
    CHECK_RC(parley_proxy_ip_parse(p.ip, "203.0.113.7"), PARLEY_OK);
    parley_proxy_ip_format(text, p.ip);
    CHECK(strcmp(text, "203.0.113.7") == 0);
    p.t = 1700000000;
    CHECK_RC(parley_proxy_login_sign(sig, &p, priv), PARLEY_OK);
    CHECK_RC(parley_proxy_login_verify(&p, sig, &t, ck, 1700000000), PARLEY_OK);
    CHECK_RC(parley_proxy_login_verify(&p, sig, &t, ck, 1700000000 + PARLEY_PROXY_WINDOW),
             PARLEY_OK);
    CHECK_RC(parley_proxy_login_verify(&p, sig, &t, ck, 1700000000 + PARLEY_PROXY_WINDOW + 1),
             PARLEY_ERR_ATTEST_EXPIRED);
    CHECK_RC(parley_proxy_login_verify(&p, sig, &t, ck, 1700000000 - PARLEY_PROXY_WINDOW - 1),
             PARLEY_ERR_ATTEST_EXPIRED);
    /* another connection */
    ck[0] ^= 1;
    CHECK_RC(parley_proxy_login_verify(&p, sig, &t, ck, 1700000000),
             PARLEY_ERR_ATTEST_KEY_MISMATCH);
    ck[0] ^= 1;
    /* each signed field matters */
    parley_proxy_login q = p;
    CHECK_RC(parley_proxy_ip_parse(q.ip, "203.0.113.8"), PARLEY_OK);
    CHECK_RC(parley_proxy_login_verify(&q, sig, &t, ck, 1700000000), PARLEY_ERR_ATTEST_SIGNATURE);
    q = p;
    q.device = 3;
    CHECK_RC(parley_proxy_login_verify(&q, sig, &t, ck, 1700000000), PARLEY_ERR_ATTEST_SIGNATURE);
    q = p;
    q.t++;
    CHECK_RC(parley_proxy_login_verify(&q, sig, &t, ck, 1700000000), PARLEY_ERR_ATTEST_SIGNATURE);
    q = p;
    strcpy(q.user, "eve@birdy.example");
    CHECK_RC(parley_proxy_login_verify(&q, sig, &t, ck, 1700000000), PARLEY_ERR_ATTEST_SIGNATURE);
    q = p;
    q.key_id = 5;
    CHECK_RC(parley_proxy_login_verify(&q, sig, &t, ck, 1700000000), PARLEY_ERR_ATTEST_UNKNOWN_KEY);
    q = p;
    strcpy(q.provider, "tweety");
    CHECK_RC(parley_proxy_login_verify(&q, sig, &t, ck, 1700000000), PARLEY_ERR_ATTEST_PROVIDER);
    /* signed by another key */
    CHECK_RC(parley_proxy_login_sign(sig, &p, priv2), PARLEY_OK);
    CHECK_RC(parley_proxy_login_verify(&p, sig, &t, ck, 1700000000), PARLEY_ERR_ATTEST_SIGNATURE);
    /* a user of another domain, correctly signed */
    q = p;
    strcpy(q.user, "eve@gk.example");
    CHECK_RC(parley_proxy_login_sign(sig, &q, priv), PARLEY_OK);
    CHECK_RC(parley_proxy_login_verify(&q, sig, &t, ck, 1700000000), PARLEY_ERR_ATTEST_DOMAIN);
    /* IPv6 and parse failures */
    CHECK_RC(parley_proxy_ip_parse(q.ip, "2001:db8::1"), PARLEY_OK);
    parley_proxy_ip_format(text, q.ip);
    CHECK(strcmp(text, "2001:db8::1") == 0);
    CHECK_RC(parley_proxy_ip_parse(q.ip, "::ffff:198.51.100.1"), PARLEY_OK);
    parley_proxy_ip_format(text, q.ip);
    CHECK(strcmp(text, "198.51.100.1") == 0);
    CHECK_RC(parley_proxy_ip_parse(q.ip, "203.0.113"), PARLEY_ERR_DECODE);
    CHECK_RC(parley_proxy_ip_parse(q.ip, "example.com"), PARLEY_ERR_DECODE);
    CHECK_RC(parley_proxy_ip_parse(q.ip, ""), PARLEY_ERR_DECODE);
    CHECK_RC(parley_proxy_ip_parse(q.ip, "1.2.3.4 "), PARLEY_ERR_DECODE);
    /* an empty user cannot be signed */
    q = p;
    q.user[0] = 0;
    CHECK_RC(parley_proxy_login_sign(sig, &q, priv), PARLEY_ERR_INVALID_ARG);
    TEST_MAIN_END();
}

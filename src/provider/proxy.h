/*
 * parley-provider's proxy mode (proxy.c; docs/interop-design.md "Proxy
 * mode"): one gatekeeper Noise connection per client connection, opened
 * and closed with it, the client's IP passed on in a signed statement.
 */
#ifndef PARLEY_PROVIDER_PROXY_H
#define PARLEY_PROVIDER_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#include "interop/httpsig.h"
#include "parley/attestation.h"
#include "parley/noise_cert.h"

typedef struct {
    char id[PARLEY_ATTEST_PROVIDER_MAX + 1];
    char domain[191];
    uint32_t key_id;
    const uint8_t *attest_priv;    /* 64 bytes, the provider's attestation key */
    char listen[64];               /* IPv4 address for clients */
    unsigned port;                 /* 0: any free port */
    uint8_t static_priv[32];       /* the proxy's Noise static key, both sides */
    uint8_t cert[PARLEY_CERT_LEN]; /* its certificate, for the provider's clients */
    size_t cert_len;
    char gk_host[64]; /* the gatekeeper, IPv4 */
    uint16_t gk_port;
    uint8_t gk_root_pub[32]; /* the gatekeeper root key, pinned */
    uint8_t gk_static[32];   /* the gatekeeper's static key when known (IK) */
    int gk_has_static;
    size_t max_clients; /* 0: 1000 */
    int verbose;
} pp_proxy_config;

typedef struct pp_proxy pp_proxy;

/* Listen on cfg->listen:cfg->port (the port bound is written to *port). */
int pp_proxy_new(pp_proxy **out, struct event_base *base, const pp_proxy_config *cfg,
                 unsigned *port);
void pp_proxy_free(pp_proxy *px);

#endif

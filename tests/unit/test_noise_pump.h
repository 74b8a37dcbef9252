/*
 * Test helpers for Noise connections: fixed keys, a certificate, and a
 * pump that moves bytes between a client and a server in memory.
 */
#ifndef PARLEY_TEST_NOISE_PUMP_H
#define PARLEY_TEST_NOISE_PUMP_H

#include <string.h>
#include "crypto/crypto.h"
#include "parley/noise_conn.h"

#define PUMP_MAX_FRAMES 16

typedef struct {
    uint8_t root_pub[32], root_priv[64];
    uint8_t server_priv[32], server_pub[32];
    uint8_t client_priv[32], client_pub[32];
    uint8_t cert[PARLEY_CERT_LEN];
} test_keys;

static inline int test_keys_make(test_keys *k)
{
    if (parley_noise_root_keygen(k->root_pub, k->root_priv) < 0 ||
        pc_x25519_keygen(k->server_pub, k->server_priv) < 0 ||
        pc_x25519_keygen(k->client_pub, k->client_priv) < 0)
        return -1;
    return parley_noise_cert_issue(k->cert, k->root_priv, k->server_pub, 1, 1000, 100000);
}

typedef struct {
    int done;                            /* HANDSHAKE_DONE seen */
    int err;                             /* first error from next() */
    size_t frames;                       /* frames received */
    uint8_t last[PARLEY_NOISE_MAX_MSG];  /* last frame */
    size_t last_len;
} pump_side;

/* Drains one connection's events into its side record. */
static inline void pump_events(parley_noise_conn *c, pump_side *s)
{
    parley_noise_event ev;
    for (;;) {
        int rc = parley_noise_conn_next(c, &ev);
        if (rc < 0) {
            if (s->err == 0)
                s->err = rc;
            return;
        }
        if (ev.type == PARLEY_NOISE_EV_NONE)
            return;
        if (ev.type == PARLEY_NOISE_EV_HANDSHAKE_DONE)
            s->done++;
        if (ev.type == PARLEY_NOISE_EV_FRAME) {
            s->frames++;
            memcpy(s->last, ev.data, ev.len);
            s->last_len = ev.len;
        }
    }
}

/* Moves up to chunk bytes (0: all) of a's output into b. Returns bytes moved or < 0. */
static inline long pump_move(parley_noise_conn *a, parley_noise_conn *b, size_t chunk)
{
    const uint8_t *p;
    size_t n;
    parley_noise_conn_output(a, &p, &n);
    if (chunk != 0 && n > chunk)
        n = chunk;
    size_t space = parley_noise_conn_input_space(b);
    if (n > space)
        n = space;
    if (n == 0)
        return 0;
    int rc = parley_noise_conn_feed(b, p, n);
    if (rc < 0)
        return rc;
    parley_noise_conn_consume(a, n);
    return (long)n;
}

/* Runs both ends until nothing moves. */
static inline void pump(parley_noise_conn *c, parley_noise_conn *s, pump_side *cs, pump_side *ss,
                        size_t chunk)
{
    for (int round = 0; round < 100000; round++) {
        long a = pump_move(c, s, chunk);
        pump_events(s, ss);
        long b = pump_move(s, c, chunk);
        pump_events(c, cs);
        if (a <= 0 && b <= 0)
            break;
    }
}

#endif

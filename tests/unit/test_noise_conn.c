/*
 * The Noise Pipes connection, in memory: XX, IK, XXfallback, certificate
 * refusals, framing limits, truncation, timeouts and bounded buffers.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "test_noise_pump.h"

static test_keys K;
static const uint8_t login[] = "login: alice@example.org/1";

typedef struct {
    parley_noise_conn *c, *s;
    pump_side cs, ss;
} link_t;

static void link_free(link_t *l)
{
    parley_noise_conn_free(l->c);
    parley_noise_conn_free(l->s);
    memset(l, 0, sizeof *l);
}

static parley_noise_client_config client_cfg(const uint8_t *server_static)
{
    parley_noise_client_config cc;
    memset(&cc, 0, sizeof cc);
    cc.static_priv = K.client_priv;
    cc.root_pub = K.root_pub;
    cc.server_static = server_static;
    cc.login = login;
    cc.login_len = sizeof login;
    cc.cert_time = 5000;
    return cc;
}

static parley_noise_server_config server_cfg(const uint8_t *cert)
{
    parley_noise_server_config sc;
    memset(&sc, 0, sizeof sc);
    sc.static_priv = K.server_priv;
    sc.cert = cert;
    sc.cert_len = PARLEY_CERT_LEN;
    return sc;
}

static int link_new(link_t *l, const parley_noise_client_config *cc,
                    const parley_noise_server_config *sc)
{
    memset(l, 0, sizeof *l);
    if (parley_noise_conn_new_client(&l->c, cc) < 0 || parley_noise_conn_new_server(&l->s, sc) < 0)
        return -1;
    if (parley_noise_conn_start(l->c, 0) < 0 || parley_noise_conn_start(l->s, 0) < 0)
        return -1;
    return 0;
}

/* Both ends established, keys and login as expected, frames both ways. */
static void check_established(link_t *l, parley_noise_mode mode)
{
    uint8_t k[32], h1[32], h2[32];
    const uint8_t *p;
    size_t n;
    parley_noise_cert_info info;
    CHECK(l->cs.err == 0 && l->ss.err == 0);
    CHECK(l->cs.done == 1 && l->ss.done == 1);
    CHECK(parley_noise_conn_established(l->c) && parley_noise_conn_established(l->s));
    CHECK(parley_noise_conn_mode(l->c) == mode && parley_noise_conn_mode(l->s) == mode);
    CHECK_RC(parley_noise_conn_remote_static(l->c, k), PARLEY_OK);
    CHECK_MEM(k, K.server_pub, 32);
    CHECK_RC(parley_noise_conn_remote_static(l->s, k), PARLEY_OK);
    CHECK_MEM(k, K.client_pub, 32);
    CHECK_RC(parley_noise_conn_login(l->s, &p, &n), PARLEY_OK);
    CHECK(n == sizeof login && memcmp(p, login, n) == 0);
    CHECK_RC(parley_noise_conn_login(l->c, &p, &n), PARLEY_ERR_STATE);
    CHECK_RC(parley_noise_conn_cert_info(l->c, &info), PARLEY_OK);
    CHECK(info.serial == 1);
    CHECK_RC(parley_noise_conn_handshake_hash(l->c, h1), PARLEY_OK);
    CHECK_RC(parley_noise_conn_handshake_hash(l->s, h2), PARLEY_OK);
    CHECK_MEM(h1, h2, 32);

    static const uint8_t up[] = "<message to='bob@example.org'/>";
    static const uint8_t down[] = "<ack id='1'/>";
    size_t before_c = l->cs.frames, before_s = l->ss.frames;
    CHECK_RC(parley_noise_conn_send(l->c, up, sizeof up), PARLEY_OK);
    CHECK_RC(parley_noise_conn_send(l->s, down, sizeof down), PARLEY_OK);
    CHECK_RC(parley_noise_conn_send(l->s, NULL, 0), PARLEY_OK); /* empty frame */
    pump(l->c, l->s, &l->cs, &l->ss, 0);
    CHECK(l->ss.frames == before_s + 1);
    CHECK(l->ss.last_len == sizeof up && memcmp(l->ss.last, up, sizeof up) == 0);
    CHECK(l->cs.frames == before_c + 2);
    CHECK(l->cs.last_len == 0);
}

static void test_xx(void)
{
    link_t l;
    parley_noise_client_config cc = client_cfg(NULL);
    parley_noise_server_config sc = server_cfg(K.cert);
    CHECK(link_new(&l, &cc, &sc) == 0);
    /* Before the handshake nothing can be sent. */
    CHECK_RC(parley_noise_conn_send(l.c, login, 4), PARLEY_ERR_STATE);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    check_established(&l, PARLEY_NOISE_MODE_XX);

    /* Largest frame, and one byte more. */
    static uint8_t big[65535];
    memset(big, 0x5a, sizeof big);
    CHECK_RC(parley_noise_conn_send(l.c, big, 65535 - 16), PARLEY_OK);
    CHECK_RC(parley_noise_conn_send(l.c, big, 65535 - 15), PARLEY_ERR_FRAME_TOO_LARGE);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    CHECK(l.ss.last_len == 65535 - 16 && memcmp(l.ss.last, big, l.ss.last_len) == 0);
    CHECK(l.ss.err == 0);
    link_free(&l);
}

static void test_byte_by_byte(void)
{
    link_t l;
    parley_noise_client_config cc = client_cfg(NULL);
    parley_noise_server_config sc = server_cfg(K.cert);
    CHECK(link_new(&l, &cc, &sc) == 0);
    /* Incremental equals one-shot: one byte at a time. */
    pump(l.c, l.s, &l.cs, &l.ss, 1);
    check_established(&l, PARLEY_NOISE_MODE_XX);
    link_free(&l);
}

static void test_ik(void)
{
    link_t l;
    parley_noise_client_config cc = client_cfg(K.server_pub);
    parley_noise_server_config sc = server_cfg(K.cert);
    CHECK(link_new(&l, &cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    check_established(&l, PARLEY_NOISE_MODE_IK);
    link_free(&l);
}

/* The client cached a server key that is no longer the server's: XXfallback. */
static void test_fallback(void)
{
    link_t l;
    uint8_t stale[32], stale_priv[32];
    CHECK_RC(pc_x25519_keygen(stale, stale_priv), PARLEY_OK);
    parley_noise_client_config cc = client_cfg(stale);
    parley_noise_server_config sc = server_cfg(K.cert);
    CHECK(link_new(&l, &cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    check_established(&l, PARLEY_NOISE_MODE_XXFALLBACK);
    link_free(&l);

    /* Byte by byte too. */
    CHECK(link_new(&l, &cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 1);
    check_established(&l, PARLEY_NOISE_MODE_XXFALLBACK);
    link_free(&l);
}

/* The handshake must fail on the client with want, and the client sends no login. */
static void expect_client_refusal(const parley_noise_client_config *cc, const uint8_t *cert,
                                  int want)
{
    link_t l;
    parley_noise_server_config sc = server_cfg(cert);
    CHECK(link_new(&l, cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    CHECK_RC(l.cs.err, want);
    CHECK(!parley_noise_conn_established(l.c));
    CHECK_RC(parley_noise_conn_error(l.c), want);
    /* Sticky. */
    parley_noise_event ev;
    CHECK_RC(parley_noise_conn_next(l.c, &ev), want);
    CHECK_RC(parley_noise_conn_send(l.c, login, 1), want);
    if (parley_noise_conn_mode(l.c) != PARLEY_NOISE_MODE_IK)
        CHECK(!parley_noise_conn_established(l.s)); /* XX: message 3 was never sent */
    link_free(&l);
}

static void test_cert_refusals(void)
{
    uint8_t other_pub[32], other_priv[64], cert[PARLEY_CERT_LEN], key2[32], key2_priv[32];
    uint8_t stale[32], stale_priv[32];
    parley_noise_client_config cc;

    CHECK_RC(pc_x25519_keygen(stale, stale_priv), PARLEY_OK);
    const uint8_t *modes[3] = {NULL, K.server_pub, stale}; /* XX, IK, XXfallback */
    for (int m = 0; m < 3; m++) {
        /* Signed by another root. */
        CHECK_RC(parley_noise_root_keygen(other_pub, other_priv), PARLEY_OK);
        CHECK_RC(parley_noise_cert_issue(cert, other_priv, K.server_pub, 1, 1000, 100000),
                 PARLEY_OK);
        cc = client_cfg(modes[m]);
        expect_client_refusal(&cc, cert, PARLEY_ERR_CERT_INVALID);
        /* Expired, and not yet valid. */
        cc = client_cfg(modes[m]);
        cc.cert_time = 100001;
        expect_client_refusal(&cc, K.cert, PARLEY_ERR_CERT_EXPIRED);
        cc.cert_time = 999;
        expect_client_refusal(&cc, K.cert, PARLEY_ERR_CERT_EXPIRED);
        /* A valid certificate for another key than the server's. */
        CHECK_RC(pc_x25519_keygen(key2, key2_priv), PARLEY_OK);
        CHECK_RC(parley_noise_cert_issue(cert, K.root_priv, key2, 2, 1000, 100000), PARLEY_OK);
        cc = client_cfg(modes[m]);
        expect_client_refusal(&cc, cert, PARLEY_ERR_CERT_KEY_MISMATCH);
        /* Garbage instead of a certificate. */
        memset(cert, 0x41, sizeof cert);
        cc = client_cfg(modes[m]);
        expect_client_refusal(&cc, cert, PARLEY_ERR_CERT_INVALID);
    }
}

static void test_prologue(void)
{
    parley_noise_conn *s = NULL;
    parley_noise_event ev;
    parley_noise_server_config sc = server_cfg(K.cert);
    CHECK_RC(parley_noise_conn_new_server(&s, &sc), PARLEY_OK);
    CHECK_RC(parley_noise_conn_start(s, 0), PARLEY_OK);
    CHECK_RC(parley_noise_conn_feed(s, (const uint8_t *)"parley/", 7), PARLEY_OK);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_OK);
    CHECK(ev.type == PARLEY_NOISE_EV_NONE);
    CHECK_RC(parley_noise_conn_feed(s, (const uint8_t *)"2", 1), PARLEY_OK);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_ERR_PROLOGUE);
    CHECK_RC(parley_noise_conn_feed(s, (const uint8_t *)"x", 1), PARLEY_ERR_PROLOGUE);
    CHECK(parley_noise_conn_input_space(s) == 0);
    parley_noise_conn_free(s);
}

static parley_noise_conn *server_after_prologue(const parley_noise_limits *lim)
{
    parley_noise_conn *s = NULL;
    parley_noise_server_config sc = server_cfg(K.cert);
    if (lim != NULL)
        sc.limits = *lim;
    if (parley_noise_conn_new_server(&s, &sc) < 0 || parley_noise_conn_start(s, 0) < 0 ||
        parley_noise_conn_feed(s, (const uint8_t *)PARLEY_NOISE_PROLOGUE,
                               PARLEY_NOISE_PROLOGUE_LEN) < 0) {
        parley_noise_conn_free(s);
        return NULL;
    }
    return s;
}

static void test_frames(void)
{
    parley_noise_conn *s;
    parley_noise_event ev;
    parley_noise_limits lim;

    /* A length over the configured maximum is refused as soon as the header is in. */
    memset(&lim, 0, sizeof lim);
    lim.max_frame = 1024;
    s = server_after_prologue(&lim);
    CHECK(s != NULL);
    static const uint8_t hdr[3] = {0x00, 0x04, 0x01}; /* 1025 */
    CHECK_RC(parley_noise_conn_feed(s, hdr, 3), PARLEY_OK);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_ERR_FRAME_TOO_LARGE);
    parley_noise_conn_free(s);

    /* Default maximum: 0xffffff can never be valid. */
    s = server_after_prologue(NULL);
    static const uint8_t hdr2[3] = {0xff, 0xff, 0xff};
    CHECK_RC(parley_noise_conn_feed(s, hdr2, 3), PARLEY_OK);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_ERR_FRAME_TOO_LARGE);
    parley_noise_conn_free(s);

    /* Truncated: a header promising 96 bytes and only 95: nothing happens yet. */
    s = server_after_prologue(NULL);
    uint8_t msg[3 + 96] = {0x00, 0x00, 96};
    CHECK_RC(pc_x25519_keygen(msg + 3, msg + 40), PARLEY_OK); /* a valid e, then noise */
    CHECK_RC(parley_noise_conn_feed(s, msg, sizeof msg - 1), PARLEY_OK);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_OK);
    CHECK(ev.type == PARLEY_NOISE_EV_NONE && !parley_noise_conn_established(s));
    /* The last byte completes a 96-byte message 1: IK that does not decrypt,
     * so the server answers with XXfallback, waiting for the final message. */
    CHECK_RC(parley_noise_conn_feed(s, msg + sizeof msg - 1, 1), PARLEY_OK);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_OK);
    CHECK(parley_noise_conn_mode(s) == PARLEY_NOISE_MODE_XXFALLBACK);
    /* A final message that is too short to hold s. */
    static const uint8_t short_final[3 + 20] = {0x00, 0x00, 20};
    CHECK_RC(parley_noise_conn_feed(s, short_final, sizeof short_final), PARLEY_OK);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_ERR_NOISE_HANDSHAKE);
    parley_noise_conn_free(s);

    /* Message 1 shorter than an ephemeral key. */
    s = server_after_prologue(NULL);
    static const uint8_t tiny[3 + 10] = {0x00, 0x00, 10};
    CHECK_RC(parley_noise_conn_feed(s, tiny, sizeof tiny), PARLEY_OK);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_ERR_NOISE_HANDSHAKE);
    parley_noise_conn_free(s);

    /* An empty message 1. */
    s = server_after_prologue(NULL);
    static const uint8_t empty[3] = {0, 0, 0};
    CHECK_RC(parley_noise_conn_feed(s, empty, sizeof empty), PARLEY_OK);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_ERR_NOISE_HANDSHAKE);
    parley_noise_conn_free(s);
}

/*
 * Trimming an idle connection (buffers and cipher contexts given back)
 * changes nothing observable: frames keep flowing both ways with the same
 * keys and nonces, a frame still held by the caller stays intact, and
 * output not yet written is kept. Before the handshake it is a no-op.
 */
static void test_trim(void)
{
    link_t l;
    parley_noise_event ev;
    const uint8_t *p;
    size_t n;
    parley_noise_client_config cc = client_cfg(NULL);
    parley_noise_server_config sc = server_cfg(K.cert);
    CHECK(link_new(&l, &cc, &sc) == 0);
    parley_noise_conn_trim(l.s); /* not established: nothing to give back */
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    check_established(&l, PARLEY_NOISE_MODE_XX);
    for (int round = 0; round < 3; round++) {
        parley_noise_conn_trim(l.c);
        parley_noise_conn_trim(l.s);
        uint8_t up[300], down[40];
        memset(up, 'a' + round, sizeof up);
        memset(down, 'A' + round, sizeof down);
        size_t before_c = l.cs.frames, before_s = l.ss.frames;
        CHECK_RC(parley_noise_conn_send(l.c, up, sizeof up), PARLEY_OK);
        CHECK_RC(parley_noise_conn_send(l.s, down, sizeof down), PARLEY_OK);
        pump(l.c, l.s, &l.cs, &l.ss, 0);
        CHECK(l.ss.frames == before_s + 1 && l.ss.last_len == sizeof up &&
              memcmp(l.ss.last, up, sizeof up) == 0);
        CHECK(l.cs.frames == before_c + 1 && l.cs.last_len == sizeof down &&
              memcmp(l.cs.last, down, sizeof down) == 0);
        CHECK(l.cs.err == 0 && l.ss.err == 0);
    }
    /* Output queued but not written yet survives a trim. */
    static const uint8_t late[] = "<ack id='late'/>";
    CHECK_RC(parley_noise_conn_send(l.s, late, sizeof late), PARLEY_OK);
    parley_noise_conn_trim(l.s);
    parley_noise_conn_output(l.s, &p, &n);
    CHECK(n == 3 + sizeof late + 16);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    CHECK(l.cs.last_len == sizeof late && memcmp(l.cs.last, late, sizeof late) == 0);
    /* A frame handed out by next() stays valid across a trim. */
    static const uint8_t held[] = "<message id='held'/>";
    CHECK_RC(parley_noise_conn_send(l.c, held, sizeof held), PARLEY_OK);
    CHECK(pump_move(l.c, l.s, 0) > 0);
    CHECK_RC(parley_noise_conn_next(l.s, &ev), PARLEY_OK);
    CHECK(ev.type == PARLEY_NOISE_EV_FRAME && ev.len == sizeof held);
    parley_noise_conn_trim(l.s);
    CHECK(ev.len == sizeof held && memcmp(ev.data, held, sizeof held) == 0);
    CHECK_RC(parley_noise_conn_next(l.s, &ev), PARLEY_OK);
    CHECK(ev.type == PARLEY_NOISE_EV_NONE);
    link_free(&l);
}

/* Tampering with any handshake byte in flight fails the handshake. */
static void test_tamper_in_flight(void)
{
    for (int mode = 0; mode < 2; mode++) {
        for (size_t pos = 8; pos < 400; pos += 13) {
            link_t l;
            parley_noise_client_config cc = client_cfg(mode ? K.server_pub : NULL);
            parley_noise_server_config sc = server_cfg(K.cert);
            const uint8_t *p;
            size_t n, total = 0;
            int flipped = 0;
            CHECK(link_new(&l, &cc, &sc) == 0);
            for (int round = 0; round < 10; round++) {
                parley_noise_conn_output(l.c, &p, &n);
                if (n > 0) {
                    uint8_t tmp[2048];
                    memcpy(tmp, p, n);
                    /* Flip one byte of the client's stream, never a length header. */
                    if (!flipped && pos >= total && pos < total + n && pos >= 11 &&
                        !(total == 0 && pos < 11)) {
                        tmp[pos - total] ^= 0x20;
                        flipped = 1;
                    }
                    if (parley_noise_conn_feed(l.s, tmp, n) == PARLEY_OK)
                        parley_noise_conn_consume(l.c, n);
                    total += n;
                }
                pump_events(l.s, &l.ss);
                pump_move(l.s, l.c, 0);
                pump_events(l.c, &l.cs);
            }
            if (flipped) {
                int failed = l.cs.err != 0 || l.ss.err != 0 || !parley_noise_conn_established(l.s);
                /* A damaged IK message 1 is what a stale server key looks
                 * like: the server falls back, and XXfallback then
                 * authenticates everything afresh. */
                int fell_back = mode == 1 && parley_noise_conn_established(l.c) &&
                                parley_noise_conn_mode(l.c) == PARLEY_NOISE_MODE_XXFALLBACK &&
                                parley_noise_conn_mode(l.s) == PARLEY_NOISE_MODE_XXFALLBACK;
                CHECK(failed || fell_back);
            }
            link_free(&l);
        }
    }
}

static void test_transport_tamper(void)
{
    link_t l;
    parley_noise_client_config cc = client_cfg(NULL);
    parley_noise_server_config sc = server_cfg(K.cert);
    const uint8_t *p;
    size_t n;
    uint8_t tmp[256];
    CHECK(link_new(&l, &cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    CHECK(parley_noise_conn_established(l.s));
    CHECK_RC(parley_noise_conn_send(l.c, login, sizeof login), PARLEY_OK);
    parley_noise_conn_output(l.c, &p, &n);
    CHECK(n == 3 + sizeof login + 16 && n <= sizeof tmp);
    memcpy(tmp, p, n);
    tmp[10] ^= 1;
    CHECK_RC(parley_noise_conn_feed(l.s, tmp, n), PARLEY_OK);
    parley_noise_event ev;
    CHECK_RC(parley_noise_conn_next(l.s, &ev), PARLEY_ERR_NOISE_DECRYPT);
    CHECK(ev.type == PARLEY_NOISE_EV_NONE);
    CHECK_RC(parley_noise_conn_error(l.s), PARLEY_ERR_NOISE_DECRYPT);
    link_free(&l);
}

/* Both ends rekey each direction after rekey_every transport messages
 * (counted, not signalled): with the same value every frame arrives; a
 * receiver that does not rekey fails on the first frame after the point. */
static void test_rekey_schedule(void)
{
    link_t l;
    parley_noise_client_config cc = client_cfg(NULL);
    parley_noise_server_config sc = server_cfg(K.cert);
    cc.limits.rekey_every = 3;
    sc.limits.rekey_every = 3;
    CHECK(link_new(&l, &cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    for (uint8_t i = 0; i < 10; i++) {
        uint8_t up[2] = {'u', i}, down[2] = {'d', i};
        CHECK_RC(parley_noise_conn_send(l.c, up, sizeof up), PARLEY_OK);
        CHECK_RC(parley_noise_conn_send(l.s, down, sizeof down), PARLEY_OK);
        if (i % 2)
            CHECK_RC(parley_noise_conn_send(l.s, down, sizeof down), PARLEY_OK);
        pump(l.c, l.s, &l.cs, &l.ss, 0);
        CHECK(l.ss.last_len == 2 && l.ss.last[0] == 'u' && l.ss.last[1] == i);
        CHECK(l.cs.last_len == 2 && l.cs.last[0] == 'd' && l.cs.last[1] == i);
    }
    CHECK(l.ss.err == 0 && l.cs.err == 0);
    CHECK(l.ss.frames == 10 && l.cs.frames == 15);
    link_free(&l);

    /* The client rekeys after 3 messages, the server (default) does not. */
    cc.limits.rekey_every = 3;
    sc.limits.rekey_every = 0;
    CHECK(link_new(&l, &cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    for (int i = 0; i < 4; i++)
        CHECK_RC(parley_noise_conn_send(l.c, login, 8), PARLEY_OK);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    CHECK(l.ss.frames == 3);
    CHECK_RC(l.ss.err, PARLEY_ERR_NOISE_DECRYPT);
    link_free(&l);
}

static void test_timeout(void)
{
    parley_noise_conn *s = NULL, *c = NULL;
    parley_noise_server_config sc = server_cfg(K.cert);
    parley_noise_client_config cc = client_cfg(NULL);
    parley_noise_event ev;
    sc.limits.handshake_timeout_ms = 5000;
    cc.limits.handshake_timeout_ms = 5000;
    CHECK_RC(parley_noise_conn_new_server(&s, &sc), PARLEY_OK);
    CHECK_RC(parley_noise_conn_new_client(&c, &cc), PARLEY_OK);
    CHECK_RC(parley_noise_conn_start(s, 1000), PARLEY_OK);
    CHECK_RC(parley_noise_conn_start(c, 1000), PARLEY_OK);
    CHECK(parley_noise_conn_deadline(s) == 6000);
    /* The client's first flight arrives; the client then stalls. */
    CHECK(pump_move(c, s, 0) > 0);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_OK);
    CHECK_RC(parley_noise_conn_tick(s, 5999), PARLEY_OK);
    CHECK_RC(parley_noise_conn_tick(s, 6000), PARLEY_ERR_TIMEOUT);
    CHECK_RC(parley_noise_conn_next(s, &ev), PARLEY_ERR_TIMEOUT);
    CHECK_RC(parley_noise_conn_tick(c, 7000), PARLEY_ERR_TIMEOUT);
    parley_noise_conn_free(s);
    parley_noise_conn_free(c);

    /* An established connection does not time out. */
    link_t l;
    cc.limits.handshake_timeout_ms = 10;
    CHECK(link_new(&l, &cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    CHECK(parley_noise_conn_established(l.c));
    CHECK(parley_noise_conn_deadline(l.c) == UINT64_MAX);
    CHECK_RC(parley_noise_conn_tick(l.c, 1u << 30), PARLEY_OK);
    link_free(&l);
}

static void test_bounds(void)
{
    link_t l;
    parley_noise_client_config cc = client_cfg(NULL);
    parley_noise_server_config sc = server_cfg(K.cert);
    static uint8_t chunk[1000];
    cc.limits.max_frame = 1024;
    cc.limits.max_output = 4096;
    sc.limits.max_frame = 1024;
    sc.limits.max_input = 2048;
    CHECK(link_new(&l, &cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    CHECK(parley_noise_conn_established(l.c) && parley_noise_conn_established(l.s));

    /* Output bound: refusal when full, not sticky. */
    int sent = 0, rc;
    while ((rc = parley_noise_conn_send(l.c, chunk, sizeof chunk)) == PARLEY_OK)
        sent++;
    CHECK_RC(rc, PARLEY_ERR_BUFFER);
    CHECK(sent == 4096 / (3 + 1000 + 16));
    CHECK_RC(parley_noise_conn_error(l.c), PARLEY_OK);
    CHECK_RC(parley_noise_conn_send(l.c, chunk, 1009), PARLEY_ERR_FRAME_TOO_LARGE);
    CHECK_RC(parley_noise_conn_send(l.c, chunk, 1024 - 16), PARLEY_ERR_BUFFER);

    /* Input bound: feed refuses what does not fit and takes nothing. */
    const uint8_t *p;
    size_t n;
    parley_noise_conn_output(l.c, &p, &n);
    CHECK(n > 2048);
    CHECK_RC(parley_noise_conn_feed(l.s, p, n), PARLEY_ERR_BUFFER);
    CHECK(parley_noise_conn_input_space(l.s) == 2048);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    CHECK(l.ss.frames == (size_t)sent);
    CHECK(l.ss.err == 0);
    CHECK_RC(parley_noise_conn_send(l.c, chunk, sizeof chunk), PARLEY_OK);
    link_free(&l);

    /* A login larger than the server accepts. */
    static uint8_t big_login[5000];
    cc = client_cfg(NULL);
    cc.login = big_login;
    cc.login_len = sizeof big_login;
    sc = server_cfg(K.cert);
    CHECK(link_new(&l, &cc, &sc) == 0);
    pump(l.c, l.s, &l.cs, &l.ss, 0);
    CHECK_RC(l.ss.err, PARLEY_ERR_BUFFER);
    CHECK(!parley_noise_conn_established(l.s));
    link_free(&l);

    /* Limits that cannot hold a frame are refused at creation. */
    parley_noise_conn *c = NULL;
    cc = client_cfg(NULL);
    cc.limits.max_frame = 1024;
    cc.limits.max_input = 1000;
    CHECK_RC(parley_noise_conn_new_client(&c, &cc), PARLEY_ERR_INVALID_ARG);
    cc.limits.max_input = 0;
    cc.limits.max_frame = 100;
    CHECK_RC(parley_noise_conn_new_client(&c, &cc), PARLEY_ERR_INVALID_ARG);
    CHECK(c == NULL);
}

int main(void)
{
    if (test_keys_make(&K) < 0) {
        fprintf(stderr, "key setup failed\n");
        return 1;
    }
    test_xx();
    test_byte_by_byte();
    test_ik();
    test_fallback();
    test_cert_refusals();
    test_prologue();
    test_frames();
    test_tamper_in_flight();
    test_transport_tamper();
    test_rekey_schedule();
    test_timeout();
    test_bounds();
    test_trim();
    TEST_MAIN_END();
}

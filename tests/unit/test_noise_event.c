/*
 * The libevent glue over a real loopback TCP socket, client and server in
 * one process: XX, then IK with the key learnt from it, then XXfallback
 * after a stale key, frames both ways each time, and a stalled handshake
 * that the server times out. Every loop run is bounded by a timer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "check.h"
#include "test_noise_pump.h"
#include "parley/noise_event.h"

#define FRAMES 20

static test_keys K;
static struct event_base *base;
static const uint8_t login[] = "login: carol@example.org/2";

typedef struct {
    /* server side */
    parley_noise_bev *server;
    uint64_t server_timeout_ms;
    int server_established, server_frames, server_close_rc, server_closed;
    int login_ok;
    parley_noise_mode server_mode;
    /* client side */
    parley_noise_bev *client;
    int client_established, client_frames, client_close_rc, client_closed;
    int welcome_seen, pongs_ok;
    parley_noise_mode client_mode;
    uint8_t learnt_key[32];
    /* bulk: the client writes 16000-byte frames until its output is full */
    int bulk, bulk_sent, bulk_rc, bulk_recv;
} scenario;

static scenario S;

static void maybe_done(void)
{
    if (S.bulk && S.bulk_sent > 0 && S.bulk_recv == S.bulk_sent) {
        event_base_loopexit(base, NULL);
        return;
    }
    if ((!S.bulk && S.client_frames >= FRAMES + 1 && S.server_frames >= FRAMES) ||
        (S.server_closed && (S.client == NULL || S.client_closed)))
        event_base_loopexit(base, NULL);
}

static void server_established(parley_noise_bev *b, void *arg)
{
    const uint8_t *p;
    size_t n;
    (void)arg;
    S.server_established++;
    S.server_mode = parley_noise_conn_mode(parley_noise_bev_conn(b));
    if (parley_noise_conn_login(parley_noise_bev_conn(b), &p, &n) == PARLEY_OK && n == sizeof login &&
        memcmp(p, login, n) == 0)
        S.login_ok = 1;
    static const uint8_t welcome[] = "welcome";
    if (parley_noise_bev_send(b, welcome, sizeof welcome) < 0)
        S.server_close_rc = -999;
}

static void server_frame(parley_noise_bev *b, const uint8_t *data, size_t len, void *arg)
{
    uint8_t reply[128];
    (void)arg;
    S.server_frames++;
    if (S.bulk) {
        if (len == 16000 && data[0] == 0xb5 && data[15999] == 0xb5)
            S.bulk_recv++;
        maybe_done();
        return;
    }
    if (len + 6 > sizeof reply)
        return;
    memcpy(reply, "pong: ", 6);
    memcpy(reply + 6, data, len);
    if (parley_noise_bev_send(b, reply, len + 6) < 0)
        S.server_close_rc = -999;
    maybe_done();
}

static void server_close(parley_noise_bev *b, int rc, void *arg)
{
    (void)b;
    (void)arg;
    S.server_closed = 1;
    S.server_close_rc = rc;
    maybe_done();
}

static void client_send_ping(parley_noise_bev *b, int i)
{
    char msg[32];
    int n = snprintf(msg, sizeof msg, "ping %d", i);
    if (parley_noise_bev_send(b, (const uint8_t *)msg, (size_t)n) < 0)
        S.client_close_rc = -999;
}

static void client_established(parley_noise_bev *b, void *arg)
{
    (void)arg;
    S.client_established++;
    S.client_mode = parley_noise_conn_mode(parley_noise_bev_conn(b));
    if (parley_noise_conn_remote_static(parley_noise_bev_conn(b), S.learnt_key) < 0)
        S.client_close_rc = -998;
    if (S.bulk) {
        static uint8_t block[16000];
        memset(block, 0xb5, sizeof block);
        while ((S.bulk_rc = parley_noise_bev_send(b, block, sizeof block)) == PARLEY_OK &&
               S.bulk_sent < 1000)
            S.bulk_sent++;
        return;
    }
    for (int i = 0; i < FRAMES; i++)
        client_send_ping(b, i);
}

static void client_frame(parley_noise_bev *b, const uint8_t *data, size_t len, void *arg)
{
    (void)b;
    (void)arg;
    S.client_frames++;
    if (len == 8 && memcmp(data, "welcome", 8) == 0)
        S.welcome_seen = 1;
    else if (len > 11 && memcmp(data, "pong: ping ", 11) == 0)
        S.pongs_ok++;
    maybe_done();
}

static void client_close(parley_noise_bev *b, int rc, void *arg)
{
    (void)b;
    (void)arg;
    S.client_closed = 1;
    S.client_close_rc = rc;
    maybe_done();
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    parley_noise_server_config sc;
    parley_noise_conn *conn = NULL;
    (void)l;
    (void)sa;
    (void)len;
    (void)arg;
    memset(&sc, 0, sizeof sc);
    sc.static_priv = K.server_priv;
    sc.cert = K.cert;
    sc.cert_len = sizeof K.cert;
    sc.limits.handshake_timeout_ms = S.server_timeout_ms;
    static const parley_noise_bev_callbacks cb = {server_established, server_frame, server_close};
    if (parley_noise_conn_new_server(&conn, &sc) < 0 ||
        parley_noise_bev_new(&S.server, base, fd, conn, &cb, NULL) < 0) {
        S.server_close_rc = -997;
        S.server_closed = 1;
    }
}

static evutil_socket_t connect_to(uint16_t port)
{
    struct sockaddr_in sin;
    evutil_socket_t fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Loopback: the listener's backlog completes the connect at once. */
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        evutil_make_socket_nonblocking(fd) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void run_loop(void)
{
    struct timeval limit = {5, 0}; /* bound every run */
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
}

static void reset(void)
{
    parley_noise_bev_free(S.server);
    parley_noise_bev_free(S.client);
    uint8_t key[32];
    memcpy(key, S.learnt_key, 32);
    memset(&S, 0, sizeof S);
    memcpy(S.learnt_key, key, 32);
}

/* One client connection with an optional cached server key. */
static void run_client(uint16_t port, const uint8_t *server_static, parley_noise_mode want)
{
    parley_noise_client_config cc;
    parley_noise_conn *conn = NULL;
    memset(&cc, 0, sizeof cc);
    cc.static_priv = K.client_priv;
    cc.root_pub = K.root_pub;
    cc.server_static = server_static;
    cc.login = login;
    cc.login_len = sizeof login;
    cc.cert_time = 5000;
    cc.limits.handshake_timeout_ms = 5000;
    static const parley_noise_bev_callbacks cb = {client_established, client_frame, client_close};
    evutil_socket_t fd = connect_to(port);
    CHECK(fd >= 0);
    CHECK_RC(parley_noise_conn_new_client(&conn, &cc), PARLEY_OK);
    CHECK_RC(parley_noise_bev_new(&S.client, base, fd, conn, &cb, NULL), PARLEY_OK);
    run_loop();
    CHECK(S.client_established == 1 && S.server_established == 1);
    CHECK(S.client_mode == want && S.server_mode == want);
    CHECK(S.login_ok);
    CHECK(S.welcome_seen);
    CHECK(S.server_frames == FRAMES);
    CHECK(S.pongs_ok == FRAMES);
    CHECK(S.client_close_rc == 0 && S.server_close_rc == 0);
    CHECK_MEM(S.learnt_key, K.server_pub, 32);
    reset();
}

int main(void)
{
    struct sockaddr_in sin;
    socklen_t slen = sizeof sin;
    if (test_keys_make(&K) < 0)
        return 1;
    base = event_base_new();
    CHECK(base != NULL);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *l = evconnlistener_new_bind(
        base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
        (struct sockaddr *)&sin, sizeof sin);
    CHECK(l != NULL);
    if (l == NULL)
        TEST_MAIN_END();
    CHECK(getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &slen) == 0);
    uint16_t port = ntohs(sin.sin_port);

    /* First contact, then resumption with the key learnt, then a stale key. */
    run_client(port, NULL, PARLEY_NOISE_MODE_XX);
    uint8_t learnt[32];
    memcpy(learnt, S.learnt_key, 32);
    run_client(port, learnt, PARLEY_NOISE_MODE_IK);
    uint8_t stale[32], stale_priv[32];
    CHECK_RC(pc_x25519_keygen(stale, stale_priv), PARLEY_OK);
    run_client(port, stale, PARLEY_NOISE_MODE_XXFALLBACK);

    /* Bulk: more than the socket and the bufferevent take at once; the
     * connection's bounded output refuses the excess and the rest arrives. */
    S.bulk = 1;
    {
        parley_noise_client_config cc;
        parley_noise_conn *conn = NULL;
        memset(&cc, 0, sizeof cc);
        cc.static_priv = K.client_priv;
        cc.root_pub = K.root_pub;
        cc.cert_time = 5000;
        static const parley_noise_bev_callbacks cb = {client_established, client_frame,
                                                      client_close};
        evutil_socket_t cfd = connect_to(port);
        CHECK(cfd >= 0);
        CHECK_RC(parley_noise_conn_new_client(&conn, &cc), PARLEY_OK);
        CHECK_RC(parley_noise_bev_new(&S.client, base, cfd, conn, &cb, NULL), PARLEY_OK);
        run_loop();
        CHECK_RC(S.bulk_rc, PARLEY_ERR_BUFFER);
        /* 64 KiB in the bufferevent plus the default output bound of 4 frames. */
        CHECK(S.bulk_sent >= 16 && S.bulk_sent < 40);
        CHECK(S.bulk_recv == S.bulk_sent);
        reset();
    }

    /* A client that connects and says nothing: the server gives up at its deadline. */
    S.server_timeout_ms = 200;
    evutil_socket_t fd = connect_to(port);
    CHECK(fd >= 0);
    run_loop();
    CHECK(S.server_closed);
    CHECK_RC(S.server_close_rc, PARLEY_ERR_TIMEOUT);
    CHECK(S.server_established == 0);
    close(fd);
    reset();

    /* A client that sends garbage instead of the marker. */
    fd = connect_to(port);
    CHECK(fd >= 0);
    CHECK(write(fd, "GET / HTTP/1.1\r\n\r\n", 18) == 18);
    run_loop();
    CHECK(S.server_closed);
    CHECK_RC(S.server_close_rc, PARLEY_ERR_PROLOGUE);
    close(fd);
    reset();

    evconnlistener_free(l);
    event_base_free(base);
    TEST_MAIN_END();
}

/*
 * parley-provider in proxy mode (docs/interop-design.md "Proxy mode";
 * docs/parts/thirdparty.md section 4; DESIGN.md section 1: "a proxy run
 * by the provider sits between its clients and the gatekeeper: one
 * gatekeeper connection per client, the same lifetime as the client's
 * own connection, the client's IP passed on, used for interop only").
 *
 * One libevent loop. For each client: a Noise responder (the proxy's key
 * and certificate); once its handshake is done, the client's login is
 * rewritten to carry a proxy statement (client IP signed with the
 * provider's attestation key, bound to the proxy's gatekeeper connection)
 * and a Noise initiator connection to the gatekeeper is opened with it.
 * Frames then pass both ways unread; either side closing closes the other.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "parley/interop_proxy.h"
#include "parley/noise_cert.h"
#include "parley/noise_event.h"
#include "parley/stanza.h"
#include "provider/proxy.h"

enum {
    PX_PENDING_MAX = 64, /* client frames held until the gatekeeper login is done */
    PX_LINGER_MS = 200,  /* let a last frame (a failure) leave before the socket goes */
    PX_HANDSHAKE_MS = 10000,
};

typedef struct px_pair px_pair;

struct pp_proxy {
    pp_proxy_config cfg;
    struct event_base *base;
    struct evconnlistener *listener;
    uint8_t static_pub[32];
    size_t clients;
    uint64_t opened, refused;
};

struct px_pair {
    pp_proxy *px;
    parley_noise_bev *cl, *gk;
    parley_noise_conn *gk_conn; /* prepared, waiting for the TCP connect */
    int gk_fd;
    struct event *connect_ev, *linger_ev;
    char ip[PARLEY_PROXY_IP_TEXT_MAX];
    uint8_t ip_bin[16];
    uint8_t *pending[PX_PENDING_MAX];
    size_t pending_len[PX_PENDING_MAX];
    size_t npending;
    int gk_ready, closing;
};

/* A last stanza before closing: if it does not fit, the close says enough. */
static void send_last(parley_noise_bev *b, const char *stanza)
{
    if (b != NULL && parley_noise_bev_send(b, (const uint8_t *)stanza, strlen(stanza)) < 0)
        return;
}

static void pair_free(px_pair *p)
{
    if (p->connect_ev)
        event_free(p->connect_ev);
    if (p->linger_ev)
        event_free(p->linger_ev);
    if (p->cl)
        parley_noise_bev_free(p->cl);
    if (p->gk)
        parley_noise_bev_free(p->gk);
    else if (p->gk_fd >= 0)
        close(p->gk_fd);
    parley_noise_conn_free(p->gk_conn);
    for (size_t i = 0; i < p->npending; i++)
        free(p->pending[i]);
    p->px->clients--;
    free(p);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pair_free(arg);
}

/* Close both sides: stop relaying now, free after a short linger. Safe to
 * call from inside either bufferevent's callbacks. */
static void pair_close(px_pair *p, const char *why)
{
    if (p->closing)
        return;
    p->closing = 1;
    if (p->px->cfg.verbose)
        fprintf(stderr, "parley-provider proxy: %s: closed (%s)\n", p->ip, why);
    struct timeval tv = {0, PX_LINGER_MS * 1000};
    p->linger_ev = evtimer_new(p->px->base, on_linger, p);
    if (p->linger_ev == NULL || evtimer_add(p->linger_ev, &tv) != 0) {
        /* no timer: leak rather than free under a running callback */
        fprintf(stderr, "parley-provider proxy: out of memory\n");
    }
}

/* ---- gatekeeper side ---- */

static void gk_established(parley_noise_bev *b, void *arg)
{
    px_pair *p = arg;
    (void)b;
    p->gk_ready = 1;
    for (size_t i = 0; i < p->npending; i++) {
        if (!p->closing && parley_noise_bev_send(p->gk, p->pending[i], p->pending_len[i]) < 0)
            pair_close(p, "gatekeeper output full");
        free(p->pending[i]);
    }
    p->npending = 0;
}

static void gk_frame(parley_noise_bev *b, const uint8_t *data, size_t len, void *arg)
{
    px_pair *p = arg;
    (void)b;
    if (!p->closing && parley_noise_bev_send(p->cl, data, len) < 0)
        pair_close(p, "client output full");
}

static void gk_close(parley_noise_bev *b, int rc, void *arg)
{
    (void)b;
    (void)rc;
    pair_close(arg, "gatekeeper closed");
}

static const parley_noise_bev_callbacks gk_cb = {gk_established, gk_frame, gk_close};

/* ---- the login rewrite ---- */

/*
 * Parse the client's login payload, check it is a login or enlistment with
 * an attestation, and add the signed <proxy> element for this client IP
 * and this gatekeeper connection.
 */
static int rewrite_login(px_pair *p, const uint8_t client_key[32], const uint8_t *in, size_t n,
                         uint8_t **out, size_t *out_len)
{
    pp_proxy *px = p->px;
    parley_stanza *st = NULL, *child = NULL;
    int rc = PARLEY_ERR_INVALID_ARG;
    uint64_t dev = 0;
    parley_proxy_login pl;
    uint8_t sig[64];
    char b64[100];
    if (parley_stanza_parse(&st, in, n, NULL) != PARLEY_OK)
        goto out;
    int enlist = parley_stanza_is(st, "enlist");
    if (!enlist && !parley_stanza_is(st, "login"))
        goto out;
    const char *user = parley_stanza_attr(st, "user");
    if (user == NULL || strlen(user) > PARLEY_ATTEST_USER_MAX ||
        parley_stanza_child(st, "attestation") == NULL || parley_stanza_child(st, "proxy") != NULL)
        goto out;
    /* Interop traffic only: users of this provider's domain. */
    const char *dom = parley_attestation_domain(user);
    if (dom == NULL || strcmp(dom, px->cfg.domain) != 0)
        goto out;
    if (!enlist &&
        (parley_stanza_attr_u64(st, "device", &dev) != PARLEY_OK || dev == 0 || dev > 0x7fffffff))
        goto out;
    memset(&pl, 0, sizeof pl);
    snprintf(pl.provider, sizeof pl.provider, "%s", px->cfg.id);
    pl.key_id = px->cfg.key_id;
    snprintf(pl.user, sizeof pl.user, "%s", user);
    pl.device = (uint32_t)dev;
    memcpy(pl.conn_key, px->static_pub, 32);
    memcpy(pl.ip, p->ip_bin, 16);
    pl.t = (uint64_t)time(NULL);
    if ((rc = parley_proxy_login_sign(sig, &pl, px->cfg.attest_priv)) != PARLEY_OK)
        goto out;
    rc = PARLEY_ERR_NOMEM;
    if (parley_stanza_add_child(st, "proxy", &child) != PARLEY_OK ||
        parley_stanza_set_attr(child, "ip", p->ip) != PARLEY_OK ||
        parley_stanza_set_attr_u64(child, "t", pl.t) != PARLEY_OK ||
        parley_stanza_set_attr_u64(child, "key", pl.key_id) != PARLEY_OK)
        goto out;
    (void)phs_b64_encode(b64, sizeof b64, client_key, 32);
    if (parley_stanza_set_attr(child, "device-key", b64) != PARLEY_OK)
        goto out;
    (void)phs_b64_encode(b64, sizeof b64, sig, sizeof sig);
    if (parley_stanza_set_attr(child, "sig", b64) != PARLEY_OK)
        goto out;
    rc = parley_stanza_write_alloc(st, out, out_len);
out:
    parley_stanza_free(st);
    return rc;
}

static void on_gk_connected(evutil_socket_t fd, short what, void *arg);

/* ---- client side ---- */

static void cl_established(parley_noise_bev *b, void *arg)
{
    px_pair *p = arg;
    pp_proxy *px = p->px;
    parley_noise_conn *nc = parley_noise_bev_conn(b), *gc = NULL;
    uint8_t ck[32], *login = NULL;
    const uint8_t *lp = NULL;
    size_t ln = 0, newlen = 0;
    if (parley_noise_conn_remote_static(nc, ck) != PARLEY_OK ||
        parley_noise_conn_login(nc, &lp, &ln) != PARLEY_OK ||
        rewrite_login(p, ck, lp, ln, &login, &newlen) != PARLEY_OK) {
        send_last(b, "<failure reason=\"bad-login\"/>");
        px->refused++;
        pair_close(p, "bad login");
        return;
    }
    /* One gatekeeper connection for this client, opened now. */
    parley_noise_client_config cc = {.static_priv = px->cfg.static_priv,
                                     .static_pub = px->static_pub,
                                     .root_pub = px->cfg.gk_root_pub,
                                     .server_static =
                                         px->cfg.gk_has_static ? px->cfg.gk_static : NULL,
                                     .login = login,
                                     .login_len = newlen,
                                     .limits = {.handshake_timeout_ms = PX_HANDSHAKE_MS}};
    int rc = parley_noise_conn_new_client(&gc, &cc);
    free(login);
    if (rc != PARLEY_OK) {
        pair_close(p, "noise client");
        return;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(px->cfg.gk_port);
    inet_pton(AF_INET, px->cfg.gk_host, &sa.sin_addr);
    p->gk_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->gk_fd < 0 ||
        (connect(p->gk_fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)) {
        parley_noise_conn_free(gc);
        pair_close(p, "gatekeeper unreachable");
        return;
    }
    /* Non-blocking connect: the loop goes on serving other clients. */
    p->gk_conn = gc;
    p->connect_ev = event_new(px->base, p->gk_fd, EV_WRITE, on_gk_connected, p);
    struct timeval tv = {PX_HANDSHAKE_MS / 1000, 0};
    if (p->connect_ev == NULL || event_add(p->connect_ev, &tv) != 0)
        pair_close(p, "out of memory");
}

static void on_gk_connected(evutil_socket_t fd, short what, void *arg)
{
    px_pair *p = arg;
    parley_noise_conn *gc = p->gk_conn;
    int err = 0;
    socklen_t el = sizeof err;
    if (p->closing)
        return;
    if ((what & EV_TIMEOUT) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        send_last(p->cl, "<failure reason=\"server-busy\"/>");
        pair_close(p, "gatekeeper unreachable");
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    p->gk_conn = NULL; /* the bufferevent owns it from here */
    if (parley_noise_bev_new(&p->gk, p->px->base, fd, gc, &gk_cb, p) != PARLEY_OK) {
        /* parley_noise_bev_new owns fd and gc even on failure */
        p->gk = NULL;
        p->gk_fd = -1;
        pair_close(p, "gatekeeper connection");
        return;
    }
    p->px->opened++;
}

static void cl_frame(parley_noise_bev *b, const uint8_t *data, size_t len, void *arg)
{
    px_pair *p = arg;
    (void)b;
    if (p->closing)
        return;
    if (p->gk_ready) {
        if (parley_noise_bev_send(p->gk, data, len) < 0)
            pair_close(p, "gatekeeper output full");
        return;
    }
    if (p->npending >= PX_PENDING_MAX) {
        pair_close(p, "too many frames before login");
        return;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        pair_close(p, "out of memory");
        return;
    }
    memcpy(copy, data, len);
    p->pending[p->npending] = copy;
    p->pending_len[p->npending] = len;
    p->npending++;
}

static void cl_close(parley_noise_bev *b, int rc, void *arg)
{
    (void)b;
    (void)rc;
    pair_close(arg, "client closed");
}

static const parley_noise_bev_callbacks cl_cb = {cl_established, cl_frame, cl_close};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    pp_proxy *px = arg;
    px_pair *p = NULL;
    parley_noise_conn *nc = NULL;
    char ip[PARLEY_PROXY_IP_TEXT_MAX] = "";
    (void)l;
    (void)salen;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    if (px->clients >= px->cfg.max_clients || (p = calloc(1, sizeof *p)) == NULL) {
        evutil_closesocket(fd);
        return;
    }
    p->px = px;
    p->gk_fd = -1;
    px->clients++;
    if (parley_proxy_ip_parse(p->ip_bin, ip) != PARLEY_OK) {
        evutil_closesocket(fd);
        pair_free(p);
        return;
    }
    parley_proxy_ip_format(p->ip, p->ip_bin);
    parley_noise_server_config sc = {.static_priv = px->cfg.static_priv,
                                     .static_pub = px->static_pub,
                                     .cert = px->cfg.cert,
                                     .cert_len = px->cfg.cert_len,
                                     .limits = {.handshake_timeout_ms = PX_HANDSHAKE_MS}};
    if (parley_noise_conn_new_server(&nc, &sc) != PARLEY_OK) {
        evutil_closesocket(fd);
        pair_free(p);
        return;
    }
    if (parley_noise_bev_new(&p->cl, px->base, fd, nc, &cl_cb, p) != PARLEY_OK) {
        p->cl = NULL;
        pair_free(p);
    }
}

int pp_proxy_new(pp_proxy **out, struct event_base *base, const pp_proxy_config *cfg,
                 unsigned *port)
{
    pp_proxy *px = calloc(1, sizeof *px);
    struct sockaddr_in sa;
    if (px == NULL)
        return PARLEY_ERR_NOMEM;
    px->cfg = *cfg;
    if (px->cfg.max_clients == 0)
        px->cfg.max_clients = 1000;
    px->base = base;
    if (pc_x25519_public(px->static_pub, cfg->static_priv) != PARLEY_OK) {
        free(px);
        return PARLEY_ERR_INVALID_KEY;
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->listen, &sa.sin_addr) != 1) {
        free(px);
        return PARLEY_ERR_INVALID_ARG;
    }
    px->listener =
        evconnlistener_new_bind(base, on_accept, px, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
                                (struct sockaddr *)&sa, sizeof sa);
    if (px->listener == NULL) {
        free(px);
        return PARLEY_ERR_IO;
    }
    struct sockaddr_in bound;
    socklen_t bl = sizeof bound;
    getsockname(evconnlistener_get_fd(px->listener), (struct sockaddr *)&bound, &bl);
    *port = ntohs(bound.sin_port);
    *out = px;
    return PARLEY_OK;
}

void pp_proxy_free(pp_proxy *px)
{
    if (px == NULL)
        return;
    evconnlistener_free(px->listener);
    free(px);
}

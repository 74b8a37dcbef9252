/*
 * parley-provider in proxy mode, as a real program between a Noise client
 * and a stand-in gatekeeper (a Noise responder in this test, on
 * 127.0.0.1): the gatekeeper gets exactly one connection per client, with
 * the client's login carrying a proxy statement it can verify (client IP,
 * this connection's key, the client's device key), frames pass both ways,
 * closing the client closes the gatekeeper connection, and a login for a
 * user of another domain is refused without reaching the gatekeeper.
 * Argument: the parley-provider program.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "interop/httpsig.h"
#include "parley/interop_proxy.h"
#include "parley/noise_cert.h"
#include "parley/noise_event.h"
#include "parley/stanza.h"
#include "unit/check.h"

static struct event_base *base;
static uint8_t gk_root_pub[32], gk_root_priv[64], gk_priv[32], gk_pub[32], gk_cert[PARLEY_CERT_LEN];
static uint8_t px_root_pub[32], px_root_priv[64], px_priv[32], px_pub[32], px_cert[PARLEY_CERT_LEN];
static uint8_t att_pub[32], att_priv[64];
static uint8_t client_pub[32], client_priv[32];

/* The stand-in gatekeeper. */
typedef struct {
    parley_noise_bev *b;
    int established, closed, statement_ok, device_key_ok;
    char ip[64];
} gk_conn;
static gk_conn gks[4];
static int ngk;

static void gk_established(parley_noise_bev *b, void *arg)
{
    gk_conn *g = arg;
    parley_noise_conn *nc = parley_noise_bev_conn(b);
    uint8_t remote[32];
    const uint8_t *lp;
    size_t ln;
    parley_stanza *st = NULL;
    g->established = 1;
    if (parley_noise_conn_remote_static(nc, remote) != PARLEY_OK ||
        parley_noise_conn_login(nc, &lp, &ln) != PARLEY_OK ||
        parley_stanza_parse(&st, lp, ln, NULL) != PARLEY_OK)
        return;
    const parley_stanza *px = parley_stanza_child(st, "proxy");
    if (px != NULL) {
        const char *ip = parley_stanza_attr(px, "ip"), *sig64 = parley_stanza_attr(px, "sig"),
                   *dk64 = parley_stanza_attr(px, "device-key");
        uint64_t t = 0, key = 0, dev = 0;
        uint8_t sig[64], dk[32];
        size_t n1 = 0, n2 = 0;
        parley_proxy_login pl;
        memset(&pl, 0, sizeof pl);
        snprintf(g->ip, sizeof g->ip, "%s", ip ? ip : "");
        if (ip && sig64 && dk64 && parley_stanza_attr_u64(px, "t", &t) == PARLEY_OK &&
            parley_stanza_attr_u64(px, "key", &key) == PARLEY_OK &&
            parley_stanza_attr_u64(st, "device", &dev) == PARLEY_OK &&
            phs_b64_decode(sig, 64, &n1, sig64, strlen(sig64)) == PARLEY_OK && n1 == 64 &&
            phs_b64_decode(dk, 32, &n2, dk64, strlen(dk64)) == PARLEY_OK && n2 == 32 &&
            parley_proxy_ip_parse(pl.ip, ip) == PARLEY_OK) {
            static const char *const doms[] = {"birdy.example"};
            parley_attest_key k = {.key_id = 1};
            memcpy(k.pub, att_pub, 32);
            parley_attest_trust tr = {.provider = "birdy",
                                      .domains = doms,
                                      .domain_count = 1,
                                      .keys = &k,
                                      .key_count = 1};
            strcpy(pl.provider, "birdy");
            pl.key_id = (uint32_t)key;
            snprintf(pl.user, sizeof pl.user, "%s", parley_stanza_attr(st, "user"));
            pl.device = (uint32_t)dev;
            memcpy(pl.conn_key, remote, 32);
            pl.t = t;
            g->statement_ok = parley_proxy_login_verify(&pl, sig, &tr, remote,
                                                        (uint64_t)time(NULL)) == PARLEY_OK &&
                              memcmp(remote, px_pub, 32) == 0;
            g->device_key_ok = memcmp(dk, client_pub, 32) == 0;
        }
    }
    parley_stanza_free(st);
    static const char ok[] = "<success user=\"bob@birdy.example\" device=\"2\" t=\"1\"/>";
    if (parley_noise_bev_send(b, (const uint8_t *)ok, sizeof ok - 1) != PARLEY_OK)
        g->closed = -1;
}

static void gk_frame(parley_noise_bev *b, const uint8_t *data, size_t len, void *arg)
{
    (void)arg;
    if (parley_noise_bev_send(b, data, len) != PARLEY_OK) /* echo */
        fprintf(stderr, "echo failed\n");
}

static void gk_close(parley_noise_bev *b, int rc, void *arg)
{
    gk_conn *g = arg;
    (void)b;
    (void)rc;
    g->closed = 1;
}

static const parley_noise_bev_callbacks gk_cb = {gk_established, gk_frame, gk_close};

static void gk_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int sl,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)sl;
    (void)arg;
    parley_noise_conn *nc = NULL;
    parley_noise_server_config sc = {
        .static_priv = gk_priv, .static_pub = gk_pub, .cert = gk_cert, .cert_len = sizeof gk_cert};
    if (ngk >= 4 || parley_noise_conn_new_server(&nc, &sc) != PARLEY_OK) {
        evutil_closesocket(fd);
        return;
    }
    gk_conn *g = &gks[ngk++];
    if (parley_noise_bev_new(&g->b, base, fd, nc, &gk_cb, g) != PARLEY_OK)
        g->b = NULL;
}

/* The client. */
typedef struct {
    parley_noise_bev *b;
    int closed;
    int frames;
    char last[256];
} client;

static void cl_established(parley_noise_bev *b, void *arg)
{
    (void)b;
    (void)arg;
}

static void cl_frame(parley_noise_bev *b, const uint8_t *data, size_t len, void *arg)
{
    client *c = arg;
    (void)b;
    c->frames++;
    snprintf(c->last, sizeof c->last, "%.*s", (int)len, (const char *)data);
}

static void cl_close(parley_noise_bev *b, int rc, void *arg)
{
    client *c = arg;
    (void)b;
    (void)rc;
    c->closed = 1;
}

static const parley_noise_bev_callbacks cl_cb = {cl_established, cl_frame, cl_close};

static int connect_client(client *c, unsigned port, const char *login)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    evutil_make_socket_nonblocking(fd);
    parley_noise_conn *nc = NULL;
    parley_noise_client_config cc = {.static_priv = client_priv,
                                     .static_pub = client_pub,
                                     .root_pub = px_root_pub,
                                     .login = (const uint8_t *)login,
                                     .login_len = strlen(login)};
    memset(c, 0, sizeof *c);
    if (parley_noise_conn_new_client(&nc, &cc) != PARLEY_OK)
        return -1;
    return parley_noise_bev_new(&c->b, base, fd, nc, &cl_cb, c) == PARLEY_OK ? 0 : -1;
}

/* Turn the loop until cond holds, at most ~10 s. */
#define RUN_UNTIL(cond)                                                                            \
    do {                                                                                           \
        for (int spin_ = 0; spin_ < 1000 && !(cond); spin_++) {                                    \
            struct timeval tv_ = {0, 10000};                                                       \
            event_base_loopexit(base, &tv_);                                                       \
            event_base_dispatch(base);                                                             \
        }                                                                                          \
    } while (0)

static void hexs(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/parley-proxy-test-XXXXXX", path[3][200], hex[80], b64[100], gkaddr[64],
         gkroot[80];
    if (argc != 2 || mkdtemp(dir) == NULL)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    uint64_t now = (uint64_t)time(NULL);
    CHECK(parley_noise_root_keygen(gk_root_pub, gk_root_priv) == PARLEY_OK);
    CHECK(pc_x25519_keygen(gk_pub, gk_priv) == PARLEY_OK);
    CHECK(parley_noise_cert_issue(gk_cert, gk_root_priv, gk_pub, 1, now - 60, now + 3600) ==
          PARLEY_OK);
    CHECK(parley_noise_root_keygen(px_root_pub, px_root_priv) == PARLEY_OK);
    CHECK(pc_x25519_keygen(px_pub, px_priv) == PARLEY_OK);
    CHECK(parley_noise_cert_issue(px_cert, px_root_priv, px_pub, 1, now - 60, now + 3600) ==
          PARLEY_OK);
    CHECK(pc_ed25519_keygen(att_pub, att_priv) == PARLEY_OK);
    CHECK(pc_x25519_keygen(client_pub, client_priv) == PARLEY_OK);

    /* files in the formats parleyctl and parley-provider keygen write */
    snprintf(path[0], sizeof path[0], "%s/proxy.key", dir);
    snprintf(path[1], sizeof path[1], "%s/proxy.cert", dir);
    snprintf(path[2], sizeof path[2], "%s/attest.key", dir);
    FILE *f = fopen(path[0], "w");
    hexs(hex, px_priv, 32);
    if (f) {
        fprintf(f, "%s\n", hex);
        fclose(f);
    }
    f = fopen(path[1], "wb");
    if (f) {
        fwrite(px_cert, 1, sizeof px_cert, f);
        fclose(f);
    }
    f = fopen(path[2], "w");
    (void)phs_b64_encode(b64, sizeof b64, att_priv, 64);
    if (f) {
        fprintf(f, "%s\n", b64);
        fclose(f);
    }

    /* the stand-in gatekeeper */
    base = event_base_new();
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *l =
        evconnlistener_new_bind(base, gk_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                16, (struct sockaddr *)&sa, sizeof sa);
    CHECK(l != NULL);
    socklen_t sl = sizeof sa;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sa, &sl);
    snprintf(gkaddr, sizeof gkaddr, "127.0.0.1:%u", ntohs(sa.sin_port));
    hexs(gkroot, gk_root_pub, 32);

    /* the proxy */
    int pout[2];
    CHECK(pipe(pout) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pout[1], 1);
        close(pout[0]);
        execl(argv[1], argv[1], "proxy", "--id", "birdy", "--domain", "birdy.example", "--key",
              path[2], "--key-id", "1", "--listen", "127.0.0.1", "--port", "0", "--server-key",
              path[0], "--server-cert", path[1], "--gatekeeper", gkaddr, "--gatekeeper-root",
              gkroot, (char *)NULL);
        _exit(127);
    }
    close(pout[1]);
    char line[256];
    size_t n = 0;
    struct pollfd pf = {.fd = pout[0], .events = POLLIN};
    while (n + 1 < sizeof line && poll(&pf, 1, 10000) == 1) {
        if (read(pout[0], line + n, 1) <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
    const char *on = strstr(line, "proxying on 127.0.0.1:");
    CHECK(on != NULL);
    unsigned port = on ? (unsigned)strtoul(on + strlen("proxying on 127.0.0.1:"), NULL, 10) : 0;

    /* a client of the provider, through the proxy */
    client c1;
    const char *login = "<login user=\"bob@birdy.example\" device=\"2\" client=\"test/1\">"
                        "<attestation>UExBVA==</attestation></login>";
    CHECK(connect_client(&c1, port, login) == 0);
    RUN_UNTIL(c1.frames >= 1 || c1.closed);
    CHECK(c1.frames == 1 && strstr(c1.last, "<success") == c1.last);
    CHECK(ngk == 1 && gks[0].established);
    CHECK(gks[0].statement_ok);
    CHECK(gks[0].device_key_ok);
    CHECK(strcmp(gks[0].ip, "127.0.0.1") == 0);
    /* frames both ways, unchanged */
    static const char ping[] = "<iq id=\"p1\" type=\"get\"><ping/></iq>";
    CHECK(parley_noise_bev_send(c1.b, (const uint8_t *)ping, sizeof ping - 1) == PARLEY_OK);
    RUN_UNTIL(c1.frames >= 2);
    CHECK(c1.frames == 2 && strcmp(c1.last, ping) == 0);

    /* a second client gets a second gatekeeper connection */
    client c2;
    CHECK(connect_client(&c2, port, login) == 0);
    RUN_UNTIL(c2.frames >= 1 || c2.closed);
    CHECK(c2.frames == 1 && ngk == 2);

    /* the client goes: its gatekeeper connection goes with it, the other stays */
    parley_noise_bev_free(c1.b);
    c1.b = NULL;
    RUN_UNTIL(gks[0].closed);
    CHECK(gks[0].closed == 1);
    CHECK(gks[1].closed == 0);

    /* interop only: a user of another domain is refused at the proxy */
    client c3;
    CHECK(connect_client(&c3, port,
                         "<login user=\"eve@gk.example\" device=\"1\" client=\"t\">"
                         "<attestation>UExBVA==</attestation></login>") == 0);
    RUN_UNTIL(c3.closed);
    CHECK(c3.closed && strcmp(c3.last, "<failure reason=\"bad-login\"/>") == 0);
    /* and so is a login without an attestation */
    client c4;
    CHECK(connect_client(&c4, port,
                         "<login user=\"bob@birdy.example\" device=\"2\" client=\"t\"/>") == 0);
    RUN_UNTIL(c4.closed);
    CHECK(c4.closed && strstr(c4.last, "bad-login") != NULL);
    CHECK(ngk == 2);

    /* the gatekeeper closes: the proxy closes the client */
    parley_noise_bev_free(gks[1].b);
    gks[1].b = NULL;
    RUN_UNTIL(c2.closed);
    CHECK(c2.closed);

    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(pout[0]);
    if (c2.b)
        parley_noise_bev_free(c2.b);
    if (c3.b)
        parley_noise_bev_free(c3.b);
    if (c4.b)
        parley_noise_bev_free(c4.b);
    for (int i = 0; i < ngk; i++)
        if (gks[i].b)
            parley_noise_bev_free(gks[i].b);
    evconnlistener_free(l);
    event_base_free(base);
    snprintf(line, sizeof line, "rm -rf '%s'", dir);
    if (system(line) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_MAIN_END();
}

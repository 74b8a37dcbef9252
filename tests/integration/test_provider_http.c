/*
 * The gatekeeper's HTTP client to providers against a real HTTP server on
 * 127.0.0.1: signed requests verified by the receiver, retries with
 * backoff, the circuit breaker opening and closing again through a
 * half-open probe, timeouts, and a caller's loop that keeps turning while
 * a provider is down.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "unit/check.h"
#include "crypto/crypto.h"
#include "interop/gkhttp.h"
#include "interop/httpsig.h"

static uint8_t gk_pub[32], gk_priv[64];

/* The test provider's behaviour. */
enum { MODE_OK, MODE_FAIL, MODE_SLOW, MODE_FAIL_TWICE };
static atomic_int mode = MODE_OK;
static atomic_int hits, verified, bad_sig, fail_count;
static phs_replay *replay;
static pthread_mutex_t replay_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    char body[4096];
    size_t len;
} conn_state;

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    conn_state *st = *con_cls;
    if (st == NULL) {
        st = calloc(1, sizeof *st);
        *con_cls = st;
        return st ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (st->len + n > sizeof st->body)
            return MHD_NO;
        memcpy(st->body + st->len, upload, n);
        st->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&hits, 1);
    int m = atomic_load(&mode);
    if (m == MODE_FAIL)
        return respond(c, 503, "down");
    if (m == MODE_FAIL_TWICE && atomic_fetch_add(&fail_count, 1) < 2)
        return respond(c, 503, "down");
    if (m == MODE_SLOW)
        usleep(800 * 1000);
    const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, PHS_HEADER_NAME);
    phs_key k = {.key_id = "gk-1"};
    memcpy(k.pub, gk_pub, 32);
    phs_request req = {.method = method,
                       .path = url,
                       .audience = "birdy",
                       .body = (const uint8_t *)st->body,
                       .body_len = st->len};
    uint8_t sig[64];
    if (hdr == NULL || phs_verify(hdr, &req, &k, 1, (int64_t)time(NULL), 300, sig) != PARLEY_OK) {
        atomic_fetch_add(&bad_sig, 1);
        return respond(c, 401, "bad signature");
    }
    pthread_mutex_lock(&replay_mu);
    int rrc = phs_replay_check(replay, sig, (int64_t)time(NULL), 300);
    pthread_mutex_unlock(&replay_mu);
    if (rrc != PARLEY_OK)
        return respond(c, 409, "replay");
    atomic_fetch_add(&verified, 1);
    return respond(c, 200, "{\"ok\":true}");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static struct MHD_Daemon *start_server(uint16_t *port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                         NULL, handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                         MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa, MHD_OPTION_END);
    if (d) {
        const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        *port = i ? i->port : 0;
    }
    return d;
}

/* A loopback port with nothing listening on it. */
static uint16_t dead_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &sl) != 0) {
        if (s >= 0)
            close(s);
        return 1;
    }
    close(s);
    return ntohs(sa.sin_port);
}

typedef struct {
    int done;
    int rc;
    long status;
    unsigned attempts;
    char body[64];
} outcome;

static void on_done(void *arg, const pgk_http_result *r)
{
    outcome *o = arg;
    o->done = 1;
    o->rc = r->rc;
    o->status = r->status;
    o->attempts = r->attempts;
    snprintf(o->body, sizeof o->body, "%.*s", (int)r->body_len, (const char *)r->body);
}

/* The caller's loop: poll the completion fd, dispatch, count turns. Bounded
 * at 30 s so a bug fails the test instead of hanging it. */
static long run_until(pgk_http *h, outcome *o, int n)
{
    long turns = 0;
    for (int spins = 0; spins < 3000; spins++) {
        int all = 1;
        for (int i = 0; i < n; i++)
            all &= o[i].done;
        if (all)
            break;
        struct pollfd p = {.fd = pgk_http_fd(h), .events = POLLIN};
        (void)poll(&p, 1, 10);
        (void)pgk_http_dispatch(h);
        turns++;
    }
    return turns;
}

static pgk_http *client(unsigned attempts, uint32_t to_open, int64_t open_ms, long timeout_ms)
{
    pgk_http *h = NULL;
    pgk_http_config cfg = {
        .key_id = "gk-1",
        .priv = gk_priv,
        .connect_timeout_ms = 1000,
        .timeout_ms = timeout_ms,
        .max_attempts = attempts,
        .backoff_ms = 20,
        .backoff_max_ms = 80,
        .breaker = {.failures_to_open = to_open, .open_ms = open_ms, .open_max_ms = open_ms * 4}};
    if (pgk_http_new(&h, &cfg) != PARLEY_OK)
        return NULL;
    return h;
}

int main(void)
{
    uint16_t port = 0;
    char url[128], dead[128];
    if (pc_ed25519_keygen(gk_pub, gk_priv) != PARLEY_OK || phs_replay_new(&replay, 1024) != 0)
        return 1;
    struct MHD_Daemon *d = start_server(&port);
    CHECK(d != NULL && port != 0);
    if (d == NULL)
        TEST_MAIN_END();
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/push", port);
    snprintf(dead, sizeof dead, "http://127.0.0.1:%u/v1/push", dead_port());

    /* success: signed, verified by the receiver, one attempt */
    pgk_http *h = client(3, 3, 300, 3000);
    CHECK(h != NULL);
    outcome o[4];
    memset(o, 0, sizeof o);
    CHECK_RC(pgk_http_push(h, "birdy", url, "bob@birdy.example", 2, 3, on_done, &o[0]), PARLEY_OK);
    CHECK_RC(pgk_http_verify(h, "birdy", url, "bob@birdy.example", on_done, &o[1]), PARLEY_OK);
    run_until(h, o, 2);
    CHECK(o[0].done && o[0].rc == PARLEY_OK && o[0].status == 200 && o[0].attempts == 1);
    CHECK(strcmp(o[0].body, "{\"ok\":true}") == 0);
    CHECK(o[1].done && o[1].rc == PARLEY_OK);
    CHECK(atomic_load(&verified) == 2 && atomic_load(&bad_sig) == 0);

    /* a request signed for another provider is refused by this one */
    memset(o, 0, sizeof o);
    CHECK_RC(pgk_http_push(h, "tweety", url, "bob@birdy.example", 2, 3, on_done, &o[0]), PARLEY_OK);
    run_until(h, o, 1);
    CHECK(o[0].rc == PARLEY_ERR_HTTP_STATUS && o[0].status == 401 && o[0].attempts == 1);
    CHECK(atomic_load(&bad_sig) == 1);
    CHECK(pgk_http_breaker_state(h, "tweety") == PBR_CLOSED); /* 4xx: the provider is up */

    /* two 503s, then success: retried with backoff, each attempt signed afresh */
    atomic_store(&mode, MODE_FAIL_TWICE);
    atomic_store(&fail_count, 0);
    memset(o, 0, sizeof o);
    CHECK_RC(pgk_http_push(h, "birdy", url, "bob@birdy.example", 2, 1, on_done, &o[0]), PARLEY_OK);
    run_until(h, o, 1);
    CHECK(o[0].rc == PARLEY_OK && o[0].attempts == 3);
    pgk_http_stats st;
    pgk_http_get_stats(h, &st);
    CHECK(st.retries == 2 && st.in_queue == 0);
    pgk_http_free(h);

    /* provider down: connection refused, retries, the breaker opens, and
     * later calls are refused at once without touching the network; the
     * caller's loop turned all along */
    h = client(3, 3, 200, 3000);
    memset(o, 0, sizeof o);
    CHECK_RC(pgk_http_push(h, "birdy", dead, "bob@birdy.example", 1, 1, on_done, &o[0]), PARLEY_OK);
    long turns = run_until(h, o, 1);
    CHECK(o[0].rc == PARLEY_ERR_IO && o[0].attempts == 3);
    CHECK(turns >= 2); /* the loop kept turning while the worker retried */
    CHECK(pgk_http_breaker_state(h, "birdy") == PBR_OPEN);
    CHECK_RC(pgk_http_push(h, "birdy", dead, "bob@birdy.example", 1, 1, on_done, &o[1]), PARLEY_OK);
    run_until(h, o + 1, 1);
    CHECK(o[1].rc == PARLEY_ERR_HTTP_CIRCUIT_OPEN && o[1].attempts == 0);
    /* another provider is unaffected by birdy's breaker */
    CHECK(pgk_http_breaker_state(h, "tweety") == PBR_CLOSED);
    pgk_http_get_stats(h, &st);
    CHECK(st.breaker_opened == 1 && st.short_circuited == 1);
    pgk_http_free(h);

    /* the breaker opens on 503s, and a half-open probe closes it once the
     * provider is back */
    h = client(1, 2, 150, 3000);
    atomic_store(&mode, MODE_FAIL);
    memset(o, 0, sizeof o);
    CHECK_RC(pgk_http_push(h, "birdy", url, "a@birdy.example", 1, 1, on_done, &o[0]), PARLEY_OK);
    run_until(h, o, 1);
    CHECK_RC(pgk_http_push(h, "birdy", url, "a@birdy.example", 1, 1, on_done, &o[1]), PARLEY_OK);
    run_until(h, o + 1, 1);
    CHECK(o[0].rc == PARLEY_ERR_HTTP_STATUS && o[0].status == 503);
    CHECK(pgk_http_breaker_state(h, "birdy") == PBR_OPEN);
    atomic_store(&mode, MODE_OK);
    /* wait out the open period on the caller's own loop */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        (void)poll(NULL, 0, 20);
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 200);
    CHECK_RC(pgk_http_push(h, "birdy", url, "a@birdy.example", 1, 1, on_done, &o[2]), PARLEY_OK);
    run_until(h, o + 2, 1);
    CHECK(o[2].rc == PARLEY_OK);
    CHECK(pgk_http_breaker_state(h, "birdy") == PBR_CLOSED);
    pgk_http_free(h);

    /* a slow provider: the attempt times out */
    h = client(1, 5, 1000, 200);
    atomic_store(&mode, MODE_SLOW);
    memset(o, 0, sizeof o);
    CHECK_RC(pgk_http_push(h, "birdy", url, "a@birdy.example", 1, 1, on_done, &o[0]), PARLEY_OK);
    run_until(h, o, 1);
    CHECK(o[0].rc == PARLEY_ERR_TIMEOUT);
    atomic_store(&mode, MODE_OK);

    /* bad arguments are refused at submit, nothing queued */
    CHECK_RC(pgk_http_push(h, "birdy", "ftp://127.0.0.1/x", "a@b", 1, 1, on_done, &o[1]),
             PARLEY_ERR_INVALID_ARG);
    CHECK_RC(pgk_http_push(h, "birdy", url, "a\"b@c", 1, 1, on_done, &o[1]),
             PARLEY_ERR_INVALID_ARG);
    CHECK_RC(pgk_http_push(h, "birdy", "not a url", "a@b", 1, 1, on_done, &o[1]),
             PARLEY_ERR_INVALID_ARG);
    /* shutting down with a request in flight completes it with a state error */
    atomic_store(&mode, MODE_SLOW);
    memset(o, 0, sizeof o);
    pgk_http *h2 = client(1, 5, 1000, 5000);
    CHECK_RC(pgk_http_push(h2, "birdy", url, "a@birdy.example", 1, 1, on_done, &o[0]), PARLEY_OK);
    (void)poll(NULL, 0, 100);
    pgk_http_free(h2);
    CHECK(o[0].done && o[0].rc == PARLEY_ERR_STATE);
    pgk_http_free(h);
    atomic_store(&mode, MODE_OK);

    MHD_stop_daemon(d);
    phs_replay_free(replay);
    TEST_MAIN_END();
}

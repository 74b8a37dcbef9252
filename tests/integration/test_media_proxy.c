/*
 * The gatekeeper media proxy over loopback (src/mediahost/proxy.c):
 * every refusal the design asks for, each with its Parley-Error, and the
 * successful path with allow_loopback set explicitly. A small scripted
 * upstream server (below) plays the third-party host's bad behaviours and
 * records what the proxy sent it.
 */
#include <poll.h>
#include <pthread.h>

#include "test_media_util.h"

/* ---- a scripted upstream on 127.0.0.1 ------------------------------------------ */

static int up_listen = -1;
static uint16_t up_port;
static volatile int up_connections;
static char up_last_request[4096];
static pthread_mutex_t up_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t small_body[1000];

static void send_all(int s, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(s, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        b += w;
        n -= (size_t)w;
    }
}

/* Hold the connection open without sending, until the peer goes away. */
static void stall(int s)
{
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    char tmp[256];
    for (int i = 0; i < 300; i++) {
        if (poll(&pfd, 1, 100) > 0 && read(s, tmp, sizeof tmp) <= 0)
            return;
    }
}

static void *up_conn(void *arg)
{
    int s = (int)(intptr_t)arg;
    char req[4096], path[256], hdr[512];
    size_t got = 0;
    ssize_t r;
    while (got + 1 < sizeof req && (r = read(s, req + got, sizeof req - 1 - got)) > 0) {
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[got] = '\0';
    pthread_mutex_lock(&up_lock);
    snprintf(up_last_request, sizeof up_last_request, "%s", req);
    pthread_mutex_unlock(&up_lock);
    path[0] = '\0';
    sscanf(req, "GET %255s", path);
    if (strcmp(path, "/small") == 0) {
        snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                 sizeof small_body);
        send_all(s, hdr, strlen(hdr));
        send_all(s, small_body, sizeof small_body);
    } else if (strncmp(path, "/redirect-", 10) == 0) {
        const char *where = path + 10;
        char loc[300];
        if (strcmp(where, "private") == 0)
            snprintf(loc, sizeof loc, "http://10.0.0.1:%u/small", up_port);
        else if (strcmp(where, "offlist") == 0)
            snprintf(loc, sizeof loc, "http://media.evil.example/small");
        else if (strcmp(where, "file") == 0)
            snprintf(loc, sizeof loc, "file:///etc/passwd");
        else if (strcmp(where, "metadata") == 0)
            snprintf(loc, sizeof loc, "http://169.254.169.254/latest/meta-data/");
        else if (strcmp(where, "loop") == 0)
            snprintf(loc, sizeof loc, "/redirect-loop");
        else
            snprintf(loc, sizeof loc, "http://127.0.0.1:%u/small", up_port);
        snprintf(hdr, sizeof hdr,
                 "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 5\r\nConnection: "
                 "close\r\n\r\nmoved",
                 loc);
        send_all(s, hdr, strlen(hdr));
    } else if (strcmp(path, "/big") == 0) {
        snprintf(hdr, sizeof hdr,
                 "HTTP/1.1 200 OK\r\nContent-Length: 200001\r\nConnection: close\r\n\r\n");
        send_all(s, hdr, strlen(hdr));
    } else if (strcmp(path, "/big-unannounced") == 0) {
        snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        send_all(s, hdr, strlen(hdr));
        for (int i = 0; i < 250; i++)
            send_all(s, small_body, sizeof small_body);
    } else if (strcmp(path, "/slow-headers") == 0) {
        stall(s);
    } else if (strcmp(path, "/slow-body") == 0) {
        snprintf(hdr, sizeof hdr,
                 "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n");
        send_all(s, hdr, strlen(hdr));
        send_all(s, small_body, 100);
        stall(s);
    } else {
        snprintf(hdr, sizeof hdr,
                 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        send_all(s, hdr, strlen(hdr));
    }
    close(s);
    return NULL;
}

static void *up_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int s = accept(up_listen, NULL, NULL);
        if (s < 0)
            return NULL;
        __atomic_add_fetch(&up_connections, 1, __ATOMIC_SEQ_CST);
        pthread_t t;
        if (pthread_create(&t, NULL, up_conn, (void *)(intptr_t)s) == 0)
            pthread_detach(t);
        else
            close(s);
    }
}

static void up_start(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof a;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    up_listen = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(up_listen >= 0 && bind(up_listen, (struct sockaddr *)&a, sizeof a) == 0 &&
          listen(up_listen, 64) == 0 &&
          getsockname(up_listen, (struct sockaddr *)&a, &al) == 0);
    up_port = ntohs(a.sin_port);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, up_accept, NULL) == 0);
    pthread_detach(t);
}

/* ---- proxies ------------------------------------------------------------------ */

static time_t fake_now = 1700000000;
static time_t test_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

/* The sending provider's media hosts. "example" knows only 10.0.0.1 and
 * the loopback names; every other provider has none. */
static int test_allow(void *ctx, const char *provider, const char *host, unsigned port)
{
    (void)ctx;
    (void)port;
    if (provider != NULL && strcmp(provider, "example") != 0)
        return 0;
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0 || strcmp(host, "10.0.0.1") == 0 ||
           strcmp(host, "169.254.169.254") == 0;
}

static char dir[64], cache[128];

static const char *proxy_ca_file; /* trust anchors for https upstreams */

static pmh_proxy *proxy_start(int allow_loopback, unsigned burst, const char *cache_dir)
{
    pmh_proxy_config cfg = {0};
    cfg.ca_file = proxy_ca_file;
    pmh_proxy *p = NULL;
    cfg.bind_addr = "127.0.0.1";
    cfg.allow_loopback = allow_loopback;
    cfg.max_blob_size = 200000;
    cfg.low_speed_limit = 1000;
    cfg.low_speed_time = 2;
    cfg.total_timeout = 30;
    cfg.rate_burst = burst;
    cfg.rate_per_minute = 1;
    cfg.cache_dir = cache_dir;
    cfg.auth = test_auth;
    cfg.allow = test_allow;
    cfg.clock = test_clock;
    CHECK_RC(pmh_proxy_start(&p, &cfg), PARLEY_OK);
    return p;
}

/* Ask proxy `pport` for `target`; returns the status. */
static long via(uint16_t pport, const char *token, const char *target, const char *provider,
                membuf *m)
{
    char url[PMH_URL_MAX];
    CURL *c = curl_easy_init();
    char *esc = curl_easy_escape(c, target, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/proxy?url=%s%s%s", pport, esc,
             provider ? "&provider=" : "", provider ? provider : "");
    curl_free(esc);
    curl_easy_cleanup(c);
    return http_mem("GET", url, token, NULL, m, NULL);
}

static int expect_refusal(uint16_t pport, const char *target, long status, const char *error)
{
    membuf m = {0};
    long st = via(pport, "alice-token", target, NULL, &m);
    free(m.p);
    int ok = st == status && strcmp(http_last_error, error) == 0;
    if (!ok)
        fprintf(stderr, "%s: got %ld %s, want %ld %s\n", target, st, http_last_error, status,
                error);
    return ok;
}

static void test_refusals(uint16_t pport, uint16_t default_port)
{
    char t[300];
    membuf m = {0};
    /* authentication first */
    snprintf(t, sizeof t, "http://127.0.0.1:%u/small", up_port);
    CHECK(via(pport, NULL, t, NULL, &m) == 401 && strcmp(http_last_error, "unauthorized") == 0);
    CHECK(via(pport, "mallory-token", t, NULL, &m) == 401);

    /* the default configuration refuses loopback, however it is spelt,
     * without ever connecting */
    int before = up_connections;
    snprintf(t, sizeof t, "http://127.0.0.1:%u/small", up_port);
    CHECK(expect_refusal(default_port, t, 403, "address_refused"));
    snprintf(t, sizeof t, "http://[::1]:%u/small", up_port);
    CHECK(expect_refusal(default_port, t, 403, "address_refused"));
    snprintf(t, sizeof t, "http://localhost:%u/small", up_port);
    CHECK(expect_refusal(default_port, t, 403, "address_refused"));
    snprintf(t, sizeof t, "http://LOCALHOST:%u/small", up_port);
    CHECK(expect_refusal(default_port, t, 403, "address_refused"));
    /* internal ranges are refused even with allow_loopback */
    CHECK(expect_refusal(pport, "http://10.0.0.1/small", 403, "address_refused"));
    CHECK(expect_refusal(pport, "http://169.254.169.254/latest/meta-data/", 403,
                         "address_refused"));
    CHECK(up_connections == before);

    /* hosts off the provider's allow-list */
    snprintf(t, sizeof t, "http://127.0.0.2:%u/small", up_port);
    CHECK(expect_refusal(pport, t, 403, "host_not_allowed"));
    CHECK(expect_refusal(pport, "https://media.evil.example/blob", 403, "host_not_allowed"));
    snprintf(t, sizeof t, "http://127.0.0.1:%u/small", up_port);
    CHECK(via(pport, "alice-token", t, "other-provider", &m) == 403 &&
          strcmp(http_last_error, "host_not_allowed") == 0);

    /* schemes other than http and https, and malformed URLs */
    CHECK(expect_refusal(pport, "file:///etc/passwd", 403, "scheme_refused"));
    CHECK(expect_refusal(pport, "FILE:///etc/passwd", 403, "scheme_refused"));
    CHECK(expect_refusal(pport, "ftp://127.0.0.1/blob", 403, "scheme_refused"));
    CHECK(expect_refusal(pport, "gopher://127.0.0.1/", 403, "scheme_refused"));
    CHECK(expect_refusal(pport, "dict://127.0.0.1:11211/stats", 403, "scheme_refused"));
    CHECK(expect_refusal(pport, "data:text/plain,hello", 403, "scheme_refused"));
    CHECK(expect_refusal(pport, "not a url", 400, "bad_url"));
    CHECK(expect_refusal(pport, "//127.0.0.1/small", 400, "bad_url"));
    snprintf(t, sizeof t, "http://user:pw@127.0.0.1:%u/small", up_port);
    CHECK(expect_refusal(pport, t, 400, "bad_url"));
    CHECK(up_connections == before);

    /* redirects: each hop is checked like the first */
    snprintf(t, sizeof t, "http://127.0.0.1:%u/redirect-private", up_port);
    CHECK(expect_refusal(pport, t, 403, "redirect_address_refused"));
    snprintf(t, sizeof t, "http://127.0.0.1:%u/redirect-metadata", up_port);
    CHECK(expect_refusal(pport, t, 403, "redirect_address_refused"));
    snprintf(t, sizeof t, "http://127.0.0.1:%u/redirect-offlist", up_port);
    CHECK(expect_refusal(pport, t, 403, "redirect_host_not_allowed"));
    snprintf(t, sizeof t, "http://127.0.0.1:%u/redirect-file", up_port);
    CHECK(expect_refusal(pport, t, 403, "redirect_scheme_refused"));
    snprintf(t, sizeof t, "http://127.0.0.1:%u/redirect-loop", up_port);
    CHECK(expect_refusal(pport, t, 502, "too_many_redirects"));

    /* size and speed limits */
    snprintf(t, sizeof t, "http://127.0.0.1:%u/big", up_port);
    CHECK(expect_refusal(pport, t, 502, "too_large"));
    snprintf(t, sizeof t, "http://127.0.0.1:%u/big-unannounced", up_port);
    CHECK(via(pport, "alice-token", t, NULL, &m) == -1); /* cut off mid-body */
    CHECK(m.n <= 200000);
    snprintf(t, sizeof t, "http://127.0.0.1:%u/slow-headers", up_port);
    CHECK(expect_refusal(pport, t, 504, "too_slow"));
    snprintf(t, sizeof t, "http://127.0.0.1:%u/slow-body", up_port);
    CHECK(via(pport, "alice-token", t, NULL, &m) == -1); /* cut off mid-body */
    CHECK(m.n < 100000);

    /* upstream statuses */
    snprintf(t, sizeof t, "http://127.0.0.1:%u/missing", up_port);
    CHECK(expect_refusal(pport, t, 404, "upstream_not_found"));
    /* nothing listening */
    CHECK(expect_refusal(pport, "http://127.0.0.1:1/small", 502, "upstream_unreachable"));
    free(m.p);
}

/* Case-insensitive substring test (strcasestr is a GNU extension). */
static int ci_has(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

static void test_success(uint16_t pport)
{
    char t[300];
    membuf m = {0};
    /* through a redirect that stays on the list */
    snprintf(t, sizeof t, "http://127.0.0.1:%u/redirect-ok", up_port);
    http_extra_header = "X-Forwarded-For: 192.0.2.55";
    CHECK(via(pport, "alice-token", t, "example", &m) == 200);
    http_extra_header = NULL;
    CHECK(m.n == sizeof small_body && memcmp(m.p, small_body, m.n) == 0);
    /* the provider sees the proxy, not the user */
    pthread_mutex_lock(&up_lock);
    CHECK(strstr(up_last_request, "GET /small ") != NULL);
    CHECK(ci_has(up_last_request, "forwarded") == 0);
    CHECK(ci_has(up_last_request, "192.0.2.55") == 0);
    CHECK(ci_has(up_last_request, "via:") == 0);
    CHECK(ci_has(up_last_request, "authorization") == 0);
    CHECK(ci_has(up_last_request, "alice") == 0);
    CHECK(strstr(up_last_request, "User-Agent: parley-media-proxy/1") != NULL);
    pthread_mutex_unlock(&up_lock);
    free(m.p);
}

/* Blobs from a real media host, and the cache. */
static void test_host_and_cache(uint16_t pport)
{
    char store[128], path[256], base[64], url[PMH_URL_MAX];
    uint8_t sha[32];
    size_t n = 0;
    membuf m = {0};
    pmh_host_config hc = {0};
    pmh_host *h = NULL;
    snprintf(store, sizeof store, "%s/host", dir);
    hc.dir = store;
    hc.bind_addr = "127.0.0.1";
    hc.auth = test_auth;
    CHECK_RC(pmh_host_start(&h, &hc), PARLEY_OK);
    if (h == NULL)
        return;
    CHECK(make_file(path, sizeof path, dir, "blob", 150000, 9) == 0);
    CHECK(sha256_file(path, sha) == 0);
    uint8_t *want = read_file(path, &n);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", pmh_host_port(h));
    int fd = open(path, O_RDONLY);
    CHECK_RC(pmh_client_upload(base, "bob-token", fd, n, sha, 0, 3, NULL, NULL, 0, url,
                               sizeof url),
             PARLEY_OK);
    close(fd);
    int cached = count_files(cache);
    CHECK(via(pport, "alice-token", url, "example", &m) == 200);
    CHECK(m.n == n && memcmp(m.p, want, n) == 0);
    CHECK(strcmp(http_last_cache, "") == 0);
    CHECK(count_files(cache) == cached + 1);
    /* the host forgets the blob; the proxy still has it */
    CHECK(http_mem("DELETE", url, "bob-token", NULL, &m, NULL) == 204);
    CHECK(via(pport, "alice-token", url, "example", &m) == 200);
    CHECK(m.n == n && memcmp(m.p, want, n) == 0);
    CHECK(strcmp(http_last_cache, "hit") == 0);
    /* a host that is not on the list is refused before the cache */
    CHECK(via(pport, "alice-token", url, "other-provider", &m) == 403);
    pmh_host_stop(h);
    free(want);
    free(m.p);
}

static void test_rate_limit(void)
{
    pmh_proxy *p = proxy_start(1, 3, NULL);
    if (p == NULL)
        return;
    uint16_t port = pmh_proxy_port(p);
    membuf m = {0};
    char t[300];
    snprintf(t, sizeof t, "http://127.0.0.1:%u/small", up_port);
    for (int i = 0; i < 3; i++)
        CHECK(via(port, "alice-token", t, NULL, &m) == 200);
    CHECK(via(port, "alice-token", t, NULL, &m) == 429);
    CHECK(strcmp(http_last_error, "rate_limited") == 0);
    CHECK(via(port, "bob-token", t, NULL, &m) == 200); /* per user */
    fake_now += 60;                                   /* one more per minute */
    CHECK(via(port, "alice-token", t, NULL, &m) == 200);
    CHECK(via(port, "alice-token", t, NULL, &m) == 429);
    pmh_proxy_stop(p);
    free(m.p);
}

/* An https upstream: fetched with certificate verification. */
static void test_https_upstream(void)
{
    char cert[200], key[200], cmd[800], store[128], path[256], base[64], url[PMH_URL_MAX];
    uint8_t sha[32];
    size_t n = 0;
    membuf m = {0};
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout '%s' -out '%s' -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 2>/dev/null",
             key, cert);
    if (system(cmd) != 0) {
        printf("no openssl command: https upstream not tested\n");
        return;
    }
    pmh_host_config hc = {0};
    pmh_host *h = NULL;
    snprintf(store, sizeof store, "%s/tlshost", dir);
    hc.dir = store;
    hc.bind_addr = "127.0.0.1";
    hc.auth = test_auth;
    hc.tls_cert_file = cert;
    hc.tls_key_file = key;
    if (pmh_host_start(&h, &hc) != PARLEY_OK) {
        printf("no TLS in libmicrohttpd: https upstream not tested\n");
        return;
    }
    CHECK(make_file(path, sizeof path, dir, "tlsblob", 70000, 11) == 0);
    CHECK(sha256_file(path, sha) == 0);
    uint8_t *want = read_file(path, &n);
    snprintf(base, sizeof base, "https://127.0.0.1:%u", pmh_host_port(h));
    int fd = open(path, O_RDONLY);
    CHECK_RC(pmh_client_upload(base, "bob-token", fd, n, sha, 0, 3, cert, NULL, 0, url,
                               sizeof url),
             PARLEY_OK);
    close(fd);
    /* a proxy that trusts the host's certificate */
    proxy_ca_file = cert;
    pmh_proxy *p = proxy_start(1, 100, NULL);
    proxy_ca_file = NULL;
    if (p != NULL) {
        CHECK(via(pmh_proxy_port(p), "alice-token", url, NULL, &m) == 200);
        CHECK(m.n == n && memcmp(m.p, want, n) == 0);
        pmh_proxy_stop(p);
    }
    /* one that does not */
    p = proxy_start(1, 100, NULL);
    if (p != NULL) {
        CHECK(via(pmh_proxy_port(p), "alice-token", url, NULL, &m) == 502);
        CHECK(strcmp(http_last_error, "upstream_tls") == 0);
        pmh_proxy_stop(p);
    }
    pmh_host_stop(h);
    free(want);
    free(m.p);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (size_t i = 0; i < sizeof small_body; i++)
        small_body[i] = (uint8_t)(i * 31 + 7);
    snprintf(dir, sizeof dir, "/tmp/parley-mproxy-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    up_start();
    pmh_proxy *p = proxy_start(1, 1000, cache);
    pmh_proxy *pd = proxy_start(0, 1000, NULL);
    if (p != NULL && pd != NULL) {
        test_refusals(pmh_proxy_port(p), pmh_proxy_port(pd));
        test_success(pmh_proxy_port(p));
        test_host_and_cache(pmh_proxy_port(p));
        test_rate_limit();
        test_https_upstream();
    }
    pmh_proxy_stop(p);
    pmh_proxy_stop(pd);
    rm_rf(dir);
    curl_global_cleanup();
    TEST_MAIN_END();
}

/*
 * parley-provider driven over loopback HTTP as a real program: key and
 * user files made by its own subcommands, log in, attestations that the
 * gatekeeper's verifier accepts, the gatekeeper's signed push wake-ups
 * and verification calls (through the gatekeeper's own HTTP client),
 * refusal of unsigned, foreign and replayed calls, and the long-poll.
 * Argument: the parley-provider program.
 */
#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "interop/gkhttp.h"
#include "interop/httpsig.h"
#include "parley/attestation.h"
#include "unit/check.h"

static const char *prog;
static char dir[] = "/tmp/parley-provider-test-XXXXXX";
static char base[128];
static uint8_t gk_pub[32], gk_priv[64];

/* Run prog with args, stdin from `in` (may be NULL), stdout into out. */
static int run(char *const argv[], const char *in, char *out, size_t out_max)
{
    int pin[2], pout[2];
    if (pipe(pin) != 0 || pipe(pout) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        close(pin[1]);
        close(pout[0]);
        execv(prog, argv);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    if (in && write(pin[1], in, strlen(in)) < 0)
        fprintf(stderr, "write to child failed\n");
    close(pin[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < out_max && (r = read(pout[0], out + n, out_max - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(pout[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct {
    char data[8192];
    size_t len;
} resp;

static size_t on_data(char *p, size_t s, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = s * n;
    if (r->len + len >= sizeof r->data)
        return 0;
    memcpy(r->data + r->len, p, len);
    r->len += len;
    r->data[r->len] = 0;
    return len;
}

/* A blocking HTTP call (the test is the client; the program under test is
 * the server). Returns the status, 0 on transport failure. */
static long http(const char *method, const char *path, const char *body, const char *h1,
                 const char *h2, resp *out)
{
    char url[256];
    long status = 0;
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    if (h1)
        hl = curl_slist_append(hl, h1);
    if (h2)
        hl = curl_slist_append(hl, h2);
    memset(out, 0, sizeof *out);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return status;
}

/* The value of a JSON string member, naively (the test knows the shape). */
static int json_str(const char *json, const char *key, char *out, size_t max)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (p == NULL)
        return -1;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= max)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
    return 0;
}

typedef struct {
    int done, rc;
    long status;
} outcome;

static void on_done(void *arg, const pgk_http_result *r)
{
    outcome *o = arg;
    o->done = 1;
    o->rc = r->rc;
    o->status = r->status;
}

static void wait_for(pgk_http *h, outcome *o)
{
    for (int i = 0; i < 2000 && !o->done; i++) {
        struct pollfd p = {.fd = pgk_http_fd(h), .events = POLLIN};
        (void)poll(&p, 1, 10);
        (void)pgk_http_dispatch(h);
    }
}

static char token[128];

static void *longpoll(void *arg)
{
    resp *r = arg;
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    long st = http("GET", "/v1/wakeups?timeout=20", NULL, auth, NULL, r);
    return (void *)(intptr_t)st;
}

int main(int argc, char **argv)
{
    char out[4096], keyf[160], usersf[160], pub64[64], gkspec[160], b64[64];
    resp r;
    if (argc != 2 || mkdtemp(dir) == NULL)
        return 2;
    prog = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(keyf, sizeof keyf, "%s/attest.key", dir);
    snprintf(usersf, sizeof usersf, "%s/users", dir);

    /* subcommands */
    char *kg[] = {(char *)prog, "keygen", keyf, NULL};
    CHECK(run(kg, NULL, out, sizeof out) == 0);
    snprintf(pub64, sizeof pub64, "%.*s", (int)strcspn(out, "\n"), out);
    CHECK(strlen(pub64) == 44);
    CHECK(run(kg, NULL, out, sizeof out) != 0); /* never overwrites a key */
    char *pk[] = {(char *)prog, "pubkey", keyf, NULL};
    CHECK(run(pk, NULL, out, sizeof out) == 0 && strncmp(out, pub64, 44) == 0);
    char *pw[] = {(char *)prog, "passwd", usersf, "bob", NULL};
    CHECK(run(pw, "hunter2-correct\n", out, sizeof out) == 0);
    char *pw2[] = {(char *)prog, "passwd", usersf, "carol", NULL};
    CHECK(run(pw2, "carols-secret\n", out, sizeof out) == 0);
    char *pw3[] = {(char *)prog, "passwd", usersf, "Bad Name", NULL};
    CHECK(run(pw3, "x\n", out, sizeof out) != 0);

    /* configuration errors stop serve before it listens */
    char inif[160];
    snprintf(inif, sizeof inif, "%s/provider.ini", dir);
    FILE *f = fopen(inif, "w");
    if (f) {
        fprintf(f, "[provider]\nid = birdy\nport = not-a-number\n");
        fclose(f);
    }
    char *bad1[] = {(char *)prog, "serve", "--config", inif, NULL};
    CHECK(run(bad1, NULL, out, sizeof out) == 1);
    f = fopen(inif, "w");
    if (f) {
        fprintf(f, "[provider]\nid = birdy\ndomain = birdy.example\n[gatekeeper]\nwindow = 60\n");
        fclose(f);
    }
    char *bad2[] = {(char *)prog, "serve", "--config", inif, NULL}; /* no key or users file */
    CHECK(run(bad2, NULL, out, sizeof out) == 2);
    char *bad3[] = {(char *)prog, "serve", "--id",    "Birdy!", "--domain", "d",
                    "--key",      keyf,    "--users", usersf,   NULL};
    CHECK(run(bad3, NULL, out, sizeof out) == 2);
    char *bad4[] = {(char *)prog, "serve", "--gk-key", "nocolon", NULL};
    CHECK(run(bad4, NULL, out, sizeof out) == 2);

    /* serve, with the gatekeeper's key */
    CHECK(pc_ed25519_keygen(gk_pub, gk_priv) == PARLEY_OK);
    (void)phs_b64_encode(b64, sizeof b64, gk_pub, 32);
    snprintf(gkspec, sizeof gkspec, "gk-1:%s", b64);
    int pout[2];
    CHECK(pipe(pout) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pout[1], 1);
        close(pout[0]);
        execl(prog, prog, "serve", "--id", "birdy", "--domain", "birdy.example", "--listen",
              "127.0.0.1", "--port", "0", "--key", keyf, "--users", usersf, "--gk-key", gkspec,
              "--lifetime", "3600", (char *)NULL);
        _exit(127);
    }
    close(pout[1]);
    char line[256];
    size_t n = 0;
    struct pollfd pf = {.fd = pout[0], .events = POLLIN};
    while (n + 1 < sizeof line && poll(&pf, 1, 10000) == 1) {
        ssize_t k = read(pout[0], line + n, 1);
        if (k <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
    const char *at = strstr(line, "http://");
    CHECK(at != NULL);
    if (at == NULL) {
        kill(pid, SIGKILL);
        TEST_MAIN_END();
    }
    snprintf(base, sizeof base, "%s", at);

    CHECK(http("GET", "/v1/health", NULL, NULL, NULL, &r) == 200);
    CHECK(http("GET", "/nope", NULL, NULL, NULL, &r) == 404);

    /* log in */
    CHECK(http("POST", "/v1/login", "{\"user\":\"bob\",\"password\":\"wrong\"}", NULL, NULL, &r) ==
          401);
    CHECK(http("POST", "/v1/login", "{\"user\":\"nobody\",\"password\":\"x\"}", NULL, NULL, &r) ==
          401);
    CHECK(http("POST", "/v1/login", "not json", NULL, NULL, &r) == 400);
    CHECK(http("POST", "/v1/login",
               "{\"user\":\"bob@other.example\",\"password\":\"hunter2-correct\"}", NULL, NULL,
               &r) == 401);
    CHECK(http("POST", "/v1/login",
               "{\"user\":\"bob@birdy.example\",\"password\":\"hunter2-correct\"}", NULL, NULL,
               &r) == 200);
    CHECK(json_str(r.data, "token", token, sizeof token) == 0 && strlen(token) == 64);
    CHECK(strstr(r.data, "\"user\":\"bob@birdy.example\"") != NULL);
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    /* password guessing on one name is cut off (10 attempts, then 429);
     * another name is still served */
    /* The burst of 10 always passes; the bucket refills at one per 6 s, so
     * however slow the hashing on a busy machine, two refusals in a row
     * come within a few more attempts. */
    int attempts = 0, run = 0;
    while (attempts < 30 && run < 2) {
        long st = http("POST", "/v1/login", "{\"user\":\"carol\",\"password\":\"guess\"}", NULL,
                      NULL, &r);
        attempts++;
        run = st == 429 ? run + 1 : 0;
        if (attempts <= 10)
            CHECK(st == 401);
    }
    CHECK(run == 2);
    CHECK(http("POST", "/v1/login", "{\"user\":\"carol\",\"password\":\"carols-secret\"}", NULL,
               NULL, &r) == 429);

    /* attestation for this device's keys, accepted by the gatekeeper's verifier */
    uint8_t noise[32], ident[33];
    memset(noise, 0x31, sizeof noise);
    ident[0] = 5;
    memset(ident + 1, 0x42, 32);
    char nb[64], ib[64], body[512];
    (void)phs_b64_encode(nb, sizeof nb, noise, 32);
    (void)phs_b64_encode(ib, sizeof ib, ident, 33);
    snprintf(body, sizeof body, "{\"noise_key\":\"%s\",\"identity_key\":\"%s\"}", nb, ib);
    CHECK(http("POST", "/v1/attest", body, NULL, NULL, &r) == 401);
    CHECK(http("POST", "/v1/attest", body, "Authorization: Bearer 00", NULL, &r) == 401);
    CHECK(http("POST", "/v1/attest", "{\"noise_key\":\"AAAA\"}", auth, NULL, &r) == 400);
    CHECK(http("POST", "/v1/attest", body, auth, NULL, &r) == 200);
    char att64[600];
    uint8_t att[PARLEY_ATTEST_MAX_LEN];
    size_t attn = 0;
    CHECK(json_str(r.data, "attestation", att64, sizeof att64) == 0);
    CHECK(phs_b64_decode(att, sizeof att, &attn, att64, strlen(att64)) == PARLEY_OK);
    parley_attest_key k = {.key_id = 1};
    size_t pl = 0;
    CHECK(phs_b64_decode(k.pub, 32, &pl, pub64, 44) == PARLEY_OK && pl == 32);
    static const char *const doms[] = {"birdy.example"};
    parley_attest_trust t = {.provider = "birdy",
                             .domains = doms,
                             .domain_count = 1,
                             .keys = &k,
                             .key_count = 1,
                             .max_lifetime = 86400,
                             .skew = 60};
    parley_attestation a;
    CHECK_RC(parley_attestation_verify(&a, att, attn, &t, noise, ident, 33, (uint64_t)time(NULL)),
             PARLEY_OK);
    CHECK(strcmp(a.user, "bob@birdy.example") == 0 && a.expires - a.issued_at == 3600);
    noise[0] ^= 1;
    CHECK_RC(parley_attestation_verify(NULL, att, attn, &t, noise, ident, 33, (uint64_t)time(NULL)),
             PARLEY_ERR_ATTEST_KEY_MISMATCH);

    /* nothing waiting yet */
    CHECK(http("GET", "/v1/wakeups?timeout=0", NULL, auth, NULL, &r) == 200);
    CHECK(strcmp(r.data, "{\"wakeups\":[]}") == 0);

    /* a long-poll that a signed push wakes up */
    resp lp;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, longpoll, &lp) == 0);
    (void)poll(NULL, 0, 200);
    pgk_http *h = NULL;
    pgk_http_config cfg = {
        .key_id = "gk-1", .priv = gk_priv, .max_attempts = 1, .timeout_ms = 5000};
    CHECK_RC(pgk_http_new(&h, &cfg), PARLEY_OK);
    char push_url[200], verify_url[200];
    snprintf(push_url, sizeof push_url, "%s/v1/push", base);
    snprintf(verify_url, sizeof verify_url, "%s/v1/verify", base);
    outcome o = {0};
    CHECK_RC(pgk_http_push(h, "birdy", push_url, "bob@birdy.example", 2, 3, on_done, &o),
             PARLEY_OK);
    wait_for(h, &o);
    CHECK(o.rc == PARLEY_OK && o.status == 202);
    void *ret = NULL;
    pthread_join(th, &ret);
    CHECK((intptr_t)ret == 200);
    CHECK(strstr(lp.data, "\"device\":2,\"pending\":3") != NULL);
    /* delivered once */
    CHECK(http("GET", "/v1/wakeups?timeout=0", NULL, auth, NULL, &r) == 200);
    CHECK(strcmp(r.data, "{\"wakeups\":[]}") == 0);

    /* verification calls */
    memset(&o, 0, sizeof o);
    CHECK_RC(pgk_http_verify(h, "birdy", verify_url, "carol@birdy.example", on_done, &o),
             PARLEY_OK);
    wait_for(h, &o);
    CHECK(o.rc == PARLEY_OK && o.status == 200);
    memset(&o, 0, sizeof o);
    CHECK_RC(pgk_http_verify(h, "birdy", verify_url, "zed@birdy.example", on_done, &o), PARLEY_OK);
    wait_for(h, &o);
    CHECK(o.rc == PARLEY_ERR_HTTP_STATUS && o.status == 404);
    /* a push for someone unknown */
    memset(&o, 0, sizeof o);
    CHECK_RC(pgk_http_push(h, "birdy", push_url, "zed@birdy.example", 1, 1, on_done, &o),
             PARLEY_OK);
    wait_for(h, &o);
    CHECK(o.status == 404);
    /* signed for another provider: refused */
    memset(&o, 0, sizeof o);
    CHECK_RC(pgk_http_push(h, "tweety", push_url, "bob@birdy.example", 1, 1, on_done, &o),
             PARLEY_OK);
    wait_for(h, &o);
    CHECK(o.status == 401);
    pgk_http_free(h);

    /* unsigned, and replayed */
    const char *pb = "{\"user\":\"bob@birdy.example\",\"device\":1,\"pending\":1}";
    CHECK(http("POST", "/v1/push", pb, NULL, NULL, &r) == 401);
    char sig[PHS_HEADER_MAX], sh[PHS_HEADER_MAX + 32];
    phs_request sr = {.method = "POST",
                      .path = "/v1/push",
                      .audience = "birdy",
                      .body = (const uint8_t *)pb,
                      .body_len = strlen(pb)};
    CHECK(phs_sign(sig, &sr, "gk-1", (int64_t)time(NULL), gk_priv) == PARLEY_OK);
    snprintf(sh, sizeof sh, PHS_HEADER_NAME ": %s", sig);
    CHECK(http("POST", "/v1/push", pb, sh, "Content-Type: application/json", &r) == 202);
    CHECK(http("POST", "/v1/push", pb, sh, "Content-Type: application/json", &r) == 409);
    /* stale timestamp */
    CHECK(phs_sign(sig, &sr, "gk-1", (int64_t)time(NULL) - 3600, gk_priv) == PARLEY_OK);
    snprintf(sh, sizeof sh, PHS_HEADER_NAME ": %s", sig);
    CHECK(http("POST", "/v1/push", pb, sh, NULL, &r) == 401);
    /* body too large */
    char *big = malloc(20000);
    memset(big, 'a', 19999);
    big[19999] = 0;
    CHECK(http("POST", "/v1/login", big, NULL, NULL, &r) == 413);
    free(big);

    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(pout[0]);
    snprintf(out, sizeof out, "rm -rf '%s'", dir);
    if (system(out) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    curl_global_cleanup();
    TEST_MAIN_END();
}

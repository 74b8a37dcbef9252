/*
 * parley's HTTP calls to a third-party provider (docs/parts/thirdparty.md
 * section 7, the reference provider's API): log in with the user's
 * password, then have the device's keys attested. The password and the
 * token never reach a log line.
 */
#include "cli/parley/provider.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/crypto.h"
#include "interop/httpsig.h"
#include "util/buf.h"
#include "util/json.h"

enum { PV_BODY_MAX = 8192, PV_TIMEOUT_S = 15 };

typedef struct {
    char *p;
    size_t n;
    int over;
} body;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t k = size * nmemb;
    if (b->n + k > PV_BODY_MAX) {
        b->over = 1;
        return 0;
    }
    memcpy(b->p + b->n, ptr, k);
    b->n += k;
    return k;
}

/* POST json to base+path; the status, or -1 (err says why). */
static long post_json(const char *base, const char *path, const char *bearer, const char *json,
                      body *b, char *err, size_t err_max)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    char url[1200], auth[200];
    long status = -1;
    if (h == NULL) {
        snprintf(err, err_max, "no HTTP client");
        return -1;
    }
    snprintf(url, sizeof url, "%s%s", base, path);
    hd = curl_slist_append(hd, "Content-Type: application/json");
    if (bearer != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hd = curl_slist_append(hd, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)PV_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK)
        snprintf(err, err_max, "%s: %s", url,
                 b->over ? "answer too large" : curl_easy_strerror(cc));
    else
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    b->p[b->n] = '\0';
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    if (bearer != NULL)
        pc_wipe(auth, sizeof auth);
    return cc == CURLE_OK ? status : -1;
}

static void http_error(const char *what, long status, const body *b, char *err, size_t err_max)
{
    pjson *j = NULL;
    const char *tok = NULL;
    if (pjson_parse(&j, b->p, b->n) == 0)
        tok = pjson_get_string(j, "error");
    snprintf(err, err_max, "%s: HTTP %ld%s%s", what, status, tok ? " " : "", tok ? tok : "");
    pjson_free(j);
}

/*
 * POST /v1/login with the user's password: the bearer token for the
 * provider's other calls in token (PV_TOKEN_MAX). b gets a response buffer
 * of PV_BODY_MAX bytes, for the caller's next calls too (the caller frees
 * b->p). The request, which holds the password, is wiped whatever happens.
 */
#define PV_TOKEN_MAX 128
static int provider_login(const char *base, const char *user, const char *password,
                          char token[PV_TOKEN_MAX], body *b, char *err, size_t err_max)
{
    int rc = -1;
    pbuf req;
    pjson_w w;
    pjson *j = NULL;
    pbuf_init(&req, PV_BODY_MAX);
    b->p = malloc(PV_BODY_MAX + 1);
    if (b->p == NULL) {
        snprintf(err, err_max, "out of memory");
        goto out;
    }
    pjson_w_init(&w, &req);
    pjson_w_begin(&w);
    pjson_w_string(&w, "user", user);
    pjson_w_string(&w, "password", password);
    pjson_w_end(&w);
    if (pjson_w_status(&w) != 0 || pbuf_append(&req, "", 1) != 0) {
        snprintf(err, err_max, "request too large");
        goto out;
    }
    b->n = 0;
    long st = post_json(base, "/v1/login", NULL, (const char *)req.data, b, err, err_max);
    if (st < 0)
        goto out;
    if (st != 200) {
        http_error("provider login", st, b, err, err_max);
        goto out;
    }
    const char *t = NULL;
    if (pjson_parse(&j, b->p, b->n) != 0 || (t = pjson_get_string(j, "token")) == NULL ||
        strlen(t) >= PV_TOKEN_MAX) {
        snprintf(err, err_max, "provider login: unexpected answer");
        goto out;
    }
    snprintf(token, PV_TOKEN_MAX, "%s", t);
    rc = 0;
out:
    pjson_free(j);
    pbuf_free(&req); /* wipes the password */
    return rc;
}


int pv_attest(const char *base, const char *user, const char *password, const uint8_t noise_pub[32],
              const uint8_t identity[33], uint8_t *att, size_t att_max, size_t *att_len,
              uint64_t *expires, char *err, size_t err_max)
{
    int rc = -1;
    body b = {NULL, 0, 0};
    pbuf req;
    pjson_w w;
    pjson *j = NULL;
    char token[PV_TOKEN_MAX] = "";
    long st;
    pbuf_init(&req, PV_BODY_MAX);
    if (provider_login(base, user, password, token, &b, err, err_max) != 0)
        goto out;
    pjson_w_init(&w, &req);
    pjson_w_begin(&w);
    pjson_w_base64(&w, "noise_key", noise_pub, 32);
    pjson_w_base64(&w, "identity_key", identity, 33);
    pjson_w_end(&w);
    if (pjson_w_status(&w) != 0 || pbuf_append(&req, "", 1) != 0) {
        snprintf(err, err_max, "request too large");
        goto out;
    }
    b.n = 0;
    st = post_json(base, "/v1/attest", token, (const char *)req.data, &b, err, err_max);
    if (st < 0)
        goto out;
    if (st != 200) {
        http_error("provider attestation", st, &b, err, err_max);
        goto out;
    }
    const char *a64 = NULL;
    int64_t exp = 0;
    if (pjson_parse(&j, b.p, b.n) != 0 || (a64 = pjson_get_string(j, "attestation")) == NULL ||
        phs_b64_decode(att, att_max, att_len, a64, strlen(a64)) != 0) {
        snprintf(err, err_max, "provider attestation: unexpected answer");
        goto out;
    }
    if (pjson_get_int(j, "expires", 0, INT64_MAX, &exp) != 0)
        exp = 0;
    *expires = (uint64_t)exp;
    rc = 0;
out:
    pc_wipe(token, sizeof token);
    pjson_free(j);
    pbuf_free(&req);
    free(b.p);
    return rc;
}

int pv_wait(const char *base, const char *user, const char *password, uint32_t device,
            int timeout_s, uint64_t *pending, char *err, size_t err_max)
{
    int rc = -1;
    body b = {NULL, 0, 0};
    pjson *j = NULL;
    char token[PV_TOKEN_MAX] = "", auth[200] = "", url[1200];
    CURL *h = NULL;
    struct curl_slist *hd = NULL;
    long st = 0;
    *pending = 0;
    if (provider_login(base, user, password, token, &b, err, err_max) != 0)
        goto out;
    /* GET /v1/wakeups?timeout=N: the provider holds the request until a
     * wake-up for one of the user's devices arrives. */
    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, err_max, "no HTTP client");
        goto out;
    }
    snprintf(url, sizeof url, "%s/v1/wakeups?timeout=%d", base, timeout_s);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    hd = curl_slist_append(hd, auth);
    b.n = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)timeout_s + PV_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(h);
    b.p[b.n] = '\0';
    if (cc != CURLE_OK) {
        snprintf(err, err_max, "%s: %s", url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    if (st != 200) {
        http_error("provider wake-ups", st, &b, err, err_max);
        goto out;
    }
    const pjson *list = NULL;
    if (pjson_parse(&j, b.p, b.n) != 0 || (list = pjson_get(j, "wakeups")) == NULL ||
        list->type != PJSON_ARRAY) {
        snprintf(err, err_max, "provider wake-ups: unexpected answer");
        goto out;
    }
    for (const pjson *e = list->child; e != NULL; e = e->next) {
        int64_t dev = 0, n = 0;
        if (pjson_get_int(e, "device", 0, UINT32_MAX, &dev) == 0 && (uint32_t)dev == device &&
            pjson_get_int(e, "pending", 0, INT64_MAX, &n) == 0)
            *pending += n > 0 ? (uint64_t)n : 1;
    }
    rc = 0;
out:
    pc_wipe(token, sizeof token);
    pc_wipe(auth, sizeof auth);
    curl_slist_free_all(hd);
    if (h != NULL)
        curl_easy_cleanup(h);
    pjson_free(j);
    free(b.p);
    return rc;
}

/*
 * The gatekeeper's HTTP client to providers (gkhttp.h): a bounded queue, a
 * worker thread on libcurl's multi interface, signed attempts, exponential
 * backoff, a circuit breaker per provider, and completions handed back
 * through an eventfd so the caller's loop never blocks.
 */
#include "interop/gkhttp.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "interop/httpsig.h"
#include "util/buf.h"
#include "util/safety.h"

typedef struct req {
    struct req *next;
    struct req *inflight_next;
    char provider[65];
    char method[8];
    char url[PGK_URL_MAX + 1];
    char path[PGK_URL_MAX + 1];
    uint8_t *body;
    size_t body_len;
    pgk_http_done_fn done;
    void *arg;
    unsigned attempts;
    int64_t due_ms;
    CURL *easy;
    struct curl_slist *hdrs;
    pbuf resp;
    long status;
    int rc;
} req;

typedef struct {
    char id[65];
    pbr b;
} breaker_slot;

struct pgk_http {
    pgk_http_config cfg;
    uint8_t priv[64];
    char key_id[PHS_KEY_ID_MAX + 1];
    CURLM *multi;
    pthread_t thread;
    int thread_started;
    int efd;
    pthread_mutex_t mu; /* guards everything below */
    int stop;
    req *incoming, **incoming_tail;
    req *done, **done_tail;
    size_t queued; /* submitted and not yet dispatched */
    breaker_slot *breakers;
    size_t breaker_count;
    pgk_http_stats stats;
    /* worker only */
    req *waiting;
    req *inflight; /* linked through inflight_next */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void req_free(req *r)
{
    if (r == NULL)
        return;
    if (r->hdrs)
        curl_slist_free_all(r->hdrs);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    pbuf_free(&r->resp);
    free(r->body);
    free(r);
}

/* The breaker of a provider, created closed on first use; under h->mu. */
static pbr *breaker(pgk_http *h, const char *provider)
{
    for (size_t i = 0; i < h->breaker_count; i++)
        if (strcmp(h->breakers[i].id, provider) == 0)
            return &h->breakers[i].b;
    if (h->breaker_count == PGK_PROVIDERS_MAX)
        return NULL;
    breaker_slot *s = &h->breakers[h->breaker_count++];
    snprintf(s->id, sizeof s->id, "%s", provider);
    pbr_init(&s->b, &h->cfg.breaker);
    return &s->b;
}

static void complete(pgk_http *h, req *r, int rc)
{
    uint64_t one = 1;
    r->rc = rc;
    r->next = NULL;
    pthread_mutex_lock(&h->mu);
    *h->done_tail = r;
    h->done_tail = &r->next;
    if (rc == PARLEY_OK)
        h->stats.succeeded++;
    else if (rc == PARLEY_ERR_HTTP_CIRCUIT_OPEN)
        h->stats.short_circuited++;
    else
        h->stats.failed++;
    pthread_mutex_unlock(&h->mu);
    ssize_t w = write(h->efd, &one, sizeof one);
    (void)w; /* an eventfd write only fails at 2^64-2, long after overflow of anything else */
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    req *r = ud;
    size_t len = size * n;
    return pbuf_append(&r->resp, p, len) == PARLEY_OK ? len : 0;
}

static int start(pgk_http *h, req *r)
{
    int rc;
    char sig[PHS_HEADER_MAX], hdr[PHS_HEADER_MAX + 32];
    phs_request sr = {.method = r->method,
                      .path = r->path,
                      .audience = r->provider,
                      .body = r->body,
                      .body_len = r->body_len};
    r->attempts++;
    pbuf_reset(&r->resp);
    r->resp.len = 0;
    r->status = 0;
    if (r->hdrs) {
        curl_slist_free_all(r->hdrs);
        r->hdrs = NULL;
    }
    if (r->easy) {
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    /* Each attempt is signed afresh: its timestamp must be current, and
     * the provider's replay cache would refuse a resent signature. */
    GUARD(phs_sign(sig, &sr, h->key_id, (int64_t)time(NULL), h->priv));
    snprintf(hdr, sizeof hdr, PHS_HEADER_NAME ": %s", sig);
    r->easy = curl_easy_init();
    ENSURE(r->easy != NULL, PARLEY_ERR_NOMEM);
    struct curl_slist *l = curl_slist_append(NULL, hdr);
    ENSURE(l != NULL, PARLEY_ERR_NOMEM);
    r->hdrs = l;
    ENSURE((l = curl_slist_append(r->hdrs, "Content-Type: application/json")) != NULL,
           PARLEY_ERR_NOMEM);
    ENSURE((l = curl_slist_append(r->hdrs, "Expect:")) != NULL, PARLEY_ERR_NOMEM);
    CURL *e = r->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->cfg.connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->cfg.timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method) != CURLE_OK;
    if (strcmp(r->method, "GET") != 0) {
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? (char *)r->body : "") != CURLE_OK;
    }
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK;
    ENSURE(!bad, PARLEY_ERR_INVALID_ARG);
    ENSURE(curl_multi_add_handle(h->multi, e) == CURLM_OK, PARLEY_ERR_IO);
    r->inflight_next = h->inflight;
    h->inflight = r;
    rc = PARLEY_OK;
out:
    return rc;
}

/* A failed attempt: retry after a backoff, or complete with rc. */
static void retry_or_fail(pgk_http *h, req *r, int rc, int64_t now)
{
    if (r->attempts < h->cfg.max_attempts) {
        int64_t d = h->cfg.backoff_ms;
        for (unsigned i = 1; i < r->attempts && d < h->cfg.backoff_max_ms; i++)
            d *= 2;
        if (d > h->cfg.backoff_max_ms)
            d = h->cfg.backoff_max_ms;
        /* up to a quarter of jitter, so that many retries do not line up */
        d += (int64_t)pc_random_uniform((uint32_t)(d / 4 + 1));
        r->due_ms = now + d;
        r->next = h->waiting;
        h->waiting = r;
        pthread_mutex_lock(&h->mu);
        h->stats.retries++;
        pthread_mutex_unlock(&h->mu);
        return;
    }
    complete(h, r, rc);
}

static void finished(pgk_http *h, req *r, CURLcode cres)
{
    int64_t now = mono_ms();
    int rc, retryable;
    curl_multi_remove_handle(h->multi, r->easy);
    for (req **pp = &h->inflight; *pp; pp = &(*pp)->inflight_next)
        if (*pp == r) {
            *pp = r->inflight_next;
            break;
        }
    if (cres == CURLE_OK) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->status >= 200 && r->status < 300) {
            rc = PARLEY_OK;
            retryable = 0;
        } else {
            rc = PARLEY_ERR_HTTP_STATUS;
            /* A provider that answers 4xx is up: only 5xx and 429 count
             * against it and are worth another try. */
            retryable = r->status >= 500 || r->status == 429;
        }
    } else if (cres == CURLE_OPERATION_TIMEDOUT) {
        rc = PARLEY_ERR_TIMEOUT;
        retryable = 1;
    } else if (cres == CURLE_WRITE_ERROR) {
        rc = PARLEY_ERR_BUFFER;
        retryable = 0;
    } else {
        rc = PARLEY_ERR_IO;
        retryable = 1;
    }
    pthread_mutex_lock(&h->mu);
    pbr *b = breaker(h, r->provider);
    if (b) {
        uint64_t before = b->opened;
        if (retryable)
            pbr_failure(b, now);
        else
            pbr_success(b, now);
        h->stats.breaker_opened += b->opened - before;
    }
    pthread_mutex_unlock(&h->mu);
    if (retryable)
        retry_or_fail(h, r, rc, now);
    else
        complete(h, r, rc);
}

static void *worker(void *arg)
{
    pgk_http *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        int stop = h->stop;
        req *in = h->incoming;
        h->incoming = NULL;
        h->incoming_tail = &h->incoming;
        pthread_mutex_unlock(&h->mu);
        while (in) {
            req *n = in->next;
            in->next = h->waiting;
            h->waiting = in;
            in = n;
        }
        if (stop)
            break;
        int64_t now = mono_ms(), next_due = INT64_MAX;
        req **pp = &h->waiting;
        while (*pp) {
            req *r = *pp;
            if (r->due_ms > now) {
                if (r->due_ms < next_due)
                    next_due = r->due_ms;
                pp = &r->next;
                continue;
            }
            *pp = r->next;
            pthread_mutex_lock(&h->mu);
            pbr *b = breaker(h, r->provider);
            int allowed = b == NULL || pbr_allow(b, now);
            pthread_mutex_unlock(&h->mu);
            if (!allowed) {
                complete(h, r, PARLEY_ERR_HTTP_CIRCUIT_OPEN);
                continue;
            }
            int rc = start(h, r);
            if (rc < 0)
                complete(h, r, rc);
        }
        int running = 0;
        curl_multi_perform(h->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            req *r = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            if (r)
                finished(h, r, m->data.result);
        }
        int timeout = 1000;
        now = mono_ms();
        for (req *r = h->waiting; r; r = r->next)
            if (r->due_ms < next_due)
                next_due = r->due_ms;
        if (next_due != INT64_MAX)
            timeout = next_due <= now ? 0 : (int)(next_due - now < 1000 ? next_due - now : 1000);
        curl_multi_poll(h->multi, NULL, 0, timeout, NULL);
    }
    /* Stopping: hand requests still in flight back to the waiting list,
     * which pgk_http_free completes. */
    while (h->inflight) {
        req *r = h->inflight;
        h->inflight = r->inflight_next;
        curl_multi_remove_handle(h->multi, r->easy);
        r->next = h->waiting;
        h->waiting = r;
    }
    return NULL;
}

int pgk_http_new(pgk_http **out, const pgk_http_config *cfg)
{
    int rc;
    pgk_http *h = NULL;
    PARLEY_MISUSE(out && cfg && cfg->key_id && cfg->priv);
    ENSURE(strlen(cfg->key_id) <= PHS_KEY_ID_MAX, PARLEY_ERR_INVALID_ARG);
    GUARD(pc_init());
    pthread_once(&curl_once, curl_init_once);
    h = calloc(1, sizeof *h);
    ENSURE(h != NULL, PARLEY_ERR_NOMEM);
    h->efd = -1;
    h->cfg = *cfg;
    if (h->cfg.connect_timeout_ms <= 0)
        h->cfg.connect_timeout_ms = 2000;
    if (h->cfg.timeout_ms <= 0)
        h->cfg.timeout_ms = 5000;
    if (h->cfg.max_attempts == 0)
        h->cfg.max_attempts = 4;
    if (h->cfg.backoff_ms <= 0)
        h->cfg.backoff_ms = 200;
    if (h->cfg.backoff_max_ms < h->cfg.backoff_ms)
        h->cfg.backoff_max_ms = h->cfg.backoff_ms > 10000 ? h->cfg.backoff_ms : 10000;
    if (h->cfg.queue_max == 0)
        h->cfg.queue_max = 10000;
    memcpy(h->priv, cfg->priv, sizeof h->priv);
    snprintf(h->key_id, sizeof h->key_id, "%s", cfg->key_id);
    h->cfg.priv = NULL;
    h->cfg.key_id = NULL;
    h->incoming_tail = &h->incoming;
    h->done_tail = &h->done;
    pthread_mutex_init(&h->mu, NULL);
    h->breakers = calloc(PGK_PROVIDERS_MAX, sizeof *h->breakers);
    ENSURE(h->breakers != NULL, PARLEY_ERR_NOMEM);
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ENSURE(h->efd >= 0, PARLEY_ERR_IO);
    h->multi = curl_multi_init();
    ENSURE(h->multi != NULL, PARLEY_ERR_NOMEM);
    ENSURE(pthread_create(&h->thread, NULL, worker, h) == 0, PARLEY_ERR_NOMEM);
    h->thread_started = 1;
    *out = h;
    h = NULL;
    rc = PARLEY_OK;
out:
    pgk_http_free(h);
    return rc;
}

void pgk_http_free(pgk_http *h)
{
    if (h == NULL)
        return;
    if (h->thread_started) {
        pthread_mutex_lock(&h->mu);
        h->stop = 1;
        pthread_mutex_unlock(&h->mu);
        curl_multi_wakeup(h->multi);
        pthread_join(h->thread, NULL);
    }
    /* Whatever did not finish completes with PARLEY_ERR_STATE. */
    req *r = h->waiting;
    h->waiting = NULL;
    while (r) {
        req *n = r->next;
        complete(h, r, PARLEY_ERR_STATE);
        r = n;
    }
    r = h->incoming;
    h->incoming = NULL;
    while (r) {
        req *n = r->next;
        complete(h, r, PARLEY_ERR_STATE);
        r = n;
    }
    (void)pgk_http_dispatch(h);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->efd >= 0)
        close(h->efd);
    pthread_mutex_destroy(&h->mu);
    pc_wipe(h->priv, sizeof h->priv);
    free(h->breakers);
    free(h);
}

int pgk_http_submit(pgk_http *h, const char *provider, const char *method, const char *url,
                    const uint8_t *body, size_t body_len, pgk_http_done_fn done, void *arg)
{
    int rc;
    req *r = NULL;
    CURLU *u = NULL;
    char *scheme = NULL, *path = NULL, *query = NULL;
    PARLEY_MISUSE(h && provider && method && url && done && (body || body_len == 0));
    ENSURE(strlen(provider) < sizeof r->provider && provider[0], PARLEY_ERR_INVALID_ARG);
    ENSURE(strlen(method) < sizeof r->method && method[0], PARLEY_ERR_INVALID_ARG);
    ENSURE(strlen(url) <= PGK_URL_MAX, PARLEY_ERR_INVALID_ARG);
    ENSURE(body_len <= PGK_BODY_MAX, PARLEY_ERR_INVALID_ARG);
    u = curl_url();
    ENSURE(u != NULL, PARLEY_ERR_NOMEM);
    ENSURE(curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK, PARLEY_ERR_INVALID_ARG);
    ENSURE(curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK, PARLEY_ERR_INVALID_ARG);
    ENSURE(strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0, PARLEY_ERR_INVALID_ARG);
    ENSURE(curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK, PARLEY_ERR_INVALID_ARG);
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
        query = NULL;
    r = calloc(1, sizeof *r);
    ENSURE(r != NULL, PARLEY_ERR_NOMEM);
    pbuf_init(&r->resp, PGK_RESPONSE_MAX);
    int n = snprintf(r->path, sizeof r->path, "%s%s%s", path, query ? "?" : "", query ? query : "");
    ENSURE(n > 0 && (size_t)n < sizeof r->path, PARLEY_ERR_INVALID_ARG);
    snprintf(r->provider, sizeof r->provider, "%s", provider);
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->url, sizeof r->url, "%s", url);
    if (body_len) {
        r->body = malloc(body_len);
        ENSURE(r->body != NULL, PARLEY_ERR_NOMEM);
        memcpy(r->body, body, body_len);
    }
    r->body_len = body_len;
    r->done = done;
    r->arg = arg;
    pthread_mutex_lock(&h->mu);
    if (h->queued >= h->cfg.queue_max || h->stop) {
        pthread_mutex_unlock(&h->mu);
        ENSURE(0, PARLEY_ERR_AGAIN);
    }
    h->queued++;
    h->stats.submitted++;
    *h->incoming_tail = r;
    h->incoming_tail = &r->next;
    pthread_mutex_unlock(&h->mu);
    r = NULL;
    curl_multi_wakeup(h->multi);
    rc = PARLEY_OK;
out:
    req_free(r);
    curl_free(scheme);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

/* JSON strings we write hold addresses only: refuse anything that would
 * need escaping rather than escape it. */
static int json_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

int pgk_http_push(pgk_http *h, const char *provider, const char *push_url, const char *user,
                  uint32_t device, uint64_t pending, pgk_http_done_fn done, void *arg)
{
    char body[PGK_BODY_MAX];
    PARLEY_MISUSE(user);
    if (!json_safe(user) || strlen(user) > 255)
        return PARLEY_ERR_INVALID_ARG;
    int n = snprintf(body, sizeof body,
                     "{\"user\":\"%s\",\"device\":%" PRIu32 ",\"pending\":%" PRIu64 "}", user,
                     device, pending);
    if (n <= 0 || (size_t)n >= sizeof body)
        return PARLEY_ERR_INVALID_ARG;
    return pgk_http_submit(h, provider, "POST", push_url, (const uint8_t *)body, (size_t)n, done,
                           arg);
}

int pgk_http_verify(pgk_http *h, const char *provider, const char *verify_url, const char *user,
                    pgk_http_done_fn done, void *arg)
{
    char body[PGK_BODY_MAX];
    PARLEY_MISUSE(user);
    if (!json_safe(user) || strlen(user) > 255)
        return PARLEY_ERR_INVALID_ARG;
    int n = snprintf(body, sizeof body, "{\"user\":\"%s\"}", user);
    if (n <= 0 || (size_t)n >= sizeof body)
        return PARLEY_ERR_INVALID_ARG;
    return pgk_http_submit(h, provider, "POST", verify_url, (const uint8_t *)body, (size_t)n, done,
                           arg);
}

int pgk_http_fd(const pgk_http *h)
{
    return h->efd;
}

int pgk_http_dispatch(pgk_http *h)
{
    uint64_t v;
    int ran = 0;
    ssize_t rd = read(h->efd, &v, sizeof v);
    (void)rd; /* EAGAIN when nothing is signalled: the list below is the truth */
    pthread_mutex_lock(&h->mu);
    req *r = h->done;
    h->done = NULL;
    h->done_tail = &h->done;
    pthread_mutex_unlock(&h->mu);
    while (r) {
        req *n = r->next;
        pgk_http_result res = {.rc = r->rc,
                               .status = r->status,
                               .attempts = r->attempts,
                               .body = r->resp.data,
                               .body_len = r->resp.len};
        r->done(r->arg, &res);
        pthread_mutex_lock(&h->mu);
        h->queued--;
        pthread_mutex_unlock(&h->mu);
        req_free(r);
        ran++;
        r = n;
    }
    return ran;
}

void pgk_http_get_stats(pgk_http *h, pgk_http_stats *out)
{
    pthread_mutex_lock(&h->mu);
    *out = h->stats;
    out->in_queue = h->queued;
    pthread_mutex_unlock(&h->mu);
}

pbr_state pgk_http_breaker_state(pgk_http *h, const char *provider)
{
    pbr_state s = PBR_CLOSED;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->breaker_count; i++)
        if (strcmp(h->breakers[i].id, provider) == 0)
            s = h->breakers[i].b.state;
    pthread_mutex_unlock(&h->mu);
    return s;
}

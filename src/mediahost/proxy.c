/*
 * The gatekeeper media proxy (DESIGN.md 1 and 3.6; docs/media.md "Media
 * proxy"). A gatekeeper client asks GET /v1/proxy?url=...&provider=...
 * with its bearer token; the proxy fetches the third-party blob itself, so
 * that the provider sees the gatekeeper's address and never the user's.
 *
 * Every hop (the first URL and each redirect, followed here by hand) must
 * be http or https, name a host on the provider's allow-list, and resolve
 * only to addresses the filter accepts (addrfilter.c). The checked
 * addresses are handed to libcurl with CURLOPT_RESOLVE, and the socket
 * callback checks the address again just before connecting, so a second
 * DNS answer (rebinding) cannot move the connection elsewhere.
 *
 * Streaming: libcurl writes into a bounded ring; when it is full the
 * transfer pauses (CURL_WRITEFUNC_PAUSE) until libmicrohttpd has drained
 * it to the client. Memory per transfer is the ring plus libcurl's own
 * buffer, whatever the blob's size. Blobs are end-to-end encrypted, so a
 * finished transfer is kept in an on-disk cache keyed by its URL.
 */
#include "mediahost/internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "mediahost/addrfilter.h"
#include "util/safety.h"

#define RING_SIZE (512 * 1024)
#define CURL_BUF_SIZE (256 * 1024)
#define MHD_BLOCK_SIZE (256 * 1024)
#define RATE_SLOTS 1024
#define MAX_ADDRS 8

typedef struct {
    char user[PMH_USER_MAX];
    double tokens;
    time_t last;
} rate_slot;

struct pmh_proxy {
    pmh_proxy_config cfg;
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    rate_slot *rates;
    char cache_dir[PATH_MAX - 200];
};

typedef struct {
    pmh_proxy *p;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *resolve, *headers;
    int done, headers_done, paused, too_large;
    CURLcode result;
    long status;
    uint64_t received;
    uint8_t *ring;
    size_t ring_head, ring_len;
    /* libmicrohttpd's buffer while it waits in read_body: bytes go there
     * directly, saving a copy through the ring */
    char *dst;
    size_t dst_len, dst_max;
    int cache_fd;
    char cache_tmp[PATH_MAX], cache_path[PATH_MAX];
} fetch;

/* ---- rate limit --------------------------------------------------------------- */

/* Token bucket per user: rate_burst at once, refilled at rate_per_minute. */
static int rate_take(pmh_proxy *p, const char *user)
{
    time_t now = pmh_now(p->cfg.clock, p->cfg.clock_ctx);
    rate_slot *s = NULL, *oldest = &p->rates[0];
    int ok;
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < RATE_SLOTS && s == NULL; i++) {
        if (p->rates[i].user[0] != '\0' && strcmp(p->rates[i].user, user) == 0)
            s = &p->rates[i];
        else if (p->rates[i].user[0] == '\0' || p->rates[i].last < oldest->last)
            oldest = &p->rates[i];
    }
    if (s == NULL) {
        s = oldest; /* forgetting the longest-idle user only ever helps them */
        snprintf(s->user, sizeof s->user, "%s", user);
        s->tokens = p->cfg.rate_burst;
        s->last = now;
    }
    if (now > s->last) {
        s->tokens += (double)(now - s->last) * p->cfg.rate_per_minute / 60.0;
        if (s->tokens > p->cfg.rate_burst)
            s->tokens = p->cfg.rate_burst;
    }
    s->last = now;
    ok = s->tokens >= 1.0;
    if (ok)
        s->tokens -= 1.0;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

/* ---- target checks ------------------------------------------------------------ */

typedef struct {
    unsigned status;
    const char *error;
} refusal;

#define REFUSE(st, e) ((refusal){(st), (e)})
#define ACCEPTED ((refusal){0, NULL})

/* The scheme of a URL, lower-cased, or "" when it has none. */
static void url_scheme(const char *url, char *out, size_t max)
{
    size_t i = 0;
    out[0] = '\0';
    while (url[i] != '\0' && url[i] != ':' && i + 1 < max) {
        char ch = url[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (i > 0 && ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.'));
        if (!ok) {
            out[0] = '\0';
            return;
        }
        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        i++;
    }
    if (url[i] != ':') {
        out[0] = '\0';
        return;
    }
    out[i] = '\0';
}

/*
 * Check one hop: scheme, allow-list, and every address the host resolves
 * to. On success *resolve holds the CURLOPT_RESOLVE entry pinning the
 * checked addresses.
 */
static refusal check_target(pmh_proxy *p, const char *url, const char *provider,
                            struct curl_slist **resolve)
{
    char scheme[16], host[256], entry[600];
    char *h = NULL, *port_s = NULL, *user = NULL, *pass = NULL;
    refusal r = ACCEPTED;
    struct addrinfo hints, *res = NULL;
    *resolve = NULL;
    if (strlen(url) >= PMH_URL_MAX)
        return REFUSE(MHD_HTTP_BAD_REQUEST, "bad_url");
    url_scheme(url, scheme, sizeof scheme);
    if (scheme[0] == '\0')
        return REFUSE(MHD_HTTP_BAD_REQUEST, "bad_url");
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        return REFUSE(MHD_HTTP_FORBIDDEN, "scheme_refused");
    CURLU *u = curl_url();
    if (u == NULL)
        return REFUSE(MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port_s, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        r = REFUSE(MHD_HTTP_BAD_REQUEST, "bad_url");
        goto out;
    }
    /* credentials in a URL are never ours to send */
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
        r = REFUSE(MHD_HTTP_BAD_REQUEST, "bad_url");
        goto out;
    }
    size_t hl = strlen(h);
    const char *hs = h;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        hs = h + 1;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host || memchr(hs, '%', hl) != NULL) {
        r = REFUSE(MHD_HTTP_BAD_REQUEST, "bad_url");
        goto out;
    }
    for (size_t i = 0; i < hl; i++)
        host[i] = (char)(hs[i] >= 'A' && hs[i] <= 'Z' ? hs[i] - 'A' + 'a' : hs[i]);
    host[hl] = '\0';
    uint64_t port = 0;
    if (pmh_parse_u64(port_s, &port) < 0 || port == 0 || port > 65535) {
        r = REFUSE(MHD_HTTP_BAD_REQUEST, "bad_url");
        goto out;
    }
    switch (p->cfg.allow(p->cfg.allow_ctx, provider, host, (unsigned)port)) {
    case PMH_ALLOW_YES:
        break;
    case PMH_ALLOW_UNKNOWN_PROVIDER:
        r = REFUSE(MHD_HTTP_FORBIDDEN, "unknown_provider");
        goto out;
    case PMH_ALLOW_PROVIDER_INACTIVE:
        r = REFUSE(MHD_HTTP_FORBIDDEN, "provider_inactive");
        goto out;
    case PMH_ALLOW_UNAVAILABLE:
        r = REFUSE(MHD_HTTP_SERVICE_UNAVAILABLE, "registry_unavailable");
        goto out;
    default:
        r = REFUSE(MHD_HTTP_FORBIDDEN, "host_not_allowed");
        goto out;
    }
    /* Resolve here and judge every answer: one internal address is enough
     * to refuse, since we cannot know which one libcurl would pick. */
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port_s, &hints, &res) != 0 || res == NULL) {
        r = REFUSE(MHD_HTTP_BAD_GATEWAY, "resolve_failed");
        goto out;
    }
    int n = snprintf(entry, sizeof entry, "%s:%s:", host, port_s);
    int count = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        if (!pmh_addr_allowed(ai->ai_addr, p->cfg.allow_loopback)) {
            r = REFUSE(MHD_HTTP_FORBIDDEN, "address_refused");
            goto out;
        }
        if (count >= MAX_ADDRS ||
            getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST) != 0)
            continue;
        int k = snprintf(entry + n, sizeof entry - (size_t)n,
                         ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s", count ? "," : "", ip);
        if (k < 0 || (size_t)k >= sizeof entry - (size_t)n)
            break;
        n += k;
        count++;
    }
    if (count == 0) {
        r = REFUSE(MHD_HTTP_BAD_GATEWAY, "resolve_failed");
        goto out;
    }
    *resolve = curl_slist_append(NULL, entry);
    if (*resolve == NULL)
        r = REFUSE(MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error");
out:
    if (res != NULL)
        freeaddrinfo(res);
    curl_free(h);
    curl_free(port_s);
    curl_free(user);
    curl_free(pass);
    curl_url_cleanup(u);
    return r;
}

/* Last line of defence: the address libcurl is about to connect to. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    pmh_proxy *p = ud;
    if (purpose != CURLSOCKTYPE_IPCXN || !pmh_addr_allowed(&a->addr, p->cfg.allow_loopback))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- the transfer ------------------------------------------------------------- */

static void cache_abandon(fetch *f)
{
    if (f->cache_fd >= 0) {
        close(f->cache_fd);
        unlink(f->cache_tmp);
        f->cache_fd = -1;
    }
}

/* Keep a complete transfer in the cache under its URL's name. */
static void cache_commit(fetch *f)
{
    if (f->cache_fd < 0)
        return;
    int fine = close(f->cache_fd) == 0;
    f->cache_fd = -1;
    if (!fine || rename(f->cache_tmp, f->cache_path) != 0)
        unlink(f->cache_tmp);
}

static void fetch_free(fetch *f)
{
    if (f == NULL)
        return;
    /* libmicrohttpd stops asking once it has sent Content-Length bytes, so
     * a complete transfer may end here rather than at end of stream. */
    if (f->cache_fd >= 0 && f->status == 200 && !f->too_large && f->ring_len == 0) {
        curl_off_t cl = -1;
        curl_easy_getinfo(f->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (cl >= 0 && (uint64_t)cl == f->received)
            cache_commit(f);
    }
    if (f->multi != NULL && f->easy != NULL)
        curl_multi_remove_handle(f->multi, f->easy);
    if (f->easy != NULL)
        curl_easy_cleanup(f->easy);
    if (f->multi != NULL)
        curl_multi_cleanup(f->multi);
    curl_slist_free_all(f->resolve);
    curl_slist_free_all(f->headers);
    cache_abandon(f);
    free(f->ring);
    free(f);
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    fetch *f = ud;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', n);
        f->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
    } else if ((n == 2 && line[0] == '\r' && line[1] == '\n') || (n == 1 && line[0] == '\n')) {
        if (f->status >= 200) /* not after a 100 Continue */
            f->headers_done = 1;
    }
    return n;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    fetch *f = ud;
    size_t n = size * nmemb;
    f->headers_done = 1;
    if (f->status != 200)
        return n; /* a redirect's or an error's body: dropped */
    if (n > f->p->cfg.max_blob_size - f->received) {
        f->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (f->dst != NULL && f->ring_len == 0 && n <= f->dst_max - f->dst_len) {
        memcpy(f->dst + f->dst_len, data, n);
        f->dst_len += n;
    } else {
        if (n > RING_SIZE - f->ring_len) {
            f->paused = 1;
            return CURL_WRITEFUNC_PAUSE; /* libcurl keeps it and offers it again */
        }
        size_t tail = (f->ring_head + f->ring_len) % RING_SIZE;
        size_t first = n < RING_SIZE - tail ? n : RING_SIZE - tail;
        memcpy(f->ring + tail, data, first);
        memcpy(f->ring, data + first, n - first);
        f->ring_len += n;
    }
    f->received += n;
    if (f->cache_fd >= 0) {
        size_t done = 0;
        while (done < n) {
            ssize_t w = write(f->cache_fd, data + done, n - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            done += (size_t)w;
        }
        if (done < n)
            cache_abandon(f); /* a full disk costs the cache, not the user */
    }
    return n;
}

/* Run the transfer until the headers are in (until_headers) or some body
 * is buffered, or it ends. */
static void drive(fetch *f, int until_headers)
{
    while (!f->done && !(until_headers ? f->headers_done : f->ring_len > 0 || f->dst_len > 0)) {
        int running = 0, left;
        if (curl_multi_perform(f->multi, &running) != CURLM_OK) {
            f->done = 1;
            f->result = CURLE_FAILED_INIT;
            break;
        }
        CURLMsg *m;
        while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
            if (m->msg == CURLMSG_DONE) {
                f->done = 1;
                f->result = m->data.result;
            }
        }
        if (f->done || (until_headers ? f->headers_done : f->ring_len > 0 || f->dst_len > 0))
            break;
        if (f->paused)
            break; /* nothing will move until the ring drains */
        curl_multi_poll(f->multi, NULL, 0, 1000, NULL);
    }
}

static fetch *fetch_start(pmh_proxy *p, const char *url, struct curl_slist *resolve)
{
    fetch *f = calloc(1, sizeof *f);
    if (f == NULL) {
        curl_slist_free_all(resolve);
        return NULL;
    }
    f->p = p;
    f->cache_fd = -1;
    f->resolve = resolve;
    f->ring = malloc(RING_SIZE);
    f->multi = curl_multi_init();
    f->easy = curl_easy_init();
    /* No forwarding headers: the provider learns nothing of the user. */
    f->headers = curl_slist_append(NULL, "Accept: application/octet-stream");
    if (f->ring == NULL || f->multi == NULL || f->easy == NULL || f->headers == NULL) {
        fetch_free(f);
        return NULL;
    }
    CURL *e = f->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_RESOLVE, f->resolve);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, p);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* each hop is checked here */
    curl_easy_setopt(e, CURLOPT_PROXY, "");          /* ignore *_proxy variables */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "parley-media-proxy/1");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)CURL_BUF_SIZE);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)p->cfg.max_blob_size);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, p->cfg.connect_timeout);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, p->cfg.total_timeout);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, p->cfg.low_speed_limit);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, p->cfg.low_speed_time);
    if (p->cfg.ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, p->cfg.ca_file);
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        fetch_free(f);
        return NULL;
    }
    return f;
}

/* libmicrohttpd asks for body bytes: hand over what the ring holds, or
 * let libcurl run until it holds some. */
static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    fetch *f = cls;
    (void)pos;
    if (f->ring_len == 0 && !f->done) {
        f->dst = buf;
        f->dst_len = 0;
        f->dst_max = max;
        if (f->paused) {
            f->paused = 0;
            curl_easy_pause(f->easy, CURLPAUSE_CONT); /* may deliver at once */
        }
        drive(f, 0);
        f->dst = NULL;
        if (f->dst_len > 0)
            return (ssize_t)f->dst_len; /* the ring, if it got more, follows */
    }
    if (f->ring_len > 0) {
        size_t n = max < f->ring_len ? max : f->ring_len;
        size_t first = n < RING_SIZE - f->ring_head ? n : RING_SIZE - f->ring_head;
        memcpy(buf, f->ring + f->ring_head, first);
        memcpy(buf + first, f->ring, n - first);
        f->ring_head = (f->ring_head + n) % RING_SIZE;
        f->ring_len -= n;
        return (ssize_t)n;
    }
    curl_off_t cl = -1;
    curl_easy_getinfo(f->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    int ok = f->result == CURLE_OK && !f->too_large && (cl < 0 || (uint64_t)cl == f->received);
    if (!ok) {
        cache_abandon(f);
        return MHD_CONTENT_READER_END_WITH_ERROR; /* the client sees a cut transfer */
    }
    cache_commit(f);
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static void free_body(void *cls)
{
    fetch_free(cls);
}

static refusal map_curl_error(const fetch *f)
{
    if (f->too_large || f->result == CURLE_FILESIZE_EXCEEDED)
        return REFUSE(MHD_HTTP_BAD_GATEWAY, "too_large");
    switch (f->result) {
    case CURLE_OPERATION_TIMEDOUT:
        return REFUSE(MHD_HTTP_GATEWAY_TIMEOUT, "too_slow");
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return REFUSE(MHD_HTTP_BAD_GATEWAY, "upstream_unreachable");
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
        return REFUSE(MHD_HTTP_BAD_GATEWAY, "upstream_tls");
    default:
        return REFUSE(MHD_HTTP_BAD_GATEWAY, "upstream_error");
    }
}

static void cache_name(pmh_proxy *p, const char *url, char *out, size_t max)
{
    uint8_t d[PC_SHA256_LEN];
    char hex[PMH_HEX_ID_LEN + 1];
    out[0] = '\0';
    if (pmh_sha256(d, (const uint8_t *)url, strlen(url)) == PARLEY_OK) {
        pmh_hex(hex, d, sizeof d);
        if (snprintf(out, max, "%s/%s", p->cache_dir, hex) >= (int)max)
            out[0] = '\0';
    }
}

static enum MHD_Result serve_cached(struct MHD_Connection *c, const char *path, uint64_t ttl)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return MHD_NO;
    if (fstat(fd, &st) != 0 || (uint64_t)(time(NULL) - st.st_mtime) >= ttl) {
        close(fd);
        unlink(path);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (r == NULL) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "private, no-transform");
    MHD_add_response_header(r, "Parley-Cache", "hit");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret == MHD_YES ? MHD_YES : MHD_NO;
}

static int is_redirect(long s)
{
    return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

static enum MHD_Result proxy_get(pmh_proxy *p, struct MHD_Connection *c)
{
    char user[PMH_USER_MAX], url[PMH_URL_MAX], cpath[PATH_MAX];
    struct curl_slist *resolve = NULL;
    fetch *f = NULL;
    if (!pmh_authenticate(c, p->cfg.auth, p->cfg.auth_ctx, user))
        return pmh_refuse(c, MHD_HTTP_UNAUTHORIZED, "unauthorized");
    if (!rate_take(p, user))
        return pmh_refuse(c, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited");
    const char *target = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "url");
    const char *provider = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "provider");
    if (target == NULL || strlen(target) >= sizeof url)
        return pmh_refuse(c, MHD_HTTP_BAD_REQUEST, "bad_url");
    snprintf(url, sizeof url, "%s", target);

    refusal r = check_target(p, url, provider, &resolve);
    if (r.error != NULL)
        return pmh_refuse(c, r.status, r.error);
    cpath[0] = '\0';
    if (p->cfg.cache_dir != NULL) {
        cache_name(p, url, cpath, sizeof cpath);
        if (cpath[0] != '\0' && serve_cached(c, cpath, p->cfg.cache_ttl_seconds) == MHD_YES) {
            curl_slist_free_all(resolve);
            return MHD_YES;
        }
    }
    for (unsigned hop = 0;; hop++) {
        f = fetch_start(p, url, resolve);
        resolve = NULL;
        if (f == NULL)
            return pmh_refuse(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal_error");
        drive(f, 1);
        if (!f->headers_done) {
            r = map_curl_error(f);
            fetch_free(f);
            return pmh_refuse(c, r.status, r.error);
        }
        if (!is_redirect(f->status))
            break;
        /* a redirect is a new target: every check again */
        char *next = NULL;
        curl_easy_getinfo(f->easy, CURLINFO_REDIRECT_URL, &next);
        int have = next != NULL && strlen(next) < sizeof url;
        if (have)
            snprintf(url, sizeof url, "%s", next);
        fetch_free(f);
        f = NULL;
        if (!have)
            return pmh_refuse(c, MHD_HTTP_BAD_GATEWAY, "bad_redirect");
        if (hop + 1 > p->cfg.max_redirects)
            return pmh_refuse(c, MHD_HTTP_BAD_GATEWAY, "too_many_redirects");
        r = check_target(p, url, provider, &resolve);
        if (r.error != NULL) {
            /* say which check the redirect failed */
            static const struct {
                const char *from, *to;
            } names[] = {{"scheme_refused", "redirect_scheme_refused"},
                         {"host_not_allowed", "redirect_host_not_allowed"},
                         {"address_refused", "redirect_address_refused"}};
            for (size_t i = 0; i < PARLEY_ARRAY_LEN(names); i++)
                if (strcmp(r.error, names[i].from) == 0)
                    r.error = names[i].to;
            return pmh_refuse(c, r.status, r.error);
        }
    }
    if (f->status != 200) {
        long st = f->status;
        fetch_free(f);
        if (st == 404 || st == 410)
            return pmh_refuse(c, MHD_HTTP_NOT_FOUND, "upstream_not_found");
        return pmh_refuse(c, MHD_HTTP_BAD_GATEWAY, "upstream_status");
    }
    curl_off_t cl = -1;
    curl_easy_getinfo(f->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl >= 0 && (uint64_t)cl > p->cfg.max_blob_size) {
        fetch_free(f);
        return pmh_refuse(c, MHD_HTTP_BAD_GATEWAY, "too_large");
    }
    if (cpath[0] != '\0') {
        char rnd[PMH_HEX_ID_LEN + 1];
        if (pmh_random_id(rnd) == PARLEY_OK &&
            snprintf(f->cache_tmp, sizeof f->cache_tmp, "%s/tmp.%.16s", p->cache_dir, rnd) <
                (int)sizeof f->cache_tmp) {
            snprintf(f->cache_path, sizeof f->cache_path, "%s", cpath);
            f->cache_fd = open(f->cache_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            /* the bytes already in the ring were not teed: write them now */
            if (f->cache_fd >= 0 && f->ring_len > 0 &&
                write(f->cache_fd, f->ring + f->ring_head, f->ring_len) != (ssize_t)f->ring_len)
                cache_abandon(f);
        }
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(
        cl >= 0 ? (uint64_t)cl : MHD_SIZE_UNKNOWN, MHD_BLOCK_SIZE, read_body, f, free_body);
    if (resp == NULL) {
        fetch_free(f);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "private, no-transform");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp); /* f is freed with the response */
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **req_cls)
{
    pmh_proxy *p = cls;
    (void)version;
    (void)data;
    (void)req_cls;
    if (*data_size != 0)
        return MHD_NO;
    if (strcmp(url, "/v1/proxy") != 0)
        return pmh_refuse(c, MHD_HTTP_NOT_FOUND, "not_found");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return pmh_refuse(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed");
    return proxy_get(p, c);
}

int pmh_proxy_start(pmh_proxy **out, const pmh_proxy_config *cfg)
{
    int rc;
    pmh_proxy *p = NULL;
    PARLEY_MISUSE(out != NULL && cfg != NULL && cfg->auth != NULL && cfg->allow != NULL);
    GUARD(pc_init());
    ENSURE(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, PARLEY_ERR_IO);
    p = calloc(1, sizeof *p);
    ENSURE(p != NULL, PARLEY_ERR_NOMEM);
    pthread_mutex_init(&p->lock, NULL);
    p->cfg = *cfg;
    if (p->cfg.max_blob_size == 0)
        p->cfg.max_blob_size = PMH_DEFAULT_MAX_BLOB;
    if (p->cfg.cache_ttl_seconds == 0)
        p->cfg.cache_ttl_seconds = 86400;
    if (p->cfg.connect_timeout == 0)
        p->cfg.connect_timeout = 10;
    if (p->cfg.total_timeout == 0)
        p->cfg.total_timeout = 3600;
    if (p->cfg.low_speed_limit == 0)
        p->cfg.low_speed_limit = 4096;
    if (p->cfg.low_speed_time == 0)
        p->cfg.low_speed_time = 15;
    if (p->cfg.max_redirects == 0)
        p->cfg.max_redirects = 3;
    if (p->cfg.rate_burst == 0)
        p->cfg.rate_burst = 60;
    if (p->cfg.rate_per_minute == 0)
        p->cfg.rate_per_minute = 120;
    p->rates = calloc(RATE_SLOTS, sizeof *p->rates);
    ENSURE(p->rates != NULL, PARLEY_ERR_NOMEM);
    if (cfg->cache_dir != NULL) {
        ENSURE(strlen(cfg->cache_dir) < sizeof p->cache_dir, PARLEY_ERR_INVALID_ARG);
        snprintf(p->cache_dir, sizeof p->cache_dir, "%s", cfg->cache_dir);
        p->cfg.cache_dir = p->cache_dir;
        GUARD(pmh_mkdirs(p->cache_dir));
    }
    p->daemon = pmh_daemon_start(cfg->bind_addr, cfg->port, cfg->max_connections,
                                 cfg->tls_cert_file, cfg->tls_key_file, handle, p, NULL, NULL);
    ENSURE(p->daemon != NULL, PARLEY_ERR_IO);
    *out = p;
    p = NULL;
    rc = PARLEY_OK;
out:
    if (p != NULL)
        pmh_proxy_stop(p);
    return rc;
}

uint16_t pmh_proxy_port(const pmh_proxy *p)
{
    return pmh_daemon_port(p->daemon);
}

void pmh_proxy_stop(pmh_proxy *p)
{
    if (p == NULL)
        return;
    if (p->daemon != NULL)
        MHD_stop_daemon(p->daemon);
    free(p->rates);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/*
 * parley-provider's HTTP API (docs/parts/thirdparty.md "Provider HTTP
 * API"), on libmicrohttpd with a thread per connection, so a long-poll
 * simply waits on a condition variable. Bodies are capped at PP_BODY_MAX
 * before anything parses them.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "crypto/crypto.h"
#include "parley/media.h"
#include "provider/provider.h"
#include "util/buf.h"
#include "util/json.h"

typedef struct {
    char body[PP_BODY_MAX];
    size_t len;
    int too_large;
} req_state;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *json)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned code, const char *reason)
{
    char j[128];
    snprintf(j, sizeof j, "{\"error\":\"%s\"}", reason);
    return reply(c, code, j);
}

static enum MHD_Result reply_buf(struct MHD_Connection *c, unsigned code, pjson_w *w, pbuf *b)
{
    char *s;
    if (pjson_w_status(w) != PARLEY_OK || pbuf_append_u8(b, 0) != PARLEY_OK)
        return error(c, 500, "internal");
    s = (char *)b->data;
    return reply(c, code, s);
}

/* The bearer token's user, or -1. */
static int bearer(pp_server *s, struct MHD_Connection *c, int64_t now)
{
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (a == NULL || strncmp(a, "Bearer ", 7) != 0)
        return -1;
    return pp_token_user(s, a + 7, now);
}

static pjson *parse(const req_state *st)
{
    pjson *j = NULL;
    if (pjson_parse(&j, st->body, st->len) != PARLEY_OK || j == NULL || j->type != PJSON_OBJECT) {
        pjson_free(j);
        return NULL;
    }
    return j;
}

/* "media":{"host","token","expires"} when this provider runs a media host
 * (docs/media.md "The provider's media host"); 1, or 0 on failure. */
static int media_json(pp_server *s, pjson_w *w, int u, int64_t now)
{
    char mt[PARLEY_MEDIA_TOKEN_MAX];
    int64_t exp = 0;
    if (s->media == NULL)
        return 1;
    if (pp_media_token(s, u, now, mt, sizeof mt, &exp) != 0)
        return 0;
    pjson_w_begin_obj(w, "media");
    pjson_w_string(w, "host", s->media_url);
    pjson_w_string(w, "token", mt);
    pjson_w_int(w, "expires", exp);
    pjson_w_end(w);
    pc_wipe(mt, sizeof mt);
    return 1;
}

/* POST /v1/login {"user":"bob","password":"..."} -> {"token","user"[,"media"]} */
static enum MHD_Result login(pp_server *s, struct MHD_Connection *c, const req_state *st,
                             int64_t now)
{
    pjson *j = parse(st);
    enum MHD_Result ret;
    char tok[2 * PP_TOKEN_LEN + 1], addr[PARLEY_ATTEST_USER_MAX + 1];
    if (j == NULL)
        return error(c, 400, "bad-request");
    const char *user = pjson_get_string(j, "user");
    const char *pw = pjson_get_string(j, "password");
    /* Accept "bob" or "bob@<our domain>". */
    char name[PP_NAME_MAX + 1] = "";
    if (user) {
        const char *at = strchr(user, '@');
        size_t n = at ? (size_t)(at - user) : strlen(user);
        if (n <= PP_NAME_MAX && (at == NULL || strcmp(at + 1, s->domain) == 0)) {
            memcpy(name, user, n);
            name[n] = 0;
        }
    }
    /* Password guessing: a bucket per client IP and one per name, checked
     * before the (deliberately slow) hash. */
    char ip[64] = "", ukey[PP_NAME_MAX + 8];
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof ip);
    else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, ip,
                  sizeof ip);
    snprintf(ukey, sizeof ukey, "u:%s", name);
    pthread_mutex_lock(&s->mu);
    prl_result lim =
        prl_check(s->login_limits, name[0] ? ukey : NULL, ip[0] ? ip : NULL, NULL, now * 1000);
    pthread_mutex_unlock(&s->mu);
    if (lim != PRL_OK) {
        pjson_free(j);
        return error(c, 429, "rate-limited");
    }
    int u = pp_name_ok(name) ? pp_user_find(s, name) : -1;
    /* Verify against a real hash even for an unknown user, so timing does
     * not tell which names exist. */
    const char *hash = u >= 0 ? s->users[u].hash : (s->user_count ? s->users[0].hash : "");
    int ok = pw && strlen(pw) <= PP_PASSWORD_MAX && hash[0] &&
             pc_pwhash_verify(hash, pw, strlen(pw)) == PARLEY_OK && u >= 0;
    pjson_free(j);
    if (!ok) {
        pthread_mutex_lock(&s->mu);
        s->logins_failed++;
        pthread_mutex_unlock(&s->mu);
        return error(c, 401, "bad-login");
    }
    if (pp_token_issue(s, u, now, tok) != 0)
        return error(c, 500, "internal");
    snprintf(addr, sizeof addr, "%s@%s", s->users[u].name, s->domain);
    pbuf b;
    pjson_w w;
    pbuf_init(&b, 1024);
    pjson_w_init(&w, &b);
    pjson_w_begin(&w);
    pjson_w_string(&w, "token", tok);
    pjson_w_string(&w, "user", addr);
    pjson_w_int(&w, "expires", now + PP_TOKEN_TTL);
    ok = media_json(s, &w, u, now);
    pjson_w_end(&w);
    ret = ok ? reply_buf(c, 200, &w, &b) : error(c, 500, "internal");
    pc_wipe(b.data, b.len);
    pbuf_free(&b);
    pc_wipe(tok, sizeof tok);
    return ret;
}

/* POST /v1/media/token (bearer) -> {"media":{"host","token","expires"}}:
 * a fresh upload credential without sending the password again. */
static enum MHD_Result media_token(pp_server *s, struct MHD_Connection *c, int64_t now)
{
    int u = bearer(s, c, now);
    if (u < 0)
        return error(c, 401, "bad-token");
    if (s->media == NULL)
        return error(c, 404, "no-media-host");
    pbuf b;
    pjson_w w;
    pbuf_init(&b, 2048);
    pjson_w_init(&w, &b);
    pjson_w_begin(&w);
    int ok = media_json(s, &w, u, now);
    pjson_w_end(&w);
    enum MHD_Result ret = ok ? reply_buf(c, 200, &w, &b) : error(c, 500, "internal");
    pc_wipe(b.data, b.len);
    pbuf_free(&b);
    return ret;
}

/* POST /v1/attest {"noise_key":B64,"identity_key":B64} (bearer) ->
 * {"attestation":B64,"user","key_id","expires"} */
static enum MHD_Result attest(pp_server *s, struct MHD_Connection *c, const req_state *st,
                              int64_t now)
{
    int u = bearer(s, c, now);
    if (u < 0)
        return error(c, 401, "bad-token");
    pjson *j = parse(st);
    if (j == NULL)
        return error(c, 400, "bad-request");
    parley_attestation a;
    memset(&a, 0, sizeof a);
    size_t nk = 0;
    int ok = pjson_get_base64(j, "noise_key", a.noise_key, sizeof a.noise_key, &nk) == PARLEY_OK &&
             nk == sizeof a.noise_key &&
             pjson_get_base64(j, "identity_key", a.identity_key, sizeof a.identity_key,
                              &a.identity_key_len) == PARLEY_OK &&
             a.identity_key_len >= PARLEY_ATTEST_IDENTITY_MIN;
    pjson_free(j);
    if (!ok)
        return error(c, 400, "bad-keys");
    snprintf(a.provider, sizeof a.provider, "%s", s->id);
    a.key_id = s->key_id;
    snprintf(a.user, sizeof a.user, "%s@%s", s->users[u].name, s->domain);
    a.issued_at = (uint64_t)now;
    a.expires = (uint64_t)now + s->lifetime;
    uint8_t out[PARLEY_ATTEST_MAX_LEN];
    size_t n = 0;
    if (parley_attestation_issue(out, sizeof out, &n, &a, s->priv) != PARLEY_OK)
        return error(c, 400, "bad-keys");
    pthread_mutex_lock(&s->mu);
    s->attestations++;
    pthread_mutex_unlock(&s->mu);
    pbuf b;
    pjson_w w;
    pbuf_init(&b, 4096);
    pjson_w_init(&w, &b);
    pjson_w_begin(&w);
    pjson_w_base64(&w, "attestation", out, n);
    pjson_w_string(&w, "user", a.user);
    pjson_w_int(&w, "key_id", a.key_id);
    pjson_w_int(&w, "expires", (int64_t)a.expires);
    pjson_w_end(&w);
    enum MHD_Result ret = reply_buf(c, 200, &w, &b);
    pbuf_free(&b);
    return ret;
}

/* Check the gatekeeper's signature, timestamp window and replay cache. */
static int gk_signed(pp_server *s, struct MHD_Connection *c, const char *method, const char *path,
                     const req_state *st, int64_t now)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, PHS_HEADER_NAME);
    uint8_t sig[64];
    phs_request r = {.method = method,
                     .path = path,
                     .audience = s->id,
                     .body = (const uint8_t *)st->body,
                     .body_len = st->len};
    if (h == NULL)
        return PARLEY_ERR_HTTP_SIGNATURE;
    int rc = phs_verify(h, &r, s->gk_keys, s->gk_key_count, now, s->window, sig);
    if (rc != PARLEY_OK)
        return rc;
    pthread_mutex_lock(&s->mu);
    rc = phs_replay_check(s->replay, sig, now, s->window);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static enum MHD_Result refuse_signed(pp_server *s, struct MHD_Connection *c, int rc)
{
    pthread_mutex_lock(&s->mu);
    s->pushes_refused++;
    pthread_mutex_unlock(&s->mu);
    if (rc == PARLEY_ERR_HTTP_REPLAY)
        return error(c, 409, "replay");
    if (rc == PARLEY_ERR_HTTP_STALE)
        return error(c, 401, "stale");
    return error(c, 401, "bad-signature");
}

/* Our local part of "name@domain", or -1. */
static int local_user(pp_server *s, const char *addr)
{
    const char *at = addr ? strchr(addr, '@') : NULL;
    char name[PP_NAME_MAX + 1];
    if (at == NULL || (size_t)(at - addr) > PP_NAME_MAX || strcmp(at + 1, s->domain) != 0)
        return -1;
    memcpy(name, addr, (size_t)(at - addr));
    name[at - addr] = 0;
    return pp_name_ok(name) ? pp_user_find(s, name) : -1;
}

/* POST /v1/push {"user","device","pending"} (signed by the gatekeeper) */
static enum MHD_Result push(pp_server *s, struct MHD_Connection *c, const char *path,
                            const req_state *st, int64_t now)
{
    int rc = gk_signed(s, c, "POST", path, st, now);
    if (rc != PARLEY_OK)
        return refuse_signed(s, c, rc);
    pjson *j = parse(st);
    int64_t device = 0, pending = 0;
    if (j == NULL)
        return error(c, 400, "bad-request");
    int u = local_user(s, pjson_get_string(j, "user"));
    int ok = pjson_get_int(j, "device", 1, INT32_MAX, &device) == PARLEY_OK &&
             pjson_get_int(j, "pending", 0, INT64_MAX / 2, &pending) == PARLEY_OK;
    pjson_free(j);
    if (!ok)
        return error(c, 400, "bad-request");
    if (u < 0)
        return error(c, 404, "unknown-user");
    pthread_mutex_lock(&s->mu);
    pp_wakebox *box = NULL;
    for (size_t i = 0; i < s->box_count; i++)
        if (s->boxes[i].user == u)
            box = &s->boxes[i];
    if (box == NULL && s->box_count < PP_WAKE_USERS_MAX) {
        box = &s->boxes[s->box_count++];
        memset(box, 0, sizeof *box);
        box->user = u;
    }
    if (box) {
        /* One entry per device: a newer wake-up replaces an older one. */
        size_t k = 0;
        while (k < box->n && box->q[k].device != (uint32_t)device)
            k++;
        if (k == box->n && box->n == PP_WAKE_QUEUE_MAX) {
            memmove(box->q, box->q + 1, (PP_WAKE_QUEUE_MAX - 1) * sizeof box->q[0]);
            k = --box->n;
        }
        box->q[k] = (pp_wake){.device = (uint32_t)device, .pending = (uint64_t)pending, .t = now};
        if (k == box->n)
            box->n++;
    }
    s->pushes++;
    pthread_cond_broadcast(&s->wake_cv);
    pthread_mutex_unlock(&s->mu);
    return reply(c, 202, "{\"ok\":true}");
}

/* POST /v1/verify {"user"} (signed): does this user exist here? */
static enum MHD_Result verify(pp_server *s, struct MHD_Connection *c, const char *path,
                              const req_state *st, int64_t now)
{
    int rc = gk_signed(s, c, "POST", path, st, now);
    if (rc != PARLEY_OK)
        return refuse_signed(s, c, rc);
    pjson *j = parse(st);
    if (j == NULL)
        return error(c, 400, "bad-request");
    int u = local_user(s, pjson_get_string(j, "user"));
    pjson_free(j);
    return u >= 0 ? reply(c, 200, "{\"exists\":true}") : reply(c, 404, "{\"exists\":false}");
}

/* GET /v1/wakeups?timeout=N (bearer): wait up to N seconds for wake-ups
 * for the caller's devices, then return them all (and forget them). */
static enum MHD_Result wakeups(pp_server *s, struct MHD_Connection *c, int64_t now)
{
    int u = bearer(s, c, now);
    if (u < 0)
        return error(c, 401, "bad-token");
    const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timeout");
    long timeout = t ? strtol(t, NULL, 10) : 25;
    if (timeout < 0)
        timeout = 0;
    if (timeout > PP_LONGPOLL_MAX)
        timeout = PP_LONGPOLL_MAX;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout;
    pp_wake got[PP_WAKE_QUEUE_MAX];
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        pp_wakebox *box = NULL;
        for (size_t i = 0; i < s->box_count; i++)
            if (s->boxes[i].user == u)
                box = &s->boxes[i];
        if (box && box->n) {
            n = box->n;
            memcpy(got, box->q, n * sizeof got[0]);
            box->n = 0;
            break;
        }
        if (s->stopping || pthread_cond_timedwait(&s->wake_cv, &s->mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&s->mu);
    if (n == 0)
        return reply(c, 200, "{\"wakeups\":[]}");
    char out[PP_WAKE_QUEUE_MAX * 96 + 32];
    size_t o = (size_t)snprintf(out, sizeof out, "{\"wakeups\":[");
    for (size_t i = 0; i < n; i++)
        o +=
            (size_t)snprintf(out + o, sizeof out - o,
                             "%s{\"device\":%" PRIu32 ",\"pending\":%" PRIu64 ",\"t\":%" PRId64 "}",
                             i ? "," : "", got[i].device, got[i].pending, got[i].t);
    snprintf(out + o, sizeof out - o, "]}");
    return reply(c, 200, out);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    pp_server *s = cls;
    req_state *st = *con_cls;
    (void)version;
    if (st == NULL) {
        st = calloc(1, sizeof *st);
        *con_cls = st;
        return st ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        if (st->len + *upload_size > sizeof st->body)
            st->too_large = 1;
        else
            memcpy(st->body + st->len, upload, *upload_size);
        if (!st->too_large)
            st->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->too_large)
        return error(c, 413, "too-large");
    int64_t now = (int64_t)time(NULL);
    int post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (get && strcmp(url, "/v1/health") == 0)
        return reply(c, 200, "{\"ok\":true}");
    if (post && strcmp(url, "/v1/login") == 0)
        return login(s, c, st, now);
    if (post && strcmp(url, "/v1/attest") == 0)
        return attest(s, c, st, now);
    if (post && strcmp(url, "/v1/push") == 0)
        return push(s, c, url, st, now);
    if (post && strcmp(url, "/v1/verify") == 0)
        return verify(s, c, url, st, now);
    if (get && strcmp(url, "/v1/wakeups") == 0)
        return wakeups(s, c, now);
    if (post && strcmp(url, "/v1/media/token") == 0)
        return media_token(s, c, now);
    return error(c, 404, "not-found");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    if (*con_cls) {
        pc_wipe(*con_cls, sizeof(req_state)); /* may hold a password */
        free(*con_cls);
    }
    *con_cls = NULL;
}

int pp_server_start(pp_server *s, struct MHD_Daemon **out, unsigned *port)
{
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;
    const struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
    memset(&s4, 0, sizeof s4);
    memset(&s6, 0, sizeof s6);
    if (inet_pton(AF_INET, s->listen, &s4.sin_addr) == 1) {
        s4.sin_family = AF_INET;
        s4.sin_port = htons((uint16_t)s->port);
        sa = (const struct sockaddr *)&s4;
    } else if (inet_pton(AF_INET6, s->listen, &s6.sin6_addr) == 1) {
        s6.sin6_family = AF_INET6;
        s6.sin6_port = htons((uint16_t)s->port);
        sa = (const struct sockaddr *)&s6;
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "parley-provider: listen address %s is not an IP address\n", s->listen);
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake_cv, NULL);
    s->tokens = calloc(PP_TOKENS_MAX, sizeof *s->tokens);
    s->boxes = calloc(PP_WAKE_USERS_MAX, sizeof *s->boxes);
    if (s->tokens == NULL || s->boxes == NULL || phs_replay_new(&s->replay, PP_REPLAY_CACHE) != 0)
        return -1;
    /* Logins: 10 at once, then one per 6 s, per name ("device" bucket) and
     * per client IP; nothing per provider (this is the provider). */
    prl_config lc;
    prl_config_default(&lc);
    lc.device = (prl_rate){.rate = 1.0 / 6, .burst = 10};
    lc.ip = (prl_rate){.rate = 1, .burst = 30};
    lc.provider = (prl_rate){.rate = 0, .burst = 0};
    lc.first_contacts_per_day = 0;
    lc.trips_to_throttle = 0;
    lc.max_keys = 100000;
    if (prl_new(&s->login_limits, &lc) != PARLEY_OK)
        return -1;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)s->port, NULL, NULL, handler, s, MHD_OPTION_NOTIFY_COMPLETED, completed,
        NULL, MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)PP_LONGPOLL_MAX + 30u, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "parley-provider: cannot listen on %s port %u\n", s->listen, s->port);
        return -1;
    }
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = i ? i->port : s->port;
    *out = d;
    return 0;
}

void pp_server_stop(pp_server *s, struct MHD_Daemon *d)
{
    /* Release long-polls first, so the daemon's threads can finish. */
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->wake_cv);
    pthread_mutex_unlock(&s->mu);
    if (d)
        MHD_stop_daemon(d);
    phs_replay_free(s->replay);
    prl_free(s->login_limits);
    s->login_limits = NULL;
    free(s->tokens);
    free(s->boxes);
    s->replay = NULL;
    s->tokens = NULL;
    s->boxes = NULL;
}

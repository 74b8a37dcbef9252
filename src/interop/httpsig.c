/*
 * Signed HTTP requests (httpsig.h). The header is parsed through the
 * bounds-checked reader; the signed string is built in a bounded buffer.
 */
#include "interop/httpsig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/reader.h"
#include "util/safety.h"

/* SHA-256 on a stack context: pc_sha256 keeps a digest context per thread
 * that is never freed when the thread ends, and HTTP servers run requests
 * on short-lived threads. */
static int sha256_once(uint8_t out[PC_SHA256_LEN], const uint8_t *in, size_t n)
{
    pc_sha256_ctx c;
    int rc = pc_sha256_init(&c);
    if (rc == PARLEY_OK && n > 0)
        rc = pc_sha256_update(&c, in, n);
    if (rc == PARLEY_OK)
        rc = pc_sha256_final(&c, out);
    return rc;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t phs_b64_encode(char *out, size_t out_max, const uint8_t *in, size_t n)
{
    size_t need = (n + 2) / 3 * 4, o = 0;
    if (out_max < need + 1)
        return 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

int phs_b64_decode(uint8_t *out, size_t out_max, size_t *out_len, const char *in, size_t n)
{
    int rc;
    size_t o = 0;
    ENSURE(n % 4 == 0, PARLEY_ERR_DECODE);
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            if (in[i + (size_t)j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else {
                ENSURE(pad == 0, PARLEY_ERR_DECODE);
                v[j] = b64_val(in[i + (size_t)j]);
                ENSURE(v[j] >= 0, PARLEY_ERR_DECODE);
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* canonical: the bits padding drops must be zero */
        ENSURE(!(pad == 1 && (w & 0xff)) && !(pad == 2 && (w & 0xffff)), PARLEY_ERR_DECODE);
        size_t k = (size_t)(3 - pad);
        ENSURE(o + k <= out_max, PARLEY_ERR_BUFFER);
        out[o++] = (uint8_t)(w >> 16);
        if (k > 1)
            out[o++] = (uint8_t)(w >> 8);
        if (k > 2)
            out[o++] = (uint8_t)w;
    }
    *out_len = o;
    rc = PARLEY_OK;
out:
    return rc;
}

static int field_ok(const char *s)
{
    size_t n = strnlen(s, PHS_FIELD_MAX + 1);
    if (n == 0 || n > PHS_FIELD_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

static int key_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > PHS_KEY_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* The string that is signed (header comment). */
static int signed_string(pbuf *b, const phs_request *req, int64_t t)
{
    int rc;
    uint8_t h[PC_SHA256_LEN];
    char line[64];
    static const char hex[] = "0123456789abcdef";
    ENSURE(req->method && req->path && req->audience, PARLEY_ERR_INVALID_ARG);
    ENSURE(field_ok(req->method) && field_ok(req->path) && field_ok(req->audience),
           PARLEY_ERR_INVALID_ARG);
    GUARD(sha256_once(h, req->body, req->body_len));
    GUARD(pbuf_append(b, "parley-http-v1\n", 15));
    GUARD(pbuf_append(b, req->method, strlen(req->method)));
    GUARD(pbuf_append_u8(b, '\n'));
    GUARD(pbuf_append(b, req->path, strlen(req->path)));
    GUARD(pbuf_append_u8(b, '\n'));
    GUARD(pbuf_append(b, req->audience, strlen(req->audience)));
    int n = snprintf(line, sizeof line, "\n%" PRId64 "\n", t);
    GUARD(pbuf_append(b, line, (size_t)n));
    for (size_t i = 0; i < sizeof h; i++) {
        GUARD(pbuf_append_u8(b, (uint8_t)hex[h[i] >> 4]));
        GUARD(pbuf_append_u8(b, (uint8_t)hex[h[i] & 15]));
    }
    rc = PARLEY_OK;
out:
    return rc;
}

int phs_sign(char out[PHS_HEADER_MAX], const phs_request *req, const char *key_id, int64_t t,
             const uint8_t priv[64])
{
    int rc;
    pbuf b;
    uint8_t sig[64];
    char sig64[96];
    PARLEY_MISUSE(out && req && key_id && priv);
    pbuf_init(&b, 4 * PHS_FIELD_MAX + 256);
    ENSURE(key_id_ok(key_id, strnlen(key_id, PHS_KEY_ID_MAX + 1)), PARLEY_ERR_INVALID_ARG);
    ENSURE(t >= 0, PARLEY_ERR_INVALID_ARG);
    GUARD(signed_string(&b, req, t));
    GUARD(pc_ed25519_sign(sig, b.data, b.len, priv));
    (void)phs_b64_encode(sig64, sizeof sig64, sig, sizeof sig);
    int n = snprintf(out, PHS_HEADER_MAX, "v1;key=%s;t=%" PRId64 ";sig=%s", key_id, t, sig64);
    ENSURE(n > 0 && n < PHS_HEADER_MAX, PARLEY_ERR_BUFFER);
    rc = PARLEY_OK;
out:
    pbuf_free(&b);
    return rc;
}

/* Read "NAME=" then the value up to ';' or the end. */
static int param(preader *r, const char *name, const uint8_t **val, size_t *len)
{
    int rc;
    const uint8_t *p;
    size_t nl = strlen(name);
    GUARD(preader_view(r, &p, nl));
    ENSURE(memcmp(p, name, nl) == 0, PARLEY_ERR_DECODE);
    size_t start = r->pos, end = start;
    while (end < r->len && r->data[end] != ';')
        end++;
    GUARD(preader_view(r, val, end - start));
    *len = end - start;
    if (preader_left(r) > 0) {
        uint8_t semi;
        GUARD(preader_u8(r, &semi));
    }
    rc = PARLEY_OK;
out:
    return rc;
}

int phs_verify(const char *header, const phs_request *req, const phs_key *keys, size_t key_count,
               int64_t now, int64_t window, uint8_t sig_out[64])
{
    int rc;
    preader r;
    const uint8_t *kid, *tv, *sv, *v1;
    size_t kid_len, t_len, s_len, sig_len = 0;
    uint8_t sig[64];
    int64_t t = 0;
    const phs_key *key = NULL;
    pbuf b;
    PARLEY_MISUSE(header && req && (keys || key_count == 0));
    pbuf_init(&b, 4 * PHS_FIELD_MAX + 256);
    size_t hl = strnlen(header, PHS_HEADER_MAX);
    ENSURE(hl < PHS_HEADER_MAX, PARLEY_ERR_DECODE);
    preader_init(&r, (const uint8_t *)header, hl);
    GUARD(preader_view(&r, &v1, 3));
    ENSURE(memcmp(v1, "v1;", 3) == 0, PARLEY_ERR_DECODE);
    GUARD(param(&r, "key=", &kid, &kid_len));
    ENSURE(key_id_ok((const char *)kid, kid_len), PARLEY_ERR_DECODE);
    GUARD(param(&r, "t=", &tv, &t_len));
    ENSURE(t_len >= 1 && t_len <= 12 && (t_len == 1 || tv[0] != '0'), PARLEY_ERR_DECODE);
    for (size_t i = 0; i < t_len; i++) {
        ENSURE(tv[i] >= '0' && tv[i] <= '9', PARLEY_ERR_DECODE);
        t = t * 10 + (tv[i] - '0');
    }
    GUARD(param(&r, "sig=", &sv, &s_len));
    ENSURE(preader_left(&r) == 0, PARLEY_ERR_DECODE);
    ENSURE(s_len == 88, PARLEY_ERR_DECODE);
    GUARD(phs_b64_decode(sig, sizeof sig, &sig_len, (const char *)sv, s_len));
    ENSURE(sig_len == 64, PARLEY_ERR_DECODE);
    for (size_t i = 0; i < key_count; i++)
        if (strlen(keys[i].key_id) == kid_len && memcmp(keys[i].key_id, kid, kid_len) == 0)
            key = &keys[i];
    ENSURE(key != NULL, PARLEY_ERR_ATTEST_UNKNOWN_KEY);
    GUARD(signed_string(&b, req, t));
    ENSURE(pc_ed25519_verify(sig, b.data, b.len, key->pub) == PARLEY_OK, PARLEY_ERR_HTTP_SIGNATURE);
    /* The window is checked on an authenticated t only. */
    ENSURE(t <= now + window && now <= t + window, PARLEY_ERR_HTTP_STALE);
    if (sig_out)
        memcpy(sig_out, sig, 64);
    rc = PARLEY_OK;
out:
    pbuf_free(&b);
    return rc;
}

typedef struct {
    uint8_t tag[16];
    int64_t t;
} seen;

struct phs_replay {
    seen *ring;
    size_t cap, head, count;
};

int phs_replay_new(phs_replay **out, size_t capacity)
{
    int rc;
    phs_replay *r = calloc(1, sizeof *r);
    ENSURE(r != NULL && capacity > 0, PARLEY_ERR_NOMEM);
    r->ring = calloc(capacity, sizeof(seen));
    ENSURE(r->ring != NULL, PARLEY_ERR_NOMEM);
    r->cap = capacity;
    *out = r;
    r = NULL;
    rc = PARLEY_OK;
out:
    phs_replay_free(r);
    return rc;
}

void phs_replay_free(phs_replay *r)
{
    if (r) {
        free(r->ring);
        free(r);
    }
}

int phs_replay_check(phs_replay *r, const uint8_t sig[64], int64_t now, int64_t window)
{
    /* A signature is unique per request (Ed25519 is deterministic over a
     * string that includes t and the body hash); its first 16 bytes (R)
     * identify it well enough. */
    for (size_t i = 0; i < r->count; i++) {
        const seen *s = &r->ring[(r->head + r->cap - 1 - i) % r->cap];
        if (s->t >= now - window && memcmp(s->tag, sig, 16) == 0)
            return PARLEY_ERR_HTTP_REPLAY;
    }
    seen *s = &r->ring[r->head];
    memcpy(s->tag, sig, 16);
    s->t = now;
    r->head = (r->head + 1) % r->cap;
    if (r->count < r->cap)
        r->count++;
    return PARLEY_OK;
}

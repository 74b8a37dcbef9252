/* JSON (RFC 8259) reader and writer for tools and test drivers. */
#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

typedef struct {
    const char *s;
    size_t len;
    size_t pos;
} jparser;

static void skip_ws(jparser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int lit(jparser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return PARLEY_ERR_DECODE;
    p->pos += n;
    return PARLEY_OK;
}

static int hex4(jparser *p, uint32_t *out)
{
    uint32_t v = 0;
    if (p->len - p->pos < 4)
        return PARLEY_ERR_DECODE;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return PARLEY_ERR_DECODE;
    }
    *out = v;
    return PARLEY_OK;
}

static int put_utf8(pbuf *b, uint32_t cp)
{
    uint8_t t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (uint8_t)(0xc0 | (cp >> 6));
        t[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (uint8_t)(0xe0 | (cp >> 12));
        t[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        t[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        t[0] = (uint8_t)(0xf0 | (cp >> 18));
        t[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        t[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        t[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return pbuf_append(b, t, n);
}

static int parse_string(jparser *p, char **out, size_t *out_len)
{
    int rc;
    pbuf b;
    pbuf_init(&b, PJSON_MAX_INPUT);
    ENSURE(p->pos < p->len && p->s[p->pos] == '"', PARLEY_ERR_DECODE);
    p->pos++;
    for (;;) {
        ENSURE(p->pos < p->len, PARLEY_ERR_DECODE);
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c == '"')
            break;
        ENSURE(c >= 0x20, PARLEY_ERR_DECODE);
        if (c != '\\') {
            GUARD(pbuf_append_u8(&b, c));
            continue;
        }
        ENSURE(p->pos < p->len, PARLEY_ERR_DECODE);
        char e = p->s[p->pos++];
        uint32_t cp;
        switch (e) {
        case '"': case '\\': case '/':
            GUARD(pbuf_append_u8(&b, (uint8_t)e));
            break;
        case 'b': GUARD(pbuf_append_u8(&b, '\b')); break;
        case 'f': GUARD(pbuf_append_u8(&b, '\f')); break;
        case 'n': GUARD(pbuf_append_u8(&b, '\n')); break;
        case 'r': GUARD(pbuf_append_u8(&b, '\r')); break;
        case 't': GUARD(pbuf_append_u8(&b, '\t')); break;
        case 'u':
            GUARD(hex4(p, &cp));
            if (cp >= 0xd800 && cp < 0xdc00) {
                uint32_t lo;
                GUARD(lit(p, "\\u"));
                GUARD(hex4(p, &lo));
                ENSURE(lo >= 0xdc00 && lo < 0xe000, PARLEY_ERR_DECODE);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else {
                ENSURE(cp < 0xdc00 || cp >= 0xe000, PARLEY_ERR_DECODE);
            }
            ENSURE(cp != 0, PARLEY_ERR_DECODE); /* strings are C strings */
            GUARD(put_utf8(&b, cp));
            break;
        default:
            ENSURE(0, PARLEY_ERR_DECODE);
        }
    }
    GUARD(pbuf_append_u8(&b, 0));
    *out_len = b.len - 1;
    *out = malloc(b.len);
    ENSURE(*out != NULL, PARLEY_ERR_NOMEM);
    memcpy(*out, b.data, b.len);
    rc = PARLEY_OK;
out:
    pbuf_free(&b);
    return rc;
}

static int parse_value(jparser *p, pjson *v, int depth);

static int parse_members(jparser *p, pjson *v, int depth, int is_object)
{
    int rc;
    char close = is_object ? '}' : ']';
    pjson **tail = &v->child;
    p->pos++; /* '{' or '[' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return PARLEY_OK;
    }
    for (;;) {
        pjson *m = calloc(1, sizeof *m);
        ENSURE(m != NULL, PARLEY_ERR_NOMEM);
        *tail = m;
        tail = &m->next;
        skip_ws(p);
        if (is_object) {
            size_t kl;
            GUARD(parse_string(p, &m->key, &kl));
            skip_ws(p);
            GUARD(lit(p, ":"));
        }
        GUARD(parse_value(p, m, depth + 1));
        skip_ws(p);
        ENSURE(p->pos < p->len, PARLEY_ERR_DECODE);
        char c = p->s[p->pos++];
        if (c == close)
            break;
        ENSURE(c == ',', PARLEY_ERR_DECODE);
    }
    rc = PARLEY_OK;
out:
    return rc;
}

static int parse_number(jparser *p, pjson *v)
{
    char tmp[64];
    size_t start = p->pos, n;
    while (p->pos < p->len && strchr("+-0123456789.eE", p->s[p->pos]) != NULL)
        p->pos++;
    n = p->pos - start;
    if (n == 0 || n >= sizeof tmp)
        return PARLEY_ERR_DECODE;
    memcpy(tmp, p->s + start, n);
    tmp[n] = 0;
    char *end;
    v->number = strtod(tmp, &end);
    if (*end != 0 || !isfinite(v->number))
        return PARLEY_ERR_DECODE;
    v->type = PJSON_NUMBER;
    return PARLEY_OK;
}

static int parse_value(jparser *p, pjson *v, int depth)
{
    if (depth > PJSON_MAX_DEPTH)
        return PARLEY_ERR_DECODE;
    skip_ws(p);
    if (p->pos >= p->len)
        return PARLEY_ERR_DECODE;
    switch (p->s[p->pos]) {
    case '{':
        v->type = PJSON_OBJECT;
        return parse_members(p, v, depth, 1);
    case '[':
        v->type = PJSON_ARRAY;
        return parse_members(p, v, depth, 0);
    case '"':
        v->type = PJSON_STRING;
        return parse_string(p, &v->string, &v->str_len);
    case 't':
        v->type = PJSON_BOOL;
        v->boolean = 1;
        return lit(p, "true");
    case 'f':
        v->type = PJSON_BOOL;
        return lit(p, "false");
    case 'n':
        v->type = PJSON_NULL;
        return lit(p, "null");
    default:
        return parse_number(p, v);
    }
}

int pjson_parse(pjson **out, const char *text, size_t len)
{
    int rc;
    jparser p = {text, len, 0};
    pjson *v = NULL;
    *out = NULL;
    ENSURE(len <= PJSON_MAX_INPUT, PARLEY_ERR_BUFFER);
    v = calloc(1, sizeof *v);
    ENSURE(v != NULL, PARLEY_ERR_NOMEM);
    GUARD(parse_value(&p, v, 0));
    skip_ws(&p);
    ENSURE(p.pos == p.len, PARLEY_ERR_DECODE);
    *out = v;
    v = NULL;
    rc = PARLEY_OK;
out:
    pjson_free(v);
    return rc;
}

void pjson_free(pjson *v)
{
    while (v != NULL) {
        pjson *next = v->next;
        pjson_free(v->child);
        free(v->string);
        free(v->key);
        free(v);
        v = next;
    }
}

const pjson *pjson_get(const pjson *obj, const char *key)
{
    if (obj == NULL || obj->type != PJSON_OBJECT)
        return NULL;
    for (const pjson *m = obj->child; m != NULL; m = m->next)
        if (strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

const char *pjson_get_string(const pjson *obj, const char *key)
{
    const pjson *m = pjson_get(obj, key);
    return m != NULL && m->type == PJSON_STRING ? m->string : NULL;
}

int pjson_get_int(const pjson *obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
    const pjson *m = pjson_get(obj, key);
    if (m == NULL || m->type != PJSON_NUMBER)
        return PARLEY_ERR_DECODE;
    double d = m->number;
    if (d != floor(d) || d < (double)min || d > (double)max)
        return PARLEY_ERR_DECODE;
    *out = (int64_t)d;
    return PARLEY_OK;
}

int pjson_get_bool(const pjson *obj, const char *key, int *out)
{
    const pjson *m = pjson_get(obj, key);
    if (m == NULL || m->type != PJSON_BOOL)
        return PARLEY_ERR_DECODE;
    *out = m->boolean;
    return PARLEY_OK;
}

int pjson_get_base64(const pjson *obj, const char *key, uint8_t *out, size_t max, size_t *out_len)
{
    const pjson *m = pjson_get(obj, key);
    if (m == NULL || m->type != PJSON_STRING)
        return PARLEY_ERR_DECODE;
    const char *end;
    if (sodium_base642bin(out, max, m->string, m->str_len, NULL, out_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != m->string + m->str_len)
        return PARLEY_ERR_DECODE;
    return PARLEY_OK;
}

/* ---- writer ---- */

static void w_raw(pjson_w *w, const void *p, size_t n)
{
    if (w->err == 0 && pbuf_append(w->out, p, n) < 0)
        w->err = PARLEY_ERR_BUFFER;
}

static void w_str_body(pjson_w *w, const char *s, size_t n)
{
    w_raw(w, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            w_raw(w, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            w_raw(w, esc, 6);
        } else {
            w_raw(w, &s[i], 1);
        }
    }
    w_raw(w, "\"", 1);
}

static void w_key(pjson_w *w, const char *key)
{
    if (w->depth > 0 && w->need_comma[w->depth - 1])
        w_raw(w, ",", 1);
    if (w->depth > 0)
        w->need_comma[w->depth - 1] = 1;
    if (key != NULL) {
        w_str_body(w, key, strlen(key));
        w_raw(w, ":", 1);
    }
}

void pjson_w_init(pjson_w *w, pbuf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

void pjson_w_begin_obj(pjson_w *w, const char *key)
{
    w_key(w, key);
    w_raw(w, "{", 1);
    if (w->depth >= PJSON_MAX_DEPTH) {
        w->err = PARLEY_ERR_BUFFER;
        return;
    }
    w->need_comma[w->depth++] = 0;
}

void pjson_w_begin(pjson_w *w)
{
    pjson_w_begin_obj(w, NULL);
}

void pjson_w_end(pjson_w *w)
{
    w_raw(w, "}", 1);
    if (w->depth > 0)
        w->depth--;
}

void pjson_w_stringn(pjson_w *w, const char *key, const char *s, size_t n)
{
    w_key(w, key);
    w_str_body(w, s, n);
}

void pjson_w_string(pjson_w *w, const char *key, const char *s)
{
    pjson_w_stringn(w, key, s, strlen(s));
}

void pjson_w_int(pjson_w *w, const char *key, int64_t v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%lld", (long long)v);
    w_key(w, key);
    w_raw(w, t, (size_t)n);
}

void pjson_w_bool(pjson_w *w, const char *key, int v)
{
    w_key(w, key);
    if (v)
        w_raw(w, "true", 4);
    else
        w_raw(w, "false", 5);
}

void pjson_w_base64(pjson_w *w, const char *key, const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *t = malloc(cap);
    if (t == NULL) {
        w->err = PARLEY_ERR_NOMEM;
        return;
    }
    sodium_bin2base64(t, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    pjson_w_stringn(w, key, t, strlen(t));
    free(t);
}

int pjson_w_status(const pjson_w *w)
{
    return w->err;
}

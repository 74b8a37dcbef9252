/*
 * A small JSON reader and writer for parley's line-oriented tools and test
 * drivers (parley-peer, the vector runner). Parsing builds a tree with hard
 * limits on input size and nesting; every lookup is by key on an object.
 * Not used on any network path.
 */
#ifndef PARLEY_UTIL_JSON_H
#define PARLEY_UTIL_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/safety.h"

#define PJSON_MAX_DEPTH 32
#define PJSON_MAX_INPUT (16u * 1024u * 1024u)

typedef enum { PJSON_NULL, PJSON_BOOL, PJSON_NUMBER, PJSON_STRING, PJSON_ARRAY, PJSON_OBJECT } pjson_type;

typedef struct pjson pjson;
struct pjson {
    pjson_type type;
    int boolean;
    double number;
    char *string;    /* NUL-terminated UTF-8; may contain no NUL */
    size_t str_len;
    char *key;       /* set when this value is a member of an object */
    pjson *child;    /* first element / member */
    pjson *next;     /* next sibling */
};

/* Parse a whole document; trailing whitespace allowed, nothing else. */
PARLEY_MUST_CHECK int pjson_parse(pjson **out, const char *text, size_t len);
void pjson_free(pjson *v);

/* Lookups; NULL when absent or of another type. */
const pjson *pjson_get(const pjson *obj, const char *key);
const char *pjson_get_string(const pjson *obj, const char *key);
/* Integer member in [min, max]; PARLEY_ERR_DECODE otherwise. */
PARLEY_MUST_CHECK int pjson_get_int(const pjson *obj, const char *key, int64_t min, int64_t max,
                                    int64_t *out);
/* Boolean member; PARLEY_ERR_DECODE when absent or not a boolean. */
PARLEY_MUST_CHECK int pjson_get_bool(const pjson *obj, const char *key, int *out);
/* Standard base64 member decoded into out (at most max bytes). */
PARLEY_MUST_CHECK int pjson_get_base64(const pjson *obj, const char *key, uint8_t *out, size_t max,
                                       size_t *out_len);

/*
 * Writer: appends to a pbuf. The caller opens and closes objects; members
 * are separated automatically. Example:
 *   pjson_w w; pjson_w_init(&w, &buf);
 *   pjson_w_begin(&w); pjson_w_bool(&w, "ok", 1); pjson_w_end(&w);
 */
typedef struct {
    pbuf *out;
    int depth;
    int need_comma[PJSON_MAX_DEPTH];
    int err;
} pjson_w;

void pjson_w_init(pjson_w *w, pbuf *out);
void pjson_w_begin(pjson_w *w);                 /* '{' as a value or root */
void pjson_w_begin_obj(pjson_w *w, const char *key); /* "key":{ */
void pjson_w_end(pjson_w *w);                   /* '}' */
void pjson_w_string(pjson_w *w, const char *key, const char *s);
void pjson_w_stringn(pjson_w *w, const char *key, const char *s, size_t n);
void pjson_w_int(pjson_w *w, const char *key, int64_t v);
void pjson_w_bool(pjson_w *w, const char *key, int v);
void pjson_w_base64(pjson_w *w, const char *key, const uint8_t *p, size_t n);
/* PARLEY_OK, or the first error any call hit (e.g. PARLEY_ERR_BUFFER). */
int pjson_w_status(const pjson_w *w);

#endif

/*
 * Signed HTTP requests between the gatekeeper and a provider
 * (docs/parts/thirdparty.md, "Signed requests").
 *
 * The sender adds one header,
 *
 *   Parley-Signature: v1;key=KEYID;t=UNIXSECONDS;sig=BASE64
 *
 * where sig is Ed25519 over the bytes
 *
 *   "parley-http-v1" LF METHOD LF PATH LF AUDIENCE LF T LF hex(SHA-256(body))
 *
 * PATH is the request target as sent (path and query); AUDIENCE the id of
 * the party it is meant for (the provider id for gatekeeper → provider
 * calls), so a request captured at one provider cannot be replayed at
 * another. The receiver checks the signature, that |now - t| <= window,
 * and that it has not seen the signature within the window (phs_replay).
 */
#ifndef PARLEY_INTEROP_HTTPSIG_H
#define PARLEY_INTEROP_HTTPSIG_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

enum {
    PHS_HEADER_MAX = 256,
    PHS_KEY_ID_MAX = 64,
    PHS_FIELD_MAX = 1024, /* method, path, audience */
    PHS_WINDOW_DEFAULT = 300,
};

#define PHS_HEADER_NAME "Parley-Signature"

typedef struct {
    const char *key_id;
    uint8_t pub[32];
} phs_key;

typedef struct {
    const char *method;
    const char *path;
    const char *audience;
    const uint8_t *body;
    size_t body_len;
} phs_request;

/* Write the header value (NUL-terminated) into out. */
PARLEY_MUST_CHECK int phs_sign(char out[PHS_HEADER_MAX], const phs_request *req, const char *key_id,
                               int64_t t, const uint8_t priv[64]);

/*
 * Check a header value against the request and the sender's keys.
 * PARLEY_ERR_DECODE (malformed header), PARLEY_ERR_ATTEST_UNKNOWN_KEY (key
 * id not among keys), PARLEY_ERR_HTTP_STALE (outside the window),
 * PARLEY_ERR_HTTP_SIGNATURE. On success sig_out (may be NULL) receives the
 * signature, for the replay cache.
 */
PARLEY_MUST_CHECK int phs_verify(const char *header, const phs_request *req, const phs_key *keys,
                                 size_t key_count, int64_t now, int64_t window,
                                 uint8_t sig_out[64]);

/* A replay cache: remembers signatures until they leave the window. Fixed
 * capacity; when full, the oldest entry goes (it is the first to leave
 * the window anyway). Not thread-safe. */
typedef struct phs_replay phs_replay;
PARLEY_MUST_CHECK int phs_replay_new(phs_replay **out, size_t capacity);
void phs_replay_free(phs_replay *r);
/* PARLEY_OK and remember it, or PARLEY_ERR_HTTP_REPLAY if seen at or after
 * now - window. */
PARLEY_MUST_CHECK int phs_replay_check(phs_replay *r, const uint8_t sig[64], int64_t now,
                                       int64_t window);

/* Standard base64 (RFC 4648 section 4, padded). Decode accepts only the
 * canonical encoding. */
size_t phs_b64_encode(char *out, size_t out_max, const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int phs_b64_decode(uint8_t *out, size_t out_max, size_t *out_len, const char *in,
                                     size_t n);

#endif

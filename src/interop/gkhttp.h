/*
 * The gatekeeper's HTTP client to providers (DESIGN.md section 1: "the
 * gatekeeper talks to the provider's servers over HTTP (user verification,
 * push wake-ups)"; docs/interop-design.md "Gatekeeper to provider HTTP").
 *
 * A chat loop must never wait on a provider. So requests go on a bounded
 * queue that one worker thread drains with libcurl's multi interface; the
 * worker signs each attempt (httpsig.h), applies timeouts, retries with
 * exponential backoff, and keeps a circuit breaker per provider
 * (breaker.h). Completions come back the way the store's group commit
 * does: pgk_http_fd() becomes readable, and pgk_http_dispatch() runs the
 * callbacks on the caller's own thread.
 */
#ifndef PARLEY_INTEROP_GKHTTP_H
#define PARLEY_INTEROP_GKHTTP_H

#include <stddef.h>
#include <stdint.h>
#include "interop/breaker.h"
#include "parley/result.h"

enum {
    PGK_URL_MAX = 512,
    PGK_BODY_MAX = 16384,     /* request bodies are small JSON documents */
    PGK_RESPONSE_MAX = 16384, /* larger responses fail with PARLEY_ERR_BUFFER */
    PGK_PROVIDERS_MAX = 1024, /* breakers kept */
};

typedef struct {
    const char *key_id;      /* the gatekeeper's signing key id, as providers know it */
    const uint8_t *priv;     /* its Ed25519 secret key (64 bytes), copied */
    long connect_timeout_ms; /* 0: 2000 */
    long timeout_ms;         /* whole attempt; 0: 5000 */
    unsigned max_attempts;   /* 0: 4 */
    int64_t backoff_ms;      /* first retry delay; doubles; 0: 200 */
    int64_t backoff_max_ms;  /* 0: 10000 */
    pbr_config breaker;      /* per provider */
    size_t queue_max;        /* requests waiting or in flight; 0: 10000 */
} pgk_http_config;

typedef struct {
    int rc;      /* PARLEY_OK (2xx), PARLEY_ERR_HTTP_STATUS (final non-2xx),
                    PARLEY_ERR_TIMEOUT, PARLEY_ERR_IO (could not connect),
                    PARLEY_ERR_HTTP_CIRCUIT_OPEN, PARLEY_ERR_BUFFER (response too
                    large), PARLEY_ERR_STATE (client shut down first) */
    long status; /* last HTTP status, 0 if none */
    unsigned attempts;
    const uint8_t *body; /* response body of the last attempt, valid during the callback */
    size_t body_len;
} pgk_http_result;

typedef void (*pgk_http_done_fn)(void *arg, const pgk_http_result *r);

typedef struct {
    uint64_t submitted, succeeded, failed, retries, short_circuited, breaker_opened;
    size_t in_queue;
} pgk_http_stats;

typedef struct pgk_http pgk_http;

PARLEY_MUST_CHECK int pgk_http_new(pgk_http **out, const pgk_http_config *cfg);
/* Stop the worker: requests not finished complete with PARLEY_ERR_STATE
 * (their callbacks run here, on the caller's thread). */
void pgk_http_free(pgk_http *h);

/*
 * Queue a signed request to `provider` (its id is the signature's
 * audience and the breaker's key). Copies everything; never blocks.
 * PARLEY_ERR_AGAIN when the queue is full, PARLEY_ERR_INVALID_ARG for a
 * URL that is not http(s) or a body over PGK_BODY_MAX. done runs exactly
 * once, from pgk_http_dispatch.
 */
PARLEY_MUST_CHECK int pgk_http_submit(pgk_http *h, const char *provider, const char *method,
                                      const char *url, const uint8_t *body, size_t body_len,
                                      pgk_http_done_fn done, void *arg);

/* The two calls of docs/parts/thirdparty.md: a push wake-up for a device
 * with `pending` queued messages, and a user verification. */
PARLEY_MUST_CHECK int pgk_http_push(pgk_http *h, const char *provider, const char *push_url,
                                    const char *user, uint32_t device, uint64_t pending,
                                    pgk_http_done_fn done, void *arg);
PARLEY_MUST_CHECK int pgk_http_verify(pgk_http *h, const char *provider, const char *verify_url,
                                      const char *user, pgk_http_done_fn done, void *arg);

/* Readable (an eventfd) when completed requests wait for dispatch. */
int pgk_http_fd(const pgk_http *h);
/* Run the callbacks of completed requests; returns how many. Never blocks. */
int pgk_http_dispatch(pgk_http *h);

void pgk_http_get_stats(pgk_http *h, pgk_http_stats *out);
/* The breaker state of a provider (PBR_CLOSED for one never called). */
pbr_state pgk_http_breaker_state(pgk_http *h, const char *provider);

#endif

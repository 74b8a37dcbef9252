/*
 * HTTP media host and gatekeeper media proxy (DESIGN.md 3.6; endpoints,
 * storage layout and limits in docs/media.md). Built on libmicrohttpd
 * (one thread per connection, bodies streamed to and from disk) and, for
 * the proxy's upstream fetches and the upload client, libcurl.
 *
 * Not part of libparley: parleyd, parley-provider and parley-mediad link
 * the static library parley_mediahost next to libparley. The embedding
 * program supplies authentication (bearer tokens) and, for the proxy, the
 * allow-list of the sending provider's media hosts.
 */
#ifndef PARLEY_MEDIAHOST_H
#define PARLEY_MEDIAHOST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "parley/result.h"

#define PMH_USER_MAX 128 /* bytes of a user id, with its terminator */
#define PMH_URL_MAX 2048 /* bytes of a URL the proxy accepts or returns */

/*
 * Bearer-token check: return 1 and write a user id (NUL-terminated, at
 * most PMH_USER_MAX bytes) when `token` is valid, else 0. Called from
 * connection threads: must be thread-safe.
 */
typedef int (*pmh_auth_fn)(void *ctx, const char *token, char user[PMH_USER_MAX]);
/* A clock, so that tests can move time; NULL means time(NULL). */
typedef time_t (*pmh_clock_fn)(void *ctx);

/* ---- media host ---------------------------------------------------------------- */

typedef struct {
    const char *dir;           /* storage root (created if missing) */
    const char *bind_addr;     /* numeric; NULL: every address */
    uint16_t port;             /* 0: an ephemeral port (pmh_host_port) */
    uint64_t max_blob_size;    /* 0: 256 MiB + 4 KiB */
    uint64_t ttl_seconds;      /* blob lifetime; 0: 30 days */
    uint64_t upload_ttl_seconds; /* unfinished uploads; 0: 1 day */
    unsigned max_uploads;      /* unfinished uploads at once; 0: 1024 */
    unsigned max_connections;  /* 0: 256 */
    unsigned sweep_interval;   /* seconds between expiry sweeps; 0: 60 */
    const char *public_base;   /* URL prefix of returned links; NULL: from Host */
    const char *tls_cert_file; /* both set: HTTPS */
    const char *tls_key_file;
    pmh_auth_fn auth;          /* required */
    void *auth_ctx;
    pmh_clock_fn clock;
    void *clock_ctx;
} pmh_host_config;

typedef struct pmh_host pmh_host;

PARLEY_MUST_CHECK int pmh_host_start(pmh_host **out, const pmh_host_config *cfg);
uint16_t pmh_host_port(const pmh_host *h);
/* Remove expired blobs and stale uploads now; returns how many. */
int pmh_host_sweep(pmh_host *h);
void pmh_host_stop(pmh_host *h);

/* ---- media proxy --------------------------------------------------------------- */

/*
 * Allow-list check: PMH_ALLOW_YES (1) when `host` (lower-case name or
 * numeric address, without brackets) and `port` are media hosts of
 * `provider` (the request's provider parameter, or NULL), PMH_ALLOW_NO (0)
 * when they are not; the other answers say why the provider itself is
 * refused. Called from connection threads: must be thread-safe.
 */
typedef int (*pmh_allow_fn)(void *ctx, const char *provider, const char *host, unsigned port);
enum {
    PMH_ALLOW_YES = 1,
    PMH_ALLOW_NO = 0,                /* 403 host_not_allowed */
    PMH_ALLOW_UNKNOWN_PROVIDER = -1, /* 403 unknown_provider (none, or not registered) */
    PMH_ALLOW_PROVIDER_INACTIVE = -2, /* 403 provider_inactive (suspended or terminated) */
    PMH_ALLOW_UNAVAILABLE = -3,      /* 503 registry_unavailable (the records cannot be read) */
};

typedef struct {
    const char *bind_addr;
    uint16_t port;
    unsigned max_connections;    /* 0: 256 */
    const char *cache_dir;       /* NULL: no cache */
    uint64_t cache_ttl_seconds;  /* 0: 1 day */
    uint64_t max_blob_size;      /* 0: 256 MiB + 4 KiB */
    long connect_timeout;        /* seconds; 0: 10 */
    long total_timeout;          /* seconds for one fetch, the client's reading included; 0: 3600 */
    long low_speed_limit;        /* bytes/s below which ... ; 0: 4096 */
    long low_speed_time;         /* ... for this many seconds the fetch is dropped; 0: 15 */
    unsigned max_redirects;      /* 0: 3 */
    unsigned rate_burst;         /* requests per user at once; 0: 60 */
    unsigned rate_per_minute;    /* refill; 0: 120 */
    int allow_loopback;          /* tests only: let 127.0.0.0/8 and ::1 through */
    const char *ca_file;         /* trust anchors for https upstreams; NULL: system */
    const char *tls_cert_file;   /* both set: the proxy itself serves HTTPS */
    const char *tls_key_file;
    pmh_auth_fn auth;            /* required */
    void *auth_ctx;
    pmh_allow_fn allow;          /* required */
    void *allow_ctx;
    pmh_clock_fn clock;
    void *clock_ctx;
} pmh_proxy_config;

typedef struct pmh_proxy pmh_proxy;

PARLEY_MUST_CHECK int pmh_proxy_start(pmh_proxy **out, const pmh_proxy_config *cfg);
uint16_t pmh_proxy_port(const pmh_proxy *p);
void pmh_proxy_stop(pmh_proxy *p);

/* ---- upload client ------------------------------------------------------------- */

/*
 * Upload `size` bytes read from fd (from its current start, by pread) to
 * the host at base_url ("http://host:port"), resuming after interruptions
 * (HEAD learns the offset, PATCH sends the rest), at most `attempts`
 * PATCH requests of at most `chunk` bytes each (0: whole). expect_sha256
 * (may be NULL) is the blob's SHA-256, checked by the host. On success
 * url_out receives the download URL. ca_file may be NULL.
 * If upload_url_io is not NULL and non-empty, resumes that upload instead
 * of creating one; on return it holds the upload's URL.
 */
PARLEY_MUST_CHECK int pmh_client_upload(const char *base_url, const char *token, int fd,
                                        uint64_t size, const uint8_t *expect_sha256,
                                        uint64_t chunk, unsigned attempts, const char *ca_file,
                                        char *upload_url_io, size_t upload_url_max,
                                        char *url_out, size_t url_max);
/* Progress of an upload: bytes on the host (or in flight) of total. */
typedef void (*pmh_progress_fn)(void *arg, uint64_t done, uint64_t total);
/*
 * pmh_client_upload with a progress callback (may be NULL) and the
 * refusal ("<Parley-Error> <status>", may be NULL) of a failed request.
 */
PARLEY_MUST_CHECK int pmh_client_upload_progress(const char *base_url, const char *token, int fd,
                                                 uint64_t size, const uint8_t *expect_sha256,
                                                 uint64_t chunk, unsigned attempts,
                                                 const char *ca_file, char *upload_url_io,
                                                 size_t upload_url_max, char *url_out,
                                                 size_t url_max, pmh_progress_fn progress,
                                                 void *progress_arg, char *error_out,
                                                 size_t error_max);
/* Receives the body of a 200 as it arrives; non-zero stops the transfer. */
typedef int (*pmh_sink_fn)(void *arg, const uint8_t *p, size_t n);
/*
 * GET url handing the body to sink: as pmh_client_get; PARLEY_ERR_IO also
 * when the sink stopped the transfer (the sink's owner knows why).
 */
PARLEY_MUST_CHECK int pmh_client_get_sink(const char *url, const char *token, const char *ca_file,
                                          pmh_sink_fn sink, void *sink_arg, long *status,
                                          char *error_out, size_t error_max);
/*
 * GET url into fd (with an optional bearer token): PARLEY_OK for a 200,
 * PARLEY_ERR_CLIENT_REFUSED for other statuses (*status set), PARLEY_ERR_IO
 * on transport failure. error_out (may be NULL) receives the Parley-Error
 * header of a refusal.
 */
PARLEY_MUST_CHECK int pmh_client_get(const char *url, const char *token, int fd,
                                     const char *ca_file, long *status, char *error_out,
                                     size_t error_max);

#endif

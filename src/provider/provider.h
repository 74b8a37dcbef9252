/*
 * parley-provider: the reference third-party provider server
 * (DESIGN.md section 2; docs/parts/thirdparty.md "Provider HTTP API").
 * Its own small account system, attestations for its users' devices, the
 * receiver of the gatekeeper's signed push wake-ups and verification
 * calls, and a long-poll endpoint where its clients learn of wake-ups.
 */
#ifndef PARLEY_PROVIDER_H
#define PARLEY_PROVIDER_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "interop/httpsig.h"
#include "interop/ratelimit.h"
#include "parley/attestation.h"

enum {
    PP_USERS_MAX = 10000,
    PP_NAME_MAX = 64,    /* local part of a user's address */
    PP_DOMAIN_MAX = 190, /* so that name@domain fits an attestation's 255 */
    PP_TOKENS_MAX = 10000,
    PP_TOKEN_LEN = 32,        /* random bytes; hex on the wire */
    PP_TOKEN_TTL = 12 * 3600, /* seconds */
    PP_BODY_MAX = 8192,       /* request bodies */
    PP_WAKE_QUEUE_MAX = 64,   /* wake-ups kept per user */
    PP_WAKE_USERS_MAX = 10000,
    PP_LONGPOLL_MAX = 30, /* seconds a long-poll may wait */
    PP_GK_KEYS_MAX = 4,
    PP_REPLAY_CACHE = 65536,
    PP_PASSWORD_MAX = 256,
    PP_URL_MAX = 256,               /* the media host's public base URL */
    PP_MEDIA_TOKEN_TTL = 24 * 3600, /* default lifetime of a media token, seconds */
    PP_MEDIA_TOKEN_TTL_MAX = 30 * 86400,
};

typedef struct {
    char name[PP_NAME_MAX + 1];
    char hash[128];
} pp_user;

typedef struct {
    uint8_t token_hash[32]; /* SHA-256 of the token: a leaked table reveals no token */
    int user;               /* index in users */
    int64_t expires;
} pp_token;

typedef struct {
    uint32_t device;
    uint64_t pending;
    int64_t t;
} pp_wake;

typedef struct {
    int user;
    pp_wake q[PP_WAKE_QUEUE_MAX];
    size_t n;
} pp_wakebox;

typedef struct {
    /* configuration */
    char id[PARLEY_ATTEST_PROVIDER_MAX + 1];
    char domain[PP_DOMAIN_MAX + 1];
    char listen[64];
    unsigned port;
    char key_file[PATH_MAX];
    uint32_t key_id;
    uint64_t lifetime; /* attestation lifetime, seconds */
    char users_file[PATH_MAX];
    phs_key gk_keys[PP_GK_KEYS_MAX];
    char gk_key_ids[PP_GK_KEYS_MAX][PHS_KEY_ID_MAX + 1];
    size_t gk_key_count;
    int64_t window;
    /* media host (docs/media.md "The provider's media host"); off unless media_dir is set */
    char media_dir[PATH_MAX];
    unsigned media_port;
    char media_public[PP_URL_MAX + 1]; /* empty: http(s)://listen:port */
    char media_tls_cert[PATH_MAX];
    char media_tls_key[PATH_MAX];
    char media_token_key_file[PATH_MAX]; /* empty: a random key per run */
    uint64_t media_token_ttl;
    uint64_t media_max_size; /* 0: the host's default */
    uint64_t media_ttl;      /* blob lifetime; 0: the host's default */
    /* state */
    uint8_t *priv; /* 64 bytes, guarded memory */
    pp_user *users;
    size_t user_count;
    pthread_mutex_t mu; /* tokens, wake-ups, replay cache, counters */
    pthread_cond_t wake_cv;
    pp_token *tokens;
    size_t token_count;
    pp_wakebox *boxes;
    size_t box_count;
    phs_replay *replay;
    prl *login_limits; /* login attempts per client IP and per user name */
    int stopping;
    uint64_t pushes, pushes_refused, attestations, logins_failed;
    struct pmh_host *media;         /* NULL: no media host */
    uint8_t *media_key;             /* 32 bytes, guarded memory: mints and checks media tokens */
    char media_url[PP_URL_MAX + 1]; /* where clients upload, as announced */
} pp_server;

/* config.c */
void pp_config_default(pp_server *s);
/* INI file ([provider], [gatekeeper] sections; docs/interop-design.md). */
int pp_config_load(pp_server *s, const char *path);
/* "KEYID:BASE64" as in --gk-key. */
int pp_config_add_gk_key(pp_server *s, const char *spec);
int pp_config_check(const pp_server *s, char *err, size_t errlen);

/* users.c */
int pp_users_load(pp_server *s);
int pp_user_find(const pp_server *s, const char *name);
int pp_name_ok(const char *name);
/* Issue a token for a user; hex written to out (2 * PP_TOKEN_LEN + 1). */
int pp_token_issue(pp_server *s, int user, int64_t now, char *out);
/* The user of a bearer token, or -1. */
int pp_token_user(pp_server *s, const char *hex, int64_t now);
/* Key files hold the 64-byte Ed25519 secret key in base64, one line. */
int pp_key_load(const char *path, uint8_t priv[64]);
int pp_key_write(const char *path, const uint8_t priv[64]);

/* media.c: the media host for this provider's users, on its own port */
int pp_media_start(pp_server *s);
void pp_media_stop(pp_server *s);
/* Mint a media upload token for a user; out holds PARLEY_MEDIA_TOKEN_MAX. */
int pp_media_token(pp_server *s, int user, int64_t now, char *out, size_t out_max,
                   int64_t *expires);

/* server.c */
struct MHD_Daemon;
int pp_server_start(pp_server *s, struct MHD_Daemon **out, unsigned *port);
void pp_server_stop(pp_server *s, struct MHD_Daemon *d);

#endif

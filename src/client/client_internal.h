/*
 * parley client engine internals: the SQLite store (store.c), the blocking
 * Noise connection (net.c), device lists (devlist.c) and the engine
 * (engine.c, messages.c). docs/client.md explains the design.
 */
#ifndef PARLEY_CLIENT_INTERNAL_H
#define PARLEY_CLIENT_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include "parley/client.h"
#include "parley/noise_conn.h"
#include "parley/signal.h"
#include "parley/stanza.h"

/* Limits of the engine (all in one place). */
enum {
    PCL_STANZA_QUEUE_MAX = 256,     /* stanzas held back while waiting for an answer (<= 16 MiB) */
    PCL_IQ_TIMEOUT_MS = 15000,      /* an answer to an iq or a message */
    PCL_CONNECT_TIMEOUT_MS = 10000, /* TCP connect plus Noise handshake */
    PCL_SEND_RETRIES = 3,           /* 409 refresh-and-retry rounds */
    PCL_BACKOFF_MIN_MS = 500,
    PCL_BACKOFF_MAX_MS = 30000,
    PCL_CONTENT_MAX = 49152 + 16, /* padded content */
    PCL_LOCAL_KEY_LEN = 32,
    PCL_PREKEY_LOW = 10,
    PCL_CODE_MAX = 128,
    PCL_SIGNED_PREKEY_AGE_S = 7 * 24 * 3600, /* rotate the signed prekey weekly */
    PCL_LIST_TTL_MS = 3600 * 1000, /* reuse a fetched device list this long (409 corrects it) */
};

/* ---- store.c ---- */
typedef struct {
    sqlite3 *db;
    uint8_t local_key[PCL_LOCAL_KEY_LEN]; /* seals history and outbox content */
} pcl_store;

PARLEY_MUST_CHECK int pcl_store_open(pcl_store *s, const char *dir);
void pcl_store_close(pcl_store *s);
PARLEY_MUST_CHECK int pcl_store_signal(pcl_store *s, parley_signal_store **out);
PARLEY_MUST_CHECK int pcl_store_begin(pcl_store *s);
PARLEY_MUST_CHECK int pcl_store_commit(pcl_store *s);
void pcl_store_rollback(pcl_store *s);
PARLEY_MUST_CHECK int pcl_store_exec(pcl_store *s, const char *sql);
/* config: small named values */
PARLEY_MUST_CHECK int pcl_cfg_get(pcl_store *s, const char *k, uint8_t *out, size_t max,
                                  size_t *len);
PARLEY_MUST_CHECK int pcl_cfg_set(pcl_store *s, const char *k, const void *v, size_t len);
PARLEY_MUST_CHECK int pcl_cfg_get_str(pcl_store *s, const char *k, char *out, size_t max);
PARLEY_MUST_CHECK int pcl_cfg_get_u32(pcl_store *s, const char *k, uint32_t *v);
PARLEY_MUST_CHECK int pcl_cfg_set_u32(pcl_store *s, const char *k, uint32_t v);
/* AES-256-GCM under the local key: nonce(12) || ciphertext || tag(16). */
PARLEY_MUST_CHECK int pcl_seal(const pcl_store *s, const uint8_t *in, size_t n, uint8_t **out,
                               size_t *out_len);
PARLEY_MUST_CHECK int pcl_unseal(const pcl_store *s, const uint8_t *in, size_t n, uint8_t **out,
                                 size_t *out_len);

/* ---- net.c ---- */
typedef struct {
    int fd;
    parley_noise_conn *nc;
    parley_stanza_parser *parser;
} pcl_net;

/* Connects to "host:port" and completes the handshake (login rides in it). */
PARLEY_MUST_CHECK int pcl_net_open(pcl_net *n, const char *server,
                                   const parley_noise_client_config *cfg, int timeout_ms);
void pcl_net_close(pcl_net *n);
PARLEY_MUST_CHECK int pcl_net_send(pcl_net *n, const parley_stanza *st);
/* Next stanza, PARLEY_ERR_TIMEOUT after timeout_ms (<0: wait forever). */
PARLEY_MUST_CHECK int pcl_net_recv(pcl_net *n, int timeout_ms, parley_stanza **out);
uint64_t pcl_now_ms(void);  /* wall clock, Unix ms */
uint64_t pcl_mono_ms(void); /* monotonic */

/* ---- devlist.c ---- */
#define PCL_DEVLIST_MAGIC "parley-devices-v1"

#endif

/*
 * parleyd internals (DESIGN.md sections 2-6; docs/protocol.md).
 *
 * Threads: one libevent loop per worker, each with its own SO_REUSEPORT
 * listening socket on the same address, its own store completion channel
 * and its own stanza parser; a connection lives on the worker that
 * accepted it and is only ever touched by that thread. Anything another
 * thread wants done to it (push a stored message, send a notification,
 * close it) travels as a srv_msg through the worker's inbox, announced on
 * an eventfd.
 *
 * A message is acked to its sender only once every copy is durable: in
 * the store, or, for a device connected to this process that acked its
 * push within delivery_hold_ms, in the device's own store (conn_hold.inc).
 * Any other push is only a shortcut for what the recipient would fetch
 * from the store anyway (conn_msg.inc).
 */
#ifndef PARLEY_SERVER_SERVER_H
#define PARLEY_SERVER_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include "parley/noise_conn.h"
#include "parley/noise_event.h"
#include "parley/stanza.h"
#include "server/srvdb.h"
#include "store/store.h"

/* Every bound of the server in one place. */
enum {
    SRV_WORKERS_MAX = 64,
    SRV_PROCESSES_MAX = 64,     /* --processes; each holds its own connections */
    SRV_ID_MAX = 64,            /* client stanza ids (protocol.md) */
    SRV_JID_MAX = PSTORE_ADDRESS_MAX + 12,
    SRV_PARTICIPANTS_MAX = 2 * PSTORE_DEVICES_MAX,
    SRV_PREKEYS_PER_UPLOAD = 100, /* protocol.md, "Keys and directory" */
    SRV_PREKEYS_STORED = 1000,
    SRV_PREKEY_LOW = 10,        /* below this a device is told to top up */
    SRV_BACKLOG_PAGE = 64,      /* envelopes fetched per step of a redelivery */
    SRV_BAD_STANZAS_MAX = 10,   /* unparsable stanzas before the connection is closed */
    SRV_LINK_CODE_TTL_S = 600,
    SRV_LINGER_MS = 200,        /* time to flush a final error before closing */
    SRV_WATCH_MAX = 64,         /* presence subscriptions per connection */
    SRV_TRIM_INTERVAL_S = 5,    /* idle connections give back buffers after 1-2 of these */
    SRV_DEVCACHE_DEFAULT = 65536, /* device_cache: users whose device lists are kept */
    SRV_COMMIT_DELAY_US_DEFAULT = 500, /* commit_delay_us (docs/operations.md) */
    SRV_DELIVERY_HOLD_MS_DEFAULT = 100, /* delivery_hold_ms (conn_hold.inc) */
    SRV_DELIVERY_HOLD_MS_MAX = 10000,
    SRV_FULL_LOG_MS = 10000,           /* a full store is logged at most this often */
    SRV_MAX_STORE_MB = 1 << 24,        /* max_store_mb: 16 TiB */
    SRV_DEVCACHE_MAX = 16 << 20,  /* the largest device_cache accepted */
    SRV_DEVCACHE_TTL_S = SRVDB_DEVGEN_TTL_S, /* a cached list is read again after this */
};

/* [interop] settings (docs/interop-design.md, "Wiring"); zero: the default. */
typedef struct {
    char key_file[1024];  /* gatekeeper_key_file: Ed25519 request signing key */
    char key_id[64];      /* gatekeeper_key_id, as providers know it */
    double device_rate, device_burst, ip_rate, ip_burst, provider_rate, provider_burst;
    long first_contacts_per_day, trips_to_throttle, trip_window_ms, throttle_ms;
    double throttle_factor;
    unsigned set;         /* which of the limits above were given (bit per key) */
    int poll_ms;          /* how often the provider registry is checked; 0: 200 */
} srv_interop_config;

typedef struct {
    char listen_host[64];
    int listen_port;
    char db[1024];
    char key[1024];
    char cert[1024];
    int workers;
    size_t max_stanza;          /* bytes of one stanza */
    size_t out_max;             /* encrypted output held per connection */
    int handshake_timeout_ms;
    int slow_timeout_ms;        /* output full this long: the connection is dropped */
    int idle_timeout_s;         /* no frame at all this long: closed (0: never) */
    int sndbuf;                 /* SO_SNDBUF of client sockets; 0: the kernel's autotuning */
    size_t device_cache;        /* users in the device-list cache (devcache.c); 0: none */
    double rate;                /* stanzas per second per connection */
    double burst;
    int sync_normal;            /* benchmarks only: PSTORE_SYNC_NORMAL */
    int commit_delay_us;        /* group commit's gather window (store.h) */
    int delivery_hold_ms;       /* a pushed copy's wait for its ack before it is stored (conn_hold.inc) */
    uint64_t max_store_mb;      /* database size bound, MiB (0: none; store.h) */
    int processes;              /* processes on the port (main.c); 1: this one only */
    char peers_dir[1024];       /* sockets of the processes sharing the database (peer.c) */
    int ready_fd;               /* a child of --processes: written once listening; else -1 */
    int verbose;
    /* media announced at login (docs/media.md, "How a client learns its media host") */
    char media_host[512];       /* media host base URL, "" = none */
    char media_proxy[512];      /* media proxy base URL, "" = none */
    uint8_t media_token_key[32];/* shared with the media host and proxy */
    int media_token_key_set;
    long media_token_ttl_s;
    srv_interop_config ix;      /* third-party interop (interop.c) */
} srv_config;

typedef struct srv srv;
typedef struct srv_peers srv_peers;
typedef struct srv_devcache srv_devcache;
typedef struct worker worker;
typedef struct sconn sconn;

/* Work handed to a worker by another thread. */
typedef enum {
    SRV_MSG_PUSH = 1,   /* a stored copy for a connected device: sid + stanza */
    SRV_MSG_SEND,       /* a transient stanza (notification, chatstate, presence) */
    SRV_MSG_KICK,       /* close the connection (device removed, replaced) */
    SRV_MSG_SUSPEND,    /* close the connection: its account was suspended */
    SRV_MSG_SHUTDOWN,
    SRV_MSG_RESYNC,     /* every live connection reads its queue again (peer.c) */
    SRV_MSG_HOLD_ACK,   /* a device acked a copy this worker holds: sid, device in conn_id, user */
} srv_msg_kind;

typedef struct srv_msg {
    struct srv_msg *next;
    srv_msg_kind kind;
    uint64_t conn_id;
    uint64_t sid;
    size_t len;
    uint8_t data[]; /* the stanza */
} srv_msg;

struct worker {
    srv *s;
    int index;
    pthread_t thread;
    struct event_base *base;
    struct evconnlistener *listener;
    int listen_fd;
    pstore_chan *chan;
    struct event *chan_ev;
    parley_stanza_parser *parser;
    /* inbox */
    pthread_mutex_t mu;
    srv_msg *head, *tail;
    int inbox_fd;
    struct event *inbox_ev;
    /* this worker's connections by id (open hashing) */
    sconn **table;
    size_t table_size, count;
    int stopping;
    uint64_t pending_ops; /* group-commit operations not completed yet */
    uint64_t full_logged_ms; /* last "store full" log line (srv_mono_ms) */
    struct srv_hold *hold;   /* copies pushed but not stored yet (conn_hold.inc); made on first need */
    struct event *stop_ev;
    struct event *trim_ev; /* periodic: srv_conn_trim_idle */
    void *ix; /* interop state of this worker (interop.c), made on first need */
    unsigned ix_tp_conns; /* third-party connections (logged in or in login) */
};

struct srv {
    srv_config cfg;
    pstore *store;
    srvdb *db;
    uint8_t static_priv[32], static_pub[32];
    uint8_t cert[PARLEY_CERT_LEN];
    /* SIGHUP loads a new certificate into the slot not in use and points
     * cert_now at it (main.c); new connections read it with srv_cert. */
    uint8_t cert_next[PARLEY_CERT_LEN];
    const uint8_t *cert_now;
    worker workers[SRV_WORKERS_MAX];
    int nworkers;
    int port; /* the bound port */
    srv_peers *peers; /* other processes on this database (peer.c); NULL: none */
    srv_devcache *devcache; /* device lists (devcache.c); NULL: read from the store */
    /* registry of connected devices (registry.c) */
    pthread_mutex_t reg_mu;
    void *reg;
    uint64_t next_conn_id;
    /* counters (stats), updated with atomics */
    uint64_t st_conns, st_logins, st_msgs, st_pushes, st_acks, st_refused;
    uint64_t st_unstored; /* copies acked by their device before they had to be stored */
};

/* ---- logging (never a key or a message body) ---- */
void srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void srv_log_with_pid(int on); /* several processes share one log */

/* The certificate new connections are sent (main.c, SIGHUP). */
static inline const uint8_t *srv_cert(srv *s)
{
    return __atomic_load_n(&s->cert_now, __ATOMIC_ACQUIRE);
}

/* ---- config.c ---- */
void srv_config_default(srv_config *c);
PARLEY_MUST_CHECK int srv_config_load(srv_config *c, const char *path);
PARLEY_MUST_CHECK int srv_config_listen(srv_config *c, const char *v);
/* One key = value, as in the file (a flag that mirrors a key). */
PARLEY_MUST_CHECK int srv_config_key(srv_config *c, const char *name, const char *v);

/* ---- worker.c ---- */
uint64_t srv_now_ms(void);   /* wall clock, Unix ms (protocol.md times) */
uint64_t srv_mono_ms(void);
PARLEY_MUST_CHECK int srv_start(srv *s);
void srv_stop(srv *s);        /* graceful: see worker.c */
void srv_post(worker *w, srv_msg *m); /* takes m */
/* The worker whose loop runs on this thread; NULL on any other thread. */
worker *srv_worker_self(void);
/* 1 when nothing waits in w's inbox. */
int srv_inbox_empty(worker *w);
srv_msg *srv_msg_new(srv_msg_kind kind, uint64_t conn_id, uint64_t sid, const uint8_t *data,
                     size_t len);
sconn *srv_conn_find(worker *w, uint64_t id);
void srv_conn_table_add(worker *w, sconn *c);
void srv_conn_table_del(worker *w, sconn *c);

/* ---- registry.c: who is connected where ---- */
typedef struct {
    uint32_t device;
    int worker;
    uint64_t conn_id;
} srv_reg_entry;
PARLEY_MUST_CHECK int srv_reg_init(srv *s);
void srv_reg_free(srv *s);
/* Adds the device; a connection already registered for it is returned in
 * *old (conn_id 0 if none) so the caller can close it. */
PARLEY_MUST_CHECK int srv_reg_add(srv *s, const char *user, srv_reg_entry e, srv_reg_entry *old);
void srv_reg_del(srv *s, const char *user, uint32_t device, uint64_t conn_id);
/* The connected devices of user (at most max); returns the count. */
size_t srv_reg_get(srv *s, const char *user, srv_reg_entry *out, size_t max);
/* Hand a message to every connected device of user (device 0: all). */
void srv_reg_send(srv *s, const char *user, uint32_t device, uint64_t except_conn,
                  srv_msg_kind kind, uint64_t sid, const uint8_t *data, size_t len);
/* The same without telling the other processes; returns the connections posted to. */
size_t srv_reg_send_local(srv *s, const char *user, uint32_t device, uint64_t except_conn,
                          srv_msg_kind kind, uint64_t sid, const uint8_t *data, size_t len);
/* Every worker: make each live connection read its queue from the store again. */
void srv_reg_resync(srv *s);

/* ---- devcache.c: the device lists of the message path ---- */
PARLEY_MUST_CHECK int srv_devcache_init(srv *s); /* after s->db is open */
void srv_devcache_free(srv *s);
/* The live device ids of user, by id, and whether its account exists. */
PARLEY_MUST_CHECK int srv_devices_of(srv *s, const char *user, uint32_t ids[PSTORE_DEVICES_MAX],
                                     size_t *n, int *exists);
/* Call after every committed change to user's devices (added, removed,
 * identity): every process re-reads the list at its next lookup. */
void srv_devices_changed(srv *s, const char *user);
typedef struct {
    size_t entries, max, bytes;
    uint64_t hits, misses;
} srv_devcache_info;
void srv_devcache_stats(srv *s, srv_devcache_info *st);

/* ---- peer.c: several processes on one port and one database ---- */
PARLEY_MUST_CHECK int srv_peers_start(srv *s); /* no-op without peers_dir */
void srv_peers_announce(srv *s, srv_msg_kind kind, const char *user, uint32_t device, uint64_t sid,
                        const uint8_t *data, size_t len);
void srv_peers_stop_receiving(srv *s);
void srv_peers_free(srv *s);

/* Presence subscriptions, best effort (registry.c). */
PARLEY_MUST_CHECK int srv_watch_add(srv *s, const char *watched, const char *watcher,
                                    uint32_t device, uint64_t conn_id);
void srv_watch_notify(srv *s, const char *watched, const uint8_t *data, size_t len);
void srv_watch_free(void);

/* ---- interop.c: providers, limits, push wake-ups (docs/interop-design.md) ---- */
enum {
    SRV_IX_POLL_MS = 200,         /* registry and suspension checks */
    SRV_IX_MAX_LIFETIME_S = 30 * 86400,
    SRV_IX_SKEW_S = 300,
    SRV_IX_SUSPENDED_MAX = 10000, /* suspended accounts looked at per check */
    SRV_IX_FLOOD = 200,           /* refusals in a row before a third-party flood is closed */
    SRV_IX_VERIFY_MS = 10000,     /* an enlistment waits this long for the provider's answer */
    SRV_IX_ANNOUNCE_MAX = 16,     /* new providers announced at one login */
};
/* What the router needs of a provider, cached from the registry. */
typedef struct {
    char id[65];
    char name[129];
    char protocol[33];
    char push_url[513];
    int status;      /* pstore_provider_status */
    int64_t created; /* Unix seconds: when the provider was added */
} srv_ix_provider;
/* A [interop] configuration key: 1 if it was one (and valid). */
int srv_interop_config_key(srv_config *c, const char *name, const char *v);
/* 1 and *out when user's domain belongs to a registered provider. */
int srv_ix_provider_of(srv *s, const char *user, srv_ix_provider *out);
/* 1 and *out for a provider id. */
int srv_ix_provider_get(srv *s, const char *id, srv_ix_provider *out);
/* Reload the cache from the store now (a login of an unknown domain). */
void srv_ix_refresh(srv *s);
/* The registry generation: changes whenever the cache was reloaded. */
uint64_t srv_ix_generation(void);
/* Active providers added after the Unix second `since`: what a device that
 * was last told at `since` has not heard of. Fills at most max. */
size_t srv_ix_added_since(srv *s, int64_t since, srv_ix_provider *out, size_t max);
/* Per worker, on its own thread: the registry timer and the provider HTTP client. */
void srv_ix_worker_init(worker *w);
void srv_ix_worker_stop(worker *w);
/* The rate limits (ratelimit.h), shared by all workers: a prl_result. */
int srv_ix_check(const char *device, const char *ip, const char *provider);
int srv_ix_first_contact(const char *user, const char *provider);
/* Ask the provider to wake device (coalesced per device; never blocks). */
void srv_ix_push(worker *w, const srv_ix_provider *p, const char *user, uint32_t device);
/* The provider's answer to a user verification (docs/parts/thirdparty.md 6.2). */
typedef enum {
    SRV_IX_USER_EXISTS = 0,
    SRV_IX_USER_UNKNOWN,      /* a final 404, or {"exists":false} */
    SRV_IX_USER_UNAVAILABLE,  /* no usable answer after the client's retries */
} srv_ix_verdict;
typedef void (*srv_ix_verify_fn)(void *arg, srv_ix_verdict v);
/* Ask the provider whether user exists. 1: done(arg, verdict) runs later
 * on this worker's thread, exactly once (also at shutdown, as
 * unavailable); 0: this gatekeeper cannot sign requests (no
 * gatekeeper_key_file), nothing was asked; < 0: not queued. Never blocks. */
int srv_ix_verify(worker *w, const char *provider, const char *verify_url, const char *user,
                  srv_ix_verify_fn done, void *arg);
void srv_ix_free(void);
/* conn.c: walk the worker's connections after a registry change (gen
 * changed) and for attestation expiry. */
void srv_conn_ix_sweep(worker *w, int gen_changed);

/* ---- conn.c ---- */
void srv_conn_accept(worker *w, int fd);
void srv_conn_handle_msg(worker *w, srv_msg *m);
/* A stored copy for the connection conn_id of w, on w's thread (the live
 * and backlog rules of conn.c decide whether it is sent now). data must
 * not be the thread's scratch buffer of conn.c. */
void srv_conn_push(worker *w, uint64_t conn_id, uint64_t sid, const uint8_t *data, size_t len);
void srv_conn_close_all(worker *w);
void srv_conn_free_all(worker *w);
void srv_conn_trim_idle(worker *w);
void srv_conn_handle_shutdown(worker *w);
/* conn_hold.inc: write every held copy to the queue now (shutdown); free
 * what is left once the loop has stopped. */
void srv_hold_flush(worker *w);
void srv_hold_free(worker *w);

#endif

/*
 * parleyd internals (DESIGN.md sections 2-6; docs/parts/chat.md).
 *
 * Threads: one libevent loop per worker, each with its own SO_REUSEPORT
 * listening socket on the same address, its own store completion channel
 * and its own stanza parser; a connection lives on the worker that
 * accepted it and is only ever touched by that thread. Anything another
 * thread wants done to it (push a stored message, send a notification,
 * close it) travels as a srv_msg through the worker's inbox, announced on
 * an eventfd.
 *
 * The store is the truth: a message is acked to its sender only after the
 * store made every copy durable, and a pushed copy is only a shortcut for
 * what the recipient would fetch from the store anyway (delivery.c).
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
    SRV_ID_MAX = 64,            /* client stanza ids (chat.md) */
    SRV_JID_MAX = PSTORE_ADDRESS_MAX + 12,
    SRV_PARTICIPANTS_MAX = 2 * PSTORE_DEVICES_MAX,
    SRV_PREKEYS_PER_UPLOAD = 100, /* chat.md, "Keys and directory" */
    SRV_PREKEYS_STORED = 1000,
    SRV_PREKEY_LOW = 10,        /* below this a device is told to top up */
    SRV_BACKLOG_PAGE = 64,      /* envelopes fetched per step of a redelivery */
    SRV_BAD_STANZAS_MAX = 10,   /* unparsable stanzas before the connection is closed */
    SRV_LINK_CODE_TTL_S = 600,
    SRV_LINGER_MS = 200,        /* time to flush a final error before closing */
    SRV_WATCH_MAX = 64,         /* presence subscriptions per connection */
};

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
    int idle_timeout_s;
    int sndbuf;                 /* SO_SNDBUF of client sockets; 0: the kernel's autotuning */         /* no frame at all this long: closed (0: never) */
    double rate;                /* stanzas per second per connection */
    double burst;
    int sync_normal;            /* benchmarks only: PSTORE_SYNC_NORMAL */
    int verbose;
} srv_config;

typedef struct srv srv;
typedef struct worker worker;
typedef struct sconn sconn;

/* Work handed to a worker by another thread. */
typedef enum {
    SRV_MSG_PUSH = 1,   /* a stored copy for a connected device: sid + stanza */
    SRV_MSG_SEND,       /* a transient stanza (notification, chatstate, presence) */
    SRV_MSG_KICK,       /* close the connection (device removed, replaced) */
    SRV_MSG_SHUTDOWN,
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
    struct event *stop_ev;
};

struct srv {
    srv_config cfg;
    pstore *store;
    srvdb *db;
    uint8_t static_priv[32], static_pub[32];
    uint8_t cert[PARLEY_CERT_LEN];
    worker workers[SRV_WORKERS_MAX];
    int nworkers;
    int port; /* the bound port */
    /* registry of connected devices (registry.c) */
    pthread_mutex_t reg_mu;
    void *reg;
    uint64_t next_conn_id;
    /* counters (stats), updated with atomics */
    uint64_t st_conns, st_logins, st_msgs, st_pushes, st_acks, st_refused;
};

/* ---- logging (never a key or a message body) ---- */
void srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- config.c ---- */
void srv_config_default(srv_config *c);
PARLEY_MUST_CHECK int srv_config_load(srv_config *c, const char *path);
PARLEY_MUST_CHECK int srv_config_listen(srv_config *c, const char *v);

/* ---- worker.c ---- */
uint64_t srv_now_ms(void);   /* wall clock, Unix ms (chat.md times) */
uint64_t srv_mono_ms(void);
PARLEY_MUST_CHECK int srv_start(srv *s);
void srv_stop(srv *s);        /* graceful: see worker.c */
void srv_post(worker *w, srv_msg *m); /* takes m */
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

/* Presence subscriptions, best effort (registry.c). */
PARLEY_MUST_CHECK int srv_watch_add(srv *s, const char *watched, const char *watcher,
                                    uint32_t device, uint64_t conn_id);
void srv_watch_notify(srv *s, const char *watched, const uint8_t *data, size_t len);
void srv_watch_free(void);

/* ---- conn.c ---- */
void srv_conn_accept(worker *w, int fd);
void srv_conn_handle_msg(worker *w, srv_msg *m);
void srv_conn_close_all(worker *w);
void srv_conn_free_all(worker *w);
void srv_conn_handle_shutdown(worker *w);

#endif

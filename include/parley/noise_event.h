/*
 * parley — libevent glue for parley_noise_conn: events on a connected
 * socket feed the connection, deliver its frames to a callback and write
 * what it produces; a timer enforces the handshake deadline. One object per socket, on one event_base (one loop thread).
 */
#ifndef PARLEY_NOISE_EVENT_H
#define PARLEY_NOISE_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include "parley/noise_conn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct parley_noise_bev parley_noise_bev;

typedef struct {
    /* Handshake finished: the peer's key and login are now readable on the conn. */
    void (*on_established)(parley_noise_bev *b, void *arg);
    /* One decrypted frame; data is valid only during the call. */
    void (*on_frame)(parley_noise_bev *b, const uint8_t *data, size_t len, void *arg);
    /*
     * The connection ended: rc is a parley error (PARLEY_ERR_TIMEOUT,
     * PARLEY_ERR_NOISE_DECRYPT, ...), or PARLEY_ERR_IO when the socket
     * closed or failed. Nothing is called after it; the owner frees b.
     */
    void (*on_close)(parley_noise_bev *b, int rc, void *arg);
} parley_noise_bev_callbacks;

/*
 * Takes ownership of conn (not yet started) and of the connected socket fd
 * (closed on free), starts the handshake and begins reading.
 */
PARLEY_MUST_CHECK int parley_noise_bev_new(parley_noise_bev **out, struct event_base *base,
                                           evutil_socket_t fd, parley_noise_conn *conn,
                                           const parley_noise_bev_callbacks *cb, void *arg);
/* Encrypts and queues one frame (see parley_noise_conn_send for the errors). */
PARLEY_MUST_CHECK int parley_noise_bev_send(parley_noise_bev *b, const uint8_t *frame, size_t n);
parley_noise_conn *parley_noise_bev_conn(parley_noise_bev *b);
/* parley_noise_conn_trim on the connection: for owners of many idle ones. */
void parley_noise_bev_trim(parley_noise_bev *b);
void parley_noise_bev_free(parley_noise_bev *b);

#ifdef __cplusplus
}
#endif
#endif

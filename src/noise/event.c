/*
 * libevent glue for the Noise connection (parley/noise_event.h). Reads go
 * from the bufferevent's input straight into the connection, at most as
 * much as its input bound takes: when it is full, reading pauses until the
 * caller's frame callbacks drained it, so a slow consumer throttles the
 * peer through TCP instead of growing memory. Writes are bounded the same
 * way: at most FLUSH_HIGH bytes wait in the bufferevent, the rest stays in
 * the connection's bounded output, and parley_noise_bev_send reports
 * PARLEY_ERR_BUFFER when that is full.
 */
#include "parley/noise_event.h"

#include <stdlib.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include "util/safety.h"

#define FLUSH_HIGH (64u * 1024u)

struct parley_noise_bev {
    struct bufferevent *bev;
    struct event *timer;
    parley_noise_conn *conn;
    parley_noise_bev_callbacks cb;
    void *arg;
    int closed;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void close_with(parley_noise_bev *b, int rc)
{
    if (b->closed)
        return;
    b->closed = 1;
    bufferevent_disable(b->bev, EV_READ | EV_WRITE);
    if (b->timer != NULL)
        event_del(b->timer);
    if (b->cb.on_close != NULL)
        b->cb.on_close(b, rc, b->arg);
}

/* Moves the connection's output into the bufferevent, up to FLUSH_HIGH waiting there. */
static int flush(parley_noise_bev *b)
{
    const uint8_t *p;
    size_t n, queued = evbuffer_get_length(bufferevent_get_output(b->bev));
    if (queued >= FLUSH_HIGH)
        return PARLEY_OK;
    parley_noise_conn_output(b->conn, &p, &n);
    if (n > FLUSH_HIGH - queued)
        n = FLUSH_HIGH - queued;
    if (n == 0)
        return PARLEY_OK;
    if (bufferevent_write(b->bev, p, n) != 0)
        return PARLEY_ERR_IO;
    parley_noise_conn_consume(b->conn, n);
    return PARLEY_OK;
}

/* Feeds what the connection takes, delivers events; returns < 0 when closed. */
static int process(parley_noise_bev *b)
{
    struct evbuffer *in = bufferevent_get_input(b->bev);
    parley_noise_event ev;
    int rc;
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        size_t space = parley_noise_conn_input_space(b->conn);
        size_t take = avail < space ? avail : space;
        if (take > 0) {
            const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)take);
            if (p == NULL)
                return PARLEY_ERR_NOMEM;
            if ((rc = parley_noise_conn_feed(b->conn, p, take)) < 0)
                return rc;
            evbuffer_drain(in, take);
        }
        int progressed = 0;
        for (;;) {
            if ((rc = parley_noise_conn_next(b->conn, &ev)) < 0)
                return rc;
            if ((rc = flush(b)) < 0)
                return rc;
            if (ev.type == PARLEY_NOISE_EV_NONE)
                break;
            progressed = 1;
            if (ev.type == PARLEY_NOISE_EV_HANDSHAKE_DONE) {
                if (b->timer != NULL)
                    event_del(b->timer);
                if (b->cb.on_established != NULL)
                    b->cb.on_established(b, b->arg);
            } else if (b->cb.on_frame != NULL) {
                b->cb.on_frame(b, ev.data, ev.len, b->arg);
            }
            if (b->closed)
                return PARLEY_OK;
        }
        if (evbuffer_get_length(in) == 0 || (!progressed && take == 0))
            return PARLEY_OK;
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    parley_noise_bev *b = arg;
    (void)bev;
    if (b->closed)
        return;
    int rc = process(b);
    if (rc < 0)
        close_with(b, rc);
}

/* The socket took some of the queued bytes: refill from the connection. */
static void on_write(struct bufferevent *bev, void *arg)
{
    parley_noise_bev *b = arg;
    (void)bev;
    if (!b->closed && flush(b) < 0)
        close_with(b, PARLEY_ERR_IO);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    parley_noise_bev *b = arg;
    (void)bev;
    if (!b->closed && (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        /* Deliver whatever complete frames arrived before the close. */
        int rc = process(b);
        close_with(b, rc < 0 ? rc : PARLEY_ERR_IO);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    parley_noise_bev *b = arg;
    (void)fd;
    (void)what;
    int rc = parley_noise_conn_tick(b->conn, now_ms());
    if (rc < 0) {
        close_with(b, rc);
        return;
    }
    uint64_t d = parley_noise_conn_deadline(b->conn), now = now_ms();
    if (d != UINT64_MAX) {
        uint64_t left = d > now ? d - now : 0;
        struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
        event_add(b->timer, &tv);
    }
}

int parley_noise_bev_new(parley_noise_bev **out, struct event_base *base, evutil_socket_t fd,
                         parley_noise_conn *conn, const parley_noise_bev_callbacks *cb, void *arg)
{
    int rc;
    parley_noise_bev *b = NULL;
    PARLEY_MISUSE(out != NULL && base != NULL && conn != NULL && cb != NULL);
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        parley_noise_conn_free(conn);
        evutil_closesocket(fd);
        return PARLEY_ERR_NOMEM;
    }
    b->conn = conn;
    b->cb = *cb;
    b->arg = arg;
    b->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (b->bev == NULL)
        evutil_closesocket(fd);
    ENSURE(b->bev != NULL, PARLEY_ERR_NOMEM);
    bufferevent_setcb(b->bev, on_read, on_write, on_event, b);
    bufferevent_setwatermark(b->bev, EV_WRITE, FLUSH_HIGH / 2, 0);
    uint64_t now = now_ms();
    GUARD(parley_noise_conn_start(conn, now));
    uint64_t d = parley_noise_conn_deadline(conn);
    if (d != UINT64_MAX) {
        b->timer = evtimer_new(base, on_timer, b);
        ENSURE(b->timer != NULL, PARLEY_ERR_NOMEM);
        uint64_t left = d > now ? d - now : 0;
        struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
        ENSURE(event_add(b->timer, &tv) == 0, PARLEY_ERR_IO);
    }
    GUARD(flush(b));
    ENSURE(bufferevent_enable(b->bev, EV_READ | EV_WRITE) == 0, PARLEY_ERR_IO);
    *out = b;
    b = NULL;
    rc = PARLEY_OK;
out:
    parley_noise_bev_free(b);
    return rc;
}

int parley_noise_bev_send(parley_noise_bev *b, const uint8_t *frame, size_t n)
{
    int rc;
    PARLEY_MISUSE(b != NULL);
    if (b->closed)
        return PARLEY_ERR_STATE;
    GUARD(parley_noise_conn_send(b->conn, frame, n));
    GUARD(flush(b));
    rc = PARLEY_OK;
out:
    return rc;
}

parley_noise_conn *parley_noise_bev_conn(parley_noise_bev *b)
{
    return b->conn;
}

void parley_noise_bev_free(parley_noise_bev *b)
{
    if (b == NULL)
        return;
    if (b->timer != NULL)
        event_free(b->timer);
    if (b->bev != NULL)
        bufferevent_free(b->bev);
    parley_noise_conn_free(b->conn);
    free(b);
}

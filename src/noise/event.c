/*
 * libevent glue for the Noise connection (parley/noise_event.h).
 *
 * Plain events on the socket rather than a bufferevent: the connection
 * already keeps bounded input and output buffers, so a second pair of
 * buffers would only cost memory on every idle connection (a bufferevent
 * keeps an 8 KiB read chain and two evbuffers) and a syscall or two per
 * read (FIONREAD, readv over chains).
 *
 * Reads go through a per-thread buffer straight into the connection, at
 * most as much as its input bound takes, and every complete frame is
 * delivered before the next read. Writes are coalesced: sending a frame
 * only marks the connection for a flush, which runs once per loop turn
 * (event_active, no syscall), so a burst of frames to one peer leaves in
 * one send(). The write event is added to the loop only while the socket
 * is full; meanwhile frames wait in the connection's bounded output and
 * parley_noise_bev_send reports PARLEY_ERR_BUFFER when that is full.
 */
#include "parley/noise_event.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "util/safety.h"

/* Reads per readiness callback before yielding to other connections. */
#define READS_PER_EVENT 4

struct parley_noise_bev {
    evutil_socket_t fd;
    struct event *rev;   /* persistent read event */
    struct event *wev;   /* flush: activated per turn, added while the socket is full */
    struct event *timer; /* handshake deadline; freed once established */
    parley_noise_conn *conn;
    parley_noise_bev_callbacks cb;
    void *arg;
    int closed;
    int flush_queued;  /* wev is active */
    int wait_writable; /* wev is added */
};

static _Thread_local uint8_t rbuf[65536];

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
    event_del(b->rev);
    event_del(b->wev);
    b->wait_writable = 0;
    if (b->timer != NULL)
        event_del(b->timer);
    if (b->cb.on_close != NULL)
        b->cb.on_close(b, rc, b->arg);
}

/* Writes what the connection has queued until the socket is full. */
static int write_out(parley_noise_bev *b)
{
    const uint8_t *p;
    size_t n;
    for (;;) {
        parley_noise_conn_output(b->conn, &p, &n);
        if (n == 0)
            break;
        ssize_t w = send(b->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return PARLEY_ERR_IO;
        if (w > 0)
            parley_noise_conn_consume(b->conn, (size_t)w);
        if (w < 0 || (size_t)w < n) {
            /* The socket is full: wait until it drains. */
            if (!b->wait_writable) {
                if (event_add(b->wev, NULL) != 0)
                    return PARLEY_ERR_IO;
                b->wait_writable = 1;
            }
            return PARLEY_OK;
        }
    }
    if (b->wait_writable) {
        event_del(b->wev);
        b->wait_writable = 0;
    }
    return PARLEY_OK;
}

/* Flush at the end of this loop turn, once, however many frames are sent before. */
static void schedule_flush(parley_noise_bev *b)
{
    if (b->closed || b->flush_queued || b->wait_writable)
        return;
    b->flush_queued = 1;
    event_active(b->wev, EV_WRITE, 0);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    parley_noise_bev *b = arg;
    (void)fd;
    (void)what;
    b->flush_queued = 0;
    if (!b->closed && write_out(b) < 0)
        close_with(b, PARLEY_ERR_IO);
}

/* Delivers every event the buffered input holds; < 0 when the connection failed. */
static int process(parley_noise_bev *b)
{
    parley_noise_event ev;
    int rc;
    for (;;) {
        rc = parley_noise_conn_next(b->conn, &ev);
        if (rc < 0)
            return rc;
        if (ev.type == PARLEY_NOISE_EV_NONE)
            break;
        if (ev.type == PARLEY_NOISE_EV_HANDSHAKE_DONE) {
            if (b->timer != NULL) {
                event_free(b->timer);
                b->timer = NULL;
            }
            schedule_flush(b); /* the final handshake message, if ours */
            if (b->cb.on_established != NULL)
                b->cb.on_established(b, b->arg);
        } else if (b->cb.on_frame != NULL) {
            b->cb.on_frame(b, ev.data, ev.len, b->arg);
        }
        if (b->closed)
            return PARLEY_OK;
    }
    /* A handshake step may have queued a reply. */
    const uint8_t *p;
    size_t n;
    parley_noise_conn_output(b->conn, &p, &n);
    if (n > 0)
        schedule_flush(b);
    return PARLEY_OK;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    parley_noise_bev *b = arg;
    (void)what;
    for (int i = 0; i < READS_PER_EVENT && !b->closed; i++) {
        size_t space = parley_noise_conn_input_space(b->conn);
        if (space == 0) {
            /* Cannot happen while frames are bounded below the input
             * bound; refuse rather than spin. */
            close_with(b, PARLEY_ERR_BUFFER);
            return;
        }
        if (space > sizeof rbuf)
            space = sizeof rbuf;
        ssize_t r = recv(fd, rbuf, space, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            close_with(b, PARLEY_ERR_IO);
            return;
        }
        int rc = parley_noise_conn_feed(b->conn, rbuf, (size_t)r);
        if (rc == PARLEY_OK)
            rc = process(b);
        if (rc < 0) {
            close_with(b, rc);
            return;
        }
        if ((size_t)r < space)
            return; /* drained for now; level-triggered readiness says when there is more */
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
    if (d != UINT64_MAX && b->timer != NULL) {
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
    b->fd = fd;
    b->conn = conn;
    b->cb = *cb;
    b->arg = arg;
    ENSURE(evutil_make_socket_nonblocking(fd) == 0, PARLEY_ERR_IO);
    b->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, b);
    b->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, b);
    ENSURE(b->rev != NULL && b->wev != NULL, PARLEY_ERR_NOMEM);
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
    ENSURE(event_add(b->rev, NULL) == 0, PARLEY_ERR_IO);
    schedule_flush(b); /* a client's first handshake message */
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
    schedule_flush(b);
    rc = PARLEY_OK;
out:
    return rc;
}

parley_noise_conn *parley_noise_bev_conn(parley_noise_bev *b)
{
    return b->conn;
}

void parley_noise_bev_trim(parley_noise_bev *b)
{
    if (b != NULL && !b->closed)
        parley_noise_conn_trim(b->conn);
}

void parley_noise_bev_free(parley_noise_bev *b)
{
    if (b == NULL)
        return;
    if (b->timer != NULL)
        event_free(b->timer);
    if (b->rev != NULL)
        event_free(b->rev);
    if (b->wev != NULL)
        event_free(b->wev);
    evutil_closesocket(b->fd);
    parley_noise_conn_free(b->conn);
    free(b);
}

/*
 * Workers: one thread, one event loop, one SO_REUSEPORT listening socket,
 * one store completion channel each (DESIGN.md section 6: an event loop
 * per core). The kernel spreads new connections over the sockets; several
 * parleyd processes may bind the same port the same way (operations.md,
 * "Several processes").
 *
 * Shutdown (SIGTERM): every worker closes its listener, lets the
 * operations it submitted to the store complete (so each sender whose
 * message is durable gets its ack), closes its connections after a short
 * flush, and leaves its loop; the store is closed after all workers.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <event2/listener.h>
#include "server/server.h"
#include "util/safety.h"

static int log_pid;

void srv_log_with_pid(int on)
{
    log_pid = on;
}

void srv_log(const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    if (log_pid)
        n += (size_t)snprintf(line + n, sizeof line - n,
                              ".%03ldZ parleyd[%ld]: ", ts.tv_nsec / 1000000, (long)getpid());
    else
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ parleyd: ", ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    if (n < sizeof line)
        vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

uint64_t srv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t srv_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

srv_msg *srv_msg_new(srv_msg_kind kind, uint64_t conn_id, uint64_t sid, const uint8_t *data,
                     size_t len)
{
    srv_msg *m = malloc(sizeof *m + len);
    if (m == NULL)
        return NULL;
    m->next = NULL;
    m->kind = kind;
    m->conn_id = conn_id;
    m->sid = sid;
    m->len = len;
    if (len > 0)
        memcpy(m->data, data, len);
    return m;
}

void srv_post(worker *w, srv_msg *m)
{
    int wake;
    pthread_mutex_lock(&w->mu);
    wake = w->head == NULL;
    if (w->tail != NULL)
        w->tail->next = m;
    else
        w->head = m;
    w->tail = m;
    pthread_mutex_unlock(&w->mu);
    if (wake) {
        uint64_t one = 1;
        ssize_t r = write(w->inbox_fd, &one, sizeof one);
        (void)r; /* a full eventfd counter is still readable */
    }
}

static void on_inbox(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    uint64_t v;
    (void)what;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&w->mu);
    srv_msg *m = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (m != NULL) {
        srv_msg *nx = m->next;
        srv_conn_handle_msg(w, m);
        free(m);
        m = nx;
    }
}

static void on_chan(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)what;
    pstore_chan_dispatch(w->chan);
}

/* ---- the connection table (open hashing on the connection id) ---- */

static size_t slot(size_t size, uint64_t id)
{
    return (size_t)((id * 0x9e3779b97f4a7c15u) >> 20) & (size - 1);
}

/* Each connection records its own chain link (conn.c keeps it first). */
typedef struct link_hdr {
    sconn *next;
    uint64_t id;
} link_hdr;

sconn *srv_conn_find(worker *w, uint64_t id)
{
    if (w->table == NULL)
        return NULL;
    sconn *c = w->table[slot(w->table_size, id)];
    while (c != NULL && ((link_hdr *)c)->id != id)
        c = ((link_hdr *)c)->next;
    return c;
}

void srv_conn_table_add(worker *w, sconn *c)
{
    link_hdr *h = (link_hdr *)c;
    size_t i = slot(w->table_size, h->id);
    h->next = w->table[i];
    w->table[i] = c;
    w->count++;
}

void srv_conn_table_del(worker *w, sconn *c)
{
    link_hdr *h = (link_hdr *)c;
    sconn **p = &w->table[slot(w->table_size, h->id)];
    while (*p != NULL && *p != c)
        p = &((link_hdr *)*p)->next;
    if (*p != NULL) {
        *p = h->next;
        w->count--;
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    /* Output is already coalesced per loop turn (noise event glue): let
     * each flush leave now, not after the peer's delayed ACK (Nagle). */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    srv_conn_accept(arg, fd);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    /* EMFILE and friends: keep serving those already connected. */
    srv_log("accept: %s", strerror(errno));
}

static int open_listener(srv *s, int port, int *out_fd, int *bound)
{
    int rc;
    int fd = -1;
    struct addrinfo hints, *ai = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    snprintf(portstr, sizeof portstr, "%d", port);
    ENSURE(getaddrinfo(s->cfg.listen_host, portstr, &hints, &ai) == 0, PARLEY_ERR_INVALID_ARG);
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ENSURE(fd >= 0, PARLEY_ERR_IO);
    int one = 1;
    ENSURE(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, PARLEY_ERR_IO);
    ENSURE(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0, PARLEY_ERR_IO);
    ENSURE(bind(fd, ai->ai_addr, ai->ai_addrlen) == 0, PARLEY_ERR_IO);
    ENSURE(listen(fd, 4096) == 0, PARLEY_ERR_IO);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ENSURE(getsockname(fd, (struct sockaddr *)&ss, &sl) == 0, PARLEY_ERR_IO);
    if (ss.ss_family == AF_INET6)
        *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out_fd = fd;
    fd = -1;
    rc = PARLEY_OK;
out:
    if (rc < 0)
        srv_log("cannot listen on %s:%d: %s", s->cfg.listen_host, port, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (ai != NULL)
        freeaddrinfo(ai);
    return rc;
}

static _Thread_local worker *self;

worker *srv_worker_self(void)
{
    return self;
}

int srv_inbox_empty(worker *w)
{
    pthread_mutex_lock(&w->mu);
    int empty = w->head == NULL;
    pthread_mutex_unlock(&w->mu);
    return empty;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    self = w;
    event_base_dispatch(w->base);
    return NULL;
}

static void on_stop_check(evutil_socket_t fd, short what, void *arg);

static void schedule_stop_check(worker *w)
{
    struct timeval tv = {0, 20000};
    event_add(w->stop_ev, &tv);
}

static void on_stop_check(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)what;
    pstore_chan_dispatch(w->chan);
    srv_hold_flush(w);
    if (w->pending_ops > 0) {
        schedule_stop_check(w);
        return;
    }
    if (w->stopping == 1) {
        /* Every durable message is acked: close the connections, give
         * their last bytes a moment to leave. */
        srv_conn_close_all(w);
        w->stopping = 2;
        struct timeval tv = {0, SRV_LINGER_MS * 1000 + 50000};
        event_add(w->stop_ev, &tv);
        return;
    }
    event_base_loopexit(w->base, NULL);
}

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    srv_conn_trim_idle(arg);
}

static int worker_init(srv *s, worker *w, int index)
{
    int rc;
    int bound = 0;
    w->s = s;
    w->index = index;
    w->listen_fd = -1;
    w->inbox_fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    w->base = event_base_new();
    ENSURE(w->base != NULL, PARLEY_ERR_NOMEM);
    w->table_size = 1u << 16;
    w->table = calloc(w->table_size, sizeof *w->table);
    ENSURE(w->table != NULL, PARLEY_ERR_NOMEM);
    parley_stanza_limits lim;
    parley_stanza_limits_default(&lim);
    lim.max_size = s->cfg.max_stanza;
    GUARD(parley_stanza_parser_new(&w->parser, &lim));
    GUARD(pstore_chan_new(s->store, &w->chan));
    w->chan_ev = event_new(w->base, pstore_chan_fd(w->chan), EV_READ | EV_PERSIST, on_chan, w);
    ENSURE(w->chan_ev != NULL && event_add(w->chan_ev, NULL) == 0, PARLEY_ERR_NOMEM);
    w->inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ENSURE(w->inbox_fd >= 0, PARLEY_ERR_IO);
    w->inbox_ev = event_new(w->base, w->inbox_fd, EV_READ | EV_PERSIST, on_inbox, w);
    ENSURE(w->inbox_ev != NULL && event_add(w->inbox_ev, NULL) == 0, PARLEY_ERR_NOMEM);
    w->stop_ev = evtimer_new(w->base, on_stop_check, w);
    ENSURE(w->stop_ev != NULL, PARLEY_ERR_NOMEM);
    w->trim_ev = event_new(w->base, -1, EV_PERSIST, on_trim, w);
    ENSURE(w->trim_ev != NULL, PARLEY_ERR_NOMEM);
    {
        struct timeval tv = {SRV_TRIM_INTERVAL_S, 0};
        ENSURE(event_add(w->trim_ev, &tv) == 0, PARLEY_ERR_NOMEM);
    }
    GUARD(open_listener(s, s->port, &w->listen_fd, &bound));
    s->port = bound; /* the first worker fixes an ephemeral port for the others */
    w->listener = evconnlistener_new(w->base, on_accept, w,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1, w->listen_fd);
    ENSURE(w->listener != NULL, PARLEY_ERR_NOMEM);
    evconnlistener_set_error_cb(w->listener, on_accept_error);
    w->listen_fd = -1;
    rc = PARLEY_OK;
out:
    return rc;
}

int srv_start(srv *s)
{
    int rc;
    s->port = s->cfg.listen_port;
    s->nworkers = 0;
    for (int i = 0; i < s->cfg.workers; i++) {
        GUARD(worker_init(s, &s->workers[i], i));
        s->nworkers++;
    }
    for (int i = 0; i < s->nworkers; i++)
        ENSURE(pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) == 0,
               PARLEY_ERR_NOMEM);
    rc = PARLEY_OK;
out:
    return rc;
}

static void on_shutdown_msg(worker *w)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    if (w->listener != NULL) {
        evconnlistener_free(w->listener);
        w->listener = NULL;
    }
    schedule_stop_check(w);
}

void srv_conn_handle_shutdown(worker *w);
void srv_conn_handle_shutdown(worker *w)
{
    on_shutdown_msg(w);
}

void srv_stop(srv *s)
{
    for (int i = 0; i < s->nworkers; i++) {
        srv_msg *m = srv_msg_new(SRV_MSG_SHUTDOWN, 0, 0, NULL, 0);
        if (m != NULL)
            srv_post(&s->workers[i], m);
    }
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i].thread, NULL);
    for (int i = 0; i < s->nworkers; i++) {
        worker *w = &s->workers[i];
        pstore_chan_free(w->chan);
        if (w->listener != NULL)
            evconnlistener_free(w->listener);
        event_free(w->chan_ev);
        event_free(w->inbox_ev);
        event_free(w->stop_ev);
        event_free(w->trim_ev);
        srv_hold_free(w);
        close(w->inbox_fd);
        parley_stanza_parser_free(w->parser);
        srv_msg *m = w->head;
        while (m != NULL) {
            srv_msg *nx = m->next;
            free(m);
            m = nx;
        }
        free(w->table);
        event_base_free(w->base);
        pthread_mutex_destroy(&w->mu);
    }
}

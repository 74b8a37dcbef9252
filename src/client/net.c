/*
 * A blocking driver for parley_noise_conn: TCP connect, the handshake, and
 * one stanza per transport frame (docs/protocol.md, "Transport"). poll() bounds
 * every wait; nothing here keeps more than the Noise buffers.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "client/client_internal.h"
#include "util/safety.h"

uint64_t pcl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t pcl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int remaining(uint64_t deadline)
{
    uint64_t now = pcl_mono_ms();
    if (deadline == UINT64_MAX)
        return -1;
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* "host:port", "[v6]:port". */
static int split_server(const char *server, char *host, size_t host_max, char *port,
                        size_t port_max)
{
    const char *colon;
    const char *h = server;
    size_t hl;
    int rc;
    if (server[0] == '[') {
        const char *end = strchr(server, ']');
        ENSURE(end != NULL && end[1] == ':', PARLEY_ERR_INVALID_ARG);
        h = server + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(server, ':');
        ENSURE(colon != NULL, PARLEY_ERR_INVALID_ARG);
        hl = (size_t)(colon - server);
    }
    ENSURE(hl > 0 && hl < host_max, PARLEY_ERR_INVALID_ARG);
    memcpy(host, h, hl);
    host[hl] = 0;
    ENSURE(strlen(colon + 1) > 0 && strlen(colon + 1) < port_max, PARLEY_ERR_INVALID_ARG);
    strcpy(port, colon + 1);
    rc = PARLEY_OK;
out:
    return rc;
}

static int tcp_connect(const char *server, uint64_t deadline, int *fd_out)
{
    char host[256], port[16];
    struct addrinfo hints, *res = NULL, *ai;
    int rc = PARLEY_ERR_IO;
    int fd = -1;
    GUARD(split_server(server, host, sizeof host, port, sizeof port));
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    ENSURE(getaddrinfo(host, port, &hints, &res) == 0, PARLEY_ERR_IO);
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t el = sizeof err;
            if (poll(&p, 1, remaining(deadline)) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
                break;
        }
        close(fd);
        fd = -1;
    }
    ENSURE(fd >= 0, PARLEY_ERR_IO);
    {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    *fd_out = fd;
    fd = -1;
    rc = PARLEY_OK;
out:
    if (res)
        freeaddrinfo(res);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Writes all pending output, waiting at most until deadline. */
static int flush_out(pcl_net *n, uint64_t deadline)
{
    int rc;
    for (;;) {
        const uint8_t *p;
        size_t len;
        parley_noise_conn_output(n->nc, &p, &len);
        if (len == 0)
            break;
        ssize_t w = send(n->fd, p, len, MSG_NOSIGNAL);
        if (w > 0) {
            parley_noise_conn_consume(n->nc, (size_t)w);
            continue;
        }
        ENSURE(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR), PARLEY_ERR_IO);
        struct pollfd pf = {.fd = n->fd, .events = POLLOUT};
        int t = remaining(deadline);
        ENSURE(t != 0, PARLEY_ERR_TIMEOUT);
        ENSURE(poll(&pf, 1, t) >= 0 || errno == EINTR, PARLEY_ERR_IO);
    }
    rc = PARLEY_OK;
out:
    return rc;
}

/* Reads what is there (waiting until deadline for the first byte). */
static int read_some(pcl_net *n, uint64_t deadline)
{
    uint8_t buf[16384];
    int rc;
    for (;;) {
        size_t space = parley_noise_conn_input_space(n->nc);
        ENSURE(space > 0, PARLEY_ERR_BUFFER);
        ssize_t r = recv(n->fd, buf, space < sizeof buf ? space : sizeof buf, 0);
        if (r > 0) {
            GUARD(parley_noise_conn_feed(n->nc, buf, (size_t)r));
            break;
        }
        ENSURE(r != 0, PARLEY_ERR_CLIENT_CLOSED);
        ENSURE(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, PARLEY_ERR_IO);
        struct pollfd pf = {.fd = n->fd, .events = POLLIN};
        int t = remaining(deadline);
        ENSURE(t != 0, PARLEY_ERR_TIMEOUT);
        int pr = poll(&pf, 1, t);
        ENSURE(pr >= 0 || errno == EINTR, PARLEY_ERR_IO);
        ENSURE(pr != 0, PARLEY_ERR_TIMEOUT);
    }
    rc = PARLEY_OK;
out:
    return rc;
}

int pcl_net_open(pcl_net *n, const char *server, const parley_noise_client_config *cfg,
                 int timeout_ms)
{
    uint64_t deadline = pcl_mono_ms() + (uint64_t)timeout_ms;
    int rc;
    memset(n, 0, sizeof *n);
    n->fd = -1;
    GUARD(parley_stanza_parser_new(&n->parser, NULL));
    GUARD(parley_noise_conn_new_client(&n->nc, cfg));
    GUARD(tcp_connect(server, deadline, &n->fd));
    GUARD(parley_noise_conn_start(n->nc, pcl_mono_ms()));
    while (!parley_noise_conn_established(n->nc)) {
        parley_noise_event ev;
        GUARD(flush_out(n, deadline));
        GUARD(read_some(n, deadline));
        do {
            GUARD(parley_noise_conn_next(n->nc, &ev));
            /* A frame cannot precede the end of the handshake. */
            ENSURE(ev.type != PARLEY_NOISE_EV_FRAME, PARLEY_ERR_NOISE_HANDSHAKE);
        } while (ev.type != PARLEY_NOISE_EV_NONE && !parley_noise_conn_established(n->nc));
    }
    GUARD(flush_out(n, deadline));
    rc = PARLEY_OK;
out:
    if (rc != PARLEY_OK)
        pcl_net_close(n);
    return rc;
}

void pcl_net_close(pcl_net *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
    parley_noise_conn_free(n->nc);
    n->nc = NULL;
    parley_stanza_parser_free(n->parser);
    n->parser = NULL;
}

int pcl_net_send(pcl_net *n, const parley_stanza *st)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;
    ENSURE(n->nc != NULL, PARLEY_ERR_CLIENT_CLOSED);
    GUARD(parley_stanza_write_alloc(st, &buf, &len));
    for (;;) {
        rc = parley_noise_conn_send(n->nc, buf, len);
        if (rc != PARLEY_ERR_BUFFER)
            break;
        GUARD(flush_out(n, pcl_mono_ms() + PCL_IQ_TIMEOUT_MS));
    }
    GUARD(rc);
    GUARD(flush_out(n, pcl_mono_ms() + PCL_IQ_TIMEOUT_MS));
    rc = PARLEY_OK;
out:
    free(buf);
    return rc;
}

int pcl_net_recv(pcl_net *n, int timeout_ms, parley_stanza **out)
{
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : pcl_mono_ms() + (uint64_t)timeout_ms;
    int rc;
    *out = NULL;
    ENSURE(n->nc != NULL, PARLEY_ERR_CLIENT_CLOSED);
    for (;;) {
        parley_noise_event ev;
        GUARD(parley_noise_conn_next(n->nc, &ev));
        if (ev.type == PARLEY_NOISE_EV_FRAME) {
            GUARD(parley_stanza_parser_parse(n->parser, ev.data, ev.len, out));
            break;
        }
        if (ev.type != PARLEY_NOISE_EV_NONE)
            continue;
        GUARD(read_some(n, deadline));
    }
    rc = PARLEY_OK;
out:
    return rc;
}

/*
 * parley-load — a load generator for parleyd (bench/RESULTS-server.md).
 *
 *   parley-load provision --db PATH --users N [--first I]
 *       create accounts load<I>..load<I+N-1>@bench.example, each with one
 *       device bound to a static key derived from its index (directly in
 *       the database: registering 15,000 devices over the wire would
 *       measure registration, not logins)
 *   parley-load run --connect HOST:PORT --root HEX --conns N [--first I]
 *       [--rate MSGS_PER_S] [--duration S] [--warmup S] [--hold S] [--sources K]
 *       [--drain S]
 *       open N authenticated connections (full Noise XX handshake,
 *       certificate check, device lookup), optionally from K source
 *       addresses 127.0.0.1..127.0.0.K; then for `duration` seconds each
 *       connection sends to its partner (index xor 1) so that the total is
 *       `rate` messages/s; the partner acks each copy; then hold the idle
 *       connections open for `hold` seconds (for RSS measurements), and
 *       exit. Reports logins/s, messages/s delivered and p50/p99 latency
 *       (send to receipt, same clock). With --warmup, the traffic runs that
 *       much longer first, uncounted: the first messages after a thousand
 *       logins meet cold caches on both sides, which is a start-up cost,
 *       not the steady state a rate is meant to show (bench/RESULTS-server.md
 *       shows both). With --drain, waits up to S seconds
 *       after the traffic for the messages still in flight and prints the
 *       totals sent, acked and delivered (the rates count only the
 *       traffic's window).
 *
 * Single-threaded: one epoll loop over non-blocking sockets, each driving
 * a parley_noise_conn. Bounded in time; stops by itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "crypto/crypto.h"
#include "parley/noise_conn.h"
#include "parley/stanza.h"
#include "store/store.h"

#define DOMAIN "bench.example"
#define MAX_SAMPLES 2000000

typedef struct {
    int fd;
    int index;
    int state; /* 0 connecting/handshaking, 1 waiting success, 2 ready, 3 dead */
    parley_noise_conn *nc;
    uint64_t sent;
    int dirty; /* on the flush list */
} lconn;

/* Connections with frames queued in this loop turn. Each is written once
 * at the end of the turn, as the server does (src/noise/event.c), so a
 * connection's message and its ack of a received one leave in one send().
 * A message's send time is stamped when it is queued: the wait for the
 * flush counts in its latency. */
typedef struct {
    lconn **c;
    size_t n;
} flushlist;

static void mark_dirty(flushlist *fl, lconn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        fl->c[fl->n++] = c;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The static key of user i: SHA-256 of a fixed label and the index. */
static int key_of(int i, uint8_t priv[32], uint8_t pub[32])
{
    char label[64];
    int n = snprintf(label, sizeof label, "parley-load static key %d", i);
    if (pc_sha256(priv, (const uint8_t *)label, (size_t)n) < 0)
        return -1;
    priv[0] &= 248;
    priv[31] &= 127;
    priv[31] |= 64;
    return pc_x25519_public(pub, priv);
}

static int provision(const char *db, int first, int users)
{
    pstore *s = NULL;
    int made = 0;
    /* No fsync per account: a benchmark database is made again if lost. */
    pstore_sqlite_config scfg = {.sync = PSTORE_SYNC_NORMAL};
    if (pstore_open_sqlite(&s, db, &scfg) < 0) {
        fprintf(stderr, "parley-load: cannot open %s\n", db);
        return 1;
    }
    int64_t now = (int64_t)time(NULL);
    for (int i = first; i < first + users; i++) {
        pstore_device d;
        char user[64];
        uint8_t priv[32];
        snprintf(user, sizeof user, "load%d@" DOMAIN, i);
        int rc = pstore_account_create(s, user, now);
        if (rc == PARLEY_ERR_STORE_EXISTS)
            continue;
        if (rc < 0) {
            fprintf(stderr, "parley-load: %s: %s\n", user, parley_strerror(rc));
            break;
        }
        memset(&d, 0, sizeof d);
        snprintf(d.user, sizeof d.user, "%s", user);
        d.device_id = 1;
        if (key_of(i, priv, d.noise_key) < 0)
            break;
        memcpy(d.identity_key, d.noise_key, 32);
        d.identity_key_len = 32;
        d.created = d.last_seen = now;
        if ((rc = pstore_device_add(s, &d)) < 0) {
            fprintf(stderr, "parley-load: %s device: %s\n", user, parley_strerror(rc));
            break;
        }
        made++;
    }
    pstore_close(s);
    printf("provisioned %d users\n", made);
    return 0;
}

static int flush_out(lconn *c)
{
    const uint8_t *p;
    size_t n;
    parley_noise_conn_output(c->nc, &p, &n);
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (w <= 0)
            return -1;
        parley_noise_conn_consume(c->nc, (size_t)w);
        parley_noise_conn_output(c->nc, &p, &n);
    }
    return 0;
}

/* Writes every connection on the list; one that fails is marked dead. */
static void flush_all(flushlist *fl, uint64_t *failures)
{
    for (size_t i = 0; i < fl->n; i++) {
        lconn *c = fl->c[i];
        c->dirty = 0;
        if (c->state != 3 && flush_out(c) < 0) {
            c->state = 3;
            (*failures)++;
        }
    }
    fl->n = 0;
}

/* Reads once from c's socket into its connection after an edge-triggered
 * readiness report. A read shorter than asked for has drained the socket:
 * data arriving later raises a new edge, so no read is spent on EAGAIN.
 * Returns 1 when the read filled what was asked for (take the frames out,
 * then read again), 0 when the socket is drained, -1 when the connection
 * failed. */
static int read_some(lconn *c, uint8_t *buf, size_t cap)
{
    for (;;) {
        size_t space = parley_noise_conn_input_space(c->nc);
        size_t want = space < cap ? space : cap;
        ssize_t r = recv(c->fd, buf, want, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r <= 0)
            return -1;
        if (parley_noise_conn_feed(c->nc, buf, (size_t)r) < 0)
            return -1;
        if ((size_t)r < want)
            return 0;
        return 1; /* the caller takes the frames out, then reads again */
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    uint64_t *lat;
    size_t nlat;
    uint64_t delivered, acked_by_server, refused, logins, failures;
    uint64_t sample_from; /* messages sent before this (now_ns) give no latency sample */
} stats;

/* Handle one frame received on c. */
static void on_frame(lconn *c, const uint8_t *data, size_t len, parley_stanza_parser *parser,
                     stats *st, uint64_t t, flushlist *fl)
{
    parley_stanza *s = NULL;
    if (parley_stanza_parser_parse(parser, data, len, &s) < 0)
        return;
    if (c->state == 1) {
        if (parley_stanza_is(s, "success")) {
            c->state = 2;
            st->logins++;
        } else {
            c->state = 3;
            st->failures++;
        }
    } else if (parley_stanza_is(s, "message")) {
        const char *id = parley_stanza_attr(s, "id");
        const char *sid = parley_stanza_attr(s, "sid");
        if (id != NULL && id[0] == 't') {
            uint64_t sent = strtoull(id + 1, NULL, 10);
            if (st->nlat < MAX_SAMPLES && t > sent && sent >= st->sample_from)
                st->lat[st->nlat++] = t - sent;
        }
        st->delivered++;
        if (sid != NULL) {
            char ack[96];
            int n = snprintf(ack, sizeof ack, "<ack class=\"message\" sid=\"%s\"/>", sid);
            if (parley_noise_conn_send(c->nc, (const uint8_t *)ack, (size_t)n) < 0)
                st->failures++;
            else
                mark_dirty(fl, c);
        }
    } else if (parley_stanza_is(s, "ack")) {
        if (parley_stanza_attr(s, "error") != NULL)
            st->refused++;
        else
            st->acked_by_server++;
    }
    parley_stanza_free(s);
}

/* One wait for readiness (at most timeout_ms) and every frame it brings;
 * acks are queued on fl. Receipt is stamped when the wait returns. */
static void pump(int ep, uint8_t *buf, size_t cap, parley_stanza_parser *parser, stats *st,
                 flushlist *fl, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, timeout_ms);
    uint64_t t = now_ns();
    for (int i = 0; i < n; i++) {
        lconn *c = evs[i].data.ptr;
        if (c->state == 3)
            continue;
        /* Writable again: what waited for room goes at the flush. */
        mark_dirty(fl, c);
        int more = (evs[i].events & ~(uint32_t)EPOLLOUT) != 0;
        while (more > 0) {
            more = read_some(c, buf, cap);
            if (more < 0) {
                c->state = 3;
                break;
            }
            parley_noise_event ev;
            while (parley_noise_conn_next(c->nc, &ev) == 0 && ev.type == PARLEY_NOISE_EV_FRAME)
                on_frame(c, ev.data, ev.len, parser, st, t, fl);
        }
    }
}

static int run(const char *host, int port, const uint8_t root[32], int first, int conns,
               double rate, double duration, double warmup, double hold, int sources,
               double drain)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    lconn *cs = calloc((size_t)conns, sizeof *cs);
    stats st;
    memset(&st, 0, sizeof st);
    st.lat = malloc(sizeof(uint64_t) * MAX_SAMPLES);
    flushlist fl = {calloc((size_t)conns, sizeof(lconn *)), 0};
    parley_stanza_parser *parser = NULL;
    if (ep < 0 || cs == NULL || st.lat == NULL || fl.c == NULL ||
        parley_stanza_parser_new(&parser, NULL) < 0)
        return 1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return 1;
    static uint8_t buf[65536];
    uint64_t t0 = now_ns();
    int opened = 0, ready = 0, dead = 0;
    /* Phase 1: connect and log in, at most 256 handshakes in flight. */
    while (ready + dead < conns) {
        while (opened < conns && opened - ready - dead < 256) {
            lconn *c = &cs[opened];
            uint8_t priv[32], pub[32];
            char login[128];
            c->index = first + opened;
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (c->fd < 0) {
                perror("socket");
                return 1;
            }
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (sources > 1) {
                struct sockaddr_in src;
                memset(&src, 0, sizeof src);
                src.sin_family = AF_INET;
                src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(opened % sources));
                setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
                if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0)
                    perror("bind");
            }
            if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
                perror("connect");
                return 1;
            }
            if (key_of(c->index, priv, pub) < 0)
                return 1;
            int ln = snprintf(login, sizeof login, "<login user=\"load%d@" DOMAIN "\" device=\"1\"/>",
                              c->index);
            parley_noise_client_config cfg;
            memset(&cfg, 0, sizeof cfg);
            cfg.static_priv = priv;
            cfg.static_pub = pub;
            cfg.root_pub = root;
            cfg.login = (const uint8_t *)login;
            cfg.login_len = (size_t)ln;
            /* Idle clients need little: one frame each way. */
            cfg.limits.max_input = 65538 + 8;
            cfg.limits.max_output = 65538 + 8;
            if (parley_noise_conn_new_client(&c->nc, &cfg) < 0 ||
                parley_noise_conn_start(c->nc, now_ns() / 1000000u) < 0)
                return 1;
            pc_wipe(priv, sizeof priv);
            struct epoll_event ev = {EPOLLIN | EPOLLOUT | EPOLLET, {.ptr = c}};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            opened++;
        }
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 1000);
        if (n == 0 && (now_ns() - t0) > 60000000000u) {
            fprintf(stderr, "parley-load: logins stalled\n");
            break;
        }
        for (int i = 0; i < n; i++) {
            lconn *c = evs[i].data.ptr;
            int before = c->state;
            if (c->state == 3)
                continue;
            int more = 1;
            while (more > 0 && c->state != 3) {
                more =
                    (evs[i].events & ~(uint32_t)EPOLLOUT) != 0 ? read_some(c, buf, sizeof buf) : 0;
                if (more < 0) {
                    c->state = 3;
                    break;
                }
                parley_noise_event ev;
                while (c->state != 3) {
                    if (parley_noise_conn_next(c->nc, &ev) < 0) {
                        c->state = 3;
                        break;
                    }
                    if (ev.type == PARLEY_NOISE_EV_NONE)
                        break;
                    if (ev.type == PARLEY_NOISE_EV_HANDSHAKE_DONE)
                        c->state = 1;
                    else
                        on_frame(c, ev.data, ev.len, parser, &st, now_ns(), &fl);
                }
            }
            if (c->state != 3 && flush_out(c) < 0)
                c->state = 3;
            if (before < 2 && c->state == 2)
                ready++;
            if (before != 3 && c->state == 3) {
                dead++;
                if (before == 2)
                    ready--;
            }
        }
    }
    double login_s = (double)(now_ns() - t0) / 1e9;
    printf("logins: %d ok, %d failed in %.2f s: %.0f logins/s\n", ready, dead, login_s,
           (double)ready / login_s);
    fflush(stdout);

    /* Phase 2: traffic. */
    if (rate > 0 && duration > 0 && ready > 1) {
        /* Counted from the end of the warm-up; latency samples likewise. */
        uint64_t t_begin = now_ns(), start = t_begin + (uint64_t)(warmup * 1e9);
        uint64_t end = start + (uint64_t)(duration * 1e9), delivered0 = 0, acked0 = 0;
        int warm = warmup <= 0;
        st.sample_from = start;
        uint64_t sent = 0, queued = 0;
        int rr = 0;
        fl.n = 0;
        while (now_ns() < end) {
            if (!warm && now_ns() >= start) {
                warm = 1;
                delivered0 = st.delivered;
                acked0 = st.acked_by_server;
            }
            /* Send what the schedule asks for by now, round-robin. */
            uint64_t due = (uint64_t)((double)(now_ns() - t_begin) / 1e9 * rate);
            while (sent < due) {
                lconn *c = &cs[rr];
                int partner = rr ^ 1;
                rr = (rr + 1) % conns;
                if (partner >= conns || c->state != 2 || cs[partner].state != 2) {
                    sent++;
                    continue;
                }
                lconn *to = &cs[partner];
                char xml[512];
                int n = snprintf(xml, sizeof xml,
                                 "<message id=\"t%llu\" to=\"load%d@" DOMAIN "\"><participants>"
                                 "<to jid=\"load%d@" DOMAIN "/1\"><enc v=\"2\" type=\"msg\">"
                                 "MwgBEiEFq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJASIQU=</enc>"
                                 "</to></participants></message>",
                                 (unsigned long long)now_ns(), to->index, to->index);
                if (parley_noise_conn_send(c->nc, (const uint8_t *)xml, (size_t)n) < 0)
                    st.failures++;
                else {
                    mark_dirty(&fl, c);
                    queued++;
                }
                sent++;
            }
            /* The messages just queued and the acks of the last turn. */
            flush_all(&fl, &st.failures);
            pump(ep, buf, sizeof buf, parser, &st, &fl, 1);
            /* Acks queued above go out with the next turn's messages, a
             * few microseconds later, unless the run ends first. */
        }
        flush_all(&fl, &st.failures);
        double secs = (double)(now_ns() - start) / 1e9;
        uint64_t delivered = st.delivered - delivered0, acked = st.acked_by_server - acked0;
        qsort(st.lat, st.nlat, sizeof *st.lat, cmp_u64);
        double p50 = st.nlat ? (double)st.lat[st.nlat / 2] / 1e6 : 0;
        double p99 = st.nlat ? (double)st.lat[st.nlat * 99 / 100] / 1e6 : 0;
        printf("messages: offered %.0f/s, acked by server %.0f/s, delivered %.0f/s, refused %llu, "
               "p50 %.2f ms, p99 %.2f ms (%zu samples, %.1f s)\n",
               rate, (double)acked / secs, (double)delivered / secs,
               (unsigned long long)st.refused, p50, p99, st.nlat, secs);
        /* Drain: no new messages; wait (bounded) for the ones in flight, so
         * that the totals show whether any was lost. Not in the rates. */
        uint64_t drain_end = now_ns() + (uint64_t)(drain * 1e9);
        while (now_ns() < drain_end &&
               (st.delivered < queued || st.acked_by_server + st.refused < queued)) {
            pump(ep, buf, sizeof buf, parser, &st, &fl, 10);
            flush_all(&fl, &st.failures);
        }
        printf("totals: sent %llu, acked by server %llu, delivered %llu, failures %llu\n",
               (unsigned long long)queued, (unsigned long long)st.acked_by_server,
               (unsigned long long)st.delivered, (unsigned long long)st.failures);
        fflush(stdout);
    }
    /* Phase 3: idle, for memory measurements. */
    if (hold > 0) {
        printf("holding %d idle connections for %.0f s\n", ready, hold);
        fflush(stdout);
        uint64_t end = now_ns() + (uint64_t)(hold * 1e9);
        while (now_ns() < end) {
            struct epoll_event evs[256];
            int n = epoll_wait(ep, evs, 256, 200);
            for (int i = 0; i < n; i++) {
                lconn *c = evs[i].data.ptr;
                ssize_t r = recv(c->fd, buf, sizeof buf, 0);
                (void)r;
            }
        }
    }
    for (int i = 0; i < opened; i++) {
        close(cs[i].fd);
        parley_noise_conn_free(cs[i].nc);
    }
    parley_stanza_parser_free(parser);
    free(fl.c);
    free(st.lat);
    free(cs);
    close(ep);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: parley-load provision --db PATH --users N [--first I]\n"
            "       parley-load run --connect HOST:PORT --root HEX --conns N [--first I]\n"
            "                   [--rate MSGS_PER_S] [--duration S] [--warmup S] [--hold S]\n"
            "                   [--sources K] [--drain S]\n");
}

int main(int argc, char **argv)
{
    const char *db = NULL, *connect_to = NULL, *root_hex = NULL;
    int users = 0, first = 0, conns = 0, sources = 1;
    double rate = 0, duration = 0, warmup = 0, hold = 0, drain = 0;
    if (argc < 2) {
        usage();
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--db") == 0)
            db = v;
        else if (strcmp(a, "--users") == 0)
            users = atoi(v);
        else if (strcmp(a, "--first") == 0)
            first = atoi(v);
        else if (strcmp(a, "--connect") == 0)
            connect_to = v;
        else if (strcmp(a, "--root") == 0)
            root_hex = v;
        else if (strcmp(a, "--conns") == 0)
            conns = atoi(v);
        else if (strcmp(a, "--rate") == 0)
            rate = atof(v);
        else if (strcmp(a, "--duration") == 0)
            duration = atof(v);
        else if (strcmp(a, "--warmup") == 0)
            warmup = atof(v);
        else if (strcmp(a, "--hold") == 0)
            hold = atof(v);
        else if (strcmp(a, "--sources") == 0)
            sources = atoi(v);
        else if (strcmp(a, "--drain") == 0)
            drain = atof(v);
        else {
            usage();
            return 2;
        }
    }
    if (pc_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (strcmp(argv[1], "provision") == 0 && db != NULL && users > 0)
        return provision(db, first, users);
    if (strcmp(argv[1], "run") == 0 && connect_to != NULL && root_hex != NULL && conns > 0 &&
        duration <= 3600 && warmup >= 0 && warmup <= 3600 && hold <= 3600 && drain <= 3600) {
        uint8_t root[32];
        const char *colon = strrchr(connect_to, ':');
        char host[64];
        if (colon == NULL || (size_t)(colon - connect_to) >= sizeof host || strlen(root_hex) != 64)
            return 2;
        memcpy(host, connect_to, (size_t)(colon - connect_to));
        host[colon - connect_to] = '\0';
        for (int i = 0; i < 32; i++) {
            unsigned v;
            if (sscanf(root_hex + 2 * i, "%2x", &v) != 1)
                return 2;
            root[i] = (uint8_t)v;
        }
        return run(host, atoi(colon + 1), root, first, conns, rate, duration, warmup, hold, sources,
                   drain);
    }
    usage();
    return 2;
}

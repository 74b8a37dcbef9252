/*
 * Several parleyd processes on one port and one database (docs/operations.md,
 * "Several processes").
 *
 * The kernel spreads connections over the processes' SO_REUSEPORT
 * listeners, and the database is shared, so every process can store for
 * any device; what one process cannot see is which devices are connected
 * to the others. A copy committed for a device that is not connected here
 * is therefore announced to the other processes: each process binds a
 * Unix datagram socket "<pid>.sock" in a private directory (peers_dir),
 * and sends the announcement to every other socket found there. A process
 * that holds the device pushes the copy exactly as if it had committed it
 * (the live/backlog rules of conn.c apply unchanged, because server ids
 * come from the one database); the others drop it.
 *
 * The store stays the truth: an announcement is a shortcut, like a local
 * push. When a peer's socket is full the datagram waits in a bounded
 * queue and is retried; if that overflows, the announcement is replaced
 * by a resync request, on which the peer makes every live connection read
 * its queue again from the store, so a copy is at worst late, never lost.
 *
 * Datagram: kind (1 byte: P push, S send, K kick, R resync), device
 * (u32 BE), server id (u64 BE), user length (1 byte), user, stanza.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "crypto/crypto.h"
#include "server/server.h"
#include "util/safety.h"

enum {
    PEER_HDR = 1 + 4 + 8 + 1,
    PEER_DGRAM_MAX = PEER_HDR + PSTORE_ADDRESS_MAX + PARLEY_STANZA_MAX_SIZE,
    PEER_MAX = 64,                 /* processes sharing one directory */
    PEER_PENDING_BYTES = 16 << 20, /* waiting for a full peer socket */
    PEER_SCAN_MS = 100,            /* how often the directory is read again */
    PEER_RETRY_MS = 5,
    PEER_SOCKBUF = 4 << 20,
};

typedef struct pending {
    struct pending *next;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    size_t len;
    uint8_t data[];
} pending;

struct srv_peers {
    srv *s;
    int fd;
    pthread_t thread;
    int stop;
    char self[sizeof(((struct sockaddr_un *)0)->sun_path)];
    pthread_mutex_t mu; /* everything below */
    char paths[PEER_MAX][sizeof(((struct sockaddr_un *)0)->sun_path)];
    size_t n;
    pending *head, *tail;
    size_t pending_bytes;
    uint8_t resync_due[PEER_MAX]; /* an announcement to paths[i] was dropped */
    uint64_t st_sent, st_received, st_dropped;
};

static uint64_t mono_ms(void)
{
    return srv_mono_ms();
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int addr_of(struct sockaddr_un *sa, const char *path)
{
    size_t n = strlen(path);
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (n >= sizeof sa->sun_path)
        return -1;
    memcpy(sa->sun_path, path, n + 1);
    return 0;
}

/* 0 sent, 1 the peer's socket is full, -1 the peer is gone. */
static int send_to(srv_peers *p, const char *path, const uint8_t *d, size_t n)
{
    struct sockaddr_un sa;
    if (addr_of(&sa, path) < 0)
        return -1;
    for (;;) {
        ssize_t r =
            sendto(p->fd, d, n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa);
        if (r == (ssize_t)n)
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
            return 1;
        return -1;
    }
}

static void forget(srv_peers *p, size_t i, int unlink_it)
{
    if (unlink_it)
        unlink(p->paths[i]); /* nobody is bound to it: a leftover of a dead process */
    p->n--;
    memcpy(p->paths[i], p->paths[p->n], sizeof p->paths[i]);
    p->resync_due[i] = p->resync_due[p->n];
    p->resync_due[p->n] = 0;
}

/* Under mu. */
static void queue_or_drop(srv_peers *p, size_t i, const uint8_t *d, size_t n)
{
    if (p->pending_bytes + n > PEER_PENDING_BYTES) {
        p->resync_due[i] = 1;
        p->st_dropped++;
        return;
    }
    pending *q = malloc(sizeof *q + n);
    if (q == NULL) {
        p->resync_due[i] = 1;
        p->st_dropped++;
        return;
    }
    q->next = NULL;
    memcpy(q->path, p->paths[i], sizeof q->path);
    q->len = n;
    memcpy(q->data, d, n);
    if (p->tail != NULL)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
    p->pending_bytes += n;
}

static void broadcast(srv_peers *p, const uint8_t *d, size_t n)
{
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n;) {
        /* Order per peer: behind what already waits for it. */
        int waiting = 0;
        for (pending *q = p->head; q != NULL && !waiting; q = q->next)
            waiting = strcmp(q->path, p->paths[i]) == 0;
        int r = waiting ? 1 : send_to(p, p->paths[i], d, n);
        if (r < 0) {
            forget(p, i, errno == ECONNREFUSED);
            continue;
        }
        if (r == 1)
            queue_or_drop(p, i, d, n);
        else
            p->st_sent++;
        i++;
    }
    pthread_mutex_unlock(&p->mu);
}

void srv_peers_announce(srv *s, srv_msg_kind kind, const char *user, uint32_t device, uint64_t sid,
                        const uint8_t *data, size_t len)
{
    srv_peers *p = s->peers;
    uint8_t *d;
    size_t ul = strlen(user);
    if (p == NULL || ul > PSTORE_ADDRESS_MAX || len > PARLEY_STANZA_MAX_SIZE)
        return;
    char k = kind == SRV_MSG_PUSH   ? 'P'
             : kind == SRV_MSG_SEND ? 'S'
             : kind == SRV_MSG_KICK ? 'K'
                                    : 0;
    if (k == 0)
        return;
    d = malloc(PEER_HDR + ul + len);
    if (d == NULL)
        return;
    d[0] = (uint8_t)k;
    put_u32(d + 1, device);
    put_u64(d + 5, sid);
    d[13] = (uint8_t)ul;
    memcpy(d + PEER_HDR, user, ul);
    if (len > 0)
        memcpy(d + PEER_HDR + ul, data, len);
    broadcast(p, d, PEER_HDR + ul + len);
    pc_wipe(d, PEER_HDR + ul + len);
    free(d);
}

/* Retry what waits, then the resync requests owed. */
static void flush_pending(srv_peers *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->head != NULL) {
        pending *q = p->head;
        int r = send_to(p, q->path, q->data, q->len);
        if (r == 1)
            break;
        if (r == 0)
            p->st_sent++;
        p->head = q->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->pending_bytes -= q->len;
        pc_wipe(q->data, q->len);
        free(q);
    }
    if (p->head == NULL) {
        for (size_t i = 0; i < p->n; i++) {
            uint8_t r[PEER_HDR] = {'R'};
            if (p->resync_due[i] && send_to(p, p->paths[i], r, sizeof r) != 1)
                p->resync_due[i] = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

/* Under mu: paths[] gets path unless known; 1 when it was new. */
static int add_peer(srv_peers *p, const char *path)
{
    for (size_t k = 0; k < p->n; k++)
        if (strcmp(p->paths[k], path) == 0)
            return 0;
    if (p->n == PEER_MAX || strlen(path) >= sizeof p->paths[0])
        return 0;
    snprintf(p->paths[p->n], sizeof p->paths[0], "%s", path);
    p->resync_due[p->n] = 0;
    p->n++;
    return 1;
}

/*
 * The other sockets of the directory. A process found late may hold
 * devices for which this one committed copies without telling it: it is
 * owed a resync. (Those found at start need none: nothing was committed
 * here yet; and a new process says hello to the others itself.)
 */
static void scan(srv_peers *p, const char *dir, int initial)
{
    char found[PEER_MAX][sizeof p->self];
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < PEER_MAX) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".sock") != 0)
            continue;
        if (snprintf(found[n], sizeof found[n], "%s/%s", dir, e->d_name) >= (int)sizeof found[n])
            continue;
        if (strcmp(found[n], p->self) == 0)
            continue;
        n++;
    }
    closedir(d);
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++)
        if (add_peer(p, found[i]) && !initial)
            p->resync_due[p->n - 1] = 1;
    pthread_mutex_unlock(&p->mu);
}

static void on_datagram(srv_peers *p, const uint8_t *d, size_t n, const struct sockaddr_un *from,
                        socklen_t fl)
{
    char user[PSTORE_ADDRESS_MAX + 1];
    if (n < PEER_HDR)
        return;
    if (d[0] == 'H') {
        /* A process just started: announce to it from now on. */
        if (fl > offsetof(struct sockaddr_un, sun_path) && from->sun_path[0] == '/') {
            char path[sizeof from->sun_path + 1];
            size_t l = (size_t)fl - offsetof(struct sockaddr_un, sun_path);
            memcpy(path, from->sun_path, l);
            path[l] = '\0';
            pthread_mutex_lock(&p->mu);
            add_peer(p, path);
            pthread_mutex_unlock(&p->mu);
        }
        return;
    }
    if (d[0] == 'R') {
        srv_reg_resync(p->s);
        return;
    }
    size_t ul = d[13];
    if (n < PEER_HDR + ul || ul == 0)
        return;
    memcpy(user, d + PEER_HDR, ul);
    user[ul] = '\0';
    if (pstore_check_address(user) != PARLEY_OK)
        return;
    uint32_t device = (uint32_t)d[1] << 24 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 8 | d[4];
    uint64_t sid = get_u64(d + 5);
    srv_msg_kind kind = d[0] == 'P'   ? SRV_MSG_PUSH
                        : d[0] == 'S' ? SRV_MSG_SEND
                        : d[0] == 'K' ? SRV_MSG_KICK
                                      : 0;
    if (kind == 0)
        return;
    p->st_received++;
    srv_reg_send_local(p->s, user, device, 0, kind, sid, d + PEER_HDR + ul, n - PEER_HDR - ul);
}

static void *peer_main(void *arg)
{
    srv_peers *p = arg;
    uint8_t *buf = malloc(PEER_DGRAM_MAX);
    uint64_t next_scan = 0;
    if (buf == NULL)
        return NULL;
    while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
        uint64_t now = mono_ms();
        if (now >= next_scan) {
            scan(p, p->s->cfg.peers_dir, 0);
            next_scan = now + PEER_SCAN_MS;
        }
        flush_pending(p);
        /* Block for a datagram a short while (SO_RCVTIMEO), so the stop
         * flag, the retries and the scans are looked at regularly. */
        struct sockaddr_un from;
        socklen_t fl = sizeof from;
        ssize_t r = recvfrom(p->fd, buf, PEER_DGRAM_MAX, 0, (struct sockaddr *)&from, &fl);
        while (r > 0) {
            on_datagram(p, buf, (size_t)r, &from, fl);
            fl = sizeof from;
            r = recvfrom(p->fd, buf, PEER_DGRAM_MAX, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        }
    }
    pc_wipe(buf, PEER_DGRAM_MAX);
    free(buf);
    return NULL;
}

int srv_peers_start(srv *s)
{
    int rc;
    struct stat st;
    struct sockaddr_un sa;
    srv_peers *p = NULL;
    const char *dir = s->cfg.peers_dir;
    if (dir[0] == '\0')
        return PARLEY_OK;
    /* The directory decides who may inject pushes: it must be ours alone. */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        srv_log("peers_dir %s: %s", dir, strerror(errno));
        return PARLEY_ERR_IO;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) != 0) {
        srv_log("peers_dir %s must be a directory of this user with mode 0700", dir);
        return PARLEY_ERR_INVALID_ARG;
    }
    p = calloc(1, sizeof *p);
    ENSURE(p != NULL, PARLEY_ERR_NOMEM);
    p->s = s;
    p->fd = -1;
    pthread_mutex_init(&p->mu, NULL);
    if (snprintf(p->self, sizeof p->self, "%s/%ld.sock", dir, (long)getpid()) >=
        (int)sizeof p->self) {
        srv_log("peers_dir %s: path too long for a socket", dir);
        ENSURE(0, PARLEY_ERR_INVALID_ARG);
    }
    p->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ENSURE(p->fd >= 0, PARLEY_ERR_IO);
    int sz = PEER_SOCKBUF;
    (void)setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    (void)setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    struct timeval tv = {0, PEER_RETRY_MS * 1000};
    ENSURE(setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, PARLEY_ERR_IO);
    ENSURE(addr_of(&sa, p->self) == 0, PARLEY_ERR_INVALID_ARG);
    unlink(p->self); /* a leftover of an earlier process with our pid */
    if (bind(p->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        srv_log("peers_dir: cannot bind %s: %s", p->self, strerror(errno));
        ENSURE(0, PARLEY_ERR_IO);
    }
    scan(p, dir, 1);
    {
        uint8_t hello[PEER_HDR] = {'H'};
        broadcast(p, hello, sizeof hello);
    }
    ENSURE(pthread_create(&p->thread, NULL, peer_main, p) == 0, PARLEY_ERR_NOMEM);
    s->peers = p;
    srv_log("peers: %s, %zu other process%s", p->self, p->n, p->n == 1 ? "" : "es");
    p = NULL;
    rc = PARLEY_OK;
out:
    if (p != NULL) {
        if (p->fd >= 0) {
            close(p->fd);
            unlink(p->self);
        }
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
    return rc;
}

void srv_peers_stop_receiving(srv *s)
{
    srv_peers *p = s->peers;
    if (p == NULL || p->stop)
        return;
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_join(p->thread, NULL);
    /* Gone from the directory: the others stop announcing to us. */
    unlink(p->self);
}

void srv_peers_free(srv *s)
{
    srv_peers *p = s->peers;
    if (p == NULL)
        return;
    srv_peers_stop_receiving(s);
    flush_pending(p);
    srv_log("peers: sent=%llu received=%llu dropped=%llu", (unsigned long long)p->st_sent,
            (unsigned long long)p->st_received, (unsigned long long)p->st_dropped);
    while (p->head != NULL) {
        pending *q = p->head;
        p->head = q->next;
        pc_wipe(q->data, q->len);
        free(q);
    }
    close(p->fd);
    pthread_mutex_destroy(&p->mu);
    free(p);
    s->peers = NULL;
}

/*
 * Store throughput: queued messages committed per second with group commit
 * against one transaction per message (the reference, same run, same
 * file system), under synchronous=FULL and NORMAL; acks; one-time prekey
 * takes. Figures are rates and ratios; the machine decides the absolutes.
 *
 *   bench_store [messages]      (default 20000; the database lives in
 *                                $TMPDIR or /tmp and is removed after)
 */
#include "store/store.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static int run_no;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, parley_strerror(rc));
    exit(1);
}

static pstore *fresh(pstore_sync sync, char *path, size_t cap)
{
    pstore *s = NULL;
    pstore_sqlite_config cfg = {.sync = sync};
    snprintf(path, cap, "%s/bench%d.db", dir, run_no++);
    int rc = pstore_open_sqlite(&s, path, &cfg);
    if (rc < 0)
        die("open", rc);
    if ((rc = pstore_account_create(s, "bench@example.org", 1)) < 0)
        die("account", rc);
    for (uint8_t i = 0; i < 2; i++) {
        pstore_device d;
        memset(&d, 0, sizeof d);
        snprintf(d.user, sizeof d.user, "bench@example.org");
        memset(d.noise_key, 0x40 + i, sizeof d.noise_key);
        d.identity_key[0] = 5;
        d.identity_key_len = 33;
        if ((rc = pstore_device_add(s, &d)) < 0)
            die("device", rc);
    }
    return s;
}

static void discard(pstore *s, const char *path)
{
    char side[160];
    pstore_close(s);
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* A stanza the size of a typical encrypted 1:1 message with its XML. */
static uint8_t stanza[600];

static pstore_envelope envelope(int i, char *id, size_t cap)
{
    pstore_envelope e;
    memset(&e, 0, sizeof e);
    snprintf(id, cap, "msg-%d", i);
    e.recipient = "bench@example.org";
    e.recipient_device = (uint32_t)(i % 2 + 1);
    e.sender = "peer@example.org";
    e.sender_device = 1;
    e.client_id = id;
    e.timestamp = 1700000000000 + i;
    e.stanza = stanza;
    e.stanza_len = sizeof stanza;
    return e;
}

typedef struct {
    int inflight;
    int failed;
    uint64_t *ids;
    int done;
} gc_state;

static void gc_done(void *arg, const pstore_op *op)
{
    gc_state *g = arg;
    g->inflight--;
    if (op->rc != PARLEY_OK)
        g->failed++;
    else if (op->kind == PSTORE_OP_ENQUEUE && g->ids)
        g->ids[g->done] = op->u.enq.server_id;
    g->done++;
}

static void wait_some(pstore_chan *c)
{
    struct pollfd p = {.fd = pstore_chan_fd(c), .events = POLLIN};
    (void)poll(&p, 1, 1000);
    (void)pstore_chan_dispatch(c);
}

/* The server's pattern: an event loop keeps up to `window` writes in
 * flight and hears of each completion on the channel fd. */
static double group_enqueue(pstore *s, int n, int window, uint64_t *ids)
{
    pstore_chan *c = NULL;
    gc_state g = {0, 0, ids, 0};
    char id[32];
    int rc;
    if ((rc = pstore_chan_new(s, &c)) < 0)
        die("chan", rc);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        while (g.inflight >= window)
            wait_some(c);
        pstore_envelope e = envelope(i, id, sizeof id);
        while ((rc = pstore_submit_enqueue(c, &e, gc_done, &g)) == PARLEY_ERR_AGAIN)
            wait_some(c);
        if (rc < 0)
            die("submit", rc);
        g.inflight++;
    }
    while (g.inflight > 0)
        wait_some(c);
    double dt = now_s() - t0;
    pstore_chan_free(c);
    if (g.failed)
        die("group enqueue", PARLEY_ERR_STORE_BACKEND);
    return n / dt;
}

static double single_enqueue(pstore *s, int n, int offset)
{
    char id[32];
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        pstore_envelope e = envelope(offset + i, id, sizeof id);
        uint64_t sid;
        int rc = pstore_enqueue(s, &e, &sid, NULL);
        if (rc < 0)
            die("enqueue", rc);
    }
    return n / (now_s() - t0);
}

static double group_ack(pstore *s, int n, int window, const uint64_t *ids)
{
    pstore_chan *c = NULL;
    gc_state g = {0, 0, NULL, 0};
    int rc;
    if ((rc = pstore_chan_new(s, &c)) < 0)
        die("chan", rc);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        while (g.inflight >= window)
            wait_some(c);
        if ((rc = pstore_submit_ack(c, "bench@example.org", (uint32_t)(i % 2 + 1), ids[i], gc_done,
                                    &g)) < 0)
            die("submit ack", rc);
        g.inflight++;
    }
    while (g.inflight > 0)
        wait_some(c);
    double dt = now_s() - t0;
    pstore_chan_free(c);
    if (g.failed)
        die("group ack", PARLEY_ERR_STORE_BACKEND);
    return n / dt;
}

/* Prekey takes spread over TAKE_DEVICES devices of the bench account, each
 * holding the per-device maximum. */
enum { TAKE_DEVICES = 8 };

static void add_prekeys(pstore *s)
{
    pstore_prekey batch[PSTORE_PREKEY_BATCH_MAX];
    int rc;
    for (uint32_t dev = 3; dev < 3 + TAKE_DEVICES; dev++) {
        pstore_device d;
        memset(&d, 0, sizeof d);
        snprintf(d.user, sizeof d.user, "bench@example.org");
        memset(d.noise_key, (int)(0x50 + dev), sizeof d.noise_key);
        d.identity_key[0] = 5;
        d.identity_key_len = 33;
        if ((rc = pstore_device_add(s, &d)) < 0)
            die("device", rc);
        for (int done = 0; done < PSTORE_PREKEYS_MAX; done += PSTORE_PREKEY_BATCH_MAX) {
            for (int i = 0; i < PSTORE_PREKEY_BATCH_MAX; i++) {
                memset(&batch[i], 0, sizeof batch[i]);
                batch[i].id = (uint32_t)(done + i + 1);
                batch[i].pub[0] = 5;
                batch[i].pub[1] = (uint8_t)i;
                batch[i].pub_len = 33;
            }
            if ((rc = pstore_prekeys_add(s, "bench@example.org", d.device_id, batch,
                                         PSTORE_PREKEY_BATCH_MAX)) < 0)
                die("prekeys", rc);
        }
    }
}

static uint32_t take_device(int i)
{
    return (uint32_t)(3 + i % TAKE_DEVICES);
}

static double single_take(pstore *s, int n)
{
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        pstore_prekey k;
        int rc = pstore_prekey_take(s, "bench@example.org", take_device(i), &k, NULL);
        if (rc < 0)
            die("take", rc);
    }
    return n / (now_s() - t0);
}

static double group_take(pstore *s, int n, int offset, int window)
{
    pstore_chan *c = NULL;
    gc_state g = {0, 0, NULL, 0};
    int rc;
    if ((rc = pstore_chan_new(s, &c)) < 0)
        die("chan", rc);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        while (g.inflight >= window)
            wait_some(c);
        if ((rc = pstore_submit_prekey_take(c, "bench@example.org", take_device(offset + i),
                                            gc_done, &g)) < 0)
            die("submit take", rc);
        g.inflight++;
    }
    while (g.inflight > 0)
        wait_some(c);
    double dt = now_s() - t0;
    pstore_chan_free(c);
    if (g.failed)
        die("group take", PARLEY_ERR_STORE_BACKEND);
    return n / dt;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    if (n < 1000 || n > 1000000) {
        fprintf(stderr, "usage: bench_store [messages 1000..1000000]\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/parley-bench-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    for (size_t i = 0; i < sizeof stanza; i++)
        stanza[i] = (uint8_t)('A' + i % 26);
    /* The reference path pays one fsync per message: a tenth of the
     * messages is enough to measure it. */
    int n_single = n / 10;
    uint64_t *ids = calloc((size_t)n, sizeof *ids);
    char path[128];

    printf("store on SQLite, WAL; %d-byte stanzas, 2 recipient devices\n", (int)sizeof stanza);
    static const struct {
        pstore_sync sync;
        const char *name;
    } modes[] = {{PSTORE_SYNC_FULL, "FULL"}, {PSTORE_SYNC_NORMAL, "NORMAL"}};
    double gc_full = 0, one_full = 0;
    for (size_t m = 0; m < 2; m++) {
        pstore *s = fresh(modes[m].sync, path, sizeof path);
        double one = single_enqueue(s, n_single, n);
        double gc = group_enqueue(s, n, 4096, ids);
        pstore_stats st;
        pstore_get_stats(s, &st);
        double ack = group_ack(s, n, 4096, ids);
        discard(s, path);
        printf("synchronous=%-6s enqueue, one transaction each: %9.0f msg/s (%d msgs)\n",
               modes[m].name, one, n_single);
        printf("synchronous=%-6s enqueue, group commit:         %9.0f msg/s (%d msgs) = %.1fx\n",
               modes[m].name, gc, n, gc / one);
        printf(
            "synchronous=%-6s   (%llu transactions, %.0f messages each on average, largest %zu)\n",
            modes[m].name, (unsigned long long)st.batches,
            st.batches ? (double)st.ops / (double)st.batches : 0.0, st.largest_batch);
        printf("synchronous=%-6s ack-delete, group commit:      %9.0f ack/s\n", modes[m].name, ack);
        if (m == 0) {
            /* A lighter load: fewer writes in flight, smaller batches. */
            s = fresh(modes[m].sync, path, sizeof path);
            double gc64 = group_enqueue(s, n / 4, 64, NULL);
            discard(s, path);
            printf("synchronous=%-6s enqueue, group commit, 64 in flight: %9.0f msg/s (%d msgs)"
                   " = %.1fx\n",
                   modes[m].name, gc64, n / 4, gc64 / one);
            gc_full = gc;
            one_full = one;
        } else {
            printf("NORMAL vs FULL: group commit %.2fx, one transaction each %.2fx\n", gc / gc_full,
                   one / one_full);
        }
    }

    /* Prekey takes, synchronous=FULL: one transaction per take (the
     * synchronous API) and through the commit queue. */
    pstore *s = fresh(PSTORE_SYNC_FULL, path, sizeof path);
    add_prekeys(s);
    int keys = TAKE_DEVICES * PSTORE_PREKEYS_MAX, single = keys / 16;
    double t1 = single_take(s, single);
    double tg = group_take(s, keys - single, single, 1024);
    discard(s, path);
    printf("synchronous=FULL   prekey take, one transaction each: %9.0f take/s (%d)\n", t1, single);
    printf("synchronous=FULL   prekey take, group commit:         %9.0f take/s (%d) = %.1fx\n", tg,
           keys - single, tg / t1);
    free(ids);
    rmdir(dir);
    return 0;
}

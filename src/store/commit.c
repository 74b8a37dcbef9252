/*
 * Group commit: a commit queue drained by one writer thread.
 *
 * Event-loop threads submit writes and return at once. The writer takes
 * everything queued (up to PSTORE_BATCH_MAX), runs it as one transaction
 * through the backend's batch_run, and only once that has returned (the
 * commit is on disk) hands each operation to its channel. While one batch
 * is being fsynced the next accumulates, so under load one fsync covers
 * many messages and at low load an operation waits for a single commit.
 * The loop that submitted an operation learns of its completion from the
 * channel's eventfd and runs the callback on its own thread, so the
 * server acks a sender only after the batch holding the message is
 * durable (DESIGN.md section 4).
 *
 * In between, a writer that commits the moment anything arrives takes
 * batches of a handful of operations, and each batch pays for a
 * transaction, its WAL pages and two thread hand-offs; on a busy machine
 * that CPU is taken from the very loops whose latency it serves. A gather
 * window (commit_delay_us, like PostgreSQL's commit_delay) lets the writer
 * wait until the oldest queued operation is that old, or a full batch is
 * queued, before it commits.
 */
#include "store/store.h"
#include "store/store_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/safety.h"

struct pstore_commitq {
    pstore *s;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the writer waits here for operations */
    pstore_op *head, *tail;
    size_t count, bytes;
    uint64_t head_ns;  /* when the oldest queued operation arrived (monotonic) */
    uint64_t delay_ns; /* the gather window; 0: none */
    int stopping;
    pthread_t thread;
    /* Open channels. A channel still open when the store closes keeps the
     * queue alive (stopped) until it is freed, so a late pstore_chan_free
     * or submit is safe; the last one out releases it. */
    size_t channels;
    int closed;
    pstore_stats stats; /* under mu */
};

struct pstore_chan {
    pstore_commitq *q;
    int fd;
    pthread_mutex_t mu;
    pthread_cond_t idle;    /* pstore_chan_free waits here */
    pstore_op *head, *tail; /* completed, callbacks not yet run */
    size_t inflight;        /* submitted, callback not yet run */
};

static void op_free(pstore_op *op)
{
    /* The op and its stanza copy hold message bytes: wipe before release. */
    pc_wipe(op, op->bytes);
    free(op);
}

static void chan_signal(pstore_chan *c)
{
    uint64_t one = 1;
    /* An eventfd counter only overflows after 2^64-2 unread posts; a write
     * can fail with EAGAIN then, which still leaves it readable. */
    while (write(c->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

/* Hand finished operations to their channels, one wake-up per run of
 * operations for the same channel. The wake-up is written while the
 * channel's lock is held: once the lock is dropped after a channel's last
 * in-flight operation, its owner may free it, so the writer must not touch
 * it again. */
static void complete(pstore_op **ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pstore_op *op = ops[i];
        pstore_chan *c = op->chan;
        pthread_mutex_lock(&c->mu);
        op->next = NULL;
        if (c->tail)
            c->tail->next = op;
        else
            c->head = op;
        c->tail = op;
        if (i + 1 == n || ops[i + 1]->chan != c) {
            chan_signal(c);
            pthread_cond_broadcast(&c->idle);
        }
        pthread_mutex_unlock(&c->mu);
    }
}

/* One transaction for the whole batch; if the transaction itself fails
 * (not one op's own error), retry each op alone so that one poisoned
 * operation cannot fail its neighbours. */
static void run_batch(pstore *s, pstore_op **ops, size_t n)
{
    int rc = s->ops->batch_run(s, ops, n);
    if (rc >= 0)
        return;
    /* A full store (disk or max_size_bytes) refuses what adds rows, but an
     * ack or a prekey take deletes one: run those again without the
     * enqueues, so that recipients' acks still drain the queue and make
     * room instead of failing with every batch that also holds a new
     * message. The enqueues fail with the store's answer. */
    if (rc == PARLEY_ERR_STORE_FULL) {
        /* The caller completes ops[] afterwards: the others go in a copy. */
        pstore_op **rest = malloc(sizeof(*rest) * n);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            if (rest != NULL && ops[i]->kind != PSTORE_OP_ENQUEUE)
                rest[kept++] = ops[i];
            else
                ops[i]->rc = rc;
        }
        if (kept == n) /* no enqueue among them: they were full on their own */
            for (size_t i = 0; i < n; i++)
                ops[i]->rc = rc;
        else if (kept > 0)
            run_batch(s, rest, kept);
        free(rest);
        return;
    }
    /* A locked, damaged or unreachable database fails every op alike:
     * retrying them one by one would only wait out the busy timeout n
     * times over. */
    int op_specific = rc == PARLEY_ERR_STORE_TOO_LARGE || rc == PARLEY_ERR_STORE_EXISTS ||
                      rc == PARLEY_ERR_STORE_BACKEND;
    if (n == 1 || !op_specific) {
        for (size_t i = 0; i < n; i++)
            ops[i]->rc = rc;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int one = s->ops->batch_run(s, &ops[i], 1);
        if (one < 0)
            ops[i]->rc = one;
    }
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait (q->mu held) until the oldest queued operation has waited the
 * gather window, a full batch is queued, or the queue is stopping. The
 * window counts from the oldest operation's arrival, not from the end of
 * the previous commit: what queued up during a long commit is taken at
 * once. */
static void gather(pstore_commitq *q)
{
    uint64_t until = q->head_ns + q->delay_ns;
    struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
    while (q->head && !q->stopping && q->count < PSTORE_BATCH_MAX && mono_ns() < until)
        (void)pthread_cond_timedwait(&q->work, &q->mu, &ts);
}

static void *writer_main(void *arg)
{
    pstore_commitq *q = arg;
    pstore_op **batch = malloc(sizeof(*batch) * PSTORE_BATCH_MAX);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->work, &q->mu);
        if (!q->head)
            break; /* stopping and drained */
        if (q->delay_ns > 0)
            gather(q);
        size_t n = 0;
        size_t cap = batch ? PSTORE_BATCH_MAX : 1;
        pstore_op *single[1];
        pstore_op **b = batch ? batch : single;
        while (q->head && n < cap) {
            pstore_op *op = q->head;
            q->head = op->next;
            if (!q->head)
                q->tail = NULL;
            q->count--;
            q->bytes -= op->bytes;
            b[n++] = op;
        }
        /* What a full batch left behind keeps head_ns, the arrival of an
         * older operation: its window has passed, it goes in the next
         * commit at once. */
        pthread_mutex_unlock(&q->mu);
        run_batch(q->s, b, n);
        pthread_mutex_lock(&q->mu);
        q->stats.batches++;
        q->stats.ops += n;
        if (n > q->stats.largest_batch)
            q->stats.largest_batch = n;
        pthread_mutex_unlock(&q->mu);
        complete(b, n);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    free(batch);
    return NULL;
}

int pstore_commitq_start(pstore *s, int delay_us)
{
    int rc;
    PARLEY_MISUSE(delay_us >= 0 && delay_us <= PSTORE_COMMIT_DELAY_MAX_US);
    pstore_commitq *q = calloc(1, sizeof *q);
    ENSURE(q, PARLEY_ERR_NOMEM);
    q->s = s;
    q->delay_ns = (uint64_t)delay_us * 1000u;
    pthread_mutex_init(&q->mu, NULL);
    /* The gather window is timed on the monotonic clock, as mono_ns is. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->work, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&q->thread, NULL, writer_main, q) != 0) {
        pthread_cond_destroy(&q->work);
        pthread_mutex_destroy(&q->mu);
        free(q);
        q = NULL;
        rc = PARLEY_ERR_NOMEM;
        goto out;
    }
    s->cq = q;
    rc = PARLEY_OK;
out:
    return rc;
}

static void commitq_free(pstore_commitq *q)
{
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

void pstore_commitq_stop(pstore *s)
{
    pstore_commitq *q = s->cq;
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    s->cq = NULL;
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    int last = q->channels == 0;
    pthread_mutex_unlock(&q->mu);
    if (last)
        commitq_free(q);
}

void pstore_get_stats(pstore *s, pstore_stats *out)
{
    PARLEY_MISUSE(s && out && s->cq);
    pstore_commitq *q = s->cq;
    pthread_mutex_lock(&q->mu);
    *out = q->stats;
    out->pending_ops = q->count;
    out->pending_bytes = q->bytes;
    pthread_mutex_unlock(&q->mu);
}

/* ---- channels ---------------------------------------------------------- */

int pstore_chan_new(pstore *s, pstore_chan **out)
{
    int rc;
    PARLEY_MISUSE(s && out && s->cq);
    *out = NULL;
    pstore_chan *c = calloc(1, sizeof *c);
    ENSURE(c, PARLEY_ERR_NOMEM);
    c->q = s->cq;
    c->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->fd < 0) {
        free(c);
        rc = PARLEY_ERR_IO;
        goto out;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->idle, NULL);
    pthread_mutex_lock(&c->q->mu);
    c->q->channels++;
    pthread_mutex_unlock(&c->q->mu);
    *out = c;
    rc = PARLEY_OK;
out:
    return rc;
}

int pstore_chan_fd(const pstore_chan *c)
{
    PARLEY_MISUSE(c);
    return c->fd;
}

int pstore_chan_dispatch(pstore_chan *c)
{
    uint64_t v;
    PARLEY_MISUSE(c);
    /* Clear the wake-up before taking the list: a completion that lands
     * after the read re-arms the fd, so none is missed. */
    while (read(c->fd, &v, sizeof v) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&c->mu);
    pstore_op *list = c->head;
    c->head = c->tail = NULL;
    pthread_mutex_unlock(&c->mu);
    int n = 0;
    while (list) {
        pstore_op *op = list;
        list = op->next;
        if (op->done)
            op->done(op->arg, op);
        op_free(op);
        n++;
    }
    if (n > 0) {
        pthread_mutex_lock(&c->mu);
        c->inflight -= (size_t)n;
        pthread_cond_broadcast(&c->idle);
        pthread_mutex_unlock(&c->mu);
    }
    return n;
}

void pstore_chan_free(pstore_chan *c)
{
    if (!c)
        return;
    for (;;) {
        (void)pstore_chan_dispatch(c);
        pthread_mutex_lock(&c->mu);
        if (c->inflight == 0) {
            pthread_mutex_unlock(&c->mu);
            break;
        }
        while (!c->head && c->inflight > 0)
            pthread_cond_wait(&c->idle, &c->mu);
        pthread_mutex_unlock(&c->mu);
    }
    pstore_commitq *q = c->q;
    pthread_mutex_lock(&q->mu);
    q->channels--;
    int last = q->closed && q->channels == 0;
    pthread_mutex_unlock(&q->mu);
    if (last)
        commitq_free(q);
    close(c->fd);
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- submission -------------------------------------------------------- */

static int submit(pstore_chan *c, pstore_op *op)
{
    pstore_commitq *q = c->q;
    int rc, wake = 0;
    pthread_mutex_lock(&q->mu);
    if (q->stopping) {
        rc = PARLEY_ERR_STORE_CLOSED;
    } else if (q->count >= PSTORE_COMMIT_QUEUE_MAX ||
               q->bytes + op->bytes > PSTORE_COMMIT_QUEUE_BYTES_MAX) {
        rc = PARLEY_ERR_AGAIN;
    } else {
        pthread_mutex_lock(&c->mu);
        c->inflight++;
        pthread_mutex_unlock(&c->mu);
        op->next = NULL;
        if (q->tail)
            q->tail->next = op;
        else {
            q->head = op;
            if (q->delay_ns > 0)
                q->head_ns = mono_ns();
        }
        q->tail = op;
        q->count++;
        q->bytes += op->bytes;
        /* The writer sleeps on an empty queue, or in its gather window
         * until a full batch is queued. Woken after the lock is dropped,
         * so that it does not wake only to wait for it. */
        wake = q->head == op || q->count == PSTORE_BATCH_MAX;
        rc = PARLEY_OK;
    }
    pthread_mutex_unlock(&q->mu);
    if (wake)
        pthread_cond_signal(&q->work);
    return rc;
}

static pstore_op *op_alloc(size_t extra)
{
    size_t bytes = sizeof(pstore_op) + extra;
    pstore_op *op = malloc(bytes);
    if (op)
        op->bytes = bytes;
    return op;
}

static int finish_submit(pstore_chan *c, pstore_op *op, size_t bytes, pstore_done_fn done,
                         void *arg)
{
    op->bytes = bytes;
    op->done = done;
    op->arg = arg;
    op->chan = c;
    int rc = submit(c, op);
    if (rc < 0)
        op_free(op);
    return rc;
}

int pstore_submit_enqueue(pstore_chan *c, const pstore_envelope *env, pstore_done_fn done,
                          void *arg)
{
    int rc;
    PARLEY_MISUSE(c && env);
    GUARD(pstore_check_envelope(env));
    pstore_op *op = op_alloc(env->stanza_len);
    ENSURE(op, PARLEY_ERR_NOMEM);
    uint8_t *copy = (uint8_t *)(op + 1);
    size_t bytes = op->bytes;
    memcpy(copy, env->stanza, env->stanza_len);
    if ((rc = pstore_op_init_enqueue(op, env, copy)) < 0) {
        free(op);
        goto out;
    }
    rc = finish_submit(c, op, bytes, done, arg);
out:
    return rc;
}

int pstore_submit_ack(pstore_chan *c, const char *user, uint32_t device_id, uint64_t server_id,
                      pstore_done_fn done, void *arg)
{
    int rc;
    PARLEY_MISUSE(c && user);
    pstore_op *op = op_alloc(0);
    ENSURE(op, PARLEY_ERR_NOMEM);
    if ((rc = pstore_op_init_ack(op, user, device_id, server_id)) < 0) {
        free(op);
        goto out;
    }
    rc = finish_submit(c, op, sizeof *op, done, arg);
out:
    return rc;
}

int pstore_submit_prekey_take(pstore_chan *c, const char *user, uint32_t device_id,
                              pstore_done_fn done, void *arg)
{
    int rc;
    PARLEY_MISUSE(c && user);
    pstore_op *op = op_alloc(0);
    ENSURE(op, PARLEY_ERR_NOMEM);
    if ((rc = pstore_op_init_take(op, user, device_id)) < 0) {
        free(op);
        goto out;
    }
    rc = finish_submit(c, op, sizeof *op, done, arg);
out:
    return rc;
}

/*
 * The second core of media decryption (hasher.h): a thread that sleeps
 * between blobs and runs one hashing job per large decryptor update.
 *
 * A job is c[0] and c[1] side by side from the start until the caller,
 * done with its own work, asks for c[1] back; the thread then stops at
 * the next few blocks, hands c[1] over at that point and goes on with
 * c[0] alone, while the caller absorbs the rest into c[1]. The hand-over
 * point is wherever the caller happens to be done, so the two sides
 * finish together without any estimate of what either costs per byte: a
 * fixed share would have to be tuned to the CPU (how much two SHA-256
 * streams side by side cost against one) and to the caller's own work,
 * and every job it misjudged made one side wait for the other.
 *
 * A job is short (a 64 KiB update takes about 50 microseconds), so a
 * sleep and a wake-up per job would cost as much as the work handed over:
 * each side first spins for a while on an atomic counter (the worker for
 * the next job, the caller for the end of this one) and only then sleeps
 * on a condition variable. The sleeper announces itself in a flag before
 * its last look at the counter, and the other side reads the flag after
 * moving the counter (both sequentially consistent), so a wake-up is
 * never lost and never paid for when nobody sleeps.
 *
 * The machine may have no core to spare (other programs, or a single
 * core): a job is claimed before it is run, by the worker or, when the
 * worker has not started it by the time the caller has finished its own
 * work, by the caller itself. An idle second core then costs nothing
 * but the hand-over, never a wait for a thread that is not running.
 */
/* sched_getaffinity and CPU_COUNT */
#define _GNU_SOURCE
#include "media/hasher.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util/safety.h"

/* How long a side spins before it sleeps: longer than the gap between two
 * updates of a program that reads and writes 64 KiB at a time from the
 * page cache, short enough not to matter when the input stalls. */
#define SPIN_NS 100000

struct pm_hasher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t job_cv, done_cv;
    atomic_uint posted;  /* jobs handed over (and the stop request) */
    atomic_uint claimed; /* jobs taken, by the worker or by the caller */
    atomic_uint handed;  /* jobs whose c[1] is handed back (at handed_at) */
    atomic_uint want;    /* jobs whose c[1] the caller asked back */
    atomic_uint done;    /* jobs finished */
    atomic_int worker_sleeps, caller_sleeps, stopping;
    /* The job, written by the caller before posted moves, read by the
     * worker after it sees the move. */
    pc_sha256_ctx *c[PM_HASHER_LANES];
    const uint8_t *seg[PM_HASHER_SEGS];
    size_t len[PM_HASHER_SEGS];
    size_t total;
    size_t handed_at; /* bytes of the job in c[1] at the hand-over */
    /* The caller's own: a job posted and not finished. */
    int in_flight, cold;
    /* The fork generation the thread lives in (fork_gen below). A child
     * of fork has the memory but not the thread, and the lock and the
     * condition variables may be held or waited on by threads it does not
     * have: there the caller runs every job itself and touches neither. */
    unsigned gen;
};

/* Moved in every child of fork: a hasher started in another generation
 * has no thread in this process. */
static atomic_uint fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void fork_watch(void)
{
    /* on failure fork_gen stays put: no worse than without the watch */
    (void)pthread_atfork(NULL, NULL, fork_child);
}

static int orphaned(const pm_hasher *h)
{
    return atomic_load_explicit(&fork_gen, memory_order_relaxed) != h->gen;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits until *ctr differs from old and returns its new value: spinning
 * first, then asleep on cv with *sleeps raised (and *slept set). */
static unsigned await_move(pm_hasher *h, atomic_uint *ctr, unsigned old, atomic_int *sleeps,
                           pthread_cond_t *cv, int *slept)
{
    unsigned v;
    uint64_t deadline = now_ns() + SPIN_NS;
    for (unsigned i = 1;; i++) {
        v = atomic_load_explicit(ctr, memory_order_acquire);
        if (v != old)
            return v;
        /* the clock is read every 256 turns: a turn is a few nanoseconds */
        if ((i & 255) == 0 && now_ns() > deadline)
            break;
        cpu_relax();
    }
    *slept = 1;
    pthread_mutex_lock(&h->lock);
    atomic_store(sleeps, 1);
    while ((v = atomic_load(ctr)) == old)
        pthread_cond_wait(cv, &h->lock);
    atomic_store(sleeps, 0);
    pthread_mutex_unlock(&h->lock);
    return v;
}

/* Moves *ctr on and wakes the other side if it sleeps. */
static void move_and_wake(pm_hasher *h, atomic_uint *ctr, unsigned v, atomic_int *sleeps,
                          pthread_cond_t *cv)
{
    atomic_store(ctr, v);
    if (atomic_load(sleeps)) {
        pthread_mutex_lock(&h->lock);
        pthread_cond_signal(cv);
        pthread_mutex_unlock(&h->lock);
    }
}

/* Absorbs bytes [from, to) of the job's segments, taken as one string,
 * into the k contexts c side by side. */
static void absorb_range(pm_hasher *h, pc_sha256_ctx *const c[], size_t k, size_t from, size_t to)
{
    size_t base = 0;
    for (size_t i = 0; i < PM_HASHER_SEGS; i++) {
        size_t lo = from > base ? from : base;
        size_t hi = to < base + h->len[i] ? to : base + h->len[i];
        if (lo < hi) {
            const uint8_t *const d[PM_HASHER_LANES] = {h->seg[i] + (lo - base),
                                                       h->seg[i] + (lo - base)};
            const size_t n[PM_HASHER_LANES] = {hi - lo, hi - lo};
            /* fails only for more than three lanes */
            int rc = pc_sha256_update_multi(c, d, n, k);
            PARLEY_MISUSE(rc == PARLEY_OK);
        }
        base += h->len[i];
    }
}

/* Absorbs the job's bytes from the start into both contexts side by side
 * until the caller asks for c[1] back (want == p); at[i] is how far c[i]
 * got. */
static void absorb_until_wanted(pm_hasher *h, unsigned p, size_t at[2])
{
    size_t base = 0;
    for (size_t i = 0; i < PM_HASHER_SEGS; i++) {
        size_t done[2] = {0, 0};
        if (h->len[i] > 0 &&
            pc_sha256_update2_until(h->c[0], h->c[1], h->seg[i], h->len[i], &h->want, p, done)) {
            at[0] = base + done[0];
            at[1] = base + done[1];
            return;
        }
        base += h->len[i];
    }
    at[0] = at[1] = base;
}

/* Job p (posted == p) is run by whichever side moves claimed to p first. */
static int claim(pm_hasher *h, unsigned p)
{
    unsigned want = p - 1;
    return atomic_compare_exchange_strong(&h->claimed, &want, p);
}

static void *worker_main(void *arg)
{
    pm_hasher *h = arg;
    unsigned seen = 0;
    int slept = 0;
    for (;;) {
        seen = await_move(h, &h->posted, seen, &h->worker_sleeps, &h->job_cv, &slept);
        if (atomic_load(&h->stopping))
            break;
        /* the caller may have taken it: then it is none of ours */
        if (!claim(h, seen))
            continue;
        size_t at[2];
        absorb_until_wanted(h, seen, at);
        h->handed_at = at[1];
        move_and_wake(h, &h->handed, seen, &h->caller_sleeps, &h->done_cv);
        absorb_range(h, h->c, 1, at[0], h->total);
        move_and_wake(h, &h->done, seen, &h->caller_sleeps, &h->done_cv);
    }
    return NULL;
}

int pm_hasher_useful(void)
{
    long n;
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    else
#endif
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 2;
}

int pm_hasher_start(pm_hasher **out, int even_on_one_cpu)
{
    int rc, have_lock = 0, have_job_cv = 0, have_done_cv = 0;
    sigset_t all, old;
    pm_hasher *h = calloc(1, sizeof *h);
    PARLEY_MISUSE(out != NULL);
    ENSURE(h != NULL, PARLEY_ERR_NOMEM);
    ENSURE(even_on_one_cpu || pm_hasher_useful(), PARLEY_ERR_AGAIN);
    atomic_init(&h->posted, 0);
    atomic_init(&h->claimed, 0);
    atomic_init(&h->handed, 0);
    atomic_init(&h->want, 0);
    pthread_once(&fork_once, fork_watch);
    h->gen = atomic_load(&fork_gen);
    atomic_init(&h->done, 0);
    atomic_init(&h->worker_sleeps, 0);
    atomic_init(&h->caller_sleeps, 0);
    atomic_init(&h->stopping, 0);
    ENSURE(pthread_mutex_init(&h->lock, NULL) == 0, PARLEY_ERR_AGAIN);
    have_lock = 1;
    ENSURE(pthread_cond_init(&h->job_cv, NULL) == 0, PARLEY_ERR_AGAIN);
    have_job_cv = 1;
    ENSURE(pthread_cond_init(&h->done_cv, NULL) == 0, PARLEY_ERR_AGAIN);
    have_done_cv = 1;
    /* The thread starts with every signal blocked, so that signals meant
     * for the program keep going to the threads that expect them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&h->thread, NULL, worker_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    ENSURE(e == 0, PARLEY_ERR_AGAIN);
    *out = h;
    h = NULL;
    rc = PARLEY_OK;
out:
    if (h != NULL) {
        if (have_done_cv)
            pthread_cond_destroy(&h->done_cv);
        if (have_job_cv)
            pthread_cond_destroy(&h->job_cv);
        if (have_lock)
            pthread_mutex_destroy(&h->lock);
        free(h);
    }
    return rc;
}

void pm_hasher_post(pm_hasher *h, pc_sha256_ctx *const c[PM_HASHER_LANES],
                    const uint8_t *const seg[PM_HASHER_SEGS], const size_t len[PM_HASHER_SEGS])
{
    unsigned p = atomic_load_explicit(&h->posted, memory_order_relaxed);
    PARLEY_MISUSE(!h->in_flight);
    h->in_flight = 1;
    for (size_t i = 0; i < PM_HASHER_LANES; i++)
        h->c[i] = c[i];
    h->total = 0;
    for (size_t i = 0; i < PM_HASHER_SEGS; i++) {
        h->seg[i] = seg[i];
        h->len[i] = len[i];
        h->total += len[i];
    }
    if (orphaned(h))
        return; /* finish runs it */
    /* a thread asleep, or only just started, takes a while to get going
     * (pm_hasher_finish) */
    h->cold = atomic_load(&h->worker_sleeps) || p == 0;
    move_and_wake(h, &h->posted, p + 1, &h->worker_sleeps, &h->job_cv);
}

int pm_hasher_finish(pm_hasher *h)
{
    unsigned p = atomic_load_explicit(&h->posted, memory_order_relaxed);
    int slept = 0;
    if (!h->in_flight)
        return 0;
    h->in_flight = 0;
    pc_sha256_ctx *const second[1] = {h->c[1]};
    if (orphaned(h)) {
        absorb_range(h, h->c, 2, 0, h->total);
        return 0;
    }
    if (claim(h, p)) {
        /* not started: cheaper to run it here than to wait for a core */
        absorb_range(h, h->c, 2, 0, h->total);
        atomic_store(&h->handed, p);
        atomic_store(&h->done, p);
        /* a thread woken for this job may just be slow to wake: not late
         * (if it keeps happening, the caller's timing shows it) */
        return !h->cold;
    }
    /* c[1] back, please: the thread stops within a few blocks */
    atomic_store(&h->want, p);
    unsigned v = atomic_load_explicit(&h->handed, memory_order_acquire);
    while (v != p)
        v = await_move(h, &h->handed, v, &h->caller_sleeps, &h->done_cv, &slept);
    absorb_range(h, second, 1, h->handed_at, h->total);
    unsigned d = atomic_load_explicit(&h->done, memory_order_acquire);
    while (d != p)
        d = await_move(h, &h->done, d, &h->caller_sleeps, &h->done_cv, &slept);
    return slept;
}

void pm_hasher_stop(pm_hasher *h)
{
    if (h == NULL)
        return;
    pm_hasher_finish(h);
    if (orphaned(h)) {
        free(h);
        return;
    }
    atomic_store(&h->stopping, 1);
    unsigned p = atomic_load_explicit(&h->posted, memory_order_relaxed);
    move_and_wake(h, &h->posted, p + 1, &h->worker_sleeps, &h->job_cv);
    pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->done_cv);
    pthread_cond_destroy(&h->job_cv);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

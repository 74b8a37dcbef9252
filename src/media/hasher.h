/*
 * A second core for media decryption (src/media/media.c, docs/media.md
 * "Decryption on two cores"): one persistent thread that absorbs byte
 * segments into two SHA-256 contexts side by side while the calling
 * thread does other work. Internal to src/media.
 *
 * The SHA-256 unit is per core. A verifying receiver computes three
 * SHA-256 streams (the HMAC's inner hash, the blob hash, the plaintext
 * hash); on one core they saturate its SHA unit. On two, the caller takes
 * the plaintext side (CBC decryption and the plaintext hash) and this
 * thread the two ciphertext streams, but not all of both: two streams
 * side by side cost about 1.35 times one, so when the caller is done with
 * its own work it takes the second stream back from wherever the thread
 * has got to and finishes it while the thread finishes the first
 * (docs/media.md, "Decryption on two cores").
 *
 * One job at a time, owned by the caller: pm_hasher_post hands over
 * pointers, not copies, so the caller must keep the contexts and the
 * segments alive and untouched (not written) until pm_hasher_finish
 * returns.
 */
#ifndef PARLEY_MEDIA_HASHER_H
#define PARLEY_MEDIA_HASHER_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

enum {
    PM_HASHER_LANES = 2, /* contexts per job */
    PM_HASHER_SEGS = 2   /* byte segments per job, absorbed in order */
};

typedef struct pm_hasher pm_hasher;

/* 1 when this process may run on two cores or more. With one, a second
 * thread would only take turns with the caller, and its spinning would
 * take the caller's time. */
int pm_hasher_useful(void);

/* Starts the thread. PARLEY_ERR_NOMEM, or PARLEY_ERR_AGAIN when the
 * system refuses a thread or, unless even_on_one_cpu (tests), when
 * pm_hasher_useful() says no; the caller then hashes on its own core. */
PARLEY_MUST_CHECK int pm_hasher_start(pm_hasher **out, int even_on_one_cpu);

/*
 * Starts absorbing seg[0] (len[0] bytes), then seg[1], into c[0] and into
 * c[1], c[1] only until pm_hasher_finish asks for it. Misuse (a job
 * already in flight) aborts.
 */
void pm_hasher_post(pm_hasher *h, pc_sha256_ctx *const c[PM_HASHER_LANES],
                    const uint8_t *const seg[PM_HASHER_SEGS], const size_t len[PM_HASHER_SEGS]);

/*
 * The caller's end of the posted job, once its own work is done: takes
 * c[1] back and absorbs the rest of the segments into it (or runs the
 * whole job here if the thread has not started it) and waits for c[0].
 * On return both contexts
 * have absorbed every byte and are the caller's again. Returns 1 when the
 * thread was late, a sign that it does not get a core of its own (this
 * side slept waiting for it, or ran a job itself that the thread had not
 * reached although it was awake), else 0; at once 0 when no job is in
 * flight.
 */
int pm_hasher_finish(pm_hasher *h);

/* Joins the thread (after the job in flight, if any) and frees; NULL is
 * fine. */
void pm_hasher_stop(pm_hasher *h);

#endif

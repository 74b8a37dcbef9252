/*
 * Media internals that tests and benchmarks reach for: how the decryptor
 * chooses between one core and two (docs/media.md, "Decryption on two
 * cores"). Not part of the public API.
 */
#ifndef PARLEY_MEDIA_INTERNAL_H
#define PARLEY_MEDIA_INTERNAL_H

#include <stdint.h>

#include "parley/media.h"

enum {
    /* An update absorbing fewer bytes than this stays on the calling
     * thread: handing over and waiting would cost more than it saves. */
    PM_SPLIT_UPDATE_MIN = 16384,
    /* The worker thread is started only for a blob at least this large
     * (announced, or seen so far when no size was given), so that small
     * blobs never pay for a thread. */
    PM_SPLIT_BLOB_MIN = 262144,
    /* After an update whose worker was late, or when two cores measure
     * slower than one (another program has the second core), this many
     * updates stay on one core, doubling while it keeps happening up to
     * the maximum: with no core to spare, two threads that wait for each
     * other are slower than one (media.c, pace()). */
    PM_SPLIT_PAUSE = 4,
    PM_SPLIT_PAUSE_MAX = 256
};

typedef enum {
    PM_SPLIT_AUTO = 0,   /* the thresholds above, with two cores or more */
    PM_SPLIT_NEVER,      /* always one core */
    PM_SPLIT_ALWAYS,     /* every update that absorbs a byte goes to two threads,
                          * even where the process has one core */
    PM_SPLIT_START_FAILS /* as ALWAYS, but starting the thread fails */
} pm_split_mode;

/* Process-wide; each decryptor reads it once, when it is created. */
void pm_decrypt_split_mode(pm_split_mode mode);

/* How many of d's updates ran on two cores. */
uint64_t pm_decryptor_split_updates(const parley_media_decryptor *d);

#endif

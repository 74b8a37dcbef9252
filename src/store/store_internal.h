/*
 * Shared by the store's common code and its backends; not for callers.
 */
#ifndef PARLEY_STORE_INTERNAL_H
#define PARLEY_STORE_INTERNAL_H

#include "store/store.h"

/* The schema this build writes; each backend migrates up to it at open. */
#define PSTORE_SCHEMA_VERSION 2

PARLEY_MUST_CHECK int pstore_check_envelope(const pstore_envelope *env);
PARLEY_MUST_CHECK int pstore_check_device_ref(const char *user, uint32_t device_id);

/* Fill an operation from checked arguments (op is zeroed first). For an
 * enqueue, stanza is where the op will find the bytes: the caller's own
 * buffer for a synchronous call, the op's allocation for a submitted one. */
PARLEY_MUST_CHECK int pstore_op_init_enqueue(pstore_op *op, const pstore_envelope *env,
                                             const uint8_t *stanza);
PARLEY_MUST_CHECK int pstore_op_init_ack(pstore_op *op, const char *user, uint32_t device_id,
                                         uint64_t server_id);
PARLEY_MUST_CHECK int pstore_op_init_take(pstore_op *op, const char *user, uint32_t device_id);

/* The commit queue and its writer thread: a backend's open starts it once
 * the store is ready; pstore_close stops it (draining what is queued)
 * before the backend's close. delay_us is the gather window
 * (pstore_sqlite_config.commit_delay_us); 0 commits at once. */
PARLEY_MUST_CHECK int pstore_commitq_start(pstore *s, int delay_us);
void pstore_commitq_stop(pstore *s);

#endif

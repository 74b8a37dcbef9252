/*
 * Sender keys for groups, in libsignal's current format (message version
 * 3 with a distribution id): each member creates a sender key per
 * distribution id, hands every other member a SenderKeyDistributionMessage
 * (SKDM) over their 1:1 sessions, then encrypts each group message once.
 * Interoperates with @signalapp/libsignal-client's
 * processSenderKeyDistributionMessage / groupEncrypt / groupDecrypt.
 * docs/groups.md has the formats and limits.
 *
 * A parley_group_store holds every sender-key record, ours and other
 * members', keyed by (sender name, device id, distribution id). It is not
 * thread-safe; a caller that shares one across threads locks around it.
 */
#ifndef PARLEY_GROUP_H
#define PARLEY_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PARLEY_GROUP_DISTRIBUTION_ID_LEN 16
/* Limits, as libsignal's (rust/protocol/src/consts.rs). */
#define PARLEY_GROUP_MAX_STATES        5    /* chain ids kept per sender and distribution */
#define PARLEY_GROUP_MAX_MESSAGE_KEYS  2000 /* skipped message keys kept per chain */
#define PARLEY_GROUP_MAX_FORWARD_JUMPS 25000
/* parley's own bounds. */
#define PARLEY_GROUP_NAME_MAX        256   /* sender name, bytes */
#define PARLEY_GROUP_MAX_RECORDS     65536 /* (sender, device, distribution) records per store */
#define PARLEY_GROUP_MAX_PLAINTEXT   (1u << 20)
#define PARLEY_GROUP_MAX_STORE_BYTES (256u << 20) /* serialized store accepted by load */
/* An SKDM is 1 + at most 101 bytes of protobuf. */
#define PARLEY_GROUP_SKDM_MAX 128
/* Ciphertext size bound for n plaintext bytes: version byte, protobuf
 * framing, PKCS#7 padding, signature. */
#define PARLEY_GROUP_CIPHERTEXT_MAX(n) ((size_t)(n) + 128)

typedef struct parley_group_store parley_group_store;

PARLEY_MUST_CHECK int parley_group_store_new(parley_group_store **out);
void parley_group_store_free(parley_group_store *s); /* wipes every key */

/*
 * Our SKDM for distribution_id: creates our sender key (a random 31-bit
 * chain id, a random chain key at iteration 0, a fresh signing key pair)
 * the first time, otherwise describes the current chain at its current
 * iteration. self/self_device name our own address.
 */
PARLEY_MUST_CHECK int
parley_group_create(parley_group_store *s, const char *self, uint32_t self_device,
                    const uint8_t distribution_id[PARLEY_GROUP_DISTRIBUTION_ID_LEN], uint8_t *skdm,
                    size_t skdm_max, size_t *skdm_len);

/*
 * Accept another member's SKDM. Errors: PARLEY_ERR_LEGACY_VERSION for a
 * version below 3, PARLEY_ERR_INVALID_MESSAGE for anything malformed
 * (including a version above 3 or a bad key), PARLEY_ERR_BUFFER when the
 * store is full.
 */
PARLEY_MUST_CHECK int parley_group_process(parley_group_store *s, const char *sender,
                                           uint32_t device, const uint8_t *skdm, size_t len);

/*
 * Encrypt plaintext to the group as a SenderKeyMessage (out receives at
 * most PARLEY_GROUP_CIPHERTEXT_MAX(n) bytes) and advance our chain. The
 * caller must persist the store (parley_group_store_serialize) before the
 * ciphertext leaves, so that a crash never reuses a message key.
 * PARLEY_ERR_NO_SESSION when we have no sender key for the distribution.
 */
PARLEY_MUST_CHECK int
parley_group_encrypt(parley_group_store *s, const char *self, uint32_t self_device,
                     const uint8_t distribution_id[PARLEY_GROUP_DISTRIBUTION_ID_LEN],
                     const uint8_t *plaintext, size_t n, uint8_t *out, size_t out_max,
                     size_t *out_len);

/*
 * Decrypt a SenderKeyMessage from sender/device. The store changes only
 * on success. Errors, each distinct:
 *   PARLEY_ERR_INVALID_MESSAGE    malformed, or the ciphertext does not decrypt
 *   PARLEY_ERR_LEGACY_VERSION     message version below 3
 *   PARLEY_ERR_NO_SESSION         no sender key for that distribution id or chain id
 *   PARLEY_ERR_INVALID_SIGNATURE  signature does not verify under the chain's signing key
 *   PARLEY_ERR_DUPLICATE          that iteration was already decrypted
 *   PARLEY_ERR_TOO_FAR_AHEAD      more than PARLEY_GROUP_MAX_FORWARD_JUMPS ahead
 *   PARLEY_ERR_BUFFER             out_max too small (the plaintext is at most len bytes)
 */
PARLEY_MUST_CHECK int parley_group_decrypt(parley_group_store *s, const char *sender,
                                           uint32_t device, const uint8_t *msg, size_t len,
                                           uint8_t *out, size_t out_max, size_t *out_len);

/*
 * The whole store as bytes (a SenderKeyStoreStructure; holds private
 * keys: keep it as secret as the identity key). *out is malloc'd; free it
 * with parley_group_buffer_free, which wipes it.
 */
PARLEY_MUST_CHECK int parley_group_store_serialize(const parley_group_store *s, uint8_t **out,
                                                   size_t *out_len);
void parley_group_buffer_free(uint8_t *p, size_t len);

/* Rebuild a store from parley_group_store_serialize's output; every limit
 * above is checked. PARLEY_ERR_DECODE on anything malformed. */
PARLEY_MUST_CHECK int parley_group_store_load(parley_group_store **out, const uint8_t *data,
                                              size_t len);

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (either case) <-> 16 bytes. */
PARLEY_MUST_CHECK int parley_group_uuid_parse(uint8_t out[PARLEY_GROUP_DISTRIBUTION_ID_LEN],
                                              const char *s);
void parley_group_uuid_format(char out[37], const uint8_t id[PARLEY_GROUP_DISTRIBUTION_ID_LEN]);

#ifdef __cplusplus
}
#endif
#endif

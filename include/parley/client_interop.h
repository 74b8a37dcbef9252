/*
 * The client engine's side of third-party interop (docs/parts/thirdparty.md;
 * docs/client.md, "Third-party accounts and consent").
 *
 * A third-party account belongs to a provider, not to the gatekeeper: the
 * provider attests that the device's Noise key and Signal identity belong
 * to the user, and the device presents that attestation to the gatekeeper
 * when it enlists and at every login. Fetching the attestation is the
 * provider's business (HTTP, in the parley CLI); the engine makes the
 * keys, keeps the attestation and uses it.
 *
 * A gatekeeper user decides whom it hears from: providers are off until
 * enabled, first contacts arrive as message requests, and anyone can be
 * blocked or reported. The server enforces all of it; these calls only ask.
 */
#ifndef PARLEY_CLIENT_INTEROP_H
#define PARLEY_CLIENT_INTEROP_H

#include <stddef.h>
#include <stdint.h>
#include "parley/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- third-party accounts ------------------------------------------------ */

/*
 * Makes the device's keys for a third-party account without connecting:
 * the Noise static key and the Signal identity, which the provider then
 * attests. server and root_pub as for parley_client_register.
 */
PARLEY_MUST_CHECK int parley_client_prepare(parley_client *c, const char *server,
                                            const uint8_t root_pub[32], const char *user);
/* The device's Noise static public key and Signal identity key (0x05 || X25519). */
PARLEY_MUST_CHECK int parley_client_device_keys(parley_client *c, uint8_t noise_pub[32],
                                                uint8_t identity[33]);
/*
 * Enlists the prepared device with its provider's attestation (binary, as
 * issued): connects with <enlist>, uploads the keys and signs the device
 * list. The attestation is kept and presented at every later login.
 */
PARLEY_MUST_CHECK int parley_client_enlist(parley_client *c, const uint8_t *attestation,
                                           size_t len);
/* Replaces the kept attestation (a renewal); sent on the live connection
 * when there is one. */
PARLEY_MUST_CHECK int parley_client_set_attestation(parley_client *c, const uint8_t *attestation,
                                                    size_t len);
/* Small named values for the provider relation (URL, token), kept in the
 * store: the engine itself never reads them. */
PARLEY_MUST_CHECK int parley_client_set_value(parley_client *c, const char *name,
                                              const char *value);
PARLEY_MUST_CHECK int parley_client_get_value(parley_client *c, const char *name, char *out,
                                              size_t max);
/* 1 when this account enlisted through a provider. */
int parley_client_is_third_party(parley_client *c);

/* ---- consent (gatekeeper users) ------------------------------------------ */

typedef struct {
    const char *id, *name, *protocol, *domain;
    int enabled;
} parley_client_provider;

/* The providers the gatekeeper offers, with this user's choice; inbox
 * receives "separate" or "combined" (at least 16 bytes). */
PARLEY_MUST_CHECK int
parley_client_providers(parley_client *c, void (*cb)(const parley_client_provider *p, void *arg),
                        void *arg, char *inbox, size_t inbox_max);
/* The provider of a user's domain ("" for the gatekeeper's own users), from
 * the providers the last parley_client_providers call listed. */
PARLEY_MUST_CHECK int parley_client_provider_of(parley_client *c, const char *user, char *id,
                                                size_t id_max, char *protocol, size_t protocol_max);
PARLEY_MUST_CHECK int parley_client_consent(parley_client *c, const char *provider, int enabled);
/* mode: "separate" or "combined". */
PARLEY_MUST_CHECK int parley_client_inbox(parley_client *c, const char *mode);
/* The inbox mode the server last announced to this device ("separate" until
 * it said otherwise), from the local store: no connection. out: >= 16 bytes. */
PARLEY_MUST_CHECK int parley_client_inbox_mode(parley_client *c, char *out, size_t max);
/* Pending message requests: sender and when it first wrote (Unix ms). */
PARLEY_MUST_CHECK int parley_client_requests(parley_client *c,
                                             void (*cb)(const char *from, uint64_t t, void *arg),
                                             void *arg);
/* Accept or decline (declining also blocks) the request of `from`. */
PARLEY_MUST_CHECK int parley_client_answer_request(parley_client *c, const char *from, int accept);
PARLEY_MUST_CHECK int parley_client_block(parley_client *c, const char *user, int block);
/*
 * Reports user to the operator. Each of the n message ids names a message
 * received from that user whose decrypted text the reporter chooses to
 * attach (it leaves this device only with the report). *report_id may be NULL.
 */
PARLEY_MUST_CHECK int parley_client_report(parley_client *c, const char *user, const char *reason,
                                           const char *const *msg_ids, size_t n,
                                           uint64_t *report_id);

#ifdef __cplusplus
}
#endif
#endif

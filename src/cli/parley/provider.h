/* parley's HTTP client for a third-party provider's API (provider.c). */
#ifndef PARLEY_CLI_PARLEY_PROVIDER_H
#define PARLEY_CLI_PARLEY_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Logs in to the provider at base ("http://host:port") as user with
 * password, then asks it to attest the device's keys. On success (0) att
 * holds the attestation and *expires its expiry (Unix seconds); on failure
 * (-1) err says what went wrong.
 */
int pv_attest(const char *base, const char *user, const char *password, const uint8_t noise_pub[32],
              const uint8_t identity[33], uint8_t *att, size_t att_max, size_t *att_len,
              uint64_t *expires, char *err, size_t err_max);

/*
 * Logs in and long-polls the provider's wake-ups (GET /v1/wakeups) for up
 * to timeout_s seconds; *pending counts the messages waiting for `device`
 * (0: none arrived in time). 0, or -1 with err.
 */
int pv_wait(const char *base, const char *user, const char *password, uint32_t device,
            int timeout_s, uint64_t *pending, char *err, size_t err_max);

#endif

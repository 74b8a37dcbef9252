/* Helpers shared by the media host, the proxy and the upload client. */
#ifndef PARLEY_MEDIAHOST_INTERNAL_H
#define PARLEY_MEDIAHOST_INTERNAL_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "mediahost/mediahost.h"

#define PMH_DEFAULT_MAX_BLOB ((uint64_t)256 * 1024 * 1024 + 4096)
#define PMH_HEX_ID_LEN 64 /* 32 random bytes, hex */

void pmh_hex(char *out, const uint8_t *in, size_t n); /* out: 2n + 1 */
int pmh_unhex(uint8_t *out, size_t n, const char *hex); /* exactly 2n lowercase hex */
/* A 32-byte random token as 64 lowercase hex characters. */
int pmh_random_id(char out[PMH_HEX_ID_LEN + 1]);
/* Strict decimal: digits only, no sign or space, no overflow. */
int pmh_parse_u64(const char *s, uint64_t *out);
/* Only [0-9a-f]{64}. */
int pmh_is_hex_id(const char *s, size_t len);

/* The bearer token of a request and the user it names, or 0. */
int pmh_authenticate(struct MHD_Connection *c, pmh_auth_fn auth, void *ctx,
                     char user[PMH_USER_MAX]);
/* Queue a short plain-text refusal carrying a Parley-Error header. */
enum MHD_Result pmh_refuse(struct MHD_Connection *c, unsigned status, const char *error);

/* Start a thread-per-connection daemon (TLS when both files are set). */
struct MHD_Daemon *pmh_daemon_start(const char *bind_addr, uint16_t port, unsigned max_conn,
                                    const char *cert_file, const char *key_file,
                                    MHD_AccessHandlerCallback handler, void *handler_cls,
                                    MHD_RequestCompletedCallback done, void *done_cls);
uint16_t pmh_daemon_port(struct MHD_Daemon *d);
int pmh_mkdirs(const char *path);
time_t pmh_now(pmh_clock_fn clock, void *ctx);
/*
 * SHA-256 on a stack context. Connection threads come and go, and the
 * one-shot pc_sha256 keeps a per-thread OpenSSL context that a finished
 * thread would leave behind.
 */
int pmh_sha256(uint8_t out[32], const uint8_t *in, size_t n);

#endif

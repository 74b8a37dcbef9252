/*
 * Helpers for the parleyd integration tests: start a real parleyd on
 * 127.0.0.1 with an ephemeral port in a temporary directory, administer it
 * with the real parleyctl, and talk to it with a small blocking client
 * built from parley_noise_conn and the stanza parser (not the client
 * engine: these tests check the server against docs/protocol.md alone).
 */
#ifndef PARLEY_TEST_SRVTEST_H
#define PARLEY_TEST_SRVTEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "parley/noise_conn.h"
#include "parley/stanza.h"

typedef struct {
    char dir[256];
    char db[300], key[300], cert[300], root[300], conf[300], log[300];
    const char *parleyd, *parleyctl;
    uint8_t root_pub[32];
    pid_t pid;
    int port;
} st_server;

/* The start of a test's main: the programs it runs are its arguments,
 * named in `names` ("PARLEYD PARLEYCTL"). 0, or 2 after a usage line when
 * some are missing; ignores SIGPIPE (a peer the test closes). */
int st_args(int argc, char **argv, const char *names);
/* Make the directory, the root key, the certificate and a config with the
 * given extra lines (may be NULL). */
int st_setup(st_server *s, const char *parleyd, const char *parleyctl, const char *extra_conf);
/* Start parleyd and wait for its "listening" line; 0 on success. */
int st_start(st_server *s);
/* SIGTERM (sig = 15) or SIGKILL (9), then wait for the exit; returns the
 * wait status. */
int st_stop(st_server *s, int sig);
/* Stop what still runs and remove the directory. After failed checks
 * (failed > 0) the end of the server's log goes to stderr first, so that
 * a failure seen only elsewhere can be read from the test's output. */
void st_cleanup(st_server *s, int failed);
/* Run parleyctl with --db and the given arguments; the first line of its
 * output goes to out. Returns its exit status. */
int st_ctl(st_server *s, char *out, size_t max, const char *a1, const char *a2, const char *a3,
           const char *a4);
/* "user add NAME": the registration code. */
int st_user_add(st_server *s, const char *user, char code[64]);
/* 1 if the server's log has a line matching the basic regular expression
 * what (grep); st_wait_log waits up to ms for one. */
int st_log_has(const st_server *s, const char *what);
int st_wait_log(const st_server *s, const char *what, int ms);
/* The resident set of the server process, in KiB. */
long st_rss_kib(const st_server *s);

/* A device: its Noise static key and Signal identity. */
typedef struct {
    uint8_t noise_priv[32], noise_pub[32];
    uint8_t id_priv[32], id_pub[33]; /* 0x05 || X25519 */
    char user[128];
    uint32_t device;
} st_dev;
void st_dev_new(st_dev *d, const char *user);

typedef struct {
    int fd;
    parley_noise_conn *nc;
    parley_stanza_parser *parser;
    uint8_t pending[65536];
    size_t plen;
    int has_pending;
    int closed;
    uint8_t *cap; /* when set: every byte sent is copied here (replay tests) */
    size_t caplen, capmax;
} st_client;

/* When set, connections made by st_connect record what they send here. */
extern uint8_t *st_capture;
extern size_t st_capture_max;

/* Connect and complete the handshake with the given login payload; the
 * first stanza (success or failure) is returned in *first (caller frees).
 * Returns 0, or < 0 when the connection failed before that. */
int st_connect(st_client *c, const st_server *s, const st_dev *d, const char *login,
               parley_stanza **first);
/* Login helpers: 1 on <success>. */
int st_login(st_client *c, const st_server *s, st_dev *d);
int st_register(st_client *c, const st_server *s, st_dev *d, const char *code);
int st_link(st_client *c, const st_server *s, st_dev *d, const char *code);
/* A new account for user (parleyctl user add) and its first device d,
 * registered on c: 1 on <success>. */
int st_signup(st_client *c, st_server *s, st_dev *d, const char *user);
void st_close(st_client *c);

int st_send(st_client *c, const char *xml);
int st_send_raw(st_client *c, const uint8_t *p, size_t n);
/* Next stanza within timeout_ms: 1 and *out, 0 on timeout, < 0 when closed. */
int st_recv(st_client *c, int timeout_ms, parley_stanza **out);
/* Next stanza named `name` (others are dropped), or NULL. */
parley_stanza *st_expect(st_client *c, const char *name, int timeout_ms);
/* The server's ack of the stanza id on c, other acks skipped (100 at
 * most): the caller frees it; NULL if none came within ms of the last one. */
parley_stanza *st_expect_ack(st_client *c, const char *id, int ms);
/* The same as a code: 0 for success, the error code, or -1 for none. */
int st_ack_code(st_client *c, const char *id, int ms);
/* st_ack_code with 10 s; with keep, the ack is also left to the caller. */
int st_wait_ack(st_client *c, const char *id, parley_stanza **keep);
/* Send an iq and wait for its answer. */
parley_stanza *st_iq(st_client *c, const char *xml, const char *id);

/* Base64 of n bytes (caller frees). */
char *st_b64(const uint8_t *p, size_t n);
/* 0 for an iq result, the error code for an iq error, -1 otherwise. */
int st_iq_code(const parley_stanza *r);
/* Upload identity, registration, signed prekey and prekeys [first, first+n). */
int st_upload_keys(st_client *c, const st_dev *d, uint32_t first, uint32_t n);
/* The same naming another identity key (to test the server's refusal). */
int st_upload_keys_as(st_client *c, const st_dev *d, const uint8_t id_pub[33], uint32_t first,
                      uint32_t n);
/* The primary signs and uploads the device list of its account: the iq
 * code (0 on success). */
int st_sign_devices(st_client *c, const st_dev *primary, uint32_t version);

#endif

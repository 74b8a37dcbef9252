/*
 * parley — the Noise Pipes connection between a client and a chat server.
 *
 * A streaming, non-blocking object that does no I/O of its own: the caller
 * feeds it the bytes read from a socket, pulls events (handshake done,
 * decrypted frames) out of it, gives it plaintext frames and writes the
 * bytes it produces. Any event loop can drive it; parley/noise_event.h has
 * the libevent glue.
 *
 * On the wire (docs/protocol.md, "Transport"): the client first sends the
 * 8-byte marker "parley/1", which is also the Noise prologue; then every
 * Noise message, handshake or transport, is preceded by its length as a
 * 3-byte big-endian integer.
 *
 * Handshakes (Noise Pipes, spec section 10.4):
 *   XX          first contact: the client does not know the server key.
 *   IK          the client knows (has cached) the server's static key.
 *   XXfallback  the server cannot decrypt the IK message (its key changed):
 *               it answers with XXfallback reusing the client's ephemeral.
 * The server's certificate (parley/noise_cert.h) is its payload in XX
 * message 2, IK message 2 and XXfallback message 1; the client checks it
 * before it sends anything else. The client's login payload (opaque here)
 * rides in XX message 3, IK message 1 or XXfallback message 2.
 *
 * Every buffer is bounded; errors are sticky: after a failure every call
 * returns the same error code and the caller closes the socket.
 */
#ifndef PARLEY_NOISE_CONN_H
#define PARLEY_NOISE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include "parley/noise.h"
#include "parley/noise_cert.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PARLEY_NOISE_PROLOGUE "parley/1"
#define PARLEY_NOISE_PROLOGUE_LEN 8
#define PARLEY_NOISE_FRAME_HEADER 3
#define PARLEY_NOISE_PROTO_XX "Noise_XX_25519_AESGCM_SHA256"
#define PARLEY_NOISE_PROTO_IK "Noise_IK_25519_AESGCM_SHA256"
#define PARLEY_NOISE_PROTO_XXFALLBACK "Noise_XXfallback_25519_AESGCM_SHA256"
#define PARLEY_NOISE_DEFAULT_MAX_LOGIN 4096
#define PARLEY_NOISE_MAX_SERVER_PAYLOAD 1024 /* largest server handshake payload a client reads */
/* Each side rekeys its sending cipher (Noise spec 4.2) after this many
 * transport messages, and its receiving cipher after as many received:
 * no message says so, the count does (docs/protocol.md, "Rekey"). */
#define PARLEY_NOISE_REKEY_EVERY ((uint64_t)1 << 20)

typedef struct parley_noise_conn parley_noise_conn;

/* Zero fields take the defaults given. */
typedef struct {
    size_t max_frame;              /* largest Noise message either way; default and cap 65535 */
    size_t max_input;              /* input buffer bound; default 2 frames */
    size_t max_output;             /* output buffer bound; default 4 frames */
    uint64_t handshake_timeout_ms; /* default 0: no deadline */
    /* Transport messages per direction between rekeys. Part of the
     * protocol: both ends must use the same value, so only tests change
     * it. Default PARLEY_NOISE_REKEY_EVERY. */
    uint64_t rekey_every;
} parley_noise_limits;

typedef struct {
    const uint8_t *static_priv;   /* 32 bytes: the device's credential */
    const uint8_t *static_pub;    /* its public key, or NULL to derive it */
    const uint8_t *root_pub;      /* 32 bytes: the pinned gatekeeper root key */
    const uint8_t *server_static; /* 32 bytes or NULL: a known server key selects IK */
    const uint8_t *login;         /* opaque login payload, may be NULL when login_len is 0 */
    size_t login_len;
    uint64_t cert_time;           /* Unix seconds for the validity check; 0: the clock */
    const uint8_t *ephemeral_priv; /* tests only: a fixed ephemeral key; NULL: random */
    parley_noise_limits limits;
} parley_noise_client_config;

typedef struct {
    const uint8_t *static_priv; /* 32 bytes */
    const uint8_t *static_pub;  /* its public key, or NULL to derive it per connection */
    const uint8_t *cert;        /* the certificate for that key */
    size_t cert_len;
    size_t max_login;           /* largest login payload accepted; default 4096 */
    const uint8_t *ephemeral_priv; /* tests only */
    parley_noise_limits limits;
} parley_noise_server_config;

typedef enum {
    PARLEY_NOISE_EV_NONE = 0,       /* nothing more until more input */
    PARLEY_NOISE_EV_HANDSHAKE_DONE, /* established; reported once */
    PARLEY_NOISE_EV_FRAME           /* one decrypted frame in data/len */
} parley_noise_event_type;

typedef struct {
    parley_noise_event_type type;
    const uint8_t *data; /* FRAME: valid until the next call on this connection */
    size_t len;
} parley_noise_event;

typedef enum {
    PARLEY_NOISE_MODE_NONE = 0,
    PARLEY_NOISE_MODE_XX,
    PARLEY_NOISE_MODE_IK,
    PARLEY_NOISE_MODE_XXFALLBACK
} parley_noise_mode;

PARLEY_MUST_CHECK int parley_noise_conn_new_client(parley_noise_conn **out,
                                                   const parley_noise_client_config *cfg);
PARLEY_MUST_CHECK int parley_noise_conn_new_server(parley_noise_conn **out,
                                                   const parley_noise_server_config *cfg);
void parley_noise_conn_free(parley_noise_conn *c);

/*
 * Starts the handshake clock (now_ms on any monotonic clock) and, for a
 * client, queues the marker and the first handshake message.
 */
PARLEY_MUST_CHECK int parley_noise_conn_start(parley_noise_conn *c, uint64_t now_ms);

/* Appends received bytes; PARLEY_ERR_BUFFER (nothing taken) beyond the input bound. */
PARLEY_MUST_CHECK int parley_noise_conn_feed(parley_noise_conn *c, const uint8_t *data, size_t n);
/* How many bytes feed() takes now. */
size_t parley_noise_conn_input_space(const parley_noise_conn *c);

/*
 * Processes buffered input and returns the next event (EV_NONE when more
 * input is needed). Call until EV_NONE after each feed: a handshake step
 * may also queue output.
 */
PARLEY_MUST_CHECK int parley_noise_conn_next(parley_noise_conn *c, parley_noise_event *ev);

/*
 * Encrypts one plaintext frame (at most max_frame - 16 bytes) into the
 * output: PARLEY_ERR_STATE before the handshake is done,
 * PARLEY_ERR_FRAME_TOO_LARGE when too long, PARLEY_ERR_BUFFER when the
 * output bound would be passed (not sticky: drain the output and retry).
 */
PARLEY_MUST_CHECK int parley_noise_conn_send(parley_noise_conn *c, const uint8_t *frame, size_t n);

/* Bytes waiting to be written; consume() drops the n written. */
void parley_noise_conn_output(const parley_noise_conn *c, const uint8_t **p, size_t *n);
void parley_noise_conn_consume(parley_noise_conn *c, size_t n);

/* PARLEY_ERR_TIMEOUT (sticky) when the handshake is not done by its deadline. */
PARLEY_MUST_CHECK int parley_noise_conn_tick(parley_noise_conn *c, uint64_t now_ms);
/* The handshake deadline, or UINT64_MAX when there is none or it is done. */
uint64_t parley_noise_conn_deadline(const parley_noise_conn *c);

/*
 * Gives back the memory an established connection holds while idle: the
 * input and output buffers when they are empty and the keyed AES-GCM
 * contexts (remade on the next frame). Servers call it on connections
 * that have been quiet for a while; nothing observable changes.
 */
void parley_noise_conn_trim(parley_noise_conn *c);

int parley_noise_conn_established(const parley_noise_conn *c);
int parley_noise_conn_error(const parley_noise_conn *c); /* PARLEY_OK or the sticky error */
parley_noise_mode parley_noise_conn_mode(const parley_noise_conn *c);

/* After the handshake: the peer's static key (client: the server's, to cache for IK). */
PARLEY_MUST_CHECK int parley_noise_conn_remote_static(const parley_noise_conn *c,
                                                      uint8_t out[PARLEY_NOISE_KEY_LEN]);
PARLEY_MUST_CHECK int parley_noise_conn_handshake_hash(const parley_noise_conn *c,
                                                       uint8_t out[PARLEY_NOISE_HASH_LEN]);
/* Server: the client's login payload (valid while the connection lives). */
PARLEY_MUST_CHECK int parley_noise_conn_login(const parley_noise_conn *c, const uint8_t **p,
                                              size_t *n);
/* Client: the verified certificate of the server. */
PARLEY_MUST_CHECK int parley_noise_conn_cert_info(const parley_noise_conn *c,
                                                  parley_noise_cert_info *info);

#ifdef __cplusplus
}
#endif
#endif

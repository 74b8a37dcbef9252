/*
 * The Noise Pipes connection (parley/noise_conn.h): framing, the XX / IK /
 * XXfallback handshakes of Noise spec section 10.4 with the server
 * certificate and the login payload, then transport frames. No I/O here:
 * bytes in, events out, and the reverse.
 *
 * Handshake steps are dispatched through a table indexed by the step, one
 * handler per handshake message a party receives.
 */
#include "parley/noise_conn.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crypto/crypto.h"
#include "noise/noise_internal.h"
#include "util/buf.h"
#include "util/reader.h"
#include "util/safety.h"

#define KEY PARLEY_NOISE_KEY_LEN
#define HDR PARLEY_NOISE_FRAME_HEADER
/* A handshake message around its payload: e, encrypted s, the payload's tag. */
#define HS_OVERHEAD (KEY + (KEY + PARLEY_NOISE_TAG_LEN) + PARLEY_NOISE_TAG_LEN)

typedef enum {
    STEP_NEW,           /* start() not called yet */
    STEP_S_PROLOGUE,    /* server: waiting for the marker */
    STEP_S_MSG1,        /* server: waiting for XX or IK message 1 */
    STEP_S_FINAL,       /* server: waiting for XX message 3 / XXfallback message 2 */
    STEP_C_XX2,         /* client: waiting for XX message 2 */
    STEP_C_IK2,         /* client: waiting for IK message 2 or XXfallback message 1 */
    STEP_ESTABLISHED,
    STEP_FAILED,
    STEP_COUNT
} conn_step;

struct parley_noise_conn {
    int is_client;
    conn_step step;
    int err;
    parley_noise_mode mode;
    int done_reported;
    uint64_t deadline; /* UINT64_MAX: none */
    parley_noise_limits lim;

    pbuf in;
    size_t in_pos;     /* start of unread input */
    size_t in_release; /* bytes of a delivered frame to drop on the next call */
    pbuf out;
    size_t out_pos;    /* start of unwritten output */
    size_t scratch_len; /* bound of a received handshake payload (in hs_scratch) */

    parley_noise_hs *hs;
    parley_noise_cipher *tx, *rx;
    uint64_t tx_count, rx_count; /* transport messages since the last rekey */
    uint8_t s_priv[KEY], s_pub[KEY];
    uint8_t e_priv[KEY], e_pub[KEY];
    int has_e_priv;
    uint8_t rs[KEY];
    int has_rs;
    uint8_t hh[PARLEY_NOISE_HASH_LEN];

    /* client */
    uint8_t root_pub[PARLEY_CERT_ROOT_PUB_LEN];
    uint8_t server_static[KEY];
    int has_server_static;
    uint64_t cert_time;
    parley_noise_cert_info cert_info;

    /* client: the login to send; server: the certificate to send, then the login received */
    uint8_t *payload;
    size_t payload_len;
    size_t max_login;
    uint8_t *login_rx;
    size_t login_rx_len;
};

static int fail(parley_noise_conn *c, int rc)
{
    if (c->step != STEP_FAILED) {
        c->step = STEP_FAILED;
        c->err = rc;
        parley_noise_hs_free(c->hs);
        c->hs = NULL;
    }
    return c->err;
}

static int set_limits(parley_noise_limits *dst, const parley_noise_limits *src)
{
    *dst = *src;
    if (dst->max_frame == 0 || dst->max_frame > PARLEY_NOISE_MAX_MSG)
        dst->max_frame = PARLEY_NOISE_MAX_MSG;
    /* The largest handshake message: e, encrypted s, a certificate or a login. */
    if (dst->max_frame < 256)
        return PARLEY_ERR_INVALID_ARG;
    size_t one = dst->max_frame + HDR;
    if (dst->max_input == 0)
        dst->max_input = 2 * one;
    if (dst->max_output == 0)
        dst->max_output = 4 * one;
    if (dst->rekey_every == 0)
        dst->rekey_every = PARLEY_NOISE_REKEY_EVERY;
    if (dst->max_input < one + PARLEY_NOISE_PROLOGUE_LEN || dst->max_output < one + PARLEY_NOISE_PROLOGUE_LEN)
        return PARLEY_ERR_INVALID_ARG;
    return PARLEY_OK;
}

/*
 * Handshake payloads are decrypted here and used or copied at once, so one
 * buffer per thread serves every connection: a server with thousands of
 * handshakes in flight holds no payload buffer per connection. Wiped after
 * each handshake message.
 */
static _Thread_local uint8_t hs_scratch[PARLEY_NOISE_MAX_MSG];

static int conn_alloc(parley_noise_conn **out, const parley_noise_limits *lim, size_t scratch)
{
    int rc;
    parley_noise_conn *c = calloc(1, sizeof *c);
    ENSURE(c != NULL, PARLEY_ERR_NOMEM);
    GUARD(set_limits(&c->lim, lim));
    pbuf_init(&c->in, c->lim.max_input);
    pbuf_init(&c->out, c->lim.max_output);
    /* Sized for the largest payload this side accepts, not for a whole
     * frame: a server holds many connections in their handshakes. */
    c->scratch_len = scratch < c->lim.max_frame ? scratch : c->lim.max_frame;
    c->deadline = UINT64_MAX;
    c->step = STEP_NEW;
    *out = c;
    c = NULL;
    rc = PARLEY_OK;
out:
    parley_noise_conn_free(c);
    return rc;
}

static int copy_payload(parley_noise_conn *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return PARLEY_OK;
    c->payload = malloc(n);
    if (c->payload == NULL)
        return PARLEY_ERR_NOMEM;
    memcpy(c->payload, p, n);
    c->payload_len = n;
    return PARLEY_OK;
}

int parley_noise_conn_new_client(parley_noise_conn **out, const parley_noise_client_config *cfg)
{
    int rc;
    parley_noise_conn *c = NULL;
    PARLEY_MISUSE(out != NULL && cfg != NULL && cfg->static_priv != NULL && cfg->root_pub != NULL);
    PARLEY_MISUSE(cfg->login != NULL || cfg->login_len == 0);
    GUARD(conn_alloc(&c, &cfg->limits, PARLEY_NOISE_MAX_SERVER_PAYLOAD));
    c->is_client = 1;
    memcpy(c->s_priv, cfg->static_priv, KEY);
    if (cfg->static_pub != NULL)
        memcpy(c->s_pub, cfg->static_pub, KEY);
    else
        GUARD(pc_x25519_public(c->s_pub, c->s_priv));
    memcpy(c->root_pub, cfg->root_pub, sizeof c->root_pub);
    if (cfg->server_static != NULL) {
        memcpy(c->server_static, cfg->server_static, KEY);
        c->has_server_static = 1;
    }
    if (cfg->ephemeral_priv != NULL) {
        memcpy(c->e_priv, cfg->ephemeral_priv, KEY);
        GUARD(pc_x25519_public(c->e_pub, c->e_priv));
        c->has_e_priv = 1;
    }
    c->cert_time = cfg->cert_time;
    /* The login must fit in the final handshake message with its overheads. */
    ENSURE(cfg->login_len <= c->lim.max_frame - HS_OVERHEAD, PARLEY_ERR_FRAME_TOO_LARGE);
    GUARD(copy_payload(c, cfg->login, cfg->login_len));
    *out = c;
    c = NULL;
    rc = PARLEY_OK;
out:
    parley_noise_conn_free(c);
    return rc;
}

int parley_noise_conn_new_server(parley_noise_conn **out, const parley_noise_server_config *cfg)
{
    int rc;
    parley_noise_conn *c = NULL;
    PARLEY_MISUSE(out != NULL && cfg != NULL && cfg->static_priv != NULL && cfg->cert != NULL);
    GUARD(conn_alloc(&c, &cfg->limits,
                     cfg->max_login ? cfg->max_login : PARLEY_NOISE_DEFAULT_MAX_LOGIN));
    memcpy(c->s_priv, cfg->static_priv, KEY);
    if (cfg->static_pub != NULL)
        memcpy(c->s_pub, cfg->static_pub, KEY);
    else
        GUARD(pc_x25519_public(c->s_pub, c->s_priv));
    if (cfg->ephemeral_priv != NULL) {
        memcpy(c->e_priv, cfg->ephemeral_priv, KEY);
        GUARD(pc_x25519_public(c->e_pub, c->e_priv));
        c->has_e_priv = 1;
    }
    c->max_login = c->scratch_len;
    ENSURE(cfg->cert_len <= c->lim.max_frame - HS_OVERHEAD &&
               cfg->cert_len <= PARLEY_NOISE_MAX_SERVER_PAYLOAD,
           PARLEY_ERR_INVALID_ARG);
    GUARD(copy_payload(c, cfg->cert, cfg->cert_len));
    *out = c;
    c = NULL;
    rc = PARLEY_OK;
out:
    parley_noise_conn_free(c);
    return rc;
}

void parley_noise_conn_free(parley_noise_conn *c)
{
    if (c == NULL)
        return;
    parley_noise_hs_free(c->hs);
    parley_noise_cipher_free(c->tx);
    parley_noise_cipher_free(c->rx);
    pbuf_free(&c->in);
    pbuf_free(&c->out);
    if (c->payload != NULL) {
        pc_wipe(c->payload, c->payload_len);
        free(c->payload);
    }
    if (c->login_rx != NULL) {
        pc_wipe(c->login_rx, c->login_rx_len);
        free(c->login_rx);
    }
    pc_wipe(c, sizeof *c);
    free(c);
}

/* Output: a window [out_pos, out.len) of the buffer, compacted when needed. */

static size_t out_pending(const parley_noise_conn *c)
{
    return c->out.len - c->out_pos;
}

/* Room for extra bytes at the end of the output, within the bound. */
static int out_reserve(parley_noise_conn *c, size_t extra)
{
    if (extra > c->lim.max_output - out_pending(c))
        return PARLEY_ERR_BUFFER;
    if (c->out_pos > 0 && c->out.len + extra > c->out.max) {
        memmove(c->out.data, c->out.data + c->out_pos, out_pending(c));
        c->out.len -= c->out_pos;
        c->out_pos = 0;
    }
    return pbuf_reserve(&c->out, extra);
}

static void put_u24(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

/* Writes the next handshake message, framed, straight into the output. */
static int write_hs(parley_noise_conn *c, const uint8_t *payload, size_t n)
{
    int rc;
    size_t len = 0;
    /* At most one e and one encrypted s per message, then the payload and its tag. */
    size_t bound = HS_OVERHEAD + n;
    if (bound > c->lim.max_frame)
        bound = c->lim.max_frame;
    GUARD(out_reserve(c, HDR + bound));
    uint8_t *p = c->out.data + c->out.len;
    GUARD(parley_noise_hs_write(c->hs, payload, n, p + HDR, bound, &len));
    put_u24(p, len);
    c->out.len += HDR + len;
    rc = PARLEY_OK;
out:
    return rc;
}

static int new_hs(parley_noise_conn *c, const char *proto, int initiator)
{
    int rc;
    parley_noise_hs_free(c->hs);
    c->hs = NULL;
    GUARD(parley_noise_hs_new(&c->hs, proto, initiator));
    GUARD(parley_noise_hs_set_prologue(c->hs, (const uint8_t *)PARLEY_NOISE_PROLOGUE,
                                       PARLEY_NOISE_PROLOGUE_LEN));
    GUARD(parley_noise_hs_set_static_keypair(c->hs, c->s_priv, c->s_pub));
    if (c->has_e_priv)
        GUARD(noise_hs_set_ephemeral_keypair(c->hs, c->e_priv, c->e_pub));
    rc = PARLEY_OK;
out:
    return rc;
}

/* Split, keep what the connection needs after the handshake, drop the rest. */
static int finish(parley_noise_conn *c)
{
    int rc;
    GUARD(parley_noise_hs_split(c->hs, &c->tx, &c->rx));
    GUARD(parley_noise_hs_handshake_hash(c->hs, c->hh));
    GUARD(parley_noise_hs_remote_static(c->hs, c->rs));
    c->has_rs = 1;
    parley_noise_hs_free(c->hs);
    c->hs = NULL;
    pc_wipe(c->e_priv, sizeof c->e_priv);
    c->has_e_priv = 0;
    pc_wipe(c->s_priv, sizeof c->s_priv);
    if (c->is_client && c->payload != NULL) {
        pc_wipe(c->payload, c->payload_len);
        free(c->payload);
        c->payload = NULL;
        c->payload_len = 0;
    }
    c->deadline = UINT64_MAX;
    c->step = STEP_ESTABLISHED;
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_noise_conn_start(parley_noise_conn *c, uint64_t now_ms)
{
    int rc;
    PARLEY_MISUSE(c != NULL);
    if (c->step == STEP_FAILED)
        return c->err;
    ENSURE(c->step == STEP_NEW, PARLEY_ERR_STATE);
    if (c->lim.handshake_timeout_ms > 0)
        c->deadline = now_ms > UINT64_MAX - c->lim.handshake_timeout_ms
                          ? UINT64_MAX - 1
                          : now_ms + c->lim.handshake_timeout_ms;
    if (!c->is_client) {
        c->step = STEP_S_PROLOGUE;
        return PARLEY_OK;
    }
    GUARD(out_reserve(c, PARLEY_NOISE_PROLOGUE_LEN));
    memcpy(c->out.data + c->out.len, PARLEY_NOISE_PROLOGUE, PARLEY_NOISE_PROLOGUE_LEN);
    c->out.len += PARLEY_NOISE_PROLOGUE_LEN;
    if (c->has_server_static) {
        /* IK: choose the ephemeral here, so a fallback can reuse it (spec 10.4). */
        if (!c->has_e_priv) {
            GUARD(pc_x25519_keygen(c->e_pub, c->e_priv));
            c->has_e_priv = 1;
        }
        GUARD(new_hs(c, PARLEY_NOISE_PROTO_IK, 1));
        GUARD(parley_noise_hs_set_remote_static(c->hs, c->server_static));
        /* -> e, es, s, ss with the login */
        GUARD(write_hs(c, c->payload, c->payload_len));
        c->mode = PARLEY_NOISE_MODE_IK;
        c->step = STEP_C_IK2;
    } else {
        GUARD(new_hs(c, PARLEY_NOISE_PROTO_XX, 1));
        /* -> e, with an empty payload: that is how the server tells XX from IK */
        GUARD(write_hs(c, NULL, 0));
        c->mode = PARLEY_NOISE_MODE_XX;
        c->step = STEP_C_XX2;
    }
    rc = PARLEY_OK;
out:
    if (rc < 0)
        return fail(c, rc);
    return rc;
}

static uint64_t cert_now(const parley_noise_conn *c)
{
    if (c->cert_time != 0)
        return c->cert_time;
    time_t t = time(NULL);
    return t < 0 ? 0 : (uint64_t)t;
}

/* Client: the server's payload must certify the key the handshake authenticated. */
static int check_cert(parley_noise_conn *c, const uint8_t *cert, size_t n)
{
    int rc;
    uint8_t rs[KEY];
    GUARD(parley_noise_hs_remote_static(c->hs, rs));
    GUARD(parley_noise_cert_verify(cert, n, c->root_pub, rs, cert_now(c), &c->cert_info));
    rc = PARLEY_OK;
out:
    return rc;
}

/* Client, XX message 2: <- e, ee, s, es with the certificate; then -> s, se with the login. */
static int on_c_xx2(parley_noise_conn *c, const uint8_t *msg, size_t n)
{
    int rc;
    size_t plen;
    GUARD(parley_noise_hs_read(c->hs, msg, n, hs_scratch, c->scratch_len, &plen));
    GUARD(check_cert(c, hs_scratch, plen));
    GUARD(write_hs(c, c->payload, c->payload_len));
    GUARD(finish(c));
    rc = PARLEY_OK;
out:
    return rc;
}

/*
 * Client, IK message 2 (<- e, ee, se) or, when the server could not
 * decrypt message 1, XXfallback message 1 (<- e, ee, s, se in canonical
 * form). Trial decryption tells them apart: the IK reading fails on a
 * fallback message, which is then read as XXfallback with the same
 * ephemeral (spec 10.4).
 */
static int on_c_ik2(parley_noise_conn *c, const uint8_t *msg, size_t n)
{
    int rc;
    size_t plen;
    rc = parley_noise_hs_read(c->hs, msg, n, hs_scratch, c->scratch_len, &plen);
    if (rc == PARLEY_OK) {
        GUARD(check_cert(c, hs_scratch, plen));
        GUARD(finish(c));
        return PARLEY_OK;
    }
    ENSURE(rc == PARLEY_ERR_NOISE_DECRYPT, rc);
    GUARD(new_hs(c, PARLEY_NOISE_PROTO_XXFALLBACK, 0));
    c->mode = PARLEY_NOISE_MODE_XXFALLBACK;
    GUARD(parley_noise_hs_read(c->hs, msg, n, hs_scratch, c->scratch_len, &plen));
    GUARD(check_cert(c, hs_scratch, plen));
    /* -> s, es (canonical) with the login */
    GUARD(write_hs(c, c->payload, c->payload_len));
    GUARD(finish(c));
    rc = PARLEY_OK;
out:
    return rc;
}

static int keep_login(parley_noise_conn *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return PARLEY_OK;
    c->login_rx = malloc(n);
    if (c->login_rx == NULL)
        return PARLEY_ERR_NOMEM;
    memcpy(c->login_rx, p, n);
    c->login_rx_len = n;
    return PARLEY_OK;
}

/*
 * Server, message 1. Exactly 32 bytes is XX's "-> e" with its empty
 * payload; anything else is IK's "-> e, es, s, ss" with the login. An IK
 * message that does not decrypt (the client cached an old key) turns into
 * XXfallback, with this server as initiator and the client's ephemeral
 * (the first 32 bytes, in clear) as pre-message.
 */
static int on_s_msg1(parley_noise_conn *c, const uint8_t *msg, size_t n)
{
    int rc;
    size_t plen;
    if (n == KEY) {
        c->mode = PARLEY_NOISE_MODE_XX;
        GUARD(new_hs(c, PARLEY_NOISE_PROTO_XX, 0));
        GUARD(parley_noise_hs_read(c->hs, msg, n, hs_scratch, c->scratch_len, &plen));
        /* <- e, ee, s, es with the certificate */
        GUARD(write_hs(c, c->payload, c->payload_len));
        c->step = STEP_S_FINAL;
        return PARLEY_OK;
    }
    ENSURE(n > KEY, PARLEY_ERR_NOISE_HANDSHAKE);
    c->mode = PARLEY_NOISE_MODE_IK;
    GUARD(new_hs(c, PARLEY_NOISE_PROTO_IK, 0));
    rc = parley_noise_hs_read(c->hs, msg, n, hs_scratch, c->max_login, &plen);
    if (rc == PARLEY_OK) {
        GUARD(keep_login(c, hs_scratch, plen));
        /* <- e, ee, se with the certificate */
        GUARD(write_hs(c, c->payload, c->payload_len));
        GUARD(finish(c));
        return PARLEY_OK;
    }
    ENSURE(rc == PARLEY_ERR_NOISE_DECRYPT, rc);
    c->mode = PARLEY_NOISE_MODE_XXFALLBACK;
    GUARD(new_hs(c, PARLEY_NOISE_PROTO_XXFALLBACK, 1));
    GUARD(parley_noise_hs_set_remote_ephemeral(c->hs, msg));
    GUARD(write_hs(c, c->payload, c->payload_len));
    c->step = STEP_S_FINAL;
    rc = PARLEY_OK;
out:
    return rc;
}

/* Server, XX message 3 or XXfallback message 2: the client's s and its login. */
static int on_s_final(parley_noise_conn *c, const uint8_t *msg, size_t n)
{
    int rc;
    size_t plen;
    GUARD(parley_noise_hs_read(c->hs, msg, n, hs_scratch, c->max_login, &plen));
    GUARD(keep_login(c, hs_scratch, plen));
    GUARD(finish(c));
    rc = PARLEY_OK;
out:
    return rc;
}

typedef int (*step_fn)(parley_noise_conn *c, const uint8_t *msg, size_t n);

static const step_fn step_handlers[STEP_COUNT] = {
    [STEP_S_MSG1] = on_s_msg1,
    [STEP_S_FINAL] = on_s_final,
    [STEP_C_XX2] = on_c_xx2,
    [STEP_C_IK2] = on_c_ik2,
};

/* Input: a window [in_pos, in.len) of the buffer. */

static size_t in_pending(const parley_noise_conn *c)
{
    return c->in.len - c->in_pos;
}

static void in_drop(parley_noise_conn *c, size_t n)
{
    /* The bytes may be decrypted plaintext: wipe them as they go. */
    pc_wipe(c->in.data + c->in_pos, n);
    c->in_pos += n;
    if (c->in_pos == c->in.len)
        c->in_pos = c->in.len = 0;
}

size_t parley_noise_conn_input_space(const parley_noise_conn *c)
{
    if (c->step == STEP_FAILED)
        return 0;
    return c->lim.max_input - (in_pending(c) - c->in_release);
}

static void release(parley_noise_conn *c)
{
    if (c->in_release > 0) {
        in_drop(c, c->in_release);
        c->in_release = 0;
    }
}

int parley_noise_conn_feed(parley_noise_conn *c, const uint8_t *data, size_t n)
{
    PARLEY_MISUSE(c != NULL && (data != NULL || n == 0));
    if (c->step == STEP_FAILED)
        return c->err;
    release(c);
    if (n > c->lim.max_input - in_pending(c))
        return PARLEY_ERR_BUFFER;
    if (c->in_pos > 0 && c->in.len + n > c->in.max) {
        memmove(c->in.data, c->in.data + c->in_pos, in_pending(c));
        c->in.len -= c->in_pos;
        c->in_pos = 0;
    }
    return pbuf_append(&c->in, data, n);
}

/* The next complete frame: 1 with msg/len set, 0 when incomplete. */
static int next_frame(parley_noise_conn *c, uint8_t **msg, size_t *len)
{
    preader r;
    uint32_t flen;
    preader_init(&r, c->in.data + c->in_pos, in_pending(c));
    if (preader_u24be(&r, &flen) < 0)
        return 0;
    if (flen > c->lim.max_frame)
        return PARLEY_ERR_FRAME_TOO_LARGE;
    if (preader_left(&r) < flen)
        return 0;
    *msg = c->in.data + c->in_pos + HDR;
    *len = flen;
    return 1;
}

int parley_noise_conn_next(parley_noise_conn *c, parley_noise_event *ev)
{
    int rc;
    uint8_t *msg = NULL;
    size_t len = 0;
    PARLEY_MISUSE(c != NULL && ev != NULL);
    ev->type = PARLEY_NOISE_EV_NONE;
    ev->data = NULL;
    ev->len = 0;
    if (c->step == STEP_FAILED)
        return c->err;
    release(c);
    for (;;) {
        switch (c->step) {
        case STEP_NEW:
            return PARLEY_OK;
        case STEP_S_PROLOGUE: {
            preader r;
            const uint8_t *marker;
            preader_init(&r, c->in.data + c->in_pos, in_pending(c));
            if (preader_view(&r, &marker, PARLEY_NOISE_PROLOGUE_LEN) < 0)
                return PARLEY_OK;
            ENSURE(memcmp(marker, PARLEY_NOISE_PROLOGUE, PARLEY_NOISE_PROLOGUE_LEN) == 0,
                   PARLEY_ERR_PROLOGUE);
            in_drop(c, PARLEY_NOISE_PROLOGUE_LEN);
            c->step = STEP_S_MSG1;
            continue;
        }
        case STEP_ESTABLISHED:
            if (!c->done_reported) {
                c->done_reported = 1;
                ev->type = PARLEY_NOISE_EV_HANDSHAKE_DONE;
                return PARLEY_OK;
            }
            GUARD(rc = next_frame(c, &msg, &len));
            if (rc == 0)
                return PARLEY_OK;
            /* Decrypt in place: the frame's plaintext stays in the input
             * buffer until the next call releases it. */
            GUARD(parley_noise_cipher_decrypt(c->rx, NULL, 0, msg, len, msg, len, &ev->len));
            if (++c->rx_count == c->lim.rekey_every) {
                GUARD(parley_noise_cipher_rekey(c->rx));
                c->rx_count = 0;
            }
            ev->type = PARLEY_NOISE_EV_FRAME;
            ev->data = msg;
            c->in_release = HDR + len;
            return PARLEY_OK;
        case STEP_FAILED:
            return c->err;
        default:
            GUARD(rc = next_frame(c, &msg, &len));
            if (rc == 0)
                return PARLEY_OK;
            rc = step_handlers[c->step](c, msg, len);
            pc_wipe(hs_scratch, c->scratch_len);
            GUARD(rc);
            in_drop(c, HDR + len);
            continue;
        }
    }
out:
    ev->type = PARLEY_NOISE_EV_NONE;
    ev->data = NULL;
    ev->len = 0;
    return fail(c, rc);
}

int parley_noise_conn_send(parley_noise_conn *c, const uint8_t *frame, size_t n)
{
    int rc;
    size_t len = 0;
    PARLEY_MISUSE(c != NULL && (frame != NULL || n == 0));
    if (c->step == STEP_FAILED)
        return c->err;
    if (c->step != STEP_ESTABLISHED)
        return PARLEY_ERR_STATE;
    if (n > c->lim.max_frame - PARLEY_NOISE_TAG_LEN)
        return PARLEY_ERR_FRAME_TOO_LARGE;
    rc = out_reserve(c, HDR + n + PARLEY_NOISE_TAG_LEN);
    if (rc < 0)
        return rc; /* full: not sticky */
    uint8_t *p = c->out.data + c->out.len;
    GUARD(parley_noise_cipher_encrypt(c->tx, NULL, 0, frame, n, p + HDR, n + PARLEY_NOISE_TAG_LEN,
                                      &len));
    put_u24(p, len);
    c->out.len += HDR + len;
    if (++c->tx_count == c->lim.rekey_every) {
        GUARD(parley_noise_cipher_rekey(c->tx));
        c->tx_count = 0;
    }
    return PARLEY_OK;
out:
    return fail(c, rc);
}

void parley_noise_conn_output(const parley_noise_conn *c, const uint8_t **p, size_t *n)
{
    PARLEY_MISUSE(c != NULL && p != NULL && n != NULL);
    *n = out_pending(c);
    *p = *n > 0 ? c->out.data + c->out_pos : NULL;
}

void parley_noise_conn_consume(parley_noise_conn *c, size_t n)
{
    PARLEY_MISUSE(c != NULL && n <= out_pending(c));
    c->out_pos += n;
    if (c->out_pos == c->out.len)
        c->out_pos = c->out.len = 0;
}

int parley_noise_conn_tick(parley_noise_conn *c, uint64_t now_ms)
{
    PARLEY_MISUSE(c != NULL);
    if (c->step == STEP_FAILED)
        return c->err;
    if (c->step != STEP_ESTABLISHED && now_ms >= c->deadline)
        return fail(c, PARLEY_ERR_TIMEOUT);
    return PARLEY_OK;
}

uint64_t parley_noise_conn_deadline(const parley_noise_conn *c)
{
    return c->step == STEP_ESTABLISHED || c->step == STEP_FAILED ? UINT64_MAX : c->deadline;
}

void parley_noise_conn_trim(parley_noise_conn *c)
{
    if (c == NULL || c->step != STEP_ESTABLISHED)
        return;
    /* A frame handed out by next() stays valid until the next call: keep
     * the input while one is outstanding. */
    if (in_pending(c) == 0 && c->in_release == 0 && c->in.data != NULL) {
        pbuf_free(&c->in);
        pbuf_init(&c->in, c->lim.max_input);
        c->in_pos = 0;
    }
    if (out_pending(c) == 0 && c->out.data != NULL) {
        pbuf_free(&c->out);
        pbuf_init(&c->out, c->lim.max_output);
        c->out_pos = 0;
    }
    noise_cipher_trim(c->tx);
    noise_cipher_trim(c->rx);
}

int parley_noise_conn_established(const parley_noise_conn *c)
{
    return c->step == STEP_ESTABLISHED;
}

int parley_noise_conn_error(const parley_noise_conn *c)
{
    return c->step == STEP_FAILED ? c->err : PARLEY_OK;
}

parley_noise_mode parley_noise_conn_mode(const parley_noise_conn *c)
{
    return c->mode;
}

int parley_noise_conn_remote_static(const parley_noise_conn *c, uint8_t out[KEY])
{
    PARLEY_MISUSE(c != NULL && out != NULL);
    if (!c->has_rs)
        return PARLEY_ERR_STATE;
    memcpy(out, c->rs, KEY);
    return PARLEY_OK;
}

int parley_noise_conn_handshake_hash(const parley_noise_conn *c, uint8_t out[PARLEY_NOISE_HASH_LEN])
{
    PARLEY_MISUSE(c != NULL && out != NULL);
    if (c->step != STEP_ESTABLISHED)
        return PARLEY_ERR_STATE;
    memcpy(out, c->hh, PARLEY_NOISE_HASH_LEN);
    return PARLEY_OK;
}

int parley_noise_conn_login(const parley_noise_conn *c, const uint8_t **p, size_t *n)
{
    PARLEY_MISUSE(c != NULL && p != NULL && n != NULL);
    if (c->is_client || c->step != STEP_ESTABLISHED)
        return PARLEY_ERR_STATE;
    *p = c->login_rx;
    *n = c->login_rx_len;
    return PARLEY_OK;
}

int parley_noise_conn_cert_info(const parley_noise_conn *c, parley_noise_cert_info *info)
{
    PARLEY_MISUSE(c != NULL && info != NULL);
    if (!c->is_client || c->step != STEP_ESTABLISHED)
        return PARLEY_ERR_STATE;
    *info = c->cert_info;
    return PARLEY_OK;
}

/*
 * libFuzzer harness: arbitrary bytes from a client into a responder
 * (server) connection, fed in pieces, with every frame echoed back so the
 * send path runs too. The server's static and ephemeral keys are fixed, so
 * the committed corpus (real client streams for XX, IK and XXfallback
 * recorded against these keys) reaches the transport phase.
 */
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"
#include "parley/noise_conn.h"

/* Fixed test keys: never use outside this harness. */
static const uint8_t server_priv[32] = {
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
    0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30};
static const uint8_t server_eph[32] = {
    0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40,
    0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x50};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The certificate's contents do not matter to the server side. */
    static uint8_t cert[PARLEY_CERT_LEN];
    parley_noise_server_config sc;
    parley_noise_conn *s = NULL;
    parley_noise_event ev;
    memset(&sc, 0, sizeof sc);
    sc.static_priv = server_priv;
    sc.ephemeral_priv = server_eph;
    sc.cert = cert;
    sc.cert_len = sizeof cert;
    sc.limits.max_frame = 4096;
    sc.limits.handshake_timeout_ms = 1000;
    if (parley_noise_conn_new_server(&s, &sc) < 0)
        return 0;
    if (parley_noise_conn_start(s, 0) < 0)
        goto out;
    size_t pos = 0, step = 1;
    while (pos < size) {
        /* Pieces of growing size: 1, 2, 3, ... bytes, bounded by the input space. */
        size_t n = size - pos < step ? size - pos : step;
        size_t space = parley_noise_conn_input_space(s);
        if (n > space)
            n = space;
        if (n == 0 || parley_noise_conn_feed(s, data + pos, n) < 0)
            break;
        pos += n;
        step = step % 97 + 1;
        for (;;) {
            if (parley_noise_conn_next(s, &ev) < 0 || ev.type == PARLEY_NOISE_EV_NONE)
                break;
            if (ev.type == PARLEY_NOISE_EV_FRAME) {
                uint8_t echo[64];
                size_t m = ev.len < sizeof echo ? ev.len : sizeof echo;
                memcpy(echo, ev.data, m);
                if (parley_noise_conn_send(s, echo, m) < 0)
                    break;
            }
            const uint8_t *p;
            size_t out_n;
            parley_noise_conn_output(s, &p, &out_n);
            parley_noise_conn_consume(s, out_n);
        }
        if (parley_noise_conn_error(s) < 0)
            break;
    }
    if (parley_noise_conn_tick(s, 2000) == PARLEY_OK && !parley_noise_conn_established(s))
        __builtin_trap(); /* an unfinished handshake must be past its deadline */
out:
    parley_noise_conn_free(s);
    return 0;
}

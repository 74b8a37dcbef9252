/*
 * parley-noise-vectors FILE
 *
 * Runs Noise test vectors in the cacophony JSON format ({"vectors": [...]},
 * each with protocol_name, init_ and resp_ prologue, psks, static,
 * ephemeral, remote_static, remote_ephemeral, handshake_hash and messages
 * of payload and ciphertext). Both parties are driven from the vector's
 * keys: every message is written by its sender, compared with the expected
 * ciphertext, and read back by the receiver. After the handshake, messages
 * keep alternating for interactive patterns (the party after the last
 * handshake message sends next) and all go from the initiator for one-way
 * patterns. Suites other than 25519_AESGCM_SHA256 are skipped.
 * The last line is "N passed, M failed"; the exit status is 0 when nothing
 * failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "parley/noise.h"
#include "util/json.h"

#define SUITE "_25519_AESGCM_SHA256"
#define MAX_FILE (16u * 1024u * 1024u)

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes a hex string; -1 on odd length, bad digit or overflow. */
static long unhex(const char *s, uint8_t *out, size_t max)
{
    size_t len = strlen(s);
    if (len % 2 != 0 || len / 2 > max)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(len / 2);
}

/* A 32-byte hex member if present: 1 when loaded, 0 when absent, -1 when malformed. */
static int key_member(const pjson *v, const char *name, uint8_t out[32])
{
    const char *s = pjson_get_string(v, name);
    if (s == NULL)
        return 0;
    return unhex(s, out, 32) == 32 ? 1 : -1;
}

static int setup_party(parley_noise_hs *hs, const pjson *v, const char *side, char *why,
                       size_t why_len)
{
    char name[64];
    uint8_t key[32], buf[1024];
    const char *s;
    int k;

    snprintf(name, sizeof name, "%s_prologue", side);
    s = pjson_get_string(v, name);
    if (s != NULL) {
        long n = unhex(s, buf, sizeof buf);
        if (n < 0 || parley_noise_hs_set_prologue(hs, buf, (size_t)n) < 0) {
            snprintf(why, why_len, "bad %s", name);
            return -1;
        }
    }
    const pjson *psks;
    snprintf(name, sizeof name, "%s_psks", side);
    if ((psks = pjson_get(v, name)) != NULL && psks->type == PJSON_ARRAY) {
        for (const pjson *p = psks->child; p != NULL; p = p->next) {
            if (p->type != PJSON_STRING || unhex(p->string, key, 32) != 32 ||
                parley_noise_hs_add_psk(hs, key) < 0) {
                snprintf(why, why_len, "bad %s", name);
                return -1;
            }
        }
    }
    static const struct {
        const char *suffix;
        int (*set)(parley_noise_hs *, const uint8_t *);
    } keys[] = {
        {"static", parley_noise_hs_set_static},
        {"ephemeral", parley_noise_hs_set_ephemeral},
        {"remote_static", parley_noise_hs_set_remote_static},
        {"remote_ephemeral", parley_noise_hs_set_remote_ephemeral},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        snprintf(name, sizeof name, "%s_%s", side, keys[i].suffix);
        if ((k = key_member(v, name, key)) < 0 || (k == 1 && keys[i].set(hs, key) < 0)) {
            snprintf(why, why_len, "bad %s", name);
            return -1;
        }
    }
    return 0;
}

static uint8_t msgbuf[PARLEY_NOISE_MAX_MSG], outbuf[PARLEY_NOISE_MAX_MSG],
    plainbuf[PARLEY_NOISE_MAX_MSG], expect_ct[PARLEY_NOISE_MAX_MSG];

/* Runs one vector; 0 when it passes, with the reason in why otherwise. */
static int run_vector(const pjson *v, const char *proto, char *why, size_t why_len)
{
    parley_noise_hs *hs[2] = {NULL, NULL}; /* [0] initiator, [1] responder */
    parley_noise_cipher *send[2] = {NULL, NULL}, *recv[2] = {NULL, NULL};
    int result = -1, rc;
    uint8_t hh[2][32], want_hh[32];

    if ((rc = parley_noise_hs_new(&hs[0], proto, 1)) < 0 ||
        (rc = parley_noise_hs_new(&hs[1], proto, 0)) < 0) {
        snprintf(why, why_len, "unsupported pattern (%s)", parley_strerror(rc));
        goto out;
    }
    if (setup_party(hs[0], v, "init", why, why_len) < 0 ||
        setup_party(hs[1], v, "resp", why, why_len) < 0)
        goto out;

    const pjson *msgs = pjson_get(v, "messages");
    if (msgs == NULL || msgs->type != PJSON_ARRAY) {
        snprintf(why, why_len, "no messages");
        goto out;
    }
    int one_way = parley_noise_hs_is_one_way(hs[0]);
    int i = 0, done = 0;
    for (const pjson *m = msgs->child; m != NULL; m = m->next, i++) {
        const char *ps = pjson_get_string(m, "payload"), *cs = pjson_get_string(m, "ciphertext");
        long plen, clen;
        size_t olen = 0, rlen = 0;
        if (ps == NULL || cs == NULL || (plen = unhex(ps, msgbuf, sizeof msgbuf)) < 0 ||
            (clen = unhex(cs, expect_ct, sizeof expect_ct)) < 0) {
            snprintf(why, why_len, "message %d malformed", i);
            goto out;
        }
        if (!done) {
            parley_noise_action a = parley_noise_hs_action(hs[0]);
            int sender = a == PARLEY_NOISE_ACTION_WRITE ? 0 : 1;
            if ((rc = parley_noise_hs_write(hs[sender], msgbuf, (size_t)plen, outbuf,
                                            sizeof outbuf, &olen)) < 0) {
                snprintf(why, why_len, "message %d: write failed (%s)", i, parley_strerror(rc));
                goto out;
            }
            if (olen != (size_t)clen || memcmp(outbuf, expect_ct, olen) != 0) {
                snprintf(why, why_len, "message %d: ciphertext differs", i);
                goto out;
            }
            if ((rc = parley_noise_hs_read(hs[1 - sender], outbuf, olen, plainbuf,
                                           sizeof plainbuf, &rlen)) < 0) {
                snprintf(why, why_len, "message %d: read failed (%s)", i, parley_strerror(rc));
                goto out;
            }
            if (rlen != (size_t)plen || memcmp(plainbuf, msgbuf, rlen) != 0) {
                snprintf(why, why_len, "message %d: payload differs", i);
                goto out;
            }
            if (parley_noise_hs_action(hs[0]) == PARLEY_NOISE_ACTION_SPLIT) {
                if (parley_noise_hs_action(hs[1]) != PARLEY_NOISE_ACTION_SPLIT ||
                    parley_noise_hs_split(hs[0], &send[0], &recv[0]) < 0 ||
                    parley_noise_hs_split(hs[1], &send[1], &recv[1]) < 0 ||
                    parley_noise_hs_handshake_hash(hs[0], hh[0]) < 0 ||
                    parley_noise_hs_handshake_hash(hs[1], hh[1]) < 0) {
                    snprintf(why, why_len, "split failed");
                    goto out;
                }
                done = 1;
                const char *hs_hex = pjson_get_string(v, "handshake_hash");
                if (hs_hex != NULL) {
                    if (unhex(hs_hex, want_hh, 32) != 32 || memcmp(hh[0], want_hh, 32) != 0 ||
                        memcmp(hh[1], want_hh, 32) != 0) {
                        snprintf(why, why_len, "handshake hash differs");
                        goto out;
                    }
                }
            }
        } else {
            /* Transport: the alternation of the handshake goes on, unless one-way. */
            int sender = one_way ? 0 : (i % 2);
            if ((rc = parley_noise_cipher_encrypt(send[sender], NULL, 0, msgbuf, (size_t)plen,
                                                  outbuf, sizeof outbuf, &olen)) < 0) {
                snprintf(why, why_len, "message %d: encrypt failed (%s)", i, parley_strerror(rc));
                goto out;
            }
            if (olen != (size_t)clen || memcmp(outbuf, expect_ct, olen) != 0) {
                snprintf(why, why_len, "message %d: transport ciphertext differs", i);
                goto out;
            }
            if ((rc = parley_noise_cipher_decrypt(recv[1 - sender], NULL, 0, outbuf, olen,
                                                  plainbuf, sizeof plainbuf, &rlen)) < 0 ||
                rlen != (size_t)plen || memcmp(plainbuf, msgbuf, rlen) != 0) {
                snprintf(why, why_len, "message %d: transport decrypt differs", i);
                goto out;
            }
        }
    }
    if (!done) {
        snprintf(why, why_len, "handshake did not complete");
        goto out;
    }
    result = 0;
out:
    for (int p = 0; p < 2; p++) {
        parley_noise_cipher_free(send[p]);
        parley_noise_cipher_free(recv[p]);
        parley_noise_hs_free(hs[p]);
    }
    return result;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, r;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE)
                goto fail;
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (nb == NULL)
                goto fail;
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t len = 0;
    char *text;
    pjson *doc = NULL;
    int passed = 0, failed = 0, skipped = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    if ((text = read_file(argv[1], &len)) == NULL) {
        fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (pjson_parse(&doc, text, len) < 0) {
        fprintf(stderr, "%s: %s is not valid JSON\n", argv[0], argv[1]);
        free(text);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    free(text);
    const pjson *vectors = doc->type == PJSON_ARRAY ? doc : pjson_get(doc, "vectors");
    if (vectors == NULL || vectors->type != PJSON_ARRAY) {
        fprintf(stderr, "%s: no \"vectors\" array\n", argv[0]);
        pjson_free(doc);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    for (const pjson *v = vectors->child; v != NULL; v = v->next) {
        const char *proto = pjson_get_string(v, "protocol_name");
        char why[160] = "";
        if (proto == NULL) {
            failed++;
            fprintf(stderr, "FAIL (vector without protocol_name)\n");
            continue;
        }
        size_t pl = strlen(proto), sl = strlen(SUITE);
        if (pl < sl || strcmp(proto + pl - sl, SUITE) != 0) {
            skipped++;
            continue;
        }
        if (run_vector(v, proto, why, sizeof why) == 0) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL %s: %s\n", proto, why);
        }
    }
    pjson_free(doc);
    if (skipped > 0)
        printf("%d skipped (other suites)\n", skipped);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

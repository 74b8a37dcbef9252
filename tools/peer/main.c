/*
 * parley-peer: reads one JSON request per line on stdin, answers one JSON
 * object per line on stdout (docs/peer-protocol.md). Malformed input is
 * answered with {"ok":false,"error":"bad_request"} and the loop goes on.
 *
 * Usage: parley-peer [--store DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/crypto.h"
#include "peer.h"

/* One request line may carry a large base64 ciphertext. */
#define PEER_LINE_MAX     PJSON_MAX_INPUT
#define PEER_RESPONSE_MAX (24u * 1024u * 1024u)

static const struct {
    const char *op;
    peer_op_fn fn;
    int needs_init;
} ops[] = {
    {"init", peer_op_init, 0},
    {"bundle", peer_op_bundle, 1},
    {"start", peer_op_start, 1},
    {"encrypt", peer_op_encrypt, 1},
    {"decrypt", peer_op_decrypt, 1},
    {"trust", peer_op_trust, 1},
    {"sign", peer_op_sign, 1},
    {"verify", peer_op_verify, 0},
    {"fingerprint", peer_op_fingerprint, 1},
    {"group_create", peer_op_group_create, 1},
    {"group_process", peer_op_group_process, 1},
    {"group_encrypt", peer_op_group_encrypt, 1},
    {"group_decrypt", peer_op_group_decrypt, 1},
};

static void write_error(pbuf *out, const char *code)
{
    pjson_w w;
    pbuf_reset(out);
    pjson_w_init(&w, out);
    pjson_w_begin(&w);
    pjson_w_bool(&w, "ok", 0);
    pjson_w_string(&w, "error", code);
    pjson_w_end(&w);
}

/* Handle one request line; the response (without newline) goes to out. */
static void handle_line(struct peer *p, const char *line, size_t len, pbuf *out)
{
    pjson *req = NULL;
    pjson_w w;
    int rc = PEER_BAD_REQUEST;
    peer_op_fn fn = NULL;

    pbuf_reset(out);
    if (pjson_parse(&req, line, len) != PARLEY_OK || req->type != PJSON_OBJECT)
        goto out;
    const char *op = pjson_get_string(req, "op");
    if (op == NULL)
        goto out;
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(ops); i++) {
        if (strcmp(ops[i].op, op) == 0) {
            if (ops[i].needs_init && !p->initialized)
                goto out;
            fn = ops[i].fn;
            break;
        }
    }
    if (fn == NULL)
        goto out;
    pjson_w_init(&w, out);
    pjson_w_begin(&w);
    pjson_w_bool(&w, "ok", 1);
    rc = fn(p, req, &w);
    if (rc == PARLEY_OK) {
        pjson_w_end(&w);
        rc = pjson_w_status(&w);
    }
out:
    pjson_free(req);
    if (rc == PEER_BAD_REQUEST)
        write_error(out, "bad_request");
    else if (rc != PARLEY_OK)
        write_error(out, parley_strerror(rc));
}

int main(int argc, char **argv)
{
    struct peer p;
    memset(&p, 0, sizeof p);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            p.store_dir = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--store DIR]\n", argv[0]);
            return 2;
        }
    }
    if (pc_init() != PARLEY_OK) {
        fprintf(stderr, "parley-peer: crypto initialisation failed\n");
        return 1;
    }
    if (p.store_dir != NULL) {
        int rc = peer_session_load(&p);
        if (rc == PARLEY_OK) {
            rc = peer_extras_open(&p);
        } else if (rc == PARLEY_ERR_NOT_FOUND) {
            rc = PARLEY_OK;
        }
        if (rc != PARLEY_OK) {
            fprintf(stderr, "parley-peer: cannot load %s: %s\n", p.store_dir, parley_strerror(rc));
            return 1;
        }
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    pbuf out;
    pbuf_init(&out, PEER_RESPONSE_MAX);
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len > PEER_LINE_MAX)
            write_error(&out, "bad_request");
        else
            handle_line(&p, line, len, &out);
        if (out.len == 0)
            write_error(&out, "bad_request");
        fwrite(out.data, 1, out.len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    free(line);
    pbuf_free(&out);
    peer_extras_close(&p);
    peer_session_close(&p);
    pc_wipe(p.identity_priv, sizeof p.identity_priv);
    return 0;
}

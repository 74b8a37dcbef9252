/*
 * parley-peer: a line-oriented JSON driver over libparley's Signal core, so
 * that tests in any language (and independent implementations speaking the
 * same protocol) can exercise it. docs/peer-protocol.md is the contract.
 *
 * main.c reads one request per line, dispatches on "op" to a handler below,
 * and writes one response per line. A handler returns PARLEY_OK after
 * writing its result members into resp (main adds "ok":true first), or a
 * negative code: PEER_BAD_REQUEST for a malformed request, or a parley
 * result code, which main reports by its parley_strerror() name.
 */
#ifndef PARLEY_PEER_H
#define PARLEY_PEER_H

#include <stdint.h>
#include "util/json.h"

#define PEER_BAD_REQUEST (-9999)
#define PEER_NAME_MAX 256

struct peer_session_state; /* tools/peer/session.c */
struct peer_extras_state;  /* tools/peer/extras.c */

struct peer {
    char name[PEER_NAME_MAX];
    uint32_t device;
    uint32_t registration_id;
    int initialized;
    const char *store_dir; /* NULL: state kept in memory only */
    /* The local identity key pair, set by init (or loaded from the store). */
    uint8_t identity_pub[32];
    uint8_t identity_priv[32];
    struct peer_session_state *session;
    struct peer_extras_state *extras;
};

typedef int (*peer_op_fn)(struct peer *p, const pjson *req, pjson_w *resp);

/* Session ops (tools/peer/session.c): init, bundle, start, encrypt,
 * decrypt, trust. peer_session_load restores state from p->store_dir at
 * start-up when the store holds an identity (returns PARLEY_NOT_FOUND
 * when it does not). */
int peer_op_init(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_bundle(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_start(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_encrypt(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_decrypt(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_trust(struct peer *p, const pjson *req, pjson_w *resp);
int peer_session_load(struct peer *p);
void peer_session_close(struct peer *p);

/* Extra ops (tools/peer/extras.c): sign, verify, fingerprint and the group
 * (sender key) ops. peer_extras_open is called once the identity is known
 * (after init or load) and may load sender-key state from p->store_dir. */
int peer_op_sign(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_verify(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_fingerprint(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_group_create(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_group_process(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_group_encrypt(struct peer *p, const pjson *req, pjson_w *resp);
int peer_op_group_decrypt(struct peer *p, const pjson *req, pjson_w *resp);
int peer_extras_open(struct peer *p);
void peer_extras_close(struct peer *p);

#endif

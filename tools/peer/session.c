/*
 * parley-peer's session operations: init, bundle, start, encrypt, decrypt,
 * trust (docs/peer-protocol.md), over parley_signal and its memory or
 * directory store.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crypto/crypto.h"
#include "parley/signal.h"
#include "peer.h"

#define PEER_APP_KEY    "peer"
#define PEER_DEVICE_MAX 0x7fffffff

struct peer_session_state {
    parley_signal_store *store;
    parley_signal *sig;
};

/* The peer's own name and device, kept beside the identity. */
static int save_self(struct peer *p)
{
    size_t n = strlen(p->name);
    uint8_t b[4 + PEER_NAME_MAX];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(p->device >> (24 - 8 * i));
    memcpy(b + 4, p->name, n);
    return parley_signal_store_put(p->session->store, PARLEY_STORE_APP, PEER_APP_KEY, b, 4 + n);
}

static void adopt_identity(struct peer *p)
{
    uint8_t key[PARLEY_PUBKEY_LEN];
    parley_signal_identity_key(p->session->sig, key);
    memcpy(p->identity_pub, key + 1, 32);
    parley_signal_identity_private(p->session->sig, p->identity_priv);
    p->registration_id = parley_signal_registration_id(p->session->sig);
    p->initialized = 1;
}

static int open_store(struct peer *p)
{
    if (p->session != NULL)
        return PARLEY_OK;
    struct peer_session_state *ss = calloc(1, sizeof *ss);
    if (ss == NULL)
        return PARLEY_ERR_NOMEM;
    int rc = p->store_dir != NULL ? parley_signal_store_open_dir(&ss->store, p->store_dir)
                                  : parley_signal_store_new_memory(&ss->store);
    if (rc != PARLEY_OK) {
        free(ss);
        return rc;
    }
    p->session = ss;
    return PARLEY_OK;
}

int peer_session_load(struct peer *p)
{
    int rc;
    uint8_t *blob = NULL;
    size_t len = 0;
    GUARD(open_store(p));
    rc = parley_signal_store_get(p->session->store, PARLEY_STORE_APP, PEER_APP_KEY, &blob, &len);
    GUARD(rc);
    ENSURE(len > 4 && len - 4 < PEER_NAME_MAX, PARLEY_ERR_STORE);
    p->device =
        (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
    memcpy(p->name, blob + 4, len - 4);
    p->name[len - 4] = 0;
    GUARD(parley_signal_open(&p->session->sig, p->session->store));
    adopt_identity(p);
    rc = PARLEY_OK;
out:
    parley_signal_store_blob_free(blob, len);
    return rc;
}

void peer_session_close(struct peer *p)
{
    if (p->session == NULL)
        return;
    parley_signal_free(p->session->sig);
    parley_signal_store_free(p->session->store);
    free(p->session);
    p->session = NULL;
}

static void write_identity(struct peer *p, pjson_w *resp)
{
    uint8_t key[PARLEY_PUBKEY_LEN];
    parley_signal_identity_key(p->session->sig, key);
    pjson_w_base64(resp, "identity_key", key, sizeof key);
    pjson_w_int(resp, "registration_id", p->registration_id);
}

static int get_name(const pjson *req, const char *key, const char **out)
{
    const char *s = pjson_get_string(req, key);
    if (s == NULL || s[0] == 0 || strlen(s) >= PEER_NAME_MAX)
        return PEER_BAD_REQUEST;
    *out = s;
    return PARLEY_OK;
}

static int get_device(const pjson *req, const char *key, uint32_t *out)
{
    int64_t d;
    if (pjson_get_int(req, key, 0, PEER_DEVICE_MAX, &d) != PARLEY_OK)
        return PEER_BAD_REQUEST;
    *out = (uint32_t)d;
    return PARLEY_OK;
}

int peer_op_init(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    const char *name;
    uint32_t device;
    GUARD(get_name(req, "name", &name));
    GUARD(get_device(req, "device", &device));
    if (p->initialized) {
        /* Restarted from a store: the same identity again. */
        ENSURE(strcmp(p->name, name) == 0 && p->device == device, PEER_BAD_REQUEST);
        write_identity(p, resp);
        return PARLEY_OK;
    }
    GUARD(open_store(p));
    GUARD(parley_signal_create(&p->session->sig, p->session->store));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    GUARD(parley_signal_new_signed_prekey(
        p->session->sig, 1, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u));
    strcpy(p->name, name);
    p->device = device;
    GUARD(save_self(p));
    adopt_identity(p);
    GUARD(peer_extras_open(p));
    write_identity(p, resp);
    rc = PARLEY_OK;
out:
    return rc;
}

int peer_op_bundle(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc, one_time = 1;
    parley_prekey_bundle b;
    if (pjson_get(req, "one_time") != NULL)
        ENSURE(pjson_get_bool(req, "one_time", &one_time) == PARLEY_OK, PEER_BAD_REQUEST);
    GUARD(parley_signal_bundle(p->session->sig, p->device, one_time, &b));
    pjson_w_begin_obj(resp, "bundle");
    pjson_w_int(resp, "registration_id", b.registration_id);
    pjson_w_int(resp, "device_id", b.device_id);
    pjson_w_base64(resp, "identity_key", b.identity_key, sizeof b.identity_key);
    pjson_w_int(resp, "signed_prekey_id", b.signed_prekey_id);
    pjson_w_base64(resp, "signed_prekey", b.signed_prekey, sizeof b.signed_prekey);
    pjson_w_base64(resp, "signed_prekey_signature", b.signed_prekey_signature,
                   sizeof b.signed_prekey_signature);
    if (b.has_prekey) {
        pjson_w_int(resp, "prekey_id", b.prekey_id);
        pjson_w_base64(resp, "prekey", b.prekey, sizeof b.prekey);
    }
    pjson_w_end(resp);
    rc = PARLEY_OK;
out:
    return rc;
}

/* A serialized public key member: bad base64 is a bad request, a decoded
 * value of the wrong length or type is an invalid key. */
static int get_key(const pjson *obj, const char *key, uint8_t out[PARLEY_PUBKEY_LEN])
{
    uint8_t buf[128];
    size_t n;
    if (pjson_get_base64(obj, key, buf, sizeof buf, &n) != PARLEY_OK)
        return pjson_get(obj, key) != NULL && pjson_get_string(obj, key) != NULL
                   ? PARLEY_ERR_INVALID_KEY
                   : PEER_BAD_REQUEST;
    uint8_t tmp[32];
    int rc = parley_key_decode(tmp, buf, n);
    if (rc != PARLEY_OK)
        return rc;
    memcpy(out, buf, PARLEY_PUBKEY_LEN);
    return PARLEY_OK;
}

static int get_id(const pjson *obj, const char *key, uint32_t *out)
{
    int64_t v;
    if (pjson_get_int(obj, key, 0, 0xffffffffLL, &v) != PARLEY_OK)
        return PEER_BAD_REQUEST;
    *out = (uint32_t)v;
    return PARLEY_OK;
}

int peer_op_start(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    const char *name;
    uint32_t device;
    parley_prekey_bundle b;
    uint8_t sig[128];
    size_t sig_len;
    (void)resp;
    memset(&b, 0, sizeof b);
    GUARD(get_name(req, "peer", &name));
    GUARD(get_device(req, "device", &device));
    const pjson *jb = pjson_get(req, "bundle");
    ENSURE(jb != NULL && jb->type == PJSON_OBJECT, PEER_BAD_REQUEST);
    GUARD(get_id(jb, "registration_id", &b.registration_id));
    if (pjson_get(jb, "device_id") != NULL)
        GUARD(get_id(jb, "device_id", &b.device_id));
    GUARD(get_key(jb, "identity_key", b.identity_key));
    GUARD(get_id(jb, "signed_prekey_id", &b.signed_prekey_id));
    GUARD(get_key(jb, "signed_prekey", b.signed_prekey));
    ENSURE(pjson_get_base64(jb, "signed_prekey_signature", sig, sizeof sig, &sig_len) == PARLEY_OK,
           PEER_BAD_REQUEST);
    if (sig_len != PARLEY_SIGNATURE_LEN)
        memset(sig, 0, PARLEY_SIGNATURE_LEN); /* all zeros never verifies */
    memcpy(b.signed_prekey_signature, sig, PARLEY_SIGNATURE_LEN);
    int has_id =
        pjson_get(jb, "prekey_id") != NULL && pjson_get(jb, "prekey_id")->type != PJSON_NULL;
    int has_key = pjson_get(jb, "prekey") != NULL && pjson_get(jb, "prekey")->type != PJSON_NULL;
    ENSURE(has_id == has_key, PEER_BAD_REQUEST);
    if (has_id) {
        GUARD(get_id(jb, "prekey_id", &b.prekey_id));
        GUARD(get_key(jb, "prekey", b.prekey));
        b.has_prekey = 1;
    }
    GUARD(parley_signal_start(p->session->sig, name, device, &b));
    rc = PARLEY_OK;
out:
    return rc;
}

int peer_op_encrypt(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc, type;
    const char *name;
    uint32_t device;
    uint8_t *pt = NULL, *ct = NULL;
    size_t pt_len = 0, ct_len = 0;
    GUARD(get_name(req, "peer", &name));
    GUARD(get_device(req, "device", &device));
    pt = malloc(PARLEY_SIGNAL_MAX_PLAINTEXT);
    ct = malloc(PARLEY_SIGNAL_MAX_MESSAGE);
    ENSURE(pt != NULL && ct != NULL, PARLEY_ERR_NOMEM);
    ENSURE(pjson_get_base64(req, "plaintext", pt, PARLEY_SIGNAL_MAX_PLAINTEXT, &pt_len) ==
               PARLEY_OK,
           PEER_BAD_REQUEST);
    GUARD(parley_signal_encrypt(p->session->sig, name, device, pt, pt_len, ct,
                                PARLEY_SIGNAL_MAX_MESSAGE, &ct_len, &type));
    pjson_w_string(resp, "type", type == PARLEY_MSG_PREKEY ? "pkmsg" : "msg");
    pjson_w_base64(resp, "ciphertext", ct, ct_len);
    rc = PARLEY_OK;
out:
    if (pt != NULL)
        pc_wipe(pt, pt_len);
    free(pt);
    free(ct);
    return rc;
}

int peer_op_decrypt(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc, type;
    const char *name, *ts;
    uint32_t device;
    uint8_t *pt = NULL, *ct = NULL;
    size_t pt_len = 0, ct_len = 0;
    GUARD(get_name(req, "peer", &name));
    GUARD(get_device(req, "device", &device));
    ts = pjson_get_string(req, "type");
    ENSURE(ts != NULL, PEER_BAD_REQUEST);
    if (strcmp(ts, "pkmsg") == 0)
        type = PARLEY_MSG_PREKEY;
    else if (strcmp(ts, "msg") == 0)
        type = PARLEY_MSG_SIGNAL;
    else {
        rc = PEER_BAD_REQUEST;
        goto out;
    }
    ct = malloc(PARLEY_SIGNAL_MAX_MESSAGE);
    pt = malloc(PARLEY_SIGNAL_MAX_MESSAGE);
    ENSURE(pt != NULL && ct != NULL, PARLEY_ERR_NOMEM);
    ENSURE(pjson_get_base64(req, "ciphertext", ct, PARLEY_SIGNAL_MAX_MESSAGE, &ct_len) == PARLEY_OK,
           PEER_BAD_REQUEST);
    GUARD(parley_signal_decrypt(p->session->sig, name, device, type, ct, ct_len, pt,
                                PARLEY_SIGNAL_MAX_MESSAGE, &pt_len));
    pjson_w_base64(resp, "plaintext", pt, pt_len);
    rc = PARLEY_OK;
out:
    if (pt != NULL)
        pc_wipe(pt, pt_len);
    free(pt);
    free(ct);
    return rc;
}

int peer_op_trust(struct peer *p, const pjson *req, pjson_w *resp)
{
    int rc;
    const char *name;
    uint8_t key[PARLEY_PUBKEY_LEN];
    (void)resp;
    GUARD(get_name(req, "peer", &name));
    GUARD(get_key(req, "identity_key", key));
    GUARD(parley_signal_trust(p->session->sig, name, key));
    rc = PARLEY_OK;
out:
    return rc;
}

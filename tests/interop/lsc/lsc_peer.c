/*
 * lsc-peer: reads one JSON request per line on stdin and answers one JSON
 * object per line on stdout, exactly as parley-peer does (issue 2,
 * "parley-peer"; docs/interop.md), but over libsignal-protocol-c 2.3.3.
 *
 *   lsc-peer [--store DIR]
 *
 * Supported: init, bundle, start, encrypt, decrypt, trust, sign, verify.
 * fingerprint answers bad_request: the library's scannable fingerprint
 * knows only versions 0 and 1, not libsignal's version 2. Group ops answer
 * bad_request (2.3.3's group cipher predates the current sender-key format).
 */
#include "lsc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <signal/curve.h>
#include <signal/key_helper.h>
#include <signal/protocol.h>
#include <signal/session_builder.h>
#include <signal/session_cipher.h>
#include <signal/session_pre_key.h>

#include "util/buf.h"
#include "util/json.h"

#define BAD "bad_request"
#define BLOB_MAX (1u << 20)
#define KEY_MAX 64

/* ---- library glue ---- */

/* libsignal-protocol-c reports several distinct decrypt failures as one
 * SG_ERR_INVALID_MESSAGE and says which in its log; remember the first. */
static void lsc_log(int level, const char *msg, size_t len, void *ud)
{
    struct lsc_peer *p = ud;
    (void)len;
    if (getenv("LSC_PEER_DEBUG") != NULL)
        fprintf(stderr, "lsc[%d]: %s\n", level, msg);
    if (p->reason != LSC_REASON_NONE)
        return;
    if (strstr(msg, "mac not verified") != NULL)
        p->reason = LSC_REASON_MAC;
    else if (strstr(msg, "into the future") != NULL)
        p->reason = LSC_REASON_FUTURE;
}

static const char *map_error(const struct lsc_peer *p, int rc)
{
    switch (rc) {
    case SG_ERR_DUPLICATE_MESSAGE: return "duplicate";
    case SG_ERR_INVALID_MAC: return "invalid_mac";
    case SG_ERR_UNTRUSTED_IDENTITY: return "untrusted_identity";
    case SG_ERR_NO_SESSION: return "no_session";
    case SG_ERR_INVALID_KEY_ID: return "invalid_key_id";
    case SG_ERR_LEGACY_MESSAGE: return "legacy_version";
    case SG_ERR_INVALID_MESSAGE:
        if (p->reason == LSC_REASON_FUTURE)
            return "too_far_ahead";
        if (p->reason == LSC_REASON_MAC)
            return "invalid_mac";
        return "invalid_message";
    case SG_ERR_INVALID_KEY:
    case SG_ERR_INVALID_VERSION:
    case SG_ERR_INVALID_PROTO_BUF:
        return "invalid_message";
    default: return "internal_error";
    }
}

/* ---- persistence of the local identity ---- */

static int save_u32(struct lsc_peer *p, const char *key, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return lsc_db_put(&p->db, key, b, 4);
}

static int load_u32(struct lsc_peer *p, const char *key, uint32_t *v)
{
    const struct lsc_kv *e = lsc_db_get(&p->db, key);
    if (e == NULL || e->len != 4)
        return -1;
    *v = (uint32_t)e->val[0] << 24 | (uint32_t)e->val[1] << 16 | (uint32_t)e->val[2] << 8 | e->val[3];
    return 0;
}

static int load_local(struct lsc_peer *p)
{
    const struct lsc_kv *pair = lsc_db_get(&p->db, "local.identity");
    const struct lsc_kv *name = lsc_db_get(&p->db, "local.name");
    uint32_t dev;
    if (pair == NULL || name == NULL || name->len > LSC_NAME_MAX ||
        load_u32(p, "local.device", &dev) != 0 ||
        load_u32(p, "local.registration_id", &p->registration_id) != 0 ||
        load_u32(p, "local.next_prekey_id", &p->next_prekey_id) != 0)
        return -1;
    if (ratchet_identity_key_pair_deserialize(&p->identity, pair->val, pair->len, p->ctx) < 0)
        return -1;
    memcpy(p->name, name->val, name->len);
    p->name[name->len] = '\0';
    p->device = (int32_t)dev;
    p->initialized = 1;
    return 0;
}

/* ---- request helpers ---- */

/* A base64 member decoded into a fresh allocation (caller frees). */
static int get_blob(const pjson *obj, const char *key, uint8_t **out, size_t *len)
{
    const pjson *m = pjson_get(obj, key);
    if (m == NULL || m->type != PJSON_STRING)
        return -1;
    size_t cap = m->str_len / 4 * 3 + 3;
    if (cap > BLOB_MAX)
        return -1;
    uint8_t *b = malloc(cap + 1);
    if (b == NULL)
        return -1;
    if (pjson_get_base64(obj, key, b, cap, len) < 0) {
        free(b);
        return -1;
    }
    *out = b;
    return 0;
}

/* A public key in the library's serialized form (0x05 || 32); a bare 32-byte
 * key is accepted too. */
static int get_pubkey(struct lsc_peer *p, const pjson *obj, const char *key, ec_public_key **out)
{
    uint8_t b[KEY_MAX + 1];
    size_t n = 0;
    if (pjson_get_base64(obj, key, b + 1, KEY_MAX, &n) < 0)
        return -1;
    const uint8_t *k = b + 1;
    if (n == 32) {
        b[0] = 0x05;
        k = b;
        n = 33;
    }
    return curve_decode_point(out, k, n, p->ctx) < 0 ? -1 : 0;
}

static int get_name(const pjson *req, const char *key, const char **name, size_t *len)
{
    const pjson *m = pjson_get(req, key);
    if (m == NULL || m->type != PJSON_STRING || m->str_len == 0 || m->str_len > LSC_NAME_MAX ||
        strlen(m->string) != m->str_len)
        return -1;
    *name = m->string;
    *len = m->str_len;
    return 0;
}

static int get_u32(const pjson *req, const char *key, uint32_t *out)
{
    int64_t v;
    if (pjson_get_int(req, key, 0, UINT32_MAX, &v) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int get_address(const pjson *req, signal_protocol_address *a)
{
    int64_t dev;
    if (get_name(req, "peer", &a->name, &a->name_len) < 0 ||
        pjson_get_int(req, "device", 0, INT32_MAX, &dev) < 0)
        return -1;
    a->device_id = (int32_t)dev;
    return 0;
}

static void w_pubkey(pjson_w *w, const char *key, const ec_public_key *k)
{
    signal_buffer *b = NULL;
    if (ec_public_key_serialize(&b, k) < 0) {
        w->err = -1;
        return;
    }
    pjson_w_base64(w, key, signal_buffer_data(b), signal_buffer_len(b));
    signal_buffer_free(b);
}

/* ---- operations ---- */

static const char *op_init(struct lsc_peer *p, const pjson *req, pjson_w *w)
{
    const char *name;
    size_t name_len;
    int64_t dev;
    const char *err = "internal_error";
    signal_buffer *pair = NULL;
    session_signed_pre_key *spk = NULL;
    signal_buffer *spk_ser = NULL;
    if (get_name(req, "name", &name, &name_len) < 0 ||
        pjson_get_int(req, "device", 0, INT32_MAX, &dev) < 0)
        return BAD;

    /* A fresh identity: forget everything the old one knew. */
    lsc_db_clear(&p->db);
    SIGNAL_UNREF(p->identity);
    p->initialized = 0;
    memcpy(p->name, name, name_len);
    p->name[name_len] = '\0';
    p->device = (int32_t)dev;
    p->next_prekey_id = 1;
    if (signal_protocol_key_helper_generate_identity_key_pair(&p->identity, p->ctx) < 0 ||
        signal_protocol_key_helper_generate_registration_id(&p->registration_id, 0, p->ctx) < 0 ||
        signal_protocol_key_helper_generate_signed_pre_key(&spk, p->identity, 1,
                                                           (uint64_t)time(NULL) * 1000, p->ctx) < 0 ||
        session_signed_pre_key_serialize(&spk_ser, spk) < 0 ||
        ratchet_identity_key_pair_serialize(&pair, p->identity) < 0)
        goto out;
    if (lsc_db_put(&p->db, "signedprekey.1", signal_buffer_data(spk_ser), signal_buffer_len(spk_ser)) < 0 ||
        lsc_db_put(&p->db, "local.name", (const uint8_t *)name, name_len) < 0 ||
        save_u32(p, "local.device", (uint32_t)dev) < 0 ||
        save_u32(p, "local.registration_id", p->registration_id) < 0 ||
        save_u32(p, "local.next_prekey_id", p->next_prekey_id) < 0 ||
        /* written last: its presence marks a complete identity on load */
        lsc_db_put(&p->db, "local.identity", signal_buffer_data(pair), signal_buffer_len(pair)) < 0)
        goto out;
    p->initialized = 1;
    w_pubkey(w, "identity_key", ratchet_identity_key_pair_get_public(p->identity));
    pjson_w_int(w, "registration_id", p->registration_id);
    err = NULL;
out:
    signal_buffer_bzero_free(pair);
    signal_buffer_bzero_free(spk_ser);
    SIGNAL_UNREF(spk);
    return err;
}

static const char *op_bundle(struct lsc_peer *p, const pjson *req, pjson_w *w)
{
    int one_time = 1;
    const char *err = "internal_error";
    signal_buffer *pk_ser = NULL;
    session_signed_pre_key *spk = NULL;
    ec_key_pair *kp = NULL;
    session_pre_key *pk = NULL;
    if (pjson_get(req, "one_time") != NULL && pjson_get_bool(req, "one_time", &one_time) < 0)
        return BAD;
    if (signal_protocol_signed_pre_key_load_key(p->store, &spk, 1) < 0)
        goto out;
    uint32_t pk_id = p->next_prekey_id;
    if (one_time) {
        char k[LSC_KEY_MAX];
        if (curve_generate_key_pair(p->ctx, &kp) < 0 || session_pre_key_create(&pk, pk_id, kp) < 0 ||
            session_pre_key_serialize(&pk_ser, pk) < 0)
            goto out;
        lsc_key_prekey(k, sizeof k, "prekey", pk_id);
        p->next_prekey_id = pk_id + 1;
        if (save_u32(p, "local.next_prekey_id", p->next_prekey_id) < 0 ||
            lsc_db_put(&p->db, k, signal_buffer_data(pk_ser), signal_buffer_len(pk_ser)) < 0)
            goto out;
    }
    pjson_w_begin_obj(w, "bundle");
    pjson_w_int(w, "registration_id", p->registration_id);
    pjson_w_int(w, "device_id", p->device);
    w_pubkey(w, "identity_key", ratchet_identity_key_pair_get_public(p->identity));
    pjson_w_int(w, "signed_prekey_id", session_signed_pre_key_get_id(spk));
    w_pubkey(w, "signed_prekey", ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)));
    pjson_w_base64(w, "signed_prekey_signature", session_signed_pre_key_get_signature(spk),
                   session_signed_pre_key_get_signature_len(spk));
    if (one_time) {
        pjson_w_int(w, "prekey_id", pk_id);
        w_pubkey(w, "prekey", ec_key_pair_get_public(kp));
    }
    pjson_w_end(w);
    err = NULL;
out:
    signal_buffer_bzero_free(pk_ser);
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(pk);
    SIGNAL_UNREF(kp);
    return err;
}

static const char *op_start(struct lsc_peer *p, const pjson *req, pjson_w *w)
{
    signal_protocol_address a;
    const pjson *b = pjson_get(req, "bundle");
    uint32_t regid, spk_id, pk_id = 0;
    int64_t dev;
    ec_public_key *idk = NULL, *spk = NULL, *pk = NULL;
    uint8_t sig[KEY_MAX];
    size_t sig_len = 0;
    session_pre_key_bundle *bundle = NULL;
    session_builder *builder = NULL;
    const char *err = BAD;
    (void)w;
    if (get_address(req, &a) < 0 || b == NULL || b->type != PJSON_OBJECT ||
        get_u32(b, "registration_id", &regid) < 0 ||
        pjson_get_int(b, "device_id", 0, INT32_MAX, &dev) < 0 ||
        get_pubkey(p, b, "identity_key", &idk) < 0 || get_u32(b, "signed_prekey_id", &spk_id) < 0 ||
        get_pubkey(p, b, "signed_prekey", &spk) < 0 ||
        pjson_get_base64(b, "signed_prekey_signature", sig, sizeof sig, &sig_len) < 0)
        goto out;
    if (pjson_get(b, "prekey") != NULL || pjson_get(b, "prekey_id") != NULL) {
        if (get_u32(b, "prekey_id", &pk_id) < 0 || get_pubkey(p, b, "prekey", &pk) < 0)
            goto out;
    }
    /* Check the signature here, so that a bad one is told apart from the
     * library's other SG_ERR_INVALID_KEY cases. */
    {
        signal_buffer *ser = NULL;
        if (ec_public_key_serialize(&ser, spk) < 0) {
            err = "internal_error";
            goto out;
        }
        int ok = curve_verify_signature(idk, signal_buffer_data(ser), signal_buffer_len(ser), sig, sig_len);
        signal_buffer_free(ser);
        if (ok != 1) {
            err = "invalid_signature";
            goto out;
        }
    }
    err = "internal_error";
    if (session_pre_key_bundle_create(&bundle, regid, (int)dev, pk_id, pk, spk_id, spk, sig, sig_len, idk) < 0 ||
        session_builder_create(&builder, p->store, &a, p->ctx) < 0)
        goto out;
    int rc = session_builder_process_pre_key_bundle(builder, bundle);
    if (rc < 0) {
        err = rc == SG_ERR_INVALID_KEY ? "invalid_signature" : map_error(p, rc);
        goto out;
    }
    err = NULL;
out:
    session_builder_free(builder);
    SIGNAL_UNREF(bundle);
    SIGNAL_UNREF(idk);
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(pk);
    return err;
}

static const char *op_encrypt(struct lsc_peer *p, const pjson *req, pjson_w *w)
{
    signal_protocol_address a;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    session_cipher *c = NULL;
    ciphertext_message *m = NULL;
    const char *err = BAD;
    if (get_address(req, &a) < 0 || get_blob(req, "plaintext", &pt, &pt_len) < 0)
        goto out;
    if (signal_protocol_session_contains_session(p->store, &a) != 1) {
        err = "no_session";
        goto out;
    }
    err = "internal_error";
    if (session_cipher_create(&c, p->store, &a, p->ctx) < 0)
        goto out;
    int rc = session_cipher_encrypt(c, pt, pt_len, &m);
    if (rc < 0) {
        err = map_error(p, rc);
        goto out;
    }
    signal_buffer *ser = ciphertext_message_get_serialized(m);
    pjson_w_string(w, "type", ciphertext_message_get_type(m) == CIPHERTEXT_PREKEY_TYPE ? "pkmsg" : "msg");
    pjson_w_base64(w, "ciphertext", signal_buffer_data(ser), signal_buffer_len(ser));
    err = NULL;
out:
    SIGNAL_UNREF(m);
    session_cipher_free(c);
    free(pt);
    return err;
}

static const char *op_decrypt(struct lsc_peer *p, const pjson *req, pjson_w *w)
{
    signal_protocol_address a;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    const char *type;
    session_cipher *c = NULL;
    signal_message *sm = NULL;
    pre_key_signal_message *pm = NULL;
    signal_buffer *pt = NULL;
    const char *err = BAD;
    char trust_key[LSC_KEY_MAX];
    uint8_t *saved_trust = NULL;
    size_t saved_trust_len = 0;
    int rc;
    if (get_address(req, &a) < 0 || (type = pjson_get_string(req, "type")) == NULL ||
        get_blob(req, "ciphertext", &ct, &ct_len) < 0)
        goto out;
    if (strcmp(type, "pkmsg") == 0)
        rc = pre_key_signal_message_deserialize(&pm, ct, ct_len, p->ctx);
    else if (strcmp(type, "msg") == 0)
        rc = signal_message_deserialize(&sm, ct, ct_len, p->ctx);
    else
        goto out;
    if (rc < 0) {
        /* Whatever the parser disliked (even SG_ERR_INVAL for an empty
         * buffer), the message is malformed. */
        err = rc == SG_ERR_LEGACY_MESSAGE ? "legacy_version" : "invalid_message";
        goto out;
    }
    err = "internal_error";
    if (session_cipher_create(&c, p->store, &a, p->ctx) < 0)
        goto out;
    /* 2.3.3 saves a pkmsg's identity before it has decrypted anything and
     * keeps it when the decryption then fails (later upstream code undoes
     * it), so a forged first message would pin a forged identity. A failed
     * decrypt must change nothing: restore the name's trust record. */
    lsc_key_trust(trust_key, sizeof trust_key, a.name, a.name_len);
    const struct lsc_kv *t = lsc_db_get(&p->db, trust_key);
    if (t != NULL) {
        saved_trust = malloc(t->len);
        if (saved_trust == NULL)
            goto out;
        memcpy(saved_trust, t->val, t->len);
        saved_trust_len = t->len;
    }
    if (pm != NULL)
        rc = session_cipher_decrypt_pre_key_signal_message(c, pm, NULL, &pt);
    else
        rc = session_cipher_decrypt_signal_message(c, sm, NULL, &pt);
    if (rc < 0) {
        if (saved_trust != NULL)
            (void)lsc_db_put(&p->db, trust_key, saved_trust, saved_trust_len);
        else
            lsc_db_del(&p->db, trust_key);
        err = map_error(p, rc);
        goto out;
    }
    pjson_w_base64(w, "plaintext", signal_buffer_data(pt), signal_buffer_len(pt));
    err = NULL;
out:
    signal_buffer_bzero_free(pt);
    session_cipher_free(c);
    SIGNAL_UNREF(sm);
    SIGNAL_UNREF(pm);
    free(saved_trust);
    free(ct);
    return err;
}

static const char *op_trust(struct lsc_peer *p, const pjson *req, pjson_w *w)
{
    const char *name;
    size_t name_len;
    ec_public_key *k = NULL;
    signal_buffer *ser = NULL;
    char key[LSC_KEY_MAX];
    const char *err = BAD;
    (void)w;
    if (get_name(req, "peer", &name, &name_len) < 0 || get_pubkey(p, req, "identity_key", &k) < 0)
        goto out;
    err = "internal_error";
    if (ec_public_key_serialize(&ser, k) < 0)
        goto out;
    lsc_key_trust(key, sizeof key, name, name_len);
    if (lsc_db_put(&p->db, key, signal_buffer_data(ser), signal_buffer_len(ser)) < 0)
        goto out;
    err = NULL;
out:
    signal_buffer_free(ser);
    SIGNAL_UNREF(k);
    return err;
}

static const char *op_sign(struct lsc_peer *p, const pjson *req, pjson_w *w)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    signal_buffer *sig = NULL;
    const char *err = BAD;
    if (get_blob(req, "message", &msg, &len) < 0)
        goto out;
    err = "internal_error";
    if (curve_calculate_signature(p->ctx, &sig, ratchet_identity_key_pair_get_private(p->identity), msg, len) < 0)
        goto out;
    pjson_w_base64(w, "signature", signal_buffer_data(sig), signal_buffer_len(sig));
    err = NULL;
out:
    signal_buffer_free(sig);
    free(msg);
    return err;
}

static const char *op_verify(struct lsc_peer *p, const pjson *req, pjson_w *w)
{
    uint8_t *msg = NULL, *sig = NULL;
    size_t len = 0, sig_len = 0;
    ec_public_key *k = NULL;
    const char *err = BAD;
    if (get_pubkey(p, req, "public_key", &k) < 0 || get_blob(req, "message", &msg, &len) < 0 ||
        get_blob(req, "signature", &sig, &sig_len) < 0)
        goto out;
    pjson_w_bool(w, "valid", curve_verify_signature(k, msg, len, sig, sig_len) == 1);
    err = NULL;
out:
    SIGNAL_UNREF(k);
    free(msg);
    free(sig);
    return err;
}

/* ---- main loop ---- */

struct op {
    const char *name;
    const char *(*fn)(struct lsc_peer *p, const pjson *req, pjson_w *w);
    int needs_init;
};

static const struct op ops[] = {
    {"init", op_init, 0},       {"bundle", op_bundle, 1}, {"start", op_start, 1},
    {"encrypt", op_encrypt, 1}, {"decrypt", op_decrypt, 1}, {"trust", op_trust, 1},
    {"sign", op_sign, 1},       {"verify", op_verify, 0},
};

static void handle(struct lsc_peer *p, const char *line, size_t len)
{
    pjson *req = NULL;
    pbuf out;
    pjson_w w;
    const char *err = BAD;
    pbuf_init(&out, 4u * BLOB_MAX);
    pjson_w_init(&w, &out);
    pjson_w_begin(&w);
    pjson_w_bool(&w, "ok", 1);
    p->reason = LSC_REASON_NONE;
    if (pjson_parse(&req, line, len) == 0 && req->type == PJSON_OBJECT) {
        const char *opname = pjson_get_string(req, "op");
        for (size_t i = 0; opname != NULL && i < sizeof ops / sizeof ops[0]; i++) {
            if (strcmp(opname, ops[i].name) != 0)
                continue;
            if (!ops[i].needs_init || p->initialized)
                err = ops[i].fn(p, req, &w);
            break;
        }
    }
    pjson_w_end(&w);
    if (err == NULL && pjson_w_status(&w) != 0)
        err = "internal_error";
    if (err != NULL) {
        pbuf_reset(&out);
        out.len = 0;
        pjson_w_init(&w, &out);
        pjson_w_begin(&w);
        pjson_w_bool(&w, "ok", 0);
        pjson_w_string(&w, "error", err);
        pjson_w_end(&w);
    }
    if (pjson_w_status(&w) == 0 && pbuf_append(&out, "\n", 1) == 0)
        fwrite(out.data, 1, out.len, stdout);
    else
        fputs("{\"ok\":false,\"error\":\"internal_error\"}\n", stdout);
    fflush(stdout);
    pjson_free(req);
    pbuf_free(&out);
}

int main(int argc, char **argv)
{
    struct lsc_peer p;
    signal_crypto_provider cp;
    memset(&p, 0, sizeof p);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            p.db.dir = argv[++i];
        } else {
            fprintf(stderr, "usage: lsc-peer [--store DIR]\n");
            return 2;
        }
    }
    if (p.db.dir != NULL && mkdir(p.db.dir, 0700) != 0 && errno != EEXIST) {
        perror(p.db.dir);
        return 1;
    }
    lsc_crypto_provider(&cp);
    cp.user_data = &p;
    if (signal_context_create(&p.ctx, &p) < 0 || signal_context_set_crypto_provider(p.ctx, &cp) < 0 ||
        signal_context_set_log_function(p.ctx, lsc_log) < 0 ||
        signal_protocol_store_context_create(&p.store, p.ctx) < 0 || lsc_stores_install(&p) < 0) {
        fprintf(stderr, "lsc-peer: cannot set up libsignal-protocol-c\n");
        return 1;
    }
    if (p.db.dir != NULL) {
        if (lsc_db_load(&p.db) < 0) {
            fprintf(stderr, "lsc-peer: cannot read %s\n", p.db.dir);
            return 1;
        }
        if (lsc_db_get(&p.db, "local.identity") != NULL && load_local(&p) < 0) {
            fprintf(stderr, "lsc-peer: the store in %s is damaged\n", p.db.dir);
            return 1;
        }
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        handle(&p, line, len);
    }
    free(line);
    SIGNAL_UNREF(p.identity);
    signal_protocol_store_context_destroy(p.store);
    signal_context_destroy(p.ctx);
    lsc_db_free(&p.db);
    return 0;
}

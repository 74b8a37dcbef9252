/*
 * parley against libsignal-protocol-c 2.3.3, side by side in one run, with
 * the same persistence on both sides: every session (and sender-key)
 * change is serialized into an in-memory store after every message.
 * libsignal-protocol-c loads and serializes the session record through its
 * store callbacks on every call; parley writes every change to its store
 * before returning; parley's sender-key store is serialized by the caller
 * after every group message, as group.h asks.
 *
 *   bench_signal [-n SCALE%] [-o OP]      all operations (or only OP), both
 *                                         sides, ratios, then the floor
 *   bench_signal --callgrind OP:SIDE [-n N]
 *       runs only OP on SIDE (parley or lsc) N times; only the measured
 *       part is collected (valgrind --tool=callgrind --collect-atstart=no),
 *       so instructions per op = total / N. tests/interop/bench_signal.sh
 *       does this for every operation.
 *
 * Operations: setup (bundle -> start -> first message -> decrypt),
 * encrypt100, decrypt100, encrypt4k, decrypt4k (steady state in one chain),
 * pingpong (every message answers the last, so each one ratchets),
 * group_encrypt and group_decrypt (100 bytes; libsignal-protocol-c's own,
 * older sender-key cipher against parley's current format).
 *
 * After the table, the floor of the 4 KiB operations, measured in the same
 * process: OpenSSL's AES-256-CBC over 4 KiB (a fresh key schedule each
 * time, as every Signal message has its own key) with and without an
 * HMAC-SHA256 over it, no Signal at all. CBC encryption is one chain of
 * dependent AES blocks, so no implementation of a Signal message can
 * encrypt 4 KiB faster than the first row; "bench_signal --callgrind
 * aes_enc4k:floor" and friends count its instructions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <signal/curve.h>
#include <signal/group_cipher.h>
#include <signal/group_session_builder.h>
#include <signal/key_helper.h>
#include <signal/protocol.h>
#include <signal/session_builder.h>
#include <signal/session_cipher.h>
#include <signal/session_pre_key.h>

#include "crypto/crypto.h"
#include "crypto/sha256_blocks.h"
#include "lsc/lsc.h"
#include "parley/group.h"
#include "parley/signal.h"

#define MSG_MAX (4096 + 512)
/* Timed runs per operation and side; the best counts. */
#define REPS 5

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_signal: %s failed (%d)\n", what, rc);
    exit(1);
}

#define CK(expr)                                                                                   \
    do {                                                                                           \
        int ck_rc_ = (expr);                                                                       \
        if (ck_rc_ < 0)                                                                            \
            die(#expr, ck_rc_);                                                                    \
    } while (0)

/* The measured part; also what callgrind collects. */
static double t_acc;
static struct timespec t_start;
static void measure_on(void)
{
    CALLGRIND_TOGGLE_COLLECT;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
}
static void measure_off(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    CALLGRIND_TOGGLE_COLLECT;
    t_acc += (double)(t.tv_sec - t_start.tv_sec) * 1e9 + (double)(t.tv_nsec - t_start.tv_nsec);
}

/* ---- one interface over both libraries ---------------------------------- */

struct msg {
    int type;
    size_t len;
    uint8_t data[MSG_MAX];
};

struct impl {
    const char *name;
    void *(*party)(const char *self);
    void (*party_free)(void *p);
    void (*bundle)(void *p, parley_prekey_bundle *b);
    void (*start)(void *p, const char *peer, const parley_prekey_bundle *b);
    void (*encrypt)(void *p, const char *peer, const uint8_t *pt, size_t n, struct msg *m);
    void (*decrypt)(void *p, const char *peer, const struct msg *m, uint8_t *out, size_t *n);
    void *(*group)(const char *self);
    void (*group_free)(void *g);
    void (*group_create)(void *g, const char *self, struct msg *skdm);
    void (*group_process)(void *g, const char *sender, const struct msg *skdm);
    void (*group_encrypt)(void *g, const char *self, const uint8_t *pt, size_t n, struct msg *m);
    void (*group_decrypt)(void *g, const char *sender, const struct msg *m, uint8_t *out, size_t *n);
};

/* ---- parley -------------------------------------------------------------- */

struct pparty {
    parley_signal_store *store;
    parley_signal *sig;
};

static void *p_party(const char *self)
{
    (void)self;
    struct pparty *p = calloc(1, sizeof *p);
    if (p == NULL)
        die("calloc", -1);
    CK(parley_signal_store_new_memory(&p->store));
    CK(parley_signal_create(&p->sig, p->store));
    CK(parley_signal_new_signed_prekey(p->sig, 1, (uint64_t)time(NULL) * 1000));
    return p;
}

static void p_party_free(void *v)
{
    struct pparty *p = v;
    parley_signal_free(p->sig);
    parley_signal_store_free(p->store);
    free(p);
}

static void p_bundle(void *v, parley_prekey_bundle *b)
{
    struct pparty *p = v;
    CK(parley_signal_bundle(p->sig, 1, 1, b));
}

static void p_start(void *v, const char *peer, const parley_prekey_bundle *b)
{
    struct pparty *p = v;
    CK(parley_signal_start(p->sig, peer, 1, b));
}

static void p_encrypt(void *v, const char *peer, const uint8_t *pt, size_t n, struct msg *m)
{
    struct pparty *p = v;
    CK(parley_signal_encrypt(p->sig, peer, 1, pt, n, m->data, sizeof m->data, &m->len, &m->type));
}

static void p_decrypt(void *v, const char *peer, const struct msg *m, uint8_t *out, size_t *n)
{
    struct pparty *p = v;
    CK(parley_signal_decrypt(p->sig, peer, 1, m->type, m->data, m->len, out, MSG_MAX, n));
}

static const uint8_t dist_id[16] = {0xd1, 0xb5, 0xa9, 0xc0, 0x2f, 0x0e, 0x4b, 0x8a,
                                    0x9c, 0x1e, 0x2a, 0x3b, 0x4c, 0x5d, 0x6e, 0x7f};

static void *p_group(const char *self)
{
    (void)self;
    parley_group_store *g;
    CK(parley_group_store_new(&g));
    return g;
}

static void p_group_free(void *g)
{
    parley_group_store_free(g);
}

/* Persist the whole store, as the caller of parley_group_encrypt/decrypt
 * must before a ciphertext leaves or a plaintext is used. */
static void p_group_persist(parley_group_store *g)
{
    uint8_t *ser;
    size_t len;
    CK(parley_group_store_serialize(g, &ser, &len));
    parley_group_buffer_free(ser, len);
}

static void p_group_create(void *g, const char *self, struct msg *skdm)
{
    CK(parley_group_create(g, self, 1, dist_id, skdm->data, sizeof skdm->data, &skdm->len));
    p_group_persist(g);
}

static void p_group_process(void *g, const char *sender, const struct msg *skdm)
{
    CK(parley_group_process(g, sender, 1, skdm->data, skdm->len));
    p_group_persist(g);
}

static void p_group_encrypt(void *g, const char *self, const uint8_t *pt, size_t n, struct msg *m)
{
    CK(parley_group_encrypt(g, self, 1, dist_id, pt, n, m->data, sizeof m->data, &m->len));
    p_group_persist(g);
}

static void p_group_decrypt(void *g, const char *sender, const struct msg *m, uint8_t *out, size_t *n)
{
    CK(parley_group_decrypt(g, sender, 1, m->data, m->len, out, MSG_MAX, n));
    p_group_persist(g);
}

/* ---- libsignal-protocol-c ------------------------------------------------ */

static struct lsc_peer *l_context(void)
{
    struct lsc_peer *p = calloc(1, sizeof *p);
    signal_crypto_provider cp;
    if (p == NULL)
        die("calloc", -1);
    lsc_crypto_provider(&cp);
    CK(signal_context_create(&p->ctx, p));
    CK(signal_context_set_crypto_provider(p->ctx, &cp));
    CK(signal_protocol_store_context_create(&p->store, p->ctx));
    CK(lsc_stores_install(p));
    return p;
}

static void *l_party(const char *self)
{
    struct lsc_peer *p = l_context();
    session_signed_pre_key *spk = NULL;
    snprintf(p->name, sizeof p->name, "%s", self);
    p->device = 1;
    p->next_prekey_id = 1;
    CK(signal_protocol_key_helper_generate_identity_key_pair(&p->identity, p->ctx));
    CK(signal_protocol_key_helper_generate_registration_id(&p->registration_id, 0, p->ctx));
    CK(signal_protocol_key_helper_generate_signed_pre_key(&spk, p->identity, 1,
                                                          (uint64_t)time(NULL) * 1000, p->ctx));
    CK(signal_protocol_signed_pre_key_store_key(p->store, spk));
    SIGNAL_UNREF(spk);
    return p;
}

static void l_party_free(void *v)
{
    struct lsc_peer *p = v;
    SIGNAL_UNREF(p->identity);
    signal_protocol_store_context_destroy(p->store);
    signal_context_destroy(p->ctx);
    lsc_db_free(&p->db);
    free(p);
}

static void pub33(uint8_t out[33], const ec_public_key *k)
{
    signal_buffer *b = NULL;
    CK(ec_public_key_serialize(&b, k));
    if (signal_buffer_len(b) != 33)
        die("public key length", -1);
    memcpy(out, signal_buffer_data(b), 33);
    signal_buffer_free(b);
}

/* libsignal-protocol-c's bundle side: a fresh one-time prekey stored, and
 * the signed prekey loaded from the store. */
static void l_bundle(void *v, parley_prekey_bundle *b)
{
    struct lsc_peer *p = v;
    session_signed_pre_key *spk = NULL;
    ec_key_pair *kp = NULL;
    session_pre_key *pk = NULL;
    memset(b, 0, sizeof *b);
    CK(signal_protocol_signed_pre_key_load_key(p->store, &spk, 1));
    CK(curve_generate_key_pair(p->ctx, &kp));
    CK(session_pre_key_create(&pk, p->next_prekey_id, kp));
    CK(signal_protocol_pre_key_store_key(p->store, pk));
    b->registration_id = p->registration_id;
    b->device_id = 1;
    pub33(b->identity_key, ratchet_identity_key_pair_get_public(p->identity));
    b->signed_prekey_id = 1;
    pub33(b->signed_prekey, ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)));
    memcpy(b->signed_prekey_signature, session_signed_pre_key_get_signature(spk), 64);
    b->has_prekey = 1;
    b->prekey_id = p->next_prekey_id++;
    pub33(b->prekey, ec_key_pair_get_public(kp));
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(pk);
    SIGNAL_UNREF(kp);
}

static void l_start(void *v, const char *peer, const parley_prekey_bundle *b)
{
    struct lsc_peer *p = v;
    signal_protocol_address a = {peer, strlen(peer), 1};
    ec_public_key *idk = NULL, *spk = NULL, *pk = NULL;
    session_pre_key_bundle *bundle = NULL;
    session_builder *builder = NULL;
    CK(curve_decode_point(&idk, b->identity_key, 33, p->ctx));
    CK(curve_decode_point(&spk, b->signed_prekey, 33, p->ctx));
    CK(curve_decode_point(&pk, b->prekey, 33, p->ctx));
    CK(session_pre_key_bundle_create(&bundle, b->registration_id, (int)b->device_id, b->prekey_id, pk,
                                     b->signed_prekey_id, spk, b->signed_prekey_signature, 64, idk));
    CK(session_builder_create(&builder, p->store, &a, p->ctx));
    CK(session_builder_process_pre_key_bundle(builder, bundle));
    session_builder_free(builder);
    SIGNAL_UNREF(bundle);
    SIGNAL_UNREF(idk);
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(pk);
}

static void l_encrypt(void *v, const char *peer, const uint8_t *pt, size_t n, struct msg *m)
{
    struct lsc_peer *p = v;
    signal_protocol_address a = {peer, strlen(peer), 1};
    session_cipher *c = NULL;
    ciphertext_message *cm = NULL;
    CK(session_cipher_create(&c, p->store, &a, p->ctx));
    CK(session_cipher_encrypt(c, pt, n, &cm));
    signal_buffer *ser = ciphertext_message_get_serialized(cm);
    m->type = ciphertext_message_get_type(cm) == CIPHERTEXT_PREKEY_TYPE ? PARLEY_MSG_PREKEY : PARLEY_MSG_SIGNAL;
    m->len = signal_buffer_len(ser);
    if (m->len > sizeof m->data)
        die("message size", -1);
    memcpy(m->data, signal_buffer_data(ser), m->len);
    SIGNAL_UNREF(cm);
    session_cipher_free(c);
}

static void l_decrypt(void *v, const char *peer, const struct msg *m, uint8_t *out, size_t *n)
{
    struct lsc_peer *p = v;
    signal_protocol_address a = {peer, strlen(peer), 1};
    session_cipher *c = NULL;
    signal_buffer *pt = NULL;
    CK(session_cipher_create(&c, p->store, &a, p->ctx));
    if (m->type == PARLEY_MSG_PREKEY) {
        pre_key_signal_message *pm = NULL;
        CK(pre_key_signal_message_deserialize(&pm, m->data, m->len, p->ctx));
        CK(session_cipher_decrypt_pre_key_signal_message(c, pm, NULL, &pt));
        SIGNAL_UNREF(pm);
    } else {
        signal_message *sm = NULL;
        CK(signal_message_deserialize(&sm, m->data, m->len, p->ctx));
        CK(session_cipher_decrypt_signal_message(c, sm, NULL, &pt));
        SIGNAL_UNREF(sm);
    }
    *n = signal_buffer_len(pt);
    memcpy(out, signal_buffer_data(pt), *n);
    signal_buffer_free(pt);
    session_cipher_free(c);
}

static void *l_group(const char *self)
{
    struct lsc_peer *p = l_context();
    snprintf(p->name, sizeof p->name, "%s", self);
    return p;
}

static void l_group_free(void *g)
{
    l_party_free(g);
}

static signal_protocol_sender_key_name l_name(const char *sender)
{
    signal_protocol_sender_key_name n = {"group", 5, {sender, strlen(sender), 1}};
    return n;
}

static void l_group_create(void *g, const char *self, struct msg *skdm)
{
    struct lsc_peer *p = g;
    signal_protocol_sender_key_name n = l_name(self);
    group_session_builder *b = NULL;
    sender_key_distribution_message *d = NULL;
    CK(group_session_builder_create(&b, p->store, p->ctx));
    CK(group_session_builder_create_session(b, &d, &n));
    signal_buffer *ser = ciphertext_message_get_serialized((ciphertext_message *)d);
    skdm->len = signal_buffer_len(ser);
    memcpy(skdm->data, signal_buffer_data(ser), skdm->len);
    SIGNAL_UNREF(d);
    group_session_builder_free(b);
}

static void l_group_process(void *g, const char *sender, const struct msg *skdm)
{
    struct lsc_peer *p = g;
    signal_protocol_sender_key_name n = l_name(sender);
    group_session_builder *b = NULL;
    sender_key_distribution_message *d = NULL;
    CK(sender_key_distribution_message_deserialize(&d, skdm->data, skdm->len, p->ctx));
    CK(group_session_builder_create(&b, p->store, p->ctx));
    CK(group_session_builder_process_session(b, &n, d));
    SIGNAL_UNREF(d);
    group_session_builder_free(b);
}

static void l_group_encrypt(void *g, const char *self, const uint8_t *pt, size_t n, struct msg *m)
{
    struct lsc_peer *p = g;
    signal_protocol_sender_key_name name = l_name(self);
    group_cipher *c = NULL;
    ciphertext_message *cm = NULL;
    CK(group_cipher_create(&c, p->store, &name, p->ctx));
    CK(group_cipher_encrypt(c, pt, n, &cm));
    signal_buffer *ser = ciphertext_message_get_serialized(cm);
    m->len = signal_buffer_len(ser);
    memcpy(m->data, signal_buffer_data(ser), m->len);
    SIGNAL_UNREF(cm);
    group_cipher_free(c);
}

static void l_group_decrypt(void *g, const char *sender, const struct msg *m, uint8_t *out, size_t *n)
{
    struct lsc_peer *p = g;
    signal_protocol_sender_key_name name = l_name(sender);
    group_cipher *c = NULL;
    sender_key_message *skm = NULL;
    signal_buffer *pt = NULL;
    CK(group_cipher_create(&c, p->store, &name, p->ctx));
    CK(sender_key_message_deserialize(&skm, m->data, m->len, p->ctx));
    CK(group_cipher_decrypt(c, skm, NULL, &pt));
    *n = signal_buffer_len(pt);
    memcpy(out, signal_buffer_data(pt), *n);
    signal_buffer_free(pt);
    SIGNAL_UNREF(skm);
    group_cipher_free(c);
}

static const struct impl impls[2] = {
    {"parley", p_party, p_party_free, p_bundle, p_start, p_encrypt, p_decrypt, p_group, p_group_free,
     p_group_create, p_group_process, p_group_encrypt, p_group_decrypt},
    {"lsc", l_party, l_party_free, l_bundle, l_start, l_encrypt, l_decrypt, l_group, l_group_free,
     l_group_create, l_group_process, l_group_encrypt, l_group_decrypt},
};

/* ---- the operations ------------------------------------------------------ */

static void expect(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
    if (got_len != want_len || memcmp(got, want, want_len) != 0)
        die("round trip", -1);
}

static uint8_t plain[4096];
static uint8_t out[MSG_MAX];

/* A session both sides have acknowledged, so that later messages are
 * plain SignalMessages. */
static void establish(const struct impl *im, void *a, void *b)
{
    parley_prekey_bundle bundle;
    struct msg m;
    size_t n;
    im->bundle(b, &bundle);
    im->start(a, "bob", &bundle);
    im->encrypt(a, "bob", plain, 100, &m);
    im->decrypt(b, "alice", &m, out, &n);
    im->encrypt(b, "alice", plain, 100, &m);
    im->decrypt(a, "bob", &m, out, &n);
}

/* Fresh parties each time (not measured); bundle, start, first message and
 * its decryption measured. */
static void op_setup(const struct impl *im, int iters)
{
    for (int i = 0; i < iters; i++) {
        void *a = im->party("alice"), *b = im->party("bob");
        parley_prekey_bundle bundle;
        struct msg m;
        size_t n;
        measure_on();
        im->bundle(b, &bundle);
        im->start(a, "bob", &bundle);
        im->encrypt(a, "bob", plain, 100, &m);
        im->decrypt(b, "alice", &m, out, &n);
        measure_off();
        expect(out, n, plain, 100);
        im->party_free(a);
        im->party_free(b);
    }
}

static void steady(const struct impl *im, int iters, size_t size, int measure_decrypt)
{
    void *a = im->party("alice"), *b = im->party("bob");
    struct msg *ms = malloc((size_t)iters * sizeof *ms);
    if (ms == NULL)
        die("malloc", -1);
    /* Fault the pages in now, not inside the measured part (a nonzero
     * fill, so that the compiler cannot turn malloc + memset into a
     * calloc that leaves fresh pages untouched). */
    memset(ms, 0xa5, (size_t)iters * sizeof *ms);
    establish(im, a, b);
    if (!measure_decrypt)
        measure_on();
    for (int i = 0; i < iters; i++)
        im->encrypt(a, "bob", plain, size, &ms[i]);
    if (!measure_decrypt)
        measure_off();
    for (int i = 0; i < iters; i++) {
        size_t n;
        if (measure_decrypt)
            measure_on();
        im->decrypt(b, "alice", &ms[i], out, &n);
        if (measure_decrypt)
            measure_off();
        expect(out, n, plain, size);
    }
    free(ms);
    im->party_free(a);
    im->party_free(b);
}

static void op_encrypt100(const struct impl *im, int iters) { steady(im, iters, 100, 0); }
static void op_decrypt100(const struct impl *im, int iters) { steady(im, iters, 100, 1); }
static void op_encrypt4k(const struct impl *im, int iters) { steady(im, iters, 4096, 0); }
static void op_decrypt4k(const struct impl *im, int iters) { steady(im, iters, 4096, 1); }

/* One op = one message encrypted and decrypted; the direction alternates,
 * so every message starts a new chain (a DH ratchet step on each side). */
static void op_pingpong(const struct impl *im, int iters)
{
    void *a = im->party("alice"), *b = im->party("bob");
    establish(im, a, b);
    for (int i = 0; i < iters; i++) {
        struct msg m;
        size_t n;
        void *s = i % 2 ? b : a, *r = i % 2 ? a : b;
        measure_on();
        im->encrypt(s, i % 2 ? "alice" : "bob", plain, 100, &m);
        im->decrypt(r, i % 2 ? "bob" : "alice", &m, out, &n);
        measure_off();
        expect(out, n, plain, 100);
    }
    im->party_free(a);
    im->party_free(b);
}

static void group(const struct impl *im, int iters, int measure_decrypt)
{
    void *a = im->group("alice"), *b = im->group("bob");
    struct msg skdm;
    struct msg *ms = malloc((size_t)iters * sizeof *ms);
    if (ms == NULL)
        die("malloc", -1);
    /* Fault the pages in now, not inside the measured part (a nonzero
     * fill, so that the compiler cannot turn malloc + memset into a
     * calloc that leaves fresh pages untouched). */
    memset(ms, 0xa5, (size_t)iters * sizeof *ms);
    im->group_create(a, "alice", &skdm);
    im->group_process(b, "alice", &skdm);
    if (!measure_decrypt)
        measure_on();
    for (int i = 0; i < iters; i++)
        im->group_encrypt(a, "alice", plain, 100, &ms[i]);
    if (!measure_decrypt)
        measure_off();
    for (int i = 0; i < iters; i++) {
        size_t n;
        if (measure_decrypt)
            measure_on();
        im->group_decrypt(b, "alice", &ms[i], out, &n);
        if (measure_decrypt)
            measure_off();
        expect(out, n, plain, 100);
    }
    free(ms);
    im->group_free(a);
    im->group_free(b);
}

static void op_group_encrypt(const struct impl *im, int iters) { group(im, iters, 0); }
static void op_group_decrypt(const struct impl *im, int iters) { group(im, iters, 1); }

static const struct {
    const char *name;
    const char *what;
    void (*fn)(const struct impl *im, int iters);
    int iters;
} ops[] = {
    {"setup", "session setup (bundle, start, pkmsg, decrypt)", op_setup, 100},
    {"encrypt100", "encrypt 100 B (steady state)", op_encrypt100, 2000},
    {"decrypt100", "decrypt 100 B (steady state)", op_decrypt100, 2000},
    {"encrypt4k", "encrypt 4 KiB (steady state)", op_encrypt4k, 1000},
    {"decrypt4k", "decrypt 4 KiB (steady state)", op_decrypt4k, 1000},
    {"pingpong", "ping-pong, every message ratchets", op_pingpong, 300},
    {"group_encrypt", "sender-key encrypt 100 B", op_group_encrypt, 2000},
    {"group_decrypt", "sender-key decrypt 100 B", op_group_decrypt, 2000},
};

/* ---- the floor: AES-256-CBC (+ HMAC-SHA256) over 4 KiB, no Signal ------- */

static const uint8_t floor_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t floor_iv[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

/* PKCS#7: 4096 bytes become 4112. enc < 0 in floor_run: the MAC only. */
static size_t floor_cbc(EVP_CIPHER_CTX *c, int enc, const uint8_t *in, size_t n, uint8_t *o)
{
    int l1 = 0, l2 = 0;
    if (EVP_CipherInit_ex2(c, EVP_aes_256_cbc(), floor_key, floor_iv, enc, NULL) != 1 ||
        EVP_CipherUpdate(c, o, &l1, in, (int)n) != 1 || EVP_CipherFinal_ex(c, o + l1, &l2) != 1)
        die("AES-256-CBC", -1);
    return (size_t)(l1 + l2);
}

static void floor_run(int iters, int enc, int mac)
{
    static uint8_t ct[4096 + 16 + 128], buf[4096 + 16 + 128];
    uint8_t tag[32];
    unsigned tag_len = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        die("EVP_CIPHER_CTX_new", -1);
    size_t ct_len = floor_cbc(c, 1, plain, sizeof plain, ct);
    for (int i = 0; i < iters; i++) {
        size_t n;
        measure_on();
        if (enc < 0) {
            /* The MAC alone, over what a 4 KiB message's MAC covers. */
            if (HMAC(EVP_sha256(), floor_key, 32, ct, ct_len + 100, tag, &tag_len) == NULL)
                die("HMAC", -1);
            n = ct_len;
        } else if (enc) {
            n = floor_cbc(c, 1, plain, sizeof plain, buf);
            /* A Signal MAC covers both identities and the header too. */
            if (mac && HMAC(EVP_sha256(), floor_key, 32, buf, n + 100, tag, &tag_len) == NULL)
                die("HMAC", -1);
        } else {
            if (mac && HMAC(EVP_sha256(), floor_key, 32, ct, ct_len, tag, &tag_len) == NULL)
                die("HMAC", -1);
            n = floor_cbc(c, 0, ct, ct_len, buf);
        }
        measure_off();
        if (enc && n != ct_len)
            die("AES-256-CBC length", -1);
        if (enc == 0)
            expect(buf, n, plain, sizeof plain);
    }
    EVP_CIPHER_CTX_free(c);
}

static void floor_enc(int iters) { floor_run(iters, 1, 0); }
static void floor_enc_mac(int iters) { floor_run(iters, 1, 1); }
static void floor_dec(int iters) { floor_run(iters, 0, 0); }
static void floor_mac(int iters) { floor_run(iters, -1, 1); }
static void floor_dec_mac(int iters) { floor_run(iters, 0, 1); }

/* The same floors through parley's own kernels (src/crypto/cbc_hmac.c,
 * sha256_ni.c): the AES-NI CBC chain with the key expansion, the SHA-NI
 * chain of one HMAC over a 4 KiB message, and the whole interleaved
 * AES-CBC + HMAC pass of pc_cbc_hmac_seal / open. Without AES-NI and
 * SHA-NI (valgrind hides SHA-NI) these fall back to OpenSSL, as parley
 * itself does. */
static void pfloor_run(int iters, int what)
{
    static uint8_t ct[4096 + 16 + 128], buf[4096 + 16 + 128];
    uint8_t rk[240], chain[16], mac[32];
    uint32_t st[8];
    size_t ct_len = 0, n = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        die("EVP_CIPHER_CTX_new", -1);
    if (pc_cbc_hmac_seal(ct + 100, sizeof ct - 100, &ct_len, floor_key, floor_iv, floor_key, ct,
                         100, plain, sizeof plain, mac) != PARLEY_OK)
        die("pc_cbc_hmac_seal", -1);
    for (int i = 0; i < iters; i++) {
        measure_on();
        if (what == 0 && pc_aes_sha_available()) {
            /* 4096 bytes and the padding block: 257 dependent blocks */
            pc_aes256_expand(rk, floor_key);
            memcpy(chain, floor_iv, 16);
            pc_aes256_cbc_enc_blocks(rk, chain, plain, buf, sizeof plain / 16);
            pc_aes256_cbc_enc_blocks(rk, chain, buf + 4096 - 16, buf + 4096, 1);
        } else if (what == 0) {
            floor_cbc(ctx, 1, plain, sizeof plain, buf); /* no AES-NI kernel here */
        } else if (what == 1) {
            /* inner hash of the MAC: key block, 100 B head, 4112 B of
             * ciphertext and padding, 67 blocks, one chain */
            uint32_t *const sts[1] = {st};
            const uint8_t *const ds[1] = {ct};
            memset(st, 0, sizeof st);
            pc_sha256_blocks(sts, ds, 1, (100 + 4112 + 64 + 63) / 64);
        } else if (what == 2) {
            if (pc_cbc_hmac_seal(buf, sizeof buf, &n, floor_key, floor_iv, floor_key, ct, 100,
                                 plain, sizeof plain, mac) != PARLEY_OK)
                die("pc_cbc_hmac_seal", -1);
        } else {
            if (pc_cbc_hmac_open(buf, sizeof buf, &n, floor_key, floor_iv, floor_key, ct, 100,
                                 ct + 100, ct_len, mac) != PARLEY_OK)
                die("pc_cbc_hmac_open", -1);
        }
        measure_off();
        if (what == 3)
            expect(buf, n, plain, sizeof plain);
    }
    EVP_CIPHER_CTX_free(ctx);
}

static void pfloor_aes(int iters) { pfloor_run(iters, 0); }
static void pfloor_sha(int iters) { pfloor_run(iters, 1); }
static void pfloor_seal(int iters) { pfloor_run(iters, 2); }
static void pfloor_open(int iters) { pfloor_run(iters, 3); }

static const struct {
    const char *name;
    const char *what;
    void (*fn)(int iters);
    int against; /* index in ops[] of the parley operation it bounds */
} floors[] = {
    {"p_aes_enc4k", "parley AES-NI CBC chain 4 KiB (+ key exp.)", pfloor_aes, 3},
    {"p_sha4k", "parley SHA-NI chain, 4 KiB message's MAC", pfloor_sha, 4},
    {"p_seal4k", "parley pc_cbc_hmac_seal 4 KiB, no Signal", pfloor_seal, 3},
    {"p_open4k", "parley pc_cbc_hmac_open 4 KiB, no Signal", pfloor_open, 4},
    {"aes_enc4k", "AES-256-CBC encrypt 4 KiB", floor_enc, 3},
    {"hmac4k", "HMAC-SHA256 4 KiB", floor_mac, 4},
    {"aes_hmac_enc4k", "AES-256-CBC encrypt + HMAC-SHA256 4 KiB", floor_enc_mac, 3},
    {"aes_dec4k", "AES-256-CBC decrypt 4 KiB", floor_dec, 4},
    {"aes_hmac_dec4k", "HMAC-SHA256 + AES-256-CBC decrypt 4 KiB", floor_dec_mac, 4},
};

static double run_floor(int f, int iters)
{
    double best = 0;
    for (int rep = 0; rep < REPS; rep++) {
        t_acc = 0;
        floors[f].fn(iters);
        double per = t_acc / iters;
        if (rep == 0 || per < best)
            best = per;
    }
    return best;
}

/* Best of REPS runs per side, in nanoseconds per op. The two sides take
 * turns (parley, lsc, parley, ...), so that a burst of load on the shared
 * machine falls on both rather than on one side's runs. */
static void run(int op, int iters, double best[2])
{
    for (int rep = 0; rep < REPS; rep++) {
        for (int side = 0; side < 2; side++) {
            t_acc = 0;
            ops[op].fn(&impls[side], iters);
            double per = t_acc / iters;
            if (rep == 0 || per < best[side])
                best[side] = per;
        }
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_signal [-n PERCENT] [-o OP] | --callgrind OP:parley|lsc [-n N]\n"
                    "       bench_signal --callgrind FLOOR_OP:floor [-n N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *cg = NULL, *only = NULL;
    long n = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--callgrind") == 0 && i + 1 < argc)
            cg = argv[++i];
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else
            return usage();
    }
    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (uint8_t)(i * 7 + 1);

    if (cg != NULL) {
        const char *colon = strchr(cg, ':');
        if (colon == NULL)
            return usage();
        if (strcmp(colon + 1, "floor") == 0) {
            for (size_t f = 0; f < sizeof floors / sizeof floors[0]; f++) {
                if (strlen(floors[f].name) == (size_t)(colon - cg) &&
                    strncmp(floors[f].name, cg, (size_t)(colon - cg)) == 0) {
                    int iters = n > 0 ? (int)n : 100;
                    floors[f].fn(iters);
                    printf("%s floor %d\n", floors[f].name, iters);
                    return 0;
                }
            }
            return usage();
        }
        const struct impl *im = NULL;
        for (int s = 0; s < 2; s++)
            if (strcmp(colon + 1, impls[s].name) == 0)
                im = &impls[s];
        for (size_t o = 0; im != NULL && o < sizeof ops / sizeof ops[0]; o++) {
            if (strlen(ops[o].name) == (size_t)(colon - cg) && strncmp(ops[o].name, cg, (size_t)(colon - cg)) == 0) {
                int iters = n > 0 ? (int)n : ops[o].iters / 10;
                ops[o].fn(im, iters);
                printf("%s %s %d\n", ops[o].name, im->name, iters);
                return 0;
            }
        }
        return usage();
    }

    int pct = n > 0 ? (int)n : 100;
    printf("parley vs libsignal-protocol-c 2.3.3, session state serialized after every message\n");
    printf("%-46s %12s %12s %9s\n", "operation", "parley", "lsc", "speedup");
    double tps[sizeof ops / sizeof ops[0]], tls[sizeof ops / sizeof ops[0]];
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        int iters = ops[o].iters * pct / 100;
        if (iters < 1)
            iters = 1;
        tps[o] = tls[o] = 0;
        if (only != NULL && strcmp(only, ops[o].name) != 0)
            continue;
        double best[2];
        run((int)o, iters, best);
        double tp = best[0], tl = best[1];
        tps[o] = tp;
        tls[o] = tl;
        printf("%-46s %9.2f us %9.2f us %8.2fx\n", ops[o].what, tp / 1e3, tl / 1e3, tl / tp);
        fflush(stdout);
    }
    printf("\nfloor, no Signal (OpenSSL, same process)   time   share of parley's op   lsc op / floor\n");
    for (size_t f = 0; f < sizeof floors / sizeof floors[0]; f++) {
        int iters = 1000 * pct / 100;
        if (iters < 1)
            iters = 1;
        int o = floors[f].against;
        if (tps[o] == 0)
            continue;
        double t = run_floor((int)f, iters);
        printf("%-40s %9.2f us   %5.1f%% of %-12s %8.2fx\n", floors[f].what, t / 1e3,
               100.0 * t / tps[o], ops[o].name, tls[o] / t);
        fflush(stdout);
    }
    return 0;
}

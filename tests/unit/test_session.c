/*
 * 1:1 sessions of the core against itself, through the public API: setup
 * with and without a one-time prekey, long conversations with random
 * direction changes, out-of-order and dropped messages, refused forward
 * jumps that change nothing, replays, tampering, identity changes,
 * simultaneous initiation, session resets and restarts from a directory
 * store.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "crypto/crypto.h"
#include "parley/signal.h"

typedef struct {
    parley_signal_store *store;
    parley_signal *sig;
    const char *name;
    uint32_t device;
} party;

typedef struct {
    int type;
    size_t len;
    uint8_t data[1024];
} message;

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void party_new(party *p, const char *name, uint32_t device)
{
    p->name = name;
    p->device = device;
    CHECK_RC(parley_signal_store_new_memory(&p->store), PARLEY_OK);
    CHECK_RC(parley_signal_create(&p->sig, p->store), PARLEY_OK);
}

static void party_free(party *p)
{
    parley_signal_free(p->sig);
    parley_signal_store_free(p->store);
    p->sig = NULL;
    p->store = NULL;
}

static int start(party *a, party *b, int one_time)
{
    parley_prekey_bundle bundle;
    int rc = parley_signal_bundle(b->sig, b->device, one_time, &bundle);
    if (rc != PARLEY_OK)
        return rc;
    return parley_signal_start(a->sig, b->name, b->device, &bundle);
}

static void pt_of(uint8_t *pt, size_t *n, int i)
{
    *n = (size_t)(i % 97);
    for (size_t k = 0; k < *n; k++)
        pt[k] = (uint8_t)(i + (int)k);
}

static int send_msg(party *from, party *to, int i, message *m)
{
    uint8_t pt[128];
    size_t n;
    pt_of(pt, &n, i);
    return parley_signal_encrypt(from->sig, to->name, to->device, pt, n, m->data, sizeof m->data,
                                 &m->len, &m->type);
}

/* Decrypt and check the plaintext is message i's. */
static int recv_msg(party *to, party *from, int i, const message *m)
{
    uint8_t pt[1024], want[128];
    size_t n = 0, wn;
    int rc = parley_signal_decrypt(to->sig, from->name, from->device, m->type, m->data, m->len, pt,
                                   sizeof pt, &n);
    if (rc != PARLEY_OK)
        return rc;
    pt_of(want, &wn, i);
    return (n == wn && memcmp(pt, want, n) == 0) ? PARLEY_OK : -9999;
}

/* The stored session record of p's session with other, for comparisons. */
static size_t snapshot(party *p, party *other, uint8_t **out)
{
    char key[128];
    size_t k = 0, len = 0;
    for (const char *c = other->name; *c; c++)
        k += (size_t)snprintf(key + k, sizeof key - k, "%02x", (unsigned char)*c);
    snprintf(key + k, sizeof key - k, ".%u", (unsigned)other->device);
    if (parley_signal_store_get(p->store, PARLEY_STORE_SESSION, key, out, &len) != PARLEY_OK)
        *out = NULL;
    return len;
}

static int same_snapshot(party *p, party *other, const uint8_t *before, size_t before_len)
{
    uint8_t *now;
    size_t n = snapshot(p, other, &now);
    int same = now != NULL && n == before_len && memcmp(now, before, n) == 0;
    parley_signal_store_blob_free(now, n);
    return same;
}

/* alice starts, sends a pkmsg, bob answers with a msg. */
static void establish(party *a, party *b, int one_time)
{
    message m;
    CHECK_RC(start(a, b, one_time), PARLEY_OK);
    CHECK_RC(send_msg(a, b, 1, &m), PARLEY_OK);
    CHECK(m.type == PARLEY_MSG_PREKEY);
    CHECK_RC(recv_msg(b, a, 1, &m), PARLEY_OK);
    CHECK_RC(send_msg(b, a, 2, &m), PARLEY_OK);
    CHECK(m.type == PARLEY_MSG_SIGNAL);
    CHECK_RC(recv_msg(a, b, 2, &m), PARLEY_OK);
    CHECK_RC(send_msg(a, b, 3, &m), PARLEY_OK);
    CHECK(m.type == PARLEY_MSG_SIGNAL); /* acknowledged: no more pkmsg */
    CHECK_RC(recv_msg(b, a, 3, &m), PARLEY_OK);
}

static void test_setup(int one_time)
{
    party a, b, c;
    party_new(&a, "alice", 1);
    party_new(&b, "bob", 2);
    parley_prekey_bundle bundle;
    CHECK_RC(parley_signal_bundle(b.sig, 2, one_time, &bundle), PARLEY_OK);
    CHECK(bundle.has_prekey == one_time);
    CHECK(bundle.registration_id >= 1 && bundle.registration_id <= 16380);
    CHECK_RC(parley_signal_start(a.sig, "bob", 2, &bundle), PARLEY_OK);
    CHECK(parley_signal_has_session(a.sig, "bob", 2) == 1);
    CHECK(parley_signal_has_session(a.sig, "bob", 3) == 0);

    /* The initiator keeps sending prekey messages until bob answers. */
    message m1, m2;
    CHECK_RC(send_msg(&a, &b, 1, &m1), PARLEY_OK);
    CHECK_RC(send_msg(&a, &b, 2, &m2), PARLEY_OK);
    CHECK(m1.type == PARLEY_MSG_PREKEY && m2.type == PARLEY_MSG_PREKEY);
    CHECK_RC(recv_msg(&b, &a, 2, &m2), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 1, &m1), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 1, &m1), PARLEY_ERR_DUPLICATE);

    if (one_time) {
        /* The one-time prekey is gone after its first use. */
        char key[16];
        uint8_t *blob;
        size_t n;
        snprintf(key, sizeof key, "%u", (unsigned)bundle.prekey_id);
        CHECK_RC(parley_signal_store_get(b.store, PARLEY_STORE_PREKEY, key, &blob, &n),
                 PARLEY_ERR_NOT_FOUND);
        /* Another initiator with the same bundle: unknown prekey id. */
        party_new(&c, "carol", 1);
        message mc;
        CHECK_RC(parley_signal_start(c.sig, "bob", 2, &bundle), PARLEY_OK);
        CHECK_RC(send_msg(&c, &b, 5, &mc), PARLEY_OK);
        CHECK_RC(recv_msg(&b, &c, 5, &mc), PARLEY_ERR_INVALID_KEY_ID);
        party_free(&c);
    }
    message r;
    CHECK_RC(send_msg(&b, &a, 3, &r), PARLEY_OK);
    CHECK(r.type == PARLEY_MSG_SIGNAL);
    CHECK_RC(recv_msg(&a, &b, 3, &r), PARLEY_OK);
    CHECK_RC(send_msg(&a, &b, 4, &r), PARLEY_OK);
    CHECK(r.type == PARLEY_MSG_SIGNAL);
    CHECK_RC(recv_msg(&b, &a, 4, &r), PARLEY_OK);
    party_free(&a);
    party_free(&b);
}

static void test_long_conversation(void)
{
    party a, b;
    party_new(&a, "alice", 1);
    party_new(&b, "bob", 1);
    establish(&a, &b, 1);
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        message m;
        party *s = rnd(2) ? &a : &b, *r = s == &a ? &b : &a;
        if (send_msg(s, r, i, &m) != PARLEY_OK || m.type != PARLEY_MSG_SIGNAL ||
            recv_msg(r, s, i, &m) != PARLEY_OK)
            bad++;
    }
    CHECK(bad == 0);
    party_free(&a);
    party_free(&b);
}

static void test_out_of_order_and_drops(void)
{
    party a, b;
    party_new(&a, "alice", 1);
    party_new(&b, "bob", 1);
    establish(&a, &b, 0);
    enum { N = 60 };
    static message ms[N];
    int order[N];
    /* Three ratchet steps' worth of messages, then a shuffled delivery with
     * every seventh message dropped. */
    for (int i = 0; i < N; i++) {
        CHECK_RC(send_msg(&a, &b, 100 + i, &ms[i]), PARLEY_OK);
        order[i] = i;
    }
    for (int i = N - 1; i > 0; i--) {
        int j = (int)rnd((uint32_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int bad = 0;
    for (int k = 0; k < N; k++) {
        int i = order[k];
        if (i % 7 == 3)
            continue;
        if (recv_msg(&b, &a, 100 + i, &ms[i]) != PARLEY_OK)
            bad++;
    }
    CHECK(bad == 0);
    /* Across ratchet steps: bob answers, alice sends on a new chain, and
     * the late messages of alice's old chain still open. */
    message r, late[3], fresh;
    for (int i = 0; i < 3; i++)
        CHECK_RC(send_msg(&a, &b, 200 + i, &late[i]), PARLEY_OK);
    CHECK_RC(send_msg(&b, &a, 300, &r), PARLEY_OK);
    CHECK_RC(recv_msg(&a, &b, 300, &r), PARLEY_OK);
    CHECK_RC(send_msg(&a, &b, 301, &fresh), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 301, &fresh), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 202, &late[2]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 200, &late[0]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 200, &late[0]), PARLEY_ERR_DUPLICATE);
    CHECK_RC(recv_msg(&b, &a, 201, &late[1]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 301, &fresh), PARLEY_ERR_DUPLICATE);
    party_free(&a);
    party_free(&b);
}

static void test_forward_jump(void)
{
    party a, b;
    party_new(&a, "alice", 1);
    party_new(&b, "bob", 1);
    establish(&a, &b, 1);
    /* alice's chain now stands at index 1 at bob (message 3 was index 0). */
    static message ms[2003];
    for (int i = 0; i < 2003; i++)
        CHECK_RC(send_msg(&a, &b, i, &ms[i]), PARLEY_OK);
    uint8_t *before;
    size_t before_len = snapshot(&b, &a, &before);
    CHECK(before != NULL);
    /* ms[i] has counter i + 1 and bob's chain expects 1: ms[2001] jumps
     * 2001 ahead, one beyond the limit. */
    CHECK_RC(recv_msg(&b, &a, 2002, &ms[2002]), PARLEY_ERR_TOO_FAR_AHEAD);
    CHECK_RC(recv_msg(&b, &a, 2001, &ms[2001]), PARLEY_ERR_TOO_FAR_AHEAD);
    CHECK(same_snapshot(&b, &a, before, before_len));
    /* Exactly 2000 ahead is accepted, and the 2000 keys skipped are kept. */
    CHECK_RC(recv_msg(&b, &a, 2000, &ms[2000]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 0, &ms[0]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 1999, &ms[1999]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 2001, &ms[2001]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 2002, &ms[2002]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 1000, &ms[1000]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 1000, &ms[1000]), PARLEY_ERR_DUPLICATE);
    parley_signal_store_blob_free(before, before_len);
    party_free(&a);
    party_free(&b);
}

static void test_tampering(void)
{
    party a, b;
    party_new(&a, "alice", 1);
    party_new(&b, "bob", 1);
    establish(&a, &b, 1);
    message m, t;
    CHECK_RC(send_msg(&a, &b, 42, &m), PARLEY_OK);
    uint8_t *before;
    size_t before_len = snapshot(&b, &a, &before);
    /* The MAC. */
    t = m;
    t.data[t.len - 1] ^= 1;
    CHECK_RC(recv_msg(&b, &a, 42, &t), PARLEY_ERR_INVALID_MAC);
    /* The ciphertext (the last bytes before the MAC). */
    t = m;
    t.data[t.len - 9] ^= 0x80;
    CHECK_RC(recv_msg(&b, &a, 42, &t), PARLEY_ERR_INVALID_MAC);
    /* Truncated, version bytes, type confusion. */
    t = m;
    t.len = 5;
    CHECK_RC(recv_msg(&b, &a, 42, &t), PARLEY_ERR_INVALID_MESSAGE);
    t = m;
    t.data[0] = 0x22;
    CHECK_RC(recv_msg(&b, &a, 42, &t), PARLEY_ERR_LEGACY_VERSION);
    t = m;
    t.data[0] = 0x43;
    CHECK_RC(recv_msg(&b, &a, 42, &t), PARLEY_ERR_INVALID_MESSAGE);
    t = m;
    t.type = PARLEY_MSG_PREKEY;
    CHECK_RC(recv_msg(&b, &a, 42, &t), PARLEY_ERR_INVALID_MESSAGE);
    CHECK(same_snapshot(&b, &a, before, before_len));
    CHECK_RC(recv_msg(&b, &a, 42, &m), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 42, &m), PARLEY_ERR_DUPLICATE);
    /* No session at all. */
    party c;
    party_new(&c, "carol", 1);
    CHECK_RC(recv_msg(&c, &a, 42, &m), PARLEY_ERR_NO_SESSION);
    CHECK_RC(send_msg(&c, &a, 1, &t), PARLEY_ERR_NO_SESSION);
    parley_signal_store_blob_free(before, before_len);
    party_free(&a);
    party_free(&b);
    party_free(&c);
}

static void test_bundle_checks(void)
{
    party a, b;
    party_new(&a, "alice", 1);
    party_new(&b, "bob", 1);
    parley_prekey_bundle bundle, bad;
    CHECK_RC(parley_signal_bundle(b.sig, 1, 1, &bundle), PARLEY_OK);
    bad = bundle;
    bad.signed_prekey_signature[10] ^= 1;
    CHECK_RC(parley_signal_start(a.sig, "bob", 1, &bad), PARLEY_ERR_INVALID_SIGNATURE);
    bad = bundle;
    bad.signed_prekey[5] ^= 1;
    CHECK_RC(parley_signal_start(a.sig, "bob", 1, &bad), PARLEY_ERR_INVALID_SIGNATURE);
    bad = bundle;
    bad.identity_key[0] = 0x06;
    CHECK_RC(parley_signal_start(a.sig, "bob", 1, &bad), PARLEY_ERR_INVALID_KEY);
    bad = bundle;
    bad.prekey[0] = 0;
    CHECK_RC(parley_signal_start(a.sig, "bob", 1, &bad), PARLEY_ERR_INVALID_KEY);
    CHECK(parley_signal_has_session(a.sig, "bob", 1) == 0);
    /* The first refusals did not pin bob's identity: any is accepted now. */
    CHECK_RC(parley_signal_start(a.sig, "bob", 1, &bundle), PARLEY_OK);
    party_free(&a);
    party_free(&b);
}

static void test_identity_change(void)
{
    party a, b, b2;
    party_new(&a, "alice", 1);
    party_new(&b, "bob", 1);
    establish(&a, &b, 1);
    /* bob reinstalls: a new identity under the same name. */
    party_new(&b2, "bob", 2);
    CHECK_RC(start(&a, &b2, 1), PARLEY_ERR_UNTRUSTED_IDENTITY);
    /* and it starts a session towards alice: its pkmsg is refused. */
    message m;
    CHECK_RC(start(&b2, &a, 1), PARLEY_OK);
    CHECK_RC(send_msg(&b2, &a, 7, &m), PARLEY_OK);
    CHECK_RC(recv_msg(&a, &b2, 7, &m), PARLEY_ERR_UNTRUSTED_IDENTITY);
    /* The old session still works. */
    message r;
    CHECK_RC(send_msg(&a, &b, 8, &r), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 8, &r), PARLEY_OK);
    /* Trusting the new key: the pkmsg opens, and the old device's
     * session (old identity) is now refused on encrypt. */
    uint8_t key[PARLEY_PUBKEY_LEN];
    parley_signal_identity_key(b2.sig, key);
    CHECK_RC(parley_signal_trust(a.sig, "bob", key), PARLEY_OK);
    CHECK_RC(recv_msg(&a, &b2, 7, &m), PARLEY_OK);
    CHECK_RC(send_msg(&a, &b, 9, &r), PARLEY_ERR_UNTRUSTED_IDENTITY);
    CHECK_RC(send_msg(&a, &b2, 10, &r), PARLEY_OK);
    CHECK_RC(recv_msg(&b2, &a, 10, &r), PARLEY_OK);
    key[0] = 0x07;
    CHECK_RC(parley_signal_trust(a.sig, "bob", key), PARLEY_ERR_INVALID_KEY);
    party_free(&a);
    party_free(&b);
    party_free(&b2);
}

static void test_simultaneous_initiation(void)
{
    party a, b;
    party_new(&a, "alice", 1);
    party_new(&b, "bob", 1);
    message ma, mb;
    CHECK_RC(start(&a, &b, 1), PARLEY_OK);
    CHECK_RC(start(&b, &a, 1), PARLEY_OK);
    CHECK_RC(send_msg(&a, &b, 1, &ma), PARLEY_OK);
    CHECK_RC(send_msg(&b, &a, 2, &mb), PARLEY_OK);
    CHECK(ma.type == PARLEY_MSG_PREKEY && mb.type == PARLEY_MSG_PREKEY);
    CHECK_RC(recv_msg(&b, &a, 1, &ma), PARLEY_OK);
    CHECK_RC(recv_msg(&a, &b, 2, &mb), PARLEY_OK);
    /* Each side's current state is now the one the other started; the
     * archived states make every later message open, and the two converge
     * on one session. */
    int bad = 0;
    for (int i = 0; i < 50; i++) {
        message m;
        party *s = rnd(2) ? &a : &b, *r = s == &a ? &b : &a;
        if (send_msg(s, r, i, &m) != PARLEY_OK || recv_msg(r, s, i, &m) != PARLEY_OK)
            bad++;
    }
    CHECK(bad == 0);
    message last;
    CHECK_RC(send_msg(&a, &b, 99, &last), PARLEY_OK);
    CHECK(last.type == PARLEY_MSG_SIGNAL);
    CHECK_RC(recv_msg(&b, &a, 99, &last), PARLEY_OK);
    party_free(&a);
    party_free(&b);
}

static void test_session_reset(void)
{
    party a, b;
    party_new(&a, "alice", 1);
    party_new(&b, "bob", 1);
    establish(&a, &b, 1);
    message inflight, m;
    CHECK_RC(send_msg(&a, &b, 10, &inflight), PARLEY_OK);
    /* alice starts over from a fresh bundle (the old state is archived). */
    CHECK_RC(start(&a, &b, 1), PARLEY_OK);
    CHECK_RC(send_msg(&a, &b, 11, &m), PARLEY_OK);
    CHECK(m.type == PARLEY_MSG_PREKEY);
    CHECK_RC(recv_msg(&b, &a, 11, &m), PARLEY_OK);
    /* A message of the old session, still in flight, opens from the
     * archive. */
    CHECK_RC(recv_msg(&b, &a, 10, &inflight), PARLEY_OK);
    for (int i = 0; i < 20; i++) {
        party *s = i % 3 ? &a : &b, *r = s == &a ? &b : &a;
        CHECK_RC(send_msg(s, r, 20 + i, &m), PARLEY_OK);
        CHECK_RC(recv_msg(r, s, 20 + i, &m), PARLEY_OK);
    }
    /* bob resets too, without a one-time prekey. */
    CHECK_RC(start(&b, &a, 0), PARLEY_OK);
    CHECK_RC(send_msg(&b, &a, 50, &m), PARLEY_OK);
    CHECK_RC(recv_msg(&a, &b, 50, &m), PARLEY_OK);
    CHECK_RC(send_msg(&a, &b, 51, &m), PARLEY_OK);
    CHECK(m.type == PARLEY_MSG_SIGNAL);
    CHECK_RC(recv_msg(&b, &a, 51, &m), PARLEY_OK);
    party_free(&a);
    party_free(&b);
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        unlink(path);
        return;
    }
    struct dirent *e;
    char sub[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_rf(sub);
    }
    closedir(d);
    rmdir(path);
}

static void party_open_dir(party *p, const char *name, uint32_t device, const char *dir, int create)
{
    p->name = name;
    p->device = device;
    CHECK_RC(parley_signal_store_open_dir(&p->store, dir), PARLEY_OK);
    if (create)
        CHECK_RC(parley_signal_create(&p->sig, p->store), PARLEY_OK);
    else
        CHECK_RC(parley_signal_open(&p->sig, p->store), PARLEY_OK);
}

static void test_restart_from_dir(void)
{
    char tmpl_a[] = "/tmp/parley-session-a-XXXXXX", tmpl_b[] = "/tmp/parley-session-b-XXXXXX";
    char *da = mkdtemp(tmpl_a), *db = mkdtemp(tmpl_b);
    CHECK(da != NULL && db != NULL);
    if (da == NULL || db == NULL)
        return;
    party a, b;
    party_open_dir(&a, "alice", 1, da, 1);
    party_open_dir(&b, "bob with a name longer than thirty-two bytes", 4, db, 1);
    uint8_t ida[PARLEY_PUBKEY_LEN], ida2[PARLEY_PUBKEY_LEN];
    parley_signal_identity_key(a.sig, ida);
    uint32_t reg = parley_signal_registration_id(a.sig);
    /* A second create on the same store is refused. */
    parley_signal *dup = NULL;
    CHECK_RC(parley_signal_create(&dup, a.store), PARLEY_ERR_STATE);

    /* An unused one-time prekey survives the restart. */
    parley_prekey_bundle spare;
    CHECK_RC(parley_signal_bundle(b.sig, 4, 1, &spare), PARLEY_OK);
    establish(&a, &b, 1);
    message held[3], m;
    for (int i = 0; i < 3; i++)
        CHECK_RC(send_msg(&a, &b, 60 + i, &held[i]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 62, &held[2]), PARLEY_OK); /* 60, 61 skipped */

    struct stat sb;
    char path[512];
    snprintf(path, sizeof path, "%s/local/identity", da);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);

    party_free(&a);
    party_free(&b);
    party_open_dir(&a, "alice", 1, da, 0);
    party_open_dir(&b, "bob with a name longer than thirty-two bytes", 4, db, 0);
    parley_signal_identity_key(a.sig, ida2);
    CHECK_MEM(ida, ida2, sizeof ida);
    CHECK(parley_signal_registration_id(a.sig) == reg);

    CHECK_RC(recv_msg(&b, &a, 60, &held[0]), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &a, 62, &held[2]), PARLEY_ERR_DUPLICATE);
    for (int i = 0; i < 30; i++) {
        party *s = rnd(2) ? &a : &b, *r = s == &a ? &b : &a;
        CHECK_RC(send_msg(s, r, 70 + i, &m), PARLEY_OK);
        CHECK_RC(recv_msg(r, s, 70 + i, &m), PARLEY_OK);
    }
    CHECK_RC(recv_msg(&b, &a, 61, &held[1]), PARLEY_OK);
    /* Trust survived: a different identity under alice's name is refused. */
    party x;
    party_new(&x, "alice", 1);
    CHECK_RC(start(&b, &x, 1), PARLEY_ERR_UNTRUSTED_IDENTITY);
    /* The spare one-time prekey is still usable after the restart. */
    party c;
    party_new(&c, "carol", 1);
    CHECK_RC(parley_signal_start(c.sig, b.name, 4, &spare), PARLEY_OK);
    CHECK_RC(send_msg(&c, &b, 90, &m), PARLEY_OK);
    CHECK_RC(recv_msg(&b, &c, 90, &m), PARLEY_OK);
    party_free(&x);
    party_free(&c);
    party_free(&a);
    party_free(&b);

    /* A corrupt record is an error, not a fresh session. */
    parley_signal_store *s;
    CHECK_RC(parley_signal_store_open_dir(&s, db), PARLEY_OK);
    CHECK_RC(parley_signal_store_put(s, PARLEY_STORE_SESSION, "616c696365.1",
                                     (const uint8_t *)"\x01\x01", 2),
             PARLEY_OK);
    parley_signal *sig;
    CHECK_RC(parley_signal_open(&sig, s), PARLEY_OK);
    uint8_t out[64];
    size_t ol;
    int type;
    CHECK_RC(parley_signal_encrypt(sig, "alice", 1, out, 1, out, sizeof out, &ol, &type),
             PARLEY_ERR_STORE);
    CHECK_RC(parley_signal_store_put(s, PARLEY_STORE_SESSION, "../x", out, 1),
             PARLEY_ERR_INVALID_ARG);
    parley_signal_free(sig);
    parley_signal_store_free(s);
    rm_rf(da);
    rm_rf(db);
}

int main(void)
{
    CHECK_RC(pc_init(), PARLEY_OK);
    test_setup(1);
    test_setup(0);
    test_long_conversation();
    test_out_of_order_and_drops();
    test_forward_jump();
    test_tampering();
    test_bundle_checks();
    test_identity_change();
    test_simultaneous_initiation();
    test_session_reset();
    test_restart_from_dir();
    TEST_MAIN_END();
}

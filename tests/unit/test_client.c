/*
 * The client engine's local pieces: the signed device list (encoding,
 * verification and every refusal), the SQLite store (modes, the Signal
 * store over it, sealing at rest, transactions that roll a decrypt back
 * so that a redelivered copy decrypts again), and the engine's refusals
 * before any network use.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "client/client_internal.h"
#include "crypto/crypto.h"
#include "parley/client.h"
#include "parley/signal.h"
#include "parley/xeddsa.h"

static char tmpdir[256];

static void make_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/parley-test-client-XXXXXX");
    if (!mkdtemp(tmpdir))
        abort();
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* ---- device lists ---- */

static void keypair(uint8_t priv[32], uint8_t ser[33])
{
    uint8_t pub[32];
    if (pc_x25519_keygen(pub, priv) != PARLEY_OK)
        abort();
    parley_key_encode(ser, pub);
}

static void test_device_list(void)
{
    parley_device_list l, got;
    uint8_t p1[32], p2[32], sig[64], bad[64];
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    memset(&l, 0, sizeof l);
    l.version = 7;
    l.count = 2;
    l.ids[0] = 1;
    l.ids[1] = 3;
    keypair(p1, l.keys[0]);
    keypair(p2, l.keys[1]);
    CHECK_RC(parley_device_list_encode(&l, "bob@gk.example", &raw, &raw_len), PARLEY_OK);
    CHECK(raw_len == 17 + 1 + 14 + 1 + 4 + 2 * 37);
    CHECK(memcmp(raw, "parley-devices-v1\0bob@gk.example\0\0\0\0\x07\0\0\0\x01", 41) == 0);
    CHECK_RC(parley_xeddsa_sign(sig, p1, raw, raw_len), PARLEY_OK);
    CHECK_RC(parley_device_list_verify(&got, "bob@gk.example", raw, raw_len, sig), PARLEY_OK);
    CHECK(got.version == 7 && got.count == 2 && got.ids[1] == 3);
    CHECK_MEM(got.keys[1], l.keys[1], 33);
    /* signed by device 3 instead of the primary */
    CHECK_RC(parley_xeddsa_sign(bad, p2, raw, raw_len), PARLEY_OK);
    CHECK_RC(parley_device_list_verify(&got, "bob@gk.example", raw, raw_len, bad),
             PARLEY_ERR_INVALID_SIGNATURE);
    CHECK(got.count == 0);
    /* another user's list */
    CHECK_RC(parley_device_list_verify(&got, "eve@gk.example", raw, raw_len, sig),
             PARLEY_ERR_CLIENT_DEVICES);
    CHECK_RC(parley_device_list_verify(&got, "bob@gk.exampl", raw, raw_len, sig),
             PARLEY_ERR_CLIENT_DEVICES);
    /* a flipped byte anywhere breaks the signature or the format */
    for (size_t i = 0; i < raw_len; i += 5) {
        raw[i] ^= 0x40;
        CHECK(parley_device_list_verify(&got, "bob@gk.example", raw, raw_len, sig) != PARLEY_OK);
        raw[i] ^= 0x40;
    }
    /* truncations: never accepted under the signature; structurally only
     * at a device boundary (dropping device 3 whole) */
    for (size_t n = 0; n < raw_len; n++) {
        CHECK(parley_device_list_verify(&got, "bob@gk.example", raw, n, sig) != PARLEY_OK);
        int rc = parley_device_list_verify(&got, "bob@gk.example", raw, n, NULL);
        CHECK(n == raw_len - 37 ? rc == PARLEY_OK
                                : (rc == PARLEY_ERR_DECODE || rc == PARLEY_ERR_CLIENT_DEVICES));
    }
    free(raw);
    /* disorder and duplicates are refused when encoding */
    l.ids[1] = 1;
    CHECK_RC(parley_device_list_encode(&l, "bob@gk.example", &raw, &raw_len),
             PARLEY_ERR_INVALID_ARG);
    /* a list without device 1 cannot be verified: nobody may sign it */
    l.ids[0] = 2;
    l.ids[1] = 3;
    CHECK_RC(parley_device_list_encode(&l, "bob@gk.example", &raw, &raw_len), PARLEY_OK);
    CHECK_RC(parley_device_list_verify(&got, "bob@gk.example", raw, raw_len, NULL),
             PARLEY_ERR_CLIENT_DEVICES);
    /* ids out of order on the wire */
    memcpy(raw + 36, "\0\0\0\x04", 4);
    CHECK_RC(parley_device_list_verify(&got, "bob@gk.example", raw, raw_len, NULL),
             PARLEY_ERR_CLIENT_DEVICES);
    free(raw);
    /* an invalid key type byte */
    l.ids[0] = 1;
    l.keys[1][0] = 0x06;
    CHECK_RC(parley_device_list_encode(&l, "bob@gk.example", &raw, &raw_len), PARLEY_OK);
    CHECK_RC(parley_device_list_verify(&got, "bob@gk.example", raw, raw_len, NULL),
             PARLEY_ERR_INVALID_KEY);
    free(raw);
    /* too many devices */
    l.count = PARLEY_CLIENT_MAX_DEVICES + 1;
    CHECK_RC(parley_device_list_encode(&l, "bob@gk.example", &raw, &raw_len),
             PARLEY_ERR_INVALID_ARG);
    pc_wipe(p1, 32);
    pc_wipe(p2, 32);
}

/* ---- store ---- */

static void test_store_files(void)
{
    char path[512];
    struct stat sb;
    pcl_store s;
    make_tmp();
    snprintf(path, sizeof path, "%s/acct", tmpdir);
    CHECK_RC(pcl_store_open(&s, path), PARLEY_OK);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0700);
    snprintf(path, sizeof path, "%s/acct/parley.db", tmpdir);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    snprintf(path, sizeof path, "%s/acct/local.key", tmpdir);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600 && sb.st_size == 32);
    {
        uint8_t key1[32];
        memcpy(key1, s.local_key, 32);
        CHECK_RC(pcl_cfg_set(&s, "user", "a@b", 3), PARLEY_OK);
        CHECK_RC(pcl_cfg_set_u32(&s, "device", 0x01020304), PARLEY_OK);
        pcl_store_close(&s);
        snprintf(path, sizeof path, "%s/acct", tmpdir);
        CHECK_RC(pcl_store_open(&s, path), PARLEY_OK);
        CHECK_MEM(s.local_key, key1, 32);
    }
    {
        char user[16];
        uint32_t d = 0;
        uint8_t small[2];
        size_t n;
        CHECK_RC(pcl_cfg_get_str(&s, "user", user, sizeof user), PARLEY_OK);
        CHECK(strcmp(user, "a@b") == 0);
        CHECK_RC(pcl_cfg_get_u32(&s, "device", &d), PARLEY_OK);
        CHECK(d == 0x01020304);
        CHECK_RC(pcl_cfg_get_u32(&s, "nothing", &d), PARLEY_ERR_NOT_FOUND);
        CHECK_RC(pcl_cfg_get(&s, "user", small, sizeof small, &n), PARLEY_ERR_BUFFER);
        CHECK_RC(pcl_cfg_get_u32(&s, "user", &d), PARLEY_ERR_STORE_CORRUPT);
        CHECK_RC(pcl_cfg_get_str(&s, "user", user, 3), PARLEY_ERR_BUFFER);
    }
    /* sealing: round trip, no plaintext in the output, tamper refused */
    {
        static const char body[] = "the quick brown fox meets parley";
        uint8_t *sealed = NULL, *open_ = NULL;
        size_t sl = 0, ol = 0;
        CHECK_RC(pcl_seal(&s, (const uint8_t *)body, sizeof body - 1, &sealed, &sl), PARLEY_OK);
        CHECK(sl == sizeof body - 1 + 28);
        CHECK(memmem(sealed, sl, "quick", 5) == NULL);
        CHECK_RC(pcl_unseal(&s, sealed, sl, &open_, &ol), PARLEY_OK);
        CHECK(ol == sizeof body - 1 && memcmp(open_, body, ol) == 0);
        free(open_);
        open_ = NULL;
        sealed[sl - 1] ^= 1;
        CHECK(pcl_unseal(&s, sealed, sl, &open_, &ol) != PARLEY_OK);
        CHECK(open_ == NULL);
        CHECK_RC(pcl_unseal(&s, sealed, 27, &open_, &ol), PARLEY_ERR_STORE_CORRUPT);
        free(sealed);
    }
    pcl_store_close(&s);
    /* a corrupt local key file is refused, not replaced */
    snprintf(path, sizeof path, "%s/acct/local.key", tmpdir);
    CHECK(truncate(path, 10) == 0);
    snprintf(path, sizeof path, "%s/acct", tmpdir);
    CHECK_RC(pcl_store_open(&s, path), PARLEY_ERR_STORE_CORRUPT);
    rm_rf(tmpdir);
}

/* Several processes (a `parley daemon` and a `parley send`, say) opening
 * one new account directory at once: every one opens it, and all hold the
 * same local key. Without the directory lock, one would fail creating the
 * key file, read a half-written one, or find the database switching to WAL
 * under it. */
static void test_store_open_together(void)
{
    enum { PROCS = 4, ROUNDS = 25 };
    int all_ok = 1, same_key = 1;
    make_tmp();
    for (int round = 0; round < ROUNDS && all_ok && same_key; round++) {
        char path[512];
        snprintf(path, sizeof path, "%s/acct%d", tmpdir, round);
        int go[2], keys[2];
        CHECK(pipe(go) == 0 && pipe(keys) == 0);
        pid_t pids[PROCS];
        for (int p = 0; p < PROCS; p++) {
            pids[p] = fork();
            if (pids[p] == 0) {
                char b;
                pcl_store s;
                close(go[1]);
                close(keys[0]);
                /* Start together, when the parent closes the write end. */
                if (read(go[0], &b, 1) != 0)
                    _exit(5);
                int rc = pcl_store_open(&s, path);
                if (rc != PARLEY_OK) {
                    fprintf(stderr, "open together: %s\n", parley_strerror(rc));
                    _exit(2);
                }
                rc = pcl_cfg_set_u32(&s, "opened", (uint32_t)p);
                int wrote = write(keys[1], s.local_key, 32) == 32;
                pcl_store_close(&s);
                _exit(rc == PARLEY_OK && wrote ? 0 : 3);
            }
        }
        close(go[0]);
        close(go[1]);
        close(keys[1]);
        for (int p = 0; p < PROCS; p++) {
            int status = 0;
            waitpid(pids[p], &status, 0);
            all_ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        uint8_t first[32], k[32];
        int n = 0;
        while (read(keys[0], k, 32) == 32) {
            if (n++ == 0)
                memcpy(first, k, 32);
            else
                same_key &= memcmp(first, k, 32) == 0;
        }
        close(keys[0]);
        all_ok &= n == PROCS;
    }
    CHECK(all_ok);
    CHECK(same_key);
    rm_rf(tmpdir);
}

/* Two devices with sessions kept in SQLite stores: messages flow both
 * ways; a decrypt inside a transaction that is rolled back leaves the
 * store as it was, so the same copy decrypts again after a restart (the
 * engine's store-then-ack rule); once committed, the copy is a duplicate. */
static void test_store_sessions(void)
{
    char pa[512], pb[512];
    pcl_store sa, sb;
    parley_signal_store *ssa = NULL, *ssb = NULL;
    parley_signal *a = NULL, *b = NULL;
    parley_prekey_bundle bundle;
    uint8_t ct[512], ct2[512], pt[512];
    size_t ct_len = 0, ct2_len = 0, pt_len = 0;
    int type = 0, type2 = 0;
    make_tmp();
    snprintf(pa, sizeof pa, "%s/a", tmpdir);
    snprintf(pb, sizeof pb, "%s/b", tmpdir);
    CHECK_RC(pcl_store_open(&sa, pa), PARLEY_OK);
    CHECK_RC(pcl_store_open(&sb, pb), PARLEY_OK);
    CHECK_RC(pcl_store_signal(&sa, &ssa), PARLEY_OK);
    CHECK_RC(pcl_store_signal(&sb, &ssb), PARLEY_OK);
    CHECK_RC(parley_signal_create(&a, ssa), PARLEY_OK);
    CHECK_RC(parley_signal_create(&b, ssb), PARLEY_OK);
    CHECK_RC(parley_signal_create(&a, ssa), PARLEY_ERR_STATE);
    CHECK_RC(parley_signal_new_signed_prekey(b, 1, 1000), PARLEY_OK);
    CHECK_RC(parley_signal_bundle(b, 1, 1, &bundle), PARLEY_OK);
    CHECK_RC(parley_signal_start(a, "bob@x/1", 1, &bundle), PARLEY_OK);
    CHECK_RC(parley_signal_encrypt(a, "bob@x/1", 1, (const uint8_t *)"hello", 5, ct, sizeof ct,
                                   &ct_len, &type),
             PARLEY_OK);
    CHECK(type == PARLEY_MSG_PREKEY);
    CHECK_RC(parley_signal_encrypt(a, "bob@x/1", 1, (const uint8_t *)"again", 5, ct2, sizeof ct2,
                                   &ct2_len, &type2),
             PARLEY_OK);
    /* b: decrypt inside a transaction, roll it back, restart */
    CHECK_RC(pcl_store_begin(&sb), PARLEY_OK);
    CHECK_RC(parley_signal_decrypt(b, "alice@x/1", 1, type, ct, ct_len, pt, sizeof pt, &pt_len),
             PARLEY_OK);
    CHECK(pt_len == 5 && memcmp(pt, "hello", 5) == 0);
    pcl_store_rollback(&sb);
    parley_signal_free(b);
    b = NULL;
    CHECK_RC(parley_signal_open(&b, ssb), PARLEY_OK);
    CHECK_RC(pcl_store_begin(&sb), PARLEY_OK);
    CHECK_RC(parley_signal_decrypt(b, "alice@x/1", 1, type, ct, ct_len, pt, sizeof pt, &pt_len),
             PARLEY_OK);
    CHECK(pt_len == 5 && memcmp(pt, "hello", 5) == 0);
    CHECK_RC(pcl_store_commit(&sb), PARLEY_OK);
    /* after commit and a restart the same copy is a duplicate */
    parley_signal_free(b);
    b = NULL;
    CHECK_RC(parley_signal_open(&b, ssb), PARLEY_OK);
    CHECK(parley_signal_decrypt(b, "alice@x/1", 1, type, ct, ct_len, pt, sizeof pt, &pt_len) !=
          PARLEY_OK);
    CHECK_RC(parley_signal_decrypt(b, "alice@x/1", 1, type2, ct2, ct2_len, pt, sizeof pt, &pt_len),
             PARLEY_OK);
    CHECK(pt_len == 5 && memcmp(pt, "again", 5) == 0);
    /* the stores hold no plaintext */
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "grep -r -q -a -e hello -e again '%s'", tmpdir);
        CHECK(system(cmd) != 0);
    }
    parley_signal_free(a);
    parley_signal_free(b);
    parley_signal_store_free(ssa);
    parley_signal_store_free(ssb);
    pcl_store_close(&sa);
    pcl_store_close(&sb);
    rm_rf(tmpdir);
}

/* ---- the engine before any network ---- */

static void test_engine_offline(void)
{
    parley_client *c = NULL;
    char path[512], id[65];
    uint8_t root[32] = {0};
    parley_client_device_info info[4];
    size_t n = 0;
    make_tmp();
    snprintf(path, sizeof path, "%s/acct", tmpdir);
    CHECK_RC(parley_client_open(&c, path), PARLEY_OK);
    CHECK(parley_client_user(c) == NULL);
    CHECK(parley_client_device(c) == 0);
    CHECK_RC(parley_client_send_text(c, "bob@x", "hi", id), PARLEY_ERR_CLIENT_NOT_REGISTERED);
    CHECK_RC(parley_client_devices(c, info, 4, &n), PARLEY_ERR_CLIENT_NOT_REGISTERED);
    CHECK_RC(parley_client_receive(c, 0, NULL, NULL, NULL), PARLEY_ERR_CLIENT_NOT_REGISTERED);
    /* bad account names and server addresses are refused up front */
    CHECK_RC(parley_client_register(c, "127.0.0.1:1", root, "no-at-sign", "code"),
             PARLEY_ERR_INVALID_ARG);
    CHECK_RC(parley_client_register(c, "127.0.0.1:1", root, "a@b/2", "code"),
             PARLEY_ERR_INVALID_ARG);
    /* nothing listens on port 1: a network error, and the identity stays
     * for the next attempt */
    CHECK_RC(parley_client_register(c, "127.0.0.1:1", root, "a@b", "code"), PARLEY_ERR_IO);
    CHECK_RC(parley_client_register(c, "no-port", root, "a@b", "code"), PARLEY_ERR_INVALID_ARG);
    parley_client_free(c);
    c = NULL;
    CHECK_RC(parley_client_open(&c, path), PARLEY_OK);
    CHECK(parley_client_user(c) != NULL && strcmp(parley_client_user(c), "a@b") == 0);
    CHECK(parley_client_device(c) == 0);
    CHECK_RC(parley_client_verify(c, "nobody@x"), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(parley_client_verify(c, "a@b"), PARLEY_ERR_INVALID_ARG);
    parley_client_free(c);
    rm_rf(tmpdir);
}

/* ---- small parsers of the engine ---- */

#include "client/engine_internal.h"

static void test_parsers(void)
{
    char user[64];
    uint32_t dev = 0;
    parley_stanza *e = NULL;
    uint8_t buf[40];
    size_t n = 0;
    CHECK_RC(pcl_split_addr("bob@gk.example/12", user, sizeof user, &dev), PARLEY_OK);
    CHECK(strcmp(user, "bob@gk.example") == 0 && dev == 12);
    CHECK_RC(pcl_split_addr("bob@gk.example", user, sizeof user, &dev), PARLEY_ERR_DECODE);
    CHECK_RC(pcl_split_addr("bob@gk.example/", user, sizeof user, &dev), PARLEY_ERR_DECODE);
    CHECK_RC(pcl_split_addr("bob@gk.example/0", user, sizeof user, &dev), PARLEY_ERR_DECODE);
    CHECK_RC(pcl_split_addr("bob@gk.example/01", user, sizeof user, &dev), PARLEY_ERR_DECODE);
    CHECK_RC(pcl_split_addr("bob@gk.example/1x", user, sizeof user, &dev), PARLEY_ERR_DECODE);
    CHECK_RC(pcl_split_addr("bob@gk.example/99999999999", user, sizeof user, &dev),
             PARLEY_ERR_DECODE);
    CHECK_RC(pcl_split_addr("/1", user, sizeof user, &dev), PARLEY_ERR_DECODE);
    CHECK_RC(pcl_split_addr("nobody/1", user, sizeof user, &dev), PARLEY_ERR_DECODE);
    CHECK_RC(pcl_split_addr("bob@gk.example/1", user, 8, &dev), PARLEY_ERR_DECODE);
    CHECK_RC(parley_stanza_new(&e, "x"), PARLEY_OK);
    CHECK_RC(pcl_attr_b64_set(e, "sig", (const uint8_t *)"\x00\xff\x10", 3), PARLEY_OK);
    CHECK(strcmp(parley_stanza_attr(e, "sig"), "AP8Q") == 0);
    CHECK_RC(pcl_attr_b64_get(e, "sig", buf, sizeof buf, &n), PARLEY_OK);
    CHECK(n == 3 && memcmp(buf, "\x00\xff\x10", 3) == 0);
    CHECK_RC(pcl_attr_b64_get(e, "none", buf, sizeof buf, &n), PARLEY_ERR_DECODE);
    CHECK_RC(pcl_attr_b64_get(e, "sig", buf, 2, &n), PARLEY_ERR_BUFFER);
    CHECK_RC(parley_stanza_set_attr(e, "sig", "AP9="), PARLEY_OK); /* non-zero trailing bits */
    CHECK_RC(pcl_attr_b64_get(e, "sig", buf, sizeof buf, &n), PARLEY_ERR_STANZA_BASE64);
    CHECK_RC(parley_stanza_set_attr(e, "sig", "AP8"), PARLEY_OK);
    CHECK_RC(pcl_attr_b64_get(e, "sig", buf, sizeof buf, &n), PARLEY_ERR_STANZA_BASE64);
    CHECK_RC(parley_stanza_set_attr(e, "sig", "A P8Q"), PARLEY_OK);
    CHECK_RC(pcl_attr_b64_get(e, "sig", buf, sizeof buf, &n), PARLEY_ERR_STANZA_BASE64);
    parley_stanza_free(e);
}

int main(void)
{
    if (pc_init() != PARLEY_OK)
        return 1;
    test_device_list();
    test_store_files();
    test_store_open_together();
    test_store_sessions();
    test_engine_offline();
    test_parsers();
    TEST_MAIN_END();
}

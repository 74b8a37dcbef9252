/*
 * The store on SQLite: every operation, its bounds and refusals, group
 * commit through completion channels, one-time prekeys taken exactly once
 * by racing threads and processes, and crash safety under SIGKILL.
 */
#include "unit/check.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static pstore *open_store(const char *name, pstore_sync sync)
{
    char path[128];
    pstore_sqlite_config cfg = {.sync = sync};
    pstore *s = NULL;
    path_of(path, sizeof path, name);
    int rc = pstore_open_sqlite(&s, path, &cfg);
    CHECK_RC(rc, PARLEY_OK);
    if (rc < 0) {
        fprintf(stderr, "cannot open %s: %s\n", path, parley_strerror(rc));
        exit(1);
    }
    return s;
}

static pstore_device make_device(const char *user, uint32_t id, uint8_t seed)
{
    pstore_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.user, sizeof d.user, "%s", user);
    d.device_id = id;
    memset(d.noise_key, seed, sizeof d.noise_key);
    d.identity_key[0] = 0x05;
    memset(d.identity_key + 1, seed ^ 0x5a, 32);
    d.identity_key_len = 33;
    d.registration_id = 1000u + seed;
    d.created = 1700000000;
    d.last_seen = 1700000000;
    return d;
}

static pstore_prekey make_prekey(uint32_t id)
{
    pstore_prekey k;
    memset(&k, 0, sizeof k);
    k.id = id;
    k.pub[0] = 0x05;
    memcpy(k.pub + 1, &id, sizeof id);
    k.pub_len = 33;
    memset(k.sig, (int)(id & 0xff), sizeof k.sig);
    return k;
}

/* Make user and its devices 1..n with distinct static keys. */
static void make_user(pstore *s, const char *user, uint32_t n, uint8_t seed)
{
    CHECK_RC(pstore_account_create(s, user, 1700000000), PARLEY_OK);
    for (uint32_t i = 0; i < n; i++) {
        pstore_device d = make_device(user, 0, (uint8_t)(seed + i));
        CHECK_RC(pstore_device_add(s, &d), PARLEY_OK);
        CHECK(d.device_id == i + 1);
    }
}

static int file_contains(const char *path, const void *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return 1;
    return 0;
}

/* ---- file ---------------------------------------------------------------- */

static void test_file_mode(void)
{
    char path[128], wal[136];
    struct stat st;
    path_of(path, sizeof path, "mode.db");
    snprintf(wal, sizeof wal, "%s-wal", path);
    /* A file that exists with wider permissions is narrowed to 0600. */
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    CHECK(fchmod(fd, 0644) == 0);
    close(fd);
    pstore *s = open_store("mode.db", PSTORE_SYNC_FULL);
    CHECK_RC(pstore_account_create(s, "mode@example.org", 1), PARLEY_OK);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(wal, &st) == 0 && (st.st_mode & 0777) == 0600);
    pstore_close(s);

    path_of(path, sizeof path, "fresh.db");
    s = open_store("fresh.db", PSTORE_SYNC_FULL);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    pstore_close(s);
}

/* ---- accounts and codes ---------------------------------------------------- */

static void test_accounts(pstore *s)
{
    pstore_account a;
    CHECK_RC(pstore_account_create(s, "alice@example.org", 1700000001), PARLEY_OK);
    CHECK_RC(pstore_account_create(s, "alice@example.org", 1700000002), PARLEY_ERR_STORE_EXISTS);
    CHECK_RC(pstore_account_get(s, "alice@example.org", &a), PARLEY_OK);
    CHECK(strcmp(a.address, "alice@example.org") == 0);
    CHECK(a.created == 1700000001);
    CHECK(a.status == PSTORE_ACCOUNT_ACTIVE);
    CHECK_RC(pstore_account_set_status(s, "alice@example.org", PSTORE_ACCOUNT_SUSPENDED),
             PARLEY_OK);
    CHECK_RC(pstore_account_get(s, "alice@example.org", &a), PARLEY_OK);
    CHECK(a.status == PSTORE_ACCOUNT_SUSPENDED);
    CHECK_RC(pstore_account_set_status(s, "alice@example.org", PSTORE_ACCOUNT_ACTIVE), PARLEY_OK);
    CHECK_RC(pstore_account_set_status(s, "alice@example.org", (pstore_account_status)7),
             PARLEY_ERR_INVALID_ARG);
    CHECK_RC(pstore_account_get(s, "nobody@example.org", &a), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_account_set_status(s, "nobody@example.org", PSTORE_ACCOUNT_ACTIVE),
             PARLEY_ERR_NOT_FOUND);

    /* Addresses: local@domain, nothing else. */
    static const char *const bad[] = {"",
                                      "alice",
                                      "@example.org",
                                      "alice@",
                                      "a@b@c",
                                      "alice@example.org/2",
                                      "al ice@example.org",
                                      "alice@exa\tmple.org",
                                      "alice@example.org\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_RC(pstore_account_create(s, bad[i], 1), PARLEY_ERR_INVALID_ARG);
    char longest[PSTORE_ADDRESS_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[10] = '@';
    longest[PSTORE_ADDRESS_MAX] = '\0';
    CHECK_RC(pstore_account_create(s, longest, 1), PARLEY_OK);
    CHECK_RC(pstore_account_get(s, longest, &a), PARLEY_OK);
    longest[PSTORE_ADDRESS_MAX] = 'a';
    longest[PSTORE_ADDRESS_MAX + 1] = '\0';
    CHECK_RC(pstore_account_create(s, longest, 1), PARLEY_ERR_STORE_TOO_LARGE);
}

static void test_codes(pstore *s, const char *path)
{
    char code[PSTORE_CODE_GEN_LEN + 1], other[PSTORE_CODE_GEN_LEN + 1];
    char addr[PSTORE_ADDRESS_MAX + 1];
    CHECK_RC(pstore_code_generate(code), PARLEY_OK);
    CHECK_RC(pstore_code_generate(other), PARLEY_OK);
    CHECK(strlen(code) == PSTORE_CODE_GEN_LEN);
    CHECK(code[5] == '-' && code[11] == '-' && code[17] == '-' && code[23] == '-');
    CHECK(strcmp(code, other) != 0);

    CHECK_RC(pstore_account_create(s, "bob@example.org", 1700000000), PARLEY_OK);
    CHECK_RC(pstore_code_add(s, PSTORE_CODE_REGISTRATION, code, "ghost@example.org", 2000000000),
             PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_code_add(s, PSTORE_CODE_REGISTRATION, code, "bob@example.org", 1700000100),
             PARLEY_OK);
    CHECK_RC(pstore_code_add(s, PSTORE_CODE_REGISTRATION, code, "bob@example.org", 1700000100),
             PARLEY_ERR_STORE_EXISTS);
    /* Hashed at rest: the code's text is nowhere in the files. */
    char wal[136];
    snprintf(wal, sizeof wal, "%s-wal", path);
    CHECK(!file_contains(path, code, strlen(code)));
    CHECK(!file_contains(wal, code, strlen(code)));
    /* The scan itself works: the account's address is there in clear. */
    CHECK(file_contains(wal, "bob@example.org", 15) || file_contains(path, "bob@example.org", 15));

    /* A code of the other kind does not match, and is not consumed. */
    CHECK_RC(pstore_code_redeem(s, PSTORE_CODE_LINK, code, 1700000050, addr), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_code_redeem(s, PSTORE_CODE_REGISTRATION, code, 1700000050, addr), PARLEY_OK);
    CHECK(strcmp(addr, "bob@example.org") == 0);
    /* Single use. */
    CHECK_RC(pstore_code_redeem(s, PSTORE_CODE_REGISTRATION, code, 1700000050, addr),
             PARLEY_ERR_NOT_FOUND);
    CHECK(addr[0] == '\0');

    /* Expiry: refused, and gone afterwards. */
    CHECK_RC(pstore_code_add(s, PSTORE_CODE_LINK, other, "bob@example.org", 1700000100), PARLEY_OK);
    CHECK_RC(pstore_code_redeem(s, PSTORE_CODE_LINK, other, 1700000100, addr),
             PARLEY_ERR_STORE_EXPIRED);
    CHECK_RC(pstore_code_redeem(s, PSTORE_CODE_LINK, other, 1700000000, addr),
             PARLEY_ERR_NOT_FOUND);

    /* Bounds. */
    CHECK_RC(pstore_code_add(s, PSTORE_CODE_LINK, "short", "bob@example.org", 1800000000),
             PARLEY_ERR_INVALID_ARG);
    char big[PSTORE_CODE_MAX + 2];
    memset(big, 'X', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_RC(pstore_code_add(s, PSTORE_CODE_LINK, big, "bob@example.org", 1800000000),
             PARLEY_ERR_STORE_TOO_LARGE);
    CHECK_RC(pstore_code_redeem(s, PSTORE_CODE_LINK, big, 1, addr), PARLEY_ERR_STORE_TOO_LARGE);
    CHECK_RC(pstore_code_add(s, (pstore_code_kind)9, code, "bob@example.org", 1800000000),
             PARLEY_ERR_INVALID_ARG);
}

/* ---- devices ----------------------------------------------------------- */

static void test_devices(pstore *s)
{
    pstore_device d = make_device("carol@example.org", 0, 0x10), got;
    CHECK_RC(pstore_device_add(s, &d), PARLEY_ERR_NOT_FOUND); /* no such account */
    CHECK_RC(pstore_account_create(s, "carol@example.org", 1700000000), PARLEY_OK);
    CHECK_RC(pstore_device_add(s, &d), PARLEY_OK);
    CHECK(d.device_id == 1);
    pstore_device d2 = make_device("carol@example.org", 0, 0x11);
    CHECK_RC(pstore_device_add(s, &d2), PARLEY_OK);
    CHECK(d2.device_id == 2);
    pstore_device d5 = make_device("carol@example.org", 5, 0x15);
    CHECK_RC(pstore_device_add(s, &d5), PARLEY_OK);
    CHECK(d5.device_id == 5);
    pstore_device d6 = make_device("carol@example.org", 0, 0x16);
    CHECK_RC(pstore_device_add(s, &d6), PARLEY_OK);
    CHECK(d6.device_id == 6);

    /* The static key is unique across all accounts; ids within one. */
    CHECK_RC(pstore_account_create(s, "dave@example.org", 1700000000), PARLEY_OK);
    pstore_device dup = make_device("dave@example.org", 0, 0x10);
    CHECK_RC(pstore_device_add(s, &dup), PARLEY_ERR_STORE_EXISTS);
    dup = make_device("carol@example.org", 2, 0x77);
    CHECK_RC(pstore_device_add(s, &dup), PARLEY_ERR_STORE_EXISTS);

    CHECK_RC(pstore_device_get(s, "carol@example.org", 2, &got), PARLEY_OK);
    CHECK(strcmp(got.user, "carol@example.org") == 0 && got.device_id == 2);
    CHECK_MEM(got.noise_key, d2.noise_key, 32);
    CHECK(got.identity_key_len == 33);
    CHECK_MEM(got.identity_key, d2.identity_key, 33);
    CHECK(got.registration_id == d2.registration_id);
    CHECK(got.removed == 0);
    CHECK_RC(pstore_device_get(s, "carol@example.org", 3, &got), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_device_get(s, "carol@example.org", 0, &got), PARLEY_ERR_INVALID_ARG);

    /* The login path. */
    CHECK_RC(pstore_device_by_key(s, d5.noise_key, &got), PARLEY_OK);
    CHECK(strcmp(got.user, "carol@example.org") == 0 && got.device_id == 5);
    uint8_t unknown[32];
    memset(unknown, 0xee, sizeof unknown);
    CHECK_RC(pstore_device_by_key(s, unknown, &got), PARLEY_ERR_NOT_FOUND);

    pstore_device list[PSTORE_DEVICES_MAX];
    size_t n = 0;
    CHECK_RC(pstore_device_list(s, "carol@example.org", list, PSTORE_DEVICES_MAX, &n), PARLEY_OK);
    CHECK(n == 4);
    CHECK(n == 4 && list[0].device_id == 1 && list[1].device_id == 2 && list[2].device_id == 5 &&
          list[3].device_id == 6);
    CHECK_RC(pstore_device_list(s, "carol@example.org", list, 2, &n), PARLEY_ERR_BUFFER);
    CHECK_RC(pstore_device_list(s, "nobody@example.org", list, PSTORE_DEVICES_MAX, &n), PARLEY_OK);
    CHECK(n == 0);

    CHECK_RC(pstore_device_touch(s, "carol@example.org", 2, 1700009999), PARLEY_OK);
    CHECK_RC(pstore_device_get(s, "carol@example.org", 2, &got), PARLEY_OK);
    CHECK(got.last_seen == 1700009999);
    CHECK_RC(pstore_device_touch(s, "carol@example.org", 2, 1700000005), PARLEY_OK);
    CHECK_RC(pstore_device_get(s, "carol@example.org", 2, &got), PARLEY_OK);
    CHECK(got.last_seen == 1700009999); /* never goes back */
    CHECK_RC(pstore_device_touch(s, "carol@example.org", 9, 1), PARLEY_ERR_NOT_FOUND);

    /* Removal: out of the list, key and id never reused. */
    CHECK_RC(pstore_device_remove(s, "carol@example.org", 6), PARLEY_OK);
    CHECK_RC(pstore_device_remove(s, "carol@example.org", 6), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_device_by_key(s, d6.noise_key, &got), PARLEY_OK);
    CHECK(got.removed == 1);
    CHECK_RC(pstore_device_list(s, "carol@example.org", list, PSTORE_DEVICES_MAX, &n), PARLEY_OK);
    CHECK(n == 3);
    dup = make_device("carol@example.org", 0, 0x16);
    CHECK_RC(pstore_device_add(s, &dup), PARLEY_ERR_STORE_EXISTS);
    dup = make_device("carol@example.org", 0, 0x17);
    CHECK_RC(pstore_device_add(s, &dup), PARLEY_OK);
    CHECK(dup.device_id == 7);
    CHECK_RC(pstore_device_touch(s, "carol@example.org", 6, 1), PARLEY_ERR_NOT_FOUND);

    /* Bounds. */
    pstore_device bad = make_device("carol@example.org", 0, 0x30);
    bad.identity_key_len = PSTORE_PUBKEY_MAX + 1;
    CHECK_RC(pstore_device_add(s, &bad), PARLEY_ERR_STORE_TOO_LARGE);
    bad.identity_key_len = 5;
    CHECK_RC(pstore_device_add(s, &bad), PARLEY_ERR_INVALID_ARG);
    bad = make_device("carol@example.org", 0x80000000u, 0x30);
    CHECK_RC(pstore_device_add(s, &bad), PARLEY_ERR_INVALID_ARG);
    /* At most PSTORE_DEVICES_MAX live devices. */
    CHECK_RC(pstore_account_create(s, "erin@example.org", 1), PARLEY_OK);
    for (int i = 0; i < PSTORE_DEVICES_MAX; i++) {
        pstore_device e = make_device("erin@example.org", 0, (uint8_t)(0x40 + i));
        CHECK_RC(pstore_device_add(s, &e), PARLEY_OK);
    }
    pstore_device e = make_device("erin@example.org", 0, 0x40 + PSTORE_DEVICES_MAX);
    CHECK_RC(pstore_device_add(s, &e), PARLEY_ERR_STORE_LIMIT);
    CHECK_RC(pstore_device_remove(s, "erin@example.org", 3), PARLEY_OK);
    CHECK_RC(pstore_device_add(s, &e), PARLEY_OK);
}

static void test_devlist(pstore *s)
{
    uint8_t blob[PSTORE_DEVICE_LIST_MAX + 1], out[PSTORE_DEVICE_LIST_MAX];
    uint64_t v;
    size_t n;
    memset(blob, 0xab, sizeof blob);
    CHECK_RC(pstore_account_create(s, "frank@example.org", 1), PARLEY_OK);
    CHECK_RC(pstore_devlist_get(s, "frank@example.org", &v, out, sizeof out, &n),
             PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_devlist_put(s, "frank@example.org", 1, blob, 100), PARLEY_OK);
    CHECK_RC(pstore_devlist_get(s, "frank@example.org", &v, out, sizeof out, &n), PARLEY_OK);
    CHECK(v == 1 && n == 100);
    CHECK_MEM(out, blob, 100);
    /* Versions only go up. */
    blob[0] = 1;
    CHECK_RC(pstore_devlist_put(s, "frank@example.org", 1, blob, 50), PARLEY_ERR_STORE_STALE);
    CHECK_RC(pstore_devlist_put(s, "frank@example.org", 0, blob, 50), PARLEY_ERR_STORE_STALE);
    CHECK_RC(pstore_devlist_get(s, "frank@example.org", &v, out, sizeof out, &n), PARLEY_OK);
    CHECK(v == 1 && n == 100 && out[0] == 0xab);
    CHECK_RC(pstore_devlist_put(s, "frank@example.org", 7, blob, PSTORE_DEVICE_LIST_MAX),
             PARLEY_OK);
    CHECK_RC(pstore_devlist_get(s, "frank@example.org", &v, out, sizeof out, &n), PARLEY_OK);
    CHECK(v == 7 && n == PSTORE_DEVICE_LIST_MAX && out[0] == 1);
    CHECK_RC(pstore_devlist_get(s, "frank@example.org", &v, out, 10, &n), PARLEY_ERR_BUFFER);
    CHECK_RC(pstore_devlist_put(s, "frank@example.org", 8, blob, sizeof blob),
             PARLEY_ERR_STORE_TOO_LARGE);
    CHECK_RC(pstore_devlist_put(s, "frank@example.org", 8, blob, 0), PARLEY_ERR_INVALID_ARG);
    CHECK_RC(pstore_devlist_put(s, "ghost@example.org", 8, blob, 10), PARLEY_ERR_NOT_FOUND);
}

/* ---- prekeys ----------------------------------------------------------- */

static void test_prekeys(pstore *s)
{
    pstore_prekey k = make_prekey(41), got;
    uint32_t count = 99, remaining = 0;
    make_user(s, "gina@example.org", 2, 0x60);

    CHECK_RC(pstore_signed_prekey_get(s, "gina@example.org", 1, &got), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_signed_prekey_put(s, "gina@example.org", 1, &k), PARLEY_OK);
    CHECK_RC(pstore_signed_prekey_get(s, "gina@example.org", 1, &got), PARLEY_OK);
    CHECK(got.id == 41 && got.pub_len == 33);
    CHECK_MEM(got.pub, k.pub, 33);
    CHECK_MEM(got.sig, k.sig, 64);
    k = make_prekey(42); /* rotation replaces */
    CHECK_RC(pstore_signed_prekey_put(s, "gina@example.org", 1, &k), PARLEY_OK);
    CHECK_RC(pstore_signed_prekey_get(s, "gina@example.org", 1, &got), PARLEY_OK);
    CHECK(got.id == 42);
    CHECK_RC(pstore_signed_prekey_put(s, "gina@example.org", 9, &k), PARLEY_ERR_NOT_FOUND);
    k.pub_len = PSTORE_PUBKEY_MAX + 1;
    CHECK_RC(pstore_signed_prekey_put(s, "gina@example.org", 1, &k), PARLEY_ERR_STORE_TOO_LARGE);

    pstore_prekey batch[PSTORE_PREKEY_BATCH_MAX + 1];
    for (uint32_t i = 0; i < PSTORE_PREKEY_BATCH_MAX + 1; i++)
        batch[i] = make_prekey(100 + i);
    CHECK_RC(pstore_prekeys_count(s, "gina@example.org", 1, &count), PARLEY_OK);
    CHECK(count == 0);
    CHECK_RC(pstore_prekey_take(s, "gina@example.org", 1, &got, &remaining), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_prekeys_add(s, "gina@example.org", 1, batch, PSTORE_PREKEY_BATCH_MAX + 1),
             PARLEY_ERR_STORE_TOO_LARGE);
    CHECK_RC(pstore_prekeys_add(s, "gina@example.org", 1, batch, 0), PARLEY_ERR_INVALID_ARG);
    CHECK_RC(pstore_prekeys_add(s, "gina@example.org", 3, batch, 5), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_prekeys_add(s, "gina@example.org", 1, batch + 10, 20), PARLEY_OK);
    CHECK_RC(pstore_prekeys_add(s, "gina@example.org", 1, batch, 15), PARLEY_OK); /* 10..14 again */
    CHECK_RC(pstore_prekeys_count(s, "gina@example.org", 1, &count), PARLEY_OK);
    CHECK(count == 30);
    CHECK_RC(pstore_prekeys_count(s, "gina@example.org", 2, &count), PARLEY_OK);
    CHECK(count == 0);
    /* Lowest id first, each once. */
    for (uint32_t i = 0; i < 30; i++) {
        CHECK_RC(pstore_prekey_take(s, "gina@example.org", 1, &got, &remaining), PARLEY_OK);
        CHECK(got.id == 100 + i);
        CHECK(remaining == 29 - i);
        CHECK(got.pub_len == 33);
        CHECK_MEM(got.pub, batch[i].pub, 33);
    }
    CHECK_RC(pstore_prekey_take(s, "gina@example.org", 1, &got, NULL), PARLEY_ERR_NOT_FOUND);
    /* A device holds at most PSTORE_PREKEYS_MAX; a batch going over is
     * refused whole. */
    for (uint32_t b = 0; b < PSTORE_PREKEYS_MAX / PSTORE_PREKEY_BATCH_MAX; b++) {
        for (uint32_t i = 0; i < PSTORE_PREKEY_BATCH_MAX; i++)
            batch[i] = make_prekey(1000 + b * PSTORE_PREKEY_BATCH_MAX + i);
        CHECK_RC(pstore_prekeys_add(s, "gina@example.org", 2, batch, PSTORE_PREKEY_BATCH_MAX),
                 PARLEY_OK);
    }
    batch[0] = make_prekey(99999);
    CHECK_RC(pstore_prekeys_add(s, "gina@example.org", 2, batch, 1), PARLEY_ERR_STORE_LIMIT);
    CHECK_RC(pstore_prekeys_count(s, "gina@example.org", 2, &count), PARLEY_OK);
    CHECK(count == PSTORE_PREKEYS_MAX);
    /* Removing the device drops its keys. */
    CHECK_RC(pstore_device_remove(s, "gina@example.org", 2), PARLEY_OK);
    CHECK_RC(pstore_prekeys_count(s, "gina@example.org", 2, &count), PARLEY_OK);
    CHECK(count == 0);
    CHECK_RC(pstore_prekey_take(s, "gina@example.org", 2, &got, NULL), PARLEY_ERR_NOT_FOUND);
}

/* ---- the queue --------------------------------------------------------- */

typedef struct {
    uint64_t ids[64];
    char text[64][96];
    size_t n;
    int stop_after;
} fetched;

static int collect(void *ctx, const pstore_envelope *env)
{
    fetched *f = ctx;
    if (f->stop_after && (int)f->n == f->stop_after)
        return PARLEY_ERR_STATE;
    if (f->n < 64) {
        f->ids[f->n] = env->server_id;
        snprintf(f->text[f->n], sizeof f->text[0], "%.*s|%s/%u|%s|%lld", (int)env->stanza_len,
                 (const char *)env->stanza, env->sender, env->sender_device, env->client_id,
                 (long long)env->timestamp);
    }
    f->n++;
    return PARLEY_OK;
}

static pstore_envelope envelope(const char *to, uint32_t to_dev, const char *id, const char *body)
{
    pstore_envelope e;
    memset(&e, 0, sizeof e);
    e.recipient = to;
    e.recipient_device = to_dev;
    e.sender = "hank@example.org";
    e.sender_device = 1;
    e.client_id = id;
    e.timestamp = 1700000000123;
    e.stanza = (const uint8_t *)body;
    e.stanza_len = strlen(body);
    return e;
}

static void test_queue(pstore *s)
{
    uint64_t sid, ids[8];
    int dup = -1;
    uint64_t count = 0;
    make_user(s, "hank@example.org", 1, 0x80);
    make_user(s, "iris@example.org", 2, 0x90);

    pstore_envelope e = envelope("iris@example.org", 3, "m0", "<message/>");
    CHECK_RC(pstore_enqueue(s, &e, &sid, &dup), PARLEY_ERR_NOT_FOUND);
    e = envelope("ghost@example.org", 1, "m0", "<message/>");
    CHECK_RC(pstore_enqueue(s, &e, &sid, &dup), PARLEY_ERR_NOT_FOUND);

    /* Interleave two recipient devices. */
    char id[8], body[16];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof id, "m%d", i);
        snprintf(body, sizeof body, "body%d", i);
        e = envelope("iris@example.org", (uint32_t)(i % 2 + 1), id, body);
        CHECK_RC(pstore_enqueue(s, &e, &ids[i], &dup), PARLEY_OK);
        CHECK(dup == 0);
        if (i > 0)
            CHECK(ids[i] > ids[i - 1]);
    }
    CHECK_RC(pstore_queue_count(s, "iris@example.org", 1, &count), PARLEY_OK);
    CHECK(count == 4);
    fetched f;
    memset(&f, 0, sizeof f);
    CHECK_RC(pstore_fetch(s, "iris@example.org", 1, 0, 100, collect, &f), PARLEY_OK);
    CHECK(f.n == 4);
    CHECK(f.ids[0] == ids[0] && f.ids[1] == ids[2] && f.ids[2] == ids[4] && f.ids[3] == ids[6]);
    CHECK(strcmp(f.text[0], "body0|hank@example.org/1|m0|1700000000123") == 0);
    CHECK(strcmp(f.text[3], "body6|hank@example.org/1|m6|1700000000123") == 0);
    /* Paging: a limit, then after the last id seen. */
    memset(&f, 0, sizeof f);
    CHECK_RC(pstore_fetch(s, "iris@example.org", 2, 0, 2, collect, &f), PARLEY_OK);
    CHECK(f.n == 2 && f.ids[0] == ids[1] && f.ids[1] == ids[3]);
    uint64_t last = f.ids[1];
    memset(&f, 0, sizeof f);
    CHECK_RC(pstore_fetch(s, "iris@example.org", 2, last, 2, collect, &f), PARLEY_OK);
    CHECK(f.n == 2 && f.ids[0] == ids[5] && f.ids[1] == ids[7]);
    /* A callback error stops the fetch and comes back. */
    memset(&f, 0, sizeof f);
    f.stop_after = 1;
    CHECK_RC(pstore_fetch(s, "iris@example.org", 2, 0, 10, collect, &f), PARLEY_ERR_STATE);
    CHECK(f.n == 1);

    /* Dedupe: the same message re-sent is not queued twice. */
    e = envelope("iris@example.org", 1, "m0", "body0-again");
    CHECK_RC(pstore_enqueue(s, &e, &sid, &dup), PARLEY_OK);
    CHECK(dup == 1 && sid == ids[0]);
    CHECK_RC(pstore_queue_count(s, "iris@example.org", 1, &count), PARLEY_OK);
    CHECK(count == 4);
    /* ... but the same client id from another sender device is new. */
    e.sender_device = 2;
    CHECK_RC(pstore_enqueue(s, &e, &sid, &dup), PARLEY_OK);
    CHECK(dup == 0 && sid > ids[7]);
    CHECK_RC(pstore_ack(s, "iris@example.org", 1, sid), PARLEY_OK);

    /* Ack deletes only the acking device's own entry. */
    CHECK_RC(pstore_ack(s, "iris@example.org", 2, ids[0]), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_ack(s, "hank@example.org", 1, ids[0]), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_queue_count(s, "iris@example.org", 1, &count), PARLEY_OK);
    CHECK(count == 4);
    CHECK_RC(pstore_ack(s, "iris@example.org", 1, ids[0]), PARLEY_OK);
    CHECK_RC(pstore_ack(s, "iris@example.org", 1, ids[0]), PARLEY_ERR_NOT_FOUND);
    CHECK_RC(pstore_queue_count(s, "iris@example.org", 1, &count), PARLEY_OK);
    CHECK(count == 3);
    CHECK_RC(pstore_queue_count(s, "iris@example.org", 2, &count), PARLEY_OK);
    CHECK(count == 4);
    CHECK_RC(pstore_ack(s, "iris@example.org", 1, 0), PARLEY_ERR_INVALID_ARG);

    /* Server ids are never reused, even once the newest is acked. */
    e = envelope("iris@example.org", 1, "m100", "x");
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_OK);
    CHECK_RC(pstore_ack(s, "iris@example.org", 1, sid), PARLEY_OK);
    uint64_t prev = sid;
    e = envelope("iris@example.org", 1, "m101", "y");
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_OK);
    CHECK(sid > prev);

    /* Bounds. */
    static uint8_t big[PSTORE_STANZA_MAX + 1];
    memset(big, 'z', sizeof big);
    e = envelope("iris@example.org", 1, "big", "");
    e.stanza = big;
    e.stanza_len = PSTORE_STANZA_MAX;
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_OK); /* the largest allowed */
    e.client_id = "bigger";
    e.stanza_len = PSTORE_STANZA_MAX + 1;
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_ERR_STORE_TOO_LARGE);
    e.stanza_len = 0;
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_ERR_INVALID_ARG);
    char longid[PSTORE_CLIENT_ID_MAX + 2];
    memset(longid, 'i', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    e = envelope("iris@example.org", 1, longid, "x");
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_ERR_STORE_TOO_LARGE);
    e = envelope("iris@example.org", 1, "", "x");
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_ERR_INVALID_ARG);
    e = envelope("iris@example.org", 0, "m9", "x");
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_ERR_INVALID_ARG);
    e = envelope("iris@example.org", 1, "m9", "x");
    e.sender = "not an address";
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_ERR_INVALID_ARG);
    memset(&f, 0, sizeof f);
    CHECK_RC(pstore_fetch(s, "iris@example.org", 1, 0, PSTORE_FETCH_MAX + 1, collect, &f),
             PARLEY_ERR_STORE_TOO_LARGE);
    CHECK_RC(pstore_fetch(s, "iris@example.org", 1, 0, 0, collect, &f), PARLEY_ERR_INVALID_ARG);

    /* Removing a device drops its queue. */
    CHECK_RC(pstore_device_remove(s, "iris@example.org", 2), PARLEY_OK);
    CHECK_RC(pstore_queue_count(s, "iris@example.org", 2, &count), PARLEY_OK);
    CHECK(count == 0);
    e = envelope("iris@example.org", 2, "m200", "late");
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_ERR_NOT_FOUND);
}

/* ---- group commit ------------------------------------------------------ */

typedef struct {
    int calls;
    int rc[2100];
    uint64_t server_id[2100];
    uint32_t key_id[2100];
    int duplicate[2100];
} results;

typedef struct {
    results *r;
    int i;
} slot;

static void on_done(void *arg, const pstore_op *op)
{
    slot *sl = arg;
    results *r = sl->r;
    r->calls++;
    r->rc[sl->i] = op->rc;
    if (op->kind == PSTORE_OP_ENQUEUE) {
        r->server_id[sl->i] = op->u.enq.server_id;
        r->duplicate[sl->i] = op->u.enq.duplicate;
    } else if (op->kind == PSTORE_OP_PREKEY_TAKE && op->rc == PARLEY_OK) {
        r->key_id[sl->i] = op->u.take.key.id;
    }
}

/* Wait (bounded) for the channel's fd, then run its callbacks, until
 * `want` callbacks in all have run. */
static void drain(pstore_chan *c, results *r, int want)
{
    for (int spins = 0; r->calls < want && spins < 6000; spins++) {
        struct pollfd p = {.fd = pstore_chan_fd(c), .events = POLLIN};
        if (poll(&p, 1, 10) > 0)
            (void)pstore_chan_dispatch(c);
    }
}

/* Submit n enqueues of "<prefix><i>" for user's device through c, each
 * reporting to r at slots[i], gap_us apart. */
static void submit_n(pstore_chan *c, results *r, slot *slots, const char *user, uint32_t device,
                     const char *prefix, int n, unsigned gap_us)
{
    char id[24];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%s%d", prefix, i);
        pstore_envelope e = envelope(user, device, id, "<m/>");
        slots[i] = (slot){r, i};
        CHECK_RC(pstore_submit_enqueue(c, &e, on_done, &slots[i]), PARLEY_OK);
        if (gap_us > 0)
            usleep(gap_us);
    }
}

static void test_group_commit(pstore *s)
{
    enum { N = 2000 };
    static results r;
    static slot slots[N + 100];
    pstore_chan *c = NULL;
    char id[16];
    make_user(s, "jack@example.org", 2, 0xa0);
    CHECK_RC(pstore_chan_new(s, &c), PARLEY_OK);
    CHECK(pstore_chan_fd(c) >= 0);
    CHECK(pstore_chan_dispatch(c) == 0); /* nothing yet, never blocks */

    memset(&r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "g%d", i);
        pstore_envelope e = envelope("jack@example.org", (uint32_t)(i % 2 + 1), id, "<m>hi</m>");
        slots[i] = (slot){&r, i};
        CHECK_RC(pstore_submit_enqueue(c, &e, on_done, &slots[i]), PARLEY_OK);
    }
    /* A refused submission fails at once and its callback never runs. */
    pstore_envelope bad = envelope("jack@example.org", 1, "bad", "x");
    bad.stanza_len = PSTORE_STANZA_MAX + 1;
    CHECK_RC(pstore_submit_enqueue(c, &bad, on_done, &slots[N]), PARLEY_ERR_STORE_TOO_LARGE);
    CHECK_RC(pstore_submit_ack(c, "jack@example.org", 0, 5, on_done, &slots[N]),
             PARLEY_ERR_INVALID_ARG);
    drain(c, &r, N);
    CHECK(r.calls == N);
    int ok = 1;
    for (int i = 0; i < N; i++) {
        ok &= r.rc[i] == PARLEY_OK && r.duplicate[i] == 0;
        /* Submission order is commit order. */
        if (i > 0)
            ok &= r.server_id[i] > r.server_id[i - 1];
    }
    CHECK(ok);
    uint64_t count = 0;
    CHECK_RC(pstore_queue_count(s, "jack@example.org", 1, &count), PARLEY_OK);
    CHECK(count == N / 2);
    pstore_stats st;
    pstore_get_stats(s, &st);
    CHECK(st.ops == N && st.pending_ops == 0 && st.pending_bytes == 0);
    CHECK(st.batches >= 1 && st.batches <= N);
    CHECK(st.largest_batch >= 1 && st.largest_batch <= PSTORE_BATCH_MAX);

    /* A re-sent message and an unknown device, through the same path. */
    memset(&r, 0, sizeof r);
    pstore_envelope again = envelope("jack@example.org", 1, "g0", "<m>hi</m>");
    slots[0] = (slot){&r, 0};
    CHECK_RC(pstore_submit_enqueue(c, &again, on_done, &slots[0]), PARLEY_OK);
    pstore_envelope lost = envelope("jack@example.org", 9, "g0", "<m>hi</m>");
    slots[1] = (slot){&r, 1};
    CHECK_RC(pstore_submit_enqueue(c, &lost, on_done, &slots[1]), PARLEY_OK);
    drain(c, &r, 2);
    CHECK(r.rc[0] == PARLEY_OK && r.duplicate[0] == 1);
    CHECK(r.rc[1] == PARLEY_ERR_NOT_FOUND);

    /* Acks: device 1's own entries go; device 2 cannot ack them. */
    static uint64_t sids[N];
    memset(&r, 0, sizeof r);
    fetched f;
    memset(&f, 0, sizeof f);
    CHECK_RC(pstore_fetch(s, "jack@example.org", 1, 0, 3, collect, &f), PARLEY_OK);
    CHECK(f.n == 3);
    memcpy(sids, f.ids, sizeof(uint64_t) * 3);
    for (int i = 0; i < 3; i++) {
        slots[i] = (slot){&r, i};
        CHECK_RC(pstore_submit_ack(c, "jack@example.org", 2, sids[i], on_done, &slots[i]),
                 PARLEY_OK);
        slots[3 + i] = (slot){&r, 3 + i};
        CHECK_RC(pstore_submit_ack(c, "jack@example.org", 1, sids[i], on_done, &slots[3 + i]),
                 PARLEY_OK);
    }
    drain(c, &r, 6);
    CHECK(r.rc[0] == PARLEY_ERR_NOT_FOUND && r.rc[1] == PARLEY_ERR_NOT_FOUND &&
          r.rc[2] == PARLEY_ERR_NOT_FOUND);
    CHECK(r.rc[3] == PARLEY_OK && r.rc[4] == PARLEY_OK && r.rc[5] == PARLEY_OK);
    CHECK_RC(pstore_queue_count(s, "jack@example.org", 1, &count), PARLEY_OK);
    CHECK(count == N / 2 - 3);

    /* Prekey takes through the queue. */
    pstore_prekey keys[10];
    for (uint32_t i = 0; i < 10; i++)
        keys[i] = make_prekey(500 + i);
    CHECK_RC(pstore_prekeys_add(s, "jack@example.org", 1, keys, 10), PARLEY_OK);
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 12; i++) {
        slots[i] = (slot){&r, i};
        CHECK_RC(pstore_submit_prekey_take(c, "jack@example.org", 1, on_done, &slots[i]),
                 PARLEY_OK);
    }
    drain(c, &r, 12);
    ok = 1;
    for (int i = 0; i < 10; i++)
        ok &= r.rc[i] == PARLEY_OK && r.key_id[i] == 500u + (uint32_t)i;
    CHECK(ok);
    CHECK(r.rc[10] == PARLEY_ERR_NOT_FOUND && r.rc[11] == PARLEY_ERR_NOT_FOUND);

    /* Freeing a channel waits for and runs what is still in flight. */
    memset(&r, 0, sizeof r);
    submit_n(c, &r, slots, "jack@example.org", 2, "late", 50, 0);
    pstore_chan_free(c);
    CHECK(r.calls == 50);
}

/* Several event loops, each with its own channel, submitting at once. */
typedef struct {
    pstore *s;
    int loop;
    results r;
    slot slots[1000];
    int submit_errors;
} loop_ctx;

static void *loop_main(void *arg)
{
    loop_ctx *l = arg;
    pstore_chan *c = NULL;
    char id[24];
    if (pstore_chan_new(l->s, &c) < 0) {
        l->submit_errors++;
        return NULL;
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "loop%d-%d", l->loop, i);
        pstore_envelope e = envelope("ruth@example.org", 1, id, "<m/>");
        l->slots[i] = (slot){&l->r, i};
        if (pstore_submit_enqueue(c, &e, on_done, &l->slots[i]) < 0)
            l->submit_errors++;
        if (i % 100 == 0)
            (void)pstore_chan_dispatch(c);
    }
    drain(c, &l->r, 1000);
    pstore_chan_free(c);
    return NULL;
}

static void test_loops(pstore *s)
{
    enum { LOOPS = 3 };
    static loop_ctx loops[LOOPS];
    pthread_t t[LOOPS];
    make_user(s, "ruth@example.org", 1, 0x70);
    for (int i = 0; i < LOOPS; i++) {
        memset(&loops[i], 0, sizeof loops[i]);
        loops[i].s = s;
        loops[i].loop = i;
        CHECK(pthread_create(&t[i], NULL, loop_main, &loops[i]) == 0);
    }
    for (int i = 0; i < LOOPS; i++)
        pthread_join(t[i], NULL);
    int ok = 1;
    for (int i = 0; i < LOOPS; i++) {
        ok &= loops[i].submit_errors == 0 && loops[i].r.calls == 1000;
        for (int j = 0; j < 1000; j++) {
            ok &= loops[i].r.rc[j] == PARLEY_OK && loops[i].r.duplicate[j] == 0;
            /* Each loop sees its own submissions committed in order. */
            if (j > 0)
                ok &= loops[i].r.server_id[j] > loops[i].r.server_id[j - 1];
        }
    }
    CHECK(ok);
    uint64_t count = 0;
    CHECK_RC(pstore_queue_count(s, "ruth@example.org", 1, &count), PARLEY_OK);
    CHECK(count == LOOPS * 1000);
}

/* ---- exactly once, threads --------------------------------------------- */

enum { RACE_KEYS = 600, RACE_THREADS = 6 };
static int race_seen[RACE_KEYS];
static pthread_mutex_t race_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    pstore *s;
    int taken;
    int errors;
} racer;

static void *race_main(void *arg)
{
    racer *ra = arg;
    for (;;) {
        pstore_prekey k;
        int rc = pstore_prekey_take(ra->s, "kate@example.org", 1, &k, NULL);
        if (rc == PARLEY_ERR_NOT_FOUND)
            break;
        if (rc < 0 || k.id < 1 || k.id > RACE_KEYS) {
            ra->errors++;
            break;
        }
        pthread_mutex_lock(&race_mu);
        race_seen[k.id - 1]++;
        pthread_mutex_unlock(&race_mu);
        ra->taken++;
    }
    return NULL;
}

static void add_race_keys(pstore *s, const char *user)
{
    pstore_prekey batch[PSTORE_PREKEY_BATCH_MAX];
    for (uint32_t b = 0; b < RACE_KEYS / PSTORE_PREKEY_BATCH_MAX; b++) {
        for (uint32_t i = 0; i < PSTORE_PREKEY_BATCH_MAX; i++)
            batch[i] = make_prekey(1 + b * PSTORE_PREKEY_BATCH_MAX + i);
        CHECK_RC(pstore_prekeys_add(s, user, 1, batch, PSTORE_PREKEY_BATCH_MAX), PARLEY_OK);
    }
}

static void test_take_threads(pstore *s)
{
    make_user(s, "kate@example.org", 1, 0xb0);
    add_race_keys(s, "kate@example.org");
    pthread_t t[RACE_THREADS];
    racer ra[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        ra[i] = (racer){s, 0, 0};
        CHECK(pthread_create(&t[i], NULL, race_main, &ra[i]) == 0);
    }
    int total = 0, errors = 0;
    for (int i = 0; i < RACE_THREADS; i++) {
        pthread_join(t[i], NULL);
        total += ra[i].taken;
        errors += ra[i].errors;
    }
    CHECK(errors == 0);
    CHECK(total == RACE_KEYS);
    int once = 1;
    for (int i = 0; i < RACE_KEYS; i++)
        once &= race_seen[i] == 1;
    CHECK(once);
}

/* ---- exactly once, processes -------------------------------------------- */

static void test_take_processes(void)
{
    enum { PROCS = 3 };
    char path[128];
    path_of(path, sizeof path, "procs.db");
    pstore *s = open_store("procs.db", PSTORE_SYNC_FULL);
    make_user(s, "liam@example.org", 1, 0xc0);
    add_race_keys(s, "liam@example.org");
    /* Nothing of SQLite may cross a fork: close first, each child opens. */
    pstore_close(s);

    int fds[PROCS][2];
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        CHECK(pipe(fds[p]) == 0);
        pids[p] = fork();
        if (pids[p] == 0) {
            close(fds[p][0]);
            pstore *cs = NULL;
            if (pstore_open_sqlite(&cs, path, NULL) < 0)
                _exit(2);
            for (;;) {
                pstore_prekey k;
                int rc = pstore_prekey_take(cs, "liam@example.org", 1, &k, NULL);
                if (rc == PARLEY_ERR_NOT_FOUND)
                    break;
                if (rc < 0)
                    _exit(3);
                if (write(fds[p][1], &k.id, sizeof k.id) != sizeof k.id)
                    _exit(4);
            }
            pstore_close(cs);
            _exit(0);
        }
        close(fds[p][1]);
    }
    static int seen[RACE_KEYS];
    int total = 0, bad = 0, children_ok = 1;
    for (int p = 0; p < PROCS; p++) {
        uint32_t id;
        ssize_t n;
        while ((n = read(fds[p][0], &id, sizeof id)) == sizeof id) {
            if (id < 1 || id > RACE_KEYS)
                bad++;
            else
                seen[id - 1]++;
            total++;
        }
        close(fds[p][0]);
        int status = 0;
        waitpid(pids[p], &status, 0);
        children_ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    CHECK(children_ok);
    CHECK(bad == 0);
    CHECK(total == RACE_KEYS);
    int once = 1;
    for (int i = 0; i < RACE_KEYS; i++)
        once &= seen[i] == 1;
    CHECK(once);
}

/* Several processes open one new database at the same moment, as the
 * servers of `parleyd --processes` do on a first start: every one of them
 * must succeed, however the switch to WAL interleaves. */
static void test_open_together(void)
{
    enum { PROCS = 4, ROUNDS = 25 };
    int all_ok = 1;
    for (int round = 0; round < ROUNDS && all_ok; round++) {
        char name[32], path[128];
        snprintf(name, sizeof name, "together%d.db", round);
        path_of(path, sizeof path, name);
        int go[2];
        CHECK(pipe(go) == 0);
        pid_t pids[PROCS];
        for (int p = 0; p < PROCS; p++) {
            pids[p] = fork();
            if (pids[p] == 0) {
                char b;
                close(go[1]);
                /* Wait for the start signal (the write end closing). */
                if (read(go[0], &b, 1) != 0)
                    _exit(5);
                pstore *cs = NULL;
                int rc = pstore_open_sqlite(&cs, path, NULL);
                if (rc < 0) {
                    fprintf(stderr, "open together: %s\n", parley_strerror(rc));
                    _exit(2);
                }
                pstore_close(cs);
                _exit(0);
            }
        }
        close(go[0]);
        close(go[1]);
        for (int p = 0; p < PROCS; p++) {
            int status = 0;
            waitpid(pids[p], &status, 0);
            all_ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
    }
    CHECK(all_ok);
}

/* ---- crash safety ------------------------------------------------------ */

typedef struct {
    int fd;
    int inflight;
    int failed;
} crash_ctx;

static void crash_done(void *arg, const pstore_op *op)
{
    crash_ctx *cc = arg;
    cc->inflight--;
    if (op->rc != PARLEY_OK) {
        cc->failed = 1;
        return;
    }
    /* Reported only now: the batch holding it is durable. */
    uint64_t id = op->u.enq.server_id;
    if (write(cc->fd, &id, sizeof id) != sizeof id)
        cc->failed = 1;
}

static void crash_child(const char *path, int fd)
{
    pstore *s = NULL;
    pstore_chan *c = NULL;
    crash_ctx cc = {fd, 0, 0};
    if (pstore_open_sqlite(&s, path, NULL) < 0 || pstore_chan_new(s, &c) < 0)
        _exit(2);
    char id[24];
    for (int i = 0; i < 200000 && !cc.failed; i++) {
        snprintf(id, sizeof id, "c%d", i);
        pstore_envelope e = envelope("mia@example.org", 1, id, "<message>crash</message>");
        while (cc.inflight >= 256) {
            struct pollfd p = {.fd = pstore_chan_fd(c), .events = POLLIN};
            (void)poll(&p, 1, 100);
            (void)pstore_chan_dispatch(c);
        }
        if (pstore_submit_enqueue(c, &e, crash_done, &cc) < 0)
            _exit(3);
        cc.inflight++;
        (void)pstore_chan_dispatch(c);
    }
    _exit(cc.failed ? 4 : 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    uint64_t *ids;
    size_t n, cap;
} idset;

static int collect_ids(void *ctx, const pstore_envelope *env)
{
    idset *set = ctx;
    if (set->n == set->cap)
        return PARLEY_ERR_BUFFER;
    set->ids[set->n++] = env->server_id;
    return PARLEY_OK;
}

static void test_crash(void)
{
    enum { KILL_AFTER = 3000 };
    char path[128];
    path_of(path, sizeof path, "crash.db");
    pstore *s = open_store("crash.db", PSTORE_SYNC_FULL);
    make_user(s, "mia@example.org", 1, 0xd0);
    pstore_close(s);

    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        crash_child(path, fds[1]);
    }
    close(fds[1]);
    size_t cap = 256 * 1024, n = 0;
    uint64_t *reported = malloc(cap * sizeof *reported);
    uint64_t id;
    int killed = 0;
    while (read(fds[0], &id, sizeof id) == sizeof id) {
        if (n < cap)
            reported[n++] = id;
        if (!killed && n >= KILL_AFTER) {
            /* Mid-burst: the writer thread is committing and the loop
             * submitting when the process dies. */
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(killed);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(n >= KILL_AFTER);

    /* Reopen and find every id the child reported durable. */
    s = open_store("crash.db", PSTORE_SYNC_FULL);
    idset set = {malloc(cap * sizeof(uint64_t)), 0, cap};
    uint64_t after = 0;
    int rc = PARLEY_OK;
    for (;;) {
        size_t before = set.n;
        rc = pstore_fetch(s, "mia@example.org", 1, after, PSTORE_FETCH_MAX, collect_ids, &set);
        if (rc < 0 || set.n == before)
            break;
        after = set.ids[set.n - 1];
    }
    CHECK_RC(rc, PARLEY_OK);
    CHECK(set.n >= n);
    qsort(set.ids, set.n, sizeof(uint64_t), cmp_u64);
    size_t missing = 0;
    for (size_t i = 0; i < n; i++)
        if (!bsearch(&reported[i], set.ids, set.n, sizeof(uint64_t), cmp_u64))
            missing++;
    CHECK(missing == 0);
    printf("crash: %zu ids reported durable before SIGKILL, %zu in the reopened store\n", n, set.n);
    if (missing)
        fprintf(stderr, "crash: %zu of %zu reported ids missing\n", missing, n);
    /* And the store still takes writes. */
    pstore_envelope e = envelope("mia@example.org", 1, "after-crash", "x");
    uint64_t sid = 0;
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_OK);
    CHECK(sid > reported[n - 1]);
    pstore_close(s);
    free(set.ids);
    free(reported);
}

/* ---- damaged and foreign files ----------------------------------------- */

static void test_corrupt(void)
{
    char path[128];
    pstore *s = NULL;

    /* Not a database at all. */
    path_of(path, sizeof path, "garbage.db");
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 8192; i++)
        fputc((i * 131 + 7) & 0xff, f);
    fclose(f);
    CHECK_RC(pstore_open_sqlite(&s, path, NULL), PARLEY_ERR_STORE_CORRUPT);
    CHECK(s == NULL);

    /* A database whose pages after the first were overwritten: the schema
     * on page 1 still reads, every table behind it is damaged. */
    path_of(path, sizeof path, "smashed.db");
    s = open_store("smashed.db", PSTORE_SYNC_NORMAL);
    make_user(s, "noah@example.org", 1, 0xe0);
    char id[16];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "s%d", i);
        pstore_envelope e =
            envelope("noah@example.org", 1, id, "<message>padding padding</message>");
        uint64_t sid;
        CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_OK);
    }
    pstore_close(s);
    s = NULL;
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 16384);
    int fd = open(path, O_WRONLY);
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    for (off_t off = 4096; off < st.st_size; off += 4096)
        CHECK(pwrite(fd, junk, sizeof junk, off) == (ssize_t)sizeof junk);
    close(fd);
    CHECK_RC(pstore_open_sqlite(&s, path, NULL), PARLEY_ERR_STORE_CORRUPT);
    CHECK(s == NULL);

    /* Damage confined to the queue and device tables: the store opens (its
     * schema_version page is intact) and each operation on a damaged
     * table reports corruption. */
    path_of(path, sizeof path, "tables.db");
    s = open_store("tables.db", PSTORE_SYNC_NORMAL);
    make_user(s, "noah@example.org", 1, 0xe0);
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "s%d", i);
        pstore_envelope e =
            envelope("noah@example.org", 1, id, "<message>padding padding</message>");
        uint64_t sid;
        CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_OK);
    }
    pstore_close(s);
    s = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int64_t roots[8];
    int nroots = 0;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT rootpage FROM sqlite_schema WHERE tbl_name IN"
                             " ('queue', 'devices') AND rootpage > 1",
                             -1, &q, NULL) == SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW && nroots < 8)
        roots[nroots++] = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    CHECK(nroots >= 4);
    fd = open(path, O_WRONLY);
    for (int i = 0; i < nroots; i++)
        CHECK(pwrite(fd, junk, sizeof junk, (off_t)(roots[i] - 1) * 4096) == (ssize_t)sizeof junk);
    close(fd);
    s = open_store("tables.db", PSTORE_SYNC_NORMAL);
    uint64_t count;
    pstore_device d;
    pstore_account acct;
    fetched fe;
    memset(&fe, 0, sizeof fe);
    CHECK_RC(pstore_account_get(s, "noah@example.org", &acct), PARLEY_OK);
    CHECK_RC(pstore_queue_count(s, "noah@example.org", 1, &count), PARLEY_ERR_STORE_CORRUPT);
    CHECK_RC(pstore_fetch(s, "noah@example.org", 1, 0, 10, collect, &fe), PARLEY_ERR_STORE_CORRUPT);
    CHECK(fe.n == 0);
    CHECK_RC(pstore_device_get(s, "noah@example.org", 1, &d), PARLEY_ERR_STORE_CORRUPT);
    pstore_envelope e = envelope("noah@example.org", 1, "x", "x");
    uint64_t sid;
    CHECK_RC(pstore_enqueue(s, &e, &sid, NULL), PARLEY_ERR_STORE_CORRUPT);
    CHECK_RC(pstore_ack(s, "noah@example.org", 1, 1), PARLEY_ERR_STORE_CORRUPT);
    pstore_close(s);

    /* Written by a newer build: refused, not misread. */
    path_of(path, sizeof path, "newer.db");
    s = open_store("newer.db", PSTORE_SYNC_NORMAL);
    pstore_close(s);
    db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "INSERT INTO schema_version(version) VALUES(99)", NULL, NULL, NULL) ==
          SQLITE_OK);
    sqlite3_close(db);
    s = NULL;
    CHECK_RC(pstore_open_sqlite(&s, path, NULL), PARLEY_ERR_STORE_SCHEMA);

    /* An unusable path. */
    CHECK_RC(pstore_open_sqlite(&s, "/nonexistent-dir/x.db", NULL), PARLEY_ERR_IO);
    path_of(path, sizeof path, "");
    CHECK_RC(pstore_open_sqlite(&s, path, NULL), PARLEY_ERR_IO); /* a directory */
}

static void test_checkpoint(void)
{
    /* The checkpointer thread copies the WAL into the database file while
     * the store is open: write well past SQ_CHECKPOINT_PAGES (4 MiB) and
     * wait, bounded, for the main file to grow. */
    enum { N = 6000 };
    static results r;
    static slot slots[N];
    static uint8_t body[1500];
    char path[128], id[16];
    struct stat st;
    path_of(path, sizeof path, "ckpt.db");
    pstore *s = open_store("ckpt.db", PSTORE_SYNC_NORMAL);
    make_user(s, "pete@example.org", 1, 0x20);
    CHECK(stat(path, &st) == 0 && st.st_size < 1024 * 1024);
    pstore_chan *c = NULL;
    CHECK_RC(pstore_chan_new(s, &c), PARLEY_OK);
    memset(&r, 0, sizeof r);
    memset(body, 'b', sizeof body);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "k%d", i);
        pstore_envelope e = envelope("pete@example.org", 1, id, "");
        e.stanza = body;
        e.stanza_len = sizeof body;
        slots[i] = (slot){&r, i % 2000};
        CHECK_RC(pstore_submit_enqueue(c, &e, on_done, &slots[i]), PARLEY_OK);
    }
    drain(c, &r, N);
    CHECK(r.calls == N);
    pstore_chan_free(c);
    int grown = 0;
    for (int i = 0; i < 400 && !grown; i++) {
        grown = stat(path, &st) == 0 && st.st_size >= 4 * 1024 * 1024;
        if (!grown)
            usleep(50000);
    }
    CHECK(grown);
    pstore_close(s);
}

/* Another connection holds the write lock: the commit queue fills up to its
 * memory bound and refuses with PARLEY_ERR_AGAIN (back-pressure), then
 * drains when the lock is released; a store with a short busy timeout
 * reports PARLEY_ERR_STORE_BUSY, and reads go on meanwhile (WAL). */
static void test_backpressure(void)
{
    enum { MAX_OPS = 4000 };
    static results r;
    static slot slots[MAX_OPS];
    static uint8_t body[PSTORE_STANZA_MAX];
    char path[128], id[16];
    path_of(path, sizeof path, "busy.db");
    pstore_sqlite_config slow = {.sync = PSTORE_SYNC_NORMAL, .busy_timeout_ms = 20000};
    pstore *s = NULL;
    CHECK_RC(pstore_open_sqlite(&s, path, &slow), PARLEY_OK);
    if (!s)
        return;
    make_user(s, "quinn@example.org", 1, 0x30);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);

    pstore_chan *c = NULL;
    CHECK_RC(pstore_chan_new(s, &c), PARLEY_OK);
    memset(&r, 0, sizeof r);
    memset(body, 'q', sizeof body);
    int submitted = 0, rc = PARLEY_OK;
    while (submitted < MAX_OPS) {
        snprintf(id, sizeof id, "q%d", submitted);
        pstore_envelope e = envelope("quinn@example.org", 1, id, "");
        e.stanza = body;
        e.stanza_len = sizeof body;
        slots[submitted] = (slot){&r, submitted % 2000};
        rc = pstore_submit_enqueue(c, &e, on_done, &slots[submitted]);
        if (rc < 0)
            break;
        submitted++;
    }
    CHECK_RC(rc, PARLEY_ERR_AGAIN);
    /* 64 MiB of stanzas of 64 KiB, give or take the batch the writer holds. */
    CHECK(submitted >= 900 && submitted < 3000);
    pstore_stats st;
    pstore_get_stats(s, &st);
    CHECK(st.pending_bytes <= PSTORE_COMMIT_QUEUE_BYTES_MAX);
    CHECK(st.pending_bytes > PSTORE_COMMIT_QUEUE_BYTES_MAX / 2);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    drain(c, &r, submitted);
    CHECK(r.calls == submitted);
    int ok = 1;
    for (int i = 0; i < submitted && i < 2000; i++)
        ok &= r.rc[i] == PARLEY_OK;
    CHECK(ok);
    pstore_chan_free(c);

    /* A short busy timeout: the lock outlasts it. */
    pstore_sqlite_config quick = {.sync = PSTORE_SYNC_NORMAL, .busy_timeout_ms = 50};
    pstore *q = NULL;
    CHECK_RC(pstore_open_sqlite(&q, path, &quick), PARLEY_OK);
    if (q) {
        CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
        pstore_envelope e = envelope("quinn@example.org", 1, "busy", "x");
        uint64_t sid;
        CHECK_RC(pstore_enqueue(q, &e, &sid, NULL), PARLEY_ERR_STORE_BUSY);
        CHECK_RC(pstore_chan_new(q, &c), PARLEY_OK);
        memset(&r, 0, sizeof r);
        slots[0] = (slot){&r, 0};
        slots[1] = (slot){&r, 1};
        CHECK_RC(pstore_submit_enqueue(c, &e, on_done, &slots[0]), PARLEY_OK);
        CHECK_RC(pstore_submit_ack(c, "quinn@example.org", 1, 1, on_done, &slots[1]), PARLEY_OK);
        drain(c, &r, 2);
        CHECK(r.rc[0] == PARLEY_ERR_STORE_BUSY && r.rc[1] == PARLEY_ERR_STORE_BUSY);
        uint64_t count = 0;
        CHECK_RC(pstore_queue_count(q, "quinn@example.org", 1, &count), PARLEY_OK);
        CHECK(count == (uint64_t)submitted);
        CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
        CHECK_RC(pstore_enqueue(q, &e, &sid, NULL), PARLEY_OK);
        pstore_chan_free(c);
        pstore_close(q);
    }
    sqlite3_close(db);
    pstore_close(s);
}

/* The gather window (commit_delay_us): operations submitted one after
 * another inside it share one commit, none completes before the window of
 * the first has passed, and closing the store commits what waits in a
 * window instead of dropping it. Out-of-range windows are refused. */
static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_commit_delay(void)
{
    enum { N = 40, WINDOW_MS = 80 };
    static results r;
    static slot slots[N];
    char path[128];
    path_of(path, sizeof path, "delay.db");
    pstore *s = NULL;
    pstore_sqlite_config bad = {.sync = PSTORE_SYNC_NORMAL, .commit_delay_us = -1};
    CHECK_RC(pstore_open_sqlite(&s, path, &bad), PARLEY_ERR_INVALID_ARG);
    CHECK(s == NULL);
    bad.commit_delay_us = PSTORE_COMMIT_DELAY_MAX_US + 1;
    CHECK_RC(pstore_open_sqlite(&s, path, &bad), PARLEY_ERR_INVALID_ARG);
    CHECK(s == NULL);

    pstore_sqlite_config cfg = {.sync = PSTORE_SYNC_NORMAL, .commit_delay_us = WINDOW_MS * 1000};
    CHECK_RC(pstore_open_sqlite(&s, path, &cfg), PARLEY_OK);
    if (!s)
        return;
    make_user(s, "vera@example.org", 1, 0x44);
    pstore_chan *c = NULL;
    CHECK_RC(pstore_chan_new(s, &c), PARLEY_OK);
    pstore_stats before, after;
    pstore_get_stats(s, &before);
    memset(&r, 0, sizeof r);
    uint64_t t0 = mono_ms();
    /* Spread over a quarter of the window: without it the writer would
     * commit the first ones alone. */
    submit_n(c, &r, slots, "vera@example.org", 1, "w", N, WINDOW_MS * 1000 / 4 / N);
    drain(c, &r, N);
    uint64_t took = mono_ms() - t0;
    CHECK(r.calls == N);
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= r.rc[i] == PARLEY_OK;
    CHECK(ok);
    pstore_get_stats(s, &after);
    CHECK(after.ops - before.ops == N);
    CHECK(after.batches - before.batches == 1);
    CHECK(took >= WINDOW_MS - 5); /* a lower bound only: never flaky when slow */

    /* Closing in the middle of a window commits, then calls back. */
    memset(&r, 0, sizeof r);
    submit_n(c, &r, slots, "vera@example.org", 1, "z", 5, 0);
    pstore_close(s);
    pstore_chan_free(c);
    CHECK(r.calls == 5);
    ok = 1;
    for (int i = 0; i < 5; i++)
        ok &= r.rc[i] == PARLEY_OK;
    CHECK(ok);
    s = NULL;
    CHECK_RC(pstore_open_sqlite(&s, path, NULL), PARLEY_OK);
    if (s) {
        uint64_t count = 0;
        CHECK_RC(pstore_queue_count(s, "vera@example.org", 1, &count), PARLEY_OK);
        CHECK(count == N + 5);
        pstore_close(s);
    }
}

/*
 * A store at its size bound (max_size_bytes, which answers as a full disk
 * does): a new message is refused with PARLEY_ERR_STORE_FULL and nothing
 * stored before is lost; recipients' acks committed in the same batch as
 * refused messages still go through, and the room they free takes new
 * messages. Without that, every batch that also held a new message would
 * fail its acks and the queue could never drain.
 */
static void test_store_full(void)
{
    enum { CAP = 1000, ACKS = 20, NEW = 5, WINDOW_MS = 50 };
    static results r;
    static slot slots[ACKS + NEW];
    static uint64_t sids[CAP];
    static char body[2049];
    char path[128], id[24];
    path_of(path, sizeof path, "full.db");
    memset(body, 'x', sizeof body - 1);
    pstore_sqlite_config cfg = {.sync = PSTORE_SYNC_NORMAL,
                                .commit_delay_us = WINDOW_MS * 1000,
                                .max_size_bytes = 512 * 1024};
    pstore *s = NULL;
    /* A bound too small for the schema itself: a clear refusal, no store. */
    char tiny[128];
    path_of(tiny, sizeof tiny, "tiny.db");
    pstore_sqlite_config small = {.sync = PSTORE_SYNC_NORMAL, .max_size_bytes = 4096};
    CHECK_RC(pstore_open_sqlite(&s, tiny, &small), PARLEY_ERR_STORE_FULL);
    CHECK(s == NULL);

    CHECK_RC(pstore_open_sqlite(&s, path, &cfg), PARLEY_OK);
    if (!s)
        return;
    make_user(s, "wren@example.org", 1, 0x51);

    int stored = 0, rc = PARLEY_OK;
    while (stored < CAP) {
        snprintf(id, sizeof id, "f%d", stored);
        pstore_envelope e = envelope("wren@example.org", 1, id, body);
        rc = pstore_enqueue(s, &e, &sids[stored], NULL);
        if (rc != PARLEY_OK)
            break;
        stored++;
    }
    CHECK_RC(rc, PARLEY_ERR_STORE_FULL);
    CHECK(stored > ACKS + NEW && stored < CAP);
    uint64_t count = 0;
    CHECK_RC(pstore_queue_count(s, "wren@example.org", 1, &count), PARLEY_OK);
    CHECK(count == (uint64_t)stored);

    /* Acks and new messages inside one gather window: one batch. */
    pstore_chan *c = NULL;
    CHECK_RC(pstore_chan_new(s, &c), PARLEY_OK);
    if (c == NULL) {
        pstore_close(s);
        return;
    }
    pstore_stats before, after;
    pstore_get_stats(s, &before);
    memset(&r, 0, sizeof r);
    /* The new messages first: had the acks run first, their room would
     * have taken the messages and nothing would have been refused. */
    for (int i = 0; i < NEW; i++) {
        snprintf(id, sizeof id, "n%d", i);
        pstore_envelope e = envelope("wren@example.org", 1, id, body);
        slots[ACKS + i] = (slot){&r, ACKS + i};
        CHECK_RC(pstore_submit_enqueue(c, &e, on_done, &slots[ACKS + i]), PARLEY_OK);
    }
    for (int i = 0; i < ACKS; i++) {
        slots[i] = (slot){&r, i};
        CHECK_RC(pstore_submit_ack(c, "wren@example.org", 1, sids[i], on_done, &slots[i]),
                 PARLEY_OK);
    }
    drain(c, &r, ACKS + NEW);
    CHECK(r.calls == ACKS + NEW);
    pstore_get_stats(s, &after);
    int acked = 0, refused = 0;
    for (int i = 0; i < ACKS; i++)
        acked += r.rc[i] == PARLEY_OK;
    for (int i = 0; i < NEW; i++)
        refused += r.rc[ACKS + i] == PARLEY_ERR_STORE_FULL;
    /* One batch taken by the writer, so the refusal and the acks really met. */
    CHECK(after.batches - before.batches == 1);
    CHECK(after.ops - before.ops == ACKS + NEW);
    CHECK(acked == ACKS);
    CHECK(refused == NEW);
    CHECK_RC(pstore_queue_count(s, "wren@example.org", 1, &count), PARLEY_OK);
    CHECK(count == (uint64_t)(stored - ACKS));

    /* The freed room takes new messages; the acked ones stay gone. */
    int again = 0;
    for (int i = 0; i < NEW; i++) {
        snprintf(id, sizeof id, "a%d", i);
        pstore_envelope e = envelope("wren@example.org", 1, id, body);
        uint64_t sid = 0;
        again += pstore_enqueue(s, &e, &sid, NULL) == PARLEY_OK;
    }
    CHECK(again == NEW);
    pstore_chan_free(c);
    pstore_close(s);

    /* Reopened without the bound: everything accepted is there. */
    s = NULL;
    CHECK_RC(pstore_open_sqlite(&s, path, NULL), PARLEY_OK);
    if (s) {
        CHECK_RC(pstore_queue_count(s, "wren@example.org", 1, &count), PARLEY_OK);
        CHECK(count == (uint64_t)(stored - ACKS + NEW));
        pstore_close(s);
    }
}

/* A channel that outlives its store: closing commits what is queued, a
 * later submit is refused, and freeing the channel still runs the
 * callbacks it holds. */
static void test_close_with_channel(void)
{
    static results r;
    static slot slots[10];
    char id[16];
    pstore *s = open_store("late.db", PSTORE_SYNC_NORMAL);
    make_user(s, "sara@example.org", 1, 0x35);
    pstore_chan *c = NULL;
    CHECK_RC(pstore_chan_new(s, &c), PARLEY_OK);
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "late%d", i);
        pstore_envelope e = envelope("sara@example.org", 1, id, "x");
        slots[i] = (slot){&r, i};
        CHECK_RC(pstore_submit_enqueue(c, &e, on_done, &slots[i]), PARLEY_OK);
    }
    pstore_close(s);
    pstore_envelope e = envelope("sara@example.org", 1, "after", "x");
    CHECK_RC(pstore_submit_enqueue(c, &e, on_done, &slots[0]), PARLEY_ERR_STORE_CLOSED);
    pstore_chan_free(c);
    CHECK(r.calls == 10);
    int ok = 1;
    for (int i = 0; i < 10; i++)
        ok &= r.rc[i] == PARLEY_OK;
    CHECK(ok);
    s = open_store("late.db", PSTORE_SYNC_NORMAL);
    uint64_t count = 0;
    CHECK_RC(pstore_queue_count(s, "sara@example.org", 1, &count), PARLEY_OK);
    CHECK(count == 10);
    pstore_close(s);
}

static void test_reopen(void)
{
    /* Everything survives close and open; migration is idempotent. */
    pstore *s = open_store("reopen.db", PSTORE_SYNC_FULL);
    make_user(s, "olga@example.org", 2, 0xf0);
    pstore_close(s);
    s = open_store("reopen.db", PSTORE_SYNC_FULL);
    pstore_device d;
    CHECK_RC(pstore_device_get(s, "olga@example.org", 2, &d), PARLEY_OK);
    CHECK(d.noise_key[0] == 0xf1);
    pstore_close(s);
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/parley-store-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    CHECK(pstore_schema_version() == 2);
    CHECK(strcmp(parley_strerror(PARLEY_ERR_STORE_CORRUPT), "store_corrupt") == 0);
    test_file_mode();
    char main_path[128];
    path_of(main_path, sizeof main_path, "main.db");
    pstore *s = open_store("main.db", PSTORE_SYNC_FULL);
    test_accounts(s);
    test_codes(s, main_path);
    test_devices(s);
    test_devlist(s);
    test_prekeys(s);
    test_queue(s);
    test_group_commit(s);
    test_loops(s);
    test_take_threads(s);
    pstore_close(s);
    test_take_processes();
    test_open_together();
    test_crash();
    test_corrupt();
    test_checkpoint();
    test_backpressure();
    test_close_with_channel();
    test_commit_delay();
    test_store_full();
    test_reopen();
    cleanup();
    TEST_MAIN_END();
}

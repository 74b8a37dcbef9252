/*
 * parleyctl — administration of a parleyd gatekeeper, working directly on
 * its database (docs/operations.md). The server may be running: SQLite
 * serializes the writers, and every change here is one the server reads
 * afresh at the next login or request.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/parleyctl/ctl.h"
#include "crypto/crypto.h"
#include "parley/noise_cert.h"
#include "server/keyfile.h"
#include "server/srvdb.h"
#include "store/interop.h"
#include "store/store.h"
#include "util/safety.h"

#define DEFAULT_DB "/var/lib/parleyd/parleyd.db"
/* A registration code stays valid a week (docs/operations.md). */
#define CODE_LIFETIME_S (7 * 24 * 3600)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: parleyctl [--db PATH] COMMAND ...\n"
            "  root-key ROOTFILE                 create the root key (0600 file), print its public key\n"
            "  root-pub ROOTFILE                 print the root public key\n"
            "  cert issue --root ROOTFILE --key SERVERKEYFILE --out CERTFILE [--days N]\n"
            "                                    create the server key if absent, issue its certificate\n"
            "  user add NAME                     create an account, print a registration code\n"
            "  user code NAME                    print a fresh registration code for NAME\n"
            "  user list\n"
            "  user suspend|resume NAME\n"
            "  device list NAME\n"
            "  device remove NAME N\n"
            "  stats\n"
            "  request-key KEYFILE               create the request signing key for provider HTTP calls\n"
            "  provider add ID --name N --domain D [--domain D2]... --key KEYID:BASE64 [--push URL]\n"
            "               [--verify URL] [--media HOST]... [--protocol P --evidence REF]\n"
            "               [--agreement YYYY-MM-DD] [--actor NAME]\n"
            "  provider show ID | provider list\n"
            "  provider suspend|resume|terminate ID [--actor NAME]\n"
            "  provider key-add ID KEYID BASE64 | provider key-retire ID KEYID\n"
            "  reports [--status open|all]       reports queued for review\n"
            "  reports close ID actioned|dismissed\n"
            "The default database is " DEFAULT_DB ".\n");
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int cmd_root_key(const char *path, int create)
{
    int rc;
    uint8_t pub[PARLEY_CERT_ROOT_PUB_LEN], priv[PARLEY_CERT_ROOT_PRIV_LEN];
    char hex[2 * PARLEY_CERT_ROOT_PUB_LEN + 1];
    if (create) {
        ENSURE(access(path, F_OK) != 0, PARLEY_ERR_STORE_EXISTS);
        GUARD(parley_noise_root_keygen(pub, priv));
        GUARD(srv_keyfile_write(path, priv, sizeof priv));
    } else {
        GUARD(srv_keyfile_read(path, priv, sizeof priv));
    }
    /* An Ed25519 secret key in libsodium's form ends with its public key. */
    memcpy(pub, priv + 32, sizeof pub);
    srv_hex(hex, pub, sizeof pub);
    printf("root public key: %s\n", hex);
    rc = PARLEY_OK;
out:
    pc_wipe(priv, sizeof priv);
    return rc;
}

static int cmd_cert_issue(int argc, char **argv)
{
    int rc;
    const char *root = NULL, *key = NULL, *outp = NULL;
    long days = 90;
    uint8_t rpriv[PARLEY_CERT_ROOT_PRIV_LEN], spriv[32], spub[32], cert[PARLEY_CERT_LEN];
    char hex[65];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage(stderr);
            return PARLEY_ERR_INVALID_ARG;
        }
        if (strcmp(a, "--root") == 0)
            root = v;
        else if (strcmp(a, "--key") == 0)
            key = v;
        else if (strcmp(a, "--out") == 0)
            outp = v;
        else if (strcmp(a, "--days") == 0)
            days = strtol(v, NULL, 10);
        else {
            usage(stderr);
            return PARLEY_ERR_INVALID_ARG;
        }
        i++;
    }
    ENSURE(root != NULL && key != NULL && outp != NULL && days > 0 && days <= 3650,
           PARLEY_ERR_INVALID_ARG);
    GUARD(srv_keyfile_read(root, rpriv, sizeof rpriv));
    rc = srv_keyfile_read(key, spriv, sizeof spriv);
    if (rc == PARLEY_ERR_NOT_FOUND) {
        GUARD(pc_x25519_keygen(spub, spriv));
        GUARD(srv_keyfile_write(key, spriv, sizeof spriv));
        fprintf(stderr, "created server key %s\n", key);
    } else {
        GUARD(rc);
        GUARD(pc_x25519_public(spub, spriv));
    }
    uint64_t now = (uint64_t)now_s();
    /* The serial is the issue time: a rotated certificate always has a
     * larger one, without state to keep beside the root key. */
    GUARD(parley_noise_cert_issue(cert, rpriv, spub, now, now - 300,
                                  now + (uint64_t)days * 86400u));
    GUARD(srv_file_write(outp, cert, sizeof cert, 0644));
    srv_hex(hex, spub, 32);
    printf("server key: %s\n", hex);
    printf("certificate: %s (serial %llu, valid %ld days)\n", outp, (unsigned long long)now, days);
    srv_hex(hex, rpriv + 32, 32);
    printf("root public key (clients pin this): %s\n", hex);
    rc = PARLEY_OK;
out:
    pc_wipe(rpriv, sizeof rpriv);
    pc_wipe(spriv, sizeof spriv);
    return rc;
}

static int open_store(const char *db, pstore **s)
{
    return pstore_open_sqlite(s, db, NULL);
}

static int new_code(pstore *s, const char *name)
{
    int rc;
    char code[PSTORE_CODE_GEN_LEN + 1];
    GUARD(pstore_code_generate(code));
    GUARD(pstore_code_add(s, PSTORE_CODE_REGISTRATION, code, name, now_s() + CODE_LIFETIME_S));
    printf("%s\n", code);
    rc = PARLEY_OK;
out:
    pc_wipe(code, sizeof code);
    return rc;
}

static int print_account(void *ctx, const char *address, int status, int64_t created, int devices)
{
    (void)ctx;
    printf("%-40s %-9s devices=%d created=%lld\n", address,
           status == PSTORE_ACCOUNT_ACTIVE ? "active" : "suspended", devices, (long long)created);
    return 0;
}

static int cmd_user(const char *db, int argc, char **argv)
{
    int rc;
    pstore *s = NULL;
    srvdb *d = NULL;
    ENSURE(argc >= 1, PARLEY_ERR_INVALID_ARG);
    GUARD(open_store(db, &s));
    if (strcmp(argv[0], "list") == 0) {
        GUARD(srvdb_open(&d, db));
        GUARD(srvdb_accounts(d, print_account, NULL));
    } else if (argc == 2 && strcmp(argv[0], "add") == 0) {
        GUARD(pstore_check_address(argv[1]));
        ENSURE(strchr(argv[1], '@') != NULL && strchr(argv[1], '/') == NULL,
               PARLEY_ERR_INVALID_ARG);
        GUARD(pstore_account_create(s, argv[1], now_s()));
        GUARD(new_code(s, argv[1]));
    } else if (argc == 2 && strcmp(argv[0], "code") == 0) {
        pstore_account a;
        GUARD(pstore_account_get(s, argv[1], &a));
        GUARD(new_code(s, argv[1]));
    } else if (argc == 2 && (strcmp(argv[0], "suspend") == 0 || strcmp(argv[0], "resume") == 0)) {
        GUARD(pstore_account_set_status(s, argv[1], argv[0][0] == 's' ? PSTORE_ACCOUNT_SUSPENDED
                                                                      : PSTORE_ACCOUNT_ACTIVE));
    } else {
        usage(stderr);
        ENSURE(0, PARLEY_ERR_INVALID_ARG);
    }
    rc = PARLEY_OK;
out:
    srvdb_close(d);
    if (s != NULL)
        pstore_close(s);
    return rc;
}

static int cmd_device(const char *db, int argc, char **argv)
{
    int rc;
    pstore *s = NULL;
    srvdb *d = NULL;
    pstore_device *devs = NULL;
    ENSURE(argc >= 2, PARLEY_ERR_INVALID_ARG);
    GUARD(open_store(db, &s));
    if (argc == 2 && strcmp(argv[0], "list") == 0) {
        size_t n = 0;
        devs = calloc(PSTORE_DEVICES_MAX, sizeof *devs);
        ENSURE(devs != NULL, PARLEY_ERR_NOMEM);
        GUARD(srvdb_open(&d, db));
        GUARD(pstore_device_list(s, argv[1], devs, PSTORE_DEVICES_MAX, &n));
        for (size_t i = 0; i < n; i++) {
            uint8_t ik[PSTORE_PUBKEY_MAX];
            size_t ikl = 0;
            uint32_t reg = 0;
            uint32_t pk = 0;
            uint64_t q = 0;
            char hex[2 * PSTORE_PUBKEY_MAX + 1] = "-";
            if (srvdb_identity_get(d, argv[1], devs[i].device_id, ik, &ikl, &reg) == PARLEY_OK)
                srv_hex(hex, ik, ikl);
            GUARD(pstore_prekeys_count(s, argv[1], devs[i].device_id, &pk));
            GUARD(pstore_queue_count(s, argv[1], devs[i].device_id, &q));
            printf("%s/%u%s identity=%s prekeys=%u queued=%llu last_seen=%lld\n", argv[1],
                   devs[i].device_id, devs[i].device_id == 1 ? " (primary)" : "", hex, pk,
                   (unsigned long long)q, (long long)devs[i].last_seen);
        }
    } else if (argc == 3 && strcmp(argv[0], "remove") == 0) {
        char *end = NULL;
        unsigned long id = strtoul(argv[2], &end, 10);
        ENSURE(end != argv[2] && *end == '\0' && id >= 1 && id <= PSTORE_DEVICE_ID_MAX,
               PARLEY_ERR_INVALID_ARG);
        uint32_t gone[PSTORE_DEVICES_MAX];
        size_t n = 0;
        GUARD(srvdb_open(&d, db));
        /* The primary takes the account's other devices along (store.h);
         * running parleyd processes read the user's devices again. */
        rc = srvdb_remove_device(d, s, argv[1], (uint32_t)id, gone, &n);
        for (size_t i = 0; i < n; i++)
            printf("removed %s/%u (a connected device is closed at its next request)\n", argv[1],
                   gone[i]);
        GUARD(rc);
        if (!srvdb_devgen_ready(d))
            fprintf(stderr, "warning: cannot use %s-devgen: a running parleyd may use the old "
                            "device list for up to %d s\n",
                    db, SRVDB_DEVGEN_TTL_S);
    } else {
        usage(stderr);
        ENSURE(0, PARLEY_ERR_INVALID_ARG);
    }
    rc = PARLEY_OK;
out:
    free(devs);
    srvdb_close(d);
    if (s != NULL)
        pstore_close(s);
    return rc;
}

static int cmd_stats(const char *db)
{
    int rc;
    srvdb *d = NULL;
    pstore *s = NULL;
    srvdb_stats st;
    GUARD(open_store(db, &s)); /* migrates a new database */
    GUARD(srvdb_open(&d, db));
    GUARD(srvdb_stats_get(d, &st));
    printf("accounts %lld\ndevices %lld\nqueued_messages %lld\nqueued_bytes %lld\n"
           "one_time_prekeys %lld\n",
           (long long)st.accounts, (long long)st.devices, (long long)st.queued,
           (long long)st.queued_bytes, (long long)st.prekeys);
    rc = PARLEY_OK;
out:
    srvdb_close(d);
    if (s != NULL)
        pstore_close(s);
    return rc;
}

int main(int argc, char **argv)
{
    const char *db = getenv("PARLEYD_DB");
    int i = 1, rc;
    if (db == NULL)
        db = DEFAULT_DB;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            db = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (pc_init() < 0) {
        fprintf(stderr, "parleyctl: crypto init failed\n");
        return 1;
    }
    const char *cmd = argv[i];
    int n = argc - i - 1;
    char **rest = argv + i + 1;
    if (strcmp(cmd, "root-key") == 0 && n == 1)
        rc = cmd_root_key(rest[0], 1);
    else if (strcmp(cmd, "root-pub") == 0 && n == 1)
        rc = cmd_root_key(rest[0], 0);
    else if (strcmp(cmd, "cert") == 0 && n >= 1 && strcmp(rest[0], "issue") == 0)
        rc = cmd_cert_issue(n - 1, rest + 1);
    else if (strcmp(cmd, "user") == 0)
        rc = cmd_user(db, n, rest);
    else if (strcmp(cmd, "device") == 0)
        rc = cmd_device(db, n, rest);
    else if (strcmp(cmd, "stats") == 0 && n == 0)
        rc = cmd_stats(db);
    else if (strcmp(cmd, "provider") == 0)
        rc = ctl_provider(db, n, rest);
    else if (strcmp(cmd, "reports") == 0)
        rc = ctl_reports(db, n, rest);
    else if (strcmp(cmd, "request-key") == 0 && n == 1)
        rc = ctl_request_key(rest[0]);
    else {
        usage(stderr);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "parleyctl %s: %s\n", cmd, parley_strerror(rc));
        return rc == PARLEY_ERR_INVALID_ARG ? 2 : 1;
    }
    return 0;
}

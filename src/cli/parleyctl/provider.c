/*
 * parleyctl: the provider registry (agreements), operator reports and the
 * gatekeeper's request signing key (docs/interop-design.md, "Wiring";
 * docs/parts/thirdparty.md sections 1 and 5).
 *
 * Every change to a provider goes through the store, which writes an audit
 * entry in the same transaction. A running parleyd notices a change of the
 * audit log within a fraction of a second and closes the connections of a
 * provider that is no longer active (src/server/interop.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/parleyctl/ctl.h"
#include "crypto/crypto.h"
#include "interop/httpsig.h"
#include "server/keyfile.h"
#include "server/srvdb.h"
#include "store/interop.h"
#include "store/store.h"
#include "util/safety.h"

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static const char *default_actor(const char *given)
{
    const char *u = given != NULL ? given : getenv("USER");
    return u != NULL && u[0] != '\0' ? u : "parleyctl";
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end = NULL;
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return PARLEY_ERR_INVALID_ARG;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || v > UINT32_MAX)
        return PARLEY_ERR_INVALID_ARG;
    *out = (uint32_t)v;
    return PARLEY_OK;
}

static int parse_pub(const char *b64, uint8_t pub[32])
{
    size_t n = 0;
    int rc = phs_b64_decode(pub, 32, &n, b64, strlen(b64));
    if (rc < 0 || n != 32) {
        fprintf(stderr, "parleyctl: an attestation key is 32 bytes of base64\n");
        return PARLEY_ERR_INVALID_ARG;
    }
    return PARLEY_OK;
}

/* YYYY-MM-DD as a UTC midnight. */
static int parse_date(const char *s, int64_t *out)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 || m < 1 || m > 12 ||
        d < 1 || d > 31)
        return PARLEY_ERR_INVALID_ARG;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    *out = (int64_t)timegm(&tm);
    return PARLEY_OK;
}

static void format_date(char out[16], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
        snprintf(out, 16, "-");
        return;
    }
    strftime(out, 16, "%Y-%m-%d", &tm);
}

static int fail_arg(const char *what)
{
    fprintf(stderr, "parleyctl provider: %s\n", what);
    return PARLEY_ERR_INVALID_ARG;
}

static int provider_add(pstore *s, int argc, char **argv)
{
    int rc;
    pstore_provider p;
    const char *actor = NULL;
    memset(&p, 0, sizeof p);
    ENSURE(argc >= 1, fail_arg("provider add needs an id"));
    ENSURE(strlen(argv[0]) <= PSTORE_PROVIDER_ID_MAX, fail_arg("provider id too long"));
    snprintf(p.id, sizeof p.id, "%s", argv[0]);
    p.status = PSTORE_PROVIDER_ACTIVE;
    p.agreement_date = now_s();
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        ENSURE(v != NULL, fail_arg("an option needs a value"));
        if (strcmp(a, "--name") == 0) {
            ENSURE(strlen(v) <= PSTORE_PROVIDER_NAME_MAX, fail_arg("name too long"));
            snprintf(p.name, sizeof p.name, "%s", v);
        } else if (strcmp(a, "--domain") == 0) {
            ENSURE(p.domain_count < PSTORE_PROVIDER_DOMAINS_MAX, fail_arg("too many domains"));
            ENSURE(strlen(v) <= PSTORE_DOMAIN_MAX, fail_arg("domain too long"));
            snprintf(p.domains[p.domain_count++], PSTORE_DOMAIN_MAX + 1, "%s", v);
        } else if (strcmp(a, "--media") == 0) {
            ENSURE(p.media_host_count < PSTORE_PROVIDER_MEDIA_MAX,
                   fail_arg("too many media hosts"));
            ENSURE(strlen(v) <= PSTORE_DOMAIN_MAX, fail_arg("media host too long"));
            snprintf(p.media_hosts[p.media_host_count++], PSTORE_DOMAIN_MAX + 1, "%s", v);
        } else if (strcmp(a, "--key") == 0) {
            const char *colon = strchr(v, ':');
            char idtext[16];
            ENSURE(p.key_count < PSTORE_PROVIDER_KEYS_MAX, fail_arg("too many keys"));
            ENSURE(colon != NULL && (size_t)(colon - v) < sizeof idtext,
                   fail_arg("--key takes KEYID:BASE64"));
            memcpy(idtext, v, (size_t)(colon - v));
            idtext[colon - v] = '\0';
            ENSURE(parse_u32(idtext, &p.keys[p.key_count].key_id) == 0,
                   fail_arg("--key takes KEYID:BASE64"));
            GUARD(parse_pub(colon + 1, p.keys[p.key_count].pub));
            p.keys[p.key_count].added = now_s();
            p.key_count++;
        } else if (strcmp(a, "--push") == 0) {
            ENSURE(strlen(v) <= PSTORE_URL_MAX, fail_arg("URL too long"));
            snprintf(p.push_url, sizeof p.push_url, "%s", v);
        } else if (strcmp(a, "--verify") == 0) {
            ENSURE(strlen(v) <= PSTORE_URL_MAX, fail_arg("URL too long"));
            snprintf(p.verify_url, sizeof p.verify_url, "%s", v);
        } else if (strcmp(a, "--protocol") == 0) {
            ENSURE(strlen(v) <= PSTORE_PROTOCOL_MAX, fail_arg("protocol too long"));
            snprintf(p.protocol, sizeof p.protocol, "%s", v);
        } else if (strcmp(a, "--evidence") == 0) {
            ENSURE(strlen(v) <= PSTORE_EVIDENCE_MAX, fail_arg("evidence too long"));
            snprintf(p.evidence, sizeof p.evidence, "%s", v);
        } else if (strcmp(a, "--agreement") == 0) {
            ENSURE(parse_date(v, &p.agreement_date) == 0, fail_arg("--agreement takes YYYY-MM-DD"));
        } else if (strcmp(a, "--actor") == 0) {
            actor = v;
        } else {
            ENSURE(0, fail_arg("unknown option"));
        }
    }
    ENSURE(p.name[0] != '\0', fail_arg("--name is required"));
    ENSURE(p.domain_count > 0, fail_arg("at least one --domain is required"));
    ENSURE(p.key_count > 0, fail_arg("at least one --key is required"));
    rc = pstore_provider_add(s, &p, default_actor(actor), now_s());
    if (rc == PARLEY_ERR_STORE_EXISTS)
        fprintf(stderr, "parleyctl provider: the id or a domain is already registered\n");
    else if (rc == PARLEY_ERR_INVALID_ARG)
        fprintf(stderr, "parleyctl provider: a field is out of bounds (a protocol other than "
                        "signal needs --evidence)\n");
    GUARD(rc);
    printf("provider %s added (%zu domain%s, %zu key%s)\n", p.id, p.domain_count,
           p.domain_count == 1 ? "" : "s", p.key_count, p.key_count == 1 ? "" : "s");
out:
    return rc;
}

static int print_audit(void *ctx, const pstore_audit_entry *e)
{
    (void)ctx;
    printf("  audit #%llu t=%lld %s by %s: %s\n", (unsigned long long)e->seq, (long long)e->t,
           e->action, e->actor, e->detail);
    return 0;
}

static int provider_show(pstore *s, const char *id)
{
    int rc;
    pstore_provider *p = calloc(1, sizeof *p);
    char date[16];
    ENSURE(p != NULL, PARLEY_ERR_NOMEM);
    GUARD(pstore_provider_get(s, id, p));
    format_date(date, p->agreement_date);
    printf("id: %s\nname: %s\nstatus: %s\nprotocol: %s\n", p->id, p->name,
           pstore_provider_status_name(p->status), p->protocol[0] ? p->protocol : "signal");
    if (p->evidence[0] != '\0')
        printf("evidence: %s\n", p->evidence);
    printf("agreement: %s\n", date);
    for (size_t i = 0; i < p->domain_count; i++)
        printf("domain: %s\n", p->domains[i]);
    for (size_t i = 0; i < p->key_count; i++) {
        char b64[64];
        (void)phs_b64_encode(b64, sizeof b64, p->keys[i].pub, 32);
        printf("key: %u:%s%s\n", p->keys[i].key_id, b64, p->keys[i].retired ? " (retired)" : "");
    }
    printf("push: %s\nverify: %s\n", p->push_url[0] ? p->push_url : "-",
           p->verify_url[0] ? p->verify_url : "-");
    for (size_t i = 0; i < p->media_host_count; i++)
        printf("media: %s\n", p->media_hosts[i]);
    GUARD(pstore_provider_audit(s, id, print_audit, NULL));
    rc = PARLEY_OK;
out:
    free(p);
    return rc;
}

static int provider_list(pstore *s)
{
    int rc;
    size_t n = 0;
    char(*ids)[PSTORE_PROVIDER_ID_MAX + 1] = calloc(PSTORE_PROVIDERS_MAX, sizeof *ids);
    pstore_provider *p = calloc(1, sizeof *p);
    ENSURE(ids != NULL && p != NULL, PARLEY_ERR_NOMEM);
    GUARD(pstore_provider_list(s, ids, PSTORE_PROVIDERS_MAX, &n));
    for (size_t i = 0; i < n; i++) {
        GUARD(pstore_provider_get(s, ids[i], p));
        printf("%-20s %-10s %-8s %s%s\n", p->id, pstore_provider_status_name(p->status),
               p->protocol[0] ? p->protocol : "signal", p->domain_count > 0 ? p->domains[0] : "-",
               p->domain_count > 1 ? " ..." : "");
    }
    rc = PARLEY_OK;
out:
    free(ids);
    free(p);
    return rc;
}

typedef struct {
    const pstore_provider *p;
    char (*users)[PSTORE_ADDRESS_MAX + 1];
    size_t n, max;
} domain_users;

static int collect_user(void *ctx, const char *address, int status, int64_t created, int devices)
{
    domain_users *du = ctx;
    const char *at = strrchr(address, '@');
    (void)status;
    (void)created;
    (void)devices;
    if (at == NULL)
        return 0;
    for (size_t i = 0; i < du->p->domain_count; i++) {
        if (strcmp(at + 1, du->p->domains[i]) != 0)
            continue;
        if (du->n == du->max) {
            size_t nm = du->max ? du->max * 2 : 64;
            void *nu = realloc(du->users, nm * sizeof *du->users);
            if (nu == NULL)
                return PARLEY_ERR_NOMEM;
            du->users = nu;
            du->max = nm;
        }
        snprintf(du->users[du->n++], PSTORE_ADDRESS_MAX + 1, "%s", address);
        return 0;
    }
    return 0;
}

/* Termination: every device of the provider's users goes, with its keys. */
static int remove_provider_devices(pstore *s, const char *db, const pstore_provider *p)
{
    int rc;
    srvdb *d = NULL;
    domain_users du = {p, NULL, 0, 0};
    pstore_device *devs = calloc(PSTORE_DEVICES_MAX, sizeof *devs);
    size_t removed = 0;
    ENSURE(devs != NULL, PARLEY_ERR_NOMEM);
    GUARD(srvdb_open(&d, db));
    GUARD(srvdb_accounts(d, collect_user, &du));
    for (size_t i = 0; i < du.n; i++) {
        size_t nd = 0;
        GUARD(pstore_device_list(s, du.users[i], devs, PSTORE_DEVICES_MAX, &nd));
        /* Linked devices first: removing the primary would take them along. */
        for (size_t k = nd; k-- > 0;) {
            uint32_t gone[PSTORE_DEVICES_MAX];
            size_t ng = 0;
            GUARD(srvdb_remove_device(d, s, du.users[i], devs[k].device_id, gone, &ng));
            removed += ng;
        }
    }
    printf("removed %zu device%s of %zu user%s\n", removed, removed == 1 ? "" : "s", du.n,
           du.n == 1 ? "" : "s");
    if (removed > 0 && !srvdb_devgen_ready(d))
        fprintf(stderr, "warning: cannot use %s-devgen: a running parleyd may use the old "
                        "device lists for up to %d s\n",
                db, SRVDB_DEVGEN_TTL_S);
    rc = PARLEY_OK;
out:
    free(du.users);
    free(devs);
    srvdb_close(d);
    return rc;
}

static int provider_status(pstore *s, const char *db, const char *verb, const char *id,
                           const char *actor)
{
    int rc;
    pstore_provider_status st;
    pstore_provider *p = calloc(1, sizeof *p);
    ENSURE(p != NULL, PARLEY_ERR_NOMEM);
    if (strcmp(verb, "suspend") == 0)
        st = PSTORE_PROVIDER_SUSPENDED;
    else if (strcmp(verb, "resume") == 0)
        st = PSTORE_PROVIDER_ACTIVE;
    else
        st = PSTORE_PROVIDER_TERMINATED;
    rc = pstore_provider_set_status(s, id, st, default_actor(actor), now_s());
    if (rc == PARLEY_ERR_STATE)
        fprintf(stderr, "parleyctl provider: %s is terminated; that is final\n", id);
    GUARD(rc);
    printf("provider %s %s (a running parleyd closes its users' connections within a second)\n", id,
           pstore_provider_status_name(st));
    if (st == PSTORE_PROVIDER_TERMINATED) {
        GUARD(pstore_provider_get(s, id, p));
        GUARD(remove_provider_devices(s, db, p));
    }
    rc = PARLEY_OK;
out:
    free(p);
    return rc;
}

int ctl_provider(const char *db, int argc, char **argv)
{
    int rc;
    pstore *s = NULL;
    ENSURE(argc >= 1, fail_arg("provider needs a subcommand"));
    GUARD(pstore_open_sqlite(&s, db, NULL));
    const char *sub = argv[0];
    if (strcmp(sub, "add") == 0) {
        rc = provider_add(s, argc - 1, argv + 1);
    } else if (strcmp(sub, "show") == 0 && argc == 2) {
        rc = provider_show(s, argv[1]);
    } else if (strcmp(sub, "list") == 0 && argc == 1) {
        rc = provider_list(s);
    } else if ((strcmp(sub, "suspend") == 0 || strcmp(sub, "resume") == 0 ||
                strcmp(sub, "terminate") == 0) &&
               (argc == 2 || (argc == 4 && strcmp(argv[2], "--actor") == 0))) {
        rc = provider_status(s, db, sub, argv[1], argc == 4 ? argv[3] : NULL);
    } else if (strcmp(sub, "key-add") == 0 && argc == 4) {
        uint32_t kid = 0;
        uint8_t pub[32];
        ENSURE(parse_u32(argv[2], &kid) == 0, fail_arg("key id is a number"));
        GUARD(parse_pub(argv[3], pub));
        rc = pstore_provider_key_add(s, argv[1], kid, pub, default_actor(NULL), now_s());
        if (rc == 0)
            printf("key %u added to %s\n", kid, argv[1]);
    } else if (strcmp(sub, "key-retire") == 0 && argc == 3) {
        uint32_t kid = 0;
        ENSURE(parse_u32(argv[2], &kid) == 0, fail_arg("key id is a number"));
        rc = pstore_provider_key_retire(s, argv[1], kid, default_actor(NULL), now_s());
        if (rc == 0)
            printf("key %u of %s retired\n", kid, argv[1]);
    } else {
        rc = fail_arg("unknown subcommand or arguments (see parleyctl --help)");
    }
out:
    if (s != NULL)
        pstore_close(s);
    return rc;
}

static const char *report_status_name(pstore_report_status st)
{
    switch (st) {
    case PSTORE_REPORT_OPEN:
        return "open";
    case PSTORE_REPORT_REVIEWED:
        return "reviewed";
    case PSTORE_REPORT_ACTIONED:
        return "actioned";
    case PSTORE_REPORT_DISMISSED:
        return "dismissed";
    default:
        return "?";
    }
}

static int print_report(void *ctx, const pstore_report *r)
{
    (void)ctx;
    printf("report %llu %s t=%lld %s reported %s: %s (%zu message%s attached)\n",
           (unsigned long long)r->id, report_status_name(r->status), (long long)r->t, r->reporter,
           r->reported, r->reason, r->msg_count, r->msg_count == 1 ? "" : "s");
    /* The attached messages are what the reporter chose to disclose for
     * this review: shown to the operator as text where they are text. */
    for (size_t i = 0; i < r->msg_count; i++) {
        const pstore_report_msg *m = &r->msgs[i];
        printf("  message %s t=%lld %zu bytes: ", m->msg_id, (long long)m->sent, m->body_len);
        for (size_t k = 0; k < m->body_len && k < 200; k++) {
            uint8_t ch = m->body[k];
            putchar(ch >= 0x20 && ch < 0x7f ? ch : '.');
        }
        putchar('\n');
    }
    return 0;
}

int ctl_reports(const char *db, int argc, char **argv)
{
    int rc;
    pstore *s = NULL;
    GUARD(pstore_open_sqlite(&s, db, NULL));
    if (argc == 0 || (argc == 2 && strcmp(argv[0], "--status") == 0)) {
        int status = PSTORE_REPORT_OPEN;
        if (argc == 2) {
            if (strcmp(argv[1], "all") == 0)
                status = 0;
            else
                ENSURE(strcmp(argv[1], "open") == 0, fail_arg("--status takes open or all"));
        }
        GUARD(pstore_report_list(s, status, print_report, NULL));
    } else if (argc == 3 && strcmp(argv[0], "close") == 0) {
        char *end = NULL;
        unsigned long long id = strtoull(argv[1], &end, 10);
        pstore_report_status st;
        ENSURE(end != argv[1] && *end == '\0' && id > 0, fail_arg("report id is a number"));
        if (strcmp(argv[2], "actioned") == 0)
            st = PSTORE_REPORT_ACTIONED;
        else if (strcmp(argv[2], "dismissed") == 0)
            st = PSTORE_REPORT_DISMISSED;
        else
            ENSURE(0, fail_arg("close takes actioned or dismissed"));
        GUARD(pstore_report_set_status(s, (uint64_t)id, st));
        printf("report %llu %s\n", id, report_status_name(st));
    } else {
        rc = fail_arg("usage: reports [--status open|all] | reports close ID actioned|dismissed");
        goto out;
    }
    rc = PARLEY_OK;
out:
    if (s != NULL)
        pstore_close(s);
    return rc;
}

int ctl_request_key(const char *path)
{
    int rc;
    uint8_t pub[32], priv[64];
    char b64[64];
    ENSURE(access(path, F_OK) != 0, PARLEY_ERR_STORE_EXISTS);
    GUARD(pc_ed25519_keygen(pub, priv));
    GUARD(srv_keyfile_write(path, priv, sizeof priv));
    (void)phs_b64_encode(b64, sizeof b64, pub, sizeof pub);
    printf("request signing key: %s\npublic key (for providers' [gatekeeper] key): %s\n", path,
           b64);
    rc = PARLEY_OK;
out:
    pc_wipe(priv, sizeof priv);
    return rc;
}

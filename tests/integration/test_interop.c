/*
 * Third-party interop through a real parleyd (docs/parts/thirdparty.md):
 * two providers recorded with the real parleyctl, their devices enlisted
 * with attestations this test signs as the providers, and gatekeeper
 * users registered as usual. Covers enlistment and its refusals (forged,
 * expired, wrong-domain, wrong-key, unknown provider), consent refusal and
 * then delivery both ways, message requests, decline, block, report,
 * provider suspension within a second and resumption, termination, user
 * suspension, the rate limits per device and per (proxied) IP, the
 * first-contact cap, and proxy logins.
 *
 *   test_interop PARLEYD PARLEYCTL
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "crypto/crypto.h"
#include "interop/httpsig.h"
#include "parley/attestation.h"
#include "parley/interop_proxy.h"
#include "srvtest.h"
#include "unit/check.h"

static st_server S;

typedef struct {
    const char *id, *domain;
    uint32_t key_id;
    uint8_t pub[32], priv[64];
} provider;

static provider birdy = {"birdy", "birdy.example", 1, {0}, {0}};
static provider parrot = {"parrot", "parrot.example", 7, {0}, {0}};

static long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000L + tv.tv_usec / 1000;
}

/* parleyctl with any number of arguments (NULL-terminated); its whole
 * output in out. Returns the exit status. */
static int ctl(char *out, size_t max, ...)
{
    char *argv[32];
    int n = 0, p[2];
    va_list ap;
    argv[n++] = (char *)S.parleyctl;
    argv[n++] = "--db";
    argv[n++] = S.db;
    va_start(ap, max);
    for (const char *a; n < 31 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    char buf[16384];
    ssize_t r;
    while ((r = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (out != NULL)
        snprintf(out, max, "%s", buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *b64(const uint8_t *p, size_t n)
{
    return st_b64(p, n);
}

/* An attestation by provider pv for device d of user (lifetime from now). */
static char *attest(const provider *pv, uint32_t key_id, const uint8_t priv[64], const char *user,
                    const st_dev *d, const uint8_t *noise_key, long from, long lifetime)
{
    parley_attestation a;
    uint8_t out[PARLEY_ATTEST_MAX_LEN];
    size_t n = 0;
    memset(&a, 0, sizeof a);
    snprintf(a.provider, sizeof a.provider, "%s", pv->id);
    a.key_id = key_id;
    snprintf(a.user, sizeof a.user, "%s", user);
    memcpy(a.noise_key, noise_key != NULL ? noise_key : d->noise_pub, 32);
    memcpy(a.identity_key, d->id_pub, 33);
    a.identity_key_len = 33;
    a.issued_at = (uint64_t)(time(NULL) + from);
    a.expires = a.issued_at + (uint64_t)lifetime;
    if (parley_attestation_issue(out, sizeof out, &n, &a, priv) < 0)
        abort();
    return b64(out, n);
}

static char *good_att(const provider *pv, const st_dev *d)
{
    return attest(pv, pv->key_id, pv->priv, d->user, d, NULL, -60, 7 * 86400);
}

/* Connect with a payload; the failure reason, or "" on success (d->device set). */
static const char *connect_with(st_client *c, st_dev *d, const char *xml)
{
    static char reason[64];
    parley_stanza *first = NULL;
    snprintf(reason, sizeof reason, "no-answer");
    if (st_connect(c, &S, d, xml, &first) == 0 && first != NULL) {
        if (parley_stanza_is(first, "success")) {
            uint64_t dev = 0;
            if (parley_stanza_attr_u64(first, "device", &dev) == 0)
                d->device = (uint32_t)dev;
            reason[0] = '\0';
        } else {
            const char *r = parley_stanza_attr(first, "reason");
            snprintf(reason, sizeof reason, "%s", r != NULL ? r : "?");
        }
    }
    parley_stanza_free(first);
    return reason;
}

static const char *enlist(st_client *c, st_dev *d, const char *att)
{
    char xml[2048];
    snprintf(xml, sizeof xml,
             "<enlist user=\"%s\" client=\"test/1\"><attestation>%s</attestation></enlist>",
             d->user, att);
    return connect_with(c, d, xml);
}

static const char *login_att(st_client *c, st_dev *d, const char *att)
{
    char xml[2048];
    if (att == NULL)
        snprintf(xml, sizeof xml, "<login user=\"%s\" device=\"%u\" client=\"test/1\"/>", d->user,
                 d->device);
    else
        snprintf(xml, sizeof xml,
                 "<login user=\"%s\" device=\"%u\" client=\"test/1\"><attestation>%s</attestation>"
                 "</login>",
                 d->user, d->device, att);
    return connect_with(c, d, xml);
}

/* A message from c to `to`, one copy per jid. */
static int send_msg(st_client *c, const char *id, const char *to, const char *const *jids, size_t n)
{
    char xml[4096];
    size_t o =
        (size_t)snprintf(xml, sizeof xml, "<message id=\"%s\" to=\"%s\"><participants>", id, to);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(xml + o, sizeof xml - o,
                              "<to jid=\"%s\"><enc v=\"2\" type=\"msg\">QUJDRA==</enc></to>",
                              jids[i]);
    snprintf(xml + o, sizeof xml - o, "</participants></message>");
    return st_send(c, xml);
}

/* Wait for the ack of id: 0 on success, else its error; *reason gets the
 * reason token ("" if none). -1 when no ack came. */
static int wait_ack(st_client *c, const char *id, char reason[64])
{
    parley_stanza *a = NULL;
    int rc = st_wait_ack(c, id, &a);
    const char *r = a != NULL ? parley_stanza_attr(a, "reason") : NULL;
    snprintf(reason, 64, "%s", r != NULL ? r : "");
    parley_stanza_free(a);
    return rc;
}

/* One message from `from` (device jid list to the single device of to). */
static int msg1(st_client *c, const char *id, const st_dev *to, char reason[64])
{
    char jid[160];
    const char *jids[1] = {jid};
    snprintf(jid, sizeof jid, "%s/%u", to->user, to->device);
    if (send_msg(c, id, to->user, jids, 1) != 0)
        return -2;
    return wait_ack(c, id, reason);
}

/* The next message stanza within ms, acked back to the server; NULL if none. */
static parley_stanza *recv_msg(st_client *c, int ms)
{
    parley_stanza *m = st_expect(c, "message", ms);
    if (m != NULL) {
        char ack[128];
        const char *sid = parley_stanza_attr(m, "sid");
        snprintf(ack, sizeof ack, "<ack class=\"message\" sid=\"%s\"/>", sid ? sid : "0");
        (void)st_send(c, ack);
    }
    return m;
}

static int iq_code(st_client *c, const char *xml, const char *id)
{
    parley_stanza *r = st_iq(c, xml, id);
    int code = st_iq_code(r);
    parley_stanza_free(r);
    return code;
}

/* Queued copies of user/device (parleyctl device list). */
static long queued(const char *user, uint32_t device)
{
    char out[4096], want[160];
    if (ctl(out, sizeof out, "device", "list", user, NULL) != 0)
        return -1;
    snprintf(want, sizeof want, "%s/%u", user, device);
    const char *l = strstr(out, want);
    const char *q = l != NULL ? strstr(l, "queued=") : NULL;
    return q != NULL ? atol(q + 7) : -1;
}

/* Waits until the connection is closed by the server (or ms pass): the
 * elapsed milliseconds, or -1; *err gets the last error reason seen. */
static long wait_closed(st_client *c, int ms, char err[64])
{
    long t0 = now_ms();
    err[0] = '\0';
    while (now_ms() - t0 < ms) {
        parley_stanza *st = NULL;
        int r = st_recv(c, 50, &st);
        if (r < 0)
            return now_ms() - t0;
        if (r == 1 && parley_stanza_is(st, "error")) {
            const char *why = parley_stanza_attr(st, "reason");
            snprintf(err, 64, "%s", why != NULL ? why : "");
        }
        parley_stanza_free(st);
    }
    return -1;
}

static void gk_user(st_dev *d, st_client *c, const char *user)
{
    char code[64];
    st_dev_new(d, user);
    CHECK(st_user_add(&S, user, code) == 0);
    CHECK(st_register(c, &S, d, code) == 1);
    CHECK(st_upload_keys(c, d, 1, 5) == 0);
}

static int add_provider(const provider *pv, const char *extra_domain)
{
    char key[80], out[4096];
    char *pub = b64(pv->pub, 32);
    snprintf(key, sizeof key, "%u:%s", pv->key_id, pub);
    free(pub);
    if (extra_domain != NULL)
        return ctl(out, sizeof out, "provider", "add", pv->id, "--name", pv->id, "--domain",
                   pv->domain, "--domain", extra_domain, "--key", key, "--agreement", "2026-01-15",
                   "--actor", "test", NULL);
    return ctl(out, sizeof out, "provider", "add", pv->id, "--name", pv->id, "--domain", pv->domain,
               "--key", key, "--actor", "test", NULL);
}

/* A login through a proxy: c's static key is the proxy's; `client` is the
 * device behind it. */
static const char *proxy_login(st_client *c, st_dev *proxy, st_dev *client, int enlisting,
                               const char *ip, const uint8_t *priv_override)
{
    parley_proxy_login pl;
    uint8_t sig[64];
    char xml[4096];
    memset(&pl, 0, sizeof pl);
    snprintf(pl.provider, sizeof pl.provider, "%s", birdy.id);
    pl.key_id = birdy.key_id;
    snprintf(pl.user, sizeof pl.user, "%s", client->user);
    pl.device = enlisting ? 0 : client->device;
    memcpy(pl.conn_key, proxy->noise_pub, 32);
    if (parley_proxy_ip_parse(pl.ip, ip) < 0)
        abort();
    pl.t = (uint64_t)time(NULL);
    if (parley_proxy_login_sign(sig, &pl, priv_override != NULL ? priv_override : birdy.priv) < 0)
        abort();
    char *att = good_att(&birdy, client);
    char *s64 = b64(sig, 64), *k64 = b64(client->noise_pub, 32);
    char dev[32] = "";
    if (!enlisting)
        snprintf(dev, sizeof dev, " device=\"%u\"", client->device);
    snprintf(xml, sizeof xml,
             "<%s user=\"%s\"%s client=\"test/1\"><attestation>%s</attestation>"
             "<proxy ip=\"%s\" t=\"%llu\" key=\"%u\" device-key=\"%s\" sig=\"%s\"/></%s>",
             enlisting ? "enlist" : "login", client->user, dev, att, ip, (unsigned long long)pl.t,
             birdy.key_id, k64, s64, enlisting ? "enlist" : "login");
    free(att);
    free(s64);
    free(k64);
    /* The proxy's connection, the client's user and device number. */
    proxy->device = 0;
    const char *r = connect_with(c, proxy, xml);
    if (r[0] == '\0')
        client->device = proxy->device;
    return r;
}

/* Pings until n answered; how many came back 429. */
/* Provider notifications that arrive within ms: how many, and with want
 * (an id) set, -1 unless one names it. */
static int provider_notices(st_client *c, int ms, const char *want)
{
    int n = 0, seen = 0;
    long end = now_ms() + ms;
    while (now_ms() < end) {
        parley_stanza *st = st_expect(c, "notification", (int)(end - now_ms()));
        if (st == NULL)
            break;
        const char *type = parley_stanza_attr(st, "type");
        if (type != NULL && strcmp(type, "provider") == 0) {
            n++;
            const char *id = parley_stanza_attr(st, "id");
            if (want != NULL && id != NULL && strcmp(id, want) == 0)
                seen = 1;
        }
        parley_stanza_free(st);
    }
    return want != NULL && !seen ? -1 : n;
}

static int flood_pings(st_client *c, int n, const char *tag)
{
    int limited = 0;
    for (int i = 0; i < n; i++) {
        char xml[128], id[64];
        snprintf(id, sizeof id, "%s%d", tag, i);
        snprintf(xml, sizeof xml, "<iq id=\"%s\" type=\"get\"><ping/></iq>", id);
        if (st_send(c, xml) != 0)
            return -1;
    }
    for (int i = 0; i < n; i++) {
        parley_stanza *r = st_expect(c, "iq", 5000);
        if (r == NULL)
            return -1;
        if (st_iq_code(r) == 429)
            limited++;
        parley_stanza_free(r);
    }
    return limited;
}

int main(int argc, char **argv)
{
    char reason[64], out[16384];
    if (argc != 3) {
        fprintf(stderr, "usage: test_interop PARLEYD PARLEYCTL\n");
        return 2;
    }
    CHECK(pc_init() == 0);
    CHECK(pc_ed25519_keygen(birdy.pub, birdy.priv) == 0);
    CHECK(pc_ed25519_keygen(parrot.pub, parrot.priv) == 0);
    /* Small limits so that a test can trip them. */
    CHECK(st_setup(&S, argv[1], argv[2],
                   "device_rate = 2\ndevice_burst = 40\nip_rate = 1\nip_burst = 50\n"
                   "first_contacts_per_day = 3\n") == 0);

    /* ---- parleyctl: the registry ---- */
    CHECK(add_provider(&birdy, "birdy.test") == 0);
    CHECK(add_provider(&parrot, NULL) == 0);
    CHECK(add_provider(&birdy, NULL) != 0); /* the id exists */
    {
        provider other = {"other", "birdy.example", 1, {0}, {0}};
        memcpy(other.pub, birdy.pub, 32);
        CHECK(add_provider(&other, NULL) != 0); /* the domain belongs to birdy */
    }
    CHECK(ctl(out, sizeof out, "provider", "add", "nokey", "--name", "x", "--domain", "x.example",
              NULL) == 2);
    CHECK(ctl(out, sizeof out, "provider", "add", "badproto", "--name", "x", "--domain",
              "y.example", "--key", "1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "--protocol",
              "mls", NULL) != 0); /* another protocol needs evidence */
    CHECK(ctl(out, sizeof out, "provider", "list", NULL) == 0);
    CHECK(strstr(out, "birdy") != NULL && strstr(out, "parrot") != NULL);
    CHECK(ctl(out, sizeof out, "provider", "show", "birdy", NULL) == 0);
    CHECK(strstr(out, "status: active") != NULL && strstr(out, "domain: birdy.test") != NULL);
    CHECK(strstr(out, "agreement: 2026-01-15") != NULL);
    CHECK(strstr(out, "add by test") != NULL); /* the audit entry */

    CHECK(st_start(&S) == 0);

    /* ---- gatekeeper users ---- */
    st_dev alice, dave, erin;
    st_client ca, cd, ce;
    gk_user(&alice, &ca, "alice@gk.example");
    gk_user(&dave, &cd, "dave@gk.example");
    gk_user(&erin, &ce, "erin@gk.example");
    /* gina goes offline at once: she hears of new providers at her next login */
    st_dev gina;
    st_client cg;
    gk_user(&gina, &cg, "gina@gk.example");
    st_close(&cg);

    /* ---- enlistment and its refusals ---- */
    st_dev bob, carol, x;
    st_client cb, cc, cx;
    st_dev_new(&bob, "bob@birdy.example");
    st_dev_new(&carol, "carol@parrot.example");
    {
        uint8_t fpub[32], fpriv[64], other[32];
        char *att;
        CHECK(pc_ed25519_keygen(fpub, fpriv) == 0);
        memset(other, 0x42, sizeof other);
        /* forged: birdy's key id, another key */
        att = attest(&birdy, birdy.key_id, fpriv, bob.user, &bob, NULL, -60, 86400);
        CHECK(strcmp(enlist(&cx, &bob, att), "bad-attestation") == 0);
        st_close(&cx);
        free(att);
        /* expired */
        att = attest(&birdy, birdy.key_id, birdy.priv, bob.user, &bob, NULL, -3 * 86400, 86400);
        CHECK(strcmp(enlist(&cx, &bob, att), "attestation-expired") == 0);
        st_close(&cx);
        free(att);
        /* wrong domain: the attestation names a user outside birdy's domains */
        att = attest(&birdy, birdy.key_id, birdy.priv, "bob@elsewhere.example", &bob, NULL, -60,
                     86400);
        CHECK(strcmp(enlist(&cx, &bob, att), "bad-attestation") == 0);
        st_close(&cx);
        free(att);
        /* wrong key: for another Noise static key */
        att = attest(&birdy, birdy.key_id, birdy.priv, bob.user, &bob, other, -60, 86400);
        CHECK(strcmp(enlist(&cx, &bob, att), "bad-attestation") == 0);
        st_close(&cx);
        free(att);
        /* an unknown key id */
        att = attest(&birdy, 99, birdy.priv, bob.user, &bob, NULL, -60, 86400);
        CHECK(strcmp(enlist(&cx, &bob, att), "bad-attestation") == 0);
        st_close(&cx);
        free(att);
        /* signed by the other provider */
        att = attest(&parrot, parrot.key_id, parrot.priv, bob.user, &bob, NULL, -60, 86400);
        CHECK(strcmp(enlist(&cx, &bob, att), "bad-attestation") == 0);
        st_close(&cx);
        free(att);
        /* longer than the gatekeeper accepts */
        att = attest(&birdy, birdy.key_id, birdy.priv, bob.user, &bob, NULL, -60, 60 * 86400);
        CHECK(strcmp(enlist(&cx, &bob, att), "bad-attestation") == 0);
        st_close(&cx);
        free(att);
        /* a domain no provider owns */
        st_dev_new(&x, "x@nowhere.example");
        att = attest(&birdy, birdy.key_id, birdy.priv, x.user, &x, NULL, -60, 86400);
        CHECK(strcmp(enlist(&cx, &x, att), "unknown-provider") == 0);
        st_close(&cx);
        free(att);
        /* nothing was created by the refusals */
        CHECK(ctl(out, sizeof out, "device", "list", bob.user, NULL) == 0);
        CHECK(strstr(out, "bob@birdy.example/") == NULL);
    }
    {
        char *att = good_att(&birdy, &bob);
        CHECK(strcmp(enlist(&cb, &bob, att), "") == 0);
        CHECK(bob.device == 1);
        free(att);
        /* The first key upload must name the attested identity. */
        uint8_t wrong[33];
        memcpy(wrong, bob.id_pub, 33);
        wrong[5] ^= 1;
        CHECK(st_upload_keys_as(&cb, &bob, wrong, 1, 3) == 409);
        CHECK(st_upload_keys(&cb, &bob, 1, 5) == 0);
        att = good_att(&parrot, &carol);
        CHECK(strcmp(enlist(&cc, &carol, att), "") == 0);
        free(att);
        CHECK(st_upload_keys(&cc, &carol, 1, 5) == 0);
    }
    /* A third-party user is in the directory like any other. */
    {
        char xml[256];
        snprintf(xml, sizeof xml, "<iq id=\"b1\" type=\"get\"><bundles user=\"%s\"/></iq>",
                 bob.user);
        parley_stanza *r = st_iq(&ca, xml, "b1");
        CHECK(st_iq_code(r) == 0);
        const parley_stanza *bs = r != NULL ? parley_stanza_child(r, "bundles") : NULL;
        CHECK(bs != NULL && parley_stanza_child(bs, "bundle") != NULL);
        parley_stanza_free(r);
    }
    /* Logins re-check the attestation. */
    {
        st_client c2;
        char *att = good_att(&birdy, &bob);
        CHECK(strcmp(login_att(&c2, &bob, NULL), "bad-attestation") == 0);
        st_close(&c2);
        char *old =
            attest(&birdy, birdy.key_id, birdy.priv, bob.user, &bob, NULL, -5 * 86400, 86400);
        CHECK(strcmp(login_att(&c2, &bob, old), "attestation-expired") == 0);
        st_close(&c2);
        free(old);
        /* A valid login replaces the enlisting connection. */
        st_close(&cb);
        CHECK(strcmp(login_att(&cb, &bob, att), "") == 0);
        free(att);
    }
    CHECK(ctl(out, sizeof out, "stats", NULL) == 0);

    /* ---- consent: refused before opt-in, nothing queued ---- */
    CHECK(msg1(&cb, "m1", &alice, reason) == 403);
    CHECK(strcmp(reason, "consent-required") == 0);
    CHECK(msg1(&ca, "m2", &bob, reason) == 403);
    CHECK(strcmp(reason, "enable-provider-first") == 0);
    CHECK(queued(alice.user, 1) == 0);
    CHECK(queued(bob.user, 1) == 0);
    {
        parley_stanza *r = st_iq(&ca, "<iq id=\"p1\" type=\"get\"><providers/></iq>", "p1");
        const parley_stanza *l = r != NULL ? parley_stanza_child(r, "providers") : NULL;
        int seen = 0;
        for (const parley_stanza *p = l ? parley_stanza_first_child(l) : NULL; p != NULL;
             p = parley_stanza_next_sibling(p)) {
            const char *id = parley_stanza_attr(p, "id"), *en = parley_stanza_attr(p, "enabled");
            if (id != NULL && strcmp(id, "birdy") == 0 && en != NULL && strcmp(en, "false") == 0)
                seen++;
            if (id != NULL && strcmp(id, "parrot") == 0)
                seen++;
        }
        CHECK(seen == 2);
        CHECK(l != NULL && parley_stanza_attr(l, "inbox") != NULL &&
              strcmp(parley_stanza_attr(l, "inbox"), "separate") == 0);
        parley_stanza_free(r);
    }
    CHECK(iq_code(&cb, "<iq id=\"p2\" type=\"get\"><providers/></iq>", "p2") == 403);
    CHECK(iq_code(&ca,
                  "<iq id=\"c0\" type=\"set\"><consent provider=\"nope\" enabled=\"true\"/></iq>",
                  "c0") == 404);
    CHECK(iq_code(&ca,
                  "<iq id=\"c1\" type=\"set\"><consent provider=\"birdy\" enabled=\"true\"/></iq>",
                  "c1") == 0);
    {
        parley_stanza *n = st_expect(&ca, "notification", 2000);
        CHECK(n != NULL && strcmp(parley_stanza_attr(n, "type"), "consent") == 0 &&
              strcmp(parley_stanza_attr(n, "provider"), "birdy") == 0);
        parley_stanza_free(n);
    }
    CHECK(iq_code(&ca, "<iq id=\"i1\" type=\"set\"><inbox mode=\"combined\"/></iq>", "i1") == 0);
    CHECK(iq_code(&ca, "<iq id=\"i2\" type=\"set\"><inbox mode=\"sideways\"/></iq>", "i2") == 400);

    /* ---- after opt-in: a message request, then both ways ---- */
    CHECK(msg1(&cb, "m3", &alice, reason) == 0);
    {
        parley_stanza *m = recv_msg(&ca, 3000);
        CHECK(m != NULL);
        const char *rq = m ? parley_stanza_attr(m, "request") : NULL;
        CHECK(rq != NULL && strcmp(rq, "1") == 0);
        const char *from = m ? parley_stanza_attr(m, "from") : NULL;
        CHECK(from != NULL && strcmp(from, "bob@birdy.example/1") == 0);
        parley_stanza_free(m);
    }
    {
        parley_stanza *r = st_iq(&ca, "<iq id=\"q1\" type=\"get\"><requests/></iq>", "q1");
        const parley_stanza *l = r ? parley_stanza_child(r, "requests") : NULL;
        const parley_stanza *e = l ? parley_stanza_child(l, "request") : NULL;
        CHECK(e != NULL && strcmp(parley_stanza_attr(e, "from"), bob.user) == 0);
        parley_stanza_free(r);
    }
    CHECK(msg1(&ca, "m4", &bob, reason) == 0);
    {
        parley_stanza *m = recv_msg(&cb, 3000);
        CHECK(m != NULL && parley_stanza_attr(m, "request") == NULL);
        parley_stanza_free(m);
    }
    {
        char xml[256];
        snprintf(xml, sizeof xml,
                 "<iq id=\"q2\" type=\"set\"><request from=\"%s\" action=\"accept\"/></iq>",
                 bob.user);
        CHECK(iq_code(&ca, xml, "q2") == 0);
    }
    CHECK(msg1(&cb, "m5", &alice, reason) == 0);
    {
        parley_stanza *m = recv_msg(&ca, 3000);
        CHECK(m != NULL && parley_stanza_attr(m, "request") == NULL);
        parley_stanza_free(m);
    }
    /* Receipts follow the same policy. */
    {
        char xml[256];
        snprintf(xml, sizeof xml,
                 "<receipt id=\"r1\" to=\"%s\" type=\"read\"><item id=\"m5\"/></receipt>",
                 bob.user);
        CHECK(st_send(&ca, xml) == 0);
        CHECK(wait_ack(&ca, "r1", reason) == 0);
        parley_stanza *r = st_expect(&cb, "receipt", 3000);
        CHECK(r != NULL);
        parley_stanza_free(r);
    }
    /* Third party to third party is not carried. */
    CHECK(msg1(&cb, "m6", &carol, reason) == 403);
    CHECK(strcmp(reason, "not-allowed") == 0);

    /* ---- second provider: consent, request, decline ---- */
    CHECK(msg1(&cc, "m7", &alice, reason) == 403);
    CHECK(strcmp(reason, "consent-required") == 0);
    CHECK(iq_code(&ca,
                  "<iq id=\"c2\" type=\"set\"><consent provider=\"parrot\" enabled=\"true\"/></iq>",
                  "c2") == 0);
    CHECK(msg1(&cc, "m8", &alice, reason) == 0);
    {
        parley_stanza *m = recv_msg(&ca, 3000);
        CHECK(m != NULL && parley_stanza_attr(m, "request") != NULL);
        parley_stanza_free(m);
        char xml[256];
        snprintf(xml, sizeof xml,
                 "<iq id=\"q3\" type=\"set\"><request from=\"%s\" action=\"decline\"/></iq>",
                 carol.user);
        CHECK(iq_code(&ca, xml, "q3") == 0);
    }
    CHECK(msg1(&cc, "m9", &alice, reason) == 403);
    CHECK(strcmp(reason, "not-allowed") == 0);
    CHECK(queued(alice.user, 1) == 0);

    /* ---- report with an attached message ---- */
    {
        char xml[512];
        snprintf(xml, sizeof xml,
                 "<iq id=\"rp\" type=\"set\"><report jid=\"%s\" reason=\"spam\">"
                 "<msg id=\"m8\" t=\"1700000000000\">QnV5IGNoZWFwIHdhdGNoZXM=</msg></report></iq>",
                 carol.user);
        parley_stanza *r = st_iq(&ca, xml, "rp");
        CHECK(st_iq_code(r) == 0);
        const parley_stanza *e = r ? parley_stanza_child(r, "report") : NULL;
        uint64_t rid = 0;
        CHECK(e != NULL && parley_stanza_attr_u64(e, "id", &rid) == 0 && rid >= 1);
        parley_stanza_free(r);
        CHECK(ctl(out, sizeof out, "reports", NULL) == 0);
        CHECK(strstr(out, "alice@gk.example reported carol@parrot.example: spam") != NULL);
        CHECK(strstr(out, "Buy cheap watches") != NULL);
        char ids[16];
        snprintf(ids, sizeof ids, "%llu", (unsigned long long)rid);
        CHECK(ctl(out, sizeof out, "reports", "close", ids, "dismissed", NULL) == 0);
        CHECK(ctl(out, sizeof out, "reports", NULL) == 0);
        CHECK(strstr(out, "carol@parrot.example") == NULL);
        CHECK(ctl(out, sizeof out, "reports", "--status", "all", NULL) == 0);
        CHECK(strstr(out, "dismissed") != NULL);
    }

    /* ---- block and unblock ---- */
    {
        char xml[256];
        snprintf(xml, sizeof xml, "<iq id=\"bk\" type=\"set\"><block jid=\"%s\"/></iq>", bob.user);
        CHECK(iq_code(&ca, xml, "bk") == 0);
        CHECK(msg1(&cb, "m10", &alice, reason) == 403);
        CHECK(strcmp(reason, "not-allowed") == 0);
        CHECK(msg1(&ca, "m11", &bob, reason) == 403);
        CHECK(strcmp(reason, "you-blocked") == 0);
        snprintf(xml, sizeof xml, "<iq id=\"ub\" type=\"set\"><unblock jid=\"%s\"/></iq>",
                 bob.user);
        CHECK(iq_code(&ca, xml, "ub") == 0);
        CHECK(msg1(&cb, "m12", &alice, reason) == 0);
        parley_stanza *m = recv_msg(&ca, 3000);
        CHECK(m != NULL);
        parley_stanza_free(m);
    }

    /* ---- first contacts per day (3): alice, dave, erin enabled birdy ---- */
    CHECK(iq_code(&cd,
                  "<iq id=\"c3\" type=\"set\"><consent provider=\"birdy\" enabled=\"true\"/></iq>",
                  "c3") == 0);
    CHECK(iq_code(&ce,
                  "<iq id=\"c4\" type=\"set\"><consent provider=\"birdy\" enabled=\"true\"/></iq>",
                  "c4") == 0);
    CHECK(msg1(&cb, "f1", &dave, reason) == 0);
    CHECK(msg1(&cb, "f2", &erin, reason) == 0);
    {
        /* the fourth first contact of the day (alice was the first) */
        st_dev frank;
        st_client cf;
        gk_user(&frank, &cf, "frank@gk.example");
        CHECK(iq_code(
                  &cf,
                  "<iq id=\"c5\" type=\"set\"><consent provider=\"birdy\" enabled=\"true\"/></iq>",
                  "c5") == 0);
        CHECK(msg1(&cb, "f3", &frank, reason) == 429);
        CHECK(queued(frank.user, 1) == 0);
        /* not a first contact: still served */
        CHECK(msg1(&cb, "f4", &dave, reason) == 0);
        /* Writing back answers the request: erin's reply makes bob's next
         * message an ordinary one. */
        parley_stanza *m = recv_msg(&ce, 3000);
        CHECK(m != NULL && parley_stanza_attr(m, "request") != NULL);
        parley_stanza_free(m);
        CHECK(msg1(&ce, "f5", &bob, reason) == 0);
        m = recv_msg(&cb, 3000);
        CHECK(m != NULL);
        parley_stanza_free(m);
        CHECK(msg1(&cb, "f6", &erin, reason) == 0);
        m = recv_msg(&ce, 3000);
        CHECK(m != NULL && parley_stanza_attr(m, "request") == NULL);
        parley_stanza_free(m);
        st_close(&cf);
    }

    /* ---- rate limit per device: bob floods, alice is served ---- */
    {
        int limited = flood_pings(&cb, 80, "fl");
        CHECK(limited >= 20);
        CHECK(flood_pings(&ca, 80, "ok") == 0);
    }

    /* ---- proxy mode: the client IP from the provider's statement ---- */
    {
        st_dev proxy1, proxy2, proxy3, pc1, pc2, pc3;
        st_client cp1, cp2, cp3, cbad;
        st_dev_new(&proxy1, "proxy");
        st_dev_new(&proxy2, "proxy");
        st_dev_new(&proxy3, "proxy");
        st_dev_new(&pc1, "pat@birdy.example");
        st_dev_new(&pc2, "quinn@birdy.example");
        st_dev_new(&pc3, "rae@birdy.example");
        uint8_t fpub[32], fpriv[64];
        CHECK(pc_ed25519_keygen(fpub, fpriv) == 0);
        CHECK(strcmp(proxy_login(&cbad, &proxy1, &pc1, 1, "198.51.100.7", fpriv),
                     "bad-attestation") == 0);
        st_close(&cbad);
        CHECK(strcmp(proxy_login(&cp1, &proxy1, &pc1, 1, "198.51.100.7", NULL), "") == 0);
        CHECK(strcmp(proxy_login(&cp2, &proxy2, &pc2, 1, "198.51.100.7", NULL), "") == 0);
        CHECK(strcmp(proxy_login(&cp3, &proxy3, &pc3, 1, "198.51.100.99", NULL), "") == 0);
        /* The device is bound to its own key, not the proxy's: a later
         * login through the proxy names it. */
        st_close(&cp1);
        st_dev proxy4;
        st_dev_new(&proxy4, "proxy");
        CHECK(strcmp(proxy_login(&cp1, &proxy4, &pc1, 0, "198.51.100.7", NULL), "") == 0);
        CHECK(pc1.device == 1);
        /* One IP shares a bucket (burst 50): two devices behind it run dry,
         * a third device at another IP does not. */
        int a = flood_pings(&cp1, 30, "pa");
        int b = flood_pings(&cp2, 30, "pb");
        int c3 = flood_pings(&cp3, 30, "pc");
        CHECK(a == 0);
        CHECK(b >= 5);
        CHECK(c3 == 0);
        st_close(&cp1);
        st_close(&cp2);
        st_close(&cp3);
    }

    /* ---- provider suspension mid-conversation, then resumption ---- */
    {
        long t0 = now_ms();
        CHECK(ctl(out, sizeof out, "provider", "suspend", "birdy", "--actor", "test", NULL) == 0);
        long closed = wait_closed(&cb, 3000, reason);
        CHECK(closed >= 0 && now_ms() - t0 < 1000 + 300); /* parleyctl's own run included */
        CHECK(strcmp(reason, "provider-suspended") == 0);
        fprintf(stderr, "suspension closed the connection after %ld ms\n", now_ms() - t0);
        st_close(&cb);
        char *att = good_att(&birdy, &bob);
        CHECK(strcmp(login_att(&cb, &bob, att), "provider-suspended") == 0);
        st_close(&cb);
        long q0 = queued(bob.user, 1);
        CHECK(q0 >= 0);
        CHECK(msg1(&ca, "s1", &bob, reason) == 503);
        CHECK(strcmp(reason, "provider-unavailable") == 0);
        CHECK(queued(bob.user, 1) == q0);
        /* parrot is unaffected */
        CHECK(iq_code(&cc, "<iq id=\"pp\" type=\"get\"><ping/></iq>", "pp") == 0);
        CHECK(ctl(out, sizeof out, "provider", "resume", "birdy", NULL) == 0);
        usleep(400 * 1000);
        CHECK(strcmp(login_att(&cb, &bob, att), "") == 0);
        free(att);
        CHECK(msg1(&ca, "s2", &bob, reason) == 0);
        parley_stanza *m = recv_msg(&cb, 3000);
        CHECK(m != NULL);
        parley_stanza_free(m);
        CHECK(ctl(out, sizeof out, "provider", "show", "birdy", NULL) == 0);
        CHECK(strstr(out, "suspend by test") != NULL && strstr(out, "resume by") != NULL);
    }

    /* ---- suspension of one user is effective at once ---- */
    {
        long t0 = now_ms();
        CHECK(ctl(out, sizeof out, "user", "suspend", bob.user, NULL) == 0);
        CHECK(wait_closed(&cb, 3000, reason) >= 0 && now_ms() - t0 < 1300);
        CHECK(strcmp(reason, "suspended") == 0);
        st_close(&cb);
        CHECK(ctl(out, sizeof out, "user", "resume", bob.user, NULL) == 0);
    }

    /* ---- termination removes devices and keys ---- */
    {
        CHECK(ctl(out, sizeof out, "provider", "terminate", "parrot", NULL) == 0);
        CHECK(strstr(out, "removed 1 device") != NULL);
        CHECK(wait_closed(&cc, 3000, reason) >= 0);
        st_close(&cc);
        char *att = good_att(&parrot, &carol);
        CHECK(strcmp(login_att(&cc, &carol, att), "provider-suspended") == 0);
        st_close(&cc);
        free(att);
        CHECK(ctl(out, sizeof out, "provider", "resume", "parrot", NULL) != 0); /* final */
        CHECK(ctl(out, sizeof out, "device", "list", carol.user, NULL) == 0);
        CHECK(strstr(out, "carol@parrot.example/1") == NULL);
    }

    /* ---- a new provider: connected users are told ---- */
    {
        provider kite = {"kite", "kite.example", 3, {0}, {0}};
        CHECK(pc_ed25519_keygen(kite.pub, kite.priv) == 0);
        long long kite_created = (long long)time(NULL);
        CHECK(add_provider(&kite, NULL) == 0);
        parley_stanza *n = NULL;
        for (int i = 0; i < 10; i++) {
            n = st_expect(&cd, "notification", 1000);
            if (n != NULL && strcmp(parley_stanza_attr(n, "type"), "provider") == 0)
                break;
            parley_stanza_free(n);
            n = NULL;
        }
        CHECK(n != NULL && strcmp(parley_stanza_attr(n, "id"), "kite") == 0);
        parley_stanza_free(n);

        /* gina was offline: told at her next login, once */
        CHECK(st_login(&cg, &S, &gina) == 1);
        CHECK(provider_notices(&cg, 1500, "kite") >= 1);
        st_close(&cg);
        /* the server records that she was told when the connection ends */
        int marked = 0;
        for (int i = 0; i < 50 && !marked; i++) {
            long long seen = -1;
            const char *p;
            if (ctl(out, sizeof out, "device", "list", gina.user, NULL) == 0 &&
                (p = strstr(out, "last_seen=")) != NULL)
                seen = atoll(p + 10);
            marked = seen >= kite_created;
            if (!marked)
                usleep(100 * 1000);
        }
        CHECK(marked);
        CHECK(st_login(&cg, &S, &gina) == 1);
        CHECK(provider_notices(&cg, 1500, NULL) == 0);
        st_close(&cg);
    }

    st_close(&ca);
    st_close(&cd);
    st_close(&ce);
    CHECK(st_stop(&S, 15) == 0);
    if (check_failed > 0) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "tail -40 %s >&2", S.log);
        if (system(cmd) != 0)
            fprintf(stderr, "(no log)\n");
    }
    st_cleanup(&S, check_failed);
    TEST_MAIN_END();
}

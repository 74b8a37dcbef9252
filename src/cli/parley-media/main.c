/*
 * parley-mediad: a media host and/or a gatekeeper media proxy from flags
 * (docs/media.md "parley-mediad"), for operators until parleyd embeds
 * them, and for tests. The proxy's allow-lists come from --allow-host (one
 * list for every provider) or from the gatekeeper's provider registry
 * (--db, registry.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/parley-media/registry.h"
#include "crypto/crypto.h"
#include "mediahost/mediahost.h"
#include "parley/media.h"
#include "store/store.h"

#define MAX_TOKENS 64
#define MAX_HOSTS 64

static struct {
    char *token, *user;
} tokens[MAX_TOKENS];
static size_t ntokens;
static char *hosts[MAX_HOSTS];
static size_t nhosts;
static volatile sig_atomic_t stop;
/* --token-key: the key the chat server mints media tokens with */
static uint8_t token_key[PARLEY_MEDIA_TOKEN_KEY_LEN];
static int have_token_key;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int auth(void *ctx, const char *token, char user[PMH_USER_MAX])
{
    (void)ctx;
    int found = -1;
    size_t tl = strlen(token);
    if (have_token_key && strncmp(token, "pmt1.", 5) == 0) {
        char name[PARLEY_MEDIA_TOKEN_USER_MAX];
        if (parley_media_token_verify(token_key, token, (uint64_t)time(NULL), name, NULL) !=
            PARLEY_OK)
            return 0;
        snprintf(user, PMH_USER_MAX, "%s", name);
        return 1;
    }
    /* look at every entry, so the time says nothing about which matched */
    for (size_t i = 0; i < ntokens; i++) {
        size_t l = strlen(tokens[i].token);
        if (l == tl && pc_ct_eq(tokens[i].token, token, l) && found < 0)
            found = (int)i;
    }
    if (found < 0)
        return 0;
    snprintf(user, PMH_USER_MAX, "%s", tokens[found].user);
    return 1;
}

/* "name" allows the host on any port, "name:port" on that port only. */
static int allow(void *ctx, const char *provider, const char *host, unsigned port)
{
    (void)ctx;
    (void)provider;
    for (size_t i = 0; i < nhosts; i++) {
        const char *h = hosts[i];
        const char *colon = strrchr(h, ':');
        if (h[0] == '[') { /* [v6]:port or [v6] */
            const char *close = strchr(h, ']');
            if (close == NULL)
                continue;
            size_t n = (size_t)(close - h - 1);
            if (strlen(host) == n && strncasecmp(h + 1, host, n) == 0 &&
                (close[1] == '\0' || (close[1] == ':' && strtoul(close + 2, NULL, 10) == port)))
                return 1;
        } else if (colon != NULL && strchr(h, ':') == colon) {
            size_t n = (size_t)(colon - h);
            if (strlen(host) == n && strncasecmp(h, host, n) == 0 &&
                strtoul(colon + 1, NULL, 10) == port)
                return 1;
        } else if (strcasecmp(h, host) == 0) {
            return 1;
        }
    }
    return 0;
}

/* 32 bytes, raw or as 64 hex digits (a trailing newline is fine). */
static int load_token_key(const char *path)
{
    uint8_t buf[130];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == PARLEY_MEDIA_TOKEN_KEY_LEN) {
        memcpy(token_key, buf, n);
    } else if (n == 2 * PARLEY_MEDIA_TOKEN_KEY_LEN) {
        for (size_t i = 0; i < PARLEY_MEDIA_TOKEN_KEY_LEN; i++) {
            unsigned v;
            char two[3] = {(char)buf[2 * i], (char)buf[2 * i + 1], 0};
            if (strspn(two, "0123456789abcdefABCDEF") != 2 || sscanf(two, "%2x", &v) != 1) {
                pc_wipe(buf, sizeof buf);
                return 0;
            }
            token_key[i] = (uint8_t)v;
        }
    } else {
        pc_wipe(buf, sizeof buf);
        return 0;
    }
    pc_wipe(buf, sizeof buf);
    have_token_key = 1;
    return 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: parley-mediad [--host-dir DIR] [--proxy] [options]\n"
            "  --bind ADDR            numeric address to listen on (default 127.0.0.1)\n"
            "  --host-port N          media host port (0: any; printed)\n"
            "  --proxy-port N         media proxy port (0: any; printed)\n"
            "  --token TOKEN=USER     accept this bearer token as USER (repeatable)\n"
            "  --token-key FILE       accept media tokens minted by parleyd with this key\n"
            "  --allow-host H[:PORT]  proxy: a media host of every provider (repeatable)\n"
            "  --db FILE              proxy: each provider's media hosts and status from\n"
            "                         the gatekeeper's database (instead of --allow-host)\n"
            "  --allow-loopback       proxy: let loopback targets through (tests only)\n"
            "  --max-size BYTES       largest blob (default 268439552)\n"
            "  --ttl SECONDS          host: blob lifetime (default 30 days)\n"
            "  --public-base URL      host: prefix of the links it returns\n"
            "  --cache-dir DIR        proxy: keep fetched blobs here\n"
            "  --low-speed BYTES      proxy: drop upstreams slower than this ...\n"
            "  --low-speed-time S     ... for this long (defaults 4096, 15)\n"
            "  --rate-burst N         proxy: requests per user at once (default 60)\n"
            "  --rate-per-minute N    proxy: refill rate (default 120)\n"
            "  --cert FILE --key FILE serve HTTPS\n"
            "  --ca-file FILE         proxy: trust anchors for https upstreams\n");
}

int main(int argc, char **argv)
{
    pmh_host_config hc = {0};
    pmh_proxy_config pc = {0};
    const char *bind_addr = "127.0.0.1", *db_path = NULL;
    pstore *db = NULL;
    int want_proxy = 0;
    unsigned long host_port = 0, proxy_port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v != NULL && (i++, 1))
        if (strcmp(a, "--proxy") == 0) {
            want_proxy = 1;
        } else if (strcmp(a, "--allow-loopback") == 0) {
            pc.allow_loopback = 1;
        } else if (ARG("--host-dir")) {
            hc.dir = v;
        } else if (ARG("--bind")) {
            bind_addr = v;
        } else if (ARG("--host-port")) {
            host_port = strtoul(v, NULL, 10);
        } else if (ARG("--proxy-port")) {
            proxy_port = strtoul(v, NULL, 10);
        } else if (ARG("--token")) {
            char *eq = strchr(v, '=');
            if (eq == NULL || ntokens == MAX_TOKENS || eq == v || eq[1] == '\0') {
                usage();
                return 2;
            }
            tokens[ntokens].token = strndup(v, (size_t)(eq - v));
            tokens[ntokens].user = strdup(eq + 1);
            ntokens++;
        } else if (ARG("--token-key")) {
            if (!load_token_key(v)) {
                fprintf(stderr, "parley-mediad: %s: want 32 bytes, raw or as 64 hex digits\n", v);
                return 2;
            }
        } else if (ARG("--allow-host")) {
            if (nhosts == MAX_HOSTS) {
                usage();
                return 2;
            }
            hosts[nhosts++] = strdup(v);
        } else if (ARG("--db")) {
            db_path = v;
        } else if (ARG("--max-size")) {
            hc.max_blob_size = pc.max_blob_size = strtoull(v, NULL, 10);
        } else if (ARG("--ttl")) {
            hc.ttl_seconds = strtoull(v, NULL, 10);
        } else if (ARG("--public-base")) {
            hc.public_base = v;
        } else if (ARG("--cache-dir")) {
            pc.cache_dir = v;
        } else if (ARG("--low-speed")) {
            pc.low_speed_limit = strtol(v, NULL, 10);
        } else if (ARG("--low-speed-time")) {
            pc.low_speed_time = strtol(v, NULL, 10);
        } else if (ARG("--rate-burst")) {
            pc.rate_burst = (unsigned)strtoul(v, NULL, 10);
        } else if (ARG("--rate-per-minute")) {
            pc.rate_per_minute = (unsigned)strtoul(v, NULL, 10);
        } else if (ARG("--cert")) {
            hc.tls_cert_file = pc.tls_cert_file = v;
        } else if (ARG("--key")) {
            hc.tls_key_file = pc.tls_key_file = v;
        } else if (ARG("--ca-file")) {
            pc.ca_file = v;
        } else {
            usage();
            return 2;
        }
#undef ARG
    }
    if ((hc.dir == NULL && !want_proxy) || (ntokens == 0 && !have_token_key) || host_port > 65535 ||
        proxy_port > 65535) {
        usage();
        return 2;
    }
    if (db_path != NULL && (nhosts > 0 || !want_proxy)) {
        fprintf(stderr, "parley-mediad: --db gives the proxy its allow-lists: use it with "
                        "--proxy and without --allow-host\n");
        return 2;
    }
    if (db_path != NULL && pmd_registry_open(&db, db_path) != 0)
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    pmh_host *h = NULL;
    pmh_proxy *p = NULL;
    if (hc.dir != NULL) {
        hc.bind_addr = bind_addr;
        hc.port = (uint16_t)host_port;
        hc.auth = auth;
        int rc = pmh_host_start(&h, &hc);
        if (rc < 0) {
            fprintf(stderr, "parley-mediad: cannot start the media host: %s\n",
                    parley_strerror(rc));
            pstore_close(db);
            return 1;
        }
        printf("host listening on %s port %u\n", bind_addr, pmh_host_port(h));
    }
    if (want_proxy) {
        pc.bind_addr = bind_addr;
        pc.port = (uint16_t)proxy_port;
        pc.auth = auth;
        pc.allow = db != NULL ? pmd_registry_allow : allow;
        pc.allow_ctx = db;
        int rc = pmh_proxy_start(&p, &pc);
        if (rc < 0) {
            fprintf(stderr, "parley-mediad: cannot start the media proxy: %s\n",
                    parley_strerror(rc));
            pmh_host_stop(h);
            pstore_close(db);
            return 1;
        }
        printf("proxy listening on %s port %u\n", bind_addr, pmh_proxy_port(p));
    }
    fflush(stdout);
    while (!stop)
        pause();
    pmh_proxy_stop(p);
    pmh_host_stop(h);
    pstore_close(db);
    for (size_t i = 0; i < ntokens; i++) {
        pc_wipe(tokens[i].token, strlen(tokens[i].token));
        free(tokens[i].token);
        free(tokens[i].user);
    }
    for (size_t i = 0; i < nhosts; i++)
        free(hosts[i]);
    pc_wipe(token_key, sizeof token_key);
    return 0;
}

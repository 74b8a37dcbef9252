/*
 * parley-provider: the reference third-party provider server.
 *
 *   parley-provider keygen KEYFILE         new attestation key; prints its public key
 *   parley-provider pubkey KEYFILE         print the public key of a key file
 *   parley-provider passwd USERSFILE NAME  add a user, password read from stdin
 *   parley-provider serve [--config FILE] [--id ID] [--domain D] [--listen IP]
 *                         [--port N] [--key FILE] [--key-id N] [--users FILE]
 *                         [--gk-key KEYID:BASE64]... [--lifetime SECONDS]
 *                         [--media-dir DIR [--media-port N] [--media-public URL]
 *                          [--media-cert FILE --media-cert-key FILE]
 *                          [--media-token-key FILE] [--media-token-ttl SECONDS]
 *                          [--media-max-size BYTES] [--media-ttl SECONDS]]
 *   parley-provider proxy --id ID --domain D --key FILE [--key-id N] [--listen IP]
 *                         [--port N] --server-key HEXFILE --server-cert CERTFILE
 *                         --gatekeeper IP:PORT --gatekeeper-root HEX
 *                         [--gatekeeper-key HEX] [--verbose]
 *
 * `serve` prints "listening on http://IP:PORT" once ready (port 0 picks a
 * free one), with --media-dir first "media host on URL", and runs until
 * SIGINT or SIGTERM; `proxy` likewise prints
 * "proxying on IP:PORT". The proxy's server key and certificate are the
 * files `parleyctl cert issue` writes (hex key, raw certificate), made
 * with the provider's own root key, which its clients pin.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto/crypto.h"
#include "provider/provider.h"
#include "provider/proxy.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: parley-provider keygen KEYFILE\n"
            "       parley-provider pubkey KEYFILE\n"
            "       parley-provider passwd USERSFILE NAME   (password on stdin)\n"
            "       parley-provider serve [--config FILE] [--id ID] [--domain DOMAIN]\n"
            "                             [--listen IP] [--port N] [--key FILE] [--key-id N]\n"
            "                             [--users FILE] [--gk-key KEYID:BASE64]\n"
            "                             [--lifetime SECONDS]\n"
            "                             [--media-dir DIR [--media-port N] [--media-public URL]\n"
            "                              [--media-cert FILE --media-cert-key FILE]\n"
            "                              [--media-token-key FILE] [--media-token-ttl SECONDS]\n"
            "                              [--media-max-size BYTES] [--media-ttl SECONDS]]\n"
            "       parley-provider proxy --id ID --domain DOMAIN --key FILE [--key-id N]\n"
            "                             [--listen IP] [--port N] --server-key HEXFILE\n"
            "                             --server-cert CERTFILE --gatekeeper IP:PORT\n"
            "                             --gatekeeper-root HEX [--gatekeeper-key HEX]\n"
            "                             [--verbose]\n");
    return 2;
}

static void print_pub(const uint8_t priv[64])
{
    char b64[64];
    /* libsodium's secret key is seed || public key. */
    (void)phs_b64_encode(b64, sizeof b64, priv + 32, 32);
    printf("%s\n", b64);
}

static int cmd_keygen(const char *path)
{
    uint8_t pub[32], priv[64];
    if (pc_ed25519_keygen(pub, priv) != PARLEY_OK || pp_key_write(path, priv) != 0)
        return 1;
    print_pub(priv);
    pc_wipe(priv, sizeof priv);
    return 0;
}

static int cmd_pubkey(const char *path)
{
    uint8_t priv[64];
    if (pp_key_load(path, priv) != 0)
        return 1;
    print_pub(priv);
    pc_wipe(priv, sizeof priv);
    return 0;
}

static int cmd_passwd(const char *path, const char *name)
{
    char pw[PP_PASSWORD_MAX + 2], hash[PC_PWHASH_STR_LEN];
    if (!pp_name_ok(name)) {
        fprintf(stderr, "parley-provider: names are 1-%d of [a-z0-9._-]\n", PP_NAME_MAX);
        return 1;
    }
    if (fgets(pw, sizeof pw, stdin) == NULL) {
        fprintf(stderr, "parley-provider: no password on stdin\n");
        return 1;
    }
    size_t n = strcspn(pw, "\r\n");
    pw[n] = 0;
    if (n == 0 || n > PP_PASSWORD_MAX) {
        fprintf(stderr, "parley-provider: password must be 1-%d bytes\n", PP_PASSWORD_MAX);
        return 1;
    }
    int rc = pc_pwhash_str(hash, pw, n, 1);
    pc_wipe(pw, sizeof pw);
    if (rc != PARLEY_OK)
        return 1;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) {
        fprintf(stderr, "parley-provider: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char line[PP_NAME_MAX + PC_PWHASH_STR_LEN + 4];
    int l = snprintf(line, sizeof line, "%s:%s\n", name, hash);
    ssize_t w = write(fd, line, (size_t)l);
    close(fd);
    return w == l ? 0 : 1;
}

/* A decimal number up to max, nothing else. */
static int num_arg(const char *v, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (*v < '0' || *v > '9')
        return 0;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end != '\0' || errno != 0 || n > max)
        return 0;
    *out = n;
    return 1;
}

static int cmd_serve(int argc, char **argv)
{
    static pp_server s;
    char err[160];
    unsigned long long x = 0;
    pp_config_default(&s);
    /* The config file first, so flags override it wherever they appear. */
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0 && pp_config_load(&s, argv[i + 1]) != 0)
            return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (v == NULL)
            return usage();
        if (strcmp(a, "--config") == 0)
            ;
        else if (strcmp(a, "--id") == 0)
            ok = (size_t)snprintf(s.id, sizeof s.id, "%s", v) < sizeof s.id;
        else if (strcmp(a, "--domain") == 0)
            ok = (size_t)snprintf(s.domain, sizeof s.domain, "%s", v) < sizeof s.domain;
        else if (strcmp(a, "--listen") == 0)
            ok = (size_t)snprintf(s.listen, sizeof s.listen, "%s", v) < sizeof s.listen;
        else if (strcmp(a, "--port") == 0)
            s.port = (unsigned)strtoul(v, NULL, 10), ok = s.port <= 65535;
        else if (strcmp(a, "--key") == 0)
            ok = (size_t)snprintf(s.key_file, sizeof s.key_file, "%s", v) < sizeof s.key_file;
        else if (strcmp(a, "--key-id") == 0)
            s.key_id = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--users") == 0)
            ok = (size_t)snprintf(s.users_file, sizeof s.users_file, "%s", v) < sizeof s.users_file;
        else if (strcmp(a, "--gk-key") == 0)
            ok = pp_config_add_gk_key(&s, v) == 0;
        else if (strcmp(a, "--lifetime") == 0)
            s.lifetime = strtoull(v, NULL, 10), ok = s.lifetime > 0;
        else if (strcmp(a, "--media-dir") == 0)
            ok = (size_t)snprintf(s.media_dir, sizeof s.media_dir, "%s", v) < sizeof s.media_dir;
        else if (strcmp(a, "--media-port") == 0)
            ok = num_arg(v, 65535, &x), s.media_port = (unsigned)x;
        else if (strcmp(a, "--media-public") == 0)
            ok = (size_t)snprintf(s.media_public, sizeof s.media_public, "%s", v) <
                 sizeof s.media_public;
        else if (strcmp(a, "--media-cert") == 0)
            ok = (size_t)snprintf(s.media_tls_cert, sizeof s.media_tls_cert, "%s", v) <
                 sizeof s.media_tls_cert;
        else if (strcmp(a, "--media-cert-key") == 0)
            ok = (size_t)snprintf(s.media_tls_key, sizeof s.media_tls_key, "%s", v) <
                 sizeof s.media_tls_key;
        else if (strcmp(a, "--media-token-key") == 0)
            ok = (size_t)snprintf(s.media_token_key_file, sizeof s.media_token_key_file, "%s", v) <
                 sizeof s.media_token_key_file;
        else if (strcmp(a, "--media-token-ttl") == 0)
            ok = num_arg(v, PP_MEDIA_TOKEN_TTL_MAX, &x) && x > 0, s.media_token_ttl = x;
        else if (strcmp(a, "--media-max-size") == 0)
            ok = num_arg(v, UINT64_MAX, &x) && x > 0, s.media_max_size = x;
        else if (strcmp(a, "--media-ttl") == 0)
            ok = num_arg(v, UINT64_MAX, &x) && x > 0, s.media_ttl = x;
        else
            return usage();
        if (!ok) {
            fprintf(stderr, "parley-provider: bad value for %s\n", a);
            return 2;
        }
        i++;
    }
    if (pp_config_check(&s, err, sizeof err) != 0) {
        fprintf(stderr, "parley-provider: %s\n", err);
        return 2;
    }
    if (s.gk_key_count == 0)
        fprintf(stderr, "parley-provider: no gatekeeper key: push and verify calls will be "
                        "refused\n");
    s.priv = pc_secure_alloc(64);
    if (s.priv == NULL || pp_key_load(s.key_file, s.priv) != 0 || pp_users_load(&s) != 0)
        return 1;

    /* Block the stop signals in every thread; the main thread waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d = NULL;
    unsigned port = 0;
    if (pp_media_start(&s) != 0) {
        pp_media_stop(&s);
        return 1;
    }
    if (s.media != NULL)
        printf("parley-provider %s (%s): media host on %s\n", s.id, s.domain, s.media_url);
    if (pp_server_start(&s, &d, &port) != 0) {
        pp_media_stop(&s);
        return 1;
    }
    printf("parley-provider %s (%s): listening on http://%s:%u\n", s.id, s.domain, s.listen, port);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    pp_server_stop(&s, d);
    pp_media_stop(&s);
    pc_secure_free(s.priv);
    free(s.users);
    return 0;
}

/* n bytes written as hex, from a string or the first line of a file. */
static int unhex(uint8_t *out, size_t n, const char *hex)
{
    size_t l = strcspn(hex, "\r\n");
    if (l != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16u;
            if (d > 15)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int read_file(const char *path, uint8_t *out, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "parley-provider: %s: %s\n", path, strerror(errno));
        return -1;
    }
    *len = fread(out, 1, max, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    return extra ? -1 : 0;
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static int cmd_proxy(int argc, char **argv)
{
    static pp_proxy_config c;
    char keyf[PATH_MAX] = "", line[200];
    size_t n = 0;
    int rc = 1;
    uint8_t *priv = NULL;
    struct event_base *base = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    pp_proxy *px = NULL;
    snprintf(c.listen, sizeof c.listen, "127.0.0.1");
    c.key_id = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (strcmp(a, "--verbose") == 0) {
            c.verbose = 1;
            continue;
        }
        if (v == NULL)
            return usage();
        if (strcmp(a, "--id") == 0)
            ok = (size_t)snprintf(c.id, sizeof c.id, "%s", v) < sizeof c.id;
        else if (strcmp(a, "--domain") == 0)
            ok = (size_t)snprintf(c.domain, sizeof c.domain, "%s", v) < sizeof c.domain;
        else if (strcmp(a, "--key") == 0)
            ok = (size_t)snprintf(keyf, sizeof keyf, "%s", v) < sizeof keyf;
        else if (strcmp(a, "--key-id") == 0)
            c.key_id = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--listen") == 0)
            ok = (size_t)snprintf(c.listen, sizeof c.listen, "%s", v) < sizeof c.listen;
        else if (strcmp(a, "--port") == 0)
            c.port = (unsigned)strtoul(v, NULL, 10), ok = c.port <= 65535;
        else if (strcmp(a, "--server-key") == 0) {
            FILE *f = fopen(v, "r");
            ok = f && fgets(line, sizeof line, f) && unhex(c.static_priv, 32, line) == 0;
            if (f)
                fclose(f);
            pc_wipe(line, sizeof line);
        } else if (strcmp(a, "--server-cert") == 0)
            ok = read_file(v, c.cert, sizeof c.cert, &c.cert_len) == 0 &&
                 c.cert_len == PARLEY_CERT_LEN;
        else if (strcmp(a, "--gatekeeper") == 0) {
            const char *colon = strrchr(v, ':');
            ok = colon && (size_t)(colon - v) < sizeof c.gk_host;
            if (ok) {
                memcpy(c.gk_host, v, (size_t)(colon - v));
                c.gk_host[colon - v] = 0;
                unsigned long port = strtoul(colon + 1, NULL, 10);
                ok = port > 0 && port <= 65535;
                c.gk_port = (uint16_t)port;
            }
        } else if (strcmp(a, "--gatekeeper-root") == 0)
            ok = unhex(c.gk_root_pub, 32, v) == 0;
        else if (strcmp(a, "--gatekeeper-key") == 0)
            ok = unhex(c.gk_static, 32, v) == 0, c.gk_has_static = 1;
        else
            return usage();
        if (!ok) {
            fprintf(stderr, "parley-provider: bad value for %s\n", a);
            return 2;
        }
        i++;
    }
    if (c.id[0] == 0 || c.domain[0] == 0 || keyf[0] == 0 || c.cert_len == 0 || c.gk_port == 0) {
        fprintf(stderr, "parley-provider: proxy needs --id, --domain, --key, --server-key, "
                        "--server-cert, --gatekeeper and --gatekeeper-root\n");
        return 2;
    }
    priv = pc_secure_alloc(64);
    if (priv == NULL || pp_key_load(keyf, priv) != 0)
        goto out;
    c.attest_priv = priv;
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (base == NULL)
        goto out;
    unsigned port = 0;
    if (pp_proxy_new(&px, base, &c, &port) != PARLEY_OK) {
        fprintf(stderr, "parley-provider: cannot listen on %s port %u\n", c.listen, c.port);
        goto out;
    }
    sigint = evsignal_new(base, SIGINT, on_stop_signal, base);
    sigterm = evsignal_new(base, SIGTERM, on_stop_signal, base);
    if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) != 0 ||
        event_add(sigterm, NULL) != 0)
        goto out;
    printf("parley-provider proxy %s (%s): proxying on %s:%u for %s:%u\n", c.id, c.domain, c.listen,
           port, c.gk_host, (unsigned)c.gk_port);
    fflush(stdout);
    event_base_dispatch(base);
    rc = 0;
out:
    (void)n;
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    pp_proxy_free(px);
    if (base)
        event_base_free(base);
    pc_secure_free(priv);
    pc_wipe(c.static_priv, sizeof c.static_priv);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (pc_init() != PARLEY_OK)
        return 1;
    if (strcmp(argv[1], "keygen") == 0 && argc == 3)
        return cmd_keygen(argv[2]);
    if (strcmp(argv[1], "pubkey") == 0 && argc == 3)
        return cmd_pubkey(argv[2]);
    if (strcmp(argv[1], "passwd") == 0 && argc == 4)
        return cmd_passwd(argv[2], argv[3]);
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "proxy") == 0)
        return cmd_proxy(argc - 2, argv + 2);
    return usage();
}

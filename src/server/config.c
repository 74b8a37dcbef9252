/* parleyd.ini (docs/operations.md, "Configuration"), read with libinih. */
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/crypto.h"
#include "server/server.h"
#include "util/safety.h"

void srv_config_default(srv_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "0.0.0.0");
    c->listen_port = 5280;
    snprintf(c->db, sizeof c->db, "/var/lib/parleyd/parleyd.db");
    snprintf(c->key, sizeof c->key, "/etc/parleyd/server.key");
    snprintf(c->cert, sizeof c->cert, "/etc/parleyd/server.cert");
    c->workers = 1;
    c->processes = 1;
    c->ready_fd = -1;
    c->max_stanza = PARLEY_STANZA_MAX_SIZE;
    c->out_max = 2 * (65535 + 3);
    c->handshake_timeout_ms = 10000;
    c->slow_timeout_ms = 30000;
    c->idle_timeout_s = 0;
    c->device_cache = SRV_DEVCACHE_DEFAULT;
    c->commit_delay_us = SRV_COMMIT_DELAY_US_DEFAULT;
    c->delivery_hold_ms = SRV_DELIVERY_HOLD_MS_DEFAULT;
    c->rate = 200;
    c->burst = 400;
    c->media_token_ttl_s = 86400;
}

static int copy_str(char *dst, size_t max, const char *v)
{
    size_t n = strlen(v);
    if (n >= max)
        return 0;
    memcpy(dst, v, n + 1);
    return 1;
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || x < lo || x > hi)
        return 0;
    *out = x;
    return 1;
}

/* "host:port", "[v6]:port" or ":port". */
static int parse_listen(srv_config *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    long port;
    if (colon == NULL || !parse_long(colon + 1, 0, 65535, &port))
        return 0;
    size_t hl = (size_t)(colon - v);
    const char *h = v;
    if (hl >= 2 && v[0] == '[' && v[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= sizeof c->listen_host)
        return 0;
    if (hl == 0) {
        snprintf(c->listen_host, sizeof c->listen_host, "0.0.0.0");
    } else {
        memcpy(c->listen_host, h, hl);
        c->listen_host[hl] = '\0';
    }
    c->listen_port = (int)port;
    return 1;
}

/* The media token key file: 32 bytes, raw or as 64 hex digits. */
static int load_media_key(srv_config *c, const char *path)
{
    uint8_t buf[130];
    size_t n;
    int ok = 1;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 32) {
        memcpy(c->media_token_key, buf, 32);
    } else if (n == 64) {
        for (size_t i = 0; i < 32 && ok; i++) {
            unsigned v = 0;
            char two[3] = {(char)buf[2 * i], (char)buf[2 * i + 1], 0};
            ok = strspn(two, "0123456789abcdefABCDEF") == 2 && sscanf(two, "%2x", &v) == 1;
            c->media_token_key[i] = (uint8_t)v;
        }
    } else {
        ok = 0;
    }
    pc_wipe(buf, sizeof buf);
    c->media_token_key_set = ok;
    return ok;
}

static int on_key(void *arg, const char *section, const char *name, const char *v)
{
    srv_config *c = arg;
    long x;
    /* Keys are looked up without their section so that a flat file works too. */
    (void)section;
    if (strcmp(name, "listen") == 0)
        return parse_listen(c, v);
    if (strcmp(name, "db") == 0 || strcmp(name, "database") == 0)
        return copy_str(c->db, sizeof c->db, v);
    if (strcmp(name, "key") == 0)
        return copy_str(c->key, sizeof c->key, v);
    if (strcmp(name, "cert") == 0 || strcmp(name, "certificate") == 0)
        return copy_str(c->cert, sizeof c->cert, v);
    if (strcmp(name, "workers") == 0 && parse_long(v, 1, SRV_WORKERS_MAX, &x)) {
        c->workers = (int)x;
        return 1;
    }
    if (strcmp(name, "processes") == 0 && parse_long(v, 1, SRV_PROCESSES_MAX, &x)) {
        c->processes = (int)x;
        return 1;
    }
    if (strcmp(name, "peers_dir") == 0)
        return copy_str(c->peers_dir, sizeof c->peers_dir, v);
    if (strcmp(name, "max_stanza") == 0 && parse_long(v, 512, PARLEY_STANZA_MAX_SIZE, &x)) {
        c->max_stanza = (size_t)x;
        return 1;
    }
    if (strcmp(name, "output_buffer") == 0 && parse_long(v, 65546, 64L << 20, &x)) {
        c->out_max = (size_t)x;
        return 1;
    }
    if (strcmp(name, "handshake_timeout_ms") == 0 && parse_long(v, 100, 600000, &x)) {
        c->handshake_timeout_ms = (int)x;
        return 1;
    }
    if (strcmp(name, "slow_reader_timeout_ms") == 0 && parse_long(v, 100, 3600000, &x)) {
        c->slow_timeout_ms = (int)x;
        return 1;
    }
    if (strcmp(name, "idle_timeout_s") == 0 && parse_long(v, 0, 86400 * 7, &x)) {
        c->idle_timeout_s = (int)x;
        return 1;
    }
    if (strcmp(name, "device_cache") == 0 && parse_long(v, 0, SRV_DEVCACHE_MAX, &x)) {
        c->device_cache = (size_t)x;
        return 1;
    }
    if (strcmp(name, "socket_sndbuf") == 0 && parse_long(v, 0, 64L << 20, &x)) {
        c->sndbuf = (int)x;
        return 1;
    }
    if (strcmp(name, "rate") == 0 && parse_long(v, 1, 1000000, &x)) {
        c->rate = (double)x;
        return 1;
    }
    if (strcmp(name, "burst") == 0 && parse_long(v, 1, 1000000, &x)) {
        c->burst = (double)x;
        return 1;
    }
    if (strcmp(name, "commit_delay_us") == 0 &&
        parse_long(v, 0, PSTORE_COMMIT_DELAY_MAX_US, &x)) {
        c->commit_delay_us = (int)x;
        return 1;
    }
    if (strcmp(name, "delivery_hold_ms") == 0 && parse_long(v, 0, SRV_DELIVERY_HOLD_MS_MAX, &x)) {
        c->delivery_hold_ms = (int)x;
        return 1;
    }
    if (strcmp(name, "max_store_mb") == 0 && parse_long(v, 0, SRV_MAX_STORE_MB, &x)) {
        c->max_store_mb = (uint64_t)x;
        return 1;
    }
    if (strcmp(name, "sync") == 0) {
        if (strcmp(v, "full") == 0)
            c->sync_normal = 0;
        else if (strcmp(v, "normal") == 0)
            c->sync_normal = 1;
        else
            return 0;
        return 1;
    }
    if (strcmp(name, "media_host") == 0)
        return copy_str(c->media_host, sizeof c->media_host, v);
    if (strcmp(name, "media_proxy") == 0)
        return copy_str(c->media_proxy, sizeof c->media_proxy, v);
    if (strcmp(name, "media_token_key") == 0)
        return load_media_key(c, v);
    if (strcmp(name, "media_token_ttl_s") == 0 && parse_long(v, 60, 86400 * 30, &x)) {
        c->media_token_ttl_s = x;
        return 1;
    }
    if (strcmp(name, "verbose") == 0 && parse_long(v, 0, 2, &x)) {
        c->verbose = (int)x;
        return 1;
    }
    if (srv_interop_config_key(c, name, v)) /* [interop] keys (interop.c) */
        return 1;
    fprintf(stderr, "parleyd: bad configuration key or value: %s = %s\n", name, v);
    return 0;
}

int srv_config_load(srv_config *c, const char *path)
{
    int line = ini_parse(path, on_key, c);
    if (line < 0) {
        fprintf(stderr, "parleyd: cannot read %s\n", path);
        return PARLEY_ERR_IO;
    }
    if (line > 0) {
        fprintf(stderr, "parleyd: %s: error on line %d\n", path, line);
        return PARLEY_ERR_INVALID_ARG;
    }
    return PARLEY_OK;
}

int srv_config_key(srv_config *c, const char *name, const char *v)
{
    return on_key(c, NULL, name, v) ? PARLEY_OK : PARLEY_ERR_INVALID_ARG;
}

int srv_config_listen(srv_config *c, const char *v)
{
    return parse_listen(c, v) ? PARLEY_OK : PARLEY_ERR_INVALID_ARG;
}

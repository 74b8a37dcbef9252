/*
 * parley-provider configuration: an INI file (libinih) and flags that
 * override it. Example in docs/interop-design.md ("parley-provider").
 */
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider/provider.h"

void pp_config_default(pp_server *s)
{
    snprintf(s->listen, sizeof s->listen, "127.0.0.1");
    s->port = 8443;
    s->key_id = 1;
    s->lifetime = 7 * 86400;
    s->window = PHS_WINDOW_DEFAULT;
    s->media_port = 8444;
    s->media_token_ttl = PP_MEDIA_TOKEN_TTL;
}

int pp_config_add_gk_key(pp_server *s, const char *spec)
{
    const char *colon = strchr(spec, ':');
    size_t idl, n = 0;
    uint8_t pub[32];
    if (colon == NULL || s->gk_key_count >= PP_GK_KEYS_MAX)
        return -1;
    idl = (size_t)(colon - spec);
    if (idl == 0 || idl > PHS_KEY_ID_MAX)
        return -1;
    if (phs_b64_decode(pub, sizeof pub, &n, colon + 1, strlen(colon + 1)) != PARLEY_OK || n != 32)
        return -1;
    memcpy(s->gk_key_ids[s->gk_key_count], spec, idl);
    s->gk_key_ids[s->gk_key_count][idl] = 0;
    s->gk_keys[s->gk_key_count].key_id = s->gk_key_ids[s->gk_key_count];
    memcpy(s->gk_keys[s->gk_key_count].pub, pub, 32);
    s->gk_key_count++;
    return 0;
}

static int copy(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return 0;
    memcpy(dst, v, n + 1);
    return 1;
}

static int num(const char *v, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (*v < '0' || *v > '9')
        return 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end != '\0' || x > max)
        return 0;
    *out = x;
    return 1;
}

/* inih's handler: nonzero on success. */
static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    pp_server *s = user;
    unsigned long long x;
    if (strcmp(section, "provider") == 0) {
        if (strcmp(name, "id") == 0)
            return copy(s->id, sizeof s->id, value);
        if (strcmp(name, "domain") == 0)
            return copy(s->domain, sizeof s->domain, value);
        if (strcmp(name, "listen") == 0)
            return copy(s->listen, sizeof s->listen, value);
        if (strcmp(name, "port") == 0 && num(value, 65535, &x)) {
            s->port = (unsigned)x;
            return 1;
        }
        if (strcmp(name, "key_file") == 0)
            return copy(s->key_file, sizeof s->key_file, value);
        if (strcmp(name, "key_id") == 0 && num(value, UINT32_MAX, &x)) {
            s->key_id = (uint32_t)x;
            return 1;
        }
        if (strcmp(name, "attestation_lifetime") == 0 && num(value, 366ULL * 86400, &x) && x > 0) {
            s->lifetime = x;
            return 1;
        }
        if (strcmp(name, "users_file") == 0)
            return copy(s->users_file, sizeof s->users_file, value);
        return 0;
    }
    if (strcmp(section, "media") == 0) {
        if (strcmp(name, "dir") == 0)
            return copy(s->media_dir, sizeof s->media_dir, value);
        if (strcmp(name, "port") == 0 && num(value, 65535, &x)) {
            s->media_port = (unsigned)x;
            return 1;
        }
        if (strcmp(name, "public_base") == 0)
            return copy(s->media_public, sizeof s->media_public, value);
        if (strcmp(name, "tls_cert_file") == 0)
            return copy(s->media_tls_cert, sizeof s->media_tls_cert, value);
        if (strcmp(name, "tls_key_file") == 0)
            return copy(s->media_tls_key, sizeof s->media_tls_key, value);
        if (strcmp(name, "token_key_file") == 0)
            return copy(s->media_token_key_file, sizeof s->media_token_key_file, value);
        if (strcmp(name, "token_ttl") == 0 && num(value, PP_MEDIA_TOKEN_TTL_MAX, &x) && x > 0) {
            s->media_token_ttl = x;
            return 1;
        }
        if (strcmp(name, "max_size") == 0 && num(value, UINT64_MAX, &x) && x > 0) {
            s->media_max_size = x;
            return 1;
        }
        if (strcmp(name, "ttl") == 0 && num(value, UINT64_MAX, &x) && x > 0) {
            s->media_ttl = x;
            return 1;
        }
        return 0;
    }
    if (strcmp(section, "gatekeeper") == 0) {
        if (strcmp(name, "key") == 0)
            return pp_config_add_gk_key(s, value) == 0;
        if (strcmp(name, "window") == 0 && num(value, 3600, &x) && x > 0) {
            s->window = (int64_t)x;
            return 1;
        }
        return 0;
    }
    return 0;
}

int pp_config_load(pp_server *s, const char *path)
{
    int line = ini_parse(path, on_ini, s);
    if (line != 0)
        fprintf(stderr, "parley-provider: %s: %s%d\n", path,
                line < 0 ? "cannot read" : "bad setting at line ", line < 0 ? 0 : line);
    return line == 0 ? 0 : -1;
}

int pp_config_check(const pp_server *s, char *err, size_t errlen)
{
    size_t n = strlen(s->id);
    const char *why = NULL;
    for (size_t i = 0; i < n; i++)
        if (!((s->id[i] >= 'a' && s->id[i] <= 'z') || (s->id[i] >= '0' && s->id[i] <= '9') ||
              s->id[i] == '.' || s->id[i] == '-'))
            why = "provider id must be [a-z0-9.-]";
    if (n == 0)
        why = "provider id missing (--id or [provider] id)";
    else if (s->domain[0] == '\0')
        why = "domain missing (--domain or [provider] domain)";
    else if (s->key_file[0] == '\0')
        why = "attestation key file missing (--key or [provider] key_file)";
    else if (s->users_file[0] == '\0')
        why = "users file missing (--users or [provider] users_file)";
    if (why) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

/*
 * parley-provider's media host (DESIGN.md 3.6; docs/media.md "The
 * provider's media host"): the host of src/mediahost on a port of its own,
 * for this provider's users. Uploads need a media token that the provider
 * mints for a logged-in user (login answer, POST /v1/media/token); the
 * host checks it with a 32-byte key without a look-up. Downloads need only
 * the capability URL, as on every media host.
 *
 * Why a token of its own rather than the login token: the login token
 * also gets device keys attested, while a media token can do nothing but
 * upload and delete the user's own blobs, so a client can keep it in its
 * media configuration without holding the stronger credential there.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "mediahost/mediahost.h"
#include "parley/media.h"
#include "provider/provider.h"

/* 32 bytes, raw or as 64 hex digits (a trailing newline is fine). */
static int load_key(const char *path, uint8_t key[PARLEY_MEDIA_TOKEN_KEY_LEN])
{
    uint8_t buf[2 * PARLEY_MEDIA_TOKEN_KEY_LEN + 3];
    size_t n;
    int ok = 1;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "parley-provider: %s: %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == PARLEY_MEDIA_TOKEN_KEY_LEN) {
        memcpy(key, buf, n);
    } else if (n == 2 * PARLEY_MEDIA_TOKEN_KEY_LEN) {
        for (size_t i = 0; i < n; i++) {
            uint8_t c = buf[i];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16u;
            if (d > 15) {
                ok = 0;
                break;
            }
            if (i % 2 == 0)
                key[i / 2] = (uint8_t)(d << 4);
            else
                key[i / 2] |= (uint8_t)d;
        }
    } else {
        ok = 0;
    }
    pc_wipe(buf, sizeof buf);
    if (!ok) {
        pc_wipe(key, PARLEY_MEDIA_TOKEN_KEY_LEN);
        fprintf(stderr, "parley-provider: %s: want 32 bytes, raw or as 64 hex digits\n", path);
        return -1;
    }
    return 0;
}

/*
 * The host's bearer check: a media token minted under our key, not
 * expired, for "name@our-domain" where name is still in the users file.
 */
static int media_auth(void *ctx, const char *token, char user[PMH_USER_MAX])
{
    pp_server *s = ctx;
    char name[PARLEY_MEDIA_TOKEN_USER_MAX];
    if (parley_media_token_verify(s->media_key, token, (uint64_t)time(NULL), name, NULL) !=
        PARLEY_OK)
        return 0;
    const char *at = strrchr(name, '@');
    if (at == NULL || (size_t)(at - name) > PP_NAME_MAX || strcmp(at + 1, s->domain) != 0)
        return 0;
    char local[PP_NAME_MAX + 1];
    memcpy(local, name, (size_t)(at - name));
    local[at - name] = 0;
    if (!pp_name_ok(local) || pp_user_find(s, local) < 0)
        return 0;
    snprintf(user, PMH_USER_MAX, "%s", name);
    return 1;
}

int pp_media_token(pp_server *s, int user, int64_t now, char *out, size_t out_max, int64_t *expires)
{
    char name[PP_NAME_MAX + 1 + PP_DOMAIN_MAX + 1];
    if (s->media == NULL || user < 0 || (size_t)user >= s->user_count)
        return -1;
    snprintf(name, sizeof name, "%s@%s", s->users[user].name, s->domain);
    uint64_t exp = (uint64_t)now + s->media_token_ttl;
    if (parley_media_token_make(s->media_key, name, exp, out, out_max) != PARLEY_OK)
        return -1;
    *expires = (int64_t)exp;
    return 0;
}

int pp_media_start(pp_server *s)
{
    pmh_host_config hc;
    int tls = s->media_tls_cert[0] != 0 && s->media_tls_key[0] != 0;
    if (s->media_dir[0] == 0)
        return 0;
    if ((s->media_tls_cert[0] != 0) != (s->media_tls_key[0] != 0)) {
        fprintf(stderr, "parley-provider: HTTPS for the media host needs both a certificate "
                        "and a key\n");
        return -1;
    }
    if (s->media_token_ttl == 0 || s->media_token_ttl > PP_MEDIA_TOKEN_TTL_MAX) {
        fprintf(stderr, "parley-provider: media token lifetime must be 1 s to 30 days\n");
        return -1;
    }
    s->media_key = pc_secure_alloc(PARLEY_MEDIA_TOKEN_KEY_LEN);
    if (s->media_key == NULL)
        return -1;
    if (s->media_token_key_file[0] != 0) {
        if (load_key(s->media_token_key_file, s->media_key) != 0)
            return -1;
    } else if (pc_random(s->media_key, PARLEY_MEDIA_TOKEN_KEY_LEN) != PARLEY_OK) {
        return -1;
    }
    memset(&hc, 0, sizeof hc);
    hc.dir = s->media_dir;
    hc.bind_addr = s->listen;
    hc.port = (uint16_t)s->media_port;
    hc.max_blob_size = s->media_max_size;
    hc.ttl_seconds = s->media_ttl;
    hc.public_base = s->media_public[0] ? s->media_public : NULL;
    hc.tls_cert_file = tls ? s->media_tls_cert : NULL;
    hc.tls_key_file = tls ? s->media_tls_key : NULL;
    hc.auth = media_auth;
    hc.auth_ctx = s;
    int rc = pmh_host_start(&s->media, &hc);
    if (rc != PARLEY_OK) {
        fprintf(stderr, "parley-provider: cannot start the media host on %s port %u: %s\n",
                s->listen, s->media_port, parley_strerror(rc));
        s->media = NULL;
        return -1;
    }
    if (s->media_public[0]) {
        snprintf(s->media_url, sizeof s->media_url, "%s", s->media_public);
    } else {
        int v6 = strchr(s->listen, ':') != NULL;
        snprintf(s->media_url, sizeof s->media_url, "%s://%s%s%s:%u", tls ? "https" : "http",
                 v6 ? "[" : "", s->listen, v6 ? "]" : "", (unsigned)pmh_host_port(s->media));
    }
    return 0;
}

void pp_media_stop(pp_server *s)
{
    if (s->media != NULL)
        pmh_host_stop(s->media);
    s->media = NULL;
    pc_secure_free(s->media_key);
    s->media_key = NULL;
}

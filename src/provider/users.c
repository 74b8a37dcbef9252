/*
 * parley-provider's accounts: a users file of "name:ARGON2ID-STRING" lines
 * (written by `parley-provider passwd`), bearer tokens kept in memory only
 * as their SHA-256, and the attestation key file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "provider/provider.h"

int pp_name_ok(const char *name)
{
    size_t n = strnlen(name, PP_NAME_MAX + 1);
    if (n == 0 || n > PP_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int pp_users_load(pp_server *s)
{
    FILE *f = fopen(s->users_file, "r");
    char line[PP_NAME_MAX + 256];
    int lineno = 0;
    if (f == NULL) {
        fprintf(stderr, "parley-provider: %s: %s\n", s->users_file, strerror(errno));
        return -1;
    }
    free(s->users);
    s->users = calloc(PP_USERS_MAX, sizeof *s->users);
    s->user_count = 0;
    if (s->users == NULL) {
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (colon == NULL || s->user_count == PP_USERS_MAX ||
            strlen(colon + 1) >= sizeof s->users[0].hash) {
            fprintf(stderr, "parley-provider: %s:%d: bad line\n", s->users_file, lineno);
            fclose(f);
            return -1;
        }
        *colon = 0;
        if (!pp_name_ok(line) || pp_user_find(s, line) >= 0) {
            fprintf(stderr, "parley-provider: %s:%d: bad or repeated name\n", s->users_file,
                    lineno);
            fclose(f);
            return -1;
        }
        pp_user *u = &s->users[s->user_count++];
        /* Both lengths were checked above (pp_name_ok, the hash test). */
        memcpy(u->name, line, strlen(line) + 1);
        memcpy(u->hash, colon + 1, strlen(colon + 1) + 1);
    }
    fclose(f);
    return 0;
}

int pp_user_find(const pp_server *s, const char *name)
{
    for (size_t i = 0; i < s->user_count; i++)
        if (strcmp(s->users[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* SHA-256 on a stack context (see src/interop/httpsig.c: pc_sha256's
 * per-thread context outlives MHD's connection threads). */
static int sha256_once(uint8_t out[32], const uint8_t *in, size_t n)
{
    pc_sha256_ctx c;
    int rc = pc_sha256_init(&c);
    if (rc == PARLEY_OK)
        rc = pc_sha256_update(&c, in, n);
    if (rc == PARLEY_OK)
        rc = pc_sha256_final(&c, out);
    return rc;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

int pp_token_issue(pp_server *s, int user, int64_t now, char *out)
{
    uint8_t tok[PP_TOKEN_LEN], h[32];
    if (pc_random(tok, sizeof tok) != PARLEY_OK || sha256_once(h, tok, sizeof tok) != PARLEY_OK)
        return -1;
    hex(out, tok, sizeof tok);
    pc_wipe(tok, sizeof tok);
    pthread_mutex_lock(&s->mu);
    /* Drop expired tokens; when still full, the oldest goes. */
    size_t j = 0;
    for (size_t i = 0; i < s->token_count; i++)
        if (s->tokens[i].expires > now)
            s->tokens[j++] = s->tokens[i];
    s->token_count = j;
    if (s->token_count == PP_TOKENS_MAX) {
        memmove(s->tokens, s->tokens + 1, (PP_TOKENS_MAX - 1) * sizeof *s->tokens);
        s->token_count--;
    }
    pp_token *t = &s->tokens[s->token_count++];
    memcpy(t->token_hash, h, sizeof h);
    t->user = user;
    t->expires = now + PP_TOKEN_TTL;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int pp_token_user(pp_server *s, const char *hexs, int64_t now)
{
    uint8_t tok[PP_TOKEN_LEN], h[32];
    int user = -1;
    if (strlen(hexs) != 2 * PP_TOKEN_LEN)
        return -1;
    for (size_t i = 0; i < PP_TOKEN_LEN; i++) {
        unsigned v;
        char b[3] = {hexs[2 * i], hexs[2 * i + 1], 0};
        char *end;
        v = (unsigned)strtoul(b, &end, 16);
        if (*end != 0 || b[0] == '+' || b[0] == '-' || b[0] == ' ')
            return -1;
        tok[i] = (uint8_t)v;
    }
    if (sha256_once(h, tok, sizeof tok) != PARLEY_OK)
        return -1;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->token_count; i++)
        if (pc_ct_eq(s->tokens[i].token_hash, h, sizeof h) && s->tokens[i].expires > now)
            user = s->tokens[i].user;
    pthread_mutex_unlock(&s->mu);
    return user;
}

int pp_key_load(const char *path, uint8_t priv[64])
{
    char line[256];
    size_t n = 0;
    int rc = -1;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "parley-provider: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fgets(line, sizeof line, f)) {
        size_t l = strcspn(line, "\r\n");
        line[l] = 0;
        if (phs_b64_decode(priv, 64, &n, line, l) == PARLEY_OK && n == 64)
            rc = 0;
    }
    pc_wipe(line, sizeof line);
    fclose(f);
    if (rc < 0)
        fprintf(stderr, "parley-provider: %s: not a key file\n", path);
    return rc;
}

int pp_key_write(const char *path, const uint8_t priv[64])
{
    char b64[100];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "parley-provider: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = phs_b64_encode(b64, sizeof b64, priv, 64);
    b64[n++] = '\n';
    ssize_t w = write(fd, b64, n);
    pc_wipe(b64, sizeof b64);
    if (close(fd) != 0 || w != (ssize_t)n)
        return -1;
    return 0;
}

/* Helpers shared by the media host, the proxy and the upload client. */
#include "mediahost/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/crypto.h"

void pmh_hex(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int pmh_unhex(uint8_t *out, size_t n, const char *hex)
{
    if (hex == NULL || strlen(hex) != 2 * n)
        return PARLEY_ERR_DECODE;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return PARLEY_ERR_DECODE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return PARLEY_OK;
}

int pmh_random_id(char out[PMH_HEX_ID_LEN + 1])
{
    uint8_t r[PMH_HEX_ID_LEN / 2];
    int rc = pc_random(r, sizeof r);
    if (rc < 0)
        return rc;
    pmh_hex(out, r, sizeof r);
    pc_wipe(r, sizeof r);
    return PARLEY_OK;
}

int pmh_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 20)
        return PARLEY_ERR_DECODE;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return PARLEY_ERR_DECODE;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return PARLEY_ERR_DECODE;
        v = v * 10 + d;
    }
    *out = v;
    return PARLEY_OK;
}

int pmh_is_hex_id(const char *s, size_t len)
{
    if (s == NULL || len != PMH_HEX_ID_LEN || strlen(s) < len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (hexval(s[i]) < 0)
            return 0;
    return 1;
}

int pmh_authenticate(struct MHD_Connection *c, pmh_auth_fn auth, void *ctx,
                     char user[PMH_USER_MAX])
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    static const char scheme[] = "Bearer ";
    user[0] = '\0';
    if (h == NULL || strncasecmp(h, scheme, sizeof scheme - 1) != 0)
        return 0;
    h += sizeof scheme - 1;
    if (*h == '\0' || strlen(h) > 1024)
        return 0;
    if (auth(ctx, h, user) != 1)
        return 0;
    user[PMH_USER_MAX - 1] = '\0';
    return user[0] != '\0';
}

enum MHD_Result pmh_refuse(struct MHD_Connection *c, unsigned status, const char *error)
{
    char body[128];
    int n = snprintf(body, sizeof body, "%s\n", error);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Parley-Error", error);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && n < 1 << 20 && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)n + 1);
            if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
                buf[n] = '\0';
            } else {
                free(buf);
                buf = NULL;
            }
        }
    }
    fclose(f);
    return buf;
}

struct MHD_Daemon *pmh_daemon_start(const char *bind_addr, uint16_t port, unsigned max_conn,
                                    const char *cert_file, const char *key_file,
                                    MHD_AccessHandlerCallback handler, void *handler_cls,
                                    MHD_RequestCompletedCallback done, void *done_cls)
{
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;
    const struct sockaddr *sa = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
    char *cert = NULL, *key = NULL;
    struct MHD_Daemon *d = NULL;
    memset(&s4, 0, sizeof s4);
    memset(&s6, 0, sizeof s6);
    if (bind_addr != NULL) {
        if (inet_pton(AF_INET, bind_addr, &s4.sin_addr) == 1) {
            s4.sin_family = AF_INET;
            s4.sin_port = htons(port);
            sa = (const struct sockaddr *)&s4;
        } else if (inet_pton(AF_INET6, bind_addr, &s6.sin6_addr) == 1) {
            s6.sin6_family = AF_INET6;
            s6.sin6_port = htons(port);
            sa = (const struct sockaddr *)&s6;
            flags |= MHD_USE_IPv6;
        } else {
            return NULL;
        }
    } else {
        flags |= MHD_USE_DUAL_STACK;
    }
    if (cert_file != NULL && key_file != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return NULL;
        cert = slurp(cert_file);
        key = slurp(key_file);
        if (cert == NULL || key == NULL)
            goto out;
        flags |= MHD_USE_TLS;
        d = MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls,
                             MHD_OPTION_NOTIFY_COMPLETED, done, done_cls,
                             MHD_OPTION_CONNECTION_LIMIT, max_conn ? max_conn : 256u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_HTTPS_MEM_CERT, cert,
                             MHD_OPTION_HTTPS_MEM_KEY, key,
                             sa ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, sa, MHD_OPTION_END);
    } else {
        d = MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls,
                             MHD_OPTION_NOTIFY_COMPLETED, done, done_cls,
                             MHD_OPTION_CONNECTION_LIMIT, max_conn ? max_conn : 256u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 120u,
                             sa ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, sa, MHD_OPTION_END);
    }
out:
    if (key != NULL)
        pc_wipe(key, strlen(key));
    free(cert);
    free(key);
    return d;
}

uint16_t pmh_daemon_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return i == NULL ? 0 : i->port;
}

int pmh_mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return PARLEY_ERR_INVALID_ARG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return PARLEY_ERR_IO;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return PARLEY_ERR_IO;
    return PARLEY_OK;
}

time_t pmh_now(pmh_clock_fn clock, void *ctx)
{
    return clock != NULL ? clock(ctx) : time(NULL);
}

int pmh_sha256(uint8_t out[32], const uint8_t *in, size_t n)
{
    pc_sha256_ctx c;
    int rc = pc_sha256_init(&c);
    if (rc == PARLEY_OK)
        rc = pc_sha256_update(&c, in, n);
    if (rc == PARLEY_OK)
        rc = pc_sha256_final(&c, out);
    return rc;
}

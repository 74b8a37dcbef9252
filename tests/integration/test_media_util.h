/*
 * Shared helpers of the media integration tests: temporary directories,
 * random files, a bearer-token table, raw HTTP over loopback sockets and a
 * small libcurl GET into memory. Everything stays on 127.0.0.1 / ::1.
 */
#ifndef PARLEY_TEST_MEDIA_UTIL_H
#define PARLEY_TEST_MEDIA_UTIL_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit/check.h"
#include "crypto/crypto.h"
#include "mediahost/mediahost.h"

static inline int test_auth(void *ctx, const char *token, char user[PMH_USER_MAX])
{
    (void)ctx;
    if (strcmp(token, "alice-token") == 0) {
        snprintf(user, PMH_USER_MAX, "alice");
        return 1;
    }
    if (strcmp(token, "bob-token") == 0) {
        snprintf(user, PMH_USER_MAX, "bob");
        return 1;
    }
    return 0;
}

static inline void rm_rf(const char *path)
{
    char cmd[600];
    if (strncmp(path, "/tmp/", 5) != 0 || strstr(path, "..") != NULL)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

static inline int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    if (d != NULL)
        closedir(d);
    return n;
}

/* A file of n pseudo-random bytes; returns its path in out. */
static inline int make_file(char *out, size_t max, const char *dir, const char *name, uint64_t n,
                     uint32_t seed)
{
    snprintf(out, max, "%s/%s", dir, name);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    uint8_t *buf = malloc(1 << 16);
    uint64_t x = seed * 2654435761u + 1;
    for (uint64_t done = 0; done < n;) {
        size_t k = n - done < (1 << 16) ? (size_t)(n - done) : (1 << 16);
        for (size_t i = 0; i < k; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        if (write(fd, buf, k) != (ssize_t)k) {
            free(buf);
            close(fd);
            return -1;
        }
        done += k;
    }
    free(buf);
    close(fd);
    return 0;
}

static inline int sha256_file(const char *path, uint8_t out[32])
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    pc_sha256_ctx c;
    uint8_t *buf = malloc(1 << 16);
    ssize_t r;
    int ok = pc_sha256_init(&c) == 0;
    while (ok && (r = read(fd, buf, 1 << 16)) > 0)
        ok = pc_sha256_update(&c, buf, (size_t)r) == 0;
    ok = ok && pc_sha256_final(&c, out) == 0;
    free(buf);
    close(fd);
    return ok ? 0 : -1;
}

/* Send `req` (and `body_n` bytes of body) to 127.0.0.1:port; read the
 * response into resp unless close_early. */
static inline int raw_http(uint16_t port, const char *req, const void *body, size_t body_n,
                    int close_early, char *resp, size_t resp_max)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    ssize_t w = write(s, req, strlen(req));
    if (body_n > 0 && w >= 0)
        w = write(s, body, body_n);
    size_t got = 0;
    if (!close_early && resp != NULL) {
        ssize_t r;
        while (got + 1 < resp_max && (r = read(s, resp + got, resp_max - 1 - got)) > 0)
            got += (size_t)r;
        resp[got] = '\0';
    }
    close(s);
    return w < 0 ? -1 : 0;
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
} membuf;

static size_t membuf_write(char *p, size_t size, size_t nmemb, void *ud)
{
    membuf *m = ud;
    size_t n = size * nmemb;
    if (m->n + n > m->cap) {
        size_t nc = (m->n + n) * 2;
        uint8_t *np = realloc(m->p, nc);
        if (np == NULL)
            return 0;
        m->p = np;
        m->cap = nc;
    }
    memcpy(m->p + m->n, p, n);
    m->n += n;
    return n;
}

static char http_last_error[64], http_last_cache[16];
static const char *http_extra_header; /* one more request header, or NULL */

static size_t http_header(char *line, size_t size, size_t nitems, void *ud)
{
    size_t n = size * nitems;
    (void)ud;
    if (n > 14 && strncasecmp(line, "Parley-Error: ", 14) == 0)
        snprintf(http_last_error, sizeof http_last_error, "%.*s", (int)(n - 14 - 2), line + 14);
    if (n > 14 && strncasecmp(line, "Parley-Cache: ", 14) == 0)
        snprintf(http_last_cache, sizeof http_last_cache, "%.*s", (int)(n - 14 - 2), line + 14);
    return n;
}

/* GET (or other method) into memory; returns the status, -1 on failure.
 * The Parley-Error and Parley-Cache headers land in http_last_*. */
static inline long http_mem(const char *method, const char *url, const char *token, const char *range,
                     membuf *m, const char *ca_file)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char auth[300];
    long status = -1;
    m->n = 0;
    http_last_error[0] = http_last_cache[0] = '\0';
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header);
    if (http_extra_header != NULL)
        h = curl_slist_append(h, http_extra_header);
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, membuf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, m);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 50L);
    if (ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    if (range != NULL)
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

static inline uint8_t *read_file(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return NULL;
    uint8_t *p = malloc((size_t)st.st_size + 1);
    *n = (size_t)st.st_size;
    if (pread(fd, p, *n, 0) != (ssize_t)*n) {
        free(p);
        p = NULL;
    }
    close(fd);
    return p;
}

#endif

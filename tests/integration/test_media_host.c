/*
 * The media host over loopback HTTP (src/mediahost/host.c): authenticated
 * resumable uploads, size limits, hash verification, capability downloads
 * with Range, deletion, expiry under a test clock, and HTTPS when
 * libmicrohttpd has TLS.
 */
#include <inttypes.h>
#include <microhttpd.h>

#include "test_media_util.h"

static time_t fake_now = 1700000000;
static time_t test_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static char dir[64], store[128], blobs[160];

static pmh_host *start(const char *cert, const char *key)
{
    pmh_host_config cfg = {0};
    pmh_host *h = NULL;
    cfg.dir = store;
    cfg.bind_addr = "127.0.0.1";
    cfg.max_blob_size = 1 << 20;
    cfg.ttl_seconds = 3600;
    cfg.upload_ttl_seconds = 600;
    cfg.sweep_interval = 1000000; /* the test sweeps explicitly */
    cfg.auth = test_auth;
    cfg.clock = test_clock;
    cfg.tls_cert_file = cert;
    cfg.tls_key_file = key;
    CHECK_RC(pmh_host_start(&h, &cfg), PARLEY_OK);
    return h;
}

static int upload(uint16_t port, const char *token, const char *path, const uint8_t *sha,
                  uint64_t chunk, char *url, size_t url_max)
{
    char base[64];
    struct stat st;
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0)
        return -1;
    int rc = pmh_client_upload(base, token, fd, (uint64_t)st.st_size, sha, chunk, 20, NULL, NULL,
                               0, url, url_max);
    close(fd);
    return rc;
}

static void test_upload_download(pmh_host *h, uint16_t port)
{
    char path[256], url[PMH_URL_MAX], req[512], resp[4096];
    uint8_t sha[32];
    size_t n = 0;
    membuf m = {0};
    CHECK(make_file(path, sizeof path, dir, "blob1", 100000, 1) == 0);
    CHECK(sha256_file(path, sha) == 0);
    uint8_t *want = read_file(path, &n);

    /* authentication and limits, before any byte is stored */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/uploads", port);
    CHECK(http_mem("POST", url, NULL, NULL, &m, NULL) == 401);
    CHECK(http_mem("POST", url, "mallory-token", NULL, &m, NULL) == 401);
    snprintf(req, sizeof req,
             "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n"
             "Upload-Length: %d\r\nConnection: close\r\n\r\n",
             (1 << 20) + 1);
    CHECK(raw_http(port, req, NULL, 0, 0, resp, sizeof resp) == 0);
    CHECK(strstr(resp, " 413 ") != NULL && strstr(resp, "too_large") != NULL);
    CHECK(raw_http(port,
                   "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n"
                   "Upload-Length: 12x\r\nConnection: close\r\n\r\n",
                   NULL, 0, 0, resp, sizeof resp) == 0);
    CHECK(strstr(resp, " 400 ") != NULL);
    CHECK(raw_http(port,
                   "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n"
                   "Upload-Length: 100\r\nUpload-Sha256: zz\r\nConnection: close\r\n\r\n",
                   NULL, 0, 0, resp, sizeof resp) == 0);
    CHECK(strstr(resp, " 400 ") != NULL && strstr(resp, "bad_sha256") != NULL);

    /* an upload in four PATCHes, verified against the announced hash */
    CHECK_RC(upload(port, "alice-token", path, sha, 30000, url, sizeof url), PARLEY_OK);
    CHECK(strncmp(url, "http://127.0.0.1:", 17) == 0 && strstr(url, "/v1/media/") != NULL);
    CHECK(count_files(blobs) == 1);
    CHECK(http_mem("GET", url, NULL, NULL, &m, NULL) == 200);
    CHECK(m.n == n && memcmp(m.p, want, n) == 0);
    /* ranges */
    CHECK(http_mem("GET", url, NULL, "10-19", &m, NULL) == 206);
    CHECK(m.n == 10 && memcmp(m.p, want + 10, 10) == 0);
    CHECK(http_mem("GET", url, NULL, "-5", &m, NULL) == 206);
    CHECK(m.n == 5 && memcmp(m.p, want + n - 5, 5) == 0);
    CHECK(http_mem("GET", url, NULL, "99990-", &m, NULL) == 206);
    CHECK(m.n == 10 && memcmp(m.p, want + 99990, 10) == 0);
    CHECK(http_mem("GET", url, NULL, "99990-200000", &m, NULL) == 206);
    CHECK(m.n == 10);
    CHECK(http_mem("GET", url, NULL, "100000-", &m, NULL) == 416);
    CHECK(http_mem("GET", url, NULL, "0-1,5-6", &m, NULL) == 200); /* several: whole blob */
    CHECK(m.n == n);
    /* an unknown or malformed capability */
    char bad[PMH_URL_MAX];
    snprintf(bad, sizeof bad, "%s", url);
    char *last = bad + strlen(bad) - 1;
    *last = *last == '0' ? '1' : '0';
    CHECK(http_mem("GET", bad, NULL, NULL, &m, NULL) == 404);
    snprintf(bad, sizeof bad, "http://127.0.0.1:%u/v1/media/../blobs/x", port);
    CHECK(http_mem("GET", bad, NULL, NULL, &m, NULL) == 404);

    /* a wrong announced hash: refused, nothing stored */
    uint8_t wrong[32];
    memcpy(wrong, sha, 32);
    wrong[5] ^= 1;
    char url2[PMH_URL_MAX];
    CHECK_RC(upload(port, "alice-token", path, wrong, 0, url2, sizeof url2),
             PARLEY_ERR_CLIENT_REFUSED);
    CHECK(count_files(blobs) == 1);

    /* the same blob again: a second capability, one stored file */
    CHECK_RC(upload(port, "alice-token", path, sha, 0, url2, sizeof url2), PARLEY_OK);
    CHECK(strcmp(url, url2) != 0);
    CHECK(count_files(blobs) == 1);

    /* deletion: only by the owner; the other capability still works */
    CHECK(http_mem("DELETE", url, NULL, NULL, &m, NULL) == 401);
    CHECK(http_mem("DELETE", url, "bob-token", NULL, &m, NULL) == 403);
    CHECK(http_mem("DELETE", url, "alice-token", NULL, &m, NULL) == 204);
    CHECK(http_mem("GET", url, NULL, NULL, &m, NULL) == 404);
    CHECK(http_mem("GET", url2, NULL, NULL, &m, NULL) == 200 && m.n == n);
    CHECK(count_files(blobs) == 1);
    CHECK(http_mem("DELETE", url2, "alice-token", NULL, &m, NULL) == 204);
    CHECK(count_files(blobs) == 0);

    /* expiry: a blob is served until its time, then gone and swept */
    CHECK_RC(upload(port, "bob-token", path, NULL, 0, url, sizeof url), PARLEY_OK);
    fake_now += 3599;
    CHECK(http_mem("GET", url, NULL, NULL, &m, NULL) == 200);
    fake_now += 1;
    CHECK(http_mem("GET", url, NULL, NULL, &m, NULL) == 404);
    CHECK(pmh_host_sweep(h) >= 2); /* the record and the blob */
    CHECK(count_files(blobs) == 0);
    free(want);
    free(m.p);
}

/* A PATCH cut off mid-body keeps what arrived; the client resumes. */
static void test_resume(pmh_host *h, uint16_t port)
{
    char path[256], base[64], upurl[PMH_URL_MAX], url[PMH_URL_MAX], req[1024], resp[4096];
    uint8_t sha[32];
    size_t n = 0;
    membuf m = {0};
    CHECK(make_file(path, sizeof path, dir, "blob2", 200000, 2) == 0);
    CHECK(sha256_file(path, sha) == 0);
    uint8_t *data = read_file(path, &n);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
    int fd = open(path, O_RDONLY);
    upurl[0] = '\0';
    /* attempts = 0: only create the upload */
    CHECK_RC(pmh_client_upload(base, "alice-token", fd, n, sha, 0, 0, NULL, upurl, sizeof upurl,
                               url, sizeof url),
             PARLEY_ERR_AGAIN);
    CHECK(strncmp(upurl, base, strlen(base)) == 0);
    const char *path_part = upurl + strlen(base);
    /* send the headers of the whole body, 80000 bytes of it, then vanish */
    snprintf(req, sizeof req,
             "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n"
             "Upload-Offset: 0\r\nContent-Length: %zu\r\n\r\n",
             path_part, n);
    CHECK(raw_http(port, req, data, 80000, 1, NULL, 0) == 0);
    /* the host learns of the drop on its own schedule: wait (bounded) */
    long st = 0;
    char hv[128];
    for (int i = 0; i < 100; i++) {
        snprintf(req, sizeof req,
                 "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n"
                 "Upload-Offset: 80000\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                 path_part);
        CHECK(raw_http(port, req, NULL, 0, 0, resp, sizeof resp) == 0);
        if (strstr(resp, " 204 ") != NULL)
            break;
        usleep(50000);
    }
    CHECK(strstr(resp, " 204 ") != NULL && strstr(resp, "Upload-Offset: 80000") != NULL);
    (void)st;
    (void)hv;
    /* another user cannot see or continue it */
    CHECK(http_mem("HEAD", upurl, "bob-token", NULL, &m, NULL) == 404);
    /* a PATCH at the wrong offset is refused */
    snprintf(req, sizeof req,
             "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n"
             "Upload-Offset: 5\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
             path_part);
    CHECK(raw_http(port, req, NULL, 0, 0, resp, sizeof resp) == 0);
    CHECK(strstr(resp, " 409 ") != NULL && strstr(resp, "offset_mismatch") != NULL);
    /* resume: HEAD says 80000, PATCH sends the rest, the hash verifies */
    CHECK_RC(pmh_client_upload(base, "alice-token", fd, n, sha, 0, 5, NULL, upurl, sizeof upurl,
                               url, sizeof url),
             PARLEY_OK);
    close(fd);
    CHECK(http_mem("GET", url, NULL, NULL, &m, NULL) == 200);
    CHECK(m.n == n && memcmp(m.p, data, n) == 0);
    /* the finished upload is gone */
    CHECK(http_mem("HEAD", upurl, "alice-token", NULL, &m, NULL) == 404);

    /* bytes beyond Upload-Length are refused */
    upurl[0] = '\0';
    fd = open(path, O_RDONLY);
    CHECK_RC(pmh_client_upload(base, "alice-token", fd, 30, NULL, 0, 0, NULL, upurl,
                               sizeof upurl, url, sizeof url),
             PARLEY_ERR_AGAIN);
    close(fd);
    snprintf(req, sizeof req,
             "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n"
             "Upload-Offset: 0\r\nContent-Length: 40\r\nConnection: close\r\n\r\n",
             upurl + strlen(base));
    CHECK(raw_http(port, req, data, 40, 0, resp, sizeof resp) == 0);
    CHECK(strstr(resp, " 413 ") != NULL);
    /* an abandoned upload is swept after its time */
    fake_now += 601;
    CHECK(pmh_host_sweep(h) >= 1);
    CHECK(http_mem("HEAD", upurl, "alice-token", NULL, &m, NULL) == 404);
    CHECK(count_files(store) == 3);
    char ups[200];
    snprintf(ups, sizeof ups, "%s/uploads", store);
    CHECK(count_files(ups) == 0);
    free(data);
    free(m.p);
}

static void test_tls(void)
{
    char cert[200], key[200], cmd[800], path[256], url[PMH_URL_MAX], base[64];
    uint8_t sha[32];
    membuf m = {0};
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        printf("libmicrohttpd without TLS: HTTPS not tested\n");
        return;
    }
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout '%s' -out '%s' -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 2>/dev/null",
             key, cert);
    if (system(cmd) != 0) {
        printf("no openssl command: HTTPS not tested\n");
        return;
    }
    pmh_host *h = start(cert, key);
    if (h == NULL)
        return;
    uint16_t port = pmh_host_port(h);
    CHECK(make_file(path, sizeof path, dir, "blob3", 5000, 3) == 0);
    CHECK(sha256_file(path, sha) == 0);
    snprintf(base, sizeof base, "https://127.0.0.1:%u", port);
    int fd = open(path, O_RDONLY);
    CHECK_RC(pmh_client_upload(base, "alice-token", fd, 5000, sha, 0, 3, cert, NULL, 0, url,
                               sizeof url),
             PARLEY_OK);
    close(fd);
    CHECK(strncmp(url, "https://127.0.0.1:", 18) == 0);
    CHECK(http_mem("GET", url, NULL, NULL, &m, cert) == 200 && m.n == 5000);
    /* an untrusted certificate is refused by the client */
    CHECK(http_mem("GET", url, NULL, NULL, &m, "/dev/null") == -1);
    pmh_host_stop(h);
    free(m.p);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(dir, sizeof dir, "/tmp/parley-mhost-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(blobs, sizeof blobs, "%s/blobs", store);
    pmh_host *h = start(NULL, NULL);
    if (h != NULL) {
        uint16_t port = pmh_host_port(h);
        CHECK(port != 0);
        test_upload_download(h, port);
        test_resume(h, port);
        pmh_host_stop(h);
    }
    test_tls();
    rm_rf(dir);
    curl_global_cleanup();
    TEST_MAIN_END();
}

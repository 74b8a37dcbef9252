/*
 * End to end over loopback with the real program (parley-mediad, path in
 * argv[1]): one process as the provider's media host, one as the
 * gatekeeper's proxy. Files of 1 KiB, 10 MiB and 200 MiB are encrypted,
 * uploaded, fetched through the proxy, decrypted and checked against both
 * hashes; an upload is cut off and resumed; a tampered blob is refused by
 * the receiver; and the proxy's peak memory grows by less than 32 MiB
 * while it streams the 200 MiB blob.
 */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "parley/media.h"
#include "test_media_util.h"

static char dir[64];

typedef struct {
    pid_t pid;
    uint16_t port;
} child;

/* Start parley-mediad with args; wait for its "listening ... port N". */
static int spawn(child *c, char *const argv[])
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    c->pid = fork();
    if (c->pid == 0) {
#if PARLEY_TEST_ASAN
        /* AddressSanitizer keeps freed memory in a quarantine (256 MiB by
         * default), which would count as the proxy's peak memory: bound
         * it, the proxy's own buffers are what is measured. */
        char opts[1024];
        const char *o = getenv("ASAN_OPTIONS");
        snprintf(opts, sizeof opts, "%s%squarantine_size_mb=1", o ? o : "", o && *o ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
#endif
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    char buf[256];
    size_t got = 0;
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    c->port = 0;
    while (got + 1 < sizeof buf && poll(&p, 1, 10000) > 0) {
        ssize_t r = read(pfd[0], buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        char *port = strstr(buf, " port ");
        if (port != NULL && strchr(port, '\n') != NULL) {
            c->port = (uint16_t)strtoul(port + 6, NULL, 10);
            break;
        }
    }
    close(pfd[0]);
    return c->port != 0 ? 0 : -1;
}

static void reap(child *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGTERM);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
}

/* VmHWM (peak resident set) of a process, in KiB. */
static long vm_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f != NULL)
        fclose(f);
    return kb;
}

static int file_size(const char *path, uint64_t *n)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    *n = (uint64_t)st.st_size;
    return 0;
}

static char host_base[64];
static uint16_t proxy_port;
static pid_t proxy_pid;

/* Fetch `url` through the proxy into `path`. */
static int fetch_via_proxy(const char *url, const char *path, long *status, char *err)
{
    char purl[PMH_URL_MAX * 2];
    CURL *c = curl_easy_init();
    char *esc = curl_easy_escape(c, url, 0);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%u/v1/proxy?url=%s&provider=example",
             proxy_port, esc);
    curl_free(esc);
    curl_easy_cleanup(c);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = pmh_client_get(purl, "alice-token", fd, NULL, status, err, 64);
    close(fd);
    return rc;
}

/*
 * Sender: encrypt and upload. Receiver: fetch through the proxy, decrypt,
 * verify. Returns the proxy's VmHWM growth in KiB over the fetch.
 */
static long round_trip(const char *name, uint64_t size, parley_media_type type, int resume)
{
    char plain[256], blob[256], fetched[256], out[256], url[PMH_URL_MAX], upurl[PMH_URL_MAX];
    uint8_t key[32], psha[32];
    parley_media_digest dg, dg2;
    long status = 0, growth = -1;
    char err[64];
    snprintf(blob, sizeof blob, "%s/%s.blob", dir, name);
    snprintf(fetched, sizeof fetched, "%s/%s.fetched", dir, name);
    snprintf(out, sizeof out, "%s/%s.out", dir, name);
    CHECK(make_file(plain, sizeof plain, dir, name, size, (uint32_t)size) == 0);
    CHECK_RC(parley_media_key_generate(key), PARLEY_OK);
    int in = open(plain, O_RDONLY), bfd = open(blob, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK_RC(parley_media_encrypt_fd(in, bfd, key, type, &dg), PARLEY_OK);
    close(in);
    close(bfd);
    CHECK(dg.plaintext_size == size && dg.encrypted_size == parley_media_encrypted_size(size));
    CHECK(sha256_file(plain, psha) == 0);
    CHECK_MEM(psha, dg.plaintext_sha256, 32);

    bfd = open(blob, O_RDONLY);
    upurl[0] = '\0';
    if (resume) {
        /* create the upload, send half of it and drop the connection */
        CHECK_RC(pmh_client_upload(host_base, "bob-token", bfd, dg.encrypted_size,
                                   dg.encrypted_sha256, 0, 0, NULL, upurl, sizeof upurl, url,
                                   sizeof url),
                 PARLEY_ERR_AGAIN);
        size_t half = (size_t)dg.encrypted_size / 2, n = 0;
        uint8_t *data = read_file(blob, &n);
        char req[1024];
        snprintf(req, sizeof req,
                 "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bob-token\r\n"
                 "Upload-Offset: 0\r\nContent-Length: %zu\r\n\r\n",
                 upurl + strlen(host_base), n);
        uint16_t hport = (uint16_t)strtoul(strrchr(host_base, ':') + 1, NULL, 10);
        CHECK(raw_http(hport, req, data, half, 1, NULL, 0) == 0);
        free(data);
    }
    /* (resumes from whatever offset the host reports) */
    CHECK_RC(pmh_client_upload(host_base, "bob-token", bfd, dg.encrypted_size,
                               dg.encrypted_sha256, 0, 50, NULL, upurl, sizeof upurl, url,
                               sizeof url),
             PARLEY_OK);
    close(bfd);

    long hwm0 = vm_hwm_kb(proxy_pid);
    CHECK_RC(fetch_via_proxy(url, fetched, &status, err), PARLEY_OK);
    long hwm1 = vm_hwm_kb(proxy_pid);
    growth = hwm1 - hwm0;
    CHECK(status == 200);
    uint64_t fsz = 0;
    CHECK(file_size(fetched, &fsz) == 0 && fsz == dg.encrypted_size);

    /* the receiver verifies both hashes and the size from the attachment */
    int ffd = open(fetched, O_RDONLY);
    CHECK_RC(parley_media_decrypt_fd(ffd, out, key, type, dg.encrypted_sha256,
                                     dg.plaintext_sha256, size, &dg2),
             PARLEY_OK);
    close(ffd);
    uint8_t osha[32];
    CHECK(sha256_file(out, osha) == 0);
    CHECK_MEM(osha, psha, 32);
    CHECK_MEM(dg2.encrypted_sha256, dg.encrypted_sha256, 32);
    unlink(plain);
    unlink(blob);
    unlink(fetched);
    unlink(out);
    printf("%s: %llu bytes, proxy VmHWM %ld -> %ld KiB\n", name, (unsigned long long)size, hwm0,
           hwm1);
    return growth;
}

/* A blob altered on the host's disk (or on the way) is refused. */
static void tampered(void)
{
    char plain[256], blob[256], fetched[256], out[256], url[PMH_URL_MAX];
    uint8_t key[32];
    parley_media_digest dg;
    long status = 0;
    char err[64];
    snprintf(blob, sizeof blob, "%s/t.blob", dir);
    snprintf(fetched, sizeof fetched, "%s/t.fetched", dir);
    snprintf(out, sizeof out, "%s/t.out", dir);
    CHECK(make_file(plain, sizeof plain, dir, "t", 1024, 77) == 0);
    CHECK_RC(parley_media_key_generate(key), PARLEY_OK);
    int in = open(plain, O_RDONLY), bfd = open(blob, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK_RC(parley_media_encrypt_fd(in, bfd, key, PARLEY_MEDIA_IMAGE, &dg), PARLEY_OK);
    close(in);
    uint8_t b;
    CHECK(pread(bfd, &b, 1, 500) == 1);
    b ^= 0x01;
    CHECK(pwrite(bfd, &b, 1, 500) == 1);
    CHECK_RC(pmh_client_upload(host_base, "bob-token", bfd, dg.encrypted_size, NULL, 0, 3, NULL,
                               NULL, 0, url, sizeof url),
             PARLEY_OK);
    close(bfd);
    CHECK_RC(fetch_via_proxy(url, fetched, &status, err), PARLEY_OK);
    int ffd = open(fetched, O_RDONLY);
    CHECK_RC(parley_media_decrypt_fd(ffd, out, key, PARLEY_MEDIA_IMAGE, dg.encrypted_sha256,
                                     dg.plaintext_sha256, 1024, NULL),
             PARLEY_ERR_INVALID_MAC);
    close(ffd);
    CHECK(access(out, F_OK) != 0); /* nothing appears under the name */
    /* a host that announced the right hash refuses the altered upload */
    bfd = open(blob, O_RDONLY);
    CHECK_RC(pmh_client_upload(host_base, "bob-token", bfd, dg.encrypted_size,
                               dg.encrypted_sha256, 0, 3, NULL, NULL, 0, url, sizeof url),
             PARLEY_ERR_CLIENT_REFUSED);
    close(bfd);
    unlink(plain);
    unlink(blob);
    unlink(fetched);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_media_e2e PATH-TO-parley-mediad\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/parley-me2e-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    char store[128];
    snprintf(store, sizeof store, "%s/host", dir);
    char *host_argv[] = {argv[1], "--host-dir", store, "--token", "bob-token=bob", NULL};
    char *proxy_argv[] = {argv[1],          "--proxy",         "--token",
                          "alice-token=alice", "--allow-host",  "127.0.0.1",
                          "--allow-loopback", NULL};
    child host = {0}, proxy = {0};
    CHECK(spawn(&host, host_argv) == 0);
    CHECK(spawn(&proxy, proxy_argv) == 0);
    if (host.port != 0 && proxy.port != 0) {
        snprintf(host_base, sizeof host_base, "http://127.0.0.1:%u", host.port);
        proxy_port = proxy.port;
        proxy_pid = proxy.pid;
        long start_kb = vm_hwm_kb(proxy_pid);
        round_trip("small", 1024, PARLEY_MEDIA_IMAGE, 0);
        round_trip("medium", 10 * 1024 * 1024, PARLEY_MEDIA_VIDEO, 1);
        long growth = round_trip("large", 200 * 1024 * 1024, PARLEY_MEDIA_DOCUMENT, 0);
        printf("proxy peak memory growth over 200 MiB: %ld KiB\n", growth);
        CHECK(growth >= 0 && growth < 32 * 1024);
        /* and since it started, over all three transfers */
        CHECK(start_kb > 0 && vm_hwm_kb(proxy_pid) - start_kb < 32 * 1024);
        tampered();
    }
    reap(&proxy);
    reap(&host);
    rm_rf(dir);
    curl_global_cleanup();
    TEST_MAIN_END();
}

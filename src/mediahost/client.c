/*
 * Upload and download client for the media host protocol (docs/media.md),
 * on libcurl: used by parley-mediad and the tests, and by clients that
 * embed parley_mediahost.
 */
#include "mediahost/internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/safety.h"

typedef struct {
    long status;
    uint64_t upload_offset;
    int has_offset;
    char location[PMH_URL_MAX];
    char error[64];
    /* request body: bytes [pos, end) of fd */
    int fd;
    uint64_t pos, end;
    /* response body */
    int out_fd;
    int out_failed;
    pmh_sink_fn sink;        /* instead of out_fd */
    void *sink_arg;
    /* upload progress: bytes [0, patch_start) are already on the host */
    pmh_progress_fn progress;
    void *progress_arg;
    uint64_t patch_start, total;
    char body[PMH_URL_MAX];
    size_t body_len;
} xfer;

/* Copy a header's value (without CRLF) when its name matches. */
static int header_value(const char *line, size_t n, const char *name, char *out, size_t max)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return 0;
    const char *v = line + nl + 1;
    size_t vn = n - nl - 1;
    while (vn > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vn--;
    }
    while (vn > 0 && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
        vn--;
    if (vn >= max)
        return 0;
    memcpy(out, v, vn);
    out[vn] = '\0';
    return 1;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t n = size * nitems;
    char v[PMH_URL_MAX];
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* a new response (after a 100 Continue): forget the last one */
        x->has_offset = 0;
        x->location[0] = x->error[0] = '\0';
        const char *sp = memchr(line, ' ', n);
        x->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
    } else if (header_value(line, n, "Upload-Offset", v, sizeof v)) {
        x->has_offset = pmh_parse_u64(v, &x->upload_offset) == PARLEY_OK;
    } else if (header_value(line, n, "Location", v, sizeof v)) {
        snprintf(x->location, sizeof x->location, "%s", v);
    } else if (header_value(line, n, "Parley-Error", v, sizeof v)) {
        snprintf(x->error, sizeof x->error, "%.63s", v);
    }
    return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    if (x->sink != NULL && x->status == 200) {
        if (x->sink(x->sink_arg, (const uint8_t *)p, n) != 0) {
            x->out_failed = 1;
            return 0;
        }
        return n;
    }
    if (x->out_fd >= 0 && x->status == 200) {
        size_t done = 0;
        while (done < n) {
            ssize_t w = write(x->out_fd, p + done, n - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                x->out_failed = 1;
                return 0;
            }
            done += (size_t)w;
        }
        return n;
    }
    /* small bodies (the URL of a finished upload, refusals) are kept */
    size_t room = sizeof x->body - 1 - x->body_len;
    size_t k = n < room ? n : room;
    memcpy(x->body + x->body_len, p, k);
    x->body_len += k;
    x->body[x->body_len] = '\0';
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t want = size * nitems;
    if (x->pos >= x->end)
        return 0;
    if (want > x->end - x->pos)
        want = (size_t)(x->end - x->pos);
    ssize_t r;
    do {
        r = pread(x->fd, buf, want, (off_t)x->pos);
    } while (r < 0 && errno == EINTR);
    if (r <= 0)
        return CURL_READFUNC_ABORT;
    x->pos += (uint64_t)r;
    return (size_t)r;
}

static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    xfer *x = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    if (ulnow > 0)
        x->progress(x->progress_arg, x->patch_start + (uint64_t)ulnow, x->total);
    return 0;
}

/* One request. method: "GET", "HEAD", "POST", "PATCH". */
static int perform(const char *method, const char *url, const char *token,
                   struct curl_slist *extra, const char *ca_file, xfer *x)
{
    char auth[1100];
    struct curl_slist *h = extra;
    int rc = PARLEY_ERR_IO;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return PARLEY_ERR_NOMEM;
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:");
    x->status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    } else if (strcmp(method, "PATCH") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(x->end - x->pos));
        if (x->progress != NULL) {
            x->patch_start = x->pos;
            curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
            curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
            curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        }
    } else if (strcmp(method, "DELETE") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK && !x->out_failed)
        rc = PARLEY_OK;
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return rc;
}

int pmh_client_upload(const char *base_url, const char *token, int fd, uint64_t size,
                      const uint8_t *expect_sha256, uint64_t chunk, unsigned attempts,
                      const char *ca_file, char *upload_url_io, size_t upload_url_max,
                      char *url_out, size_t url_max)
{
    return pmh_client_upload_progress(base_url, token, fd, size, expect_sha256, chunk, attempts,
                                      ca_file, upload_url_io, upload_url_max, url_out, url_max,
                                      NULL, NULL, NULL, 0);
}

int pmh_client_upload_progress(const char *base_url, const char *token, int fd, uint64_t size,
                               const uint8_t *expect_sha256, uint64_t chunk, unsigned attempts,
                               const char *ca_file, char *upload_url_io, size_t upload_url_max,
                               char *url_out, size_t url_max, pmh_progress_fn progress,
                               void *progress_arg, char *error_out, size_t error_max)
{
    int rc;
    char hdr[128], upload_url[PMH_URL_MAX], url[PMH_URL_MAX];
    struct curl_slist *extra = NULL;
    xfer *x = calloc(1, sizeof *x);
    ENSURE(x != NULL, PARLEY_ERR_NOMEM);
    if (error_out != NULL && error_max > 0)
        error_out[0] = '\0';
    x->out_fd = -1;
    x->fd = fd;
    x->progress = progress;
    x->progress_arg = progress_arg;
    x->total = size;
    if (upload_url_io != NULL && upload_url_io[0] != '\0') {
        snprintf(upload_url, sizeof upload_url, "%s", upload_url_io);
    } else {
        snprintf(hdr, sizeof hdr, "Upload-Length: %" PRIu64, size);
        extra = curl_slist_append(NULL, hdr);
        if (expect_sha256 != NULL) {
            char hex[PMH_HEX_ID_LEN + 1];
            pmh_hex(hex, expect_sha256, 32);
            snprintf(hdr, sizeof hdr, "Upload-Sha256: %s", hex);
            extra = curl_slist_append(extra, hdr);
        }
        ENSURE(snprintf(url, sizeof url, "%s/v1/uploads", base_url) < (int)sizeof url,
               PARLEY_ERR_INVALID_ARG);
        rc = perform("POST", url, token, extra, ca_file, x);
        extra = NULL; /* freed by perform */
        GUARD(rc);
        ENSURE(x->status == 201 && x->location[0] != '\0', PARLEY_ERR_CLIENT_REFUSED);
        snprintf(upload_url, sizeof upload_url, "%s", x->location);
        if (upload_url_io != NULL)
            snprintf(upload_url_io, upload_url_max, "%s", upload_url);
    }
    for (unsigned a = 0; a < attempts; a++) {
        /* where does the host stand? */
        memset(x->body, 0, sizeof x->body);
        x->body_len = 0;
        GUARD(perform("HEAD", upload_url, token, NULL, ca_file, x));
        if (x->status == 409) {
            usleep(100000);
            continue;
        }
        ENSURE(x->status == 200 && x->has_offset && x->upload_offset <= size,
               PARLEY_ERR_CLIENT_REFUSED);
        x->pos = x->upload_offset;
        x->end = chunk == 0 || size - x->pos < chunk ? size : x->pos + chunk;
        snprintf(hdr, sizeof hdr, "Upload-Offset: %" PRIu64, x->pos);
        extra = curl_slist_append(NULL, hdr);
        extra = curl_slist_append(extra, "Content-Type: application/offset+octet-stream");
        x->body_len = 0;
        x->body[0] = '\0';
        rc = perform("PATCH", upload_url, token, extra, ca_file, x);
        extra = NULL;
        if (rc < 0 || x->status == 409)
            continue; /* interrupted or racing a dying connection: ask again */
        if (x->status == 201) {
            ENSURE(x->location[0] != '\0', PARLEY_ERR_CLIENT_REFUSED);
            ENSURE(snprintf(url_out, url_max, "%s", x->location) < (int)url_max,
                   PARLEY_ERR_BUFFER);
            rc = PARLEY_OK;
            goto out;
        }
        ENSURE(x->status == 204, PARLEY_ERR_CLIENT_REFUSED);
    }
    rc = PARLEY_ERR_AGAIN;
out:
    if (rc != PARLEY_OK && x != NULL && error_out != NULL && error_max > 0)
    {
        if (x->error[0])
            snprintf(error_out, error_max, "%s (%ld)", x->error, x->status);
        else if (x->status != 0)
            snprintf(error_out, error_max, "HTTP status %ld", x->status);
        else
            snprintf(error_out, error_max, "%s", rc == PARLEY_ERR_AGAIN ? "gave up after retries"
                                                                       : "unreachable");
    }
    curl_slist_free_all(extra);
    free(x);
    return rc;
}

int pmh_client_get(const char *url, const char *token, int fd, const char *ca_file,
                   long *status, char *error_out, size_t error_max)
{
    int rc;
    xfer *x = calloc(1, sizeof *x);
    if (x == NULL)
        return PARLEY_ERR_NOMEM;
    x->out_fd = fd;
    rc = perform("GET", url, token, NULL, ca_file, x);
    if (status != NULL)
        *status = x->status;
    if (error_out != NULL && error_max > 0)
        snprintf(error_out, error_max, "%s", x->error);
    if (rc == PARLEY_OK && x->status != 200)
        rc = PARLEY_ERR_CLIENT_REFUSED;
    free(x);
    return rc;
}

int pmh_client_get_sink(const char *url, const char *token, const char *ca_file, pmh_sink_fn sink,
                        void *sink_arg, long *status, char *error_out, size_t error_max)
{
    int rc;
    xfer *x = calloc(1, sizeof *x);
    if (x == NULL)
        return PARLEY_ERR_NOMEM;
    x->out_fd = -1;
    x->sink = sink;
    x->sink_arg = sink_arg;
    rc = perform("GET", url, token, NULL, ca_file, x);
    if (status != NULL)
        *status = x->status;
    if (error_out != NULL && error_max > 0)
        snprintf(error_out, error_max, "%s", x->error);
    if (x->out_failed)
        rc = PARLEY_ERR_IO; /* the sink knows why */
    else if (rc == PARLEY_OK && x->status != 200)
        rc = PARLEY_ERR_CLIENT_REFUSED;
    free(x);
    return rc;
}

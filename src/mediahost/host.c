/*
 * The media host (DESIGN.md 3.6; docs/media.md "Media host"): resumable
 * authenticated uploads in the style of tus (create, PATCH at an offset,
 * HEAD to learn it), blobs stored under their SHA-256 and verified on
 * completion, downloads by an unguessable capability with Range support,
 * expiry and deletion.
 *
 * Storage under cfg->dir:
 *   uploads/<upload id>   bytes of an unfinished upload
 *   blobs/<sha256 hex>    finished blobs, named by their encrypted SHA-256
 *   caps/<sha256(cap)>    one small record per download capability: the
 *                         blob's hash, size, expiry and owner. Keyed by a
 *                         hash so that the directory does not hold the
 *                         capabilities themselves.
 * Unfinished uploads are tracked in memory (a restart abandons them; the
 * sweep removes their bytes). Finished blobs and capabilities survive.
 */
#include "mediahost/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/safety.h"

#define META_MAX 512

typedef struct {
    int used, busy, has_expect;
    char id[PMH_HEX_ID_LEN + 1];
    char user[PMH_USER_MAX];
    uint64_t length, offset;
    uint8_t expect[PC_SHA256_LEN];
    pc_sha256_ctx hash; /* over bytes [0, offset) */
    time_t created;
} upload;

struct pmh_host {
    pmh_host_config cfg;
    char dir[PATH_MAX - 200];
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    upload *uploads;
    time_t last_sweep;
    int tls;
};

/* Per-request state, for PATCH bodies. */
typedef struct {
    upload *up;
    int fd;
    unsigned err_status;
    const char *err;
} request;

typedef struct {
    char sha[PMH_HEX_ID_LEN + 1];
    uint64_t size;
    int64_t expires;
    char owner[PMH_USER_MAX];
} meta;

static void path_of(char *out, size_t max, const pmh_host *h, const char *sub, const char *name)
{
    /* names are ours (hex ids, fixed words): a cut path only fails to open */
    if (snprintf(out, max, "%s/%s/%s", h->dir, sub, name) >= (int)max)
        out[0] = '\0';
}

/* caps/ entries are named by SHA-256 of the capability string. */
static int cap_file(char *out, size_t max, const pmh_host *h, const char *cap)
{
    uint8_t d[PC_SHA256_LEN];
    char hex[PMH_HEX_ID_LEN + 1];
    int rc = pmh_sha256(d, (const uint8_t *)cap, strlen(cap));
    if (rc < 0)
        return rc;
    pmh_hex(hex, d, sizeof d);
    path_of(out, max, h, "caps", hex);
    return PARLEY_OK;
}

static int meta_read(const char *path, meta *m)
{
    char buf[META_MAX + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return PARLEY_ERR_NOT_FOUND;
    ssize_t n = read(fd, buf, META_MAX);
    close(fd);
    if (n <= 0)
        return PARLEY_ERR_DECODE;
    buf[n] = '\0';
    /* "parley-media 1\n<sha>\n<size>\n<expires>\n<owner>\n" */
    char *save = NULL, *line[5];
    char *p = strtok_r(buf, "\n", &save);
    for (int i = 0; i < 5; i++) {
        line[i] = p;
        if (p == NULL)
            return PARLEY_ERR_DECODE;
        p = strtok_r(NULL, "\n", &save);
    }
    uint64_t exp;
    if (strcmp(line[0], "parley-media 1") != 0 || !pmh_is_hex_id(line[1], strlen(line[1])) ||
        pmh_parse_u64(line[2], &m->size) < 0 || pmh_parse_u64(line[3], &exp) < 0 ||
        exp > INT64_MAX || strlen(line[4]) >= PMH_USER_MAX)
        return PARLEY_ERR_DECODE;
    memcpy(m->sha, line[1], sizeof m->sha);
    m->expires = (int64_t)exp;
    snprintf(m->owner, sizeof m->owner, "%s", line[4]);
    return PARLEY_OK;
}

static int meta_write(const char *path, const meta *m)
{
    char tmp[PATH_MAX], buf[META_MAX + PMH_USER_MAX];
    int n = snprintf(buf, sizeof buf, "parley-media 1\n%s\n%" PRIu64 "\n%" PRId64 "\n%s\n", m->sha,
                     m->size, m->expires, m->owner);
    if (n < 0 || n > META_MAX || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return PARLEY_ERR_BUFFER;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return PARLEY_ERR_IO;
    int ok = write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return PARLEY_ERR_IO;
    }
    return PARLEY_OK;
}

/* Whether any capability still refers to blob `sha` (caller holds lock). */
static int blob_referenced(const pmh_host *h, const char *sha)
{
    char path[PATH_MAX];
    int found = 0;
    path_of(path, sizeof path, h, "caps", "");
    DIR *d = opendir(path);
    struct dirent *de;
    meta m;
    while (d != NULL && !found && (de = readdir(d)) != NULL) {
        if (!pmh_is_hex_id(de->d_name, strlen(de->d_name)))
            continue;
        path_of(path, sizeof path, h, "caps", de->d_name);
        if (meta_read(path, &m) == PARLEY_OK && strcmp(m.sha, sha) == 0)
            found = 1;
    }
    if (d != NULL)
        closedir(d);
    return found;
}

static int sweep_locked(pmh_host *h)
{
    char path[PATH_MAX];
    int removed = 0;
    time_t now = pmh_now(h->cfg.clock, h->cfg.clock_ctx);
    size_t live_n = 0, live_cap = 0;
    char(*live)[PMH_HEX_ID_LEN + 1] = NULL;
    struct dirent *de;
    meta m;
    h->last_sweep = now;
    /* expired capabilities */
    path_of(path, sizeof path, h, "caps", "");
    DIR *d = opendir(path);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (!pmh_is_hex_id(de->d_name, strlen(de->d_name)))
            continue;
        path_of(path, sizeof path, h, "caps", de->d_name);
        if (meta_read(path, &m) != PARLEY_OK || m.expires <= (int64_t)now) {
            if (unlink(path) == 0)
                removed++;
            continue;
        }
        if (live_n == live_cap) {
            size_t nc = live_cap ? live_cap * 2 : 64;
            void *nl = realloc(live, nc * sizeof *live);
            if (nl == NULL) {
                /* cannot tell what is referenced: keep every blob */
                closedir(d);
                free(live);
                return removed;
            }
            live = nl;
            live_cap = nc;
        }
        memcpy(live[live_n++], m.sha, sizeof live[0]);
    }
    if (d != NULL)
        closedir(d);
    /* blobs no capability refers to */
    path_of(path, sizeof path, h, "blobs", "");
    d = opendir(path);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        int keep = 0;
        for (size_t i = 0; i < live_n && !keep; i++)
            keep = strcmp(live[i], de->d_name) == 0;
        if (!keep) {
            path_of(path, sizeof path, h, "blobs", de->d_name);
            if (unlink(path) == 0)
                removed++;
        }
    }
    if (d != NULL)
        closedir(d);
    free(live);
    /* stale uploads, and bytes of uploads this process does not know */
    for (unsigned i = 0; i < h->cfg.max_uploads; i++) {
        upload *u = &h->uploads[i];
        if (u->used && !u->busy &&
            (uint64_t)(now - u->created) >= h->cfg.upload_ttl_seconds) {
            path_of(path, sizeof path, h, "uploads", u->id);
            unlink(path);
            pc_wipe(u, sizeof *u);
            removed++;
        }
    }
    path_of(path, sizeof path, h, "uploads", "");
    d = opendir(path);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        int known = 0;
        for (unsigned i = 0; i < h->cfg.max_uploads && !known; i++)
            known = h->uploads[i].used && strcmp(h->uploads[i].id, de->d_name) == 0;
        if (!known) {
            path_of(path, sizeof path, h, "uploads", de->d_name);
            if (unlink(path) == 0)
                removed++;
        }
    }
    if (d != NULL)
        closedir(d);
    return removed;
}

int pmh_host_sweep(pmh_host *h)
{
    pthread_mutex_lock(&h->lock);
    int n = sweep_locked(h);
    pthread_mutex_unlock(&h->lock);
    return n;
}

static upload *find_upload(pmh_host *h, const char *id)
{
    for (unsigned i = 0; i < h->cfg.max_uploads; i++)
        if (h->uploads[i].used && strcmp(h->uploads[i].id, id) == 0)
            return &h->uploads[i];
    return NULL;
}

/* The URL prefix for links we hand out. */
static void base_url(char *out, size_t max, pmh_host *h, struct MHD_Connection *c)
{
    if (h->cfg.public_base != NULL) {
        snprintf(out, max, "%s", h->cfg.public_base);
        return;
    }
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    int ok = host != NULL && *host != '\0' && strlen(host) < 256;
    for (const char *p = host; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             strchr(".-:[]", *p) != NULL;
    if (ok)
        snprintf(out, max, "%s://%s", h->tls ? "https" : "http", host);
    else
        snprintf(out, max, "%s://127.0.0.1:%u", h->tls ? "https" : "http", pmh_host_port(h));
}

static enum MHD_Result respond_offset(struct MHD_Connection *c, unsigned status,
                                      const upload *u, const char *location)
{
    char off[24], len[24];
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    snprintf(off, sizeof off, "%" PRIu64, u->offset);
    snprintf(len, sizeof len, "%" PRIu64, u->length);
    MHD_add_response_header(r, "Upload-Offset", off);
    MHD_add_response_header(r, "Upload-Length", len);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (location != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* POST /v1/uploads: Upload-Length, optional Upload-Sha256. */
static enum MHD_Result create_upload(pmh_host *h, struct MHD_Connection *c, const char *user)
{
    uint64_t length;
    uint8_t expect[PC_SHA256_LEN];
    char base[300], loc[PMH_URL_MAX];
    const char *lh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upload-Length");
    const char *sh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upload-Sha256");
    if (pmh_parse_u64(lh, &length) < 0)
        return pmh_refuse(c, MHD_HTTP_BAD_REQUEST, "bad_upload_length");
    if (length > h->cfg.max_blob_size)
        return pmh_refuse(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large");
    /* A blob is at least one cipher block and a MAC (docs/media.md). */
    if (length < 26)
        return pmh_refuse(c, MHD_HTTP_BAD_REQUEST, "too_small");
    if (sh != NULL && pmh_unhex(expect, sizeof expect, sh) < 0)
        return pmh_refuse(c, MHD_HTTP_BAD_REQUEST, "bad_sha256");
    pthread_mutex_lock(&h->lock);
    upload *u = NULL;
    for (unsigned i = 0; i < h->cfg.max_uploads && u == NULL; i++)
        if (!h->uploads[i].used)
            u = &h->uploads[i];
    int ok = u != NULL;
    if (ok) {
        memset(u, 0, sizeof *u);
        ok = pmh_random_id(u->id) == PARLEY_OK && pc_sha256_init(&u->hash) == PARLEY_OK;
    }
    if (ok) {
        char path[PATH_MAX];
        path_of(path, sizeof path, h, "uploads", u->id);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ok = fd >= 0;
        if (fd >= 0)
            close(fd);
    }
    if (ok) {
        u->used = 1;
        snprintf(u->user, sizeof u->user, "%s", user);
        u->length = length;
        u->created = pmh_now(h->cfg.clock, h->cfg.clock_ctx);
        if (sh != NULL) {
            memcpy(u->expect, expect, sizeof expect);
            u->has_expect = 1;
        }
    }
    upload copy;
    if (ok)
        copy = *u;
    pthread_mutex_unlock(&h->lock);
    if (!ok)
        return pmh_refuse(c, u == NULL ? MHD_HTTP_SERVICE_UNAVAILABLE
                                       : MHD_HTTP_INTERNAL_SERVER_ERROR,
                          u == NULL ? "too_many_uploads" : "storage_error");
    base_url(base, sizeof base, h, c);
    snprintf(loc, sizeof loc, "%s/v1/uploads/%s", base, copy.id);
    enum MHD_Result r = respond_offset(c, MHD_HTTP_CREATED, &copy, loc);
    pc_wipe(&copy, sizeof copy);
    return r;
}

/* The upload's last byte arrived (lock held): verify, store, hand out a
 * capability. */
static enum MHD_Result finish_upload(pmh_host *h, struct MHD_Connection *c, upload *u)
{
    uint8_t sha[PC_SHA256_LEN];
    char cap[PMH_HEX_ID_LEN + 1], part[PATH_MAX], blob[PATH_MAX], capf[PATH_MAX];
    char base[300], url[PMH_URL_MAX], exp_s[24];
    meta m;
    path_of(part, sizeof part, h, "uploads", u->id);
    if (pc_sha256_final(&u->hash, sha) < 0) {
        unlink(part);
        pc_wipe(u, sizeof *u);
        return pmh_refuse(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "storage_error");
    }
    if (u->has_expect && !pc_ct_eq(sha, u->expect, sizeof sha)) {
        unlink(part);
        pc_wipe(u, sizeof *u);
        return pmh_refuse(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "hash_mismatch");
    }
    memset(&m, 0, sizeof m);
    pmh_hex(m.sha, sha, sizeof sha);
    m.size = u->length;
    m.expires = (int64_t)pmh_now(h->cfg.clock, h->cfg.clock_ctx) + (int64_t)h->cfg.ttl_seconds;
    /* a user id is one line of the record */
    size_t k = 0;
    for (const char *p = u->user; *p && k + 1 < sizeof m.owner; p++)
        m.owner[k++] = (*p == '\n' || *p == '\r') ? '_' : *p;
    path_of(blob, sizeof blob, h, "blobs", m.sha);
    int ok = pmh_random_id(cap) == PARLEY_OK && cap_file(capf, sizeof capf, h, cap) == PARLEY_OK;
    /* record first, then the blob: the sweep never sees a blob no record
     * refers to, and nobody knows the capability before we answer */
    ok = ok && meta_write(capf, &m) == PARLEY_OK;
    if (ok && access(blob, F_OK) == 0)
        unlink(part); /* the same bytes are stored already */
    else if (ok)
        ok = rename(part, blob) == 0;
    if (!ok) {
        unlink(capf);
        unlink(part);
    }
    pc_wipe(u, sizeof *u);
    if (!ok)
        return pmh_refuse(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "storage_error");
    base_url(base, sizeof base, h, c);
    int n = snprintf(url, sizeof url, "%s/v1/media/%s\n", base, cap);
    pc_wipe(cap, sizeof cap);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, url, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    url[n - 1] = '\0';
    snprintf(exp_s, sizeof exp_s, "%" PRId64, m.expires);
    MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, url);
    MHD_add_response_header(r, "Parley-Blob-Sha256", m.sha);
    MHD_add_response_header(r, "Parley-Expires", exp_s);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_CREATED, r);
    MHD_destroy_response(r);
    pc_wipe(url, sizeof url);
    return ret;
}

/* PATCH /v1/uploads/<id>, first call: check and claim the upload. */
static enum MHD_Result patch_begin(pmh_host *h, struct MHD_Connection *c, const char *user,
                                   const char *id, request *rq)
{
    uint64_t off;
    const char *oh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upload-Offset");
    if (pmh_parse_u64(oh, &off) < 0)
        return pmh_refuse(c, MHD_HTTP_BAD_REQUEST, "bad_upload_offset");
    pthread_mutex_lock(&h->lock);
    upload *u = find_upload(h, id);
    const char *err = NULL;
    unsigned status = 0;
    if (u == NULL || strcmp(u->user, user) != 0) {
        err = "unknown_upload";
        status = MHD_HTTP_NOT_FOUND;
    } else if (u->busy) {
        err = "upload_busy";
        status = MHD_HTTP_CONFLICT;
    } else if (off != u->offset) {
        err = "offset_mismatch";
        status = MHD_HTTP_CONFLICT;
    } else {
        char path[PATH_MAX];
        path_of(path, sizeof path, h, "uploads", id);
        rq->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (rq->fd < 0 || lseek(rq->fd, (off_t)off, SEEK_SET) < 0) {
            err = "storage_error";
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        } else {
            u->busy = 1;
            rq->up = u;
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (err != NULL) {
        /* answer at once: the body is not read, the connection closes */
        if (rq->fd >= 0)
            close(rq->fd);
        rq->fd = -1;
        return pmh_refuse(c, status, err);
    }
    return MHD_YES;
}

/* PATCH body bytes: append, hash, advance the offset. */
static void patch_data(pmh_host *h, request *rq, const char *data, size_t n)
{
    upload *u = rq->up;
    if (rq->err != NULL)
        return;
    if (n > u->length - u->offset) {
        rq->err = "beyond_upload_length";
        rq->err_status = MHD_HTTP_CONTENT_TOO_LARGE;
        return;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(rq->fd, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    /* Only what reached the file counts; the hash follows the offset. */
    pthread_mutex_lock(&h->lock);
    if (pc_sha256_update(&u->hash, (const uint8_t *)data, done) == PARLEY_OK)
        u->offset += done;
    pthread_mutex_unlock(&h->lock);
    if (done < n) {
        rq->err = "storage_error";
        rq->err_status = MHD_HTTP_INSUFFICIENT_STORAGE;
    }
}

static enum MHD_Result patch_end(pmh_host *h, struct MHD_Connection *c, request *rq)
{
    enum MHD_Result ret;
    if (rq->fd >= 0) {
        int ok = fsync(rq->fd) == 0;
        ok = close(rq->fd) == 0 && ok;
        rq->fd = -1;
        if (!ok && rq->err == NULL) {
            rq->err = "storage_error";
            rq->err_status = MHD_HTTP_INSUFFICIENT_STORAGE;
        }
    }
    pthread_mutex_lock(&h->lock);
    upload *u = rq->up;
    rq->up = NULL;
    u->busy = 0;
    if (rq->err != NULL) {
        ret = MHD_NO;
        pthread_mutex_unlock(&h->lock);
        return pmh_refuse(c, rq->err_status, rq->err);
    }
    if (u->offset == u->length)
        ret = finish_upload(h, c, u);
    else
        ret = respond_offset(c, MHD_HTTP_NO_CONTENT, u, NULL);
    pthread_mutex_unlock(&h->lock);
    return ret;
}

static enum MHD_Result head_upload(pmh_host *h, struct MHD_Connection *c, const char *user,
                                   const char *id)
{
    upload copy;
    pthread_mutex_lock(&h->lock);
    upload *u = find_upload(h, id);
    int ok = u != NULL && strcmp(u->user, user) == 0;
    if (ok)
        copy = *u;
    pthread_mutex_unlock(&h->lock);
    if (!ok)
        return pmh_refuse(c, MHD_HTTP_NOT_FOUND, "unknown_upload");
    enum MHD_Result r = respond_offset(c, MHD_HTTP_OK, &copy, NULL);
    pc_wipe(&copy, sizeof copy);
    return r;
}

/*
 * One "bytes=" range (RFC 9110 14.1.2). Returns 1 with start/len for a
 * satisfiable range, 0 to ignore the header (absent, malformed, several
 * ranges: the whole blob is sent), -1 when unsatisfiable.
 */
static int parse_range(const char *hv, uint64_t size, uint64_t *start, uint64_t *len)
{
    char a[24], b[24];
    if (hv == NULL || strncmp(hv, "bytes=", 6) != 0 || strchr(hv, ',') != NULL)
        return 0;
    const char *s = hv + 6, *dash = strchr(s, '-');
    if (dash == NULL || (size_t)(dash - s) >= sizeof a || strlen(dash + 1) >= sizeof b)
        return 0;
    memcpy(a, s, (size_t)(dash - s));
    a[dash - s] = '\0';
    snprintf(b, sizeof b, "%s", dash + 1);
    uint64_t x, y;
    if (a[0] == '\0') { /* suffix: the last y bytes */
        if (pmh_parse_u64(b, &y) < 0)
            return 0;
        if (y == 0 || size == 0)
            return -1;
        if (y > size)
            y = size;
        *start = size - y;
        *len = y;
        return 1;
    }
    if (pmh_parse_u64(a, &x) < 0)
        return 0;
    if (b[0] == '\0') {
        y = size == 0 ? 0 : size - 1;
    } else {
        if (pmh_parse_u64(b, &y) < 0 || y < x)
            return 0;
        if (y >= size)
            y = size - 1;
    }
    if (x >= size)
        return -1;
    *start = x;
    *len = y - x + 1;
    return 1;
}

static enum MHD_Result get_media(pmh_host *h, struct MHD_Connection *c, const char *cap)
{
    char capf[PATH_MAX], blob[PATH_MAX], hdr[96];
    meta m;
    struct stat st;
    if (cap_file(capf, sizeof capf, h, cap) < 0 || meta_read(capf, &m) < 0 ||
        m.expires <= (int64_t)pmh_now(h->cfg.clock, h->cfg.clock_ctx))
        return pmh_refuse(c, MHD_HTTP_NOT_FOUND, "not_found");
    path_of(blob, sizeof blob, h, "blobs", m.sha);
    int fd = open(blob, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pmh_refuse(c, MHD_HTTP_NOT_FOUND, "not_found");
    if (fstat(fd, &st) != 0) {
        close(fd);
        return pmh_refuse(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "storage_error");
    }
    uint64_t size = (uint64_t)st.st_size, start = 0, len = size;
    int pr = parse_range(
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE), size, &start,
        &len);
    if (pr < 0) {
        close(fd);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (r == NULL)
            return MHD_NO;
        snprintf(hdr, sizeof hdr, "bytes */%" PRIu64, size);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, hdr);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
        MHD_destroy_response(r);
        return ret;
    }
    /* sendfile() from the blob: constant memory whatever its size */
    struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, start);
    if (r == NULL) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    snprintf(hdr, sizeof hdr, "\"%s\"", m.sha);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, hdr);
    MHD_add_response_header(r, "Parley-Blob-Sha256", m.sha);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "private, no-transform");
    if (pr > 0) {
        snprintf(hdr, sizeof hdr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
                 start + len - 1, size);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, hdr);
    }
    enum MHD_Result ret =
        MHD_queue_response(c, pr > 0 ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result delete_media(pmh_host *h, struct MHD_Connection *c, const char *user,
                                    const char *cap)
{
    char capf[PATH_MAX], blob[PATH_MAX];
    meta m;
    if (cap_file(capf, sizeof capf, h, cap) < 0)
        return pmh_refuse(c, MHD_HTTP_NOT_FOUND, "not_found");
    pthread_mutex_lock(&h->lock);
    int rc = meta_read(capf, &m);
    const char *err = NULL;
    unsigned status = 0;
    if (rc < 0) {
        err = "not_found";
        status = MHD_HTTP_NOT_FOUND;
    } else if (strcmp(m.owner, user) != 0) {
        err = "not_owner";
        status = MHD_HTTP_FORBIDDEN;
    } else {
        unlink(capf);
        if (!blob_referenced(h, m.sha)) {
            path_of(blob, sizeof blob, h, "blobs", m.sha);
            unlink(blob);
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (err != NULL)
        return pmh_refuse(c, status, err);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **req_cls)
{
    pmh_host *h = cls;
    request *rq = *req_cls;
    char user[PMH_USER_MAX];
    static const char up_prefix[] = "/v1/uploads/", media_prefix[] = "/v1/media/";
    (void)version;
    if (rq != NULL) { /* a PATCH body in progress */
        if (*data_size > 0) {
            patch_data(h, rq, data, *data_size);
            *data_size = 0;
            return MHD_YES;
        }
        return patch_end(h, c, rq);
    }
    time_t now = pmh_now(h->cfg.clock, h->cfg.clock_ctx);
    pthread_mutex_lock(&h->lock);
    if ((uint64_t)(now - h->last_sweep) >= h->cfg.sweep_interval)
        sweep_locked(h);
    pthread_mutex_unlock(&h->lock);

    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    int is_head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (strncmp(url, media_prefix, sizeof media_prefix - 1) == 0) {
        const char *cap = url + sizeof media_prefix - 1;
        if (!pmh_is_hex_id(cap, strlen(cap)))
            return pmh_refuse(c, MHD_HTTP_NOT_FOUND, "not_found");
        if (is_get || is_head)
            return get_media(h, c, cap); /* the capability is the authority */
        if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0) {
            if (!pmh_authenticate(c, h->cfg.auth, h->cfg.auth_ctx, user))
                return pmh_refuse(c, MHD_HTTP_UNAUTHORIZED, "unauthorized");
            return delete_media(h, c, user, cap);
        }
        return pmh_refuse(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed");
    }
    int is_create = strcmp(url, "/v1/uploads") == 0;
    int is_upload = strncmp(url, up_prefix, sizeof up_prefix - 1) == 0;
    if (!is_create && !is_upload)
        return pmh_refuse(c, MHD_HTTP_NOT_FOUND, "not_found");
    if (!pmh_authenticate(c, h->cfg.auth, h->cfg.auth_ctx, user))
        return pmh_refuse(c, MHD_HTTP_UNAUTHORIZED, "unauthorized");
    if (is_create) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return pmh_refuse(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed");
        return create_upload(h, c, user);
    }
    const char *id = url + sizeof up_prefix - 1;
    if (!pmh_is_hex_id(id, strlen(id)))
        return pmh_refuse(c, MHD_HTTP_NOT_FOUND, "unknown_upload");
    if (is_head)
        return head_upload(h, c, user, id);
    if (strcmp(method, "PATCH") != 0)
        return pmh_refuse(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed");
    rq = calloc(1, sizeof *rq);
    if (rq == NULL)
        return MHD_NO;
    rq->fd = -1;
    enum MHD_Result r = patch_begin(h, c, user, id, rq);
    if (rq->up == NULL) {
        free(rq);
        return r;
    }
    *req_cls = rq;
    return r;
}

/* Also runs when a client vanishes mid-body: the bytes written so far stay
 * counted, and the upload is free for a resuming PATCH. */
static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    pmh_host *h = cls;
    request *rq = *req_cls;
    (void)c;
    (void)toe;
    if (rq == NULL)
        return;
    if (rq->fd >= 0)
        close(rq->fd);
    pthread_mutex_lock(&h->lock);
    if (rq->up != NULL)
        rq->up->busy = 0;
    pthread_mutex_unlock(&h->lock);
    free(rq);
    *req_cls = NULL;
}

int pmh_host_start(pmh_host **out, const pmh_host_config *cfg)
{
    int rc;
    char path[PATH_MAX];
    pmh_host *h = NULL;
    PARLEY_MISUSE(out != NULL && cfg != NULL && cfg->dir != NULL && cfg->auth != NULL);
    GUARD(pc_init());
    h = calloc(1, sizeof *h);
    ENSURE(h != NULL, PARLEY_ERR_NOMEM);
    pthread_mutex_init(&h->lock, NULL);
    h->cfg = *cfg;
    if (h->cfg.max_blob_size == 0)
        h->cfg.max_blob_size = PMH_DEFAULT_MAX_BLOB;
    if (h->cfg.ttl_seconds == 0)
        h->cfg.ttl_seconds = 30 * 86400;
    if (h->cfg.upload_ttl_seconds == 0)
        h->cfg.upload_ttl_seconds = 86400;
    if (h->cfg.max_uploads == 0)
        h->cfg.max_uploads = 1024;
    if (h->cfg.sweep_interval == 0)
        h->cfg.sweep_interval = 60;
    ENSURE(strlen(cfg->dir) < sizeof h->dir, PARLEY_ERR_INVALID_ARG);
    snprintf(h->dir, sizeof h->dir, "%s", cfg->dir);
    h->cfg.dir = h->dir;
    h->uploads = calloc(h->cfg.max_uploads, sizeof *h->uploads);
    ENSURE(h->uploads != NULL, PARLEY_ERR_NOMEM);
    static const char *const subs[] = {"uploads", "blobs", "caps"};
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(subs); i++) {
        snprintf(path, sizeof path, "%s/%s", h->dir, subs[i]);
        GUARD(pmh_mkdirs(path));
    }
    h->tls = cfg->tls_cert_file != NULL && cfg->tls_key_file != NULL;
    sweep_locked(h); /* leftovers of a previous run */
    h->daemon = pmh_daemon_start(cfg->bind_addr, cfg->port, cfg->max_connections,
                                 cfg->tls_cert_file, cfg->tls_key_file, handle, h, completed, h);
    ENSURE(h->daemon != NULL, PARLEY_ERR_IO);
    *out = h;
    h = NULL;
    rc = PARLEY_OK;
out:
    if (h != NULL)
        pmh_host_stop(h);
    return rc;
}

uint16_t pmh_host_port(const pmh_host *h)
{
    return pmh_daemon_port(h->daemon);
}

void pmh_host_stop(pmh_host *h)
{
    if (h == NULL)
        return;
    if (h->daemon != NULL)
        MHD_stop_daemon(h->daemon);
    if (h->uploads != NULL)
        pc_wipe(h->uploads, h->cfg.max_uploads * sizeof *h->uploads);
    free(h->uploads);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

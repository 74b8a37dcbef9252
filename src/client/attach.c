/*
 * Attachments (docs/client.md, "Attachments"; docs/media.md): sending a
 * file is detect, encrypt while reading (parley_media_encrypt_fd into an
 * unlinked temporary blob, so that an interrupted upload can resume from
 * the same bytes), upload to the sender's media host, and a message whose
 * content carries URL, key, both hashes and size. Receiving keeps each
 * attachment's record sealed in the store inside the message's
 * transaction, then streams the blob through the decryptor into a
 * temporary file that gets its name only when both hashes, the MAC and the
 * size verify.
 *
 * Where media comes from and goes to:
 *   - uploads go to the media host the server announces at login (or the
 *     one set with parley_client_set_media_config, for a third-party user
 *     whose provider hosts its media), with the bearer token that comes
 *     with it;
 *   - a blob on the gatekeeper's host (or on the user's own host) is
 *     fetched directly: its URL is a capability;
 *   - any other blob is a third-party one and, when a media proxy is
 *     known (gatekeeper users), is fetched through it with the token and
 *     the sender's domain as the provider.
 * libparley does no HTTP itself: the program supplies the transport.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/attach_internal.h"
#include "client/engine_internal.h"
#include "crypto/crypto.h"
#include "parley/media.h"
#include "util/safety.h"

enum {
    PCL_MEDIA_CFG_MAX = 1024,  /* bytes of a configured URL */
    PCL_MEDIA_ERR_MAX = 160,   /* bytes of an error text */
    PCL_SAVE_TRIES = 1000,     /* "name (N).ext" candidates */
};

struct parley_client_file {
    parley_attachment a;
    char url[PARLEY_CLIENT_URL_MAX];
    char name[PCL_FILE_NAME_MAX + 1];
    char mime[64];
};

/* ---- configuration ---- */

int pcl_attach_schema(parley_client *c)
{
    /* sealed: a single-attachment Content (key and hashes are secrets) */
    return pcl_store_exec(&c->st, "CREATE TABLE IF NOT EXISTS attachments("
                                  " device TEXT NOT NULL, id TEXT NOT NULL, idx INTEGER NOT NULL,"
                                  " count INTEGER NOT NULL, peer TEXT NOT NULL, meta BLOB NOT NULL,"
                                  " state TEXT NOT NULL DEFAULT 'pending', path TEXT, error TEXT,"
                                  " PRIMARY KEY(device, id, idx))");
}

static void cfg_str(parley_client *c, const char *k, char *out, size_t max)
{
    if (pcl_cfg_get_str(&c->st, k, out, max) != PARLEY_OK)
        out[0] = 0;
}

static int cfg_put(parley_client *c, const char *k, const char *v)
{
    return pcl_cfg_set(&c->st, k, v ? v : "", v ? strlen(v) : 0);
}

static int url_ok(const char *u)
{
    size_t n = u ? strlen(u) : 0;
    if (n == 0)
        return 1;
    if (n >= PCL_MEDIA_CFG_MAX)
        return 0;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7F)
            return 0;
    return 1;
}

int pcl_attach_login(parley_client *c, const parley_stanza *success)
{
    const parley_stanza *m = parley_stanza_child(success, "media");
    const char *host = m ? parley_stanza_attr(m, "host") : NULL;
    const char *proxy = m ? parley_stanza_attr(m, "proxy") : NULL;
    const char *token = m ? parley_stanza_attr(m, "token") : NULL;
    int rc;
    if (!url_ok(host) || !url_ok(proxy) || (token && strlen(token) >= PCL_MEDIA_CFG_MAX)) {
        pcl_log(c, "ignoring a malformed media announcement");
        return PARLEY_OK;
    }
    GUARD(cfg_put(c, "media_host_srv", host));
    GUARD(cfg_put(c, "media_proxy_srv", proxy));
    GUARD(cfg_put(c, "media_token_srv", token));
    rc = PARLEY_OK;
out:
    return rc;
}

int parley_client_set_media_config(parley_client *c, const char *host, const char *token,
                                   const char *proxy)
{
    int rc;
    ENSURE(url_ok(host) && url_ok(proxy), PARLEY_ERR_INVALID_ARG);
    ENSURE(!token || strlen(token) < PCL_MEDIA_CFG_MAX, PARLEY_ERR_INVALID_ARG);
    GUARD(pcl_store_begin(&c->st));
    rc = cfg_put(c, "media_host_user", host);
    if (rc == PARLEY_OK)
        rc = cfg_put(c, "media_token_user", token);
    if (rc == PARLEY_OK)
        rc = cfg_put(c, "media_proxy_user", proxy);
    if (rc != PARLEY_OK) {
        pcl_store_rollback(&c->st);
        goto out;
    }
    GUARD(pcl_store_commit(&c->st));
out:
    return rc;
}

/* What applies now: the user's settings over the server's announcement. */
typedef struct {
    char host[PCL_MEDIA_CFG_MAX], host_token[PCL_MEDIA_CFG_MAX];
    char proxy[PCL_MEDIA_CFG_MAX], proxy_token[PCL_MEDIA_CFG_MAX];
    char gk_host[PCL_MEDIA_CFG_MAX]; /* the gatekeeper's, as announced */
} media_cfg;

static void media_cfg_load(parley_client *c, media_cfg *m)
{
    char srv_token[PCL_MEDIA_CFG_MAX], user_token[PCL_MEDIA_CFG_MAX];
    cfg_str(c, "media_host_srv", m->gk_host, sizeof m->gk_host);
    cfg_str(c, "media_token_srv", srv_token, sizeof srv_token);
    cfg_str(c, "media_token_user", user_token, sizeof user_token);
    cfg_str(c, "media_host_user", m->host, sizeof m->host);
    if (m->host[0]) {
        snprintf(m->host_token, sizeof m->host_token, "%s", user_token);
    } else {
        snprintf(m->host, sizeof m->host, "%s", m->gk_host);
        snprintf(m->host_token, sizeof m->host_token, "%s", srv_token);
    }
    cfg_str(c, "media_proxy_user", m->proxy, sizeof m->proxy);
    if (m->proxy[0]) {
        snprintf(m->proxy_token, sizeof m->proxy_token, "%s", user_token[0] ? user_token : srv_token);
    } else {
        cfg_str(c, "media_proxy_srv", m->proxy, sizeof m->proxy);
        snprintf(m->proxy_token, sizeof m->proxy_token, "%s", srv_token);
    }
    pc_wipe(srv_token, sizeof srv_token);
    pc_wipe(user_token, sizeof user_token);
}

static void media_cfg_wipe(media_cfg *m)
{
    pc_wipe(m, sizeof *m);
}

int parley_client_media_config(parley_client *c, char *host, size_t host_max, char *proxy,
                               size_t proxy_max, int *have_token)
{
    media_cfg *m = malloc(sizeof *m);
    if (!m)
        return PARLEY_ERR_NOMEM;
    media_cfg_load(c, m);
    if (host && host_max)
        snprintf(host, host_max, "%s", m->host);
    if (proxy && proxy_max)
        snprintf(proxy, proxy_max, "%s", m->proxy);
    if (have_token)
        *have_token = m->host_token[0] != 0;
    media_cfg_wipe(m);
    free(m);
    return PARLEY_OK;
}

void parley_client_set_media_transport(parley_client *c, const parley_client_media_transport *t)
{
    if (t)
        c->media_tr = *t;
    else
        memset(&c->media_tr, 0, sizeof c->media_tr);
}

void parley_client_set_progress(parley_client *c, parley_client_progress_fn fn, void *arg)
{
    c->progress = fn;
    c->progress_arg = arg;
}

int parley_client_set_media_dir(parley_client *c, const char *dir, int auto_download)
{
    int rc;
    ENSURE(dir && dir[0] && strlen(dir) < sizeof c->media_dir, PARLEY_ERR_INVALID_ARG);
    snprintf(c->media_dir, sizeof c->media_dir, "%s", dir);
    c->media_auto = auto_download;
    rc = PARLEY_OK;
out:
    return rc;
}

static void set_reason(parley_client *c, int code, const char *fmt, const char *a, const char *b)
{
    c->last_code = code;
    snprintf(c->last_reason, sizeof c->last_reason, fmt, a ? a : "", b ? b : "");
}

/* ---- sending ---- */

typedef struct {
    parley_client *c;
    const char *name;
} progress_ctx;

static void on_upload_progress(void *arg, uint64_t done, uint64_t total)
{
    progress_ctx *p = arg;
    if (p->c->progress)
        p->c->progress(p->c->progress_arg, p->name, 1, done, total);
}

/* An unlinked temporary file beside the store: private to this process. */
static int temp_fd(parley_client *c)
{
    const char *db = sqlite3_db_filename(c->st.db, "main");
    char path[4200];
    const char *slash = db ? strrchr(db, '/') : NULL;
    int fd;
    if (slash)
        snprintf(path, sizeof path, "%.*s/.blob-XXXXXX", (int)(slash - db), db);
    else
        snprintf(path, sizeof path, "/tmp/parley-blob-XXXXXX");
    fd = mkstemp(path);
    if (fd >= 0)
        (void)unlink(path);
    return fd;
}

const char *parley_client_file_name(const parley_client_file *f)
{
    return f->name;
}

const char *parley_client_file_mime(const parley_client_file *f)
{
    return f->mime;
}

int parley_client_file_media_type(const parley_client_file *f)
{
    return (int)f->a.type;
}

uint64_t parley_client_file_size(const parley_client_file *f)
{
    return f->a.size;
}

void parley_client_file_free(parley_client_file *f)
{
    if (!f)
        return;
    pc_wipe(f, sizeof *f);
    free(f);
}

int parley_client_file_upload(parley_client *c, const char *path, parley_client_file **out)
{
    parley_client_file *f = NULL;
    media_cfg *m = NULL;
    uint8_t *head = NULL;
    parley_media_digest dg;
    pcl_file_kind kind;
    struct stat sb;
    int in = -1, blob = -1, rc;
    ssize_t got;
    char err[PCL_MEDIA_ERR_MAX];
    *out = NULL;
    /* A failure of the file or the media host leaves a reason with code 0;
     * one of the chat server keeps its own code (and none for the network). */
    set_reason(c, 0, "%s%s", "", "");
    ENSURE(c->sig != NULL && c->device != 0, PARLEY_ERR_CLIENT_NOT_REGISTERED);
    f = calloc(1, sizeof *f);
    m = malloc(sizeof *m);
    head = malloc(PCL_SNIFF_LEN);
    ENSURE(f && m && head, PARLEY_ERR_NOMEM);
    in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        set_reason(c, 0, "cannot read the file: %s%s", in < 0 ? strerror(errno) : "not a regular file", "");
        rc = PARLEY_ERR_IO;
        goto out;
    }
    if ((uint64_t)sb.st_size > PARLEY_CLIENT_FILE_MAX) {
        set_reason(c, 0, "file larger than 256 MiB%s%s", "", "");
        rc = PARLEY_ERR_BUFFER;
        goto out;
    }
    do {
        got = pread(in, head, PCL_SNIFF_LEN, 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        set_reason(c, 0, "cannot read the file: %s%s", strerror(errno), "");
        rc = PARLEY_ERR_IO;
        goto out;
    }
    pcl_file_kind_detect(head, (size_t)got, path, &kind);
    pcl_file_name_sanitize(path, f->name, sizeof f->name);
    snprintf(f->mime, sizeof f->mime, "%s", kind.mime);

    /* The connection's login tells the host and gives a fresh token. */
    GUARD(pcl_connect(c));
    media_cfg_load(c, m);
    if (!m->host[0] || !m->host_token[0]) {
        set_reason(c, 0, "no media host known (see media-config)%s%s", "", "");
        rc = PARLEY_ERR_STATE;
        goto out;
    }
    if (!c->media_tr.upload) {
        set_reason(c, 0, "no media transport%s%s", "", "");
        rc = PARLEY_ERR_STATE;
        goto out;
    }

    GUARD(parley_media_key_generate(f->a.media_key));
    blob = temp_fd(c);
    if (blob < 0) {
        set_reason(c, 0, "no room for a temporary blob: %s%s", strerror(errno), "");
        rc = PARLEY_ERR_IO;
        goto out;
    }
    rc = parley_media_encrypt_fd(in, blob, f->a.media_key, kind.type, &dg);
    if (rc == PARLEY_OK && dg.plaintext_size != (uint64_t)sb.st_size)
        rc = PARLEY_ERR_IO; /* the file changed while it was read */
    if (rc != PARLEY_OK) {
        set_reason(c, 0, "cannot read or encrypt the file%s%s", "", "");
        goto out;
    }
    {
        progress_ctx pg = {c, f->name};
        err[0] = 0;
        rc = c->media_tr.upload(c->media_tr.ctx, m->host, m->host_token, blob, dg.encrypted_size,
                                dg.encrypted_sha256, f->url, sizeof f->url, err, sizeof err,
                                on_upload_progress, &pg);
        if (rc != PARLEY_OK) {
            set_reason(c, 0, "media host: %s%s", err[0] ? err : parley_strerror(rc), "");
            pcl_log(c, "upload of %s failed: %s", f->name, c->last_reason);
            goto out;
        }
    }
    memcpy(f->a.plaintext_sha256, dg.plaintext_sha256, 32);
    memcpy(f->a.encrypted_sha256, dg.encrypted_sha256, 32);
    f->a.size = dg.plaintext_size;
    f->a.type = kind.type;
    f->a.width = kind.width;
    f->a.height = kind.height;
    f->a.url = f->url;
    f->a.mime_type = f->mime;
    f->a.file_name = f->name[0] ? f->name : NULL;
    pcl_log(c, "uploaded %s (%s, %llu bytes)", f->name, f->mime, (unsigned long long)f->a.size);
    *out = f;
    f = NULL;
    rc = PARLEY_OK;
out:
    if (in >= 0)
        close(in);
    if (blob >= 0)
        close(blob);
    if (m) {
        media_cfg_wipe(m);
        free(m);
    }
    free(head);
    parley_client_file_free(f);
    return rc;
}

int parley_client_send_message(parley_client *c, const char *recipient, const char *text,
                               parley_client_file *const *files, size_t n, char *id_out)
{
    parley_content *ct = NULL;
    char id[25];
    int rc;
    ENSURE(c->sig != NULL && c->device != 0, PARLEY_ERR_CLIENT_NOT_REGISTERED);
    ENSURE(strchr(recipient, '@') && !strchr(recipient, '/') &&
               strlen(recipient) < PARLEY_CLIENT_ADDR_MAX,
           PARLEY_ERR_INVALID_ARG);
    ENSURE(strcmp(recipient, c->user) != 0, PARLEY_ERR_INVALID_ARG);
    ENSURE(n <= PARLEY_CONTENT_MAX_ATTACHMENTS, PARLEY_ERR_INVALID_ARG);
    ENSURE(n > 0 || (text && text[0]), PARLEY_ERR_INVALID_ARG);
    GUARD(pcl_connect(c));
    GUARD(pcl_flush_outbox(c));
    pcl_new_id(id);
    GUARD(parley_content_new(&ct));
    GUARD(parley_content_set_id(ct, id));
    parley_content_set_timestamp(ct, pcl_now_ms());
    if (text && text[0])
        GUARD(parley_content_set_text(ct, text));
    for (size_t i = 0; i < n; i++)
        GUARD(parley_content_add_attachment(ct, &files[i]->a));
    GUARD(pcl_send_content(c, recipient, ct, text ? text : "", id_out));
    rc = PARLEY_OK;
out:
    parley_content_free(ct);
    return rc;
}

/* ---- receiving ---- */

int pcl_attach_store(parley_client *c, const char *from, const char *peer, const char *id,
                     const parley_content *msg)
{
    size_t n = msg ? parley_content_attachment_count(msg) : 0;
    parley_content *one = NULL;
    uint8_t *enc = NULL, *sealed = NULL;
    size_t enc_len = 0, got = 0, sealed_len = 0;
    sqlite3_stmt *st = NULL;
    int rc = PARLEY_OK;
    for (size_t i = 0; i < n; i++) {
        parley_attachment a;
        GUARD(parley_content_attachment(msg, i, &a));
        GUARD(parley_content_new(&one));
        GUARD(parley_content_set_id(one, id));
        GUARD(parley_content_add_attachment(one, &a));
        enc_len = parley_content_encoded_len(one);
        enc = malloc(enc_len ? enc_len : 1);
        ENSURE(enc != NULL, PARLEY_ERR_NOMEM);
        GUARD(parley_content_encode(one, enc, enc_len, &got));
        GUARD(pcl_seal(&c->st, enc, got, &sealed, &sealed_len));
        ENSURE(sqlite3_prepare_v2(c->st.db,
                                  "INSERT OR IGNORE INTO attachments(device, id, idx, count, peer,"
                                  " meta) VALUES(?,?,?,?,?,?)",
                                  -1, &st, NULL) == SQLITE_OK,
               PARLEY_ERR_STORE);
        sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)n);
        sqlite3_bind_text(st, 5, peer, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, sealed, (int)sealed_len, SQLITE_STATIC);
        ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
        sqlite3_finalize(st);
        st = NULL;
        pc_wipe(enc, enc_len);
        free(enc);
        enc = NULL;
        free(sealed);
        sealed = NULL;
        parley_content_free(one);
        one = NULL;
    }
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    if (enc)
        pc_wipe(enc, enc_len);
    free(enc);
    free(sealed);
    parley_content_free(one);
    return rc;
}

/* One attachment row, with its record unsealed. */
typedef struct {
    sqlite3_int64 rowid;
    char device[PARLEY_CLIENT_ADDR_MAX];
    char id[PARLEY_CLIENT_ID_MAX + 1];
    char peer[PARLEY_CLIENT_ADDR_MAX];
    size_t idx, count;
    parley_content *meta;
    parley_attachment a;
} att_row;

static void att_row_clear(att_row *r)
{
    parley_content_free(r->meta);
    pc_wipe(r, sizeof *r);
}

static int att_row_read(parley_client *c, sqlite3_stmt *st, att_row *r)
{
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    int rc;
    memset(r, 0, sizeof *r);
    r->rowid = sqlite3_column_int64(st, 0);
    snprintf(r->device, sizeof r->device, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 2));
    r->idx = (size_t)sqlite3_column_int64(st, 3);
    r->count = (size_t)sqlite3_column_int64(st, 4);
    snprintf(r->peer, sizeof r->peer, "%s", (const char *)sqlite3_column_text(st, 5));
    GUARD(pcl_unseal(&c->st, sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6),
                     &plain, &plain_len));
    GUARD(parley_content_decode(&r->meta, plain, plain_len, NULL));
    GUARD(parley_content_attachment(r->meta, 0, &r->a));
    rc = PARLEY_OK;
out:
    if (plain)
        pc_wipe(plain, plain_len);
    free(plain);
    return rc;
}

static int att_set_state(parley_client *c, sqlite3_int64 rowid, const char *state,
                         const char *path, const char *error)
{
    sqlite3_stmt *st = NULL;
    int rc;
    ENSURE(sqlite3_prepare_v2(c->st.db, "UPDATE attachments SET state=?, path=?, error=? WHERE rowid=?",
                              -1, &st, NULL) == SQLITE_OK,
           PARLEY_ERR_STORE);
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    if (path)
        sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    if (error)
        sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, rowid);
    ENSURE(sqlite3_step(st) == SQLITE_DONE, PARLEY_ERR_STORE);
    rc = PARLEY_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

static void emit_attachment(parley_client_event_cb cb, void *arg,
                            const att_row *r, const char *state, const char *path,
                            const char *error)
{
    parley_client_attachment_info info = {r->idx,       r->count,         r->a.file_name,
                                          r->a.mime_type, (int)r->a.type, r->a.size,
                                          state,        path,             error};
    parley_client_event ev = {PARLEY_CLIENT_EV_ATTACHMENT, r->device, r->peer, r->id,
                              path ? path : error, pcl_now_ms(), 0, &info, NULL};
    if (cb)
        cb(&ev, arg);
}

/* Percent-encoding for a query value (RFC 3986 unreserved kept). */
static int pct_encode(const char *in, char *out, size_t max)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (o + (keep ? 1 : 3) >= max)
            return 0;
        if (keep) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = 0;
    return 1;
}

/* base is a prefix of url up to a path boundary. */
static int under(const char *url, const char *base)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    return n > 0 && strncmp(url, base, n) == 0 && (url[n] == '/' || url[n] == 0);
}

typedef struct {
    parley_client *c;
    parley_media_decryptor *d;
    int fd;
    uint8_t *buf;
    uint64_t done, total;
    int failed; /* the decryptor refused (extended blob) or a write failed */
    int verify_failed;
    const char *name;
} sink_ctx;

static int on_blob(void *arg, const uint8_t *p, size_t n)
{
    sink_ctx *s = arg;
    while (n > 0) {
        size_t k = n < PARLEY_MEDIA_IO_CHUNK ? n : PARLEY_MEDIA_IO_CHUNK, out_len = 0, w = 0;
        if (parley_media_decryptor_update(s->d, p, k, s->buf,
                                          PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK,
                                          &out_len) != PARLEY_OK) {
            s->failed = s->verify_failed = 1;
            return 1;
        }
        while (w < out_len) {
            ssize_t r = write(s->fd, s->buf + w, out_len - w);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                s->failed = 1;
                return 1;
            }
            w += (size_t)r;
        }
        p += k;
        n -= k;
        s->done += k;
    }
    if (s->c->progress)
        s->c->progress(s->c->progress_arg, s->name, 0, s->done, s->total);
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

/*
 * Downloads and verifies one attachment into the media directory. On
 * success path_out holds where it is; on failure err says why and nothing
 * is left behind.
 */
static int fetch_one(parley_client *c, const att_row *r, char *path_out, size_t path_max,
                     char *err, size_t err_max)
{
    media_cfg *m = NULL;
    sink_ctx s;
    char tmp[1200], name[PCL_FILE_NAME_MAX + 1], base[PCL_FILE_NAME_MAX + 40], ext[24];
    char *url = NULL, *enc = NULL, herr[96];
    const char *token = NULL, *domain;
    uint8_t tail[PARLEY_MEDIA_FINAL_MAX];
    size_t tail_len = 0;
    int rc, linked = 0;
    memset(&s, 0, sizeof s);
    s.fd = -1;
    tmp[0] = 0;
    err[0] = 0;
    if (!c->media_tr.download) {
        snprintf(err, err_max, "no media transport");
        return PARLEY_ERR_STATE;
    }
    if (!c->media_dir[0]) {
        snprintf(err, err_max, "no media directory");
        return PARLEY_ERR_STATE;
    }
    m = malloc(sizeof *m);
    url = malloc(PARLEY_CLIENT_URL_MAX * 4);
    enc = malloc(PARLEY_CLIENT_URL_MAX * 3);
    s.buf = malloc(PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK);
    ENSURE(m && url && enc && s.buf, PARLEY_ERR_NOMEM);
    media_cfg_load(c, m);

    /* Where to fetch it: see the top of this file. */
    if (!r->a.url || (strncmp(r->a.url, "http://", 7) != 0 && strncmp(r->a.url, "https://", 8) != 0)) {
        snprintf(err, err_max, "the attachment's URL is not http(s)");
        rc = PARLEY_ERR_DECODE;
        goto out;
    }
    domain = strchr(r->peer, '@');
    if ((m->gk_host[0] && under(r->a.url, m->gk_host)) || (m->host[0] && under(r->a.url, m->host)) ||
        !m->proxy[0]) {
        snprintf(url, PARLEY_CLIENT_URL_MAX * 4, "%s", r->a.url);
    } else {
        char pdom[PARLEY_CLIENT_ADDR_MAX * 3];
        size_t pl = strlen(m->proxy);
        while (pl > 0 && m->proxy[pl - 1] == '/')
            pl--;
        ENSURE(pct_encode(r->a.url, enc, PARLEY_CLIENT_URL_MAX * 3) &&
                   pct_encode(domain ? domain + 1 : "", pdom, sizeof pdom),
               PARLEY_ERR_BUFFER);
        snprintf(url, PARLEY_CLIENT_URL_MAX * 4, "%.*s/v1/proxy?url=%s&provider=%s", (int)pl,
                 m->proxy, enc, pdom);
        token = m->proxy_token[0] ? m->proxy_token : NULL;
        pcl_log(c, "fetching attachment %zu of %s through the media proxy", r->idx + 1, r->id);
    }

    if (mkdir(c->media_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_max, "cannot create the media directory: %s", strerror(errno));
        rc = PARLEY_ERR_IO;
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s/.parley-part-XXXXXX", c->media_dir);
    s.fd = mkstemp(tmp);
    if (s.fd < 0) {
        snprintf(err, err_max, "cannot write in the media directory: %s", strerror(errno));
        tmp[0] = 0;
        rc = PARLEY_ERR_IO;
        goto out;
    }
    GUARD(parley_media_decryptor_new(&s.d, r->a.media_key, r->a.type, r->a.encrypted_sha256,
                                     r->a.plaintext_sha256, r->a.size));
    s.c = c;
    s.total = parley_media_encrypted_size(r->a.size);
    pcl_file_name_sanitize(r->a.file_name, name, sizeof name);
    s.name = name[0] ? name : r->id;
    herr[0] = 0;
    rc = c->media_tr.download(c->media_tr.ctx, url, token, on_blob, &s, herr, sizeof herr);
    if (s.verify_failed) {
        snprintf(err, err_max, "the blob is longer than announced (tampered or extended); "
                               "nothing saved");
        rc = PARLEY_ERR_INVALID_MAC;
        goto out;
    }
    if (s.failed) {
        snprintf(err, err_max, "cannot write in the media directory: %s", strerror(errno));
        rc = PARLEY_ERR_IO;
        goto out;
    }
    if (rc == PARLEY_ERR_CLIENT_REFUSED) {
        snprintf(err, err_max, "the media %s refused the download: %s", token ? "proxy" : "host",
                 herr[0] ? herr : "refused");
        goto out;
    }
    if (rc != PARLEY_OK) {
        /* a cut transfer: what arrived is still checked below, so that a
         * truncated blob says so; a transport error with nothing is IO */
        if (s.done == 0) {
            snprintf(err, err_max, "cannot reach the media %s: %s", token ? "proxy" : "host",
                     herr[0] ? herr : parley_strerror(rc));
            goto out;
        }
    }
    rc = parley_media_decryptor_final(s.d, tail, sizeof tail, &tail_len, NULL);
    if (rc != PARLEY_OK) {
        snprintf(err, err_max, "the file does not match its hashes (tampered, truncated or "
                               "extended blob); nothing saved");
        rc = PARLEY_ERR_INVALID_MAC;
        goto out;
    }
    if (!write_all(s.fd, tail, tail_len) || fsync(s.fd) != 0) {
        snprintf(err, err_max, "cannot write in the media directory: %s", strerror(errno));
        rc = PARLEY_ERR_IO;
        goto out;
    }
    close(s.fd);
    s.fd = -1;

    /* The verified file gets a name no other file has (link never replaces). */
    if (name[0]) {
        snprintf(base, sizeof base, "%s", name);
        ext[0] = 0;
        char *dot = strrchr(base, '.');
        if (dot && dot != base && strlen(dot) < sizeof ext) {
            snprintf(ext, sizeof ext, "%s", dot);
            *dot = 0;
        }
    } else {
        snprintf(base, sizeof base, "%s-%zu", r->id, r->idx + 1);
        snprintf(ext, sizeof ext, "%s", pcl_file_ext_for_mime(r->a.mime_type));
    }
    for (int k = 0; k < PCL_SAVE_TRIES && !linked; k++) {
        if (k == 0)
            snprintf(path_out, path_max, "%s/%s%s", c->media_dir, base, ext);
        else
            snprintf(path_out, path_max, "%s/%s (%d)%s", c->media_dir, base, k, ext);
        if (link(tmp, path_out) == 0)
            linked = 1;
        else if (errno != EEXIST)
            break;
    }
    if (!linked) {
        snprintf(err, err_max, "cannot name the file in the media directory: %s", strerror(errno));
        rc = PARLEY_ERR_IO;
        goto out;
    }
    rc = PARLEY_OK;
out:
    if (s.fd >= 0)
        close(s.fd);
    if (tmp[0])
        (void)unlink(tmp);
    parley_media_decryptor_free(s.d);
    if (m) {
        media_cfg_wipe(m);
        free(m);
    }
    pc_wipe(tail, sizeof tail);
    free(url);
    free(enc);
    if (s.buf)
        pc_wipe(s.buf, PARLEY_MEDIA_IO_CHUNK + PARLEY_MEDIA_SLACK);
    free(s.buf);
    if (rc != PARLEY_OK && !err[0])
        snprintf(err, err_max, "%s", parley_strerror(rc));
    return rc;
}

/*
 * Downloads (or, without auto_download, announces) the attachments matching
 * `where` (a fixed SQL condition on device and id). Returns the worst
 * result: PARLEY_ERR_INVALID_MAC before any other failure.
 */
static int process_rows(parley_client *c, const char *device, const char *id, int download,
                        parley_client_event_cb cb, void *arg, size_t *saved, size_t *failed,
                        size_t *found)
{
    sqlite3_stmt *st = NULL;
    att_row r;
    int rc = PARLEY_OK, worst = PARLEY_OK, e;
    sqlite3_int64 after = -1;
    for (;;) {
        char path[1400], err[PCL_MEDIA_ERR_MAX];
        ENSURE(sqlite3_prepare_v2(c->st.db,
                                  "SELECT rowid, device, id, idx, count, peer, meta FROM attachments"
                                  " WHERE id=?1 AND (?2 IS NULL OR device=?2) AND state!='saved'"
                                  " AND rowid>?3 ORDER BY rowid LIMIT 1",
                                  -1, &st, NULL) == SQLITE_OK,
               PARLEY_ERR_STORE);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (device)
            sqlite3_bind_text(st, 2, device, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, after);
        e = sqlite3_step(st);
        if (e != SQLITE_ROW) {
            ENSURE(e == SQLITE_DONE, PARLEY_ERR_STORE);
            break;
        }
        rc = att_row_read(c, st, &r);
        after = r.rowid;
        sqlite3_finalize(st);
        st = NULL;
        if (found)
            (*found)++;
        if (rc != PARLEY_OK) {
            att_row_clear(&r);
            GUARD(rc);
        }
        if (!download) {
            rc = att_set_state(c, r.rowid, "available", NULL, NULL);
            emit_attachment(cb, arg, &r, "available", NULL, NULL);
        } else {
            rc = fetch_one(c, &r, path, sizeof path, err, sizeof err);
            if (rc == PARLEY_OK) {
                rc = att_set_state(c, r.rowid, "saved", path, NULL);
                pcl_log(c, "saved attachment %zu of message %s", r.idx + 1, r.id);
                emit_attachment(cb, arg, &r, "saved", path, NULL);
                if (saved)
                    (*saved)++;
            } else {
                pcl_log(c, "attachment %zu of message %s refused: %s", r.idx + 1, r.id, err);
                (void)att_set_state(c, r.rowid, "failed", NULL, err);
                emit_attachment(cb, arg, &r, "failed", NULL, err);
                if (failed)
                    (*failed)++;
                if (worst != PARLEY_ERR_INVALID_MAC)
                    worst = rc;
                rc = PARLEY_OK;
            }
        }
        att_row_clear(&r);
        GUARD(rc);
    }
    rc = worst;
out:
    sqlite3_finalize(st);
    return rc;
}

static void emit_through_client(const parley_client_event *ev, void *arg)
{
    pcl_emit_ev((parley_client *)arg, ev);
}

void pcl_attach_after(parley_client *c, const char *from, const char *id)
{
    int rc = process_rows(c, from, id, c->media_auto && c->media_dir[0], emit_through_client, c,
                          NULL, NULL, NULL);
    if (rc != PARLEY_OK && rc != PARLEY_ERR_INVALID_MAC)
        pcl_log(c, "attachments of %s: %s", id, parley_strerror(rc));
}

void pcl_attach_pending(parley_client *c)
{
    enum { BATCH = 64 };
    char (*devs)[PARLEY_CLIENT_ADDR_MAX] = NULL, (*ids)[PARLEY_CLIENT_ID_MAX + 1] = NULL;
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    devs = calloc(BATCH, sizeof *devs);
    ids = calloc(BATCH, sizeof *ids);
    if (devs && ids &&
        sqlite3_prepare_v2(c->st.db,
                           "SELECT DISTINCT device, id FROM attachments WHERE state='pending'"
                           " LIMIT 64",
                           -1, &st, NULL) == SQLITE_OK) {
        while (n < BATCH && sqlite3_step(st) == SQLITE_ROW) {
            snprintf(devs[n], sizeof devs[n], "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(ids[n], sizeof ids[n], "%s", (const char *)sqlite3_column_text(st, 1));
            n++;
        }
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < n; i++)
        pcl_attach_after(c, devs[i], ids[i]);
    free(devs);
    free(ids);
}

int parley_client_download(parley_client *c, const char *id, parley_client_event_cb cb,
                           void *arg, size_t *saved, size_t *failed)
{
    size_t found = 0;
    int rc;
    if (saved)
        *saved = 0;
    if (failed)
        *failed = 0;
    ENSURE(id && id[0] && strlen(id) <= PARLEY_CLIENT_ID_MAX, PARLEY_ERR_INVALID_ARG);
    ENSURE(c->media_dir[0], PARLEY_ERR_STATE);
    /* A login refreshes the proxy token; without the server, the last one. */
    if (c->sig && c->device != 0 && pcl_connect(c) != PARLEY_OK)
        pcl_log(c, "not connected: using the media settings of the last login");
    rc = process_rows(c, NULL, id, 1, cb, arg, saved, failed, &found);
    if (rc == PARLEY_OK && found == 0) {
        sqlite3_stmt *st = NULL;
        int any = 0;
        if (sqlite3_prepare_v2(c->st.db, "SELECT 1 FROM attachments WHERE id=?", -1, &st, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            any = sqlite3_step(st) == SQLITE_ROW;
        }
        sqlite3_finalize(st);
        rc = any ? PARLEY_OK : PARLEY_ERR_NOT_FOUND; /* all saved already */
    }
out:
    return rc;
}

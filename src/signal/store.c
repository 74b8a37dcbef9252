/*
 * The store behind a parley_signal: a table of functions over blobs, with
 * two implementations here: in memory, and one file per record in a
 * directory, written atomically so that a crash leaves either the old or
 * the new record, never a torn one (docs/signal.md, "Persistence").
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "crypto/crypto.h"
#include "parley/signal.h"
#include "util/safety.h"

/* Any record larger than this is refused as corrupt. */
#define STORE_BLOB_MAX (16u * 1024u * 1024u)
#define STORE_KEY_MAX  200

struct parley_signal_store {
    parley_signal_store_ops ops;
    void *ctx;
};

int parley_signal_store_new(parley_signal_store **out, const parley_signal_store_ops *ops,
                            void *ctx)
{
    PARLEY_MISUSE(out != NULL && ops != NULL && ops->get != NULL && ops->put != NULL &&
                  ops->del != NULL);
    parley_signal_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return PARLEY_ERR_NOMEM;
    s->ops = *ops;
    s->ctx = ctx;
    *out = s;
    return PARLEY_OK;
}

void parley_signal_store_free(parley_signal_store *s)
{
    if (s == NULL)
        return;
    if (s->ops.destroy != NULL)
        s->ops.destroy(s->ctx);
    free(s);
}

static int kind_ok(parley_store_kind kind)
{
    return (int)kind >= 0 && kind < PARLEY_STORE_KIND_COUNT;
}

int parley_signal_store_get(parley_signal_store *s, parley_store_kind kind, const char *key,
                            uint8_t **out, size_t *out_len)
{
    PARLEY_MISUSE(s != NULL && key != NULL && out != NULL && out_len != NULL && kind_ok(kind));
    *out = NULL;
    *out_len = 0;
    return s->ops.get(s->ctx, kind, key, out, out_len);
}

int parley_signal_store_put(parley_signal_store *s, parley_store_kind kind, const char *key,
                            const uint8_t *data, size_t len)
{
    PARLEY_MISUSE(s != NULL && key != NULL && (data != NULL || len == 0) && kind_ok(kind));
    return s->ops.put(s->ctx, kind, key, data, len);
}

int parley_signal_store_del(parley_signal_store *s, parley_store_kind kind, const char *key)
{
    PARLEY_MISUSE(s != NULL && key != NULL && kind_ok(kind));
    return s->ops.del(s->ctx, kind, key);
}

void parley_signal_store_blob_free(uint8_t *blob, size_t len)
{
    if (blob == NULL)
        return;
    pc_wipe(blob, len);
    free(blob);
}

/* ---- in memory ---- */

struct mem_entry {
    struct mem_entry *next;
    parley_store_kind kind;
    char *key;
    uint8_t *data;
    size_t len;
};

struct mem_store {
    struct mem_entry *head;
};

static struct mem_entry **mem_find(struct mem_store *m, parley_store_kind kind, const char *key)
{
    struct mem_entry **e = &m->head;
    while (*e != NULL && ((*e)->kind != kind || strcmp((*e)->key, key) != 0))
        e = &(*e)->next;
    return e;
}

static void mem_entry_free(struct mem_entry *e)
{
    parley_signal_store_blob_free(e->data, e->len);
    free(e->key);
    free(e);
}

static int mem_get(void *ctx, parley_store_kind kind, const char *key, uint8_t **out,
                   size_t *out_len)
{
    struct mem_entry *e = *mem_find(ctx, kind, key);
    if (e == NULL)
        return PARLEY_ERR_NOT_FOUND;
    uint8_t *p = malloc(e->len ? e->len : 1);
    if (p == NULL)
        return PARLEY_ERR_NOMEM;
    if (e->len)
        memcpy(p, e->data, e->len);
    *out = p;
    *out_len = e->len;
    return PARLEY_OK;
}

static int mem_put(void *ctx, parley_store_kind kind, const char *key, const uint8_t *data,
                   size_t len)
{
    struct mem_entry **slot = mem_find(ctx, kind, key);
    if (*slot != NULL && (*slot)->len == len && len > 0) {
        /* A session record saved after every message keeps its size while
         * only chain keys and counters change: overwrite it in place. */
        memcpy((*slot)->data, data, len);
        return PARLEY_OK;
    }
    uint8_t *p = malloc(len ? len : 1);
    if (p == NULL)
        return PARLEY_ERR_NOMEM;
    if (len)
        memcpy(p, data, len);
    if (*slot != NULL) {
        parley_signal_store_blob_free((*slot)->data, (*slot)->len);
        (*slot)->data = p;
        (*slot)->len = len;
        return PARLEY_OK;
    }
    struct mem_entry *e = calloc(1, sizeof *e);
    char *k = strdup(key);
    if (e == NULL || k == NULL) {
        free(e);
        free(k);
        free(p);
        return PARLEY_ERR_NOMEM;
    }
    e->kind = kind;
    e->key = k;
    e->data = p;
    e->len = len;
    e->next = NULL;
    *slot = e;
    return PARLEY_OK;
}

static int mem_del(void *ctx, parley_store_kind kind, const char *key)
{
    struct mem_entry **slot = mem_find(ctx, kind, key);
    if (*slot != NULL) {
        struct mem_entry *e = *slot;
        *slot = e->next;
        mem_entry_free(e);
    }
    return PARLEY_OK;
}

static void mem_destroy(void *ctx)
{
    struct mem_store *m = ctx;
    while (m->head != NULL) {
        struct mem_entry *e = m->head;
        m->head = e->next;
        mem_entry_free(e);
    }
    free(m);
}

int parley_signal_store_new_memory(parley_signal_store **out)
{
    static const parley_signal_store_ops ops = {mem_get, mem_put, mem_del, mem_destroy};
    struct mem_store *m = calloc(1, sizeof *m);
    if (m == NULL)
        return PARLEY_ERR_NOMEM;
    int rc = parley_signal_store_new(out, &ops, m);
    if (rc != PARLEY_OK)
        free(m);
    return rc;
}

/* ---- directory ---- */

static const char *const kind_dirs[PARLEY_STORE_KIND_COUNT] = {
    "local", "prekey", "signed_prekey", "session", "trust", "app",
};

struct dir_store {
    char *root;
};

/* Keys become file names: only [A-Za-z0-9._-], not starting with '.'. */
static int key_ok(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > STORE_KEY_MAX || key[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int dir_path(char *out, size_t max, const struct dir_store *d, parley_store_kind kind,
                    const char *prefix, const char *key)
{
    if (!key_ok(key))
        return PARLEY_ERR_INVALID_ARG;
    int n = snprintf(out, max, "%s/%s/%s%s", d->root, kind_dirs[kind], prefix, key);
    if (n < 0 || (size_t)n >= max)
        return PARLEY_ERR_INVALID_ARG;
    return PARLEY_OK;
}

static int dir_get(void *ctx, parley_store_kind kind, const char *key, uint8_t **out,
                   size_t *out_len)
{
    int rc;
    char path[4096];
    int fd = -1;
    uint8_t *p = NULL;
    struct stat sb;
    size_t len = 0;
    GUARD(dir_path(path, sizeof path, ctx, kind, "", key));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    ENSURE(fd >= 0, errno == ENOENT ? PARLEY_ERR_NOT_FOUND : PARLEY_ERR_IO);
    ENSURE(fstat(fd, &sb) == 0, PARLEY_ERR_IO);
    ENSURE(sb.st_size >= 0 && (uint64_t)sb.st_size <= STORE_BLOB_MAX, PARLEY_ERR_STORE);
    len = (size_t)sb.st_size;
    p = malloc(len ? len : 1);
    ENSURE(p != NULL, PARLEY_ERR_NOMEM);
    for (size_t got = 0; got < len;) {
        ssize_t r = read(fd, p + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        ENSURE(r > 0, PARLEY_ERR_IO);
        got += (size_t)r;
    }
    *out = p;
    *out_len = len;
    p = NULL;
    rc = PARLEY_OK;
out:
    if (fd >= 0)
        close(fd);
    parley_signal_store_blob_free(p, len);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return PARLEY_ERR_IO;
    int r = fsync(fd);
    close(fd);
    return r == 0 ? PARLEY_OK : PARLEY_ERR_IO;
}

static int dir_put(void *ctx, parley_store_kind kind, const char *key, const uint8_t *data,
                   size_t len)
{
    int rc;
    char path[4096], tmp[4096], dir[4096];
    int fd = -1;
    struct dir_store *d = ctx;
    GUARD(dir_path(path, sizeof path, d, kind, "", key));
    GUARD(dir_path(tmp, sizeof tmp, d, kind, ".tmp.", key));
    ENSURE(snprintf(dir, sizeof dir, "%s/%s", d->root, kind_dirs[kind]) < (int)sizeof dir,
           PARLEY_ERR_INVALID_ARG);
    /* Write a temporary, make it durable, then rename it over the record:
     * readers see the old or the new record, never a torn one. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ENSURE(fd >= 0, PARLEY_ERR_IO);
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        ENSURE(w > 0, PARLEY_ERR_IO);
        done += (size_t)w;
    }
    ENSURE(fsync(fd) == 0, PARLEY_ERR_IO);
    ENSURE(close(fd) == 0, PARLEY_ERR_IO);
    fd = -1;
    ENSURE(rename(tmp, path) == 0, PARLEY_ERR_IO);
    GUARD(fsync_dir(dir));
    rc = PARLEY_OK;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    return rc;
}

static int dir_del(void *ctx, parley_store_kind kind, const char *key)
{
    int rc;
    char path[4096];
    GUARD(dir_path(path, sizeof path, ctx, kind, "", key));
    ENSURE(unlink(path) == 0 || errno == ENOENT, PARLEY_ERR_IO);
    rc = PARLEY_OK;
out:
    return rc;
}

static void dir_destroy(void *ctx)
{
    struct dir_store *d = ctx;
    free(d->root);
    free(d);
}

static int mkdir_0700(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return PARLEY_OK;
    return PARLEY_ERR_IO;
}

int parley_signal_store_open_dir(parley_signal_store **out, const char *dir)
{
    static const parley_signal_store_ops ops = {dir_get, dir_put, dir_del, dir_destroy};
    int rc;
    char sub[4096];
    struct dir_store *d = NULL;
    PARLEY_MISUSE(out != NULL && dir != NULL);
    ENSURE(strlen(dir) > 0 && strlen(dir) < 3800, PARLEY_ERR_INVALID_ARG);
    GUARD(mkdir_0700(dir));
    for (size_t i = 0; i < PARLEY_STORE_KIND_COUNT; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, kind_dirs[i]);
        GUARD(mkdir_0700(sub));
    }
    d = calloc(1, sizeof *d);
    ENSURE(d != NULL, PARLEY_ERR_NOMEM);
    d->root = strdup(dir);
    ENSURE(d->root != NULL, PARLEY_ERR_NOMEM);
    GUARD(parley_signal_store_new(out, &ops, d));
    d = NULL;
    rc = PARLEY_OK;
out:
    if (d != NULL)
        dir_destroy(d);
    return rc;
}

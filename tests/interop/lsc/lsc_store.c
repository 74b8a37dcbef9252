/*
 * lsc-peer's storage: a flat key/value store, optionally mirrored to one
 * file per record, and libsignal-protocol-c's four store interfaces over it
 * (signal_protocol.h: session, pre key, signed pre key, identity key).
 *
 * Trust is kept per peer NAME, for all its devices (trust on first use): an
 * identity is trusted when none is recorded for the name yet or when it is
 * the recorded one. The "trust" operation records a changed identity.
 */
#include "lsc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- key/value store ---- */

static int write_file(const char *dir, const char *key, const uint8_t *val, size_t len)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, key);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, val + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)n;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static struct lsc_kv *find(const struct lsc_db *db, const char *key)
{
    for (struct lsc_kv *e = db->head; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static int put_mem(struct lsc_db *db, const char *key, const uint8_t *val, size_t len)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return SG_ERR_NOMEM;
    if (len > 0)
        memcpy(copy, val, len);
    struct lsc_kv *e = find(db, key);
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        char *k = strdup(key);
        if (e == NULL || k == NULL) {
            free(e);
            free(k);
            free(copy);
            return SG_ERR_NOMEM;
        }
        e->key = k;
        e->next = db->head;
        db->head = e;
    } else {
        free(e->val);
    }
    e->val = copy;
    e->len = len;
    return SG_SUCCESS;
}

int lsc_db_put(struct lsc_db *db, const char *key, const uint8_t *val, size_t len)
{
    if (db->dir != NULL && write_file(db->dir, key, val, len) != 0)
        return SG_ERR_UNKNOWN;
    return put_mem(db, key, val, len);
}

const struct lsc_kv *lsc_db_get(const struct lsc_db *db, const char *key)
{
    return find(db, key);
}

void lsc_db_del(struct lsc_db *db, const char *key)
{
    for (struct lsc_kv **pp = &db->head; *pp != NULL; pp = &(*pp)->next) {
        struct lsc_kv *e = *pp;
        if (strcmp(e->key, key) == 0) {
            *pp = e->next;
            if (db->dir != NULL) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", db->dir, key);
                unlink(path);
            }
            free(e->key);
            free(e->val);
            free(e);
            return;
        }
    }
}

void lsc_db_clear(struct lsc_db *db)
{
    while (db->head != NULL)
        lsc_db_del(db, db->head->key);
}

int lsc_db_load(struct lsc_db *db)
{
    DIR *d = opendir(db->dir);
    if (d == NULL)
        return SG_ERR_UNKNOWN;
    int rc = SG_SUCCESS;
    struct dirent *de;
    while (rc == SG_SUCCESS && (de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (de->d_name[0] == '.' || (nl > 4 && strcmp(de->d_name + nl - 4, ".tmp") == 0))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", db->dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            rc = SG_ERR_UNKNOWN;
            break;
        }
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
            if (len == cap) {
                cap = cap ? cap * 2 : 4096;
                uint8_t *nb = realloc(buf, cap);
                if (nb == NULL) {
                    rc = SG_ERR_NOMEM;
                    break;
                }
                buf = nb;
            }
            size_t n = fread(buf + len, 1, cap - len, f);
            if (n == 0)
                break;
            len += n;
        }
        fclose(f);
        if (rc == SG_SUCCESS)
            rc = put_mem(db, de->d_name, buf, len);
        free(buf);
    }
    closedir(d);
    return rc;
}

void lsc_db_free(struct lsc_db *db)
{
    while (db->head != NULL) {
        struct lsc_kv *e = db->head;
        db->head = e->next;
        free(e->key);
        free(e->val);
        free(e);
    }
}

/* ---- record names ---- */

static void hex(char *out, size_t cap, const char *s, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        out[o++] = digits[(unsigned char)s[i] >> 4];
        out[o++] = digits[(unsigned char)s[i] & 15];
    }
    out[o] = '\0';
}

void lsc_key_session(char *out, size_t cap, const char *name, size_t name_len, int32_t device)
{
    char h[2 * LSC_NAME_MAX + 1];
    hex(h, sizeof h, name, name_len);
    snprintf(out, cap, "session.%s.%d", h, (int)device);
}

void lsc_key_trust(char *out, size_t cap, const char *name, size_t name_len)
{
    char h[2 * LSC_NAME_MAX + 1];
    hex(h, sizeof h, name, name_len);
    snprintf(out, cap, "trust.%s", h);
}

void lsc_key_prekey(char *out, size_t cap, const char *kind, uint32_t id)
{
    snprintf(out, cap, "%s.%u", kind, (unsigned)id);
}

/* ---- session store ---- */

static int sess_load(signal_buffer **record, signal_buffer **user_record,
                     const signal_protocol_address *a, void *ud)
{
    struct lsc_peer *p = ud;
    char k[LSC_KEY_MAX];
    (void)user_record;
    if (a->name_len > LSC_NAME_MAX)
        return 0;
    lsc_key_session(k, sizeof k, a->name, a->name_len, a->device_id);
    const struct lsc_kv *e = lsc_db_get(&p->db, k);
    if (e == NULL)
        return 0;
    *record = signal_buffer_create(e->val, e->len);
    return *record != NULL ? 1 : SG_ERR_NOMEM;
}

static int sess_sub_devices(signal_int_list **sessions, const char *name, size_t name_len, void *ud)
{
    struct lsc_peer *p = ud;
    char prefix[LSC_KEY_MAX];
    signal_int_list *l = signal_int_list_alloc();
    if (l == NULL)
        return SG_ERR_NOMEM;
    if (name_len > LSC_NAME_MAX)
        name_len = LSC_NAME_MAX;
    lsc_key_session(prefix, sizeof prefix, name, name_len, 0);
    size_t pl = strlen(prefix) - 1; /* "session.<hex>." */
    int count = 0;
    for (const struct lsc_kv *e = p->db.head; e != NULL; e = e->next) {
        if (strncmp(e->key, prefix, pl) != 0)
            continue;
        int dev = atoi(e->key + pl);
        if (dev == 1) /* the library's convention: the primary device is not a sub-device */
            continue;
        if (signal_int_list_push_back(l, dev) < 0) {
            signal_int_list_free(l);
            return SG_ERR_NOMEM;
        }
        count++;
    }
    *sessions = l;
    return count;
}

static int sess_store(const signal_protocol_address *a, uint8_t *record, size_t record_len,
                      uint8_t *user_record, size_t user_record_len, void *ud)
{
    struct lsc_peer *p = ud;
    char k[LSC_KEY_MAX];
    (void)user_record;
    (void)user_record_len;
    if (a->name_len > LSC_NAME_MAX)
        return SG_ERR_INVAL;
    lsc_key_session(k, sizeof k, a->name, a->name_len, a->device_id);
    return lsc_db_put(&p->db, k, record, record_len);
}

static int sess_contains(const signal_protocol_address *a, void *ud)
{
    struct lsc_peer *p = ud;
    char k[LSC_KEY_MAX];
    if (a->name_len > LSC_NAME_MAX)
        return 0;
    lsc_key_session(k, sizeof k, a->name, a->name_len, a->device_id);
    return lsc_db_get(&p->db, k) != NULL;
}

static int sess_delete(const signal_protocol_address *a, void *ud)
{
    struct lsc_peer *p = ud;
    char k[LSC_KEY_MAX];
    if (a->name_len > LSC_NAME_MAX)
        return 0;
    lsc_key_session(k, sizeof k, a->name, a->name_len, a->device_id);
    int had = lsc_db_get(&p->db, k) != NULL;
    lsc_db_del(&p->db, k);
    return had;
}

static int sess_delete_all(const char *name, size_t name_len, void *ud)
{
    struct lsc_peer *p = ud;
    char prefix[LSC_KEY_MAX];
    if (name_len > LSC_NAME_MAX)
        return 0;
    lsc_key_session(prefix, sizeof prefix, name, name_len, 0);
    size_t pl = strlen(prefix) - 1;
    int n = 0;
    for (;;) {
        const struct lsc_kv *hit = NULL;
        for (const struct lsc_kv *e = p->db.head; e != NULL && hit == NULL; e = e->next)
            if (strncmp(e->key, prefix, pl) == 0)
                hit = e;
        if (hit == NULL)
            break;
        char k[LSC_KEY_MAX];
        snprintf(k, sizeof k, "%s", hit->key);
        lsc_db_del(&p->db, k);
        n++;
    }
    return n;
}

/* ---- pre key and signed pre key stores ---- */

static int pk_load_kind(struct lsc_peer *p, const char *kind, signal_buffer **record, uint32_t id)
{
    char k[LSC_KEY_MAX];
    lsc_key_prekey(k, sizeof k, kind, id);
    const struct lsc_kv *e = lsc_db_get(&p->db, k);
    if (e == NULL)
        return SG_ERR_INVALID_KEY_ID;
    *record = signal_buffer_create(e->val, e->len);
    return *record != NULL ? SG_SUCCESS : SG_ERR_NOMEM;
}

static int pk_store_kind(struct lsc_peer *p, const char *kind, uint32_t id, uint8_t *rec, size_t len)
{
    char k[LSC_KEY_MAX];
    lsc_key_prekey(k, sizeof k, kind, id);
    return lsc_db_put(&p->db, k, rec, len);
}

static int pk_contains_kind(struct lsc_peer *p, const char *kind, uint32_t id)
{
    char k[LSC_KEY_MAX];
    lsc_key_prekey(k, sizeof k, kind, id);
    return lsc_db_get(&p->db, k) != NULL;
}

static int pk_remove_kind(struct lsc_peer *p, const char *kind, uint32_t id)
{
    char k[LSC_KEY_MAX];
    lsc_key_prekey(k, sizeof k, kind, id);
    lsc_db_del(&p->db, k);
    return SG_SUCCESS;
}

static int pk_load(signal_buffer **r, uint32_t id, void *ud) { return pk_load_kind(ud, "prekey", r, id); }
static int pk_store(uint32_t id, uint8_t *r, size_t n, void *ud) { return pk_store_kind(ud, "prekey", id, r, n); }
static int pk_contains(uint32_t id, void *ud) { return pk_contains_kind(ud, "prekey", id); }
static int pk_remove(uint32_t id, void *ud) { return pk_remove_kind(ud, "prekey", id); }
static int spk_load(signal_buffer **r, uint32_t id, void *ud) { return pk_load_kind(ud, "signedprekey", r, id); }
static int spk_store(uint32_t id, uint8_t *r, size_t n, void *ud) { return pk_store_kind(ud, "signedprekey", id, r, n); }
static int spk_contains(uint32_t id, void *ud) { return pk_contains_kind(ud, "signedprekey", id); }
static int spk_remove(uint32_t id, void *ud) { return pk_remove_kind(ud, "signedprekey", id); }

/* ---- identity key store ---- */

static int id_get_pair(signal_buffer **pub, signal_buffer **priv, void *ud)
{
    struct lsc_peer *p = ud;
    if (p->identity == NULL)
        return SG_ERR_UNKNOWN;
    int rc = ec_public_key_serialize(pub, ratchet_identity_key_pair_get_public(p->identity));
    if (rc < 0)
        return rc;
    rc = ec_private_key_serialize(priv, ratchet_identity_key_pair_get_private(p->identity));
    if (rc < 0) {
        signal_buffer_free(*pub);
        *pub = NULL;
    }
    return rc;
}

static int id_get_regid(void *ud, uint32_t *out)
{
    struct lsc_peer *p = ud;
    *out = p->registration_id;
    return SG_SUCCESS;
}

static int id_save(const signal_protocol_address *a, uint8_t *key, size_t key_len, void *ud)
{
    struct lsc_peer *p = ud;
    char k[LSC_KEY_MAX];
    if (a->name_len > LSC_NAME_MAX)
        return SG_ERR_INVAL;
    lsc_key_trust(k, sizeof k, a->name, a->name_len);
    if (key == NULL) {
        lsc_db_del(&p->db, k);
        return SG_SUCCESS;
    }
    return lsc_db_put(&p->db, k, key, key_len);
}

static int id_is_trusted(const signal_protocol_address *a, uint8_t *key, size_t key_len, void *ud)
{
    struct lsc_peer *p = ud;
    char k[LSC_KEY_MAX];
    if (a->name_len > LSC_NAME_MAX)
        return 0;
    lsc_key_trust(k, sizeof k, a->name, a->name_len);
    const struct lsc_kv *e = lsc_db_get(&p->db, k);
    if (e == NULL)
        return 1; /* first use */
    return e->len == key_len && memcmp(e->val, key, key_len) == 0;
}

/* ---- sender key store (libsignal-protocol-c's own group cipher) ---- */

static void sk_key(char *out, size_t cap, const signal_protocol_sender_key_name *n)
{
    char g[2 * LSC_NAME_MAX + 1], s[LSC_KEY_MAX];
    hex(g, sizeof g, n->group_id, n->group_id_len > LSC_NAME_MAX ? LSC_NAME_MAX : n->group_id_len);
    lsc_key_session(s, sizeof s, n->sender.name,
                    n->sender.name_len > LSC_NAME_MAX ? LSC_NAME_MAX : n->sender.name_len,
                    n->sender.device_id);
    snprintf(out, cap, "senderkey.%s.%s", g, s + strlen("session."));
}

static int sk_store(const signal_protocol_sender_key_name *n, uint8_t *record, size_t record_len,
                    uint8_t *user_record, size_t user_record_len, void *ud)
{
    struct lsc_peer *p = ud;
    char k[3 * LSC_KEY_MAX];
    (void)user_record;
    (void)user_record_len;
    sk_key(k, sizeof k, n);
    return lsc_db_put(&p->db, k, record, record_len);
}

static int sk_load(signal_buffer **record, signal_buffer **user_record,
                   const signal_protocol_sender_key_name *n, void *ud)
{
    struct lsc_peer *p = ud;
    char k[3 * LSC_KEY_MAX];
    (void)user_record;
    sk_key(k, sizeof k, n);
    const struct lsc_kv *e = lsc_db_get(&p->db, k);
    if (e == NULL)
        return 0;
    *record = signal_buffer_create(e->val, e->len);
    return *record != NULL ? 1 : SG_ERR_NOMEM;
}

int lsc_stores_install(struct lsc_peer *p)
{
    signal_protocol_sender_key_store sks = {
        .store_sender_key = sk_store,
        .load_sender_key = sk_load,
        .user_data = p,
    };
    signal_protocol_session_store ss = {
        .load_session_func = sess_load,
        .get_sub_device_sessions_func = sess_sub_devices,
        .store_session_func = sess_store,
        .contains_session_func = sess_contains,
        .delete_session_func = sess_delete,
        .delete_all_sessions_func = sess_delete_all,
        .user_data = p,
    };
    signal_protocol_pre_key_store pks = {
        .load_pre_key = pk_load,
        .store_pre_key = pk_store,
        .contains_pre_key = pk_contains,
        .remove_pre_key = pk_remove,
        .user_data = p,
    };
    signal_protocol_signed_pre_key_store spks = {
        .load_signed_pre_key = spk_load,
        .store_signed_pre_key = spk_store,
        .contains_signed_pre_key = spk_contains,
        .remove_signed_pre_key = spk_remove,
        .user_data = p,
    };
    signal_protocol_identity_key_store ids = {
        .get_identity_key_pair = id_get_pair,
        .get_local_registration_id = id_get_regid,
        .save_identity = id_save,
        .is_trusted_identity = id_is_trusted,
        .user_data = p,
    };
    int rc = signal_protocol_store_context_set_session_store(p->store, &ss);
    if (rc >= 0)
        rc = signal_protocol_store_context_set_pre_key_store(p->store, &pks);
    if (rc >= 0)
        rc = signal_protocol_store_context_set_signed_pre_key_store(p->store, &spks);
    if (rc >= 0)
        rc = signal_protocol_store_context_set_identity_key_store(p->store, &ids);
    if (rc >= 0)
        rc = signal_protocol_store_context_set_sender_key_store(p->store, &sks);
    return rc;
}

/*
 * A whole sender-key store as bytes: a SenderKeyStoreStructure
 * (proto/sender_key.proto) whose records are libsignal's
 * SenderKeyRecordStructure. Loading is a parser of untrusted bytes (a
 * store file may be damaged or planted), so every field is checked
 * against the limits in include/parley/group.h before it is used.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "sender_key.pb-c.h"
#include "signal/sender_key_internal.h"
#include "util/safety.h"

typedef Parley__Sk__SenderKeyStoreStructure StorePb;
typedef Parley__Sk__SenderKeyStoreStructure__Entry EntryPb;
typedef Parley__Sk__SenderKeyRecordStructure RecordPb;
typedef Parley__Sk__SenderKeyStateStructure StatePb;
typedef Parley__Sk__SenderKeyStateStructure__SenderChainKey ChainPb;
typedef Parley__Sk__SenderKeyStateStructure__SenderSigningKey SigningPb;
typedef Parley__Sk__SenderKeyStateStructure__SenderMessageKey KeyPb;

/* The protobuf-c tree built for packing; everything points into one
 * allocation per level, freed (and wiped) by pack_tree_free. */
typedef struct {
    EntryPb *entries;
    EntryPb **entry_ptrs;
    RecordPb *records;
    StatePb *states;
    StatePb **state_ptrs;
    ChainPb *chains;
    SigningPb *signing;
    uint8_t (*pubs)[SK_SERIALIZED_KEY_LEN];
    KeyPb *keys;
    KeyPb **key_ptrs;
    size_t nstates, nkeys;
} pack_tree;

static void pack_tree_free(pack_tree *t)
{
    free(t->entries);
    free(t->entry_ptrs);
    free(t->records);
    free(t->states);
    free(t->state_ptrs);
    free(t->chains);
    free(t->signing);
    free(t->pubs);
    free(t->keys);
    free(t->key_ptrs);
    memset(t, 0, sizeof *t);
}

int parley_group_store_serialize(const parley_group_store *s, uint8_t **out, size_t *out_len)
{
    int rc;
    pack_tree t;
    StorePb store = PARLEY__SK__SENDER_KEY_STORE_STRUCTURE__INIT;
    uint8_t *buf = NULL;
    size_t n = 0;
    memset(&t, 0, sizeof t);
    PARLEY_MISUSE(s != NULL && out != NULL && out_len != NULL);

    for (size_t i = 0; i < s->n; i++) {
        t.nstates += s->records[i]->nstates;
        for (size_t j = 0; j < s->records[i]->nstates; j++)
            t.nkeys += s->records[i]->states[j].nkeys;
    }
    /* calloc(0) may return NULL: allocate at least one element. */
    t.entries = calloc(s->n + 1, sizeof *t.entries);
    t.entry_ptrs = calloc(s->n + 1, sizeof *t.entry_ptrs);
    t.records = calloc(s->n + 1, sizeof *t.records);
    t.states = calloc(t.nstates + 1, sizeof *t.states);
    t.state_ptrs = calloc(t.nstates + 1, sizeof *t.state_ptrs);
    t.chains = calloc(t.nstates + 1, sizeof *t.chains);
    t.signing = calloc(t.nstates + 1, sizeof *t.signing);
    t.pubs = calloc(t.nstates + 1, sizeof *t.pubs);
    t.keys = calloc(t.nkeys + 1, sizeof *t.keys);
    t.key_ptrs = calloc(t.nkeys + 1, sizeof *t.key_ptrs);
    ENSURE(t.entries && t.entry_ptrs && t.records && t.states && t.state_ptrs && t.chains &&
               t.signing && t.pubs && t.keys && t.key_ptrs,
           PARLEY_ERR_NOMEM);

    size_t si = 0, ki = 0;
    for (size_t i = 0; i < s->n; i++) {
        const sk_record *r = s->records[i];
        EntryPb *e = &t.entries[i];
        RecordPb *rp = &t.records[i];
        parley__sk__sender_key_store_structure__entry__init(e);
        parley__sk__sender_key_record_structure__init(rp);
        e->sender_name = (char *)(uintptr_t)r->name;
        e->has_device_id = 1;
        e->device_id = r->device;
        e->has_distribution_id = 1;
        e->distribution_id.data = (uint8_t *)(uintptr_t)r->dist;
        e->distribution_id.len = SK_DIST_LEN;
        e->record = rp;
        rp->n_sender_key_states = r->nstates;
        rp->sender_key_states = &t.state_ptrs[si];
        for (size_t j = 0; j < r->nstates; j++, si++) {
            const sk_state *st = &r->states[j];
            StatePb *sp = &t.states[si];
            ChainPb *cp = &t.chains[si];
            SigningPb *gp = &t.signing[si];
            parley__sk__sender_key_state_structure__init(sp);
            parley__sk__sender_key_state_structure__sender_chain_key__init(cp);
            parley__sk__sender_key_state_structure__sender_signing_key__init(gp);
            t.state_ptrs[si] = sp;
            sp->has_message_version = 1;
            sp->message_version = st->version;
            sp->has_chain_id = 1;
            sp->chain_id = st->chain_id;
            cp->has_iteration = 1;
            cp->iteration = st->iteration;
            cp->has_seed = 1;
            cp->seed.data = (uint8_t *)(uintptr_t)st->chain_key;
            cp->seed.len = SK_KEY_LEN;
            sp->sender_chain_key = cp;
            t.pubs[si][0] = SK_KEY_TYPE_DJB;
            memcpy(t.pubs[si] + 1, st->sig_pub, SK_KEY_LEN);
            gp->has_public_ = 1;
            gp->public_.data = t.pubs[si];
            gp->public_.len = SK_SERIALIZED_KEY_LEN;
            if (st->has_priv) {
                gp->has_private_ = 1;
                gp->private_.data = (uint8_t *)(uintptr_t)st->sig_priv;
                gp->private_.len = SK_KEY_LEN;
            }
            sp->sender_signing_key = gp;
            sp->n_sender_message_keys = st->nkeys;
            sp->sender_message_keys = &t.key_ptrs[ki];
            for (size_t k = 0; k < st->nkeys; k++, ki++) {
                KeyPb *kp = &t.keys[ki];
                parley__sk__sender_key_state_structure__sender_message_key__init(kp);
                kp->has_iteration = 1;
                kp->iteration = st->keys[k].iteration;
                kp->has_seed = 1;
                kp->seed.data = (uint8_t *)(uintptr_t)st->keys[k].seed;
                kp->seed.len = SK_KEY_LEN;
                t.key_ptrs[ki] = kp;
            }
        }
        t.entry_ptrs[i] = e;
    }
    store.n_entries = s->n;
    store.entries = t.entry_ptrs;
    n = parley__sk__sender_key_store_structure__get_packed_size(&store);
    buf = malloc(n + 1);
    ENSURE(buf != NULL, PARLEY_ERR_NOMEM);
    n = parley__sk__sender_key_store_structure__pack(&store, buf);
    *out = buf;
    *out_len = n;
    buf = NULL;
    rc = PARLEY_OK;
out:
    parley_group_buffer_free(buf, n);
    pack_tree_free(&t);
    return rc;
}

static int load_state(sk_state *st, const StatePb *sp)
{
    int rc;
    ENSURE(sp != NULL && sp->has_chain_id, PARLEY_ERR_DECODE);
    /* libsignal reads a missing (0) version as 3, the first SenderKey version. */
    uint32_t version = sp->has_message_version ? sp->message_version : 0;
    ENSURE(version == 0 || version == SK_VERSION, PARLEY_ERR_DECODE);
    st->version = SK_VERSION;
    st->chain_id = sp->chain_id;
    const ChainPb *cp = sp->sender_chain_key;
    ENSURE(cp != NULL && cp->has_seed && cp->seed.len == SK_KEY_LEN, PARLEY_ERR_DECODE);
    st->iteration = cp->has_iteration ? cp->iteration : 0;
    memcpy(st->chain_key, cp->seed.data, SK_KEY_LEN);
    const SigningPb *gp = sp->sender_signing_key;
    ENSURE(gp != NULL && gp->has_public_ && gp->public_.len == SK_SERIALIZED_KEY_LEN &&
               gp->public_.data[0] == SK_KEY_TYPE_DJB,
           PARLEY_ERR_DECODE);
    memcpy(st->sig_pub, gp->public_.data + 1, SK_KEY_LEN);
    if (gp->has_private_ && gp->private_.len != 0) {
        ENSURE(gp->private_.len == SK_KEY_LEN, PARLEY_ERR_DECODE);
        memcpy(st->sig_priv, gp->private_.data, SK_KEY_LEN);
        st->has_priv = 1;
    }
    ENSURE(sp->n_sender_message_keys <= PARLEY_GROUP_MAX_MESSAGE_KEYS, PARLEY_ERR_DECODE);
    for (size_t k = 0; k < sp->n_sender_message_keys; k++) {
        const KeyPb *kp = sp->sender_message_keys[k];
        ENSURE(kp != NULL && kp->has_seed && kp->seed.len == SK_KEY_LEN, PARLEY_ERR_DECODE);
        GUARD(sk_state_add_key(st, kp->has_iteration ? kp->iteration : 0, kp->seed.data));
    }
    rc = PARLEY_OK;
out:
    return rc;
}

/* Wipe every key the unpacked tree holds before protobuf-c frees it. */
static void wipe_unpacked(StorePb *pb)
{
    for (size_t i = 0; i < pb->n_entries; i++) {
        const RecordPb *rp = pb->entries[i] ? pb->entries[i]->record : NULL;
        if (rp == NULL)
            continue;
        for (size_t j = 0; j < rp->n_sender_key_states; j++) {
            StatePb *sp = rp->sender_key_states[j];
            if (sp == NULL)
                continue;
            if (sp->sender_chain_key && sp->sender_chain_key->has_seed)
                pc_wipe(sp->sender_chain_key->seed.data, sp->sender_chain_key->seed.len);
            if (sp->sender_signing_key && sp->sender_signing_key->has_private_)
                pc_wipe(sp->sender_signing_key->private_.data,
                        sp->sender_signing_key->private_.len);
            for (size_t k = 0; k < sp->n_sender_message_keys; k++)
                if (sp->sender_message_keys[k] && sp->sender_message_keys[k]->has_seed)
                    pc_wipe(sp->sender_message_keys[k]->seed.data,
                            sp->sender_message_keys[k]->seed.len);
        }
    }
}

int parley_group_store_load(parley_group_store **out, const uint8_t *data, size_t len)
{
    int rc;
    parley_group_store *s = NULL;
    StorePb *pb = NULL;
    PARLEY_MISUSE(out != NULL && (data != NULL || len == 0));
    *out = NULL;
    ENSURE(len <= PARLEY_GROUP_MAX_STORE_BYTES, PARLEY_ERR_DECODE);
    pb = parley__sk__sender_key_store_structure__unpack(NULL, len, data);
    ENSURE(pb != NULL, PARLEY_ERR_DECODE);
    ENSURE(pb->n_entries <= PARLEY_GROUP_MAX_RECORDS, PARLEY_ERR_DECODE);
    GUARD(parley_group_store_new(&s));
    for (size_t i = 0; i < pb->n_entries; i++) {
        const EntryPb *e = pb->entries[i];
        ENSURE(e != NULL && e->sender_name != NULL && e->has_device_id && e->has_distribution_id &&
                   e->distribution_id.len == SK_DIST_LEN && e->record != NULL,
               PARLEY_ERR_DECODE);
        size_t name_len = strlen(e->sender_name);
        ENSURE(name_len > 0 && name_len <= PARLEY_GROUP_NAME_MAX, PARLEY_ERR_DECODE);
        /* One record per address and distribution. */
        ENSURE(sk_store_find(s, e->sender_name, e->device_id, e->distribution_id.data) == NULL,
               PARLEY_ERR_DECODE);
        const RecordPb *rp = e->record;
        ENSURE(rp->n_sender_key_states > 0 && rp->n_sender_key_states <= PARLEY_GROUP_MAX_STATES,
               PARLEY_ERR_DECODE);
        sk_record *r = NULL;
        GUARD(sk_store_get(s, e->sender_name, e->device_id, e->distribution_id.data, &r));
        for (size_t j = 0; j < rp->n_sender_key_states; j++) {
            /* Count the state in before loading it, so that a failure
             * half-way frees what it allocated. */
            r->nstates++;
            GUARD(load_state(&r->states[j], rp->sender_key_states[j]));
        }
    }
    *out = s;
    s = NULL;
    rc = PARLEY_OK;
out:
    if (rc == PARLEY_ERR_INVALID_ARG || rc == PARLEY_ERR_BUFFER)
        rc = PARLEY_ERR_DECODE;
    if (pb != NULL) {
        wipe_unpacked(pb);
        parley__sk__sender_key_store_structure__free_unpacked(pb, NULL);
    }
    parley_group_store_free(s);
    return rc;
}

/*
 * Sender chain keys, sender-key states and records, and the store that
 * holds them (libsignal rust/protocol/src/sender_keys.rs).
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "signal/sender_key_internal.h"
#include "util/safety.h"

static const uint8_t MESSAGE_KEY_SEED = 0x01;
static const uint8_t CHAIN_KEY_SEED = 0x02;
static const char WHISPER_GROUP[] = "WhisperGroup";

int sk_chain_message_seed(uint8_t seed[SK_KEY_LEN], const uint8_t ck[SK_KEY_LEN])
{
    return pc_hmac_sha256(seed, ck, SK_KEY_LEN, &MESSAGE_KEY_SEED, 1);
}

int sk_chain_next(uint8_t next[SK_KEY_LEN], const uint8_t ck[SK_KEY_LEN])
{
    return pc_hmac_sha256(next, ck, SK_KEY_LEN, &CHAIN_KEY_SEED, 1);
}

int sk_message_keys(uint8_t iv[SK_IV_LEN], uint8_t key[SK_KEY_LEN], const uint8_t seed[SK_KEY_LEN])
{
    int rc;
    uint8_t derived[SK_IV_LEN + SK_KEY_LEN];
    GUARD(pc_hkdf_sha256(derived, sizeof derived, NULL, 0, seed, SK_KEY_LEN,
                         (const uint8_t *)WHISPER_GROUP, sizeof WHISPER_GROUP - 1));
    memcpy(iv, derived, SK_IV_LEN);
    memcpy(key, derived + SK_IV_LEN, SK_KEY_LEN);
    rc = PARLEY_OK;
out:
    pc_wipe(derived, sizeof derived);
    return rc;
}

void sk_state_clear(sk_state *st)
{
    if (st->keys != NULL) {
        pc_wipe(st->keys, PARLEY_GROUP_MAX_MESSAGE_KEYS * sizeof *st->keys);
        free(st->keys);
    }
    free(st->verifier);
    pc_wipe(st, sizeof *st);
}

void sk_state_move(sk_state *dst, sk_state *src)
{
    memcpy(dst, src, sizeof *dst);
    pc_wipe(src, sizeof *src);
}

int sk_state_add_key(sk_state *st, uint32_t iteration, const uint8_t seed[SK_KEY_LEN])
{
    if (st->keys == NULL) {
        st->keys = calloc(PARLEY_GROUP_MAX_MESSAGE_KEYS, sizeof *st->keys);
        if (st->keys == NULL)
            return PARLEY_ERR_NOMEM;
        st->nkeys = 0;
    }
    if (st->nkeys == PARLEY_GROUP_MAX_MESSAGE_KEYS) {
        /* Full: the oldest goes, as in libsignal's add_sender_message_key. */
        memmove(st->keys, st->keys + 1, (st->nkeys - 1) * sizeof *st->keys);
        st->nkeys--;
    }
    st->keys[st->nkeys].iteration = iteration;
    memcpy(st->keys[st->nkeys].seed, seed, SK_KEY_LEN);
    st->nkeys++;
    return PARLEY_OK;
}

static int record_matches(const sk_record *r, const char *name, uint32_t device,
                          const uint8_t dist[SK_DIST_LEN])
{
    return r->device == device && memcmp(r->dist, dist, SK_DIST_LEN) == 0 &&
           strcmp(r->name, name) == 0;
}

sk_record *sk_store_find(const parley_group_store *s, const char *name, uint32_t device,
                         const uint8_t dist[SK_DIST_LEN])
{
    for (size_t i = 0; i < s->n; i++)
        if (record_matches(s->records[i], name, device, dist))
            return s->records[i];
    return NULL;
}

int sk_store_get(parley_group_store *s, const char *name, uint32_t device,
                 const uint8_t dist[SK_DIST_LEN], sk_record **out)
{
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > PARLEY_GROUP_NAME_MAX)
        return PARLEY_ERR_INVALID_ARG;
    sk_record *r = sk_store_find(s, name, device, dist);
    if (r != NULL) {
        *out = r;
        return PARLEY_OK;
    }
    if (s->n == PARLEY_GROUP_MAX_RECORDS)
        return PARLEY_ERR_BUFFER;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        sk_record **nr = realloc(s->records, cap * sizeof *nr);
        if (nr == NULL)
            return PARLEY_ERR_NOMEM;
        s->records = nr;
        s->cap = cap;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return PARLEY_ERR_NOMEM;
    memcpy(r->name, name, name_len + 1);
    r->device = device;
    memcpy(r->dist, dist, SK_DIST_LEN);
    s->records[s->n++] = r;
    *out = r;
    return PARLEY_OK;
}

static void record_free(sk_record *r)
{
    for (size_t i = 0; i < r->nstates; i++)
        sk_state_clear(&r->states[i]);
    pc_wipe(r, sizeof *r);
    free(r);
}

void sk_store_drop_if_empty(parley_group_store *s, sk_record *r)
{
    if (r == NULL || r->nstates != 0)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->records[i] == r) {
            s->records[i] = s->records[s->n - 1];
            s->n--;
            record_free(r);
            return;
        }
    }
}

sk_state *sk_record_find_chain(sk_record *r, uint32_t chain_id)
{
    for (size_t i = 0; i < r->nstates; i++)
        if (r->states[i].chain_id == chain_id)
            return &r->states[i];
    return NULL;
}

/* Remove states[i], closing the gap; the removed state is moved to *out
 * when out is not NULL, cleared otherwise. */
static void record_remove(sk_record *r, size_t i, sk_state *out)
{
    if (out != NULL)
        sk_state_move(out, &r->states[i]);
    else
        sk_state_clear(&r->states[i]);
    for (size_t j = i; j + 1 < r->nstates; j++)
        sk_state_move(&r->states[j], &r->states[j + 1]);
    r->nstates--;
}

void sk_record_add_state(sk_record *r, sk_state *st)
{
    sk_state existing;
    int have_existing = 0;
    memset(&existing, 0, sizeof existing);
    for (size_t i = 0; i < r->nstates; i++) {
        if (r->states[i].chain_id == st->chain_id &&
            memcmp(r->states[i].sig_pub, st->sig_pub, SK_KEY_LEN) == 0) {
            record_remove(r, i, &existing);
            have_existing = 1;
            break;
        }
    }
    /* A chain id reused with a different signing key replaces the old. */
    for (size_t i = r->nstates; i-- > 0;)
        if (r->states[i].chain_id == st->chain_id)
            record_remove(r, i, NULL);
    while (r->nstates >= PARLEY_GROUP_MAX_STATES)
        record_remove(r, r->nstates - 1, NULL);
    for (size_t j = r->nstates; j > 0; j--)
        sk_state_move(&r->states[j], &r->states[j - 1]);
    if (have_existing) {
        sk_state_move(&r->states[0], &existing);
        sk_state_clear(st);
    } else {
        sk_state_move(&r->states[0], st);
    }
    r->nstates++;
}

int parley_group_store_new(parley_group_store **out)
{
    PARLEY_MISUSE(out != NULL);
    *out = calloc(1, sizeof **out);
    return *out == NULL ? PARLEY_ERR_NOMEM : PARLEY_OK;
}

void parley_group_store_free(parley_group_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        record_free(s->records[i]);
    free(s->records);
    free(s);
}

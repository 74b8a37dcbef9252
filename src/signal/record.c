/*
 * Session states and records: the archive of previous states that lets
 * simultaneous initiation and session resets recover (libsignal's
 * session_record.c), the bounded store of skipped message keys, and the
 * record's own serialized form, whose loader refuses anything malformed.
 *
 * Serialized record, format 1 (all integers big-endian):
 *   u8 format = 1 | u8 has_current | u8 n_previous (<= 40) | states...
 *   state: u8 version (3) | local identity 32 | remote identity 32 |
 *          root 32 | u32 previous counter | send pub 32 | send priv 32 |
 *          send chain key 32 | u32 send index |
 *          u8 n_recv (<= 5) | n_recv x (ratchet 32 | chain key 32 | u32 index) |
 *          u8 pending (0/1) [| u8 has prekey | u32 prekey id |
 *          u32 signed prekey id | base key 32] |
 *          u32 remote registration id | u32 local registration id |
 *          alice base key 32 |
 *          u16 n_skipped (<= 2000) | n_skipped x (ratchet 32 | u32 counter | seed 32)
 * Nothing may follow the last state.
 */
#include "signal/session_internal.h"

#include <stdlib.h>
#include <string.h>
#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/reader.h"
#include "util/safety.h"

sig_state *sig_state_new(void)
{
    return calloc(1, sizeof(sig_state));
}

void sig_state_free(sig_state *st)
{
    if (st == NULL)
        return;
    if (st->skipped != NULL) {
        pc_wipe(st->skipped, st->cap_skipped * sizeof(sig_skipped));
        free(st->skipped);
    }
    pc_wipe(st, sizeof *st);
    free(st);
}

int sig_state_reserve_skipped(sig_state *st, uint32_t extra)
{
    uint32_t want = st->n_skipped + (extra < SIG_MAX_SKIPPED_KEYS ? extra : SIG_MAX_SKIPPED_KEYS);
    if (want > SIG_MAX_SKIPPED_KEYS)
        want = SIG_MAX_SKIPPED_KEYS;
    if (want <= st->cap_skipped)
        return PARLEY_OK;
    uint32_t cap = st->cap_skipped == 0 ? 16 : st->cap_skipped;
    while (cap < want)
        cap *= 2;
    if (cap > SIG_MAX_SKIPPED_KEYS)
        cap = SIG_MAX_SKIPPED_KEYS;
    sig_skipped *n = malloc(cap * sizeof(sig_skipped));
    if (n == NULL)
        return PARLEY_ERR_NOMEM;
    if (st->skipped != NULL) {
        memcpy(n, st->skipped, st->n_skipped * sizeof(sig_skipped));
        pc_wipe(st->skipped, st->cap_skipped * sizeof(sig_skipped));
        free(st->skipped);
    }
    st->skipped = n;
    st->cap_skipped = cap;
    return PARLEY_OK;
}

int sig_state_add_skipped(sig_state *st, const uint8_t ratchet[32], uint32_t counter,
                          const uint8_t seed[32])
{
    if (st->n_skipped == SIG_MAX_SKIPPED_KEYS) {
        /* Full: forget the oldest key, as libsignal does per chain. */
        pc_wipe(&st->skipped[0], sizeof(sig_skipped));
        memmove(&st->skipped[0], &st->skipped[1], (st->n_skipped - 1) * sizeof(sig_skipped));
        st->n_skipped--;
    }
    if (st->n_skipped == st->cap_skipped) {
        int rc = sig_state_reserve_skipped(st, 1);
        if (rc != PARLEY_OK)
            return rc;
    }
    sig_skipped *k = &st->skipped[st->n_skipped++];
    memcpy(k->ratchet, ratchet, 32);
    k->counter = counter;
    memcpy(k->seed, seed, 32);
    return PARLEY_OK;
}

void sig_record_init(sig_record *r)
{
    memset(r, 0, sizeof *r);
}

void sig_record_clear(sig_record *r)
{
    sig_state_free(r->current);
    for (uint32_t i = 0; i < r->n_previous; i++)
        sig_state_free(r->previous[i]);
    sig_record_init(r);
}

void sig_record_archive_current(sig_record *r)
{
    if (r->current == NULL)
        return;
    if (r->n_previous == SIG_MAX_ARCHIVED_STATES) {
        sig_state_free(r->previous[SIG_MAX_ARCHIVED_STATES - 1]);
        r->n_previous--;
    }
    memmove(&r->previous[1], &r->previous[0], r->n_previous * sizeof(sig_state *));
    r->previous[0] = r->current;
    r->n_previous++;
    r->current = NULL;
}

void sig_record_promote(sig_record *r, uint32_t i)
{
    PARLEY_MISUSE(i < r->n_previous);
    sig_state *st = r->previous[i];
    memmove(&r->previous[i], &r->previous[i + 1], (r->n_previous - i - 1) * sizeof(sig_state *));
    r->n_previous--;
    sig_record_archive_current(r);
    r->current = st;
}

/* Writers for put_state, into space already reserved (state_size). */
static uint8_t *put8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put_key(uint8_t *p, const uint8_t k[32])
{
    memcpy(p, k, 32);
    return p + 32;
}

static size_t state_size(const sig_state *st)
{
    return 1 + 32 * 3 + 4 + 32 * 3 + 4 + 1 + st->n_recv * 68u + 1 + (st->pending ? 41u : 0u) + 8 +
           32 + 2 + st->n_skipped * 68u;
}

/* Writes exactly state_size(st) bytes at p; returns the end. */
static uint8_t *put_state(uint8_t *p, const sig_state *st)
{
    p = put8(p, st->version);
    p = put_key(p, st->local_identity);
    p = put_key(p, st->remote_identity);
    p = put_key(p, st->root);
    p = put32(p, st->previous_counter);
    p = put_key(p, st->send_pub);
    p = put_key(p, st->send_priv);
    p = put_key(p, st->send_key);
    p = put32(p, st->send_index);
    p = put8(p, (uint8_t)st->n_recv);
    for (uint32_t i = 0; i < st->n_recv; i++) {
        p = put_key(p, st->recv[i].ratchet);
        p = put_key(p, st->recv[i].key);
        p = put32(p, st->recv[i].index);
    }
    p = put8(p, st->pending);
    if (st->pending) {
        p = put8(p, st->pending_has_prekey);
        p = put32(p, st->pending_prekey_id);
        p = put32(p, st->pending_signed_prekey_id);
        p = put_key(p, st->pending_base);
    }
    p = put32(p, st->remote_registration_id);
    p = put32(p, st->local_registration_id);
    p = put_key(p, st->alice_base);
    p = put16(p, (uint16_t)st->n_skipped);
    for (uint32_t i = 0; i < st->n_skipped; i++) {
        p = put_key(p, st->skipped[i].ratchet);
        p = put32(p, st->skipped[i].counter);
        p = put_key(p, st->skipped[i].seed);
    }
    return p;
}

/* The size is computed first and reserved once (within b's maximum), then
 * every field is written in place: no bounds check per field, and a
 * final check that the writers filled exactly what was reserved. */
int sig_record_serialize_into(const sig_record *r, pbuf *b)
{
    int rc;
    size_t need = 3;
    uint8_t *p;
    b->len = 0;
    if (r->current != NULL)
        need += state_size(r->current);
    for (uint32_t i = 0; i < r->n_previous; i++)
        need += state_size(r->previous[i]);
    GUARD(pbuf_reserve(b, need));
    p = b->data;
    p = put8(p, SIG_RECORD_FORMAT);
    p = put8(p, r->current != NULL);
    p = put8(p, (uint8_t)r->n_previous);
    if (r->current != NULL)
        p = put_state(p, r->current);
    for (uint32_t i = 0; i < r->n_previous; i++)
        p = put_state(p, r->previous[i]);
    PARLEY_MISUSE((size_t)(p - b->data) == need);
    b->len = need;
    rc = PARLEY_OK;
out:
    return rc;
}

int sig_record_serialize(const sig_record *r, uint8_t **out, size_t *out_len)
{
    int rc;
    pbuf b;
    pbuf_init(&b, SIG_RECORD_MAX);
    GUARD(sig_record_serialize_into(r, &b));
    *out = b.data;
    *out_len = b.len;
    b.data = NULL;
    rc = PARLEY_OK;
out:
    if (b.data != NULL)
        pbuf_free(&b);
    return rc;
}

#define RD(expr) ENSURE((expr) == PARLEY_OK, PARLEY_ERR_DECODE)

static int get_state(preader *r, sig_state **out)
{
    int rc;
    uint8_t u8;
    uint16_t n16;
    sig_state *st = sig_state_new();
    ENSURE(st != NULL, PARLEY_ERR_NOMEM);
    RD(preader_u8(r, &st->version));
    ENSURE(st->version == PARLEY_SIGNAL_VERSION, PARLEY_ERR_DECODE);
    RD(preader_bytes(r, st->local_identity, 32));
    RD(preader_bytes(r, st->remote_identity, 32));
    RD(preader_bytes(r, st->root, 32));
    RD(preader_u32be(r, &st->previous_counter));
    RD(preader_bytes(r, st->send_pub, 32));
    RD(preader_bytes(r, st->send_priv, 32));
    RD(preader_bytes(r, st->send_key, 32));
    RD(preader_u32be(r, &st->send_index));
    RD(preader_u8(r, &u8));
    ENSURE(u8 <= SIG_MAX_RECEIVER_CHAINS, PARLEY_ERR_DECODE);
    st->n_recv = u8;
    for (uint32_t i = 0; i < st->n_recv; i++) {
        RD(preader_bytes(r, st->recv[i].ratchet, 32));
        RD(preader_bytes(r, st->recv[i].key, 32));
        RD(preader_u32be(r, &st->recv[i].index));
    }
    RD(preader_u8(r, &st->pending));
    ENSURE(st->pending <= 1, PARLEY_ERR_DECODE);
    if (st->pending) {
        RD(preader_u8(r, &st->pending_has_prekey));
        ENSURE(st->pending_has_prekey <= 1, PARLEY_ERR_DECODE);
        RD(preader_u32be(r, &st->pending_prekey_id));
        RD(preader_u32be(r, &st->pending_signed_prekey_id));
        RD(preader_bytes(r, st->pending_base, 32));
    }
    RD(preader_u32be(r, &st->remote_registration_id));
    RD(preader_u32be(r, &st->local_registration_id));
    RD(preader_bytes(r, st->alice_base, 32));
    RD(preader_u16be(r, &n16));
    ENSURE(n16 <= SIG_MAX_SKIPPED_KEYS, PARLEY_ERR_DECODE);
    /* Check the length before allocating for it. */
    ENSURE(preader_left(r) >= (size_t)n16 * 68u, PARLEY_ERR_DECODE);
    for (uint32_t i = 0; i < n16; i++) {
        uint8_t ratchet[32], seed[32];
        uint32_t counter;
        RD(preader_bytes(r, ratchet, 32));
        RD(preader_u32be(r, &counter));
        RD(preader_bytes(r, seed, 32));
        rc = sig_state_add_skipped(st, ratchet, counter, seed);
        pc_wipe(seed, sizeof seed);
        GUARD(rc);
    }
    *out = st;
    st = NULL;
    rc = PARLEY_OK;
out:
    sig_state_free(st);
    return rc;
}

int sig_record_load(sig_record *rec, const uint8_t *in, size_t n)
{
    int rc;
    preader r;
    uint8_t format, has_current, n_prev;
    sig_record tmp;
    sig_record_init(&tmp);
    preader_init(&r, in, n);
    RD(preader_u8(&r, &format));
    ENSURE(format == SIG_RECORD_FORMAT, PARLEY_ERR_DECODE);
    RD(preader_u8(&r, &has_current));
    ENSURE(has_current <= 1, PARLEY_ERR_DECODE);
    RD(preader_u8(&r, &n_prev));
    ENSURE(n_prev <= SIG_MAX_ARCHIVED_STATES, PARLEY_ERR_DECODE);
    if (has_current)
        GUARD(get_state(&r, &tmp.current));
    for (uint32_t i = 0; i < n_prev; i++) {
        GUARD(get_state(&r, &tmp.previous[i]));
        tmp.n_previous++;
    }
    ENSURE(preader_left(&r) == 0, PARLEY_ERR_DECODE);
    *rec = tmp;
    sig_record_init(&tmp);
    rc = PARLEY_OK;
out:
    sig_record_clear(&tmp);
    return rc;
}

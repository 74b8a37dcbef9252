/*
 * The arena behind a stanza tree. Chunks grow geometrically so that a tree
 * built node by node costs O(log n) mallocs; a parse primes the first chunk
 * from the frame length and usually needs no other.
 */
#include <stdlib.h>
#include <string.h>

#include "stanza/stanza_internal.h"

#define PS_ALIGN 16u
#define PS_FIRST_CHUNK 1024u

struct ps_chunk {
    ps_chunk *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void ps_arena_init(ps_arena *a, size_t max)
{
    a->head = NULL;
    a->total = 0;
    a->max = max;
}

static ps_chunk *chunk_new(ps_arena *a, size_t cap)
{
    if (cap > a->max || a->total > a->max - cap)
        return NULL;
    ps_chunk *c = malloc(sizeof *c + cap);
    if (c == NULL)
        return NULL;
    c->cap = cap;
    c->used = 0;
    c->next = a->head;
    a->head = c;
    a->total += cap;
    return c;
}

int ps_arena_prime(ps_arena *a, size_t size)
{
    if (a->head != NULL && a->head->cap - a->head->used >= size)
        return PARLEY_OK;
    return chunk_new(a, size) != NULL ? PARLEY_OK : PARLEY_ERR_NOMEM;
}

void *ps_arena_alloc(ps_arena *a, size_t size)
{
    if (size > SIZE_MAX - PS_ALIGN)
        return NULL;
    size = (size + PS_ALIGN - 1) & ~(size_t)(PS_ALIGN - 1);
    ps_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < size) {
        /* Double what we hold so far, but at least fit this request. */
        size_t cap = a->total < PS_FIRST_CHUNK ? PS_FIRST_CHUNK : a->total;
        if (cap < size)
            cap = size;
        c = chunk_new(a, cap);
        if (c == NULL && cap > size)
            c = chunk_new(a, size); /* near the maximum: take only what is asked */
        if (c == NULL)
            return NULL;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

char *ps_arena_strndup(ps_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = ps_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void ps_arena_free(ps_arena *a)
{
    ps_chunk *c = a->head;
    while (c != NULL) {
        ps_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

/*
 * Inside the stanza area: the tree layout, the arena that owns a tree's
 * memory, and the character rules shared by the builder and the parser so
 * that the writer never produces what the parser refuses.
 */
#ifndef PARLEY_STANZA_INTERNAL_H
#define PARLEY_STANZA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "parley/stanza.h"

/*
 * A bump allocator: a chain of chunks freed together. A tree never frees a
 * node alone, so a parse costs one or two mallocs, and an error anywhere
 * unwinds by releasing the whole arena. `max` bounds the total.
 */
typedef struct ps_chunk ps_chunk;
typedef struct {
    ps_chunk *head;
    size_t total; /* bytes obtained from malloc */
    size_t max;
} ps_arena;

void ps_arena_init(ps_arena *a, size_t max);
/* size bytes aligned for any node; NULL when out of memory or over max. */
void *ps_arena_alloc(ps_arena *a, size_t size);
/* A NUL-terminated copy of s[0..n). */
char *ps_arena_strndup(ps_arena *a, const char *s, size_t n);
/* Make the first chunk hold at least `size` bytes (a parse sizes it once). */
int ps_arena_prime(ps_arena *a, size_t size);
void ps_arena_free(ps_arena *a);

typedef struct ps_attr ps_attr;
struct ps_attr {
    ps_attr *next;
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;
};

typedef struct ps_tree ps_tree;

struct parley_stanza {
    ps_tree *tree;
    const char *name;
    size_t name_len;
    ps_attr *attrs, *attrs_tail;
    size_t attr_count;
    parley_stanza *first, *last, *next;
    size_t child_count;
    const char *text; /* NULL when the element has none; never empty */
    size_t text_len;
    size_t depth; /* the root is 1 */
};

struct ps_tree {
    ps_arena arena;
    parley_stanza *root;
};

/* A new tree with an empty root named name[0..n) (already validated). */
int ps_tree_new(parley_stanza **out, const char *name, size_t name_len, size_t prime);
/* A new element in e's tree, not yet linked anywhere. */
parley_stanza *ps_element_new(ps_tree *t, const char *name, size_t name_len);
void ps_link_child(parley_stanza *parent, parley_stanza *child);
/* Append an attribute without the duplicate check (the parser has expat's). */
int ps_attr_append(parley_stanza *e, const char *name, size_t name_len, const char *value,
                   size_t value_len);

/*
 * Character rules (docs/protocol.md, "Characters and names").
 *
 * ps_name_ok: 1 if s[0..n) is a legal parley name.
 * ps_utf8_check: PARLEY_OK, PARLEY_ERR_STANZA_UTF8 (not well-formed UTF-8:
 *   overlong forms, surrogates, past U+10FFFF, truncated sequences) or
 *   PARLEY_ERR_STANZA_CHAR (a code point XML 1.0 forbids: C0 controls other
 *   than TAB, LF and CR, U+FFFE, U+FFFF; NUL included).
 */
int ps_name_ok(const char *s, size_t n);
int ps_utf8_check(const uint8_t *s, size_t n);

/*
 * parley_stanza_parser_parse with every frame parsed as a document of its
 * own (expat reset per frame), never in the parser's running document:
 * the reference the running document must agree with, verdict for verdict
 * and tree for tree (tests/fuzz/fuzz_stanza.c, tests/unit/test_stanza.c).
 */
int ps_parser_parse_alone(parley_stanza_parser *p, const uint8_t *data, size_t len,
                          parley_stanza **out);

/* Base64 (RFC 4648 section 4) with padding. */
size_t ps_b64_encoded_len(size_t n);
void ps_b64_encode(char *out, const uint8_t *in, size_t n);
/* Canonical decoding only; PARLEY_ERR_STANZA_BASE64 or PARLEY_ERR_BUFFER. */
int ps_b64_decode(uint8_t *out, size_t out_max, size_t *out_len, const char *in, size_t n);

#endif

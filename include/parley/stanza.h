/*
 * parley — XML stanzas (docs/protocol.md, "Stanzas"; DESIGN.md 3.3).
 *
 * A stanza is one XML element carried in one Noise transport frame. This
 * header gives an element tree, a writer that produces the canonical form
 * and a parser (on expat) that accepts exactly one element per frame under
 * hard limits, refusing everything the protocol does not use: DTDs, entities
 * other than the five predefined, processing instructions, comments, the XML
 * declaration, mixed content, non-ASCII names, invalid UTF-8.
 *
 * Every element is a `parley_stanza`. A tree is owned by its root: children
 * are created through their parent, borrowed by the caller, and released
 * with the root by parley_stanza_free(). An element holds either children or
 * text, never both (text in leaf elements only); binary content is text in
 * base64 (RFC 4648 section 4, with padding).
 *
 * Names: plain names, no namespace processing. An element or attribute name
 * is `[A-Za-z_][A-Za-z0-9_.-]*`, optionally `prefix:local` with both halves
 * of that form; `xmlns` and `xmlns:p` are ordinary attributes.
 */
#ifndef PARLEY_STANZA_H
#define PARLEY_STANZA_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default limits (docs/protocol.md, "Stanza limits"). */
enum {
    /* a Noise transport message is at most 65535 bytes, 16 of them the tag */
    PARLEY_STANZA_MAX_SIZE = 65519,
    PARLEY_STANZA_MAX_DEPTH = 16,
    PARLEY_STANZA_MAX_CHILDREN = 1024,
    PARLEY_STANZA_MAX_ELEMENTS = 4096,
    PARLEY_STANZA_MAX_ATTRS = 32,
    PARLEY_STANZA_MAX_ATTR_LEN = 4096,
    PARLEY_STANZA_MAX_TEXT = 65519,
    PARLEY_STANZA_MAX_NAME = 64,
    /* memory a tree may use, however it was made */
    PARLEY_STANZA_MAX_TREE_BYTES = 16 * 1024 * 1024,
    /* nesting a program may build (PARLEY_ERR_STANZA_TOO_DEEP beyond) */
    PARLEY_STANZA_MAX_BUILD_DEPTH = 256,
};

/* Hard limits applied by the parser; each breach has its own result code. */
typedef struct {
    size_t max_size;     /* bytes in the frame: PARLEY_ERR_STANZA_TOO_LARGE */
    size_t max_depth;    /* root is depth 1: PARLEY_ERR_STANZA_TOO_DEEP */
    size_t max_children; /* per element: PARLEY_ERR_STANZA_TOO_MANY_CHILDREN */
    size_t max_elements; /* in the tree: PARLEY_ERR_STANZA_TOO_MANY_ELEMENTS */
    size_t max_attrs;    /* per element: PARLEY_ERR_STANZA_TOO_MANY_ATTRS */
    size_t max_attr_len; /* bytes of one value, decoded: PARLEY_ERR_STANZA_ATTR_TOO_LONG */
    size_t max_text;     /* bytes of one element's text, decoded: PARLEY_ERR_STANZA_TEXT_TOO_LONG */
    size_t max_name;     /* bytes of an element or attribute name: PARLEY_ERR_STANZA_NAME_TOO_LONG */
} parley_stanza_limits;

/* Fill *l with the PARLEY_STANZA_MAX_* defaults. */
void parley_stanza_limits_default(parley_stanza_limits *l);

typedef struct parley_stanza parley_stanza;

/* ---- building ---------------------------------------------------------- */

/*
 * A new root element. Fails with PARLEY_ERR_STANZA_NAME on an illegal name.
 * Every builder below either succeeds or leaves the tree as it was.
 */
PARLEY_MUST_CHECK int parley_stanza_new(parley_stanza **out, const char *name);

/* Release a whole tree. `root` must be a root (or NULL). */
void parley_stanza_free(parley_stanza *root);

/*
 * Append a new empty child named `name` to `parent` and, if `child` is not
 * NULL, lend it to the caller. PARLEY_ERR_STANZA_MIXED if `parent` has text,
 * PARLEY_ERR_STANZA_TOO_DEEP past PARLEY_STANZA_MAX_BUILD_DEPTH.
 */
PARLEY_MUST_CHECK int parley_stanza_add_child(parley_stanza *parent, const char *name,
                                              parley_stanza **child);

/*
 * Append a deep copy of `src` (from any tree, even this one) to `parent`.
 */
PARLEY_MUST_CHECK int parley_stanza_add_copy(parley_stanza *parent, const parley_stanza *src,
                                             parley_stanza **child);

/*
 * Set an attribute. An existing attribute of that name keeps its place and
 * takes the new value; a new one goes last. The value must be UTF-8 of XML
 * characters (PARLEY_ERR_STANZA_UTF8, PARLEY_ERR_STANZA_CHAR).
 */
PARLEY_MUST_CHECK int parley_stanza_set_attr(parley_stanza *e, const char *name,
                                             const char *value);
/* The same with a decimal unsigned value (timestamps, counters). */
PARLEY_MUST_CHECK int parley_stanza_set_attr_u64(parley_stanza *e, const char *name,
                                                 uint64_t value);

/*
 * Set the text of a leaf element (len bytes of UTF-8, no NUL). Empty text is
 * the same as none. PARLEY_ERR_STANZA_MIXED if `e` has children.
 */
PARLEY_MUST_CHECK int parley_stanza_set_text(parley_stanza *e, const char *text, size_t len);

/* Set binary content: the text becomes the base64 of `data`. */
PARLEY_MUST_CHECK int parley_stanza_set_bytes(parley_stanza *e, const uint8_t *data, size_t len);

/* ---- reading ----------------------------------------------------------- */

const char *parley_stanza_name(const parley_stanza *e);
/* 1 if e's name is `name`. */
int parley_stanza_is(const parley_stanza *e, const char *name);

/* The value of attribute `name`, or NULL when absent. */
const char *parley_stanza_attr(const parley_stanza *e, const char *name);
/*
 * Attribute `name` as a canonical decimal uint64 (no sign, no leading zero,
 * no spaces): PARLEY_ERR_NOT_FOUND when absent, PARLEY_ERR_DECODE otherwise.
 */
PARLEY_MUST_CHECK int parley_stanza_attr_u64(const parley_stanza *e, const char *name,
                                             uint64_t *value);
size_t parley_stanza_attr_count(const parley_stanza *e);
/* The i-th attribute in document order; PARLEY_ERR_NOT_FOUND past the end. */
PARLEY_MUST_CHECK int parley_stanza_attr_at(const parley_stanza *e, size_t i, const char **name,
                                            const char **value);

size_t parley_stanza_child_count(const parley_stanza *e);
/* The first child, the next sibling: NULL at the end. */
parley_stanza *parley_stanza_first_child(const parley_stanza *e);
parley_stanza *parley_stanza_next_sibling(const parley_stanza *e);
/* The first child named `name` / the next sibling with the same name. */
parley_stanza *parley_stanza_child(const parley_stanza *e, const char *name);
parley_stanza *parley_stanza_next_named(const parley_stanza *e);

/* The text (NUL-terminated, *len set if len is not NULL), or NULL if none. */
const char *parley_stanza_text(const parley_stanza *e, size_t *len);

/* An upper bound on the bytes parley_stanza_get_bytes can produce. */
size_t parley_stanza_bytes_max(const parley_stanza *e);
/*
 * Decode the text as base64. Only the canonical encoding is accepted
 * (padding, no whitespace, zero trailing bits): PARLEY_ERR_STANZA_BASE64.
 * PARLEY_ERR_BUFFER when out_max is too small.
 */
PARLEY_MUST_CHECK int parley_stanza_get_bytes(const parley_stanza *e, uint8_t *out, size_t out_max,
                                              size_t *out_len);

/* Structural equality: names, attributes in order, children, text. */
int parley_stanza_equal(const parley_stanza *a, const parley_stanza *b);

/* ---- writing ----------------------------------------------------------- */

/* The exact length of parley_stanza_write's output. */
size_t parley_stanza_write_len(const parley_stanza *e);
/*
 * Write the canonical form of `e` (docs/protocol.md, "Canonical form") into
 * out. PARLEY_ERR_BUFFER if it does not fit in out_max bytes.
 */
PARLEY_MUST_CHECK int parley_stanza_write(const parley_stanza *e, uint8_t *out, size_t out_max,
                                          size_t *out_len);
/* The same into a new buffer (release with free()), NUL-terminated. */
PARLEY_MUST_CHECK int parley_stanza_write_alloc(const parley_stanza *e, uint8_t **out,
                                                size_t *out_len);

/* ---- parsing ----------------------------------------------------------- */

typedef struct parley_stanza_parser parley_stanza_parser;

/*
 * A reusable parser (one expat instance, reset between frames): a
 * connection keeps one. `limits` is copied; NULL means the defaults.
 */
PARLEY_MUST_CHECK int parley_stanza_parser_new(parley_stanza_parser **out,
                                               const parley_stanza_limits *limits);
void parley_stanza_parser_free(parley_stanza_parser *p);

/*
 * Parse one frame holding exactly one element: it must start with the root
 * element's `<` and end with its closing `>`. On success *out is a new tree;
 * on any failure *out is NULL, nothing is allocated, and the result is one
 * of the PARLEY_ERR_STANZA_* codes (or PARLEY_ERR_NOMEM).
 */
PARLEY_MUST_CHECK int parley_stanza_parser_parse(parley_stanza_parser *p, const uint8_t *data,
                                                 size_t len, parley_stanza **out);

/* One-shot: a parser made, used and released. */
PARLEY_MUST_CHECK int parley_stanza_parse(parley_stanza **out, const uint8_t *data, size_t len,
                                          const parley_stanza_limits *limits);

#ifdef __cplusplus
}
#endif
#endif

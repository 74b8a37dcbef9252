/*
 * The element tree: builders and accessors. Builders validate what they are
 * given with the parser's own rules (names, UTF-8, XML characters, text in
 * leaves only), so every tree that can be built can be written and parsed
 * back to an equal tree.
 */
#include <stdlib.h>
#include <string.h>

#include "stanza/stanza_internal.h"
#include "util/safety.h"

void parley_stanza_limits_default(parley_stanza_limits *l)
{
    PARLEY_MISUSE(l != NULL);
    l->max_size = PARLEY_STANZA_MAX_SIZE;
    l->max_depth = PARLEY_STANZA_MAX_DEPTH;
    l->max_children = PARLEY_STANZA_MAX_CHILDREN;
    l->max_elements = PARLEY_STANZA_MAX_ELEMENTS;
    l->max_attrs = PARLEY_STANZA_MAX_ATTRS;
    l->max_attr_len = PARLEY_STANZA_MAX_ATTR_LEN;
    l->max_text = PARLEY_STANZA_MAX_TEXT;
    l->max_name = PARLEY_STANZA_MAX_NAME;
}

/* ---- internal constructors (shared with the parser) -------------------- */

parley_stanza *ps_element_new(ps_tree *t, const char *name, size_t name_len)
{
    parley_stanza *e = ps_arena_alloc(&t->arena, sizeof *e);
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof *e);
    e->tree = t;
    e->depth = 1;
    e->name = ps_arena_strndup(&t->arena, name, name_len);
    if (e->name == NULL)
        return NULL;
    e->name_len = name_len;
    return e;
}

int ps_tree_new(parley_stanza **out, const char *name, size_t name_len, size_t prime)
{
    int rc = PARLEY_ERR_NOMEM;
    ps_tree *t = malloc(sizeof *t);
    ENSURE(t != NULL, PARLEY_ERR_NOMEM);
    ps_arena_init(&t->arena, PARLEY_STANZA_MAX_TREE_BYTES);
    if (prime > 0)
        GUARD(ps_arena_prime(&t->arena, prime));
    t->root = ps_element_new(t, name, name_len);
    ENSURE(t->root != NULL, PARLEY_ERR_NOMEM);
    *out = t->root;
    t = NULL;
    rc = PARLEY_OK;
out:
    if (t != NULL) {
        ps_arena_free(&t->arena);
        free(t);
    }
    return rc;
}

void ps_link_child(parley_stanza *parent, parley_stanza *child)
{
    child->depth = parent->depth + 1;
    if (parent->last != NULL)
        parent->last->next = child;
    else
        parent->first = child;
    parent->last = child;
    parent->child_count++;
}

int ps_attr_append(parley_stanza *e, const char *name, size_t name_len, const char *value,
                   size_t value_len)
{
    ps_arena *a = &e->tree->arena;
    ps_attr *at = ps_arena_alloc(a, sizeof *at);
    if (at == NULL)
        return PARLEY_ERR_NOMEM;
    at->next = NULL;
    at->name = ps_arena_strndup(a, name, name_len);
    at->value = ps_arena_strndup(a, value, value_len);
    if (at->name == NULL || at->value == NULL)
        return PARLEY_ERR_NOMEM;
    at->name_len = name_len;
    at->value_len = value_len;
    if (e->attrs_tail != NULL)
        e->attrs_tail->next = at;
    else
        e->attrs = at;
    e->attrs_tail = at;
    e->attr_count++;
    return PARLEY_OK;
}

/* ---- building ---------------------------------------------------------- */

int parley_stanza_new(parley_stanza **out, const char *name)
{
    PARLEY_MISUSE(out != NULL && name != NULL);
    *out = NULL;
    size_t n = strlen(name);
    if (!ps_name_ok(name, n))
        return PARLEY_ERR_STANZA_NAME;
    return ps_tree_new(out, name, n, 0);
}

void parley_stanza_free(parley_stanza *root)
{
    if (root == NULL)
        return;
    ps_tree *t = root->tree;
    PARLEY_MISUSE(t->root == root);
    ps_arena_free(&t->arena);
    free(t);
}

int parley_stanza_add_child(parley_stanza *parent, const char *name, parley_stanza **child)
{
    PARLEY_MISUSE(parent != NULL && name != NULL);
    if (child != NULL)
        *child = NULL;
    size_t n = strlen(name);
    if (!ps_name_ok(name, n))
        return PARLEY_ERR_STANZA_NAME;
    if (parent->text != NULL)
        return PARLEY_ERR_STANZA_MIXED;
    if (parent->depth >= PARLEY_STANZA_MAX_BUILD_DEPTH)
        return PARLEY_ERR_STANZA_TOO_DEEP;
    parley_stanza *e = ps_element_new(parent->tree, name, n);
    if (e == NULL)
        return PARLEY_ERR_NOMEM;
    ps_link_child(parent, e);
    if (child != NULL)
        *child = e;
    return PARLEY_OK;
}

/* Levels in the subtree under e (1 for a leaf); recursion depth is bounded
 * by PARLEY_STANZA_MAX_BUILD_DEPTH, which every tree respects. */
static size_t subtree_height(const parley_stanza *e)
{
    size_t h = 0;
    for (const parley_stanza *c = e->first; c != NULL; c = c->next) {
        size_t ch = subtree_height(c);
        if (ch > h)
            h = ch;
    }
    return h + 1;
}

/*
 * Copy src into t as a detached subtree. Nothing is linked into the
 * destination until the copy is whole, so copying an ancestor into its own
 * descendant terminates and a failure leaves the tree as it was.
 */
static parley_stanza *copy_subtree(ps_tree *t, const parley_stanza *src, size_t depth)
{
    parley_stanza *e = ps_element_new(t, src->name, src->name_len);
    if (e == NULL)
        return NULL;
    e->depth = depth;
    for (const ps_attr *a = src->attrs; a != NULL; a = a->next)
        if (ps_attr_append(e, a->name, a->name_len, a->value, a->value_len) != PARLEY_OK)
            return NULL;
    if (src->text != NULL) {
        e->text = ps_arena_strndup(&t->arena, src->text, src->text_len);
        if (e->text == NULL)
            return NULL;
        e->text_len = src->text_len;
    }
    /* src's child list is read up to the count it had on entry. */
    const parley_stanza *c = src->first;
    for (size_t i = 0, n = src->child_count; i < n; i++, c = c->next) {
        parley_stanza *cc = copy_subtree(t, c, depth + 1);
        if (cc == NULL)
            return NULL;
        ps_link_child(e, cc);
    }
    return e;
}

int parley_stanza_add_copy(parley_stanza *parent, const parley_stanza *src, parley_stanza **child)
{
    PARLEY_MISUSE(parent != NULL && src != NULL);
    if (child != NULL)
        *child = NULL;
    if (parent->text != NULL)
        return PARLEY_ERR_STANZA_MIXED;
    if (parent->depth + subtree_height(src) > PARLEY_STANZA_MAX_BUILD_DEPTH)
        return PARLEY_ERR_STANZA_TOO_DEEP;
    parley_stanza *e = copy_subtree(parent->tree, src, parent->depth + 1);
    if (e == NULL)
        return PARLEY_ERR_NOMEM;
    ps_link_child(parent, e);
    if (child != NULL)
        *child = e;
    return PARLEY_OK;
}

int parley_stanza_set_attr(parley_stanza *e, const char *name, const char *value)
{
    PARLEY_MISUSE(e != NULL && name != NULL && value != NULL);
    size_t nn = strlen(name), vn = strlen(value);
    if (!ps_name_ok(name, nn))
        return PARLEY_ERR_STANZA_NAME;
    int rc = ps_utf8_check((const uint8_t *)value, vn);
    if (rc != PARLEY_OK)
        return rc;
    for (ps_attr *a = e->attrs; a != NULL; a = a->next) {
        if (a->name_len == nn && memcmp(a->name, name, nn) == 0) {
            const char *v = ps_arena_strndup(&e->tree->arena, value, vn);
            if (v == NULL)
                return PARLEY_ERR_NOMEM;
            a->value = v;
            a->value_len = vn;
            return PARLEY_OK;
        }
    }
    return ps_attr_append(e, name, nn, value, vn);
}

int parley_stanza_set_attr_u64(parley_stanza *e, const char *name, uint64_t value)
{
    char buf[21];
    size_t i = sizeof buf - 1;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    return parley_stanza_set_attr(e, name, buf + i);
}

int parley_stanza_set_text(parley_stanza *e, const char *text, size_t len)
{
    PARLEY_MISUSE(e != NULL && (text != NULL || len == 0));
    if (e->first != NULL)
        return PARLEY_ERR_STANZA_MIXED;
    if (len == 0) {
        e->text = NULL;
        e->text_len = 0;
        return PARLEY_OK;
    }
    int rc = ps_utf8_check((const uint8_t *)text, len);
    if (rc != PARLEY_OK)
        return rc;
    const char *t = ps_arena_strndup(&e->tree->arena, text, len);
    if (t == NULL)
        return PARLEY_ERR_NOMEM;
    e->text = t;
    e->text_len = len;
    return PARLEY_OK;
}

int parley_stanza_set_bytes(parley_stanza *e, const uint8_t *data, size_t len)
{
    PARLEY_MISUSE(e != NULL && (data != NULL || len == 0));
    if (e->first != NULL)
        return PARLEY_ERR_STANZA_MIXED;
    if (len > (SIZE_MAX - 2) / 4 * 3 - 3)
        return PARLEY_ERR_BUFFER;
    if (len == 0) {
        e->text = NULL;
        e->text_len = 0;
        return PARLEY_OK;
    }
    size_t n = ps_b64_encoded_len(len);
    char *t = ps_arena_alloc(&e->tree->arena, n + 1);
    if (t == NULL)
        return PARLEY_ERR_NOMEM;
    ps_b64_encode(t, data, len);
    t[n] = '\0';
    e->text = t;
    e->text_len = n;
    return PARLEY_OK;
}

/* ---- reading ----------------------------------------------------------- */

const char *parley_stanza_name(const parley_stanza *e)
{
    PARLEY_MISUSE(e != NULL);
    return e->name;
}

int parley_stanza_is(const parley_stanza *e, const char *name)
{
    PARLEY_MISUSE(e != NULL && name != NULL);
    return strcmp(e->name, name) == 0;
}

static const ps_attr *find_attr(const parley_stanza *e, const char *name)
{
    size_t n = strlen(name);
    for (const ps_attr *a = e->attrs; a != NULL; a = a->next)
        if (a->name_len == n && memcmp(a->name, name, n) == 0)
            return a;
    return NULL;
}

const char *parley_stanza_attr(const parley_stanza *e, const char *name)
{
    PARLEY_MISUSE(e != NULL && name != NULL);
    const ps_attr *a = find_attr(e, name);
    return a != NULL ? a->value : NULL;
}

int parley_stanza_attr_u64(const parley_stanza *e, const char *name, uint64_t *value)
{
    PARLEY_MISUSE(e != NULL && name != NULL && value != NULL);
    const ps_attr *a = find_attr(e, name);
    if (a == NULL)
        return PARLEY_ERR_NOT_FOUND;
    const char *s = a->value;
    size_t n = a->value_len;
    /* One spelling per number: "0" or a digit string without leading zeros. */
    if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
        return PARLEY_ERR_DECODE;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return PARLEY_ERR_DECODE;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return PARLEY_ERR_DECODE;
        v = v * 10 + d;
    }
    *value = v;
    return PARLEY_OK;
}

size_t parley_stanza_attr_count(const parley_stanza *e)
{
    PARLEY_MISUSE(e != NULL);
    return e->attr_count;
}

int parley_stanza_attr_at(const parley_stanza *e, size_t i, const char **name, const char **value)
{
    PARLEY_MISUSE(e != NULL);
    const ps_attr *a = e->attrs;
    for (; a != NULL && i > 0; i--)
        a = a->next;
    if (a == NULL)
        return PARLEY_ERR_NOT_FOUND;
    if (name != NULL)
        *name = a->name;
    if (value != NULL)
        *value = a->value;
    return PARLEY_OK;
}

size_t parley_stanza_child_count(const parley_stanza *e)
{
    PARLEY_MISUSE(e != NULL);
    return e->child_count;
}

parley_stanza *parley_stanza_first_child(const parley_stanza *e)
{
    PARLEY_MISUSE(e != NULL);
    return e->first;
}

parley_stanza *parley_stanza_next_sibling(const parley_stanza *e)
{
    PARLEY_MISUSE(e != NULL);
    return e->next;
}

parley_stanza *parley_stanza_child(const parley_stanza *e, const char *name)
{
    PARLEY_MISUSE(e != NULL && name != NULL);
    for (parley_stanza *c = e->first; c != NULL; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

parley_stanza *parley_stanza_next_named(const parley_stanza *e)
{
    PARLEY_MISUSE(e != NULL);
    for (parley_stanza *c = e->next; c != NULL; c = c->next)
        if (c->name_len == e->name_len && memcmp(c->name, e->name, e->name_len) == 0)
            return c;
    return NULL;
}

const char *parley_stanza_text(const parley_stanza *e, size_t *len)
{
    PARLEY_MISUSE(e != NULL);
    if (len != NULL)
        *len = e->text_len;
    return e->text;
}

size_t parley_stanza_bytes_max(const parley_stanza *e)
{
    PARLEY_MISUSE(e != NULL);
    return e->text_len / 4 * 3;
}

int parley_stanza_get_bytes(const parley_stanza *e, uint8_t *out, size_t out_max, size_t *out_len)
{
    PARLEY_MISUSE(e != NULL && out_len != NULL && (out != NULL || out_max == 0));
    *out_len = 0;
    if (e->text == NULL)
        return PARLEY_OK;
    return ps_b64_decode(out, out_max, out_len, e->text, e->text_len);
}

static int attrs_equal(const parley_stanza *a, const parley_stanza *b)
{
    if (a->attr_count != b->attr_count)
        return 0;
    for (const ps_attr *x = a->attrs, *y = b->attrs; x != NULL; x = x->next, y = y->next) {
        if (x->name_len != y->name_len || memcmp(x->name, y->name, x->name_len) != 0)
            return 0;
        if (x->value_len != y->value_len || memcmp(x->value, y->value, x->value_len) != 0)
            return 0;
    }
    return 1;
}

int parley_stanza_equal(const parley_stanza *a, const parley_stanza *b)
{
    PARLEY_MISUSE(a != NULL && b != NULL);
    if (a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) != 0)
        return 0;
    if (!attrs_equal(a, b))
        return 0;
    if (a->text_len != b->text_len || (a->text_len > 0 && memcmp(a->text, b->text, a->text_len) != 0))
        return 0;
    if (a->child_count != b->child_count)
        return 0;
    for (const parley_stanza *x = a->first, *y = b->first; x != NULL; x = x->next, y = y->next)
        if (!parley_stanza_equal(x, y))
            return 0;
    return 1;
}

/*
 * The canonical writer (docs/protocol.md, "Canonical form"):
 *
 *   - no XML declaration, no byte order mark, no whitespace between elements;
 *   - `<name a="v" b="w">`: attributes in insertion order, one space before
 *     each, values in double quotes;
 *   - an element with neither children nor text is written `<name/>`;
 *   - in attribute values and text, `&` `<` `>` `"` `'` are written as
 *     `&amp;` `&lt;` `&gt;` `&quot;` `&apos;`; CR as `&#13;` everywhere,
 *     TAB and LF as `&#9;` and `&#10;` in attribute values (XML 1.0 section
 *     3.3.3 would otherwise normalise them to spaces, and section 2.11 CR LF
 *     to LF); every other character is written as itself, in UTF-8.
 *
 * The builder has already refused every character XML cannot carry, so the
 * writer cannot fail except for want of room.
 */
#include <stdlib.h>
#include <string.h>

#include "stanza/stanza_internal.h"
#include "util/safety.h"

/* Per byte: 0 copied as is, else the index of its escape in `escapes`. */
enum { ESC_NONE, ESC_AMP, ESC_LT, ESC_GT, ESC_QUOT, ESC_APOS, ESC_CR, ESC_TAB, ESC_LF };

static const struct {
    const char *s;
    size_t n;
} escapes[] = {
    {"", 0},       {"&amp;", 5},  {"&lt;", 4},  {"&gt;", 4},   {"&quot;", 6},
    {"&apos;", 6}, {"&#13;", 5},  {"&#9;", 4},  {"&#10;", 5},
};

static const uint8_t text_esc[256] = {
    ['&'] = ESC_AMP, ['<'] = ESC_LT,    ['>'] = ESC_GT,
    ['"'] = ESC_QUOT, ['\''] = ESC_APOS, ['\r'] = ESC_CR,
};
static const uint8_t attr_esc[256] = {
    ['&'] = ESC_AMP,  ['<'] = ESC_LT,     ['>'] = ESC_GT,  ['"'] = ESC_QUOT,
    ['\''] = ESC_APOS, ['\r'] = ESC_CR, ['\t'] = ESC_TAB, ['\n'] = ESC_LF,
};

static size_t escaped_len(const uint8_t *tab, const char *s, size_t n)
{
    size_t len = n;
    for (size_t i = 0; i < n; i++) {
        uint8_t k = tab[(unsigned char)s[i]];
        if (k != ESC_NONE)
            len += escapes[k].n - 1;
    }
    return len;
}

/* Recursion is bounded by PARLEY_STANZA_MAX_BUILD_DEPTH. */
static size_t element_len(const parley_stanza *e)
{
    size_t len = 1 + e->name_len; /* <name */
    for (const ps_attr *a = e->attrs; a != NULL; a = a->next)
        len += 1 + a->name_len + 2 + escaped_len(attr_esc, a->value, a->value_len) + 1;
    if (e->first == NULL && e->text == NULL)
        return len + 2; /* /> */
    len += 1;
    if (e->text != NULL)
        len += escaped_len(text_esc, e->text, e->text_len);
    for (const parley_stanza *c = e->first; c != NULL; c = c->next)
        len += element_len(c);
    return len + 2 + e->name_len + 1; /* </name> */
}

size_t parley_stanza_write_len(const parley_stanza *e)
{
    PARLEY_MISUSE(e != NULL);
    return element_len(e);
}

typedef struct {
    uint8_t *p;
    size_t len;
    size_t max;
} wcur;

static int put(wcur *w, const void *s, size_t n)
{
    if (w->max - w->len < n)
        return PARLEY_ERR_BUFFER;
    memcpy(w->p + w->len, s, n);
    w->len += n;
    return PARLEY_OK;
}

/* Copy s, escaping per tab; plain runs go out in one memcpy. */
static int put_escaped(wcur *w, const uint8_t *tab, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t k = tab[(unsigned char)s[i]];
        if (k == ESC_NONE)
            continue;
        if (put(w, s + run, i - run) != PARLEY_OK || put(w, escapes[k].s, escapes[k].n) != PARLEY_OK)
            return PARLEY_ERR_BUFFER;
        run = i + 1;
    }
    return put(w, s + run, n - run);
}

static int write_element(wcur *w, const parley_stanza *e)
{
    int rc = PARLEY_OK;
    GUARD(put(w, "<", 1));
    GUARD(put(w, e->name, e->name_len));
    for (const ps_attr *a = e->attrs; a != NULL; a = a->next) {
        GUARD(put(w, " ", 1));
        GUARD(put(w, a->name, a->name_len));
        GUARD(put(w, "=\"", 2));
        GUARD(put_escaped(w, attr_esc, a->value, a->value_len));
        GUARD(put(w, "\"", 1));
    }
    if (e->first == NULL && e->text == NULL) {
        GUARD(put(w, "/>", 2));
        goto out;
    }
    GUARD(put(w, ">", 1));
    if (e->text != NULL)
        GUARD(put_escaped(w, text_esc, e->text, e->text_len));
    for (const parley_stanza *c = e->first; c != NULL; c = c->next)
        GUARD(write_element(w, c));
    GUARD(put(w, "</", 2));
    GUARD(put(w, e->name, e->name_len));
    GUARD(put(w, ">", 1));
out:
    return rc;
}

int parley_stanza_write(const parley_stanza *e, uint8_t *out, size_t out_max, size_t *out_len)
{
    PARLEY_MISUSE(e != NULL && out_len != NULL && (out != NULL || out_max == 0));
    wcur w = {out, 0, out_max};
    *out_len = 0;
    int rc = write_element(&w, e);
    if (rc == PARLEY_OK)
        *out_len = w.len;
    return rc;
}

int parley_stanza_write_alloc(const parley_stanza *e, uint8_t **out, size_t *out_len)
{
    PARLEY_MISUSE(e != NULL && out != NULL && out_len != NULL);
    int rc;
    uint8_t *buf = NULL;
    *out = NULL;
    *out_len = 0;
    size_t n = parley_stanza_write_len(e);
    ENSURE(n < SIZE_MAX, PARLEY_ERR_BUFFER);
    buf = malloc(n + 1);
    ENSURE(buf != NULL, PARLEY_ERR_NOMEM);
    size_t got = 0;
    GUARD(parley_stanza_write(e, buf, n, &got));
    buf[got] = '\0';
    *out = buf;
    *out_len = got;
    buf = NULL;
    rc = PARLEY_OK;
out:
    free(buf);
    return rc;
}

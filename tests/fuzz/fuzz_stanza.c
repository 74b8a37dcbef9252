/*
 * libFuzzer harness for the stanza parser. Whatever the input, the parser
 * must refuse it cleanly or return a tree that writes to a canonical form
 * which parses back to an equal tree and writes to the same bytes.
 *
 * The parser keeps one expat document running across frames (parse.c,
 * parse_in_stream), so it is also checked against a second parser that
 * parses every frame as a document of its own: the same verdict and an
 * equal tree for every frame. The input is cut into several frames at each
 * 0xFF byte (never valid UTF-8, so never inside a frame that parses), and
 * the long-lived parser keeps its document across inputs, so a frame
 * follows whatever earlier frames, good or bad, left behind.
 */
#include <stdlib.h>
#include <string.h>

#include "parley/stanza.h"
#include "stanza/stanza_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_frame(parley_stanza_parser *p, parley_stanza_parser *alone, const uint8_t *data,
                      size_t size)
{
    parley_stanza *t = NULL, *u = NULL, *a = NULL;
    uint8_t *w1 = NULL, *w2 = NULL;
    size_t n1 = 0, n2 = 0;
    int rc = parley_stanza_parser_parse(p, data, size, &t);
    int rca = ps_parser_parse_alone(alone, data, size, &a);
    if (rc != rca && rc != PARLEY_ERR_NOMEM && rca != PARLEY_ERR_NOMEM)
        abort();
    if (rc != PARLEY_OK) {
        if (t != NULL || rc > PARLEY_ERR_STANZA_SYNTAX || rc < -399)
            if (rc != PARLEY_ERR_NOMEM)
                abort();
        parley_stanza_free(a);
        return;
    }
    if (a != NULL && !parley_stanza_equal(t, a))
        abort();
    /* Walk the tree through the public accessors. */
    for (parley_stanza *c = parley_stanza_first_child(t); c != NULL;
         c = parley_stanza_next_sibling(c)) {
        uint8_t bin[256];
        size_t bn;
        int brc = parley_stanza_get_bytes(c, bin, sizeof bin, &bn);
        if (brc != PARLEY_OK && brc != PARLEY_ERR_STANZA_BASE64 && brc != PARLEY_ERR_BUFFER)
            abort();
        (void)parley_stanza_attr(c, "id");
    }
    if (parley_stanza_write_alloc(t, &w1, &n1) != PARLEY_OK)
        abort();
    if (n1 != parley_stanza_write_len(t))
        abort();
    /* The canonical form can be longer than the input (escapes), so its
     * re-parse may exceed the size limit; compare only when it fits. */
    if (n1 <= PARLEY_STANZA_MAX_SIZE) {
        if (parley_stanza_parser_parse(p, w1, n1, &u) != PARLEY_OK)
            abort();
        if (!parley_stanza_equal(t, u))
            abort();
        if (parley_stanza_write_alloc(u, &w2, &n2) != PARLEY_OK || n1 != n2 ||
            memcmp(w1, w2, n1) != 0)
            abort();
    }
    free(w1);
    free(w2);
    parley_stanza_free(u);
    parley_stanza_free(a);
    parley_stanza_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static parley_stanza_parser *p, *alone;
    if (p == NULL && parley_stanza_parser_new(&p, NULL) != PARLEY_OK)
        abort();
    if (alone == NULL && parley_stanza_parser_new(&alone, NULL) != PARLEY_OK)
        abort();
    /* The whole input as one frame, then each piece between 0xFF bytes. */
    one_frame(p, alone, data, size);
    const uint8_t *end = data + size, *at = data;
    while (at < end) {
        const uint8_t *cut = memchr(at, 0xFF, (size_t)(end - at));
        if (cut == NULL)
            break;
        one_frame(p, alone, at, (size_t)(cut - at));
        at = cut + 1;
    }
    if (at < end && at != data)
        one_frame(p, alone, at, (size_t)(end - at));
    return 0;
}

/*
 * libFuzzer harness for the stanza parser. Whatever the input, the parser
 * must refuse it cleanly or return a tree that writes to a canonical form
 * which parses back to an equal tree and writes to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "parley/stanza.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static parley_stanza_parser *p;
    if (p == NULL && parley_stanza_parser_new(&p, NULL) != PARLEY_OK)
        abort();
    parley_stanza *t = NULL, *u = NULL;
    uint8_t *w1 = NULL, *w2 = NULL;
    size_t n1 = 0, n2 = 0;
    int rc = parley_stanza_parser_parse(p, data, size, &t);
    if (rc != PARLEY_OK) {
        if (t != NULL || rc > PARLEY_ERR_STANZA_SYNTAX || rc < -399)
            if (rc != PARLEY_ERR_NOMEM)
                abort();
        return 0;
    }
    /* Walk the tree through the public accessors. */
    for (parley_stanza *c = parley_stanza_first_child(t); c != NULL; c = parley_stanza_next_sibling(c)) {
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
        if (parley_stanza_write_alloc(u, &w2, &n2) != PARLEY_OK || n1 != n2 || memcmp(w1, w2, n1) != 0)
            abort();
    }
    free(w1);
    free(w2);
    parley_stanza_free(u);
    parley_stanza_free(t);
    return 0;
}

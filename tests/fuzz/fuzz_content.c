/*
 * libFuzzer harness for content decoding and unpadding. A decoded content
 * must re-encode, decode again to the same encoding, and answer every
 * getter without fault; the first input byte also drives the unpadder.
 */
#include <stdlib.h>
#include <string.h>

#include "parley/content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const parley_content *c)
{
    const char *a, *b, *d;
    int r;
    size_t n;
    uint64_t ts;
    parley_receipt_type rt;
    parley_typing_action ta;
    parley_attachment att;
    (void)parley_content_id(c);
    (void)parley_content_timestamp(c);
    (void)parley_content_text(c);
    if (parley_content_quote(c, &a, &b, &d) == PARLEY_OK && a == NULL)
        abort(); /* a quote always names its message */
    for (size_t i = 0; i < parley_content_attachment_count(c); i++)
        if (parley_content_attachment(c, i, &att) != PARLEY_OK || att.url == NULL)
            abort();
    if (parley_content_reaction(c, &a, &b, &d, &r) == PARLEY_OK && (a == NULL || b == NULL))
        abort();
    if (parley_content_edit(c, &a, &b) == PARLEY_OK && (a == NULL || b == NULL))
        abort();
    if (parley_content_delete_target(c, &a) == PARLEY_OK && a == NULL)
        abort();
    if (parley_content_receipt(c, &rt, &n, &ts) == PARLEY_OK)
        for (size_t i = 0; i < n; i++)
            if (parley_content_receipt_id(c, i) == NULL)
                abort();
    int trc = parley_content_typing(c, &ta); /* any action value may arrive */
    (void)trc;
    parley_content *orig = NULL;
    if (parley_content_sync(c, &a, &orig, NULL) == PARLEY_OK) {
        if (orig == NULL || parley_content_get_kind(orig) == PARLEY_CONTENT_SYNC)
            abort();
        walk(orig);
    }
    parley_content_free(orig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t clen;
    if (parley_content_unpad(data, size, &clen) == PARLEY_OK && clen >= size)
        abort();

    parley_content *c = NULL, *d = NULL;
    if (parley_content_decode(&c, data, size, NULL) != PARLEY_OK) {
        if (c != NULL)
            abort();
        return 0;
    }
    walk(c);
    size_t n = parley_content_encoded_len(c), n2 = 0;
    uint8_t *e1 = malloc(n + 1), *e2 = malloc(n + 1);
    if (e1 == NULL || e2 == NULL)
        abort();
    /* Everything decoded re-encodes (the encoder holds itself to the same
     * default limits the decoder used). */
    if (parley_content_encode(c, e1, n, &n2) != PARLEY_OK || n2 != n)
        abort();
    if (parley_content_decode(&d, e1, n, NULL) != PARLEY_OK)
        abort();
    if (parley_content_encode(d, e2, n, &n2) != PARLEY_OK || n2 != n || memcmp(e1, e2, n) != 0)
        abort();
    free(e1);
    free(e2);
    parley_content_free(d);
    parley_content_free(c);
    return 0;
}

/*
 * Property tests for the stanza writer and parser, on generated trees:
 *
 *   parse(write(x)) == x                      (structural equality)
 *   write(parse(write(x))) == write(x)        (byte for byte)
 *   write_len(x) == length of write(x)
 *
 * Names are random legal names, attribute values and texts draw on every
 * character that needs escaping, whitespace, and multi-byte UTF-8 up to
 * U+10FFFF; leaves carry text, binary content or nothing. The generator is
 * seeded, so a failure reproduces: `test_stanza_roundtrip SEED [COUNT]`.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "parley/stanza.h"

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    /* xorshift64*: reproducible across platforms, good enough for shapes. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32) % n;
}

static const char *const pieces[] = {
    "a", "Z", "0", " ", "&", "<", ">", "\"", "'", "\t", "\n", "\r", "]]>", "&amp;",
    "\xc3\xa9",         /* U+00E9 */
    "\xc2\x85",         /* U+0085, a C1 control XML 1.0 allows */
    "\xe2\x82\xac",     /* U+20AC */
    "\xe2\x80\xa8",     /* U+2028 */
    "\xef\xbf\xbd",     /* U+FFFD */
    "\xf0\x9f\x98\x80", /* U+1F600 */
    "\xf4\x8f\xbf\xbf", /* U+10FFFF */
    "=", "/", "?", "!", "#", ";", "--",
};

static size_t random_string(char *out, size_t max_pieces)
{
    size_t n = 0, k = rnd((uint32_t)max_pieces + 1);
    for (size_t i = 0; i < k; i++) {
        const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(p);
        memcpy(out + n, p, l);
        n += l;
    }
    out[n] = '\0';
    return n;
}

static void random_name(char *out)
{
    static const char start[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    static const char rest[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789.-";
    size_t n = 0, len = 1 + rnd(10);
    out[n++] = start[rnd(sizeof start - 1)];
    for (size_t i = 1; i < len; i++)
        out[n++] = rest[rnd(sizeof rest - 1)];
    if (rnd(6) == 0) {
        out[n++] = ':';
        out[n++] = start[rnd(sizeof start - 1)];
        for (size_t i = 0, m = rnd(5); i < m; i++)
            out[n++] = rest[rnd(sizeof rest - 1)];
    }
    out[n] = '\0';
}

static int fill(parley_stanza *e, int depth)
{
    char buf[512];
    int rc;
    size_t nattrs = rnd(5);
    for (size_t i = 0; i < nattrs; i++) {
        random_name(buf);
        char val[512];
        random_string(val, 12);
        /* A repeated name replaces the value in place: fine for the property. */
        if ((rc = parley_stanza_set_attr(e, buf, val)) != PARLEY_OK)
            return rc;
    }
    uint32_t kind = depth >= 6 ? rnd(3) : rnd(5);
    if (kind == 0) {
        size_t n = random_string(buf, 20);
        return parley_stanza_set_text(e, buf, n);
    }
    if (kind == 1) {
        uint8_t bytes[200];
        size_t n = rnd(sizeof bytes);
        for (size_t i = 0; i < n; i++)
            bytes[i] = (uint8_t)rnd(256);
        return parley_stanza_set_bytes(e, bytes, n);
    }
    if (kind == 2)
        return PARLEY_OK; /* empty */
    for (size_t i = 0, n = 1 + rnd(4); i < n; i++) {
        parley_stanza *c = NULL;
        random_name(buf);
        if ((rc = parley_stanza_add_child(e, buf, &c)) != PARLEY_OK)
            return rc;
        if ((rc = fill(c, depth + 1)) != PARLEY_OK)
            return rc;
    }
    return PARLEY_OK;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x5eed5eedull;
    long count = argc > 2 ? strtol(argv[2], NULL, 0) : 2000;
    rng_state = seed ? seed : 1;

    parley_stanza_parser *p = NULL;
    CHECK_RC(parley_stanza_parser_new(&p, NULL), PARLEY_OK);
    int roundtrip_ok = 1, bytes_ok = 1, len_ok = 1, build_ok = 1, differ_ok = 1;
    long with_text = 0, deep = 0;
    for (long iter = 0; iter < count && p != NULL; iter++) {
        char name[64];
        parley_stanza *x = NULL, *y = NULL;
        uint8_t *w1 = NULL, *w2 = NULL;
        size_t n1 = 0, n2 = 0;
        random_name(name);
        if (parley_stanza_new(&x, name) != PARLEY_OK || fill(x, 1) != PARLEY_OK) {
            build_ok = 0;
            parley_stanza_free(x);
            continue;
        }
        if (parley_stanza_write_alloc(x, &w1, &n1) != PARLEY_OK ||
            n1 != parley_stanza_write_len(x))
            len_ok = 0;
        int rc = parley_stanza_parser_parse(p, w1, n1, &y);
        if (rc != PARLEY_OK || !parley_stanza_equal(x, y)) {
            if (roundtrip_ok)
                fprintf(stderr, "round trip failed (seed %llu, iteration %ld, rc %d): %s\n",
                        (unsigned long long)seed, iter, rc, w1 ? (char *)w1 : "");
            roundtrip_ok = 0;
        } else {
            if (parley_stanza_write_alloc(y, &w2, &n2) != PARLEY_OK || n1 != n2 ||
                memcmp(w1, w2, n1) != 0)
                bytes_ok = 0;
            if (memchr(w1, '&', n1) != NULL || parley_stanza_child_count(y) > 0)
                with_text++;
            if (parley_stanza_first_child(y) != NULL &&
                parley_stanza_first_child(parley_stanza_first_child(y)) != NULL)
                deep++;
            /* Equality must notice a change. */
            if (parley_stanza_set_attr(y, "zz-extra", "1") != PARLEY_OK ||
                parley_stanza_equal(x, y))
                differ_ok = 0;
        }
        free(w1);
        free(w2);
        parley_stanza_free(x);
        parley_stanza_free(y);
    }
    CHECK(build_ok);
    CHECK(len_ok);
    CHECK(roundtrip_ok);
    CHECK(bytes_ok);
    CHECK(differ_ok);
    /* The generator really made escaped and nested trees. */
    CHECK(with_text > count / 4);
    CHECK(deep > count / 10);
    parley_stanza_parser_free(p);
    TEST_MAIN_END();
}

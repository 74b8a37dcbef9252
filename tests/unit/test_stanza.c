/*
 * Stanzas: the builder, the canonical writer, and the parser's refusals
 * (docs/protocol.md, "Stanzas"). Each refusal is checked for its own code.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "parley/stanza.h"
#include "stanza/stanza_internal.h"

/* Parse a C string with the given limits (NULL: defaults); free the tree. */
static int parse_str(const char *s, const parley_stanza_limits *lim)
{
    parley_stanza *t = (parley_stanza *)(uintptr_t)1;
    int rc = parley_stanza_parse(&t, (const uint8_t *)s, strlen(s), lim);
    if (rc != PARLEY_OK && t != NULL) {
        fprintf(stderr, "FAIL: tree left behind on error %d\n", rc);
        check_failed++;
    }
    parley_stanza_free(rc == PARLEY_OK ? t : NULL);
    return rc;
}

static int parse_bytes(const uint8_t *s, size_t n)
{
    parley_stanza *t = NULL;
    int rc = parley_stanza_parse(&t, s, n, NULL);
    parley_stanza_free(t);
    return rc;
}

/* Parse s and write it back; compare with want (NULL: s itself). */
static void check_canonical(const char *s, const char *want)
{
    parley_stanza *t = NULL;
    int rc = parley_stanza_parse(&t, (const uint8_t *)s, strlen(s), NULL);
    CHECK_RC(rc, PARLEY_OK);
    if (rc != PARLEY_OK)
        return;
    uint8_t *out = NULL;
    size_t n = 0;
    CHECK_RC(parley_stanza_write_alloc(t, &out, &n), PARLEY_OK);
    if (want == NULL)
        want = s;
    CHECK(out != NULL && n == strlen(want) && memcmp(out, want, n) == 0);
    if (out != NULL && strcmp((char *)out, want) != 0)
        fprintf(stderr, "  got  %s\n  want %s\n", out, want);
    CHECK(n == parley_stanza_write_len(t));
    free(out);
    parley_stanza_free(t);
}

static void test_build_and_write(void)
{
    parley_stanza *m = NULL, *parts = NULL, *to = NULL, *enc = NULL;
    CHECK_RC(parley_stanza_new(&m, "message"), PARLEY_OK);
    CHECK_RC(parley_stanza_set_attr(m, "id", "3EB0A1"), PARLEY_OK);
    CHECK_RC(parley_stanza_set_attr(m, "to", "bob@example.net"), PARLEY_OK);
    CHECK_RC(parley_stanza_set_attr(m, "type", "text"), PARLEY_OK);
    CHECK_RC(parley_stanza_add_child(m, "participants", &parts), PARLEY_OK);
    for (int i = 1; i <= 2; i++) {
        char jid[32];
        snprintf(jid, sizeof jid, "bob@example.net/%d", i);
        CHECK_RC(parley_stanza_add_child(parts, "to", &to), PARLEY_OK);
        CHECK_RC(parley_stanza_set_attr(to, "jid", jid), PARLEY_OK);
        CHECK_RC(parley_stanza_add_child(to, "enc", &enc), PARLEY_OK);
        CHECK_RC(parley_stanza_set_attr(enc, "v", "2"), PARLEY_OK);
        CHECK_RC(parley_stanza_set_attr(enc, "type", i == 1 ? "pkmsg" : "msg"), PARLEY_OK);
        const uint8_t bytes[5] = {0x00, 0xff, 0x10, 0x20, (uint8_t)i};
        CHECK_RC(parley_stanza_set_bytes(enc, bytes, sizeof bytes), PARLEY_OK);
    }
    /* Replacing an attribute keeps its place. */
    CHECK_RC(parley_stanza_set_attr(m, "to", "bob@example.net"), PARLEY_OK);
    CHECK_RC(parley_stanza_set_attr_u64(m, "t", 1764000000), PARLEY_OK);
    const char *want = "<message id=\"3EB0A1\" to=\"bob@example.net\" type=\"text\" t=\"1764000000\">"
                       "<participants>"
                       "<to jid=\"bob@example.net/1\"><enc v=\"2\" type=\"pkmsg\">AP8QIAE=</enc></to>"
                       "<to jid=\"bob@example.net/2\"><enc v=\"2\" type=\"msg\">AP8QIAI=</enc></to>"
                       "</participants></message>";
    uint8_t buf[512];
    size_t n = 0;
    CHECK_RC(parley_stanza_write(m, buf, sizeof buf, &n), PARLEY_OK);
    CHECK(n == strlen(want) && memcmp(buf, want, n) == 0);
    CHECK(n == parley_stanza_write_len(m));
    CHECK_RC(parley_stanza_write(m, buf, n - 1, &n), PARLEY_ERR_BUFFER);
    CHECK(n == 0);

    /* Accessors. */
    CHECK(parley_stanza_is(m, "message"));
    CHECK(strcmp(parley_stanza_attr(m, "id"), "3EB0A1") == 0);
    CHECK(parley_stanza_attr(m, "nope") == NULL);
    uint64_t t = 0;
    CHECK_RC(parley_stanza_attr_u64(m, "t", &t), PARLEY_OK);
    CHECK(t == 1764000000);
    CHECK_RC(parley_stanza_attr_u64(m, "id", &t), PARLEY_ERR_DECODE);
    CHECK_RC(parley_stanza_attr_u64(m, "zz", &t), PARLEY_ERR_NOT_FOUND);
    CHECK(parley_stanza_attr_count(m) == 4);
    const char *an = NULL, *av = NULL;
    CHECK_RC(parley_stanza_attr_at(m, 3, &an, &av), PARLEY_OK);
    CHECK(an != NULL && strcmp(an, "t") == 0 && strcmp(av, "1764000000") == 0);
    CHECK_RC(parley_stanza_attr_at(m, 4, &an, &av), PARLEY_ERR_NOT_FOUND);
    parts = parley_stanza_child(m, "participants");
    CHECK(parts != NULL && parley_stanza_child_count(parts) == 2);
    to = parley_stanza_child(parts, "to");
    CHECK(to != NULL && strcmp(parley_stanza_attr(to, "jid"), "bob@example.net/1") == 0);
    parley_stanza *to2 = parley_stanza_next_named(to);
    CHECK(to2 != NULL && parley_stanza_next_named(to2) == NULL);
    CHECK(parley_stanza_next_sibling(to) == to2);
    CHECK(parley_stanza_first_child(parts) == to);
    enc = parley_stanza_child(to2, "enc");
    uint8_t got[8];
    size_t gn = 0;
    CHECK(parley_stanza_bytes_max(enc) >= 5);
    CHECK_RC(parley_stanza_get_bytes(enc, got, sizeof got, &gn), PARLEY_OK);
    CHECK(gn == 5 && got[0] == 0 && got[1] == 0xff && got[4] == 2);
    CHECK_RC(parley_stanza_get_bytes(enc, got, 4, &gn), PARLEY_ERR_BUFFER);

    /* Text only in leaves. */
    CHECK_RC(parley_stanza_set_text(parts, "x", 1), PARLEY_ERR_STANZA_MIXED);
    CHECK_RC(parley_stanza_add_child(enc, "x", NULL), PARLEY_ERR_STANZA_MIXED);
    /* Illegal names and characters. */
    CHECK_RC(parley_stanza_add_child(m, "1abc", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parley_stanza_add_child(m, "", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parley_stanza_add_child(m, "a b", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parley_stanza_add_child(m, "a:b:c", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parley_stanza_add_child(m, ":a", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parley_stanza_add_child(m, "a:", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parley_stanza_add_child(m, "caf\xc3\xa9", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parley_stanza_set_attr(m, "x y", "v"), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parley_stanza_set_attr(m, "v", "\x01"), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parley_stanza_set_attr(m, "v", "\xc0\xaf"), PARLEY_ERR_STANZA_UTF8);
    CHECK_RC(parley_stanza_set_text(enc, "\xed\xa0\x80", 3), PARLEY_ERR_STANZA_UTF8);
    CHECK_RC(parley_stanza_set_text(enc, "a\0b", 3), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parley_stanza_new(&to, "bad name"), PARLEY_ERR_STANZA_NAME);
    CHECK(to == NULL);
    /* The failures above left the tree as it was. */
    CHECK(parley_stanza_child_count(m) == 1 && parley_stanza_attr_count(m) == 4);
    CHECK_RC(parley_stanza_write(m, buf, sizeof buf, &n), PARLEY_OK);
    CHECK(n == strlen(want) && memcmp(buf, want, n) == 0);
    parley_stanza_free(m);
}

static void test_escaping(void)
{
    parley_stanza *e = NULL, *c = NULL;
    CHECK_RC(parley_stanza_new(&e, "x"), PARLEY_OK);
    CHECK_RC(parley_stanza_set_attr(e, "a", "<&>\"' \t\n\r\xc3\xa9"), PARLEY_OK);
    CHECK_RC(parley_stanza_add_child(e, "y", &c), PARLEY_OK);
    const char text[] = "<&>\"' \t\n\r]]>\xe2\x82\xac";
    CHECK_RC(parley_stanza_set_text(c, text, sizeof text - 1), PARLEY_OK);
    CHECK_RC(parley_stanza_add_child(e, "empty", NULL), PARLEY_OK);
    uint8_t *out = NULL;
    size_t n = 0;
    CHECK_RC(parley_stanza_write_alloc(e, &out, &n), PARLEY_OK);
    const char *want = "<x a=\"&lt;&amp;&gt;&quot;&apos; &#9;&#10;&#13;\xc3\xa9\">"
                       "<y>&lt;&amp;&gt;&quot;&apos; \t\n&#13;]]&gt;\xe2\x82\xac</y><empty/></x>";
    CHECK(out != NULL && strcmp((char *)out, want) == 0);
    /* And back: the parse restores every character. */
    parley_stanza *back = NULL;
    CHECK_RC(parley_stanza_parse(&back, out, n, NULL), PARLEY_OK);
    CHECK(back != NULL && parley_stanza_equal(e, back));
    if (back != NULL) {
        size_t tl = 0;
        const char *t = parley_stanza_text(parley_stanza_child(back, "y"), &tl);
        CHECK(t != NULL && tl == sizeof text - 1 && memcmp(t, text, tl) == 0);
        CHECK(strcmp(parley_stanza_attr(back, "a"), "<&>\"' \t\n\r\xc3\xa9") == 0);
    }
    parley_stanza_free(back);
    free(out);
    parley_stanza_free(e);
}

static void test_copy(void)
{
    const char *s = "<iq id=\"1\" type=\"get\"><query><item k=\"v\">t</item><item/></query></iq>";
    parley_stanza *src = NULL, *dst = NULL, *c = NULL;
    CHECK_RC(parley_stanza_parse(&src, (const uint8_t *)s, strlen(s), NULL), PARLEY_OK);
    CHECK_RC(parley_stanza_new(&dst, "wrap"), PARLEY_OK);
    CHECK_RC(parley_stanza_add_copy(dst, src, &c), PARLEY_OK);
    CHECK(c != NULL && parley_stanza_equal(c, src));
    parley_stanza_free(src);
    /* Copy a tree into itself: the copy sees the tree as it was. */
    CHECK_RC(parley_stanza_add_copy(parley_stanza_child(c, "query"), dst, NULL), PARLEY_OK);
    uint8_t *out = NULL;
    size_t n = 0;
    CHECK_RC(parley_stanza_write_alloc(dst, &out, &n), PARLEY_OK);
    const char *want = "<wrap><iq id=\"1\" type=\"get\"><query><item k=\"v\">t</item><item/>"
                       "<wrap><iq id=\"1\" type=\"get\"><query><item k=\"v\">t</item><item/>"
                       "</query></iq></wrap></query></iq></wrap>";
    CHECK(out != NULL && strcmp((char *)out, want) == 0);
    free(out);
    parley_stanza_free(dst);
}

static void test_build_depth(void)
{
    parley_stanza *root = NULL, *e = NULL;
    CHECK_RC(parley_stanza_new(&root, "d"), PARLEY_OK);
    e = root;
    int rc = PARLEY_OK;
    size_t depth = 1;
    while ((rc = parley_stanza_add_child(e, "d", &e)) == PARLEY_OK)
        depth++;
    CHECK_RC(rc, PARLEY_ERR_STANZA_TOO_DEEP);
    CHECK(depth == PARLEY_STANZA_MAX_BUILD_DEPTH);
    CHECK_RC(parley_stanza_add_copy(root, root, NULL), PARLEY_ERR_STANZA_TOO_DEEP);
    parley_stanza_free(root);
}

static void test_canonical(void)
{
    check_canonical("<a/>", NULL);
    check_canonical("<a></a>", "<a/>");
    check_canonical("<a b='1' c=\"2\"/>", "<a b=\"1\" c=\"2\"/>");
    check_canonical("<a  b = \"1\"\n/>", "<a b=\"1\"/>");
    /* Layout whitespace between elements is dropped; a leaf keeps its text. */
    check_canonical("<a>\n  <b> x </b>\n  <c/>\n</a>", "<a><b> x </b><c/></a>");
    check_canonical("<a>   </a>", NULL);
    /* Character references and CDATA become plain characters. */
    check_canonical("<a>&#65;&#x42;&#x20AC;</a>", "<a>AB\xe2\x82\xac</a>");
    check_canonical("<a><![CDATA[<&>]]></a>", "<a>&lt;&amp;&gt;</a>");
    check_canonical("<a v=\"x&#10;y\">p\r\nq</a>", "<a v=\"x&#10;y\">p\nq</a>");
    /* XML 1.0 attribute normalisation: raw TAB/LF become spaces. */
    check_canonical("<a v=\"x\ty\nz\"/>", "<a v=\"x y z\"/>");
    check_canonical("<stream:features xmlns:stream=\"http://etherx.jabber.org/streams\" xml:lang=\"en\"/>",
                    NULL);
}

static void test_refusals(void)
{
    /* Syntax, structure. */
    CHECK_RC(parse_str("", NULL), PARLEY_ERR_STANZA_SYNTAX);
    CHECK_RC(parse_str(" <a/>", NULL), PARLEY_ERR_STANZA_SYNTAX);
    CHECK_RC(parse_str("\xef\xbb\xbf<a/>", NULL), PARLEY_ERR_STANZA_SYNTAX);
    CHECK_RC(parse_str("hello", NULL), PARLEY_ERR_STANZA_SYNTAX);
    CHECK_RC(parse_str("</a>", NULL), PARLEY_ERR_STANZA_SYNTAX);
    CHECK_RC(parse_str("<a b>", NULL), PARLEY_ERR_STANZA_SYNTAX);
    CHECK_RC(parse_str("<a b=c/>", NULL), PARLEY_ERR_STANZA_SYNTAX);
    CHECK_RC(parse_str("<a>x & y</a>", NULL), PARLEY_ERR_STANZA_SYNTAX);
    CHECK_RC(parse_str("<a>]]></a>", NULL), PARLEY_ERR_STANZA_SYNTAX);
    CHECK_RC(parse_str("<a b=\"<\"/>", NULL), PARLEY_ERR_STANZA_SYNTAX);
    /* Unbalanced and truncated. */
    CHECK_RC(parse_str("<a><b></a>", NULL), PARLEY_ERR_STANZA_TAG_MISMATCH);
    CHECK_RC(parse_str("<a></b>", NULL), PARLEY_ERR_STANZA_TAG_MISMATCH);
    CHECK_RC(parse_str("<a><b>", NULL), PARLEY_ERR_STANZA_INCOMPLETE);
    CHECK_RC(parse_str("<a", NULL), PARLEY_ERR_STANZA_INCOMPLETE);
    CHECK_RC(parse_str("<a b=\"1", NULL), PARLEY_ERR_STANZA_INCOMPLETE);
    CHECK_RC(parse_str("<a><![CDATA[x", NULL), PARLEY_ERR_STANZA_INCOMPLETE);
    /* Two roots, trailing garbage, trailing whitespace. */
    CHECK_RC(parse_str("<a/><b/>", NULL), PARLEY_ERR_STANZA_TRAILING);
    CHECK_RC(parse_str("<a/>junk", NULL), PARLEY_ERR_STANZA_TRAILING);
    CHECK_RC(parse_str("<a></a>\n", NULL), PARLEY_ERR_STANZA_TRAILING);
    CHECK_RC(parse_str("<a/><!-- c -->", NULL), PARLEY_ERR_STANZA_TRAILING);
    /* Mixed content. */
    CHECK_RC(parse_str("<a>x<b/></a>", NULL), PARLEY_ERR_STANZA_MIXED);
    CHECK_RC(parse_str("<a><b/>x</a>", NULL), PARLEY_ERR_STANZA_MIXED);
    CHECK_RC(parse_str("<a><b/>&#65;<c/></a>", NULL), PARLEY_ERR_STANZA_MIXED);
    /* Names. */
    CHECK_RC(parse_str("<1a/>", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parse_str("<a><-b/></a>", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parse_str("<a 1b=\"x\"/>", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parse_str("<a x=\">\" 1b=\"y\"/>", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parse_str("<a><b></1b></a>", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parse_str("<caf\xc3\xa9/>", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parse_str("<a caf\xc3\xa9=\"1\"/>", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parse_str("<a:b:c/>", NULL), PARLEY_ERR_STANZA_NAME);
    CHECK_RC(parse_str("<a b:=\"1\"/>", NULL), PARLEY_ERR_STANZA_NAME);
    /* Duplicate attributes. */
    CHECK_RC(parse_str("<a b=\"1\" b=\"2\"/>", NULL), PARLEY_ERR_STANZA_DUPLICATE_ATTR);
    /* Declarations, comments, processing instructions. */
    CHECK_RC(parse_str("<?xml version=\"1.0\"?><a/>", NULL), PARLEY_ERR_STANZA_XML_DECL);
    CHECK_RC(parse_str("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>", NULL),
             PARLEY_ERR_STANZA_XML_DECL);
    CHECK_RC(parse_str("<a><?xml version=\"1.0\"?></a>", NULL), PARLEY_ERR_STANZA_XML_DECL);
    CHECK_RC(parse_str("<?pi data?><a/>", NULL), PARLEY_ERR_STANZA_PI);
    CHECK_RC(parse_str("<a><?pi data?></a>", NULL), PARLEY_ERR_STANZA_PI);
    CHECK_RC(parse_str("<a><!-- note --></a>", NULL), PARLEY_ERR_STANZA_COMMENT);
    CHECK_RC(parse_str("<!-- note --><a/>", NULL), PARLEY_ERR_STANZA_COMMENT);
    /* Entities. */
    CHECK_RC(parse_str("<a>&nbsp;</a>", NULL), PARLEY_ERR_STANZA_ENTITY);
    CHECK_RC(parse_str("<a b=\"&foo;\"/>", NULL), PARLEY_ERR_STANZA_ENTITY);
    CHECK_RC(parse_str("<a>&lt;&gt;&amp;&quot;&apos;</a>", NULL), PARLEY_OK);
    /* Character references must name XML characters. */
    CHECK_RC(parse_str("<a>&#0;</a>", NULL), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parse_str("<a>&#1;</a>", NULL), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parse_str("<a>&#xD800;</a>", NULL), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parse_str("<a>&#xFFFE;</a>", NULL), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parse_str("<a>&#x110000;</a>", NULL), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parse_str("<a b=\"&#27;\"/>", NULL), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parse_str("<a>&#x10FFFF;&#9;</a>", NULL), PARLEY_OK);
    /* Raw characters XML forbids. */
    CHECK_RC(parse_str("<a>\x01</a>", NULL), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parse_str("<a b=\"\x1b\"/>", NULL), PARLEY_ERR_STANZA_CHAR);
    CHECK_RC(parse_str("<a>\xef\xbf\xbf</a>", NULL), PARLEY_ERR_STANZA_CHAR);
    static const uint8_t nul[] = {'<', 'a', '>', 0, '<', '/', 'a', '>'};
    CHECK_RC(parse_bytes(nul, sizeof nul), PARLEY_ERR_STANZA_CHAR);
}

static void test_dtd_attacks(void)
{
    const char *laughs =
        "<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
        "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
        "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
        "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
        "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
        "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
        "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">"
        "]><lolz>&lol9;</lolz>";
    CHECK_RC(parse_str(laughs, NULL), PARLEY_ERR_STANZA_DTD);
    /* External entity (XXE). */
    CHECK_RC(parse_str("<!DOCTYPE a [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><a>&xxe;</a>", NULL),
             PARLEY_ERR_STANZA_DTD);
    CHECK_RC(parse_str("<!DOCTYPE a SYSTEM \"http://127.0.0.1/evil.dtd\"><a/>", NULL),
             PARLEY_ERR_STANZA_DTD);
    /* Parameter entities. */
    CHECK_RC(parse_str("<!DOCTYPE a [<!ENTITY % pe SYSTEM \"http://127.0.0.1/x\"> %pe;]><a/>", NULL),
             PARLEY_ERR_STANZA_DTD);
    CHECK_RC(parse_str("<!DOCTYPE a [<!ENTITY % p \"<!ENTITY e 'x'>\"> %p;]><a>&e;</a>", NULL),
             PARLEY_ERR_STANZA_DTD);
    /* Quadratic blowup: one big entity used many times. */
    char *big = malloc(70000);
    CHECK(big != NULL);
    if (big != NULL) {
        size_t n = (size_t)sprintf(big, "<!DOCTYPE a [<!ENTITY e \"");
        memset(big + n, 'x', 20000);
        n += 20000;
        n += (size_t)sprintf(big + n, "\">]><a>");
        for (int i = 0; i < 2000; i++)
            n += (size_t)sprintf(big + n, "&e;");
        n += (size_t)sprintf(big + n, "</a>");
        CHECK_RC(parse_bytes((const uint8_t *)big, n), PARLEY_ERR_STANZA_DTD);
        free(big);
    }
}

static void test_utf8(void)
{
    static const struct {
        const char *s;
        int rc;
    } cases[] = {
        {"<a>\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80</a>", PARLEY_OK}, /* 2-, 3-, 4-byte */
        {"<a>\xc0\xaf</a>", PARLEY_ERR_STANZA_UTF8},                 /* overlong '/' */
        {"<a>\xc1\xbf</a>", PARLEY_ERR_STANZA_UTF8},                 /* overlong */
        {"<a>\xe0\x80\xaf</a>", PARLEY_ERR_STANZA_UTF8},             /* overlong, 3 bytes */
        {"<a>\xf0\x80\x80\xaf</a>", PARLEY_ERR_STANZA_UTF8},         /* overlong, 4 bytes */
        {"<a>\xed\xa0\x80</a>", PARLEY_ERR_STANZA_UTF8},             /* U+D800 */
        {"<a>\xed\xbf\xbf</a>", PARLEY_ERR_STANZA_UTF8},             /* U+DFFF */
        {"<a>\xf4\x90\x80\x80</a>", PARLEY_ERR_STANZA_UTF8},         /* U+110000 */
        {"<a>\xf8\x88\x80\x80\x80</a>", PARLEY_ERR_STANZA_UTF8},     /* 5-byte form */
        {"<a>\xc3</a>", PARLEY_ERR_STANZA_UTF8},                     /* truncated */
        {"<a>\xe2\x82</a>", PARLEY_ERR_STANZA_UTF8},                 /* truncated */
        {"<a>\x80</a>", PARLEY_ERR_STANZA_UTF8},                     /* lone continuation */
        {"<a>\xff</a>", PARLEY_ERR_STANZA_UTF8},
        {"<a b=\"\xe2\x28\xa1\"/>", PARLEY_ERR_STANZA_UTF8},
        {"<a>\xf0\x9f\x98", PARLEY_ERR_STANZA_UTF8}, /* truncated at the end of the frame */
        {"<a>\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf</a>", PARLEY_OK}, /* edges */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = parse_str(cases[i].s, NULL);
        CHECK_RC(rc, cases[i].rc);
        if (rc != cases[i].rc)
            fprintf(stderr, "  case %zu\n", i);
    }
}

static void test_limits(void)
{
    parley_stanza_limits lim;
    parley_stanza_limits_default(&lim);
    CHECK(lim.max_size == PARLEY_STANZA_MAX_SIZE && lim.max_depth == PARLEY_STANZA_MAX_DEPTH);

    /* Total size. */
    lim.max_size = 10;
    CHECK_RC(parse_str("<abcdefgh/>", &lim), PARLEY_ERR_STANZA_TOO_LARGE);
    CHECK_RC(parse_str("<abcdefg/>", &lim), PARLEY_OK);
    parley_stanza_limits_default(&lim);

    /* Depth: the root is depth 1. */
    lim.max_depth = 3;
    CHECK_RC(parse_str("<a><b><c/></b></a>", &lim), PARLEY_OK);
    CHECK_RC(parse_str("<a><b><c><d/></c></b></a>", &lim), PARLEY_ERR_STANZA_TOO_DEEP);
    parley_stanza_limits_default(&lim);
    /* Deep nesting against the defaults. */
    {
        char deep[4 * 1000 + 16];
        size_t n = 0;
        for (int i = 0; i < 1000; i++)
            n += (size_t)sprintf(deep + n, "<a>");
        CHECK_RC(parse_bytes((const uint8_t *)deep, n), PARLEY_ERR_STANZA_TOO_DEEP);
    }

    /* Children per element, elements in all. */
    lim.max_children = 2;
    CHECK_RC(parse_str("<a><b/><b/></a>", &lim), PARLEY_OK);
    CHECK_RC(parse_str("<a><b/><b/><b/></a>", &lim), PARLEY_ERR_STANZA_TOO_MANY_CHILDREN);
    CHECK_RC(parse_str("<a><b><c/><c/></b><b><c/><c/></b></a>", &lim), PARLEY_OK);
    parley_stanza_limits_default(&lim);
    lim.max_elements = 4;
    CHECK_RC(parse_str("<a><b/><b/><b/></a>", &lim), PARLEY_OK);
    CHECK_RC(parse_str("<a><b/><b><c/></b><b/></a>", &lim), PARLEY_ERR_STANZA_TOO_MANY_ELEMENTS);
    parley_stanza_limits_default(&lim);

    /* Attributes: count, value length (decoded), name length. */
    lim.max_attrs = 2;
    CHECK_RC(parse_str("<a x=\"1\" y=\"2\"/>", &lim), PARLEY_OK);
    CHECK_RC(parse_str("<a x=\"1\" y=\"2\" z=\"3\"/>", &lim), PARLEY_ERR_STANZA_TOO_MANY_ATTRS);
    parley_stanza_limits_default(&lim);
    lim.max_attr_len = 4;
    CHECK_RC(parse_str("<a x=\"1234\"/>", &lim), PARLEY_OK);
    CHECK_RC(parse_str("<a x=\"&amp;&amp;&amp;&amp;\"/>", &lim), PARLEY_OK);
    CHECK_RC(parse_str("<a x=\"12345\"/>", &lim), PARLEY_ERR_STANZA_ATTR_TOO_LONG);
    parley_stanza_limits_default(&lim);
    lim.max_name = 3;
    CHECK_RC(parse_str("<abc def=\"1\"/>", &lim), PARLEY_OK);
    CHECK_RC(parse_str("<abcd/>", &lim), PARLEY_ERR_STANZA_NAME_TOO_LONG);
    CHECK_RC(parse_str("<a defg=\"1\"/>", &lim), PARLEY_ERR_STANZA_NAME_TOO_LONG);
    parley_stanza_limits_default(&lim);

    /* Text length, counted decoded and across expat's chunks. */
    lim.max_text = 5;
    CHECK_RC(parse_str("<a>12345</a>", &lim), PARLEY_OK);
    CHECK_RC(parse_str("<a>&lt;&lt;&lt;&lt;&lt;</a>", &lim), PARLEY_OK);
    CHECK_RC(parse_str("<a>123&#10;56</a>", &lim), PARLEY_ERR_STANZA_TEXT_TOO_LONG);
    CHECK_RC(parse_str("<a><b>123456</b></a>", &lim), PARLEY_ERR_STANZA_TEXT_TOO_LONG);
    parley_stanza_limits_default(&lim);

    /* Huge attribute and many attributes against the defaults. */
    {
        size_t n = 0, cap = 70000;
        char *s = malloc(cap);
        CHECK(s != NULL);
        if (s != NULL) {
            n = (size_t)sprintf(s, "<a v=\"");
            memset(s + n, 'x', PARLEY_STANZA_MAX_ATTR_LEN + 1);
            n += PARLEY_STANZA_MAX_ATTR_LEN + 1;
            n += (size_t)sprintf(s + n, "\"/>");
            CHECK_RC(parse_bytes((const uint8_t *)s, n), PARLEY_ERR_STANZA_ATTR_TOO_LONG);
            n = (size_t)sprintf(s, "<a");
            for (int i = 0; i <= PARLEY_STANZA_MAX_ATTRS; i++)
                n += (size_t)sprintf(s + n, " a%d=\"\"", i);
            n += (size_t)sprintf(s + n, "/>");
            CHECK_RC(parse_bytes((const uint8_t *)s, n), PARLEY_ERR_STANZA_TOO_MANY_ATTRS);
            n = (size_t)sprintf(s, "<a>");
            for (int i = 0; i <= PARLEY_STANZA_MAX_CHILDREN; i++)
                n += (size_t)sprintf(s + n, "<b/>");
            n += (size_t)sprintf(s + n, "</a>");
            CHECK_RC(parse_bytes((const uint8_t *)s, n), PARLEY_ERR_STANZA_TOO_MANY_CHILDREN);
            memset(s, 'x', cap);
            memcpy(s, "<a>", 3);
            CHECK_RC(parse_bytes((const uint8_t *)s, PARLEY_STANZA_MAX_SIZE + 1),
                     PARLEY_ERR_STANZA_TOO_LARGE);
            free(s);
        }
    }
}

static void test_base64(void)
{
    static const struct {
        const char *text;
        int rc;
        size_t len;
    } cases[] = {
        {"", PARLEY_OK, 0},
        {"Zg==", PARLEY_OK, 1},
        {"Zm8=", PARLEY_OK, 2},
        {"Zm9v", PARLEY_OK, 3},
        {"Zm9vYg==", PARLEY_OK, 4},
        {"Zh==", PARLEY_ERR_STANZA_BASE64, 0}, /* non-zero pad bits */
        {"Zm9=", PARLEY_ERR_STANZA_BASE64, 0},
        {"Zg", PARLEY_ERR_STANZA_BASE64, 0},   /* missing padding */
        {"Zg=", PARLEY_ERR_STANZA_BASE64, 0},
        {"Z===", PARLEY_ERR_STANZA_BASE64, 0},
        {"Zm 9v", PARLEY_ERR_STANZA_BASE64, 0},
        {"Zm9v\n", PARLEY_ERR_STANZA_BASE64, 0},
        {"Zg==Zg==", PARLEY_ERR_STANZA_BASE64, 0}, /* padding inside */
        {"Zm-_", PARLEY_ERR_STANZA_BASE64, 0},     /* URL alphabet */
        {"====", PARLEY_ERR_STANZA_BASE64, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parley_stanza *e = NULL;
        CHECK_RC(parley_stanza_new(&e, "enc"), PARLEY_OK);
        if (e == NULL)
            continue;
        CHECK_RC(parley_stanza_set_text(e, cases[i].text, strlen(cases[i].text)), PARLEY_OK);
        uint8_t out[16];
        size_t n = 99;
        int rc = parley_stanza_get_bytes(e, out, sizeof out, &n);
        CHECK_RC(rc, cases[i].rc);
        if (rc == PARLEY_OK)
            CHECK(n == cases[i].len && (n == 0 || memcmp(out, "foob", n) == 0));
        parley_stanza_free(e);
    }
    /* Every length round-trips through set_bytes/get_bytes. */
    parley_stanza *e = NULL;
    CHECK_RC(parley_stanza_new(&e, "enc"), PARLEY_OK);
    uint8_t in[64], out[64];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    int ok = 1;
    for (size_t n = 0; n <= sizeof in; n++) {
        size_t got = 0;
        if (parley_stanza_set_bytes(e, in, n) != PARLEY_OK ||
            parley_stanza_get_bytes(e, out, sizeof out, &got) != PARLEY_OK || got != n ||
            memcmp(in, out, n) != 0)
            ok = 0;
    }
    CHECK(ok);
    parley_stanza_free(e);
}

static void test_parser_reuse(void)
{
    parley_stanza_parser *p = NULL;
    CHECK_RC(parley_stanza_parser_new(&p, NULL), PARLEY_OK);
    const char *good = "<ack id=\"7\" class=\"message\"/>";
    const char *bad[] = {"<a><b></a>", "<!DOCTYPE a><a/>", "<a>x<b/></a>", "<a/><b/>",
                         "<a><!-- c --></a>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parley_stanza *t = NULL;
        CHECK(parley_stanza_parser_parse(p, (const uint8_t *)bad[i], strlen(bad[i]), &t) != PARLEY_OK);
        CHECK(t == NULL);
        CHECK_RC(parley_stanza_parser_parse(p, (const uint8_t *)good, strlen(good), &t), PARLEY_OK);
        CHECK(t != NULL && parley_stanza_is(t, "ack") &&
              strcmp(parley_stanza_attr(t, "class"), "message") == 0);
        parley_stanza_free(t);
    }
    parley_stanza_parser_free(p);
    parley_stanza_limits lim;
    parley_stanza_limits_default(&lim);
    lim.max_depth = 0;
    p = (parley_stanza_parser *)(uintptr_t)1;
    CHECK_RC(parley_stanza_parser_new(&p, &lim), PARLEY_ERR_INVALID_ARG);
    CHECK(p == NULL);
}

/*
 * One parser keeps an expat document running across frames (parse.c,
 * parse_in_stream): every frame must get the verdict and the tree it gets
 * as a document of its own, whatever frames came before it, including
 * ones that try to close or reopen the running document's wrapper.
 */
static void test_running_document(void)
{
    static const char *const frames[] = {
        "<ack id=\"1\"/>", "<a><b></a>", "<message to=\"a@b\"><body>hi</body></message>",
        "</s>", "<ack id=\"2\"/>", "<s><t/></s>", "<s>", "<a/>", "<a/><b/>", "<a>", "</a>",
        "<a/>", "<a b=\"1", "<a/>", "<a><!-- c --></a>", "<r x=\"&amp;&lt;\">t&gt;</r>",
        "<a>&nbsp;</a>", "<a/>junk", "<?xml version=\"1.0\"?><a/>",
        "<a><?xml version=\"1.0\"?></a>", "<!DOCTYPE a><a/>", "<a>\x01</a>", "<1a/>",
        "<a>x<b/></a>", "<a b=\"1\" b=\"2\"/>", "<a><![CDATA[x", "<a><![CDATA[<b/>]]></a>",
        "<a/>\n", "<a/>"};
    parley_stanza_parser *p = NULL, *alone = NULL;
    CHECK_RC(parley_stanza_parser_new(&p, NULL), PARLEY_OK);
    CHECK_RC(parley_stanza_parser_new(&alone, NULL), PARLEY_OK);
    if (p == NULL || alone == NULL)
        goto out;
    /* Three rounds, so that each frame also follows the last one. */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
            const uint8_t *f = (const uint8_t *)frames[i];
            size_t n = strlen(frames[i]);
            parley_stanza *t = NULL, *a = NULL;
            int rc = parley_stanza_parser_parse(p, f, n, &t);
            int rca = ps_parser_parse_alone(alone, f, n, &a);
            CHECK_RC(rc, rca);
            CHECK((rc == PARLEY_OK) == (t != NULL));
            if (rc == PARLEY_OK)
                CHECK(a != NULL && parley_stanza_equal(t, a));
            if (rc != rca)
                fprintf(stderr, "  frame %zu: %s\n", i, frames[i]);
            parley_stanza_free(t);
            parley_stanza_free(a);
        }
    }
    /* Past the document's bound on frames many times over: 2,000 frames,
     * each with names no earlier frame used, all parsed, each tree its own. */
    for (int i = 0; i < 2000; i++) {
        char f[160], child[16];
        int n = snprintf(f, sizeof f, "<e%d a%d=\"%d\"><c%d>%0*d</c%d></e%d>", i, i, i, i,
                         i % 64 + 1, 0, i, i);
        snprintf(child, sizeof child, "c%d", i);
        parley_stanza *t = NULL;
        CHECK_RC(parley_stanza_parser_parse(p, (const uint8_t *)f, (size_t)n, &t), PARLEY_OK);
        CHECK(t != NULL && parley_stanza_first_child(t) != NULL &&
              parley_stanza_is(parley_stanza_first_child(t), child));
        parley_stanza_free(t);
    }
    /* And past its bound on bytes: frames near the size limit, each
     * followed by a small one. */
    size_t big = 60000;
    char *f = malloc(big + 16);
    CHECK(f != NULL);
    for (int i = 0; f != NULL && i < 12; i++) {
        memcpy(f, "<b>", 3);
        memset(f + 3, 'a' + i, big);
        memcpy(f + 3 + big, "</b>", 4);
        parley_stanza *t = NULL;
        CHECK_RC(parley_stanza_parser_parse(p, (const uint8_t *)f, big + 7, &t), PARLEY_OK);
        size_t tn = 0;
        const char *text = t != NULL ? parley_stanza_text(t, &tn) : NULL;
        CHECK(text != NULL && tn == big && text[0] == 'a' + i && text[big - 1] == 'a' + i);
        parley_stanza_free(t);
        CHECK_RC(parley_stanza_parser_parse(p, (const uint8_t *)"<c/>", 4, &t), PARLEY_OK);
        parley_stanza_free(t);
    }
    free(f);
out:
    parley_stanza_parser_free(p);
    parley_stanza_parser_free(alone);
}

static void test_strerror(void)
{
    int codes[] = {PARLEY_ERR_STANZA_SYNTAX,        PARLEY_ERR_STANZA_TOO_LARGE,
                   PARLEY_ERR_STANZA_TOO_DEEP,      PARLEY_ERR_STANZA_TOO_MANY_CHILDREN,
                   PARLEY_ERR_STANZA_TOO_MANY_ATTRS, PARLEY_ERR_STANZA_ATTR_TOO_LONG,
                   PARLEY_ERR_STANZA_DTD,           PARLEY_ERR_STANZA_ENTITY,
                   PARLEY_ERR_STANZA_PI,            PARLEY_ERR_STANZA_UTF8,
                   PARLEY_ERR_STANZA_NAME,          PARLEY_ERR_STANZA_TEXT_TOO_LONG,
                   PARLEY_ERR_STANZA_XML_DECL,      PARLEY_ERR_STANZA_MIXED,
                   PARLEY_ERR_STANZA_CHAR,          PARLEY_ERR_STANZA_NAME_TOO_LONG,
                   PARLEY_ERR_STANZA_TOO_MANY_ELEMENTS, PARLEY_ERR_STANZA_BASE64,
                   PARLEY_ERR_STANZA_COMMENT,       PARLEY_ERR_STANZA_TRAILING,
                   PARLEY_ERR_STANZA_DUPLICATE_ATTR, PARLEY_ERR_STANZA_INCOMPLETE,
                   PARLEY_ERR_STANZA_TAG_MISMATCH};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = parley_strerror(codes[i]);
        CHECK(strncmp(s, "stanza_", 7) == 0);
        for (size_t j = 0; j < i; j++)
            CHECK(codes[i] != codes[j] && strcmp(s, parley_strerror(codes[j])) != 0);
    }
}

int main(void)
{
    test_build_and_write();
    test_escaping();
    test_copy();
    test_build_depth();
    test_canonical();
    test_refusals();
    test_dtd_attacks();
    test_utf8();
    test_limits();
    test_base64();
    test_parser_reuse();
    test_running_document();
    test_strerror();
    TEST_MAIN_END();
}

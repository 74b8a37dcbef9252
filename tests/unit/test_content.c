/*
 * Message content: every kind built, encoded, decoded and read back; unknown
 * fields surviving decode -> encode; the decoder's refusals and limits; the
 * padding (docs/protocol.md, "Message content", "Padding").
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "parley/content.h"

static uint8_t buf[65536];

/* Encode c, decode the bytes, re-encode: both encodings must be equal. */
static parley_content *roundtrip(const parley_content *c)
{
    size_t n = 0, n2 = 0;
    static uint8_t again[65536];
    parley_content *d = NULL;
    CHECK_RC(parley_content_encode(c, buf, sizeof buf, &n), PARLEY_OK);
    CHECK(n == parley_content_encoded_len(c));
    CHECK_RC(parley_content_decode(&d, buf, n, NULL), PARLEY_OK);
    if (d == NULL)
        return NULL;
    CHECK_RC(parley_content_encode(d, again, sizeof again, &n2), PARLEY_OK);
    CHECK(n2 == n && memcmp(buf, again, n) == 0);
    return d;
}

static int decode_rc(const uint8_t *p, size_t n, const parley_content_limits *lim)
{
    parley_content *d = (parley_content *)(uintptr_t)1;
    int rc = parley_content_decode(&d, p, n, lim);
    if (rc != PARLEY_OK)
        CHECK(d == NULL);
    parley_content_free(rc == PARLEY_OK ? d : NULL);
    return rc;
}

static void fill_attachment(parley_attachment *a, uint8_t seed)
{
    memset(a, 0, sizeof *a);
    a->url = "https://media.provider.example/blob/7f3a";
    for (int i = 0; i < 32; i++) {
        a->media_key[i] = (uint8_t)(seed + i);
        a->plaintext_sha256[i] = (uint8_t)(seed ^ i);
        a->encrypted_sha256[i] = (uint8_t)(seed * 3 + i);
    }
    a->size = 123456789;
    a->mime_type = "image/jpeg";
    a->file_name = "caf\xc3\xa9.jpg";
    a->width = 1024;
    a->height = 768;
    a->type = PARLEY_MEDIA_IMAGE;
    static const uint8_t thumb[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10};
    a->thumbnail = thumb;
    a->thumbnail_len = sizeof thumb;
}

static void test_message(void)
{
    parley_content *c = NULL, *d = NULL;
    CHECK_RC(parley_content_new(&c), PARLEY_OK);
    CHECK(parley_content_get_kind(c) == PARLEY_CONTENT_NONE);
    size_t empty_len = 99;
    CHECK_RC(parley_content_encode(c, NULL, 0, &empty_len), PARLEY_OK); /* empty: zero bytes */
    CHECK(empty_len == 0);
    CHECK_RC(parley_content_set_id(c, "3EB0C8A1F2D4"), PARLEY_OK);
    parley_content_set_timestamp(c, 1764000000123ull);
    CHECK_RC(parley_content_set_text(c, "hello \xf0\x9f\x91\x8b"), PARLEY_OK);
    CHECK_RC(parley_content_set_quote(c, "Q1", "alice@provider.example", "earlier"), PARLEY_OK);
    parley_attachment a;
    fill_attachment(&a, 7);
    CHECK_RC(parley_content_add_attachment(c, &a), PARLEY_OK);
    fill_attachment(&a, 9);
    a.type = PARLEY_MEDIA_AUDIO;
    a.duration_ms = 4200;
    a.width = a.height = 0;
    a.thumbnail = NULL;
    a.mime_type = NULL;
    CHECK_RC(parley_content_add_attachment(c, &a), PARLEY_OK);
    /* Replacing the text keeps quote and attachments. */
    CHECK_RC(parley_content_set_text(c, "hello again"), PARLEY_OK);

    d = roundtrip(c);
    CHECK(d != NULL);
    if (d != NULL) {
        CHECK(parley_content_get_kind(d) == PARLEY_CONTENT_MESSAGE);
        CHECK(strcmp(parley_content_id(d), "3EB0C8A1F2D4") == 0);
        CHECK(parley_content_timestamp(d) == 1764000000123ull);
        CHECK(strcmp(parley_content_text(d), "hello again") == 0);
        const char *qi = NULL, *qa = NULL, *qt = NULL;
        CHECK_RC(parley_content_quote(d, &qi, &qa, &qt), PARLEY_OK);
        CHECK(qi && qa && qt && strcmp(qi, "Q1") == 0 && strcmp(qa, "alice@provider.example") == 0 &&
              strcmp(qt, "earlier") == 0);
        CHECK(parley_content_attachment_count(d) == 2);
        parley_attachment g, want;
        CHECK_RC(parley_content_attachment(d, 0, &g), PARLEY_OK);
        fill_attachment(&want, 7);
        CHECK(strcmp(g.url, want.url) == 0);
        CHECK_MEM(g.media_key, want.media_key, 32);
        CHECK_MEM(g.plaintext_sha256, want.plaintext_sha256, 32);
        CHECK_MEM(g.encrypted_sha256, want.encrypted_sha256, 32);
        CHECK(g.size == 123456789 && g.width == 1024 && g.height == 768 && g.duration_ms == 0);
        CHECK(g.type == PARLEY_MEDIA_IMAGE && strcmp(g.mime_type, "image/jpeg") == 0);
        CHECK(strcmp(g.file_name, "caf\xc3\xa9.jpg") == 0);
        CHECK(g.thumbnail_len == 6 && memcmp(g.thumbnail, want.thumbnail, 6) == 0);
        CHECK_RC(parley_content_attachment(d, 1, &g), PARLEY_OK);
        CHECK(g.type == PARLEY_MEDIA_AUDIO && g.duration_ms == 4200 && g.mime_type == NULL &&
              g.thumbnail == NULL && g.media_key[0] == 9);
        CHECK_RC(parley_content_attachment(d, 2, &g), PARLEY_ERR_NOT_FOUND);
        /* Getters of other kinds. */
        const char *s = NULL;
        CHECK_RC(parley_content_edit(d, &s, &s), PARLEY_ERR_NOT_FOUND);
        CHECK_RC(parley_content_delete_target(d, &s), PARLEY_ERR_NOT_FOUND);
        CHECK_RC(parley_content_reaction(d, NULL, NULL, NULL, NULL), PARLEY_ERR_NOT_FOUND);
        CHECK_RC(parley_content_receipt(d, NULL, NULL, NULL), PARLEY_ERR_NOT_FOUND);
        parley_typing_action ta;
        CHECK_RC(parley_content_typing(d, &ta), PARLEY_ERR_NOT_FOUND);
        CHECK_RC(parley_content_sync(d, NULL, NULL, NULL), PARLEY_ERR_NOT_FOUND);
    }
    parley_content_free(d);

    /* Builder refusals leave the content as it was. */
    CHECK_RC(parley_content_set_id(c, ""), PARLEY_ERR_CONTENT_INVALID);
    CHECK_RC(parley_content_set_id(c, "has space"), PARLEY_ERR_CONTENT_INVALID);
    CHECK_RC(parley_content_set_id(c, "12345678901234567890123456789012345678901234567890123456789012345"),
             PARLEY_ERR_CONTENT_INVALID);
    CHECK_RC(parley_content_set_text(c, "bad \xc0\xaf"), PARLEY_ERR_CONTENT_INVALID);
    CHECK_RC(parley_content_set_quote(c, "", NULL, NULL), PARLEY_ERR_CONTENT_INVALID);
    a.url = "";
    CHECK_RC(parley_content_add_attachment(c, &a), PARLEY_ERR_CONTENT_INVALID);
    CHECK(strcmp(parley_content_id(c), "3EB0C8A1F2D4") == 0);
    CHECK(strcmp(parley_content_text(c), "hello again") == 0);
    CHECK(parley_content_attachment_count(c) == 2);
    parley_content_free(c);

    /* A message must show something. */
    CHECK_RC(parley_content_new(&c), PARLEY_OK);
    CHECK_RC(parley_content_set_quote(c, "Q1", NULL, NULL), PARLEY_OK);
    size_t n = 0;
    CHECK_RC(parley_content_encode(c, buf, sizeof buf, &n), PARLEY_ERR_CONTENT_INVALID);
    parley_content_free(c);
}

static void test_other_kinds(void)
{
    parley_content *c = NULL, *d = NULL;
    const char *s1 = NULL, *s2 = NULL, *s3 = NULL;
    int remove = -1;

    CHECK_RC(parley_content_new(&c), PARLEY_OK);
    CHECK_RC(parley_content_set_id(c, "R1"), PARLEY_OK);
    CHECK_RC(parley_content_set_reaction(c, "\xf0\x9f\x91\x8d", "M9", "bob@example.net", 1), PARLEY_OK);
    CHECK_RC(parley_content_set_reaction(c, "", "M9", NULL, 0), PARLEY_ERR_CONTENT_INVALID);
    d = roundtrip(c);
    CHECK(d != NULL && parley_content_get_kind(d) == PARLEY_CONTENT_REACTION);
    if (d != NULL) {
        CHECK_RC(parley_content_reaction(d, &s1, &s2, &s3, &remove), PARLEY_OK);
        CHECK(s1 && s2 && s3 && strcmp(s1, "\xf0\x9f\x91\x8d") == 0 && strcmp(s2, "M9") == 0 &&
              strcmp(s3, "bob@example.net") == 0 && remove == 1);
        CHECK(parley_content_text(d) == NULL);
    }
    parley_content_free(d);

    /* Switching kinds replaces the reaction. */
    CHECK_RC(parley_content_set_edit(c, "M9", "fixed typo"), PARLEY_OK);
    d = roundtrip(c);
    CHECK(d != NULL && parley_content_get_kind(d) == PARLEY_CONTENT_EDIT);
    if (d != NULL) {
        CHECK_RC(parley_content_edit(d, &s1, &s2), PARLEY_OK);
        CHECK(strcmp(s1, "M9") == 0 && strcmp(s2, "fixed typo") == 0);
        CHECK_RC(parley_content_reaction(d, &s1, &s2, &s3, &remove), PARLEY_ERR_NOT_FOUND);
    }
    parley_content_free(d);

    CHECK_RC(parley_content_set_delete(c, "M9"), PARLEY_OK);
    d = roundtrip(c);
    CHECK(d != NULL && parley_content_get_kind(d) == PARLEY_CONTENT_DELETE);
    if (d != NULL) {
        CHECK_RC(parley_content_delete_target(d, &s1), PARLEY_OK);
        CHECK(strcmp(s1, "M9") == 0);
    }
    parley_content_free(d);

    const char *ids[] = {"M1", "M2", "M3"};
    CHECK_RC(parley_content_set_receipt(c, PARLEY_RECEIPT_READ, ids, 3, 1764000000999ull), PARLEY_OK);
    CHECK_RC(parley_content_set_receipt(c, PARLEY_RECEIPT_READ, ids, 0, 1), PARLEY_ERR_CONTENT_INVALID);
    const char *bad_ids[] = {"M1", "bad id"};
    CHECK_RC(parley_content_set_receipt(c, PARLEY_RECEIPT_READ, bad_ids, 2, 1), PARLEY_ERR_CONTENT_INVALID);
    d = roundtrip(c);
    CHECK(d != NULL && parley_content_get_kind(d) == PARLEY_CONTENT_RECEIPT);
    if (d != NULL) {
        parley_receipt_type rt = PARLEY_RECEIPT_DELIVERY;
        size_t n = 0;
        uint64_t ts = 0;
        CHECK_RC(parley_content_receipt(d, &rt, &n, &ts), PARLEY_OK);
        CHECK(rt == PARLEY_RECEIPT_READ && n == 3 && ts == 1764000000999ull);
        CHECK(strcmp(parley_content_receipt_id(d, 2), "M3") == 0);
        CHECK(parley_content_receipt_id(d, 3) == NULL);
    }
    parley_content_free(d);

    CHECK_RC(parley_content_set_typing(c, PARLEY_TYPING_STOPPED), PARLEY_OK);
    d = roundtrip(c);
    CHECK(d != NULL && parley_content_get_kind(d) == PARLEY_CONTENT_TYPING);
    if (d != NULL) {
        parley_typing_action ta = PARLEY_TYPING_STARTED;
        CHECK_RC(parley_content_typing(d, &ta), PARLEY_OK);
        CHECK(ta == PARLEY_TYPING_STOPPED);
    }
    parley_content_free(d);
    parley_content_free(c);
}

static void test_sync(void)
{
    parley_content *orig = NULL, *c = NULL, *d = NULL, *back = NULL;
    CHECK_RC(parley_content_new(&orig), PARLEY_OK);
    CHECK_RC(parley_content_set_id(orig, "S1"), PARLEY_OK);
    CHECK_RC(parley_content_set_text(orig, "to bob"), PARLEY_OK);
    parley_attachment a;
    fill_attachment(&a, 1);
    CHECK_RC(parley_content_add_attachment(orig, &a), PARLEY_OK);

    CHECK_RC(parley_content_new(&c), PARLEY_OK);
    CHECK_RC(parley_content_set_id(c, "S1"), PARLEY_OK);
    CHECK_RC(parley_content_set_sync(c, "bob@example.net", orig), PARLEY_OK);
    /* A sync of a sync is refused. */
    parley_content *c2 = NULL;
    CHECK_RC(parley_content_new(&c2), PARLEY_OK);
    CHECK_RC(parley_content_set_sync(c2, "bob@example.net", c), PARLEY_ERR_CONTENT_INVALID);
    parley_content_free(c2);

    d = roundtrip(c);
    CHECK(d != NULL && parley_content_get_kind(d) == PARLEY_CONTENT_SYNC);
    if (d != NULL) {
        const char *dest = NULL;
        CHECK_RC(parley_content_sync(d, &dest, &back, NULL), PARLEY_OK);
        CHECK(dest != NULL && strcmp(dest, "bob@example.net") == 0);
        CHECK(back != NULL && strcmp(parley_content_text(back), "to bob") == 0);
        CHECK(back != NULL && parley_content_attachment_count(back) == 1);
        /* The original's encoding is carried exactly. */
        static uint8_t e1[4096], e2[4096];
        size_t n1 = 0, n2 = 0;
        CHECK_RC(parley_content_encode(orig, e1, sizeof e1, &n1), PARLEY_OK);
        if (back != NULL)
            CHECK_RC(parley_content_encode(back, e2, sizeof e2, &n2), PARLEY_OK);
        CHECK(n1 == n2 && memcmp(e1, e2, n1) == 0);
    }
    parley_content_free(back);
    parley_content_free(d);

    /* A hand-made sync of a sync is refused on decode. */
    size_t n = 0;
    CHECK_RC(parley_content_encode(c, buf, sizeof buf, &n), PARLEY_OK);
    uint8_t outer[4096];
    size_t o = 0;
    outer[o++] = 0x4a; /* field 9 (sync), length-delimited */
    size_t body = 2 + 3 + 3 + n;
    outer[o++] = (uint8_t)(0x80 | (body & 0x7f));
    outer[o++] = (uint8_t)(body >> 7);
    outer[o++] = 0x0a; /* destination */
    outer[o++] = 3;
    memcpy(outer + o, "a@b", 3);
    o += 3;
    outer[o++] = 0x12; /* content */
    outer[o++] = (uint8_t)(0x80 | (n & 0x7f));
    outer[o++] = (uint8_t)(n >> 7);
    CHECK(n >= 128 && n < 16384 && body >= 128 && body < 16384);
    memcpy(outer + o, buf, n);
    o += n;
    CHECK_RC(decode_rc(outer, o, NULL), PARLEY_ERR_CONTENT_INVALID);

    parley_content_free(c);
    parley_content_free(orig);
}

static void test_unknown_fields(void)
{
    /*
     * Content { id = "m1"; message = { text = "hi"; <field 15: "new"> };
     *           <field 50: varint 1>; <field 20: a future kind> }
     * Known fields first, unknown ones last in each message, as protobuf-c
     * writes them: the re-encoding must equal the input byte for byte.
     */
    static const uint8_t in[] = {
        0x0a, 0x02, 'm', '1',                       /* id */
        0x1a, 0x09,                                 /* message, 9 bytes */
        0x0a, 0x02, 'h', 'i',                       /*   text */
        0x7a, 0x03, 'n', 'e', 'w',                  /*   field 15, unknown */
        0x90, 0x03, 0x01,                           /* field 50 varint, unknown */
        0xa2, 0x01, 0x04, 0x08, 0x01, 0x10, 0x02,   /* field 20 message, unknown */
    };
    parley_content *d = NULL;
    CHECK_RC(parley_content_decode(&d, in, sizeof in, NULL), PARLEY_OK);
    if (d != NULL) {
        CHECK(parley_content_get_kind(d) == PARLEY_CONTENT_MESSAGE);
        CHECK(strcmp(parley_content_text(d), "hi") == 0);
        size_t n = 0;
        CHECK_RC(parley_content_encode(d, buf, sizeof buf, &n), PARLEY_OK);
        CHECK(n == sizeof in && memcmp(buf, in, n) == 0);
        /* And they survive a change to a known field. */
        CHECK_RC(parley_content_set_text(d, "ho"), PARLEY_OK);
        CHECK_RC(parley_content_encode(d, buf, sizeof buf, &n), PARLEY_OK);
        CHECK(n == sizeof in && buf[8] == 'h' && buf[9] == 'o' && memcmp(buf + 10, in + 10, n - 10) == 0);
    }
    parley_content_free(d);

    /* A content of a kind from the future: no known kind, carried whole. */
    static const uint8_t future[] = {0x0a, 0x02, 'f', '1', 0x10, 0x05, 0xaa, 0x01, 0x02, 0x08, 0x07};
    CHECK_RC(parley_content_decode(&d, future, sizeof future, NULL), PARLEY_OK);
    if (d != NULL) {
        CHECK(parley_content_get_kind(d) == PARLEY_CONTENT_NONE);
        CHECK(parley_content_timestamp(d) == 5);
        size_t n = 0;
        CHECK_RC(parley_content_encode(d, buf, sizeof buf, &n), PARLEY_OK);
        CHECK(n == sizeof future && memcmp(buf, future, n) == 0);
    }
    parley_content_free(d);
}

static void test_refusals(void)
{
    /* Not protobuf. */
    static const uint8_t trunc[] = {0x0a, 0x05, 'a'};
    CHECK_RC(decode_rc(trunc, sizeof trunc, NULL), PARLEY_ERR_CONTENT_DECODE);
    static const uint8_t badwire[] = {0x0f};
    CHECK_RC(decode_rc(badwire, sizeof badwire, NULL), PARLEY_ERR_CONTENT_DECODE);
    static const uint8_t wrongtype[] = {0x08, 0x01}; /* id as a varint */
    CHECK_RC(decode_rc(wrongtype, sizeof wrongtype, NULL), PARLEY_ERR_CONTENT_DECODE);
    static const uint8_t badvarint[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CHECK_RC(decode_rc(badvarint, sizeof badvarint, NULL), PARLEY_ERR_CONTENT_DECODE);
    CHECK_RC(decode_rc(NULL, 0, NULL), PARLEY_OK);
    /* Field number 0, spelt as an over-long varint tag (found by fuzzing). */
    static const uint8_t field0[] = {0x42, 0x00, 0x80, 0x00, 0x00};
    CHECK_RC(decode_rc(field0, sizeof field0, NULL), PARLEY_ERR_CONTENT_DECODE);
    static const uint8_t field0_nested[] = {0x1a, 0x07, 0x0a, 0x02, 'h', 'i', 0x80, 0x00, 0x00};
    CHECK_RC(decode_rc(field0_nested, sizeof field0_nested, NULL), PARLEY_ERR_CONTENT_DECODE);

    /* Schema rules. */
    static const uint8_t badid[] = {0x0a, 0x03, 'a', ' ', 'b', 0x42, 0x02, 0x08, 0x00};
    CHECK_RC(decode_rc(badid, sizeof badid, NULL), PARLEY_ERR_CONTENT_INVALID);
    static const uint8_t badutf8[] = {0x1a, 0x04, 0x0a, 0x02, 0xc0, 0xaf};
    CHECK_RC(decode_rc(badutf8, sizeof badutf8, NULL), PARLEY_ERR_CONTENT_INVALID);
    static const uint8_t empty_msg[] = {0x1a, 0x00};
    CHECK_RC(decode_rc(empty_msg, sizeof empty_msg, NULL), PARLEY_ERR_CONTENT_INVALID);
    static const uint8_t empty_receipt[] = {0x3a, 0x02, 0x08, 0x01};
    CHECK_RC(decode_rc(empty_receipt, sizeof empty_receipt, NULL), PARLEY_ERR_CONTENT_INVALID);
    static const uint8_t delete_no_target[] = {0x32, 0x00};
    CHECK_RC(decode_rc(delete_no_target, sizeof delete_no_target, NULL), PARLEY_ERR_CONTENT_INVALID);
    /* An attachment whose media key is 31 bytes (by hand: all lengths < 128). */
    {
        uint8_t att[128];
        size_t k = 0;
        att[k++] = 0x1a; /* Content.message */
        att[k++] = 106;
        att[k++] = 0x1a; /* Message.attachments */
        att[k++] = 104;
        att[k++] = 0x0a; /* url "u" */
        att[k++] = 1;
        att[k++] = 'u';
        att[k++] = 0x12; /* media_key, 31 bytes */
        att[k++] = 31;
        memset(att + k, 0x11, 31);
        k += 31;
        att[k++] = 0x1a; /* plaintext_sha256 */
        att[k++] = 32;
        memset(att + k, 0x22, 32);
        k += 32;
        att[k++] = 0x22; /* encrypted_sha256 */
        att[k++] = 32;
        memset(att + k, 0x33, 32);
        k += 32;
        CHECK(k == 108);
        CHECK_RC(decode_rc(att, k, NULL), PARLEY_ERR_CONTENT_INVALID);
        att[8] = 32; /* a 32-byte key: the same bytes shifted are fine */
        att[1] = 107;
        att[3] = 105;
        memmove(att + 9 + 32, att + 9 + 31, k - (9 + 31));
        att[9 + 31] = 0x11;
        CHECK_RC(decode_rc(att, k + 1, NULL), PARLEY_OK);
    }
    parley_content *c = NULL;
    parley_attachment a;
    size_t n = 0;

    /* Limits. */
    parley_content_limits lim;
    parley_content_limits_default(&lim);
    CHECK(lim.max_size == PARLEY_CONTENT_MAX_SIZE);
    static uint8_t big[PARLEY_CONTENT_MAX_SIZE + 1];
    CHECK_RC(decode_rc(big, sizeof big, NULL), PARLEY_ERR_CONTENT_TOO_LARGE);
    CHECK_RC(parley_content_new(&c), PARLEY_OK);
    CHECK_RC(parley_content_set_text(c, "0123456789"), PARLEY_OK);
    fill_attachment(&a, 5);
    CHECK_RC(parley_content_add_attachment(c, &a), PARLEY_OK);
    CHECK_RC(parley_content_add_attachment(c, &a), PARLEY_OK);
    CHECK_RC(parley_content_encode(c, buf, sizeof buf, &n), PARLEY_OK);
    CHECK_RC(parley_content_encode(c, buf, n - 1, &n), PARLEY_ERR_BUFFER);
    CHECK_RC(parley_content_encode(c, buf, sizeof buf, &n), PARLEY_OK);
    parley_content_free(c);
    lim.max_text = 9;
    CHECK_RC(decode_rc(buf, n, &lim), PARLEY_ERR_CONTENT_TOO_LARGE);
    parley_content_limits_default(&lim);
    lim.max_attachments = 1;
    CHECK_RC(decode_rc(buf, n, &lim), PARLEY_ERR_CONTENT_TOO_LARGE);
    parley_content_limits_default(&lim);
    lim.max_thumbnail = 5;
    CHECK_RC(decode_rc(buf, n, &lim), PARLEY_ERR_CONTENT_TOO_LARGE);
    parley_content_limits_default(&lim);
    lim.max_size = n - 1;
    CHECK_RC(decode_rc(buf, n, &lim), PARLEY_ERR_CONTENT_TOO_LARGE);
    lim.max_size = n;
    CHECK_RC(decode_rc(buf, n, &lim), PARLEY_OK);

    /* Receipt ids over the limit. */
    const char *ids[4] = {"a", "b", "c", "d"};
    CHECK_RC(parley_content_new(&c), PARLEY_OK);
    CHECK_RC(parley_content_set_receipt(c, PARLEY_RECEIPT_DELIVERY, ids, 4, 0), PARLEY_OK);
    CHECK_RC(parley_content_encode(c, buf, sizeof buf, &n), PARLEY_OK);
    parley_content_free(c);
    parley_content_limits_default(&lim);
    lim.max_receipt_ids = 3;
    CHECK_RC(decode_rc(buf, n, &lim), PARLEY_ERR_CONTENT_TOO_LARGE);

    /* Memory amplification: thousands of empty attachments cost far more
     * decoded than encoded; the allocation budget refuses them. */
    size_t count = 24000;
    size_t body = count * 2;
    n = 0;
    buf[n++] = 0x1a;
    buf[n++] = (uint8_t)(0x80 | (body & 0x7f));
    buf[n++] = (uint8_t)(0x80 | ((body >> 7) & 0x7f));
    buf[n++] = (uint8_t)(body >> 14);
    for (size_t i = 0; i < count; i++) {
        buf[n++] = 0x1a;
        buf[n++] = 0x00;
    }
    parley_content_limits_default(&lim);
    lim.max_attachments = SIZE_MAX; /* so that only the budget can refuse */
    CHECK_RC(decode_rc(buf, n, &lim), PARLEY_ERR_CONTENT_TOO_LARGE);
    /* A few are within the budget, and refused for what they are. */
    count = 10;
    body = count * 2;
    n = 0;
    buf[n++] = 0x1a;
    buf[n++] = (uint8_t)body;
    for (size_t i = 0; i < count; i++) {
        buf[n++] = 0x1a;
        buf[n++] = 0x00;
    }
    CHECK_RC(decode_rc(buf, n, &lim), PARLEY_ERR_CONTENT_INVALID); /* attachments lack a url */
}

static void test_padding(void)
{
    uint8_t in[64], out[64 + PARLEY_CONTENT_PAD_MAX];
    size_t n = 0, len = 0;
    int seen[PARLEY_CONTENT_PAD_MAX + 1] = {0};
    int ok = 1;
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i + 1);
    for (int iter = 0; iter < 4000; iter++) {
        size_t m = (size_t)iter % (sizeof in + 1);
        if (parley_content_pad(out, sizeof out, &n, in, m) != PARLEY_OK || n <= m ||
            n > m + PARLEY_CONTENT_PAD_MAX) {
            ok = 0;
            continue;
        }
        seen[n - m]++;
        if (parley_content_unpad(out, n, &len) != PARLEY_OK || len != m || memcmp(out, in, m) != 0)
            ok = 0;
    }
    CHECK(ok);
    for (int k = 1; k <= PARLEY_CONTENT_PAD_MAX; k++)
        CHECK(seen[k] > 0);
    CHECK_RC(parley_content_pad(out, 20, &n, in, 5), PARLEY_ERR_BUFFER);
    CHECK_RC(parley_content_pad(out, 21, &n, in, 5), PARLEY_OK);

    /* Malformed padding. */
    CHECK_RC(parley_content_unpad(NULL, 0, &len), PARLEY_ERR_CONTENT_PADDING);
    static const uint8_t zero[] = {1, 2, 0};
    CHECK_RC(parley_content_unpad(zero, sizeof zero, &len), PARLEY_ERR_CONTENT_PADDING);
    static const uint8_t seventeen[] = {17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17};
    CHECK_RC(parley_content_unpad(seventeen, sizeof seventeen, &len), PARLEY_ERR_CONTENT_PADDING);
    static const uint8_t longer[] = {3, 3};
    CHECK_RC(parley_content_unpad(longer, sizeof longer, &len), PARLEY_ERR_CONTENT_PADDING);
    static const uint8_t mixed[] = {9, 9, 4, 3, 4, 4};
    CHECK_RC(parley_content_unpad(mixed, sizeof mixed, &len), PARLEY_ERR_CONTENT_PADDING);
    static const uint8_t good[] = {9, 9, 3, 3, 3};
    CHECK_RC(parley_content_unpad(good, sizeof good, &len), PARLEY_OK);
    CHECK(len == 2);
    static const uint8_t all[] = {2, 2};
    CHECK_RC(parley_content_unpad(all, sizeof all, &len), PARLEY_OK);
    CHECK(len == 0);
    CHECK(strcmp(parley_strerror(PARLEY_ERR_CONTENT_PADDING), "content_padding") == 0);
    CHECK(strcmp(parley_strerror(PARLEY_ERR_CONTENT_INVALID), "content_invalid") == 0);
    CHECK(strcmp(parley_strerror(PARLEY_ERR_CONTENT_TOO_LARGE), "content_too_large") == 0);
}

int main(void)
{
    test_message();
    test_other_kinds();
    test_sync();
    test_unknown_fields();
    test_refusals();
    test_padding();
    TEST_MAIN_END();
}

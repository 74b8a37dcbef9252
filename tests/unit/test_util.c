/* The bounds-checked reader, the bounded buffer and the JSON reader/writer. */
#include "unit/check.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/reader.h"

#include <stdlib.h>

static void test_reader(void)
{
    const uint8_t in[] = {1, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a};
    preader r;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    preader_init(&r, in, sizeof in);
    CHECK_RC(preader_u8(&r, &u8), PARLEY_OK);
    CHECK(u8 == 1);
    CHECK_RC(preader_u16be(&r, &u16), PARLEY_OK);
    CHECK(u16 == 0x0203);
    CHECK_RC(preader_u24be(&r, &u32), PARLEY_OK);
    CHECK(u32 == 0x040506);
    /* A read past the end fails and leaves the cursor where it was. */
    size_t before = r.pos;
    CHECK_RC(preader_u64be(&r, &u64), PARLEY_ERR_DECODE);
    CHECK(r.pos == before);
    CHECK_RC(preader_u32be(&r, &u32), PARLEY_OK);
    CHECK(u32 == 0x0708090a);
    CHECK(preader_left(&r) == 0);
    CHECK_RC(preader_u8(&r, &u8), PARLEY_ERR_DECODE);
    const uint8_t *v;
    CHECK_RC(preader_view(&r, &v, 0), PARLEY_OK);
}

static void test_buf(void)
{
    pbuf b;
    pbuf_init(&b, 10);
    CHECK_RC(pbuf_append(&b, "abcdef", 6), PARLEY_OK);
    CHECK_RC(pbuf_append_u32be(&b, 0x01020304), PARLEY_OK);
    CHECK(b.len == 10);
    /* Past the maximum: refused, contents unchanged. */
    CHECK_RC(pbuf_append_u8(&b, 1), PARLEY_ERR_BUFFER);
    CHECK(b.len == 10);
    CHECK_MEM(b.data, "abcdef\x01\x02\x03\x04", 10);
    pbuf_consume(&b, 4);
    CHECK(b.len == 6);
    CHECK_MEM(b.data, "ef\x01\x02\x03\x04", 6);
    CHECK_RC(pbuf_append_u24be(&b, 0x1000000), PARLEY_ERR_INVALID_ARG);
    pbuf_free(&b);
    CHECK(b.data == NULL);
}

static void test_json(void)
{
    const char *doc = "{\"op\":\"init\",\"device\":7,\"neg\":-3,\"ok\":true,"
                      "\"s\":\"a\\u00e9\\ud83d\\ude00\\n\",\"b\":{\"k\":\"AQID\"},\"arr\":[1,2]}";
    pjson *v = NULL;
    int64_t n;
    int bl;
    uint8_t raw[8];
    size_t rl;
    CHECK_RC(pjson_parse(&v, doc, strlen(doc)), PARLEY_OK);
    CHECK(v != NULL && strcmp(pjson_get_string(v, "op"), "init") == 0);
    CHECK_RC(pjson_get_int(v, "device", 0, 100, &n), PARLEY_OK);
    CHECK(n == 7);
    CHECK_RC(pjson_get_int(v, "device", 0, 5, &n), PARLEY_ERR_DECODE);
    CHECK_RC(pjson_get_int(v, "neg", -10, 10, &n), PARLEY_OK);
    CHECK(n == -3);
    CHECK_RC(pjson_get_bool(v, "ok", &bl), PARLEY_OK);
    CHECK(bl == 1);
    CHECK_RC(pjson_get_bool(v, "op", &bl), PARLEY_ERR_DECODE);
    CHECK(strcmp(pjson_get_string(v, "s"), "a\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
    CHECK_RC(pjson_get_base64(pjson_get(v, "b"), "k", raw, sizeof raw, &rl), PARLEY_OK);
    CHECK(rl == 3 && raw[0] == 1 && raw[2] == 3);
    CHECK_RC(pjson_get_base64(pjson_get(v, "b"), "k", raw, 2, &rl), PARLEY_ERR_DECODE);
    CHECK(pjson_get(v, "missing") == NULL);
    pjson_free(v);

    const char *bad[] = {"", "{", "{\"a\":}", "{\"a\":1,}", "[1 2]", "{\"a\":\"\\x\"}",
                         "{\"a\":\"\\ud800\"}", "{\"a\":1} x", "{\"a\":\"\\u0000\"}", "tru",
                         "{\"a\":1e999}", "{\"a\":\"\x01\"}"};
    for (size_t i = 0; i < PARLEY_ARRAY_LEN(bad); i++) {
        v = NULL;
        int rc = pjson_parse(&v, bad[i], strlen(bad[i]));
        CHECK(rc == PARLEY_ERR_DECODE);
        CHECK(v == NULL);
    }
    /* Nesting beyond the limit is refused, not recursed into. */
    char deep[200];
    memset(deep, '[', sizeof deep);
    v = NULL;
    CHECK_RC(pjson_parse(&v, deep, sizeof deep), PARLEY_ERR_DECODE);

    pbuf out;
    pjson_w w;
    pbuf_init(&out, 1024);
    pjson_w_init(&w, &out);
    pjson_w_begin(&w);
    pjson_w_bool(&w, "ok", 1);
    pjson_w_string(&w, "e", "q\"\\\x01");
    pjson_w_begin_obj(&w, "o");
    pjson_w_int(&w, "n", -42);
    pjson_w_base64(&w, "b", (const uint8_t *)"\x01\x02\x03", 3);
    pjson_w_end(&w);
    pjson_w_end(&w);
    CHECK_RC(pjson_w_status(&w), PARLEY_OK);
    const char *want = "{\"ok\":true,\"e\":\"q\\\"\\\\\\u0001\",\"o\":{\"n\":-42,\"b\":\"AQID\"}}";
    CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0);
    /* What the writer writes, the reader reads back. */
    CHECK_RC(pjson_parse(&v, (const char *)out.data, out.len), PARLEY_OK);
    CHECK(strcmp(pjson_get_string(v, "e"), "q\"\\\x01") == 0);
    pjson_free(v);
    pbuf_free(&out);

    pbuf_init(&out, 4);
    pjson_w_init(&w, &out);
    pjson_w_begin(&w);
    pjson_w_string(&w, "long", "value");
    CHECK_RC(pjson_w_status(&w), PARLEY_ERR_BUFFER);
    pbuf_free(&out);
}

int main(void)
{
    test_reader();
    test_buf();
    test_json();
    TEST_MAIN_END();
}

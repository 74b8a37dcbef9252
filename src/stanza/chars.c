/*
 * Character rules shared by the builder and the parser (docs/protocol.md,
 * "Characters and names"), and the base64 of binary content.
 */
#include <string.h>

#include "stanza/stanza_internal.h"

/* ---- names ------------------------------------------------------------- */

static int name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/*
 * An ASCII subset of XML 1.0 Name (section 2.3) with at most one colon,
 * between two non-empty halves that each start with a name-start character:
 * the names of XMPP (`xml:lang`, `xmlns:stream`) fit, and any XML parser
 * reads them the same with or without namespace processing.
 */
int ps_name_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    int colon = 0;
    size_t start = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ':') {
            if (colon || i == start)
                return 0;
            colon = 1;
            start = i + 1;
            continue;
        }
        if (i == start ? !name_start(p[i]) : !name_char(p[i]))
            return 0;
    }
    return start < n;
}

/* ---- UTF-8 ------------------------------------------------------------- */

/*
 * Byte classes: 0 an allowed ASCII byte, 1 a C0 control XML forbids, 2..4
 * the lead byte of a 2..4-byte sequence, 5 a byte that can never start one
 * (continuations, C0, C1, F5..FF).
 */
static const uint8_t utf8_class[256] = {
    /* 0x00 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1,
    /* 0x10 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x20 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x30 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x40 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x50 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x60 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x70 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x80 */ 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    /* 0x90 */ 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    /* 0xa0 */ 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    /* 0xb0 */ 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    /* 0xc0 */ 5, 5, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* 0xd0 */ 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* 0xe0 */ 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    /* 0xf0 */ 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
};

static int cont(uint8_t b)
{
    return (b & 0xc0) == 0x80;
}

/*
 * Well-formed UTF-8 as in RFC 3629 section 4 (Table 3-7 of Unicode), then the
 * XML 1.0 Char production (section 2.2). The ASCII run is the hot path: most
 * of a stanza is names, ids and base64.
 */
int ps_utf8_check(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* Eight bytes at a time while they are all printable ASCII: no high
         * bit, and none below 0x20 (the classic "has less than" bit trick). */
        if (n - i >= 8) {
            uint64_t v;
            memcpy(&v, s + i, sizeof v);
            uint64_t high = v & 0x8080808080808080ull;
            uint64_t low = (v - 0x2020202020202020ull) & ~v & 0x8080808080808080ull;
            if ((high | low) == 0) {
                i += 8;
                continue;
            }
        }
        uint8_t c = utf8_class[s[i]];
        if (c == 0) {
            i++;
            continue;
        }
        if (c == 1)
            return PARLEY_ERR_STANZA_CHAR;
        if (c == 5 || n - i < c)
            return PARLEY_ERR_STANZA_UTF8;
        uint8_t b0 = s[i], b1 = s[i + 1];
        if (!cont(b1))
            return PARLEY_ERR_STANZA_UTF8;
        if (c == 3) {
            if (!cont(s[i + 2]))
                return PARLEY_ERR_STANZA_UTF8;
            if (b0 == 0xe0 && b1 < 0xa0) /* overlong */
                return PARLEY_ERR_STANZA_UTF8;
            if (b0 == 0xed && b1 >= 0xa0) /* U+D800..U+DFFF, surrogates */
                return PARLEY_ERR_STANZA_UTF8;
            if (b0 == 0xef && b1 == 0xbf && (s[i + 2] == 0xbe || s[i + 2] == 0xbf))
                return PARLEY_ERR_STANZA_CHAR; /* U+FFFE, U+FFFF */
        } else if (c == 4) {
            if (!cont(s[i + 2]) || !cont(s[i + 3]))
                return PARLEY_ERR_STANZA_UTF8;
            if (b0 == 0xf0 && b1 < 0x90) /* overlong */
                return PARLEY_ERR_STANZA_UTF8;
            if (b0 == 0xf4 && b1 >= 0x90) /* past U+10FFFF */
                return PARLEY_ERR_STANZA_UTF8;
        }
        i += c;
    }
    return PARLEY_OK;
}

/* ---- base64 ------------------------------------------------------------ */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ps_b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void ps_b64_encode(char *out, const uint8_t *in, size_t n)
{
    size_t i = 0, o = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * RFC 4648 section 3.5 lets decoders refuse non-zero pad bits; parley does,
 * and refuses missing padding and whitespace too, so that each byte string
 * has exactly one text form and parse(write(x)) == x holds for bytes.
 */
int ps_b64_decode(uint8_t *out, size_t out_max, size_t *out_len, const char *in, size_t n)
{
    const unsigned char *p = (const unsigned char *)in;
    if (n % 4 != 0)
        return PARLEY_ERR_STANZA_BASE64;
    size_t pad = 0;
    if (n > 0 && p[n - 1] == '=')
        pad = (n > 1 && p[n - 2] == '=') ? 2 : 1;
    size_t len = n / 4 * 3 - pad;
    if (len > out_max)
        return PARLEY_ERR_BUFFER;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int v0 = b64_val(p[i]), v1 = b64_val(p[i + 1]);
        int v2 = (last && pad == 2) ? 0 : b64_val(p[i + 2]);
        int v3 = (last && pad >= 1) ? 0 : b64_val(p[i + 3]);
        if (v0 < 0 || v1 < 0 || v2 < 0 || v3 < 0)
            return PARLEY_ERR_STANZA_BASE64;
        uint32_t v = (uint32_t)v0 << 18 | (uint32_t)v1 << 12 | (uint32_t)v2 << 6 | (uint32_t)v3;
        if (last && pad == 2 && (v1 & 0x0f) != 0)
            return PARLEY_ERR_STANZA_BASE64;
        if (last && pad == 1 && (v2 & 0x03) != 0)
            return PARLEY_ERR_STANZA_BASE64;
        out[o++] = (uint8_t)(v >> 16);
        if (!(last && pad == 2))
            out[o++] = (uint8_t)(v >> 8);
        if (!(last && pad >= 1))
            out[o++] = (uint8_t)v;
    }
    *out_len = o;
    return PARLEY_OK;
}

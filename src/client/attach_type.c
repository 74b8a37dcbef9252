/*
 * What kind of file is being attached (docs/client.md, "Attachments"):
 * the content's magic bytes first, the file name's extension when they say
 * nothing known, and the pixel size of PNG, GIF, JPEG and WebP images from
 * their headers. Also the file names a receiver may use.
 */
#include <string.h>
#include <strings.h>

#include "client/attach_internal.h"

static int has(const uint8_t *p, size_t n, size_t at, const char *magic, size_t len)
{
    return n >= at + len && memcmp(p + at, magic, len) == 0;
}

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}

/* JPEG: walk the marker segments to the first start-of-frame. */
static void jpeg_size(const uint8_t *p, size_t n, pcl_file_kind *k)
{
    size_t i = 2;
    while (i + 4 <= n) {
        if (p[i] != 0xFF)
            return;
        uint8_t m = p[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            i += 2;
            continue;
        }
        uint32_t len = be16(p + i + 2);
        if (len < 2)
            return;
        /* SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) */
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (i + 9 <= n) {
                k->height = be16(p + i + 5);
                k->width = be16(p + i + 7);
            }
            return;
        }
        i += 2 + len;
    }
}

static void webp_size(const uint8_t *p, size_t n, pcl_file_kind *k)
{
    if (has(p, n, 12, "VP8X", 4) && n >= 30) {
        k->width = 1 + ((uint32_t)p[24] | (uint32_t)p[25] << 8 | (uint32_t)p[26] << 16);
        k->height = 1 + ((uint32_t)p[27] | (uint32_t)p[28] << 8 | (uint32_t)p[29] << 16);
    } else if (has(p, n, 12, "VP8 ", 4) && n >= 30 && p[23] == 0x9D && p[24] == 0x01 &&
               p[25] == 0x2A) {
        k->width = le16(p + 26) & 0x3FFF;
        k->height = le16(p + 28) & 0x3FFF;
    } else if (has(p, n, 12, "VP8L", 4) && n >= 25 && p[20] == 0x2F) {
        uint32_t b = (uint32_t)p[21] | (uint32_t)p[22] << 8 | (uint32_t)p[23] << 16 |
                     (uint32_t)p[24] << 24;
        k->width = (b & 0x3FFF) + 1;
        k->height = ((b >> 14) & 0x3FFF) + 1;
    }
}

/* ISO base media (MP4, MOV, M4A, HEIC): the major brand of the ftyp box. */
static int iso_brand(const uint8_t *p, size_t n, pcl_file_kind *k)
{
    if (!has(p, n, 4, "ftyp", 4) || n < 12)
        return 0;
    const uint8_t *b = p + 8;
    if (memcmp(b, "heic", 4) == 0 || memcmp(b, "heix", 4) == 0 || memcmp(b, "mif1", 4) == 0) {
        k->type = PARLEY_MEDIA_IMAGE;
        k->mime = "image/heic";
    } else if (memcmp(b, "avif", 4) == 0) {
        k->type = PARLEY_MEDIA_IMAGE;
        k->mime = "image/avif";
    } else if (memcmp(b, "M4A ", 4) == 0 || memcmp(b, "M4B ", 4) == 0) {
        k->type = PARLEY_MEDIA_AUDIO;
        k->mime = "audio/mp4";
    } else if (memcmp(b, "qt  ", 4) == 0) {
        k->type = PARLEY_MEDIA_VIDEO;
        k->mime = "video/quicktime";
    } else if (memcmp(b, "3gp", 3) == 0) {
        k->type = PARLEY_MEDIA_VIDEO;
        k->mime = "video/3gpp";
    } else {
        k->type = PARLEY_MEDIA_VIDEO;
        k->mime = "video/mp4";
    }
    return 1;
}

static int by_magic(const uint8_t *p, size_t n, pcl_file_kind *k)
{
    if (has(p, n, 0, "\x89PNG\r\n\x1a\n", 8)) {
        k->type = PARLEY_MEDIA_IMAGE;
        k->mime = "image/png";
        if (n >= 24 && has(p, n, 12, "IHDR", 4)) {
            k->width = be32(p + 16);
            k->height = be32(p + 20);
        }
    } else if (has(p, n, 0, "\xFF\xD8\xFF", 3)) {
        k->type = PARLEY_MEDIA_IMAGE;
        k->mime = "image/jpeg";
        jpeg_size(p, n, k);
    } else if (has(p, n, 0, "GIF87a", 6) || has(p, n, 0, "GIF89a", 6)) {
        k->type = PARLEY_MEDIA_IMAGE;
        k->mime = "image/gif";
        if (n >= 10) {
            k->width = le16(p + 6);
            k->height = le16(p + 8);
        }
    } else if (has(p, n, 0, "RIFF", 4) && has(p, n, 8, "WEBP", 4)) {
        k->type = PARLEY_MEDIA_IMAGE;
        k->mime = "image/webp";
        webp_size(p, n, k);
    } else if (has(p, n, 0, "BM", 2) && n >= 26 && has(p, n, 6, "\0\0\0\0", 4)) {
        k->type = PARLEY_MEDIA_IMAGE;
        k->mime = "image/bmp";
    } else if (has(p, n, 0, "RIFF", 4) && has(p, n, 8, "WAVE", 4)) {
        k->type = PARLEY_MEDIA_AUDIO;
        k->mime = "audio/wav";
    } else if (has(p, n, 0, "RIFF", 4) && has(p, n, 8, "AVI ", 4)) {
        k->type = PARLEY_MEDIA_VIDEO;
        k->mime = "video/x-msvideo";
    } else if (iso_brand(p, n, k)) {
        /* set by iso_brand */
    } else if (has(p, n, 0, "\x1A\x45\xDF\xA3", 4)) {
        k->type = PARLEY_MEDIA_VIDEO;
        k->mime = "video/x-matroska";
        for (size_t i = 0; i + 4 <= n && i < 64; i++)
            if (memcmp(p + i, "webm", 4) == 0)
                k->mime = "video/webm";
    } else if (has(p, n, 0, "OggS", 4)) {
        /* Opus in Ogg is what voice notes are recorded as. */
        k->type = PARLEY_MEDIA_AUDIO;
        k->mime = has(p, n, 28, "OpusHead", 8) ? "audio/ogg; codecs=opus" : "audio/ogg";
    } else if (has(p, n, 0, "fLaC", 4)) {
        k->type = PARLEY_MEDIA_AUDIO;
        k->mime = "audio/flac";
    } else if (has(p, n, 0, "#!AMR", 5)) {
        k->type = PARLEY_MEDIA_AUDIO;
        k->mime = "audio/amr";
    } else if (has(p, n, 0, "ID3", 3) || (n >= 2 && p[0] == 0xFF && (p[1] & 0xE6) == 0xE2)) {
        /* an ID3 tag, or an MPEG audio frame sync (layer III or II) */
        k->type = PARLEY_MEDIA_AUDIO;
        k->mime = "audio/mpeg";
    } else if (has(p, n, 0, "%PDF-", 5)) {
        k->type = PARLEY_MEDIA_DOCUMENT;
        k->mime = "application/pdf";
    } else if (has(p, n, 0, "PK\x03\x04", 4)) {
        k->type = PARLEY_MEDIA_DOCUMENT;
        k->mime = "application/zip";
    } else if (has(p, n, 0, "\x1F\x8B", 2)) {
        k->type = PARLEY_MEDIA_DOCUMENT;
        k->mime = "application/gzip";
    } else {
        return 0;
    }
    return 1;
}

static const struct {
    const char *ext;
    parley_media_type type;
    const char *mime;
} exts[] = {
    {"jpg", PARLEY_MEDIA_IMAGE, "image/jpeg"},   {"jpeg", PARLEY_MEDIA_IMAGE, "image/jpeg"},
    {"png", PARLEY_MEDIA_IMAGE, "image/png"},    {"gif", PARLEY_MEDIA_IMAGE, "image/gif"},
    {"webp", PARLEY_MEDIA_IMAGE, "image/webp"},  {"heic", PARLEY_MEDIA_IMAGE, "image/heic"},
    {"bmp", PARLEY_MEDIA_IMAGE, "image/bmp"},    {"svg", PARLEY_MEDIA_DOCUMENT, "image/svg+xml"},
    {"mp4", PARLEY_MEDIA_VIDEO, "video/mp4"},    {"m4v", PARLEY_MEDIA_VIDEO, "video/mp4"},
    {"mov", PARLEY_MEDIA_VIDEO, "video/quicktime"}, {"webm", PARLEY_MEDIA_VIDEO, "video/webm"},
    {"mkv", PARLEY_MEDIA_VIDEO, "video/x-matroska"}, {"avi", PARLEY_MEDIA_VIDEO, "video/x-msvideo"},
    {"mp3", PARLEY_MEDIA_AUDIO, "audio/mpeg"},   {"m4a", PARLEY_MEDIA_AUDIO, "audio/mp4"},
    {"aac", PARLEY_MEDIA_AUDIO, "audio/aac"},    {"ogg", PARLEY_MEDIA_AUDIO, "audio/ogg"},
    {"oga", PARLEY_MEDIA_AUDIO, "audio/ogg"},    {"opus", PARLEY_MEDIA_AUDIO, "audio/ogg; codecs=opus"},
    {"wav", PARLEY_MEDIA_AUDIO, "audio/wav"},    {"flac", PARLEY_MEDIA_AUDIO, "audio/flac"},
    {"amr", PARLEY_MEDIA_AUDIO, "audio/amr"},    {"txt", PARLEY_MEDIA_DOCUMENT, "text/plain"},
    {"pdf", PARLEY_MEDIA_DOCUMENT, "application/pdf"}, {"zip", PARLEY_MEDIA_DOCUMENT, "application/zip"},
    {"json", PARLEY_MEDIA_DOCUMENT, "application/json"}, {"csv", PARLEY_MEDIA_DOCUMENT, "text/csv"},
    {"html", PARLEY_MEDIA_DOCUMENT, "text/html"}, {"gz", PARLEY_MEDIA_DOCUMENT, "application/gzip"},
};

void pcl_file_kind_detect(const uint8_t *head, size_t n, const char *name, pcl_file_kind *out)
{
    memset(out, 0, sizeof *out);
    out->type = PARLEY_MEDIA_DOCUMENT;
    out->mime = "application/octet-stream";
    if (by_magic(head, n, out))
        return;
    const char *base = name ? strrchr(name, '/') : NULL;
    base = base ? base + 1 : name;
    const char *dot = base ? strrchr(base, '.') : NULL;
    if (!dot || dot == base)
        return;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot + 1, exts[i].ext) == 0) {
            out->type = exts[i].type;
            out->mime = exts[i].mime;
            return;
        }
}

const char *pcl_file_ext_for_mime(const char *mime)
{
    static char ext[16];
    if (!mime)
        return "";
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(mime, exts[i].mime) == 0) {
            ext[0] = '.';
            memcpy(ext + 1, exts[i].ext, strlen(exts[i].ext) + 1);
            return ext;
        }
    return "";
}

void pcl_file_name_sanitize(const char *in, char *out, size_t out_max)
{
    const char *base = in;
    size_t o = 0, n;
    out[0] = 0;
    if (!in || out_max <= PCL_FILE_NAME_MAX)
        return;
    for (const char *p = in; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    while (*base == '.' || *base == ' ')
        base++;
    n = strlen(base);
    for (size_t i = 0; i < n && o < PCL_FILE_NAME_MAX; i++) {
        unsigned char ch = (unsigned char)base[i];
        out[o++] = ch < 0x20 || ch == 0x7F || ch == ':' ? '_' : (char)ch;
    }
    /* never end inside a UTF-8 sequence */
    if (o == PCL_FILE_NAME_MAX && n > o && ((unsigned char)base[o] & 0xC0) == 0x80) {
        while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
            o--;
        if (o > 0 && (unsigned char)out[o - 1] >= 0xC0)
            o--;
    }
    while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '.'))
        o--;
    out[o] = 0;
}

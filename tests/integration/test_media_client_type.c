/*
 * The client's file-type detection and received-file naming
 * (src/client/attach_type.c): magic bytes before extensions, image
 * dimensions from headers, bounded parsing of truncated and hostile
 * headers, and names that can never leave the media directory.
 */
#include <stdio.h>
#include <string.h>

#include "unit/check.h"
#include "client/attach_internal.h"

static void kind(const void *p, size_t n, const char *name, pcl_file_kind *k)
{
    pcl_file_kind_detect((const uint8_t *)p, n, name, k);
}

static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : 4;
        for (size_t i = 1; i < len; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += len;
    }
    return 1;
}

int main(void)
{
    pcl_file_kind k;

    /* PNG: signature, IHDR 640 x 480 */
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                  'I',  'H', 'D', 'R', 0,    0,    2,    0x80, 0, 0, 1, 0xE0};
    kind(png, sizeof png, "x.png", &k);
    CHECK(k.type == PARLEY_MEDIA_IMAGE && strcmp(k.mime, "image/png") == 0);
    CHECK(k.width == 640 && k.height == 480);
    /* magic wins over the extension */
    kind(png, sizeof png, "song.mp3", &k);
    CHECK(k.type == PARLEY_MEDIA_IMAGE && strcmp(k.mime, "image/png") == 0);
    /* a PNG cut before its IHDR: still a PNG, no size */
    kind(png, 12, NULL, &k);
    CHECK(strcmp(k.mime, "image/png") == 0 && k.width == 0 && k.height == 0);

    /* JPEG: SOI, APP0 (16 bytes), SOF0 with height 480 and width 640 */
    uint8_t jpg[64] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10};
    memcpy(jpg + 6, "JFIF", 5);
    static const uint8_t sof[] = {0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03};
    memcpy(jpg + 20, sof, sizeof sof);
    kind(jpg, 30, "photo", &k);
    CHECK(k.type == PARLEY_MEDIA_IMAGE && strcmp(k.mime, "image/jpeg") == 0);
    CHECK(k.width == 640 && k.height == 480);
    /* every truncation is a JPEG without a size or with the right one, never a read past n */
    for (size_t n = 3; n < 30; n++) {
        kind(jpg, n, NULL, &k);
        CHECK(strcmp(k.mime, "image/jpeg") == 0 && (k.width == 0 || (n >= 29 && k.width == 640)));
    }
    /* a segment length below 2 stops the walk */
    uint8_t badjpg[] = {0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01, 0xFF, 0xC0, 0, 17, 8, 0, 1, 0, 1};
    kind(badjpg, sizeof badjpg, NULL, &k);
    CHECK(strcmp(k.mime, "image/jpeg") == 0 && k.width == 0);
    /* a length pointing far beyond the buffer */
    uint8_t longjpg[] = {0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 0, 0};
    kind(longjpg, sizeof longjpg, NULL, &k);
    CHECK(strcmp(k.mime, "image/jpeg") == 0 && k.width == 0);

    /* GIF 10 x 20 */
    static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 10, 0, 20, 0};
    kind(gif, sizeof gif, NULL, &k);
    CHECK(strcmp(k.mime, "image/gif") == 0 && k.width == 10 && k.height == 20);

    /* WebP VP8X 300 x 200 (stored minus one, 24-bit little-endian) */
    uint8_t webp[30] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X'};
    webp[24] = 43;
    webp[25] = 1; /* 299 */
    webp[27] = 199;
    kind(webp, sizeof webp, NULL, &k);
    CHECK(strcmp(k.mime, "image/webp") == 0 && k.width == 300 && k.height == 200);

    /* audio and video */
    uint8_t ogg[40] = {'O', 'g', 'g', 'S'};
    memcpy(ogg + 28, "OpusHead", 8);
    kind(ogg, sizeof ogg, "voice", &k);
    CHECK(k.type == PARLEY_MEDIA_AUDIO && strcmp(k.mime, "audio/ogg; codecs=opus") == 0);
    kind(ogg, 20, NULL, &k);
    CHECK(k.type == PARLEY_MEDIA_AUDIO && strcmp(k.mime, "audio/ogg") == 0);
    static const uint8_t mp4[] = {0, 0, 0, 24, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm'};
    kind(mp4, sizeof mp4, NULL, &k);
    CHECK(k.type == PARLEY_MEDIA_VIDEO && strcmp(k.mime, "video/mp4") == 0);
    static const uint8_t m4a[] = {0, 0, 0, 24, 'f', 't', 'y', 'p', 'M', '4', 'A', ' '};
    kind(m4a, sizeof m4a, NULL, &k);
    CHECK(k.type == PARLEY_MEDIA_AUDIO && strcmp(k.mime, "audio/mp4") == 0);
    static const uint8_t heic[] = {0, 0, 0, 24, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c'};
    kind(heic, sizeof heic, NULL, &k);
    CHECK(k.type == PARLEY_MEDIA_IMAGE && strcmp(k.mime, "image/heic") == 0);
    static const uint8_t wav[] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E'};
    kind(wav, sizeof wav, NULL, &k);
    CHECK(k.type == PARLEY_MEDIA_AUDIO && strcmp(k.mime, "audio/wav") == 0);
    static const uint8_t mkv[] = {0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x84, 'w', 'e', 'b', 'm'};
    kind(mkv, sizeof mkv, NULL, &k);
    CHECK(k.type == PARLEY_MEDIA_VIDEO && strcmp(k.mime, "video/webm") == 0);
    kind("ID3\x04", 4, NULL, &k);
    CHECK(k.type == PARLEY_MEDIA_AUDIO && strcmp(k.mime, "audio/mpeg") == 0);
    kind("%PDF-1.7", 8, "report.txt", &k);
    CHECK(k.type == PARLEY_MEDIA_DOCUMENT && strcmp(k.mime, "application/pdf") == 0);

    /* nothing known in the bytes: the extension, case-insensitively */
    kind("hello world", 11, "dir.v2/Notes.TXT", &k);
    CHECK(k.type == PARLEY_MEDIA_DOCUMENT && strcmp(k.mime, "text/plain") == 0);
    kind("hello world", 11, "clip.mov", &k);
    CHECK(k.type == PARLEY_MEDIA_VIDEO && strcmp(k.mime, "video/quicktime") == 0);
    kind("", 0, "memo.opus", &k);
    CHECK(k.type == PARLEY_MEDIA_AUDIO);
    /* a dot in a directory is not an extension; a leading dot neither */
    kind("x", 1, "dir.mp3/file", &k);
    CHECK(k.type == PARLEY_MEDIA_DOCUMENT && strcmp(k.mime, "application/octet-stream") == 0);
    kind("x", 1, ".mp3", &k);
    CHECK(strcmp(k.mime, "application/octet-stream") == 0);
    kind("x", 1, NULL, &k);
    CHECK(strcmp(k.mime, "application/octet-stream") == 0 && k.width == 0);

    CHECK(strcmp(pcl_file_ext_for_mime("image/png"), ".png") == 0);
    CHECK(strcmp(pcl_file_ext_for_mime("application/x-unknown"), "") == 0);
    CHECK(strcmp(pcl_file_ext_for_mime(NULL), "") == 0);

    /* names from senders */
    char out[PCL_FILE_NAME_MAX + 1];
    pcl_file_name_sanitize("../../etc/passwd", out, sizeof out);
    CHECK(strcmp(out, "passwd") == 0);
    pcl_file_name_sanitize("C:\\Users\\x\\report.pdf", out, sizeof out);
    CHECK(strcmp(out, "report.pdf") == 0);
    pcl_file_name_sanitize(".bashrc", out, sizeof out);
    CHECK(strcmp(out, "bashrc") == 0);
    pcl_file_name_sanitize("..", out, sizeof out);
    CHECK(strcmp(out, "") == 0);
    pcl_file_name_sanitize("dir/", out, sizeof out);
    CHECK(strcmp(out, "") == 0);
    pcl_file_name_sanitize("a\x01" "b\nc\x7f.txt", out, sizeof out);
    CHECK(strcmp(out, "a_b_c_.txt") == 0);
    pcl_file_name_sanitize("big clip.dat", out, sizeof out);
    CHECK(strcmp(out, "big clip.dat") == 0);
    pcl_file_name_sanitize(NULL, out, sizeof out);
    CHECK(strcmp(out, "") == 0);
    {
        /* 'a' then 300 two-byte characters: cut to 199 bytes, valid UTF-8 */
        char longname[1 + 600 + 1];
        longname[0] = 'a';
        for (int i = 0; i < 300; i++) {
            longname[1 + 2 * i] = (char)0xC3;
            longname[2 + 2 * i] = (char)0xA9;
        }
        longname[601] = 0;
        pcl_file_name_sanitize(longname, out, sizeof out);
        CHECK(strlen(out) == 199 && utf8_valid(out));
        memset(longname, 'b', 600);
        longname[600] = 0;
        pcl_file_name_sanitize(longname, out, sizeof out);
        CHECK(strlen(out) == PCL_FILE_NAME_MAX);
    }
    /* too small an output buffer: nothing, not a cut name */
    char small[8] = "x";
    pcl_file_name_sanitize("name.txt", small, sizeof small);
    CHECK(small[0] == 0);

    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed != 0;
}

/* Attachments inside the client engine: type detection (attach_type.c). */
#ifndef PARLEY_CLIENT_ATTACH_INTERNAL_H
#define PARLEY_CLIENT_ATTACH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "parley/content.h"

enum {
    PCL_SNIFF_LEN = 65536, /* bytes of a file's start looked at for its type and size */
    PCL_FILE_NAME_MAX = 200, /* bytes of a saved file's name */
};

typedef struct {
    parley_media_type type;
    const char *mime;        /* static string */
    uint32_t width, height;  /* images, when the header says; else 0 */
} pcl_file_kind;

/*
 * The kind of a file from its first bytes (head[0..n)) and, when they say
 * nothing known, from the extension of name (may be NULL). Magic bytes win
 * over the extension: a PNG named x.mp3 is an image.
 */
void pcl_file_kind_detect(const uint8_t *head, size_t n, const char *name, pcl_file_kind *out);
/* A file name extension (with its dot) for a MIME type, or "" . */
const char *pcl_file_ext_for_mime(const char *mime);
/*
 * A safe local name from a sender's file name: no directory part, no
 * control characters, not hidden, at most PCL_FILE_NAME_MAX bytes (cut on
 * a UTF-8 boundary). Empty when nothing usable remains. out_max > PCL_FILE_NAME_MAX.
 */
void pcl_file_name_sanitize(const char *in, char *out, size_t out_max);

#endif

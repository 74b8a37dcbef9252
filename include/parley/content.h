/*
 * parley — message content (docs/protocol.md, "Message content"; DESIGN.md
 * 3.5; schema in proto/content.proto).
 *
 * A `parley_content` is one end-to-end message body: an id and timestamp and
 * exactly one kind (a message with text, quote and attachments; a reaction;
 * an edit; a delete for everyone; a delivery or read receipt; a typing
 * notice; the sync copy of a sent content for the sender's other devices).
 * Builders set one kind, replacing any other; getters return
 * PARLEY_ERR_NOT_FOUND when the content is of another kind. Fields a newer
 * version adds survive decode and re-encode unchanged.
 *
 * Before encryption the encoding is padded with 1-16 random bytes
 * (parley_content_pad); after decryption the padding is checked and removed
 * (parley_content_unpad). Strings returned are borrowed from the content and
 * valid until it is changed or freed. Contents are wiped when freed.
 */
#ifndef PARLEY_CONTENT_H
#define PARLEY_CONTENT_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    PARLEY_MEDIA_KEY_LEN = 32,
    PARLEY_CONTENT_HASH_LEN = 32,
    PARLEY_CONTENT_ID_MAX = 64,       /* bytes of a content id */
    PARLEY_CONTENT_PAD_MAX = 16,      /* padding is 1..16 bytes */
    /* decoding defaults (docs/protocol.md, "Content limits") */
    PARLEY_CONTENT_MAX_SIZE = 49152,  /* encoded bytes, before padding */
    PARLEY_CONTENT_MAX_TEXT = 32768,  /* message, edit and quote text */
    PARLEY_CONTENT_MAX_STRING = 2048, /* every other string */
    PARLEY_CONTENT_MAX_ATTACHMENTS = 32,
    PARLEY_CONTENT_MAX_RECEIPT_IDS = 512,
    PARLEY_CONTENT_MAX_THUMBNAIL = 16384,
};

typedef struct {
    size_t max_size;        /* PARLEY_ERR_CONTENT_TOO_LARGE beyond each of these */
    size_t max_text;
    size_t max_string;
    size_t max_attachments;
    size_t max_receipt_ids;
    size_t max_thumbnail;
} parley_content_limits;

void parley_content_limits_default(parley_content_limits *l);

typedef enum {
    PARLEY_CONTENT_NONE = 0, /* no kind this version knows: ignore it */
    PARLEY_CONTENT_MESSAGE = 3,
    PARLEY_CONTENT_REACTION = 4,
    PARLEY_CONTENT_EDIT = 5,
    PARLEY_CONTENT_DELETE = 6,
    PARLEY_CONTENT_RECEIPT = 7,
    PARLEY_CONTENT_TYPING = 8,
    PARLEY_CONTENT_SYNC = 9,
} parley_content_kind;

typedef enum {
    PARLEY_MEDIA_DOCUMENT = 0, /* also any type this version does not know */
    PARLEY_MEDIA_IMAGE = 1,
    PARLEY_MEDIA_VIDEO = 2,
    PARLEY_MEDIA_AUDIO = 3,
} parley_media_type;

typedef enum {
    PARLEY_RECEIPT_DELIVERY = 0,
    PARLEY_RECEIPT_READ = 1,
} parley_receipt_type;

typedef enum {
    PARLEY_TYPING_STARTED = 0,
    PARLEY_TYPING_STOPPED = 1,
} parley_typing_action;

/*
 * A media attachment (DESIGN.md 3.6). Optional strings are NULL when
 * absent, optional numbers 0. On the way out of parley_content_attachment
 * the pointers are borrowed from the content.
 */
typedef struct {
    const char *url; /* required */
    uint8_t media_key[PARLEY_MEDIA_KEY_LEN];
    uint8_t plaintext_sha256[PARLEY_CONTENT_HASH_LEN];
    uint8_t encrypted_sha256[PARLEY_CONTENT_HASH_LEN];
    uint64_t size;
    const char *mime_type;
    const char *file_name;
    uint32_t width, height, duration_ms;
    const uint8_t *thumbnail;
    size_t thumbnail_len;
    parley_media_type type;
} parley_attachment;

typedef struct parley_content parley_content;

PARLEY_MUST_CHECK int parley_content_new(parley_content **out);
void parley_content_free(parley_content *c);

/*
 * Decode and check against `limits` (NULL: the defaults). Errors:
 * PARLEY_ERR_CONTENT_TOO_LARGE (a bound), PARLEY_ERR_CONTENT_DECODE (not the
 * protobuf wire format), PARLEY_ERR_CONTENT_INVALID (a schema rule: a bad id,
 * a key or hash not 32 bytes, invalid UTF-8, a kind missing a required
 * field, a sync inside a sync).
 */
PARLEY_MUST_CHECK int parley_content_decode(parley_content **out, const uint8_t *in, size_t n,
                                            const parley_content_limits *limits);

/* The encoding's exact length; then encode (checks the schema rules first). */
size_t parley_content_encoded_len(const parley_content *c);
PARLEY_MUST_CHECK int parley_content_encode(const parley_content *c, uint8_t *out, size_t out_max,
                                            size_t *out_len);

/* ---- common fields ----------------------------------------------------- */

/* 1..64 bytes of printable ASCII (0x21..0x7e): PARLEY_ERR_CONTENT_INVALID. */
PARLEY_MUST_CHECK int parley_content_set_id(parley_content *c, const char *id);
const char *parley_content_id(const parley_content *c); /* NULL if absent */
void parley_content_set_timestamp(parley_content *c, uint64_t ms);
uint64_t parley_content_timestamp(const parley_content *c); /* 0 if absent */
parley_content_kind parley_content_get_kind(const parley_content *c);

/* ---- message ------------------------------------------------------------ */

/* Each makes c a message (keeping the message's other fields if it was one). */
PARLEY_MUST_CHECK int parley_content_set_text(parley_content *c, const char *text);
PARLEY_MUST_CHECK int parley_content_set_quote(parley_content *c, const char *id,
                                               const char *author, const char *text);
PARLEY_MUST_CHECK int parley_content_add_attachment(parley_content *c, const parley_attachment *a);

const char *parley_content_text(const parley_content *c); /* NULL if none */
PARLEY_MUST_CHECK int parley_content_quote(const parley_content *c, const char **id,
                                           const char **author, const char **text);
size_t parley_content_attachment_count(const parley_content *c);
PARLEY_MUST_CHECK int parley_content_attachment(const parley_content *c, size_t i,
                                                parley_attachment *out);

/* ---- reaction, edit, delete -------------------------------------------- */

/* target_author may be NULL. */
PARLEY_MUST_CHECK int parley_content_set_reaction(parley_content *c, const char *emoji,
                                                  const char *target_id,
                                                  const char *target_author, int remove);
PARLEY_MUST_CHECK int parley_content_reaction(const parley_content *c, const char **emoji,
                                              const char **target_id, const char **target_author,
                                              int *remove);
PARLEY_MUST_CHECK int parley_content_set_edit(parley_content *c, const char *target_id,
                                              const char *text);
PARLEY_MUST_CHECK int parley_content_edit(const parley_content *c, const char **target_id,
                                          const char **text);
PARLEY_MUST_CHECK int parley_content_set_delete(parley_content *c, const char *target_id);
PARLEY_MUST_CHECK int parley_content_delete_target(const parley_content *c, const char **target_id);

/* ---- receipt, typing ----------------------------------------------------- */

PARLEY_MUST_CHECK int parley_content_set_receipt(parley_content *c, parley_receipt_type type,
                                                 const char *const *ids, size_t n,
                                                 uint64_t timestamp);
/* *type may hold a value this version does not know: ignore such receipts. */
PARLEY_MUST_CHECK int parley_content_receipt(const parley_content *c, parley_receipt_type *type,
                                             size_t *n, uint64_t *timestamp);
const char *parley_content_receipt_id(const parley_content *c, size_t i); /* NULL past the end */
PARLEY_MUST_CHECK int parley_content_set_typing(parley_content *c, parley_typing_action action);
PARLEY_MUST_CHECK int parley_content_typing(const parley_content *c, parley_typing_action *action);

/* ---- sync ---------------------------------------------------------------- */

/*
 * Make c the sync copy of `original`, sent to `destination` ("local@domain").
 * The original is encoded into c; it must not itself be a sync.
 */
PARLEY_MUST_CHECK int parley_content_set_sync(parley_content *c, const char *destination,
                                              const parley_content *original);
/* The destination, and the original decoded anew under `limits` (NULL: defaults). */
PARLEY_MUST_CHECK int parley_content_sync(const parley_content *c, const char **destination,
                                          parley_content **original,
                                          const parley_content_limits *limits);

/* ---- padding ------------------------------------------------------------- */

/*
 * Append N random-length padding (N uniform in 1..16) to in[0..n): N bytes
 * each of value N (docs/protocol.md, "Padding"). out_max >= n + 16; out may
 * not overlap in.
 */
PARLEY_MUST_CHECK int parley_content_pad(uint8_t *out, size_t out_max, size_t *out_len,
                                         const uint8_t *in, size_t n);
/*
 * Check the padding of in[0..n) and give the length of what precedes it.
 * PARLEY_ERR_CONTENT_PADDING unless the last byte N is 1..16, N <= n, and
 * the last N bytes all equal N.
 */
PARLEY_MUST_CHECK int parley_content_unpad(const uint8_t *in, size_t n, size_t *content_len);

#ifdef __cplusplus
}
#endif
#endif

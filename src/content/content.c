/*
 * Content: the object, its allocator, decoding with limits, encoding, and
 * the schema rules both directions share (docs/protocol.md, "Message
 * content"; proto/content.proto).
 *
 * Unknown fields: protobuf-c keeps every field it does not know in the
 * message's unknown_fields on unpack and writes them back on pack, at the
 * end of their message, so a content from a newer version re-encodes with
 * nothing lost.
 */
#include <stdlib.h>
#include <string.h>

#include "content/content_internal.h"
#include "crypto/crypto.h"
#include "util/safety.h"

/* Each allocation carries its size in front, so a free can wipe it and
 * give the bytes back to the budget. */
#define PCN_HDR 16u

static void *budget_alloc(void *data, size_t n)
{
    pcn_budget *b = data;
    if (n > SIZE_MAX - PCN_HDR || n + PCN_HDR > b->max - b->used) {
        b->exceeded = 1;
        return NULL;
    }
    unsigned char *p = malloc(n + PCN_HDR);
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof n);
    b->used += n + PCN_HDR;
    return p + PCN_HDR;
}

static void budget_free(void *data, void *ptr)
{
    pcn_budget *b = data;
    if (ptr == NULL)
        return;
    unsigned char *p = (unsigned char *)ptr - PCN_HDR;
    size_t n;
    memcpy(&n, p, sizeof n);
    pc_wipe(ptr, n);
    b->used -= n + PCN_HDR;
    free(p);
}

void *pcn_alloc(parley_content *c, size_t n)
{
    return budget_alloc(&c->budget, n);
}

void pcn_free(parley_content *c, void *p)
{
    budget_free(&c->budget, p);
}

char *pcn_strdup(parley_content *c, const char *s)
{
    size_t n = strlen(s);
    char *p = pcn_alloc(c, n + 1);
    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

parley_content *pcn_shell(size_t budget)
{
    parley_content *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->budget.max = budget;
    c->alloc.alloc = budget_alloc;
    c->alloc.free = budget_free;
    c->alloc.allocator_data = &c->budget;
    return c;
}

void parley_content_limits_default(parley_content_limits *l)
{
    PARLEY_MISUSE(l != NULL);
    l->max_size = PARLEY_CONTENT_MAX_SIZE;
    l->max_text = PARLEY_CONTENT_MAX_TEXT;
    l->max_string = PARLEY_CONTENT_MAX_STRING;
    l->max_attachments = PARLEY_CONTENT_MAX_ATTACHMENTS;
    l->max_receipt_ids = PARLEY_CONTENT_MAX_RECEIPT_IDS;
    l->max_thumbnail = PARLEY_CONTENT_MAX_THUMBNAIL;
}

int parley_content_new(parley_content **out)
{
    PARLEY_MISUSE(out != NULL);
    *out = NULL;
    parley_content *c = pcn_shell(PCN_BUILD_BUDGET);
    if (c == NULL)
        return PARLEY_ERR_NOMEM;
    c->msg = pcn_alloc(c, sizeof *c->msg);
    if (c->msg == NULL) {
        free(c);
        return PARLEY_ERR_NOMEM;
    }
    parley__content__init(c->msg);
    *out = c;
    return PARLEY_OK;
}

void parley_content_free(parley_content *c)
{
    if (c == NULL)
        return;
    if (c->msg != NULL)
        protobuf_c_message_free_unpacked(&c->msg->base, &c->alloc);
    free(c);
}

/* ---- schema rules -------------------------------------------------------- */

int pcn_utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char b = p[i];
        size_t len;
        uint32_t cp;
        if (b == 0)
            return 0;
        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf) {
            len = 2;
            cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
            len = 3;
            cp = b & 0x0f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            len = 4;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        /* overlong, surrogate, or past U+10FFFF */
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

int pcn_id_ok(const char *s)
{
    size_t n = strnlen(s, PARLEY_CONTENT_ID_MAX + 1);
    if (n == 0 || n > PARLEY_CONTENT_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* A string field: absent is fine unless required; never empty if required. */
static int check_str(const char *s, size_t max, int required)
{
    if (s == NULL)
        return required ? PARLEY_ERR_CONTENT_INVALID : PARLEY_OK;
    size_t n = strnlen(s, max < SIZE_MAX ? max + 1 : max);
    if (n > max)
        return PARLEY_ERR_CONTENT_TOO_LARGE;
    if (required && n == 0)
        return PARLEY_ERR_CONTENT_INVALID;
    return pcn_utf8_ok(s, n) ? PARLEY_OK : PARLEY_ERR_CONTENT_INVALID;
}

static int check_id(const char *s, int required)
{
    if (s == NULL)
        return required ? PARLEY_ERR_CONTENT_INVALID : PARLEY_OK;
    return pcn_id_ok(s) ? PARLEY_OK : PARLEY_ERR_CONTENT_INVALID;
}

static int check_hash(protobuf_c_boolean has, const ProtobufCBinaryData *b)
{
    return has && b->len == 32 ? PARLEY_OK : PARLEY_ERR_CONTENT_INVALID;
}

static int check_attachment(const Parley__Attachment *a, const parley_content_limits *lim)
{
    int rc = PARLEY_OK;
    ENSURE(a != NULL, PARLEY_ERR_CONTENT_INVALID);
    GUARD(check_str(a->url, lim->max_string, 1));
    GUARD(check_hash(a->has_media_key, &a->media_key));
    GUARD(check_hash(a->has_plaintext_sha256, &a->plaintext_sha256));
    GUARD(check_hash(a->has_encrypted_sha256, &a->encrypted_sha256));
    GUARD(check_str(a->mime_type, lim->max_string, 0));
    GUARD(check_str(a->file_name, lim->max_string, 0));
    ENSURE(!a->has_thumbnail || a->thumbnail.len <= lim->max_thumbnail,
           PARLEY_ERR_CONTENT_TOO_LARGE);
out:
    return rc;
}

static int check_message(const Parley__Message *m, const parley_content_limits *lim)
{
    int rc = PARLEY_OK;
    ENSURE(m != NULL, PARLEY_ERR_CONTENT_INVALID);
    GUARD(check_str(m->text, lim->max_text, 0));
    if (m->quote != NULL) {
        GUARD(check_id(m->quote->id, 1));
        GUARD(check_str(m->quote->author, lim->max_string, 0));
        GUARD(check_str(m->quote->text, lim->max_text, 0));
    }
    ENSURE(m->n_attachments <= lim->max_attachments, PARLEY_ERR_CONTENT_TOO_LARGE);
    for (size_t i = 0; i < m->n_attachments; i++)
        GUARD(check_attachment(m->attachments[i], lim));
    /* Something to show: text or at least one attachment. */
    ENSURE((m->text != NULL && m->text[0] != '\0') || m->n_attachments > 0,
           PARLEY_ERR_CONTENT_INVALID);
out:
    return rc;
}

static int decode_impl(parley_content **out, const uint8_t *in, size_t n,
                       const parley_content_limits *lim, int nested);

int pcn_validate(const Parley__Content *m, const parley_content_limits *lim, int nested)
{
    int rc = PARLEY_OK;
    parley_content *inner = NULL;
    GUARD(check_id(m->id, 0));
    switch (m->kind_case) {
    case PARLEY__CONTENT__KIND_MESSAGE:
        GUARD(check_message(m->message, lim));
        break;
    case PARLEY__CONTENT__KIND_REACTION:
        ENSURE(m->reaction != NULL, PARLEY_ERR_CONTENT_INVALID);
        GUARD(check_str(m->reaction->emoji, lim->max_string, 1));
        GUARD(check_id(m->reaction->target_id, 1));
        GUARD(check_str(m->reaction->target_author, lim->max_string, 0));
        break;
    case PARLEY__CONTENT__KIND_EDIT:
        ENSURE(m->edit != NULL, PARLEY_ERR_CONTENT_INVALID);
        GUARD(check_id(m->edit->target_id, 1));
        GUARD(check_str(m->edit->text, lim->max_text, 1));
        break;
    case PARLEY__CONTENT__KIND_DELETE:
        ENSURE(m->delete_ != NULL, PARLEY_ERR_CONTENT_INVALID);
        GUARD(check_id(m->delete_->target_id, 1));
        break;
    case PARLEY__CONTENT__KIND_RECEIPT:
        ENSURE(m->receipt != NULL && m->receipt->n_ids > 0, PARLEY_ERR_CONTENT_INVALID);
        ENSURE(m->receipt->n_ids <= lim->max_receipt_ids, PARLEY_ERR_CONTENT_TOO_LARGE);
        for (size_t i = 0; i < m->receipt->n_ids; i++)
            GUARD(check_id(m->receipt->ids[i], 1));
        break;
    case PARLEY__CONTENT__KIND_TYPING:
        ENSURE(m->typing != NULL, PARLEY_ERR_CONTENT_INVALID);
        break;
    case PARLEY__CONTENT__KIND_SYNC:
        /* One level only: a sync of a sync has no meaning. */
        ENSURE(!nested && m->sync != NULL, PARLEY_ERR_CONTENT_INVALID);
        GUARD(check_str(m->sync->destination, lim->max_string, 1));
        ENSURE(m->sync->has_content, PARLEY_ERR_CONTENT_INVALID);
        GUARD(decode_impl(&inner, m->sync->content.data, m->sync->content.len, lim, 1));
        break;
    default:
        break; /* a kind from a newer version: carried, not interpreted */
    }
out:
    parley_content_free(inner);
    return rc;
}

/* ---- decoding and encoding ----------------------------------------------- */

/*
 * protobuf-c accepts a tag that decodes to field number 0 when it is spelt
 * as an over-long varint (0x80 0x00), keeps it as an unknown field, and
 * writes it back as 0x00, which it then refuses: field 0 does not exist
 * (protobuf encoding, "Message Structure"), so refuse it up front. The walk
 * follows the schema's sub-messages, whose depth is fixed.
 */
static int unknown_fields_ok(const ProtobufCMessage *m)
{
    if (m == NULL)
        return 1;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return 0;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)m;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which;
            memcpy(&which, base + f->quantifier_offset, sizeof which);
            if (which != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            ProtobufCMessage **arr;
            memcpy(&n, base + f->quantifier_offset, sizeof n);
            memcpy(&arr, base + f->offset, sizeof arr);
            for (size_t k = 0; k < n; k++)
                if (!unknown_fields_ok(arr[k]))
                    return 0;
        } else {
            const ProtobufCMessage *sub;
            memcpy(&sub, base + f->offset, sizeof sub);
            if (!unknown_fields_ok(sub))
                return 0;
        }
    }
    return 1;
}

static int decode_impl(parley_content **out, const uint8_t *in, size_t n,
                       const parley_content_limits *lim, int nested)
{
    int rc;
    parley_content *c = NULL;
    *out = NULL;
    ENSURE(n <= lim->max_size, PARLEY_ERR_CONTENT_TOO_LARGE);
    /* A legitimate content of the maximum size needs well under a megabyte
     * decoded; a hostile one (thousands of empty repeated sub-messages)
     * could ask for a hundred times its size. The budget is fixed rather
     * than proportional to n, so that re-encoding a decoded content (which
     * may shorten over-long varints) never makes it undecodable. */
    c = pcn_shell(PCN_DECODE_BUDGET);
    ENSURE(c != NULL, PARLEY_ERR_NOMEM);
    c->msg = parley__content__unpack(&c->alloc, n, in);
    if (c->msg == NULL) {
        rc = c->budget.exceeded ? PARLEY_ERR_CONTENT_TOO_LARGE : PARLEY_ERR_CONTENT_DECODE;
        goto out;
    }
    ENSURE(unknown_fields_ok(&c->msg->base), PARLEY_ERR_CONTENT_DECODE);
    GUARD(pcn_validate(c->msg, lim, nested));
    /* Builders on a decoded content may grow it like any other. */
    c->budget.max = PCN_BUILD_BUDGET;
    *out = c;
    c = NULL;
    rc = PARLEY_OK;
out:
    parley_content_free(c);
    return rc;
}

int parley_content_decode(parley_content **out, const uint8_t *in, size_t n,
                          const parley_content_limits *limits)
{
    PARLEY_MISUSE(out != NULL && (in != NULL || n == 0));
    parley_content_limits def;
    if (limits == NULL) {
        parley_content_limits_default(&def);
        limits = &def;
    }
    return decode_impl(out, in, n, limits, 0);
}

size_t parley_content_encoded_len(const parley_content *c)
{
    PARLEY_MISUSE(c != NULL);
    return parley__content__get_packed_size(c->msg);
}

/*
 * What is encoded must decode at a peer with the default limits, so the
 * encoder holds itself to them.
 */
int parley_content_encode(const parley_content *c, uint8_t *out, size_t out_max, size_t *out_len)
{
    PARLEY_MISUSE(c != NULL && out_len != NULL && (out != NULL || out_max == 0));
    int rc;
    parley_content_limits lim;
    parley_content_limits_default(&lim);
    *out_len = 0;
    GUARD(pcn_validate(c->msg, &lim, 0));
    size_t n = parley__content__get_packed_size(c->msg);
    ENSURE(n <= lim.max_size, PARLEY_ERR_CONTENT_TOO_LARGE);
    ENSURE(n <= out_max, PARLEY_ERR_BUFFER);
    if (n > 0) /* an empty content is zero bytes; out may then be NULL */
        *out_len = parley__content__pack(c->msg, out);
    rc = PARLEY_OK;
out:
    return rc;
}

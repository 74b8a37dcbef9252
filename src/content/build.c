/*
 * Content builders and getters: the C face of proto/content.proto, so that
 * callers never see protobuf-c types. Every builder checks its input with
 * the decoder's rules and either succeeds or leaves the content unchanged.
 */
#include <string.h>

#include "content/content_internal.h"
#include "util/safety.h"

/* ---- helpers ------------------------------------------------------------- */

/* Replace *field with a copy of s (NULL clears it). */
static int set_str(parley_content *c, char **field, const char *s)
{
    char *copy = NULL;
    if (s != NULL) {
        if (!pcn_utf8_ok(s, strlen(s)))
            return PARLEY_ERR_CONTENT_INVALID;
        copy = pcn_strdup(c, s);
        if (copy == NULL)
            return PARLEY_ERR_NOMEM;
    }
    pcn_free(c, *field);
    *field = copy;
    return PARLEY_OK;
}

static int set_bytes(parley_content *c, protobuf_c_boolean *has, ProtobufCBinaryData *field,
                     const uint8_t *p, size_t n)
{
    uint8_t *copy = NULL;
    if (p != NULL) {
        copy = pcn_alloc(c, n > 0 ? n : 1);
        if (copy == NULL)
            return PARLEY_ERR_NOMEM;
        if (n > 0)
            memcpy(copy, p, n);
    }
    pcn_free(c, field->data);
    field->data = copy;
    field->len = p != NULL ? n : 0;
    *has = p != NULL;
    return PARLEY_OK;
}

/* The current kind's sub-message, as a generic message (NULL if none). */
static ProtobufCMessage *kind_msg(const Parley__Content *m)
{
    switch (m->kind_case) {
    case PARLEY__CONTENT__KIND_MESSAGE:
        return (ProtobufCMessage *)m->message;
    case PARLEY__CONTENT__KIND_REACTION:
        return (ProtobufCMessage *)m->reaction;
    case PARLEY__CONTENT__KIND_EDIT:
        return (ProtobufCMessage *)m->edit;
    case PARLEY__CONTENT__KIND_DELETE:
        return (ProtobufCMessage *)m->delete_;
    case PARLEY__CONTENT__KIND_RECEIPT:
        return (ProtobufCMessage *)m->receipt;
    case PARLEY__CONTENT__KIND_TYPING:
        return (ProtobufCMessage *)m->typing;
    case PARLEY__CONTENT__KIND_SYNC:
        return (ProtobufCMessage *)m->sync;
    default:
        return NULL;
    }
}

/*
 * Make c's kind `k` and return its sub-message: the existing one when c is
 * already of that kind, else a new empty one replacing the old kind.
 */
static void *use_kind(parley_content *c, Parley__Content__KindCase k)
{
    Parley__Content *m = c->msg;
    if (m->kind_case == k && kind_msg(m) != NULL)
        return kind_msg(m);
    const ProtobufCMessageDescriptor *d;
    switch (k) {
    case PARLEY__CONTENT__KIND_MESSAGE:
        d = &parley__message__descriptor;
        break;
    case PARLEY__CONTENT__KIND_REACTION:
        d = &parley__reaction__descriptor;
        break;
    case PARLEY__CONTENT__KIND_EDIT:
        d = &parley__edit__descriptor;
        break;
    case PARLEY__CONTENT__KIND_DELETE:
        d = &parley__delete__descriptor;
        break;
    case PARLEY__CONTENT__KIND_RECEIPT:
        d = &parley__receipt__descriptor;
        break;
    case PARLEY__CONTENT__KIND_TYPING:
        d = &parley__typing__descriptor;
        break;
    case PARLEY__CONTENT__KIND_SYNC:
        d = &parley__sync__descriptor;
        break;
    default:
        return NULL;
    }
    ProtobufCMessage *sub = pcn_alloc(c, d->sizeof_message);
    if (sub == NULL)
        return NULL;
    d->message_init(sub);
    ProtobufCMessage *old = kind_msg(m);
    if (old != NULL)
        protobuf_c_message_free_unpacked(old, &c->alloc);
    m->kind_case = k;
    switch (k) {
    case PARLEY__CONTENT__KIND_MESSAGE:
        m->message = (Parley__Message *)sub;
        break;
    case PARLEY__CONTENT__KIND_REACTION:
        m->reaction = (Parley__Reaction *)sub;
        break;
    case PARLEY__CONTENT__KIND_EDIT:
        m->edit = (Parley__Edit *)sub;
        break;
    case PARLEY__CONTENT__KIND_DELETE:
        m->delete_ = (Parley__Delete *)sub;
        break;
    case PARLEY__CONTENT__KIND_RECEIPT:
        m->receipt = (Parley__Receipt *)sub;
        break;
    case PARLEY__CONTENT__KIND_TYPING:
        m->typing = (Parley__Typing *)sub;
        break;
    default:
        m->sync = (Parley__Sync *)sub;
        break;
    }
    return sub;
}

/* The sub-message if c is of kind k, else NULL. */
static const void *get_kind(const parley_content *c, Parley__Content__KindCase k)
{
    PARLEY_MISUSE(c != NULL);
    return c->msg->kind_case == k ? kind_msg(c->msg) : NULL;
}

/* ---- common fields ------------------------------------------------------- */

int parley_content_set_id(parley_content *c, const char *id)
{
    PARLEY_MISUSE(c != NULL && id != NULL);
    if (!pcn_id_ok(id))
        return PARLEY_ERR_CONTENT_INVALID;
    return set_str(c, &c->msg->id, id);
}

const char *parley_content_id(const parley_content *c)
{
    PARLEY_MISUSE(c != NULL);
    return c->msg->id;
}

void parley_content_set_timestamp(parley_content *c, uint64_t ms)
{
    PARLEY_MISUSE(c != NULL);
    c->msg->timestamp = ms;
    c->msg->has_timestamp = 1;
}

uint64_t parley_content_timestamp(const parley_content *c)
{
    PARLEY_MISUSE(c != NULL);
    return c->msg->has_timestamp ? c->msg->timestamp : 0;
}

parley_content_kind parley_content_get_kind(const parley_content *c)
{
    PARLEY_MISUSE(c != NULL);
    switch (c->msg->kind_case) {
    case PARLEY__CONTENT__KIND_MESSAGE:
        return PARLEY_CONTENT_MESSAGE;
    case PARLEY__CONTENT__KIND_REACTION:
        return PARLEY_CONTENT_REACTION;
    case PARLEY__CONTENT__KIND_EDIT:
        return PARLEY_CONTENT_EDIT;
    case PARLEY__CONTENT__KIND_DELETE:
        return PARLEY_CONTENT_DELETE;
    case PARLEY__CONTENT__KIND_RECEIPT:
        return PARLEY_CONTENT_RECEIPT;
    case PARLEY__CONTENT__KIND_TYPING:
        return PARLEY_CONTENT_TYPING;
    case PARLEY__CONTENT__KIND_SYNC:
        return PARLEY_CONTENT_SYNC;
    default:
        return PARLEY_CONTENT_NONE;
    }
}

/* ---- message --------------------------------------------------------------- */

int parley_content_set_text(parley_content *c, const char *text)
{
    PARLEY_MISUSE(c != NULL && text != NULL);
    if (!pcn_utf8_ok(text, strlen(text)))
        return PARLEY_ERR_CONTENT_INVALID;
    Parley__Message *m = use_kind(c, PARLEY__CONTENT__KIND_MESSAGE);
    if (m == NULL)
        return PARLEY_ERR_NOMEM;
    return set_str(c, &m->text, text);
}

int parley_content_set_quote(parley_content *c, const char *id, const char *author, const char *text)
{
    PARLEY_MISUSE(c != NULL && id != NULL);
    int rc;
    Parley__Quote *q = NULL;
    ENSURE(pcn_id_ok(id), PARLEY_ERR_CONTENT_INVALID);
    ENSURE(author == NULL || pcn_utf8_ok(author, strlen(author)), PARLEY_ERR_CONTENT_INVALID);
    ENSURE(text == NULL || pcn_utf8_ok(text, strlen(text)), PARLEY_ERR_CONTENT_INVALID);
    q = pcn_alloc(c, sizeof *q);
    ENSURE(q != NULL, PARLEY_ERR_NOMEM);
    parley__quote__init(q);
    GUARD(set_str(c, &q->id, id));
    GUARD(set_str(c, &q->author, author));
    GUARD(set_str(c, &q->text, text));
    Parley__Message *m = use_kind(c, PARLEY__CONTENT__KIND_MESSAGE);
    ENSURE(m != NULL, PARLEY_ERR_NOMEM);
    if (m->quote != NULL)
        protobuf_c_message_free_unpacked(&m->quote->base, &c->alloc);
    m->quote = q;
    q = NULL;
    rc = PARLEY_OK;
out:
    if (q != NULL)
        protobuf_c_message_free_unpacked(&q->base, &c->alloc);
    return rc;
}

int parley_content_add_attachment(parley_content *c, const parley_attachment *a)
{
    PARLEY_MISUSE(c != NULL && a != NULL);
    int rc;
    Parley__Attachment *at = NULL;
    Parley__Attachment **arr = NULL;
    ENSURE(a->url != NULL && a->url[0] != '\0', PARLEY_ERR_CONTENT_INVALID);
    at = pcn_alloc(c, sizeof *at);
    ENSURE(at != NULL, PARLEY_ERR_NOMEM);
    parley__attachment__init(at);
    GUARD(set_str(c, &at->url, a->url));
    GUARD(set_bytes(c, &at->has_media_key, &at->media_key, a->media_key, sizeof a->media_key));
    GUARD(set_bytes(c, &at->has_plaintext_sha256, &at->plaintext_sha256, a->plaintext_sha256,
                    sizeof a->plaintext_sha256));
    GUARD(set_bytes(c, &at->has_encrypted_sha256, &at->encrypted_sha256, a->encrypted_sha256,
                    sizeof a->encrypted_sha256));
    at->size = a->size;
    at->has_size = 1;
    GUARD(set_str(c, &at->mime_type, a->mime_type));
    GUARD(set_str(c, &at->file_name, a->file_name));
    at->width = a->width;
    at->has_width = a->width != 0;
    at->height = a->height;
    at->has_height = a->height != 0;
    at->duration_ms = a->duration_ms;
    at->has_duration_ms = a->duration_ms != 0;
    if (a->thumbnail != NULL && a->thumbnail_len > 0)
        GUARD(set_bytes(c, &at->has_thumbnail, &at->thumbnail, a->thumbnail, a->thumbnail_len));
    ENSURE(a->type <= PARLEY_MEDIA_AUDIO, PARLEY_ERR_INVALID_ARG);
    at->type = (Parley__Attachment__MediaType)a->type;
    at->has_type = 1;

    Parley__Message *m = use_kind(c, PARLEY__CONTENT__KIND_MESSAGE);
    ENSURE(m != NULL, PARLEY_ERR_NOMEM);
    ENSURE(m->n_attachments < SIZE_MAX / sizeof *arr - 1, PARLEY_ERR_CONTENT_TOO_LARGE);
    arr = pcn_alloc(c, (m->n_attachments + 1) * sizeof *arr);
    ENSURE(arr != NULL, PARLEY_ERR_NOMEM);
    if (m->n_attachments > 0)
        memcpy(arr, m->attachments, m->n_attachments * sizeof *arr);
    arr[m->n_attachments] = at;
    pcn_free(c, m->attachments);
    m->attachments = arr;
    m->n_attachments++;
    at = NULL;
    rc = PARLEY_OK;
out:
    if (at != NULL)
        protobuf_c_message_free_unpacked(&at->base, &c->alloc);
    return rc;
}

const char *parley_content_text(const parley_content *c)
{
    const Parley__Message *m = get_kind(c, PARLEY__CONTENT__KIND_MESSAGE);
    return m != NULL ? m->text : NULL;
}

int parley_content_quote(const parley_content *c, const char **id, const char **author,
                         const char **text)
{
    const Parley__Message *m = get_kind(c, PARLEY__CONTENT__KIND_MESSAGE);
    if (m == NULL || m->quote == NULL)
        return PARLEY_ERR_NOT_FOUND;
    if (id != NULL)
        *id = m->quote->id;
    if (author != NULL)
        *author = m->quote->author;
    if (text != NULL)
        *text = m->quote->text;
    return PARLEY_OK;
}

size_t parley_content_attachment_count(const parley_content *c)
{
    const Parley__Message *m = get_kind(c, PARLEY__CONTENT__KIND_MESSAGE);
    return m != NULL ? m->n_attachments : 0;
}

static void copy_hash(uint8_t out[32], const ProtobufCBinaryData *b)
{
    /* Decoding has checked the length; a built content always has 32. */
    if (b->len == 32)
        memcpy(out, b->data, 32);
    else
        memset(out, 0, 32);
}

int parley_content_attachment(const parley_content *c, size_t i, parley_attachment *out)
{
    PARLEY_MISUSE(out != NULL);
    const Parley__Message *m = get_kind(c, PARLEY__CONTENT__KIND_MESSAGE);
    if (m == NULL || i >= m->n_attachments)
        return PARLEY_ERR_NOT_FOUND;
    const Parley__Attachment *a = m->attachments[i];
    memset(out, 0, sizeof *out);
    out->url = a->url;
    copy_hash(out->media_key, &a->media_key);
    copy_hash(out->plaintext_sha256, &a->plaintext_sha256);
    copy_hash(out->encrypted_sha256, &a->encrypted_sha256);
    out->size = a->has_size ? a->size : 0;
    out->mime_type = a->mime_type;
    out->file_name = a->file_name;
    out->width = a->has_width ? a->width : 0;
    out->height = a->has_height ? a->height : 0;
    out->duration_ms = a->has_duration_ms ? a->duration_ms : 0;
    if (a->has_thumbnail && a->thumbnail.len > 0) {
        out->thumbnail = a->thumbnail.data;
        out->thumbnail_len = a->thumbnail.len;
    }
    switch (a->has_type ? (int)a->type : 0) {
    case PARLEY__ATTACHMENT__MEDIA_TYPE__IMAGE:
        out->type = PARLEY_MEDIA_IMAGE;
        break;
    case PARLEY__ATTACHMENT__MEDIA_TYPE__VIDEO:
        out->type = PARLEY_MEDIA_VIDEO;
        break;
    case PARLEY__ATTACHMENT__MEDIA_TYPE__AUDIO:
        out->type = PARLEY_MEDIA_AUDIO;
        break;
    default:
        out->type = PARLEY_MEDIA_DOCUMENT;
        break;
    }
    return PARLEY_OK;
}

/* ---- reaction, edit, delete ------------------------------------------------ */

int parley_content_set_reaction(parley_content *c, const char *emoji, const char *target_id,
                                const char *target_author, int remove)
{
    PARLEY_MISUSE(c != NULL && emoji != NULL && target_id != NULL);
    if (emoji[0] == '\0' || !pcn_utf8_ok(emoji, strlen(emoji)) || !pcn_id_ok(target_id) ||
        (target_author != NULL && !pcn_utf8_ok(target_author, strlen(target_author))))
        return PARLEY_ERR_CONTENT_INVALID;
    Parley__Reaction *r = use_kind(c, PARLEY__CONTENT__KIND_REACTION);
    if (r == NULL)
        return PARLEY_ERR_NOMEM;
    int rc = set_str(c, &r->emoji, emoji);
    if (rc == PARLEY_OK)
        rc = set_str(c, &r->target_id, target_id);
    if (rc == PARLEY_OK)
        rc = set_str(c, &r->target_author, target_author);
    r->remove = remove != 0;
    r->has_remove = remove != 0;
    return rc;
}

int parley_content_reaction(const parley_content *c, const char **emoji, const char **target_id,
                            const char **target_author, int *remove)
{
    const Parley__Reaction *r = get_kind(c, PARLEY__CONTENT__KIND_REACTION);
    if (r == NULL)
        return PARLEY_ERR_NOT_FOUND;
    if (emoji != NULL)
        *emoji = r->emoji;
    if (target_id != NULL)
        *target_id = r->target_id;
    if (target_author != NULL)
        *target_author = r->target_author;
    if (remove != NULL)
        *remove = r->has_remove && r->remove;
    return PARLEY_OK;
}

int parley_content_set_edit(parley_content *c, const char *target_id, const char *text)
{
    PARLEY_MISUSE(c != NULL && target_id != NULL && text != NULL);
    if (!pcn_id_ok(target_id) || text[0] == '\0' || !pcn_utf8_ok(text, strlen(text)))
        return PARLEY_ERR_CONTENT_INVALID;
    Parley__Edit *e = use_kind(c, PARLEY__CONTENT__KIND_EDIT);
    if (e == NULL)
        return PARLEY_ERR_NOMEM;
    int rc = set_str(c, &e->target_id, target_id);
    return rc == PARLEY_OK ? set_str(c, &e->text, text) : rc;
}

int parley_content_edit(const parley_content *c, const char **target_id, const char **text)
{
    const Parley__Edit *e = get_kind(c, PARLEY__CONTENT__KIND_EDIT);
    if (e == NULL)
        return PARLEY_ERR_NOT_FOUND;
    if (target_id != NULL)
        *target_id = e->target_id;
    if (text != NULL)
        *text = e->text;
    return PARLEY_OK;
}

int parley_content_set_delete(parley_content *c, const char *target_id)
{
    PARLEY_MISUSE(c != NULL && target_id != NULL);
    if (!pcn_id_ok(target_id))
        return PARLEY_ERR_CONTENT_INVALID;
    Parley__Delete *d = use_kind(c, PARLEY__CONTENT__KIND_DELETE);
    if (d == NULL)
        return PARLEY_ERR_NOMEM;
    return set_str(c, &d->target_id, target_id);
}

int parley_content_delete_target(const parley_content *c, const char **target_id)
{
    PARLEY_MISUSE(target_id != NULL);
    const Parley__Delete *d = get_kind(c, PARLEY__CONTENT__KIND_DELETE);
    if (d == NULL)
        return PARLEY_ERR_NOT_FOUND;
    *target_id = d->target_id;
    return PARLEY_OK;
}

/* ---- receipt, typing ------------------------------------------------------- */

int parley_content_set_receipt(parley_content *c, parley_receipt_type type, const char *const *ids,
                               size_t n, uint64_t timestamp)
{
    PARLEY_MISUSE(c != NULL && (ids != NULL || n == 0));
    int rc;
    char **arr = NULL;
    size_t filled = 0;
    ENSURE(n > 0 && type <= PARLEY_RECEIPT_READ, PARLEY_ERR_CONTENT_INVALID);
    ENSURE(n <= PARLEY_CONTENT_MAX_RECEIPT_IDS, PARLEY_ERR_CONTENT_TOO_LARGE);
    for (size_t i = 0; i < n; i++)
        ENSURE(ids[i] != NULL && pcn_id_ok(ids[i]), PARLEY_ERR_CONTENT_INVALID);
    arr = pcn_alloc(c, n * sizeof *arr);
    ENSURE(arr != NULL, PARLEY_ERR_NOMEM);
    for (; filled < n; filled++) {
        arr[filled] = pcn_strdup(c, ids[filled]);
        ENSURE(arr[filled] != NULL, PARLEY_ERR_NOMEM);
    }
    Parley__Receipt *r = use_kind(c, PARLEY__CONTENT__KIND_RECEIPT);
    ENSURE(r != NULL, PARLEY_ERR_NOMEM);
    for (size_t i = 0; i < r->n_ids; i++)
        pcn_free(c, r->ids[i]);
    pcn_free(c, r->ids);
    r->ids = arr;
    r->n_ids = n;
    arr = NULL;
    r->type = (Parley__Receipt__Type)type;
    r->has_type = 1;
    r->timestamp = timestamp;
    r->has_timestamp = 1;
    rc = PARLEY_OK;
out:
    if (arr != NULL) {
        for (size_t i = 0; i < filled; i++)
            pcn_free(c, arr[i]);
        pcn_free(c, arr);
    }
    return rc;
}

int parley_content_receipt(const parley_content *c, parley_receipt_type *type, size_t *n,
                           uint64_t *timestamp)
{
    const Parley__Receipt *r = get_kind(c, PARLEY__CONTENT__KIND_RECEIPT);
    if (r == NULL)
        return PARLEY_ERR_NOT_FOUND;
    if (type != NULL)
        *type = r->has_type ? (parley_receipt_type)r->type : PARLEY_RECEIPT_DELIVERY;
    if (n != NULL)
        *n = r->n_ids;
    if (timestamp != NULL)
        *timestamp = r->has_timestamp ? r->timestamp : 0;
    return PARLEY_OK;
}

const char *parley_content_receipt_id(const parley_content *c, size_t i)
{
    const Parley__Receipt *r = get_kind(c, PARLEY__CONTENT__KIND_RECEIPT);
    return r != NULL && i < r->n_ids ? r->ids[i] : NULL;
}

int parley_content_set_typing(parley_content *c, parley_typing_action action)
{
    PARLEY_MISUSE(c != NULL);
    if (action > PARLEY_TYPING_STOPPED)
        return PARLEY_ERR_INVALID_ARG;
    Parley__Typing *t = use_kind(c, PARLEY__CONTENT__KIND_TYPING);
    if (t == NULL)
        return PARLEY_ERR_NOMEM;
    t->action = (Parley__Typing__Action)action;
    t->has_action = 1;
    return PARLEY_OK;
}

int parley_content_typing(const parley_content *c, parley_typing_action *action)
{
    PARLEY_MISUSE(action != NULL);
    const Parley__Typing *t = get_kind(c, PARLEY__CONTENT__KIND_TYPING);
    if (t == NULL)
        return PARLEY_ERR_NOT_FOUND;
    *action = t->has_action ? (parley_typing_action)t->action : PARLEY_TYPING_STARTED;
    return PARLEY_OK;
}

/* ---- sync ---------------------------------------------------------------- */

int parley_content_set_sync(parley_content *c, const char *destination,
                            const parley_content *original)
{
    PARLEY_MISUSE(c != NULL && destination != NULL && original != NULL && c != original);
    int rc;
    uint8_t *enc = NULL;
    size_t n = 0;
    char *dest = NULL;
    ENSURE(original->msg->kind_case != PARLEY__CONTENT__KIND_SYNC, PARLEY_ERR_CONTENT_INVALID);
    ENSURE(destination[0] != '\0' && pcn_utf8_ok(destination, strlen(destination)),
           PARLEY_ERR_CONTENT_INVALID);
    size_t len = parley_content_encoded_len(original);
    enc = pcn_alloc(c, len > 0 ? len : 1);
    ENSURE(enc != NULL, PARLEY_ERR_NOMEM);
    GUARD(parley_content_encode(original, enc, len, &n));
    dest = pcn_strdup(c, destination);
    ENSURE(dest != NULL, PARLEY_ERR_NOMEM);
    Parley__Sync *s = use_kind(c, PARLEY__CONTENT__KIND_SYNC);
    ENSURE(s != NULL, PARLEY_ERR_NOMEM);
    pcn_free(c, s->destination);
    pcn_free(c, s->content.data);
    s->destination = dest;
    s->content.data = enc;
    s->content.len = n;
    s->has_content = 1;
    dest = NULL;
    enc = NULL;
    rc = PARLEY_OK;
out:
    pcn_free(c, dest);
    pcn_free(c, enc);
    return rc;
}

int parley_content_sync(const parley_content *c, const char **destination,
                        parley_content **original, const parley_content_limits *limits)
{
    int rc;
    const Parley__Sync *s = get_kind(c, PARLEY__CONTENT__KIND_SYNC);
    if (original != NULL)
        *original = NULL;
    ENSURE(s != NULL, PARLEY_ERR_NOT_FOUND);
    if (destination != NULL)
        *destination = s->destination;
    if (original != NULL) {
        GUARD(parley_content_decode(original, s->content.data, s->content.len, limits));
        /* A sync of a sync was refused when c was decoded or built. */
        if (parley_content_get_kind(*original) == PARLEY_CONTENT_SYNC) {
            parley_content_free(*original);
            *original = NULL;
            rc = PARLEY_ERR_CONTENT_INVALID;
            goto out;
        }
    }
    rc = PARLEY_OK;
out:
    return rc;
}

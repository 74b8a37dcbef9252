#include "parley/result.h"

#include <stddef.h>

static const struct {
    int code;
    const char *name;
} names[] = {
    {PARLEY_OK, "ok"},
    {PARLEY_ERR_NOMEM, "out_of_memory"},
    {PARLEY_ERR_INVALID_ARG, "invalid_argument"},
    {PARLEY_ERR_CRYPTO, "crypto_failure"},
    {PARLEY_ERR_BUFFER, "buffer_limit"},
    {PARLEY_ERR_DECODE, "decode_error"},
    {PARLEY_ERR_IO, "io_error"},
    {PARLEY_ERR_NOT_FOUND, "not_found"},
    {PARLEY_ERR_STATE, "invalid_state"},
    {PARLEY_ERR_AGAIN, "again"},
    {PARLEY_ERR_INVALID_MESSAGE, "invalid_message"},
    {PARLEY_ERR_INVALID_MAC, "invalid_mac"},
    {PARLEY_ERR_DUPLICATE, "duplicate"},
    {PARLEY_ERR_UNTRUSTED_IDENTITY, "untrusted_identity"},
    {PARLEY_ERR_NO_SESSION, "no_session"},
    {PARLEY_ERR_INVALID_KEY_ID, "invalid_key_id"},
    {PARLEY_ERR_TOO_FAR_AHEAD, "too_far_ahead"},
    {PARLEY_ERR_LEGACY_VERSION, "legacy_version"},
    {PARLEY_ERR_INVALID_SIGNATURE, "invalid_signature"},
    {PARLEY_ERR_INVALID_KEY, "invalid_key"},
    {PARLEY_ERR_STORE, "store_error"},
    {PARLEY_ERR_NOISE_HANDSHAKE, "noise_handshake"},
    {PARLEY_ERR_NOISE_DECRYPT, "noise_decrypt"},
    {PARLEY_ERR_NOISE_NONCE_EXHAUSTED, "noise_nonce_exhausted"},
    {PARLEY_ERR_FRAME_TOO_LARGE, "frame_too_large"},
    {PARLEY_ERR_CERT_INVALID, "certificate_invalid"},
    {PARLEY_ERR_CERT_EXPIRED, "certificate_expired"},
    {PARLEY_ERR_CERT_KEY_MISMATCH, "certificate_key_mismatch"},
    {PARLEY_ERR_TIMEOUT, "timeout"},
    {PARLEY_ERR_PROLOGUE, "bad_prologue"},
    {PARLEY_ERR_STANZA_SYNTAX, "stanza_syntax"},
    {PARLEY_ERR_STANZA_TOO_LARGE, "stanza_too_large"},
    {PARLEY_ERR_STANZA_TOO_DEEP, "stanza_too_deep"},
    {PARLEY_ERR_STANZA_TOO_MANY_CHILDREN, "stanza_too_many_children"},
    {PARLEY_ERR_STANZA_TOO_MANY_ATTRS, "stanza_too_many_attributes"},
    {PARLEY_ERR_STANZA_ATTR_TOO_LONG, "stanza_attribute_too_long"},
    {PARLEY_ERR_STANZA_DTD, "stanza_dtd"},
    {PARLEY_ERR_STANZA_ENTITY, "stanza_entity"},
    {PARLEY_ERR_STANZA_PI, "stanza_processing_instruction"},
    {PARLEY_ERR_STANZA_UTF8, "stanza_invalid_utf8"},
    {PARLEY_ERR_STANZA_NAME, "stanza_invalid_name"},
    {PARLEY_ERR_STANZA_TEXT_TOO_LONG, "stanza_text_too_long"},
    {PARLEY_ERR_STANZA_XML_DECL, "stanza_xml_declaration"},
    {PARLEY_ERR_STANZA_MIXED, "stanza_mixed_content"},
    {PARLEY_ERR_STANZA_CHAR, "stanza_illegal_character"},
    {PARLEY_ERR_STANZA_NAME_TOO_LONG, "stanza_name_too_long"},
    {PARLEY_ERR_STANZA_TOO_MANY_ELEMENTS, "stanza_too_many_elements"},
    {PARLEY_ERR_STANZA_BASE64, "stanza_invalid_base64"},
    {PARLEY_ERR_STANZA_COMMENT, "stanza_comment"},
    {PARLEY_ERR_STANZA_TRAILING, "stanza_trailing_data"},
    {PARLEY_ERR_STANZA_DUPLICATE_ATTR, "stanza_duplicate_attribute"},
    {PARLEY_ERR_STANZA_INCOMPLETE, "stanza_incomplete"},
    {PARLEY_ERR_STANZA_TAG_MISMATCH, "stanza_tag_mismatch"},
    {PARLEY_ERR_CONTENT_DECODE, "content_decode"},
    {PARLEY_ERR_CONTENT_PADDING, "content_padding"},
    {PARLEY_ERR_CONTENT_INVALID, "content_invalid"},
    {PARLEY_ERR_CONTENT_TOO_LARGE, "content_too_large"},
    {PARLEY_ERR_STORE_CORRUPT, "store_corrupt"},
    {PARLEY_ERR_STORE_TOO_LARGE, "store_value_too_large"},
    {PARLEY_ERR_STORE_EXISTS, "store_already_exists"},
    {PARLEY_ERR_STORE_EXPIRED, "store_code_expired"},
    {PARLEY_ERR_STORE_STALE, "store_stale_version"},
    {PARLEY_ERR_STORE_BUSY, "store_busy"},
    {PARLEY_ERR_STORE_SCHEMA, "store_schema_too_new"},
    {PARLEY_ERR_STORE_CLOSED, "store_closed"},
    {PARLEY_ERR_STORE_FULL, "store_disk_full"},
    {PARLEY_ERR_STORE_BACKEND, "store_backend_failure"},
    {PARLEY_ERR_STORE_LIMIT, "store_limit_reached"},
    {PARLEY_ERR_CLIENT_REFUSED, "client_refused"},
    {PARLEY_ERR_CLIENT_NOT_REGISTERED, "client_not_registered"},
    {PARLEY_ERR_CLIENT_DEVICES, "client_device_list_invalid"},
    {PARLEY_ERR_CLIENT_CLOSED, "client_connection_closed"},
};

const char *parley_strerror(int rc)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].code == rc)
            return names[i].name;
    return "unknown_error";
}

/*
 * parley — one result convention for the whole library.
 *
 * Every fallible function returns an int: PARLEY_OK (0) on success or one of
 * the negative codes below. Codes are grouped by area so that a caller can
 * tell a malformed frame from a bad MAC from a full buffer; decryption
 * failures are distinct for the caller but never explained to the peer.
 */
#ifndef PARLEY_RESULT_H
#define PARLEY_RESULT_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PARLEY_MUST_CHECK __attribute__((warn_unused_result))
#else
#define PARLEY_MUST_CHECK
#endif

enum parley_result {
    PARLEY_OK = 0,

    /* general: -1 .. -99 */
    PARLEY_ERR_NOMEM = -1,
    PARLEY_ERR_INVALID_ARG = -2,
    PARLEY_ERR_CRYPTO = -3,      /* the crypto library itself failed */
    PARLEY_ERR_BUFFER = -4,      /* output buffer too small, or a maximum reached */
    PARLEY_ERR_DECODE = -5,      /* malformed input */
    PARLEY_ERR_IO = -6,
    PARLEY_ERR_NOT_FOUND = -7,
    PARLEY_ERR_STATE = -8,       /* operation not valid in the current state */
    PARLEY_ERR_AGAIN = -9,       /* would block; try again later */

    /* Signal protocol: -100 .. -199 */
    PARLEY_ERR_INVALID_MESSAGE = -100,
    PARLEY_ERR_INVALID_MAC = -101,
    PARLEY_ERR_DUPLICATE = -102,
    PARLEY_ERR_UNTRUSTED_IDENTITY = -103,
    PARLEY_ERR_NO_SESSION = -104,
    PARLEY_ERR_INVALID_KEY_ID = -105,
    PARLEY_ERR_TOO_FAR_AHEAD = -106,
    PARLEY_ERR_LEGACY_VERSION = -107,
    PARLEY_ERR_INVALID_SIGNATURE = -108,
    PARLEY_ERR_INVALID_KEY = -109,
    PARLEY_ERR_STORE = -110,

    /* Noise and framing: -200 .. -299 */
    PARLEY_ERR_NOISE_HANDSHAKE = -200,
    PARLEY_ERR_NOISE_DECRYPT = -201,
    PARLEY_ERR_NOISE_NONCE_EXHAUSTED = -202,
    PARLEY_ERR_FRAME_TOO_LARGE = -203,
    PARLEY_ERR_CERT_INVALID = -204,
    PARLEY_ERR_CERT_EXPIRED = -205,
    PARLEY_ERR_CERT_KEY_MISMATCH = -206,
    PARLEY_ERR_TIMEOUT = -207,
    PARLEY_ERR_PROLOGUE = -208,

    /* stanzas: -300 .. -399 */
    PARLEY_ERR_STANZA_SYNTAX = -300,
    PARLEY_ERR_STANZA_TOO_LARGE = -301,
    PARLEY_ERR_STANZA_TOO_DEEP = -302,
    PARLEY_ERR_STANZA_TOO_MANY_CHILDREN = -303,
    PARLEY_ERR_STANZA_TOO_MANY_ATTRS = -304,
    PARLEY_ERR_STANZA_ATTR_TOO_LONG = -305,
    PARLEY_ERR_STANZA_DTD = -306,
    PARLEY_ERR_STANZA_ENTITY = -307,
    PARLEY_ERR_STANZA_PI = -308,
    PARLEY_ERR_STANZA_UTF8 = -309,
    PARLEY_ERR_STANZA_NAME = -310,
    PARLEY_ERR_STANZA_TEXT_TOO_LONG = -311,
    PARLEY_ERR_STANZA_XML_DECL = -312,     /* an XML declaration (<?xml ...?>) */
    PARLEY_ERR_STANZA_MIXED = -313,        /* text beside child elements */
    PARLEY_ERR_STANZA_CHAR = -314,         /* a character XML forbids, raw or as &#...; */
    PARLEY_ERR_STANZA_NAME_TOO_LONG = -315,
    PARLEY_ERR_STANZA_TOO_MANY_ELEMENTS = -316,
    PARLEY_ERR_STANZA_BASE64 = -317,       /* binary content not canonical base64 */
    PARLEY_ERR_STANZA_COMMENT = -318,
    PARLEY_ERR_STANZA_TRAILING = -319,     /* anything after the root element */
    PARLEY_ERR_STANZA_DUPLICATE_ATTR = -320,
    PARLEY_ERR_STANZA_INCOMPLETE = -321,   /* the frame ends inside the element */
    PARLEY_ERR_STANZA_TAG_MISMATCH = -322, /* unbalanced tags */

    /* content: -400 .. -499 */
    PARLEY_ERR_CONTENT_DECODE = -400,
    PARLEY_ERR_CONTENT_PADDING = -401,
    PARLEY_ERR_CONTENT_INVALID = -402,     /* decodes, but breaks a schema rule */
    PARLEY_ERR_CONTENT_TOO_LARGE = -403,   /* over a parley_content_limits bound */

    /* storage (the server's durable state): -600 .. -699 */
    PARLEY_ERR_STORE_CORRUPT = -600,       /* the database file is damaged or not a database */
    PARLEY_ERR_STORE_TOO_LARGE = -601,     /* a value over its bound in src/store/store.h */
    PARLEY_ERR_STORE_EXISTS = -602,        /* a unique key (account, device, static key) is taken */
    PARLEY_ERR_STORE_EXPIRED = -603,       /* a registration or link code past its expiry */
    PARLEY_ERR_STORE_STALE = -604,         /* a device-list version not newer than the stored one */
    PARLEY_ERR_STORE_BUSY = -605,          /* locked by another writer beyond the busy timeout */
    PARLEY_ERR_STORE_SCHEMA = -606,        /* written by a newer schema than this build knows */
    PARLEY_ERR_STORE_CLOSED = -607,        /* submitted after shutdown began */
    PARLEY_ERR_STORE_FULL = -608,          /* the disk is full */
    PARLEY_ERR_STORE_BACKEND = -609,       /* any other failure of the database engine */
    PARLEY_ERR_STORE_LIMIT = -610,         /* a count bound reached (devices per account) */

    /* client engine: -700 .. -799 */
    PARLEY_ERR_CLIENT_REFUSED = -700,      /* the server refused a request (error stanza or failure) */
    PARLEY_ERR_CLIENT_NOT_REGISTERED = -701, /* the local store has no account yet */
    PARLEY_ERR_CLIENT_DEVICES = -702,      /* a device list is missing, unsigned or badly signed */
    PARLEY_ERR_CLIENT_CLOSED = -703,       /* the server closed the connection */

    /* interop (attestations, provider HTTP): -900 .. -999 */
    PARLEY_ERR_ATTEST_SIGNATURE = -900,    /* the provider's signature does not verify */
    PARLEY_ERR_ATTEST_UNKNOWN_KEY = -901,  /* no active attestation key with this id */
    PARLEY_ERR_ATTEST_PROVIDER = -902,     /* issued by another provider than the one expected */
    PARLEY_ERR_ATTEST_DOMAIN = -903,       /* the user's domain is not one of the provider's */
    PARLEY_ERR_ATTEST_EXPIRED = -904,      /* past its expiry */
    PARLEY_ERR_ATTEST_NOT_YET_VALID = -905, /* issued in the future */
    PARLEY_ERR_ATTEST_KEY_MISMATCH = -906, /* static or identity key not the one presented */
    PARLEY_ERR_ATTEST_LIFETIME = -907,     /* valid for longer than the gatekeeper accepts */
    PARLEY_ERR_HTTP_SIGNATURE = -910,      /* a signed HTTP request does not verify */
    PARLEY_ERR_HTTP_STALE = -911,          /* its timestamp is outside the window */
    PARLEY_ERR_HTTP_REPLAY = -912,         /* its signature was seen before */
    PARLEY_ERR_HTTP_STATUS = -913,         /* the peer answered with a failure status */
    PARLEY_ERR_HTTP_CIRCUIT_OPEN = -914,   /* the provider's circuit breaker is open */
};

/* A short, stable, lower_snake_case name for a result code ("invalid_mac"). */
const char *parley_strerror(int rc);

#ifdef __cplusplus
}
#endif
#endif

/*
 * Media attachments: streaming encryption and decryption (DESIGN.md 3.6,
 * docs/media.md "Blob format").
 *
 * A random 32-byte media key is expanded with HKDF-SHA256 (no salt, an info
 * string per media type, parley_media_info) into 112 bytes: IV (0..16),
 * AES-256 key (16..48), HMAC-SHA256 key (48..80), and 32 bytes reserved.
 * The blob a host stores is
 *
 *     AES-256-CBC-PKCS#7(plaintext) || HMAC-SHA256(mac_key, IV || ciphertext)[0..10]
 *
 * and the attachment carries SHA-256(plaintext) and SHA-256(blob).
 *
 * Both directions take input in chunks of any size and keep constant
 * memory. Decryption cannot know a blob is authentic before its last byte:
 * plaintext returned by parley_media_decryptor_update is UNAUTHENTICATED
 * and must not be shown or used until parley_media_decryptor_final returns
 * PARLEY_OK (write it to a temporary file and rename it only then, as
 * parley_media_decrypt_fd does). Final holds back the last plaintext block
 * and releases it only after the MAC, the blob hash, the padding, the
 * length and the plaintext hash all verify; any failure is
 * PARLEY_ERR_INVALID_MAC and says nothing more.
 */
#ifndef PARLEY_MEDIA_H
#define PARLEY_MEDIA_H

#include <stddef.h>
#include <stdint.h>
#include "parley/content.h"
#include "parley/result.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    PARLEY_MEDIA_MAC_LEN = 10,    /* truncated HMAC appended to the blob */
    PARLEY_MEDIA_SLACK = 32,      /* update: out must hold n + this */
    PARLEY_MEDIA_FINAL_MAX = 32,  /* final: out must hold this */
    PARLEY_MEDIA_IO_CHUNK = 65536 /* the file helpers' buffer */
};
#define PARLEY_MEDIA_SIZE_UNKNOWN UINT64_MAX

typedef struct {
    uint8_t plaintext_sha256[32];
    uint8_t encrypted_sha256[32];
    uint64_t plaintext_size;
    uint64_t encrypted_size;
} parley_media_digest;

/* A fresh random media key. */
PARLEY_MUST_CHECK int parley_media_key_generate(uint8_t key[PARLEY_MEDIA_KEY_LEN]);

/* The HKDF info string of a media type ("parley image keys", ...). */
const char *parley_media_info(parley_media_type type);

/* The blob size for a plaintext of `plain` bytes: padded to 16, plus 10. */
uint64_t parley_media_encrypted_size(uint64_t plain);

typedef struct parley_media_encryptor parley_media_encryptor;

PARLEY_MUST_CHECK int parley_media_encryptor_new(parley_media_encryptor **out,
                                                 const uint8_t key[PARLEY_MEDIA_KEY_LEN],
                                                 parley_media_type type);
/* Writes up to n + 16 bytes of blob; out_max >= n + PARLEY_MEDIA_SLACK. */
PARLEY_MUST_CHECK int parley_media_encryptor_update(parley_media_encryptor *e, const uint8_t *in,
                                                    size_t n, uint8_t *out, size_t out_max,
                                                    size_t *out_len);
/* Writes the last block and the MAC (at most 26 bytes), fills digest. */
PARLEY_MUST_CHECK int parley_media_encryptor_final(parley_media_encryptor *e, uint8_t *out,
                                                   size_t out_max, size_t *out_len,
                                                   parley_media_digest *digest);
void parley_media_encryptor_free(parley_media_encryptor *e);

typedef struct parley_media_decryptor parley_media_decryptor;

/*
 * The expected hashes may be NULL (not checked) and plain_size
 * PARLEY_MEDIA_SIZE_UNKNOWN; an attachment provides all three, and a
 * receiver should pass them. With a known size, bytes beyond the blob's
 * size are refused as soon as they arrive.
 *
 * For a large blob fed in large updates the decryptor hashes on a second
 * core, with a thread of its own that final, a failed update or free
 * joins (docs/media.md, "Decryption on two cores"); each update returns
 * only once that thread is done with in, so nothing about the calls
 * changes. After fork, the child may go on with a decryptor created
 * before (on one core), unless the fork came during one of its updates.
 */
PARLEY_MUST_CHECK int parley_media_decryptor_new(parley_media_decryptor **out,
                                                 const uint8_t key[PARLEY_MEDIA_KEY_LEN],
                                                 parley_media_type type,
                                                 const uint8_t *expect_encrypted_sha256,
                                                 const uint8_t *expect_plaintext_sha256,
                                                 uint64_t plain_size);
/* Unauthenticated plaintext (see above); out_max >= n + PARLEY_MEDIA_SLACK.
 * out must not overlap in: PARLEY_ERR_INVALID_ARG, and nothing is consumed. */
PARLEY_MUST_CHECK int parley_media_decryptor_update(parley_media_decryptor *d, const uint8_t *in,
                                                    size_t n, uint8_t *out, size_t out_max,
                                                    size_t *out_len);
/* Verifies everything, then releases the last plaintext bytes (<= 16). */
PARLEY_MUST_CHECK int parley_media_decryptor_final(parley_media_decryptor *d, uint8_t *out,
                                                   size_t out_max, size_t *out_len,
                                                   parley_media_digest *digest);
void parley_media_decryptor_free(parley_media_decryptor *d);

/*
 * File helpers with a PARLEY_MEDIA_IO_CHUNK buffer. encrypt_fd reads
 * in_fd to its end and writes the blob to out_fd. decrypt_fd reads a blob
 * from in_fd and writes the plaintext to a temporary file beside out_path,
 * renamed to out_path only when final verifies (the temporary file is
 * removed on any failure). PARLEY_ERR_IO for read/write failures.
 */
PARLEY_MUST_CHECK int parley_media_encrypt_fd(int in_fd, int out_fd,
                                              const uint8_t key[PARLEY_MEDIA_KEY_LEN],
                                              parley_media_type type, parley_media_digest *digest);
PARLEY_MUST_CHECK int parley_media_decrypt_fd(int in_fd, const char *out_path,
                                              const uint8_t key[PARLEY_MEDIA_KEY_LEN],
                                              parley_media_type type,
                                              const uint8_t *expect_encrypted_sha256,
                                              const uint8_t *expect_plaintext_sha256,
                                              uint64_t plain_size, parley_media_digest *digest);

/*
 * Media credentials (docs/media.md, "Media credentials"): bearer tokens for
 * the media host and proxy, minted by the chat server for a logged-in user
 * and checked by the media processes with the same 32-byte key.
 */
enum {
    PARLEY_MEDIA_TOKEN_KEY_LEN = 32,
    PARLEY_MEDIA_TOKEN_USER_MAX = 128, /* bytes of the user id, with its NUL */
    PARLEY_MEDIA_TOKEN_MAX = 5 + 2 * 127 + 1 + 20 + 1 + 64 + 1 /* with its NUL */
};

/* Writes "pmt1.<hex user>.<expires>.<hex mac>"; out_max >= PARLEY_MEDIA_TOKEN_MAX. */
PARLEY_MUST_CHECK int parley_media_token_make(const uint8_t key[PARLEY_MEDIA_TOKEN_KEY_LEN],
                                              const char *user, uint64_t expires, char *out,
                                              size_t out_max);
/*
 * Checks a token's form and MAC (constant time), then that now (Unix
 * seconds) is before its expiry. PARLEY_ERR_INVALID_MAC for anything not
 * minted under key, PARLEY_ERR_CERT_EXPIRED for an authentic but expired
 * one. On success user receives the user id; expires may be NULL.
 */
PARLEY_MUST_CHECK int parley_media_token_verify(const uint8_t key[PARLEY_MEDIA_TOKEN_KEY_LEN],
                                                const char *token, uint64_t now,
                                                char user[PARLEY_MEDIA_TOKEN_USER_MAX],
                                                uint64_t *expires);

#ifdef __cplusplus
}
#endif
#endif

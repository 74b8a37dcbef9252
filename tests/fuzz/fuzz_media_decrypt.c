/*
 * Media blob decryption (src/media/media.c): the first byte picks a chunk
 * size and the media type, the rest is the blob, decrypted under a fixed
 * key. Besides memory safety, checks that a blob is accepted only if it
 * re-encrypts to exactly itself (the blob is then authentic) and that
 * nothing is released by a failed final.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = {7, 7, 7};
    if (size < 1)
        return 0;
    size_t chunk = 1 + (data[0] & 0x3f);
    parley_media_type type = (parley_media_type)((data[0] >> 6) & 3);
    data++;
    size--;
    parley_media_decryptor *d = NULL;
    if (parley_media_decryptor_new(&d, key, type, NULL, NULL, PARLEY_MEDIA_SIZE_UNKNOWN) != 0)
        return 0;
    uint8_t *plain = malloc(size + 64);
    uint8_t out[64 + PARLEY_MEDIA_SLACK];
    size_t pos = 0, off = 0, l = 0;
    int rc = 0;
    while (pos < size && rc == 0) {
        size_t c = size - pos < chunk ? size - pos : chunk;
        rc = parley_media_decryptor_update(d, data + pos, c, out, sizeof out, &l);
        if (rc == 0) {
            memcpy(plain + off, out, l);
            off += l;
        }
        pos += c;
    }
    if (rc == 0) {
        rc = parley_media_decryptor_final(d, out, sizeof out, &l, NULL);
        if (rc != 0 && l != 0)
            abort();
        if (rc == 0) {
            memcpy(plain + off, out, l);
            off += l;
            /* re-encrypt: must give back the same blob */
            parley_media_encryptor *e = NULL;
            uint8_t *blob = malloc(off + 64);
            size_t bl = 0, fl = 0;
            parley_media_digest dg;
            if (parley_media_encryptor_new(&e, key, type) != 0 ||
                parley_media_encryptor_update(e, plain, off, blob, off + 64, &bl) != 0 ||
                parley_media_encryptor_final(e, blob + bl, off + 64 - bl, &fl, &dg) != 0 ||
                bl + fl != size || memcmp(blob, data, size) != 0)
                abort();
            parley_media_encryptor_free(e);
            free(blob);
        }
    }
    parley_media_decryptor_free(d);
    free(plain);
    return 0;
}

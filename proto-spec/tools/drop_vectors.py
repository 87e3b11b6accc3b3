#!/usr/bin/env python3
"""A second reader of meishi drop boxes, written from proto-spec/drop.md alone, run over the vectors.

It shares no code with the Rust implementation and needs nothing beyond Python's standard
library: X25519 is the ladder of RFC 7748, ChaCha20, Poly1305 and their AEAD are RFC 8439, and
XChaCha20-Poly1305 (HChaCha20) is draft-irtf-cfrg-xchacha; each is checked against its
published test vector before the drop vectors are read. When this reader and the reference
implementation agree on every vector (box ids, public keys, every valid message sealed and
opened byte for byte, every rejection of opening, of a relay's check, of addresses and of the
relay protocol's messages), the specification is complete enough to implement from. Slow and
not constant-time: a check, not a library.

    python3 proto-spec/tools/drop_vectors.py [proto-spec/vectors/drop]
"""

import hashlib
import hmac
import os
import struct
import sys

# ---- X25519 (RFC 7748, section 5) ---------------------------------------------------------

P = 2**255 - 19
A24 = 121665


def x25519(k, u):
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    x1 = int.from_bytes(u, "little") & (2**255 - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3, z3 = (da + cb) ** 2 % P, x1 * (da - cb) ** 2 % P
        x2, z2 = aa * bb % P, e * (aa + A24 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def x25519_public(k):
    return x25519(k, (9).to_bytes(32, "little"))


# ---- ChaCha20, Poly1305, AEAD (RFC 8439); HChaCha20, XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha)

M32 = 0xFFFFFFFF
SIGMA = struct.unpack("<4I", b"expand 32-byte k")


def rounds(s):
    def qr(a, b, c, d):
        s[a] = (s[a] + s[b]) & M32
        s[d] ^= s[a]
        s[d] = ((s[d] << 16) | (s[d] >> 16)) & M32
        s[c] = (s[c] + s[d]) & M32
        s[b] ^= s[c]
        s[b] = ((s[b] << 12) | (s[b] >> 20)) & M32
        s[a] = (s[a] + s[b]) & M32
        s[d] ^= s[a]
        s[d] = ((s[d] << 8) | (s[d] >> 24)) & M32
        s[c] = (s[c] + s[d]) & M32
        s[b] ^= s[c]
        s[b] = ((s[b] << 7) | (s[b] >> 25)) & M32

    for _ in range(10):
        qr(0, 4, 8, 12)
        qr(1, 5, 9, 13)
        qr(2, 6, 10, 14)
        qr(3, 7, 11, 15)
        qr(0, 5, 10, 15)
        qr(1, 6, 11, 12)
        qr(2, 7, 8, 13)
        qr(3, 4, 9, 14)
    return s


def chacha20_block(key, counter, nonce):
    init = list(SIGMA) + list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce))
    out = rounds(list(init))
    return struct.pack("<16I", *((o + i) & M32 for o, i in zip(out, init)))


def chacha20(key, counter, nonce, data):
    out = bytearray()
    for i in range(0, len(data), 64):
        block = chacha20_block(key, counter + i // 64, nonce)
        out += bytes(x ^ y for x, y in zip(data[i:i + 64], block))
    return bytes(out)


def hchacha20(key, nonce16):
    s = rounds(list(SIGMA) + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16)))
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    acc, p = 0, 2**130 - 5
    for i in range(0, len(msg), 16):
        chunk = msg[i:i + 16]
        acc = (acc + int.from_bytes(chunk + b"\x01", "little")) * r % p
    return ((acc + s) % 2**128).to_bytes(16, "little")


def pad16(b):
    return b"\x00" * (-len(b) % 16)


def aead_tag(key, nonce, aad, ct):
    otk = chacha20_block(key, 0, nonce)[:32]
    mac = aad + pad16(aad) + ct + pad16(ct) + struct.pack("<QQ", len(aad), len(ct))
    return poly1305(otk, mac)


def aead_seal(key, nonce, plaintext, aad):
    ct = chacha20(key, 1, nonce, plaintext)
    return ct + aead_tag(key, nonce, aad, ct)


def aead_open(key, nonce, sealed, aad):
    """The plaintext, or None when the tag does not verify."""
    ct, tag = sealed[:-16], sealed[-16:]
    if len(sealed) < 16 or not hmac.compare_digest(aead_tag(key, nonce, aad, ct), tag):
        return None
    return chacha20(key, 1, nonce, ct)


def xchacha_seal(key, nonce24, plaintext, aad):
    return aead_seal(hchacha20(key, nonce24[:16]), b"\x00" * 4 + nonce24[16:], plaintext, aad)


def xchacha_open(key, nonce24, sealed, aad):
    return aead_open(hchacha20(key, nonce24[:16]), b"\x00" * 4 + nonce24[16:], sealed, aad)


def hkdf_sha256(ikm, salt, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm, i = okm + t, i + 1
    return okm[:length]


def self_test():
    """The published test vectors of each primitive: a wrong primitive fails here, not later."""
    h = bytes.fromhex
    # RFC 7748, 5.2 (first vector) and 6.1 (Alice's public key).
    assert x25519(h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
                  h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")) == \
        h("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    assert x25519_public(h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")) == \
        h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    # RFC 8439, 2.8.2 (AEAD) and draft-irtf-cfrg-xchacha-03, 2.2.1 (HChaCha20) and A.3.1.
    sunscreen = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
                 b"the future, sunscreen would be it.")
    key, aad = bytes(range(0x80, 0xA0)), h("50515253c0c1c2c3c4c5c6c7")
    sealed = aead_seal(key, h("070000004041424344454647"), sunscreen, aad)
    assert sealed[:16] == h("d31a8d34648e60db7b86afbc53ef7ec2")
    assert sealed[-16:] == h("1ae10b594f09e26a7e902ecbd0600691")
    assert aead_open(key, h("070000004041424344454647"), sealed, aad) == sunscreen
    assert hchacha20(bytes(range(32)), h("000000090000004a0000000031415927")) == \
        h("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")
    sealed = xchacha_seal(key, bytes(range(0x40, 0x58)), sunscreen, aad)
    assert sealed[:16] == h("bd6d179d3e83d43b9576579493c0e939")
    assert sealed[-16:] == h("c0875924c1c7987947deafd8780acf49")
    # RFC 5869, A.1 (HKDF-SHA256, 42 bytes).
    assert hkdf_sha256(b"\x0b" * 22, bytes(range(13)), bytes(range(0xF0, 0xFA)), 42) == h(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


# ---- drop.md ------------------------------------------------------------------------------

DROP_KEY_LABEL = b"meishi/drop-key/v1\x00"
DROP_ID_LABEL = b"meishi/drop-id/v1\x00"
DROP_SEAL_INFO = b"meishi/drop-seal/v1"
DROP_SEAL_LABEL = b"meishi/drop-seal/v1\x00"
MAX_DROP_PLAINTEXT = 8192
MIN_DROP_SEALED = 1 + 32 + 24 + 1 + 16
MAX_DROP_SEALED = 1 + 32 + 24 + MAX_DROP_PLAINTEXT + 16
DROP_ADDRESS_LEN = 65
MAX_DROP_GET = MAX_DROP_PAGE = 64
MAX_DROP_REQUEST = 1 + 32 + 2 + MAX_DROP_SEALED
MAX_DROP_RESPONSE = 262144


class Reject(Exception):
    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


def static_secret(secret):
    return hashlib.sha256(DROP_KEY_LABEL + secret).digest()


def public_key(secret):
    return x25519_public(static_secret(secret))


def box_id(secret, contact_key):
    return hashlib.sha256(DROP_ID_LABEL + secret + contact_key).digest()


def canonical(key):
    """drop.md#conventions: top bit clear and, little-endian, below p."""
    return key[31] & 0x80 == 0 and int.from_bytes(key, "little") < P


def weak(key):
    """Small order: X25519 with any scalar gives 32 zero bytes (a clamped scalar is a multiple of 8)."""
    return x25519(b"\x5a" * 32, key) == bytes(32)


def message_key(shared, ephemeral, recipient):
    return hkdf_sha256(shared, ephemeral + recipient, DROP_SEAL_INFO, 32)


def seal(address_id, address_key, plaintext, e, nonce):
    """drop.md#sealing, with a given ephemeral secret and nonce."""
    assert 1 <= len(plaintext) <= MAX_DROP_PLAINTEXT and canonical(address_key)
    ephemeral = x25519_public(e)
    shared = x25519(e, address_key)
    assert shared != bytes(32)
    key = message_key(shared, ephemeral, address_key)
    return b"\x01" + ephemeral + nonce + xchacha_seal(key, nonce, plaintext, DROP_SEAL_LABEL + address_id)


def check_relay(sealed):
    """drop.md#opening, steps 1 to 5: what a relay runs."""
    if not sealed:
        raise Reject("empty")
    if len(sealed) > MAX_DROP_SEALED:
        raise Reject("too-large")
    if sealed[0] != 1:
        raise Reject("unsupported-version")
    if len(sealed) < MIN_DROP_SEALED:
        raise Reject("truncated")
    if not canonical(sealed[1:33]):
        raise Reject("non-canonical")


def open_drop(secret, id_, sealed):
    """drop.md#opening, every step."""
    check_relay(sealed)
    ephemeral, nonce, ciphertext = sealed[1:33], sealed[33:57], sealed[57:]
    k = static_secret(secret)
    shared = x25519(k, ephemeral)
    if shared == bytes(32):
        raise Reject("weak-key")
    key = message_key(shared, ephemeral, x25519_public(k))
    plaintext = xchacha_open(key, nonce, ciphertext, DROP_SEAL_LABEL + id_)
    if plaintext is None:
        raise Reject("open-failed")
    return plaintext


def decode_address(b):
    """drop.md#drop-address, in its order: (id, key)."""
    if not b:
        raise Reject("empty")
    if b[0] != 1:
        raise Reject("unsupported-version")
    if len(b) < DROP_ADDRESS_LEN:
        raise Reject("truncated")
    if len(b) > DROP_ADDRESS_LEN:
        raise Reject("trailing-bytes")
    if not canonical(b[33:]):
        raise Reject("non-canonical")
    if weak(b[33:]):
        raise Reject("weak-key")
    return b[1:33], b[33:]


class Reader:
    def __init__(self, b):
        self.b, self.pos = b, 0

    def take(self, n):
        if self.pos + n > len(self.b):
            raise Reject("truncated")
        self.pos += n
        return self.b[self.pos - n:self.pos]

    def u8(self):
        return self.take(1)[0]

    def sealed(self):
        n = int.from_bytes(self.take(2), "big")
        if not 1 <= n <= MAX_DROP_SEALED:
            raise Reject("sealed-size")
        return self.take(n)

    def distinct(self, duplicate):
        n = self.u8()
        if not 1 <= n <= MAX_DROP_GET:
            raise Reject("bad-count")
        out = []
        for _ in range(n):
            v = self.take(32)
            if v in out:
                raise Reject(duplicate)
            out.append(v)
        return out

    def end(self):
        if self.pos != len(self.b):
            raise Reject("trailing-bytes")


def decode_request(b):
    """drop.md#relay-protocol: the fields a vector names, as it writes them."""
    if len(b) > MAX_DROP_REQUEST:
        raise Reject("too-large")
    r = Reader(b)
    t = r.u8()
    if t == 0x01:
        out = {"type": "put", "id": r.take(32).hex(), "sealed": r.sealed().hex()}
    elif t == 0x02:
        out = {"type": "get", "ids": " ".join(v.hex() for v in r.distinct("duplicate-id"))}
    elif t == 0x03:
        out = {"type": "ack", "id": r.take(32).hex()}
        out["digests"] = " ".join(v.hex() for v in r.distinct("duplicate-digest"))
    else:
        raise Reject("unknown-type")
    r.end()
    return out


def decode_response(b):
    if len(b) > MAX_DROP_RESPONSE:
        raise Reject("too-large")
    r = Reader(b)
    t = r.u8()
    if t == 0x81:
        out = {"type": "put-ok"}
    elif t == 0x82:
        more = r.u8()
        if more > 1:
            raise Reject("bad-flag")
        n = r.u8()
        if n > MAX_DROP_PAGE:
            raise Reject("page-size")
        if more and n == 0:
            raise Reject("more-without-messages")
        messages = [(r.take(32), r.sealed()) for _ in range(n)]
        out = {"type": "messages", "more": str(more), "ids": " ".join(i.hex() for i, _ in messages),
               "sealed": " ".join(s.hex() for _, s in messages)}
    elif t == 0x83:
        out = {"type": "ack-ok", "deleted": str(int.from_bytes(r.take(4), "big"))}
    elif t == 0xFF:
        out = {"type": "refused", "reason": str(r.u8())}
    else:
        raise Reject("unknown-type")
    r.end()
    return out


def outcome(f, *args):
    try:
        return f(*args), "success"
    except Reject as e:
        return None, e.kind


def check(text):
    """The problem with one vector, or None when this reader agrees with it."""
    h = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in text.splitlines())
    x = {k: bytes.fromhex(v) for k, v in h.items()
         if k in ("secret", "contact-key", "public-key", "id", "ephemeral-secret", "nonce", "plaintext",
                  "sealed", "address", "key", "request", "response") and " " not in v}
    expect = h["expect"]
    if "relay-check" in h:
        got_plain, got = outcome(open_drop, x["secret"], x["id"], x["sealed"])
        _, relay = outcome(check_relay, x["sealed"])
        if (got, relay) != (expect, h["relay-check"]):
            return f"expected {expect} (a relay: {h['relay-check']}), got {got} (a relay: {relay})"
        if "plaintext" in x:
            if got_plain != x["plaintext"]:
                return "opens to other bytes"
            if box_id(x["secret"], x["contact-key"]) != x["id"] or public_key(x["secret"]) != x["public-key"]:
                return "the box id or the public key is not derived from the secret"
            again = seal(x["id"], x["public-key"], x["plaintext"], x["ephemeral-secret"], x["nonce"])
            if again != x["sealed"]:
                return "sealing the plaintext gives other bytes"
    elif "request" in h or "response" in h:
        which = "request" if "request" in h else "response"
        fields, got = outcome(decode_request if which == "request" else decode_response, x[which])
        if got != expect:
            return f"expected {expect}, got {got}"
        for k, v in (fields or {}).items():
            if h.get(k) != v:
                return f"{k}: the vector says {h.get(k)}, this reader {v}"
    elif "contact-key" in h:
        if expect != "success":
            return f"a derivation expects {expect}"
        if public_key(x["secret"]) != x["public-key"]:
            return "another public key"
        if box_id(x["secret"], x["contact-key"]) != x["id"]:
            return "another box id"
        if b"\x01" + x["id"] + x["public-key"] != x["address"]:
            return "another address"
    elif "address" in h:
        decoded, got = outcome(decode_address, x["address"])
        if got != expect:
            return f"expected {expect}, got {got}"
        if decoded and decoded != (x["id"], x["key"]):
            return "another id or key"
    else:
        return "not a drop vector this reader knows"
    return None


def main():
    self_test()
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../vectors/drop")
    names = sorted(os.listdir(folder))
    failures = []
    for name in names:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            problem = check(f.read())
        if problem:
            failures.append(f"{name}: {problem}")
    for line in failures:
        print(line, file=sys.stderr)
    print(f"drop_vectors.py: {len(names) - len(failures)}/{len(names)} vectors agree with drop.md", file=sys.stderr)
    sys.exit(1 if failures or not names else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A second reader of meishi cards, written from proto-spec/card.md alone, run over the vectors.

It shares no code with the Rust implementation (no bincode, no ed25519 library: Ed25519 is
computed here from RFC 8032 with Python integers), so when both agree on every vector the
specification is complete enough to implement from. Slow and not constant-time: a check, not a
library.

    python3 proto-spec/tools/card_vectors.py [proto-spec/vectors/card]
"""

import hashlib
import os
import sys

# ---- Ed25519 (RFC 8032), affine coordinates ------------------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)


def inv(x):
    return pow(x, P - 2, P)


def add(a, b):
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * inv(1 + t) % P, (y1 * y2 + x1 * x2) * inv(1 - t) % P)


def mul(k, pt):
    out = IDENTITY
    while k:
        if k & 1:
            out = add(out, pt)
        pt = add(pt, pt)
        k >>= 1
    return out


def encode_point(pt):
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode_point(b):
    """card.md#verification step 9: y below p, x from the curve equation, sign bit selects x."""
    n = int.from_bytes(b, "little")
    y, sign = n & (2**255 - 1), n >> 255
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    elif v * x * x % P != u:
        return None
    if x & 1 != sign:
        x = (P - x) % P  # x = 0 with sign 1 stays 0: accepted, and small order (weak) anyway
    return (x, y)


BY = 4 * inv(5) % P
B = decode_point(BY.to_bytes(32, "little"))


def small_order(pt):
    return mul(8, pt) == IDENTITY


# ---- card.md ------------------------------------------------------------------------------

LABEL = b"meishi/card/v1\x00"
MAX_CARD = 4096
LIMITS = dict(name=128, short=128, note=280, email=254, phone=32, url=512, values=8, socials=16, tags=16, tag=32,
              exts=8, ext_bytes=1024)
WHITE_SPACE = set(map(chr, [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
                            0x202F, 0x205F, 0x3000]))


class Reject(Exception):
    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if n > len(self.data) - self.pos:
            raise Reject("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def varint(self, bits):
        first = self.u8()
        if first <= 250:
            return first
        width = {0xFB: 2, 0xFC: 4, 0xFD: 8}.get(first)
        if width is None or width * 8 > bits:
            raise Reject("malformed")
        return int.from_bytes(self.take(width), "little")

    def string(self):
        try:
            return self.take(self.varint(64)).decode("utf-8")
        except UnicodeDecodeError:
            raise Reject("malformed") from None

    def option(self, item):
        tag = self.u8()
        if tag > 1:
            raise Reject("malformed")
        return item() if tag else None

    def list(self, item):
        n = self.varint(64)
        out = []
        while len(out) < n:  # item by item: the count alone reserves nothing
            out.append(item())
        return out


def varint(v):
    if v <= 250:
        return bytes([v])
    for marker, width in ((0xFB, 2), (0xFC, 4), (0xFD, 8)):
        if v < 2 ** (8 * width):
            return bytes([marker]) + v.to_bytes(width, "little")
    raise ValueError(v)


def enc_str(s):
    b = s.encode("utf-8")
    return varint(len(b)) + b


def enc_opt(v, f):
    return b"\x00" if v is None else b"\x01" + f(v)


def enc_list(vs, f):
    return varint(len(vs)) + b"".join(map(f, vs))


def encode_body(c):
    return (bytes([c["format"]]) + c["key"] + varint(c["seq"]) + varint(c["issued_at"]) + enc_str(c["name"])
            + enc_opt(c["title"], enc_str) + enc_opt(c["org"], enc_str) + enc_list(c["emails"], enc_str)
            + enc_list(c["phones"], enc_str) + enc_list(c["urls"], enc_str)
            + enc_list(c["socials"], lambda s: bytes([s[0]]) + enc_str(s[1])) + enc_opt(c["note"], enc_str)
            + enc_list(c["tags"], enc_str) + enc_opt(c["avatar"], enc_str)
            + enc_list(c["extensions"], lambda e: varint(e[0]) + varint(len(e[1])) + e[1]))


def check_text(s, limit):
    if len(s.encode("utf-8")) > limit:
        raise Reject("field-too-long")
    if all(ch in WHITE_SPACE for ch in s):
        raise Reject("empty-value")
    if any(ord(ch) <= 0x1F or 0x7F <= ord(ch) <= 0x9F for ch in s):
        raise Reject("control-character")


def check_list(vs, count, limit):
    if len(vs) > count:
        raise Reject("too-many-values")
    for v in vs:
        check_text(v, limit)


def decode(data):
    """Every step of card.md#verification, in order. Returns the card's fields or raises Reject."""
    if not data:
        raise Reject("empty")
    if len(data) > MAX_CARD:
        raise Reject("too-large")
    if data[0] != 1:
        raise Reject("unsupported-format")
    r = Reader(data)
    c = dict(format=r.u8(), key=r.take(32), seq=r.varint(64), issued_at=r.varint(64), name=r.string(),
             title=r.option(r.string), org=r.option(r.string), emails=r.list(r.string), phones=r.list(r.string),
             urls=r.list(r.string), socials=r.list(lambda: (r.u8(), r.string())), note=r.option(r.string),
             tags=r.list(r.string), avatar=r.option(r.string),
             extensions=r.list(lambda: (r.varint(32), r.take(r.varint(64)))))
    body, rest = data[:r.pos], data[r.pos:]
    if len(rest) < 64:
        raise Reject("truncated")
    if len(rest) > 64:
        raise Reject("trailing-bytes")
    if encode_body(c) != body:
        raise Reject("non-canonical")
    if all(ch in WHITE_SPACE for ch in c["name"]):
        raise Reject("empty-name")
    check_text(c["name"], LIMITS["name"])
    for field, limit in (("title", "short"), ("org", "short"), ("note", "note"), ("avatar", "url")):
        if c[field] is not None:
            check_text(c[field], LIMITS[limit])
    check_list(c["emails"], LIMITS["values"], LIMITS["email"])
    check_list(c["phones"], LIMITS["values"], LIMITS["phone"])
    check_list(c["urls"], LIMITS["values"], LIMITS["url"])
    check_list(c["tags"], LIMITS["tags"], LIMITS["tag"])
    if len(c["socials"]) > LIMITS["socials"]:
        raise Reject("too-many-values")
    for kind, handle in c["socials"]:
        if kind == 0:
            raise Reject("reserved-social-kind")
        check_text(handle, LIMITS["short"])
    exts = c["extensions"]
    if len(exts) > LIMITS["exts"] or any(len(d) > LIMITS["ext_bytes"] for _, d in exts):
        raise Reject("extension-too-large")
    if any(a[0] >= b[0] for a, b in zip(exts, exts[1:])):
        raise Reject("extension-order")
    if any(tag % 2 for tag, _ in exts):
        raise Reject("unknown-critical-extension")
    a = decode_point(c["key"])
    if a is None:
        raise Reject("invalid-key")
    if small_order(a):
        raise Reject("weak-key")
    sig_r, s = rest[:32], int.from_bytes(rest[32:], "little")
    r_pt = decode_point(sig_r)
    if s >= L or r_pt is None or small_order(r_pt):
        raise Reject("bad-signature")
    k = int.from_bytes(hashlib.sha512(sig_r + c["key"] + LABEL + body).digest(), "little") % L
    neg_a = ((P - a[0]) % P, a[1])
    if encode_point(add(mul(s, B), mul(k, neg_a))) != sig_r:
        raise Reject("bad-signature")
    return c


def peer_id(key):
    b = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]) + key
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n, out = int.from_bytes(b, "big"), ""
    while n:
        n, rem = divmod(n, 58)
        out = alphabet[rem] + out
    return "1" * (len(b) - len(b.lstrip(b"\x00"))) + out


def fingerprint(key):
    d = hashlib.sha256(b"meishi/fingerprint/v1\x00" + key).digest()
    return " ".join("%05d" % (int.from_bytes(d[i:i + 5], "big") % 100000) for i in range(0, 30, 5))


def replacement(stored, incoming, stored_bytes, incoming_bytes):
    if stored["key"] != incoming["key"]:
        return "other-key"
    if incoming["seq"] != stored["seq"]:
        return "newer" if incoming["seq"] > stored["seq"] else "older"
    return "same" if incoming_bytes == stored_bytes else "equivocation"


def check(text):
    h = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in text.splitlines())
    data = bytes.fromhex(h["card"])
    try:
        card, got = decode(data), "success"
    except Reject as e:
        card, got = None, e.kind
    if got != h["expect"]:
        return f"expected {h['expect']}, got {got}"
    if card is None:
        return None
    if "peer-id" in h and peer_id(card["key"]) != h["peer-id"]:
        return "peer id differs"
    if "fingerprint" in h and fingerprint(card["key"]) != h["fingerprint"]:
        return "fingerprint differs"
    if "replacement" in h:
        stored_bytes = bytes.fromhex(h["stored"])
        got = replacement(decode(stored_bytes), card, stored_bytes, data)
        if got != h["replacement"]:
            return f"replacement {got}, expected {h['replacement']}"
    return None


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../vectors/card")
    names = sorted(os.listdir(folder))
    failures = []
    for name in names:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            problem = check(f.read())
        if problem:
            failures.append(f"{name}: {problem}")
    for line in failures:
        print(line, file=sys.stderr)
    print(f"card_vectors.py: {len(names) - len(failures)}/{len(names)} vectors agree with card.md", file=sys.stderr)
    sys.exit(1 if failures or not names else 0)


if __name__ == "__main__":
    main()

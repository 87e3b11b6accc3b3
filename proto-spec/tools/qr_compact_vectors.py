#!/usr/bin/env python3
"""An independent reader of the compact form (flag 02) of proto-spec/qr.md, written from the
spec alone: base45, the binary header, raw deflate with the compact dictionary (built here from
the spec's two dictionary code blocks and its compact-text rules), the field stream and compact
text. It checks every vector in proto-spec/vectors/qr/ whose payload has flag 02:

- a `success` case must decode, re-encode to the same field stream, and each text value must
  appear, as UTF-8, in the canonical card (`card:`);
- a case whose `expect:` is `fields-invalid-text`, `fields-truncated` or `fields-non-canonical`
  must be refused here with that same name.

Signatures and the card rules of proto-spec/card.md are card_vectors.py's job.

    python3 proto-spec/tools/qr_compact_vectors.py [proto-spec/vectors/qr]
"""
import os
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "qr.md")
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
WINDOWS = [0x00A0, 0x0118, 0x0370, 0x0400, 0x0588, 0x0600, 0x0900]


class Reject(Exception):
    pass


def b45decode(s):
    out = bytearray()
    for i in range(0, len(s), 3):
        chunk = [B45.index(c) for c in s[i:i + 3]]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 2025
            out += n.to_bytes(2, "big")
        else:
            out.append(chunk[0] + chunk[1] * 45)
    return bytes(out)


def klass(u):
    if 0x20 <= u <= 0x7E:
        return ("ascii", None)
    if u < 0x2000:
        for k, base in enumerate(WINDOWS):
            if base <= u < base + 120:
                return ("window", k)
        return ("quote", None)
    if 0xE000 <= u <= 0xF8FF:
        return ("quote", None)
    return ("wide", None)


def encode_text(s):
    out, wide, window = bytearray(), False, 0
    for ch in s:
        u = ord(ch)
        cls, k = klass(u)
        if wide:
            if cls == "wide":
                out += ch.encode("utf-16-be")
                continue
            if ch == " ":
                out.append(0xE1)
                continue
            out.append(0xE0)
            wide = False
        if cls == "ascii":
            out.append(u)
        elif cls == "window":
            if k != window:
                out.append(0xF8 + k)
                window = k
            out.append(0x80 + u - WINDOWS[k])
        elif cls == "quote":
            out += bytes([0x7F, u >> 8, u & 0xFF])
        else:
            out.append(0xFF)
            wide = True
            out += ch.encode("utf-16-be")
    return bytes(out)


def decode_text(b, pos):
    out, wide, window = [], False, 0
    while pos < len(b) and b[pos] >= 0x20:
        at, c = pos, b[pos]

        def unit(i):
            if i + 2 > len(b):
                raise Reject("fields-truncated")
            return b[i] << 8 | b[i + 1]
        if wide:
            if c == 0xE0:
                wide, pos = False, pos + 1
                continue
            if c == 0xE1:
                out.append(" ")
                pos += 1
                continue
            if 0xE2 <= c <= 0xF8:
                raise Reject("fields-invalid-text")
            u = unit(at)
            pos += 2
            if 0xD800 <= u <= 0xDBFF:
                low = unit(at + 2)
                if not 0xDC00 <= low <= 0xDFFF:
                    raise Reject("fields-invalid-text")
                pos += 2
                u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
            elif 0xDC00 <= u <= 0xDFFF:
                raise Reject("fields-invalid-text")
            out.append(chr(u))
        elif c <= 0x7E:
            out.append(chr(c))
            pos += 1
        elif c == 0x7F:
            u = unit(at + 1)
            if 0xD800 <= u <= 0xDFFF:
                raise Reject("fields-invalid-text")
            out.append(chr(u))
            pos += 3
        elif c == 0xFF:
            wide, pos = True, pos + 1
        elif c >= 0xF8:
            window, pos = c - 0xF8, pos + 1
        else:
            out.append(chr(WINDOWS[window] + c - 0x80))
            pos += 1
    return "".join(out), pos


def varint(b, pos):
    v = shift = 0
    while True:
        if pos >= len(b):
            raise Reject("fields-truncated")
        x = b[pos]
        pos += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return v, pos


def parse_fields(b):
    """The field stream as a list of (tag, value) and its re-encoding."""
    items, pos = [], 0
    name, pos = decode_text(b, pos)
    items.append((None, name))
    again = bytearray(encode_text(name))
    while pos < len(b):
        tag, start = b[pos], pos
        pos += 1
        if tag in (1, 2, 3, 4, 6, 7, 8, 9) or 0x11 <= tag <= 0x1F:
            s, pos = decode_text(b, pos)
            items.append((tag, s))
            again += bytes([tag]) + encode_text(s)
        elif tag == 0x0A:
            if pos >= len(b):
                raise Reject("fields-truncated")
            kind = b[pos]
            s, pos = decode_text(b, pos + 1)
            items.append((tag, s))
            again += bytes([tag, kind]) + encode_text(s)
        elif tag == 0x05:
            if pos >= len(b):
                raise Reject("fields-truncated")
            n = (b[pos] + 1) // 2
            if pos + 1 + n > len(b):
                raise Reject("fields-truncated")
            again += b[start:pos + 1 + n]
            pos += 1 + n
        elif tag == 0x0B:
            _, p2 = varint(b, pos)
            ln, p3 = varint(b, p2)
            if p3 + ln > len(b):
                raise Reject("fields-truncated")
            again += b[start:p3 + ln]
            pos = p3 + ln
        else:
            raise Reject("unknown-tag")
    return items, bytes(again)


def code_block_after(spec, marker):
    block = spec[spec.index(marker):]
    start = block.index("```\n") + 4
    return block[start:start + block[start:].index("```")].splitlines()


def compact_dictionary():
    spec = open(SPEC, encoding="utf-8").read()
    d = "".join(code_block_after(spec, "<!-- dictionary-begin -->")).encode("ascii")
    for line in code_block_after(spec, "<!-- compact-dictionary-begin -->"):
        d += encode_text(line)
    return d


def check(text, zdict):
    h = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    payload = h["payload"]
    if not payload.startswith("MEISHI1:"):
        return None
    try:
        binary = b45decode(payload[8:])
    except (ValueError, OverflowError, IndexError):
        return None
    if len(binary) < 99 or binary[0] != 0x02:
        return None
    pos = 1
    for _ in range(2):  # seq, issued_at
        while binary[pos] & 0x80:
            pos += 1
        pos += 1
    body = binary[pos + 96:]
    expect = h["expect"]
    try:
        d = zlib.decompressobj(wbits=-15, zdict=zdict)
        fields = d.decompress(body, 4096)
        if d.unconsumed_tail or not d.eof or d.unused_data:
            return None  # inflate outcomes are not this reader's subject
    except zlib.error:
        return None
    try:
        items, again = parse_fields(fields)
        if again != fields:
            raise Reject("fields-non-canonical")
        got = "success"
    except Reject as e:
        got = str(e)
    if expect in ("fields-invalid-text", "fields-truncated", "fields-non-canonical", "success"):
        if got != expect:
            return "expected %s, this reader says %s" % (expect, got)
    if got == "success" and expect == "success":
        card = bytes.fromhex(h["card"])
        for _, s in items:
            if s.encode("utf-8") not in card:
                return "text %r is not in the card" % s
    return "ok"


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "vectors", "qr")
    zdict = compact_dictionary()
    checked, failed = 0, 0
    for name in sorted(os.listdir(folder)):
        result = check(open(os.path.join(folder, name), encoding="utf-8").read(), zdict)
        if result is None:
            continue
        checked += 1
        if result != "ok":
            failed += 1
            print("%s: %s" % (name, result), file=sys.stderr)
    print("qr_compact_vectors: %d flag-02 vectors checked, %d failed (compact dictionary %d bytes)"
          % (checked, failed, len(zdict)))
    return 1 if failed or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A second reader of the meishi exchange protocol, written from proto-spec/exchange.md alone, run
over the vectors: give envelopes (formats 1 and 2) with their verification, teasers (formats 1
and 2, with relay hints) and framed requests and responses.

It shares no code with the Rust implementation. The card inside an envelope is read, and
Ed25519 is computed, by card_vectors.py (the independent reader of proto-spec/card.md, RFC 8032
with Python integers); everything else is written here from exchange.md. When both readers agree
on every vector the specification is complete enough to implement from. Slow and not
constant-time: a check, not a library.

    python3 proto-spec/tools/exchange_vectors.py [proto-spec/vectors/exchange]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import card_vectors as card  # noqa: E402  (the sibling reader of card.md)
from card_vectors import Reader, Reject, enc_opt, enc_str, varint  # noqa: E402

# ---- exchange.md#limits -------------------------------------------------------------------

MAX_ENVELOPE = 5379
MAX_LINKS = 1024
MAX_EVENT = 64
MAX_TEASER = 800
MAX_TEASER_RELAYS = 4
MAX_RELAY_ID = 64
MAX_MESSAGE = 8192
GIVE_LABEL = b"meishi/give/v1\x00"
TEASER_LABEL = b"meishi/teaser/v1\x00"


def verify_strict(key, label, body, sig):
    """Ed25519 verify_strict: canonical s, R and A not of small order, [s]B = R + [k]A."""
    a = card.decode_point(key)
    if a is None or card.small_order(a):
        return False
    sig_r, s = sig[:32], int.from_bytes(sig[32:], "little")
    r_pt = card.decode_point(sig_r)
    if s >= card.L or r_pt is None or card.small_order(r_pt):
        return False
    k = int.from_bytes(card.hashlib.sha512(sig_r + key + label + body).digest(), "little") % card.L
    neg_a = ((card.P - a[0]) % card.P, a[1])
    return card.encode_point(card.add(card.mul(s, card.B), card.mul(k, neg_a))) == sig_r


def enc_bytes(b):
    return varint(len(b)) + b


def framed(data, limit, formats, read_body, encode_body):
    """Steps 1 to 5 shared by envelopes and teasers (exchange.md#decoding): returns the decoded
    body, its bytes and the signature."""
    if not data:
        raise Reject("empty")
    if len(data) > limit:
        raise Reject("too-large")
    if data[0] not in formats:
        raise Reject("unsupported-format")
    r = Reader(data)
    body = read_body(r)
    body_bytes, rest = data[:r.pos], data[r.pos:]
    if len(rest) < 64:
        raise Reject("truncated")
    if len(rest) > 64:
        raise Reject("trailing-bytes")
    if encode_body(body) != body_bytes:
        raise Reject("non-canonical")
    return body, body_bytes, rest


def not_text(s, limit):
    """The card's text rules (card.md#limits) as one yes/no: what `bad-field` means here."""
    try:
        card.check_text(s, limit)
    except Reject:
        return True
    return False


# ---- Envelope (exchange.md#envelope) ------------------------------------------------------


def read_give(r):
    e = dict(format=r.u8(), card=r.take(r.varint(64)), recipient=r.take(32), time=r.varint(64),
             event=r.option(r.string), nonce=r.take(16))
    if e["format"] == 2:
        e["links"] = r.take(r.varint(64))
    return e


def encode_give(e):
    out = (bytes([e["format"]]) + enc_bytes(e["card"]) + e["recipient"] + varint(e["time"])
           + enc_opt(e["event"], enc_str) + e["nonce"])
    return out + enc_bytes(e["links"]) if e["format"] == 2 else out


def decode_envelope(data):
    e, body, sig = framed(data, MAX_ENVELOPE, (1, 2), read_give, encode_give)
    try:
        c = card.decode(e["card"])
    except Reject:
        raise Reject("bad-card") from None
    event = e["event"]
    if event is not None and not_text(event, MAX_EVENT):
        raise Reject("bad-field")
    if e["format"] == 2 and not 1 <= len(e["links"]) <= MAX_LINKS:
        raise Reject("bad-field")
    if not verify_strict(c["key"], GIVE_LABEL, body, sig):
        raise Reject("bad-signature")
    return c, e


def check_envelope(h, data):
    """Decoding, then Verification against the vector's context (exchange.md#verification)."""
    c, e = decode_envelope(data)
    now, window = int(h["now"]), int(h["window"])
    if card.peer_id(c["key"]) != h["sender"]:
        raise Reject("wrong-sender")
    if card.peer_id(e["recipient"]) != h["recipient"]:
        raise Reject("wrong-recipient")
    if e["time"] < max(now - window, 0):
        raise Reject("stale")
    if e["time"] > now + window:
        raise Reject("from-future")


# ---- Teaser (exchange.md#teaser) ----------------------------------------------------------


def read_teaser(r):
    t = dict(format=r.u8(), key=r.take(32), issued_at=r.varint(64), name=r.string(),
             headline=r.option(r.string))
    if t["format"] == 2:
        t["relays"] = r.list(lambda: r.take(r.varint(64)))
    return t


def encode_teaser(t):
    out = (bytes([t["format"]]) + t["key"] + varint(t["issued_at"]) + enc_str(t["name"])
           + enc_opt(t["headline"], enc_str))
    return out + card.enc_list(t["relays"], enc_bytes) if t["format"] == 2 else out


def decode_teaser(data):
    t, body, sig = framed(data, MAX_TEASER, (1, 2), read_teaser, encode_teaser)
    name, headline = t["name"], t["headline"]
    if all(ch in card.WHITE_SPACE for ch in name) or not_text(name, card.LIMITS["name"]):
        raise Reject("bad-field")
    if headline is not None and not_text(headline, card.LIMITS["note"]):
        raise Reject("bad-field")
    if t["format"] == 2:
        relays = t["relays"]
        if not relays:
            raise Reject("no-relays")
        if len(relays) > MAX_TEASER_RELAYS:
            raise Reject("too-many-relays")
        if any(not 1 <= len(r) <= MAX_RELAY_ID for r in relays):
            raise Reject("bad-relay-id")
        if len(set(relays)) != len(relays):
            raise Reject("duplicate-relay")
    if not verify_strict(t["key"], TEASER_LABEL, body, sig):
        raise Reject("bad-signature")
    return t


# ---- Messages (exchange.md#messages) ------------------------------------------------------

REQUESTS = {1: "any", 2: "any", 3: "empty", 4: "empty"}
RESPONSES = {1: "any", 2: "empty", 3: "empty", 4: "any", 5: "any", 6: "empty", 7: "code"}


def check_message(data, kinds):
    """One framed message as read from a stream: the length first, then kind and payload."""
    if len(data) < 4:
        raise Reject("invalid-message")
    length = int.from_bytes(data[:4], "big")
    if length == 0:
        raise Reject("invalid-message")
    if length > MAX_MESSAGE:
        raise Reject("too-large")
    frame = data[4:4 + length]
    if len(frame) < length:
        raise Reject("invalid-message")  # the stream ended early: closed without an answer
    kind, payload = frame[0], frame[1:]
    rule = kinds.get(kind)
    if rule is None or (rule == "empty" and payload) or (rule == "code" and len(payload) != 1):
        raise Reject("invalid-message")


# ---- The vectors --------------------------------------------------------------------------


def check(text):
    h = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in text.splitlines())
    teaser = None
    try:
        if "envelope" in h:
            check_envelope(h, bytes.fromhex(h["envelope"]))
        elif "teaser" in h:
            teaser = decode_teaser(bytes.fromhex(h["teaser"]))
        elif "request" in h:
            check_message(bytes.fromhex(h["request"]), REQUESTS)
        elif "response" in h:
            check_message(bytes.fromhex(h["response"]), RESPONSES)
        else:
            return "no input line"
        got = "success"
    except Reject as e:
        got = e.kind
    if got != h["expect"]:
        return f"expected {h['expect']}, got {got}"
    if teaser is not None:
        relays = ",".join(r.hex() for r in teaser.get("relays", []))
        if relays != h.get("relays", ""):
            return f"relays {relays or '(none)'}, expected {h.get('relays') or '(none)'}"
    return None


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../vectors/exchange")
    names = sorted(os.listdir(folder))
    failures = []
    for name in names:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            problem = check(f.read())
        if problem:
            failures.append(f"{name}: {problem}")
    for line in failures:
        print(line, file=sys.stderr)
    print(f"exchange_vectors.py: {len(names) - len(failures)}/{len(names)} vectors agree with exchange.md",
          file=sys.stderr)
    sys.exit(1 if failures or not names else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Seeds every fuzz target's corpus from the test vectors and fixtures of its format, so that
fuzzing starts from valid inputs (a round-trip assert behind a valid signature is reached at
once, not after luck). Writes fuzz/corpus/<target>/seed-*; existing corpus files are kept.

    python3 fuzz/seed.py
"""
import base64
import hashlib
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def b45decode(s):
    out = bytearray()
    for i in range(0, len(s), 3):
        chunk = s[i:i + 3]
        vals = [B45.index(c) for c in chunk]
        if len(vals) == 1:
            raise ValueError("base45 length 3n+1")
        if len(vals) == 3:
            n = vals[0] + vals[1] * 45 + vals[2] * 2025
            out += bytes([n >> 8, n & 0xFF])
        else:
            out.append(vals[0] + vals[1] * 45)
    return bytes(out)


def fields(path):
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            out.setdefault(k, v)
    return out


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def main():
    counts = {}

    def add(target, name, data):
        write(target, name, data)
        counts[target] = counts.get(target, 0) + 1

    for f in sorted((ROOT / "proto-spec/vectors/card").iterdir()):
        v = fields(f)
        if "card" in v:
            add("card_decode", f.name, bytes.fromhex(v["card"]))
    for f in sorted((ROOT / "proto-spec/vectors/exchange").iterdir()):
        v = fields(f)
        for k in ("envelope", "teaser"):
            if k in v:
                try:
                    add("envelope_decode", f"{f.name}-{k}", bytes.fromhex(v[k]))
                except ValueError:
                    pass
    for f in sorted((ROOT / "proto-spec/vectors/slot").iterdir()):
        v = fields(f)
        for k in ("record", "stored", "address"):
            if k in v:
                add("slot_decode", f"{f.name}-{k}", bytes.fromhex(v[k]))
    for f in sorted((ROOT / "proto-spec/vectors/intro").iterdir()):
        v = fields(f)
        if "message" in v:
            add("intro_decode", f.name, bytes.fromhex(v["message"]))
    for f in sorted((ROOT / "proto-spec/vectors/qr").iterdir()):
        v = fields(f)
        if "payload" in v:
            text = v["payload"]
            add("qr_payload", f"{f.name}-text", text.encode())
            body = text.split(":", 1)[1] if text.startswith("MEISHI") and ":" in text else ""
            try:
                add("qr_payload", f"{f.name}-binary", b45decode(body))
            except (ValueError, IndexError):
                pass
    for f in sorted((ROOT / "crates/meishi-card/tests/fixtures/vcf").glob("*.vcf")):
        add("vcard_import", f.name, f.read_bytes())
    relay = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBHkR6nGT5KH3Xow9voA2aSQ67423yzWZCVbruRadyybt"
    enc = relay.replace("/", "%2F")
    for i, uri in enumerate([
        f"meishi:event?code=baat-l6ov-xp65-anrz-nvpd-dr6l-6zn6-6ryj&relay={enc}",
        f"meishi:event?code=ab-cd&relay={enc}&relay={enc}&name=RustConf%202026",
        f"meishi:event?code=a%27%20%3B%20rm&relay={relay}&theme=dark",
        "meishi:event?code=x&relay=%zz",
    ]):
        add("join_ticket", f"uri-{i}", uri.encode())
    # Board messages: the vectors have none; a few hand-made frames around the tags.
    for i, b in enumerate([b"\x01", b"\x02\x00", b"\x03" + bytes(40), b"\xff\x01"]):
        add("board_decode", f"frame-{i}", b)
    # Slot protocol messages: each valid record vector as a Put and inside a Records response,
    # and a Get of its slot id; then refusals and an empty answer.
    records = []
    for f in sorted((ROOT / "proto-spec/vectors/slot").iterdir()):
        v = fields(f)
        if v.get("expect") == "success" and "record" in v and "slot" in v:
            rec = bytes.fromhex(v["record"])
            records.append(rec)
            add("slot_messages", f"{f.name}-put", b"\x01" + len(rec).to_bytes(2, "big") + rec)
            add("slot_messages", f"{f.name}-get", b"\x02\x01" + bytes.fromhex(v["slot"]))
    if records:
        body = b"".join(len(r).to_bytes(2, "big") + r for r in records[:64])
        add("slot_messages", "records", bytes([0x82, min(len(records), 64)]) + body)
    for i, b in enumerate([b"\x82\x00", b"\xff\x02", b"\x81" + bytes(7) + b"\x01"]):
        add("slot_messages", f"frame-{i}", b)
    # Drops: the vectors have none yet; the sealed message of the unit test
    # `vector_from_an_independent_implementation` of meishi_event::drop (Ada's box for Bob, which
    # drop_open opens), Ada's address for Bob, and messages of the drop protocol around them.
    drop_id = bytes.fromhex("ce0dc91497f6ef6521fc4ac923d866ad456c5ce82964bbc06f365ca40dd3ca31")
    drop_key = bytes.fromhex("be848d79b8b36403c1e6a735cfcc85fca36dda6cffaf57b0cf5f6b0c8264a512")
    sealed = bytes.fromhex(
        "014c2817a9d668ed844d2f95b93b69ecb8485095783a015a424164b0d09702894f"
        + "4e" * 24 + "571b0e3a5dea2dd6ba133e7fa1a264b9b556c4d87dbd0c5070b262e46809")
    add("drop_open", "sealed", sealed)
    add("drop_open", "address", b"\x01" + drop_id + drop_key)
    digest = hashlib.sha256(sealed).digest()
    for i, b in enumerate([
        b"\x01" + drop_id + len(sealed).to_bytes(2, "big") + sealed,
        b"\x02\x01" + drop_id,
        b"\x03" + drop_id + b"\x01" + digest,
        b"\x81",
        b"\x82\x00\x01" + drop_id + len(sealed).to_bytes(2, "big") + sealed,
        b"\x82\x00\x00",
        b"\x83\x00\x00\x00\x01",
        b"\xff\x03",
    ]):
        add("drop_messages", f"frame-{i}", b)
    for t, n in sorted(counts.items()):
        print(f"seed: {t}: {n} seed files")


if __name__ == "__main__":
    main()

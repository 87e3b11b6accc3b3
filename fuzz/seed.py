#!/usr/bin/env python3
"""Seeds every fuzz target's corpus from the test vectors and fixtures of its format, so that
fuzzing starts from valid inputs (a round-trip assert behind a valid signature is reached at
once, not after luck). Writes fuzz/corpus/<target>/seed-*; existing corpus files are kept.

    python3 fuzz/seed.py
"""
import base64
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
    # Drops: every sealed message and address of the vectors (the valid messages in Ada's box
    # for Bob are the box drop_open opens), and every relay protocol message.
    for f in sorted((ROOT / "proto-spec/vectors/drop").iterdir()):
        v = fields(f)
        if "relay-check" in v:
            add("drop_open", f"{f.name}-sealed", bytes.fromhex(v["sealed"]))
        elif "address" in v:
            add("drop_open", f"{f.name}-address", bytes.fromhex(v["address"]))
        for k in ("request", "response"):
            if k in v:
                add("drop_messages", f.name, bytes.fromhex(v[k]))
    for t, n in sorted(counts.items()):
        print(f"seed: {t}: {n} seed files")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the public vectors (crates/agtoken/tests/data/public.jsonl):
parse_007 gets every 007 token and its inflated content, parse_006 every 006 token,
spec_json every structure as a `build --spec` input. The deflate targets get, for every 007
vector: inflate_differential the reference's zlib stream (the token's base64 body) and Python
zlib's streams of the content at levels 0, 1, 6 and 9, one with a sync flush in the middle (two
blocks) and one with a trailing byte; deflate_roundtrip the content as is (mode byte 0x00) and,
for every tenth vector, repeated to 42 KiB (mode byte 0xF6). The corpus directory is not
committed."""
import base64
import hashlib
import json
import pathlib
import zlib

here = pathlib.Path(__file__).resolve().parent
vectors = here.parent / "crates" / "agtoken" / "tests" / "data" / "public.jsonl"


def put(target, data):
    d = here / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


count = 0
for line in vectors.read_text(encoding="utf-8").splitlines():
    if not line.strip():
        continue
    v = json.loads(line)
    token = v["token"].encode()
    if v["version"] == "007":
        put("parse_007", token)
        content = bytes.fromhex(v["content_hex"])
        put("parse_007", content)
        put("inflate_differential", base64.b64decode(v["token"][3:]))
        for level in (0, 1, 6, 9):
            put("inflate_differential", zlib.compress(content, level))
        c = zlib.compressobj(6)
        two_blocks = c.compress(content[: len(content) // 2]) + c.flush(zlib.Z_SYNC_FLUSH)
        put("inflate_differential", two_blocks + c.compress(content[len(content) // 2 :]) + c.flush())
        put("inflate_differential", zlib.compress(content, 6) + b"\0")
        put("deflate_roundtrip", b"\0" + content)
        if count % 10 == 0:
            put("deflate_roundtrip", b"\xf6" + content)
    else:
        put("parse_006", token)
    spec = dict(v["structure"], version=v["version"], app_certificate=v["args"]["app_certificate"])
    put("spec_json", json.dumps(spec, ensure_ascii=False).encode())
    count += 1
print(f"seeded from {count} vectors into {here / 'corpus'}")

#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the public vectors (crates/agtoken/tests/data/public.jsonl):
parse_007 gets every 007 token and its inflated content, parse_006 every 006 token,
spec_json every structure as a `build --spec` input. The corpus directory is not committed."""
import hashlib
import json
import pathlib

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
        put("parse_007", bytes.fromhex(v["content_hex"]))
    else:
        put("parse_006", token)
    spec = dict(v["structure"], version=v["version"], app_certificate=v["args"]["app_certificate"])
    put("spec_json", json.dumps(spec, ensure_ascii=False).encode())
    count += 1
print(f"seeded from {count} vectors into {here / 'corpus'}")

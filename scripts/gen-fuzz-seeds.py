#!/usr/bin/env python3
"""Writes fuzz/seeds/fuzz_NAME/ seed files for the MLS codec fuzz targets,
taken from the official MLS test vectors.

usage: scripts/gen-fuzz-seeds.py [VECTOR_DIR]   (default $AIM_MLS_VECTORS,
       else the repository's tests/vectors/mls)

At most MAX_SEEDS files per target, named by content hash, so re-running is
idempotent. MLSMessage headers (version + wire_format, 4 bytes) are stripped
for the targets that take the bare structure."""
import hashlib
import json
import os
import sys

MAX_SEEDS = 40
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(vdir, name):
    with open(os.path.join(vdir, name)) as f:
        return json.load(f)


def main():
    vdir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AIM_MLS_VECTORS") or \
        os.path.join(ROOT, "tests", "vectors", "mls")
    seeds = {}

    def add(target, hexstr, strip=0, prefix=b""):
        if hexstr is None:
            return
        data = prefix + bytes.fromhex(hexstr)[strip:]
        lst = seeds.setdefault(target, [])
        if len(lst) < MAX_SEEDS and data not in lst:
            lst.append(data)

    msgs = load(vdir, "messages.json")
    for t in msgs[:6]:
        for k in ("mls_welcome", "mls_group_info", "mls_key_package",
                  "public_message_application", "public_message_proposal",
                  "public_message_commit", "private_message"):
            add("fuzz_mls_message", t[k])
    for t in msgs[:30]:
        add("fuzz_key_package", t["mls_key_package"], strip=4)
        add("fuzz_welcome", t["mls_welcome"], strip=4)
        add("fuzz_group_info", t["mls_group_info"], strip=4)
        add("fuzz_ratchet_tree", t["ratchet_tree"])
        add("fuzz_commit", t["commit"])
        add("fuzz_group_secrets", t["group_secrets"])
        # Proposal = proposal_type (uint16) + body
        for k, ty in (("add_proposal", 1), ("update_proposal", 2), ("remove_proposal", 3),
                      ("pre_shared_key_proposal", 4), ("re_init_proposal", 5),
                      ("external_init_proposal", 6), ("group_context_extensions_proposal", 7)):
            if len(seeds.get("fuzz_proposal", [])) < 28:
                add("fuzz_proposal", t[k], prefix=ty.to_bytes(2, "big"))
        # PrivateMessageContent: commit body + signature + confirmation tag + padding
        add("fuzz_private_message_content", t["commit"], prefix=b"\x03")
    for t in load(vdir, "tree-validation.json")[:15]:
        add("fuzz_ratchet_tree", t["tree"])
    for t in load(vdir, "tree-operations.json"):
        add("fuzz_proposal", t["proposal"])
    for t in load(vdir, "message-protection.json"):
        add("fuzz_proposal", t["proposal"])
        add("fuzz_commit", t["commit"])
        for k in ("proposal_pub", "commit_pub", "proposal_priv", "commit_priv", "application_priv"):
            add("fuzz_mls_message", t[k])
    for t in load(vdir, "transcript-hashes.json"):
        add("fuzz_authenticated_content", t["authenticated_content"])
    for t in load(vdir, "treekem.json")[:20]:
        for u in t["update_paths"][:2]:
            add("fuzz_update_path", u["update_path"])
    for t in load(vdir, "deserialization.json"):
        # op byte 0 = varint, 1 = vector
        add("fuzz_tls_varint", t["vlbytes_header"], prefix=b"\x00")
    add("fuzz_tls_varint", "0102616201", prefix=b"\x01")
    # hand-made PrivateMessageContent: application "hi", signature "s", padding
    for p in ("01026869017300", "010268690173000000", "020003000000010173"):
        add("fuzz_private_message_content", p)
    # commit content needs signature + confirmation tag: fix the seeds
    fixed = []
    for s in seeds["fuzz_private_message_content"]:
        fixed.append(s + b"\x01s\x01c\x00\x00" if s[0] == 3 else s)
    seeds["fuzz_private_message_content"] = fixed

    total = 0
    for target, lst in sorted(seeds.items()):
        d = os.path.join(ROOT, "fuzz", "seeds", target)
        os.makedirs(d, exist_ok=True)
        for data in lst:
            name = hashlib.sha256(data).hexdigest()[:16]
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        total += len(lst)
        print(f"{target}: {len(lst)} seeds")
    print(f"{total} seeds")


if __name__ == "__main__":
    main()

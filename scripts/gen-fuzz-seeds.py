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

    hand_seeds(seeds)

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


def hand_seeds(seeds):
    """Seeds of the targets whose input is text from peers or the device
    (not from the MLS vectors): URLs, header fields, content, client state."""
    import base64
    b64 = lambda b: base64.b64encode(b).decode()
    seeds["fuzz_url"] = [x.encode() for x in (
        "https://a.test/users/alice\0https://A.TEST:443/users/bob",
        "https://user@host@evil.test/x\0https://host/",
        "http://[::1]:8080/inbox?x=1#f\0http://127.0.0.1/",
        "https://xn--bcher-kva.example./p%41th\0https://b\u00fccher.example/",
        "https://a.test:0/\0a.test:65535",
        "HTTPS://a.test/./../b/%2e%2e/c\0https://a.test/c",
        "a.test:8443\0[2001:db8::1]:443",
    )]
    body_sha = b"\x5a" + bytes(31)
    seeds["fuzz_http_fields"] = [bytes([op]) + v.encode() for op, v in (
        (0, "SHA-256=" + b64(body_sha)),
        (0, "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=,SHA-512=abc"),
        (1, "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:YQ==:"),
        (2, 'sig1=("@method" "@target-uri" "content-digest");created=1767225600;'
            'keyid="https://a.test/users/alice#ed25519-key";alg="ed25519"'),
        (2, 'a=1, b=?0, c="x\\"y", d=:YWJj:, e=1.5;q=2, f=(1 2 3);x'),
        (3, "Thu, 01 Jan 2026 00:00:00 GMT"),
        (3, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (4, "2026-01-01T00:00:00Z"),
        (4, "2026-12-01T23:47:51.123+02:00"),
    )]
    msgs = [
        '{"type": "text", "id": "5f0c9e2a4b7d41a8a1c3e6f0d2b4a697", "text": "lunch?"}',
        '{"type": "reply", "id": "r1", "inReplyTo": "5f0c9e2a4b7d41a8a1c3e6f0d2b4a697", "text": "yes"}',
        '{"type": "reaction", "id": "r2", "target": "r1", "reaction": "\U0001F44D", "remove": false}',
        '{"type": "edit", "id": "e1", "target": "r1", "text": "yes, at noon"}',
        '{"type": "delete", "id": "d1", "target": "r1"}',
        '{"type": "poll", "id": "p1", "text": "unknown types are kept"}',
    ]
    seeds["fuzz_content"] = [
        b"\0".join(bytes([i % 3]) + m.encode() for i, m in enumerate(msgs)),
        b"\x01" + msgs[0].encode() + b"\0\x01" + msgs[0].encode(),
        b"\x02" + msgs[4].encode() + b"\0\x00" + msgs[1].encode(),
    ]
    device = {"server": "https://a.test", "user": "alice", "token": "t0k3n",
              "device": "laptop", "acct": "acct:alice@a.test", "suite": 1,
              "signatureKey": b64(bytes(range(32))),
              "signaturePrivateKey": b64(bytes(range(32, 64)))}
    registered = dict(device, certificate=b64(b"0\x82\x01\x00"), ca=b64(b"0\x82"),
                      notAfter=1798761600)
    gid = "00112233445566778899aabbccddeeff"
    group = {"kind": "channel", "conversation": "https://a.test/channels/lunch",
             "state": b64(b"\x00\x01" + bytes(40)), "epoch": 1, "seq": 3,
             "seen": ["https://a.test/activities/1"], "buffer": [],
             "members": {"acct:alice@a.test": "https://a.test/users/alice"}}
    msg = {"sender": "acct:bob@b.test", "type": "text", "id": "m1", "text": "hi",
           "time": 1767225600, "epoch": 1}
    def store(entries):
        return b"".join(k.encode() + b"\0" + json.dumps(v).encode() + b"\0"
                        for k, v in entries)
    seeds["fuzz_client_state"] = [
        store([("device", device)]),
        store([("device", registered), ("group/" + gid, group),
               ("conv/https://a.test/channels/lunch", {"group": gid}),
               ("msg/%s/1" % gid, msg), ("sync/inbox", {"next": "https://a.test/x"})]),
        store([("device", dict(device, suite=3))]),
    ]


if __name__ == "__main__":
    main()

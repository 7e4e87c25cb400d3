#!/usr/bin/env python3
"""Checks the layering of src/ (the layer table of the design, section 2).

The layers, in order: base, crypto, mls, ap, hub, http, store, server, client. A layer
uses only layers above it in that list, and only those it links in CMakeLists.txt:

    layer   links (CMake)          may include (the closure)       symbol prefix
    base    -                      base                            aim_
    crypto  base                   base crypto                     aim_
    mls     crypto                 base crypto mls                 mls_
    ap      base                   base ap                         ap_
    hub     mls ap                 base crypto mls ap hub          hub_
    http    ap crypto              base crypto ap http             http_
    store   ap crypto              base crypto ap store            store_
    server  http store mls hub     base crypto mls ap hub http     aimd_
                                   store server
    client  http mls               base crypto mls ap http client  client_

One prefix per layer: base and crypto are the foundation every layer calls and share
aim_; server exports aimd_ (the program it is, and its public functions aimd_serve,
aimd_init, ...); every other layer exports its own name and an underscore. Internal
helpers carry the prefix too (mls_tls_*, mls_grp_*): a static library has one global
namespace.

Three checks:
  1. includes: a file under src/LAYER includes "OTHER/..." only for an OTHER in its
     closure. Enforced for every layer.
  2. faces: a layer with one public header (mls: mls/mls.h; crypto: crypto/crypto.h) is
     included from outside its folder only through it. tests/mls, tools/mls-vectors and
     fuzz/ test internals and may include the others (tests/channels
     too: it forges messages signed by real members). Enforced.
  3. symbols: every global symbol a layer's static library defines (nm -g
     --defined-only BUILD/libaim_LAYER.a) starts with the layer's prefix. Enforced only
     for the layers given with --enforce-symbols (default: all); the others are listed
     as a report. A layer without sources (an INTERFACE library) is skipped.
The table above must match CMakeLists.txt's aim_layer() lines: the script checks that
too.

usage: scripts/check-layers.py [--report] [--enforce-symbols "base crypto ..."] BUILD_DIR
  --report   list every offender of every check and exit 0.
"""

import argparse
import os
import re
import subprocess
import sys

ORDER = ["base", "crypto", "mls", "ap", "hub", "http", "store", "server", "client"]
LINKS = {
    "base": [],
    "crypto": ["base"],
    "mls": ["crypto"],
    "ap": ["base"],
    "hub": ["mls", "ap"],
    "http": ["ap", "crypto"],
    "store": ["ap", "crypto"],
    "server": ["http", "store", "mls", "hub"],
    "client": ["http", "mls"],
}
PREFIX = {
    "base": "aim_",
    "crypto": "aim_",
    "mls": "mls_",
    "ap": "ap_",
    "hub": "hub_",
    "http": "http_",
    "store": "store_",
    "server": "aimd_",
    "client": "client_",
}
# Layers whose headers other folders may include only through these.
FACES = {
    "mls": {"mls.h"},
    "crypto": {"crypto.h"},
}
# Folders that test a layer's internals.
INTERNALS_OK = ("tests/mls/", "tests/channels/", "tools/mls-vectors/", "fuzz/")
SCANNED = ("src", "tests", "tools", "bench", "fuzz")

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z0-9_]+)/([^"]+)"')


def closure(layer):
    seen = {layer}
    todo = list(LINKS[layer])
    while todo:
        l = todo.pop()
        if l not in seen:
            seen.add(l)
            todo.extend(LINKS[l])
    return seen


def check_table(root):
    """The table above against the order and CMakeLists.txt."""
    errs = []
    for l, deps in LINKS.items():
        for d in deps:
            if ORDER.index(d) >= ORDER.index(l):
                errs.append("table: %s links %s, which is not above it" % (l, d))
    text = open(os.path.join(root, "CMakeLists.txt")).read()
    found = {}
    for m in re.finditer(r"^\s*aim_layer\(\s*(\w+)([^)]*)\)", text, re.M):
        found[m.group(1)] = sorted(re.findall(r"\baim_(\w+)", m.group(2)))
    for l, deps in found.items():
        if l not in LINKS:
            errs.append("CMakeLists.txt: layer %s is not in the table of %s" % (l, __file__))
        elif deps != sorted(LINKS[l]):
            errs.append("CMakeLists.txt: %s links %s, the table says %s"
                        % (l, " ".join(deps) or "nothing", " ".join(LINKS[l]) or "nothing"))
    for l in LINKS:
        if l not in found and os.path.isdir(os.path.join(root, "src", l)):
            errs.append("CMakeLists.txt: src/%s has no aim_layer() line" % l)
    return errs


def source_files(root):
    for top in SCANNED:
        for dirpath, dirnames, files in os.walk(os.path.join(root, top)):
            dirnames[:] = [d for d in dirnames if d not in ("node_modules", "vectors", "fixtures")]
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, f), root)


def check_includes(root):
    inc, face = [], []
    for rel in source_files(root):
        parts = rel.split(os.sep)
        own = parts[1] if parts[0] == "src" and len(parts) > 2 else None
        with open(os.path.join(root, rel), errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                layer, header = m.group(1), m.group(2)
                if layer not in LINKS:
                    continue
                where = "%s:%d: #include \"%s/%s\"" % (rel, n, layer, header)
                if own in LINKS and layer not in closure(own):
                    inc.append("%s: %s may use only %s"
                               % (where, own, " ".join(l for l in ORDER if l in closure(own))))
                if layer in FACES and own != layer and header not in FACES[layer] \
                        and not rel.replace(os.sep, "/").startswith(INTERNALS_OK):
                    face.append("%s: outside src/%s use %s" % (where, layer,
                                " or ".join("%s/%s" % (layer, h) for h in sorted(FACES[layer]))))
    return inc, face


def library(build, layer):
    direct = os.path.join(build, "libaim_%s.a" % layer)
    if os.path.exists(direct):
        return direct
    for dirpath, _, files in os.walk(build):
        if "libaim_%s.a" % layer in files:
            return os.path.join(dirpath, "libaim_%s.a" % layer)
    return None


def check_symbols(root, build):
    """{layer: [offending symbols]} for every layer with sources."""
    out = {}
    for layer in ORDER:
        src = os.path.join(root, "src", layer)
        if not os.path.isdir(src) or not any(f.endswith(".c") for f in os.listdir(src)):
            continue  # no sources: an INTERFACE library, nothing exported
        lib = library(build, layer)
        if lib is None:
            out[layer] = ["(no libaim_%s.a under %s: build first)" % (layer, build)]
            continue
        nm = subprocess.run(["nm", "-g", "--defined-only", lib],
                            capture_output=True, text=True, check=True).stdout
        syms = sorted({f[2] for f in (l.split() for l in nm.splitlines()) if len(f) == 3})
        out[layer] = [s for s in syms if not s.startswith(PREFIX[layer])]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", help="the CMake build directory (holds libaim_LAYER.a)")
    ap.add_argument("--report", action="store_true", help="list every offender, exit 0")
    ap.add_argument("--enforce-symbols", default=" ".join(ORDER),
                    help="layers whose symbols must carry their prefix (default: all)")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    enforce = set(args.enforce_symbols.split())
    unknown = enforce - set(ORDER)
    if unknown:
        ap.error("unknown layer(s): %s" % " ".join(sorted(unknown)))

    failed = False
    table = check_table(root)
    inc, face = check_includes(root)
    syms = check_symbols(root, args.build)

    def section(title, lines, fatal):
        nonlocal failed
        if not lines:
            return
        print("check-layers: %s (%d)%s" % (title, len(lines), "" if fatal else ", not enforced"),
              file=sys.stderr if fatal else sys.stdout)
        for l in lines:
            print("  " + l, file=sys.stderr if fatal else sys.stdout)
        failed = failed or fatal

    fatal = not args.report
    section("the layer table does not match", table, fatal)
    section("includes of a layer that is not above", inc, fatal)
    section("internal headers included from outside their layer", face, fatal)
    for layer, bad in syms.items():
        if args.report or layer in enforce:
            section("%s exports symbols without the prefix %s" % (layer, PREFIX[layer]), bad,
                    fatal)
    if failed:
        return 1
    checked = [l for l in syms if l in enforce]
    print("check-layers: includes follow the layers; symbols prefixed in %s%s"
          % (" ".join(checked) or "no layer",
             "" if args.report else "; not enforced: " + (" ".join(
                 "%s (%d)" % (l, len(b)) for l, b in syms.items() if l not in enforce and b)
                 or "none")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

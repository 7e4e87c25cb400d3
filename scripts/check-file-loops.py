#!/usr/bin/env python3
"""check-file-loops: no two source files of a layer call each other in a loop.

For each layer named (default: server), reads the objects of the layer's
library (libaim_LAYER.a under the build directory) with `nm`, draws an edge
from file A to file B when A calls (or uses) a symbol B defines, and fails
when the graph has a cycle, printing each loop with the symbols on its
edges. Issue 8 ("no circle in the federation code"): a file that calls
another must not be called back by it, directly or around a loop.

  scripts/check-file-loops.py BUILD [LAYER ...]
"""
import collections
import os
import subprocess
import sys


def library(build, layer):
    for dirpath, _, files in os.walk(build):
        if "libaim_%s.a" % layer in files:
            return os.path.join(dirpath, "libaim_%s.a" % layer)
    return None


def graph(lib):
    """{file: {file: [symbols]}} from `nm` of an archive."""
    out = subprocess.run(["nm", lib], capture_output=True, text=True, check=True).stdout
    defs, uses, member = {}, collections.defaultdict(set), None
    for line in out.splitlines():
        if line.endswith(":") and line.strip():
            member = line[:-1].replace(".c.o", ".c").replace(".o", ".c")
            continue
        f = line.split()
        if member is None or not f:
            continue
        if len(f) == 3 and f[1] in "TDBRC":
            defs[f[2]] = member
        elif len(f) == 2 and f[0] == "U":
            uses[member].add(f[1])
    g = collections.defaultdict(lambda: collections.defaultdict(list))
    for m, syms in uses.items():
        for s in syms:
            d = defs.get(s)
            if d and d != m:
                g[m][d].append(s)
    return g


def loops(g):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]
    nodes = set(g) | {d for m in g for d in g[m]}

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return comps


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    build, layers = sys.argv[1], sys.argv[2:] or ["server"]
    failed = False
    for layer in layers:
        lib = library(build, layer)
        if lib is None:
            print("check-file-loops: no libaim_%s.a under %s (build first)" % (layer, build),
                  file=sys.stderr)
            return 2
        g = graph(lib)
        for comp in loops(g):
            failed = True
            print("check-file-loops: src/%s: these files call each other in a loop:" % layer,
                  file=sys.stderr)
            for a in comp:
                for b in sorted(g[a]):
                    if b in comp:
                        print("  %s -> %s: %s" % (a, b, ", ".join(sorted(g[a][b])[:6])),
                              file=sys.stderr)
    if failed:
        return 1
    print("check-file-loops: no loop among the files of %s" % " ".join("src/" + l for l in layers))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Fails if modules of a crate import each other in a circle.

Follows the `crate::…` and `super::…` paths each module's source names (its
`use` lines and inline paths, test modules aside) and reports every group of
modules that reach each other. A circle means two modules can only be read,
changed or tested together; issue 19 took the last one out.

Usage: .ci/import_cycles.py SRC_DIR…  (each a crate's `src/`)
"""
import os
import re
import sys

PATH = re.compile(r"(?:use\s+|[^\w:])((?:crate|super)(?:::\w+)+)")


def module_of(root, path):
    """`crate::a::b` for src/a/b.rs or src/a/b/mod.rs."""
    parts = os.path.relpath(path, root)[: -len(".rs")].split("/")
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(["crate"] + parts)


def imports(root):
    """Each module and the set of modules it names."""
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".rs")]
    modules = {module_of(root, p): p for p in files}
    graph = {}
    for module, path in modules.items():
        if module.split("::")[-1] == "tests":
            continue
        with open(path) as f:
            source = f.read()
        source = source.split("#[cfg(test)]\nmod tests")[0]
        # Comments name modules without importing them.
        source = re.sub(r"//[^\n]*", "", source)
        named = set()
        for found in PATH.findall(source):
            parts = found.split("::")
            if parts[0] == "super":
                here = module.split("::")
                while parts and parts[0] == "super":
                    here, parts = here[:-1], parts[1:]
                parts = here + parts
            # The longest prefix that is a module: `crate::a::Thing` names `crate::a`.
            for end in range(len(parts), 0, -1):
                candidate = "::".join(parts[:end])
                if candidate in modules:
                    if candidate != module:
                        named.add(candidate)
                    break
        graph[module] = named
    return graph


def circles(graph):
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(group)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


failed = False
for root in sys.argv[1:]:
    for group in circles(imports(root)):
        failed = True
        print(f"{root}: these modules import each other in a circle: {', '.join(sorted(group))}")
sys.exit(1 if failed else 0)

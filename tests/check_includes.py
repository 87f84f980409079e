#!/usr/bin/env python3
"""The include rule of docs/architecture.md: daemons meet only through contracts.

A daemon's folder (registry, hub, drone, router, cli) may include core/, proto/
(the generated messages and the rpc helpers), contract/ and its own folder;
contract/ may include core/ and proto/; core/ only core/. Fuzz targets, tests
and benchmarks may include anything. Prints every breach as file:line and
exits 1 if there is one.

Usage: check_includes.py [SOURCE_DIR]   (default: the checkout holding this file)
"""
import pathlib
import re
import sys

DAEMONS = {"registry", "hub", "drone", "router", "cli"}
# Folder -> the project folders its files may include ("skyport/" and "rpc/"
# are proto/'s include roots: the generated messages and the rpc helpers;
# "etcd/" holds etcd's generated API, proto/etcd/README.md).
ALLOWED = {d: {d, "core", "contract", "skyport", "rpc", "etcd"} for d in DAEMONS}
ALLOWED["contract"] = {"contract", "core", "skyport"}
ALLOWED["core"] = {"core"}
# The hub's console (issue 17) shows exactly what the CLI prints with --json by running the
# CLI's own clients and shaping code over the hub's gRPC listener: it alone may include cli/.
SUBFOLDER_EXTRA = {"hub/console": {"cli"}}
# Every first path component the project's own includes can start with.
PROJECT = DAEMONS | {"contract", "core", "skyport", "rpc", "etcd", "proto"}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def breaches(root):
    for folder, allowed in sorted(ALLOWED.items()):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in (".h", ".cc"):
                continue
            rel = path.relative_to(root).as_posix()
            extra = set().union(*(v for k, v in SUBFOLDER_EXTRA.items() if rel.startswith(k + "/")))
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m or "/" not in m.group(1):
                    continue
                top = m.group(1).split("/", 1)[0]
                if top in PROJECT and top not in allowed and top not in extra:
                    yield f"{path.relative_to(root)}:{n}: {folder}/ includes \"{m.group(1)}\" " \
                          f"({folder}/ may include only {', '.join(sorted(allowed))})"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    found = list(breaches(root))
    for b in found:
        print(b)
    if found:
        print(f"{len(found)} include(s) break the rule (docs/architecture.md, \"The include rule\")")
        return 1
    print("include rule: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

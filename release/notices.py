#!/usr/bin/env python3
"""Writes THIRD-PARTY-NOTICES.md: every crate linked into libsparkprom.so (the library's normal
dependencies, transitively, for linux x86_64 and aarch64; no build, dev or proc-macro crates,
which are not linked), from `cargo metadata` over Cargo.lock, with each crate's license and the
license and notice files it ships. `--check` compares instead of writing (CI runs it), so a
dependency change without new notices fails.

Usage: python3 release/notices.py [--check]
"""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "THIRD-PARTY-NOTICES.md"
TARGETS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")
LICENSE_FILES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "UNLICENSE")


def metadata(target):
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--locked", "--offline",
                          "--filter-platform", target], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def linked_packages(meta):
    """Package ids reachable from the root through normal dependencies, proc macros left out."""
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = meta["resolve"]["root"]
    seen, todo = set(), [root]
    while todo:
        current = todo.pop()
        for dep in nodes[current]["deps"]:
            normal = any(kind["kind"] is None for kind in dep["dep_kinds"])
            package = packages[dep["pkg"]]
            proc_macro = any("proc-macro" in t["kind"] for t in package["targets"])
            if normal and not proc_macro and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    return [packages[i] for i in seen]


def license_texts(package):
    folder = Path(package["manifest_path"]).parent
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.upper().startswith(LICENSE_FILES))
    if package.get("license_file"):
        named = folder / package["license_file"]
        if named.is_file() and named not in files:
            files.append(named)
    return [(p.name, p.read_text(errors="replace").strip()) for p in files]


def render():
    crates = {}
    for target in TARGETS:
        for package in linked_packages(metadata(target)):
            crates[(package["name"], package["version"])] = package
    # Many crates ship the same license text: each distinct text once, named by number.
    texts, users, rows = {}, {}, []
    for (name, version), package in sorted(crates.items()):
        numbers = []
        for _file_name, text in license_texts(package):
            key = " ".join(text.split())
            if key not in texts:
                texts[key] = (len(texts) + 1, text)
            number = texts[key][0]
            users.setdefault(number, []).append(f"{name} {version}")
            numbers.append(number)
        shown = ", ".join(f"[{n}](#text-{n})" for n in sorted(set(numbers))) or "none shipped"
        rows.append(f"| {name} | {version} | {package.get('license') or 'see its files'} | {shown} |")
    lines = ["# Third-party notices", "",
             "libsparkprom.so (and so sparkprom.jar, which carries it) links the Rust crates below. "
             "Generated from Cargo.lock by `python3 release/notices.py`; CI checks it is current. "
             "Each crate's license and notice files are reproduced below, each distinct text once.", "",
             "| crate | version | license | license and notice texts |", "|---|---|---|---|", *rows]
    for number, text in sorted(texts.values()):
        lines += ["", f"## Text {number}", "", "Shipped by " + ", ".join(users[number]) + ".", "", "```",
                  text.replace("```", "\'\'\'"), "```"]
    return "\n".join(lines) + "\n"


def main():
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT.name} does not match Cargo.lock: run python3 release/notices.py and commit it")
        print(f"{OUT.name} matches Cargo.lock")
        return
    OUT.write_text(text)
    print(f"wrote {OUT.name}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks the package's module arrows against docs/ARCHITECTURE.md (run by `make lint`).

Fails when
  - a target declares a dependency on one of the package's targets that the table in
    docs/ARCHITECTURE.md does not allow (or a target is missing from the table);
  - a Swift file imports a module its target does not declare (the package's own targets,
    or products of its dependencies; the system's modules are always allowed).

Usage: scripts/check_arrows.py [--package-json FILE] [--selftest]
"""
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SYSTEM = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Darwin", "Dispatch",
    "Synchronization", "Testing", "XCTest", "_Concurrency", "os", "PackageDescription",
}
IMPORT = re.compile(r"^\s*(?:@testable\s+|@_exported\s+)?(?:public\s+|internal\s+|package\s+|private\s+|fileprivate\s+)?import\s+(?:struct\s+|class\s+|enum\s+|func\s+|protocol\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)


def allowed_arrows(text):
    """The table between the arrows markers: target -> the targets it may depend on."""
    block = text.split("<!-- arrows")[1].split("<!-- /arrows -->")[0]
    arrows = {}
    for line in block.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        target = cells[0].strip("`")
        arrows[target] = set(re.findall(r"`([^`]+)`", cells[1]))
    return arrows


def declared(target):
    """The module names a target declares: its own targets and its products."""
    names = set()
    for dependency in target.get("dependencies", []):
        for kind in ("byName", "target", "product"):
            if kind in dependency:
                names.add(dependency[kind][0])
    return names


def imports(folder):
    found = {}
    for path in sorted(folder.rglob("*.swift")):
        for module in IMPORT.findall(path.read_text(encoding="utf-8")):
            found.setdefault(module, path)
    return found


def check(package, arrows):
    problems = []
    own = {target["name"] for target in package["targets"]}
    for target in package["targets"]:
        name, kind = target["name"], target["type"]
        if kind == "system":
            continue
        deps = declared(target)
        if kind != "test":
            if name not in arrows:
                problems.append(f"{name}: not in docs/ARCHITECTURE.md's arrows table")
            else:
                for dependency in sorted((deps & own) - arrows[name]):
                    problems.append(f"{name} depends on {dependency}, which docs/ARCHITECTURE.md does not allow")
        folder = ROOT / ("Tests" if kind == "test" else "Sources") / (target.get("path") or name)
        if target.get("path"):
            folder = ROOT / target["path"]
        for module, path in sorted(imports(folder).items()):
            if module in SYSTEM or module == name or module in deps:
                continue
            problems.append(f"{path.relative_to(ROOT)} imports {module}, which {name} does not declare in Package.swift")
    return problems


def selftest(package, arrows):
    """A wrong arrow and an undeclared import must both be caught."""
    broken = json.loads(json.dumps(package))
    for target in broken["targets"]:
        if target["name"] == "FiscalCore":
            target["dependencies"].append({"byName": ["MediatorStore", None]})
    problems = check(broken, arrows)
    assert any("FiscalCore depends on MediatorStore" in p for p in problems), problems
    probe = ROOT / "Sources" / "FiscalCore" / "_ArrowSelfTest.swift"
    probe.write_text("import GRDB\n", encoding="utf-8")
    try:
        problems = check(package, arrows)
    finally:
        probe.unlink()
    assert any("imports GRDB, which FiscalCore does not declare" in p for p in problems), problems
    print("check_arrows selftest: a wrong arrow and an undeclared import are both caught")


def main():
    args = sys.argv[1:]
    if "--package-json" in args:
        package = json.loads(pathlib.Path(args[args.index("--package-json") + 1]).read_text())
    else:
        output = subprocess.run(
            ["swift", "package", "dump-package"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        package = json.loads(output)
    arrows = allowed_arrows((ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8"))
    if "--selftest" in args:
        selftest(package, arrows)
    problems = check(package, arrows)
    for problem in problems:
        print("arrows:", problem)
    if problems:
        sys.exit(1)
    print(f"arrows: {len(package['targets'])} targets match docs/ARCHITECTURE.md")


if __name__ == "__main__":
    main()

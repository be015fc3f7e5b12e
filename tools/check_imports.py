"""Checks the package layout: no import cycle inside factcheck/, nothing in factcheck/ imports lab/, and lab/
touches no `_private` name of factcheck/ (a rename there would break the lab silently: nothing types its calls).

Every import counts, module-level or inside a function: a lazy import is still an arrow. A package's
`__init__` importing its own submodules (to re-export them) is the package's face, not an arrow back up.
Run: python tools/check_imports.py  (exit 1 and one line per problem when the layout is broken).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path, root: Path = ROOT) -> str:
    """Dotted module name of a file under `root`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from . import x` names a module
    return out


def graph(root: Path = ROOT, package: str = "factcheck") -> dict[str, set[str]]:
    """Edges between the package's own modules."""
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for mod, path in files.items():
        targets = {t for t in imports_of(path, root) if t in files and t != mod}
        if path.name == "__init__.py":
            targets = {t for t in targets if not t.startswith(mod + ".")}
        edges[mod] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
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
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def private_names(root: Path, package: str) -> set[str]:
    """Every `_name` (not dunder) a package defines: functions, classes, methods, attributes, module globals."""
    out: set[str] = set()
    for path in (root / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names = [node.id]
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names = [node.attr]
            out.update(n for n in names if n.startswith("_") and not n.startswith("__"))
    return out


def private_reaches(root: Path = ROOT, client: str = "lab", package: str = "factcheck") -> list[str]:
    """Places in `client` that import a `_private` name of `package` or read a `_private` name `client` does not
    define off another object (the package's, or one it no longer has: `judge._score_units` after a rename)."""
    own = private_names(root, client)
    out = []
    for path in sorted((root / client).rglob("*.py")):
        rel = path.relative_to(root)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package:
                out += [
                    f"{rel}:{node.lineno} imports {package}'s private {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
            elif (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and node.attr not in own
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                out.append(f"{rel}:{node.lineno} reads private .{node.attr} of another object: call a public name")
    return out


def problems(root: Path = ROOT) -> list[str]:
    """Every layout problem, one line each."""
    out = [f"import cycle: {' <-> '.join(c)}" for c in cycles(graph(root))]
    for path in sorted((root / "factcheck").rglob("*.py")):
        bad = sorted(t for t in imports_of(path, root) if t == "lab" or t.startswith("lab."))
        if bad:
            out.append(
                f"{path.relative_to(root)} imports the lab ({', '.join(bad)}): the product never imports its clients"
            )
    if (root / "lab").is_dir():
        out += private_reaches(root)
    return out


def main() -> int:
    """Print problems; exit 1 when there are any."""
    found = problems()
    for line in found:
        print(line)
    if not found:
        print(
            f"imports ok: {len(graph())} modules in factcheck/, no cycle, no import of lab/, no private name used by lab/"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

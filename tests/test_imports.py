"""No import cycles in rlcv: no module imports (at top level or inside a function) a module that
imports it back, directly or through others. Read from the source, so nothing is imported here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"rlcv": ROOT / "rlcv", "rlcv.agents": ROOT / "agents", "rlcv.envs": ROOT / "envs"}


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for prefix, folder in PACKAGES.items():
        for file in folder.rglob("*.py"):
            parts = [p for p in file.relative_to(folder).with_suffix("").parts if p != "__init__"]
            modules[".".join([prefix, *parts])] = file
    return modules


def _imports(name: str, file: Path, modules: dict[str, Path]) -> set[str]:
    found: set[str] = set()
    package = name.split(".") if file.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return {m for m in found if m in modules and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _imports(name, file, modules) for name, file in modules.items()}
    assert _cycles(graph) == []


def test_backends_do_not_import_upward() -> None:
    modules = _modules()
    sb3 = _imports("rlcv.sb3_backend", modules["rlcv.sb3_backend"], modules)
    loop = _imports("rlcv.loop", modules["rlcv.loop"], modules)
    assert not {"rlcv.loop", "rlcv.launch", "rlcv.cli"} & sb3
    assert not {"rlcv.sb3_backend", "rlcv.launch", "rlcv.cli"} & loop


def test_agents_and_envs_are_linked_into_rlcv() -> None:
    """mypy checks agents/ and envs/ as rlcv.agents / rlcv.envs through these links (pyproject.toml)."""
    for name in ("agents", "envs"):
        link = ROOT / "rlcv" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()

"""The package's import graph: dependencies point one way, and no module imports the CLI.

Every module of ``aiaudio/`` is parsed with :mod:`ast` (nothing is imported), and every
``import`` of a sibling module counts, also those inside functions (lazy imports hide
cycles just as well as they hide a slow import). Imports under ``if TYPE_CHECKING:`` do
not run and are skipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "aiaudio"

#: The layers, bottom first. A module belongs to exactly one.
LAYERS: dict[str, set[str]] = {
    # the inference core: load audio, the model, score, the cues. No training code here.
    "core": {"_version", "errors", "_validate", "_outfiles", "samples", "audio", "files", "dsp", "frontend", "modelconfig", "model", "_torch_inference", "runtime", "detector", "cues"},
    # built on the core: folder scoring, explanations, reports, export, catalogs
    "app": {"pipeline", "explain", "report", "export", "catalog", "catalog_report", "tags", "cluster"},
    # the `train` extra: data sets, augmentation, training, evaluation, vocoders
    "training": {"data", "augment", "train", "evaluate", "vocoders"},
    # the command line (``__main__`` is ``python -m aiaudio``): imported by nothing else
    "cli": {"cli", "__main__"},
}

#: Which layers each layer may import (its own included).
MAY_IMPORT: dict[str, set[str]] = {
    "core": {"core"},
    "app": {"core", "app"},
    "training": {"core", "training"},
    "cli": {"core", "app", "training", "cli"},
}

#: The documented exceptions, each an (importer, imported) edge.
#: ``Detector.explain`` is a convenience kept for the README and notebooks
#: (``det.explain(audio)``): it imports :mod:`aiaudio.explain` inside the method, on call.
#: The explanation module depends on the detector, not the reverse.
EXCEPTIONS: set[tuple[str, str]] = {("detector", "explain")}


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(encoding="utf-8"), filename=str(p)) for p in sorted(PKG.glob("*.py")) if p.stem != "__init__"}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, known: set[str]) -> set[str]:
    """The sibling modules ``tree`` imports, at any depth, outside ``if TYPE_CHECKING:``."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "aiaudio" and len(parts) > 1:
                    out.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.level == 0 and (node.module or "").split(".")[0] == "aiaudio"):
                mod = node.module or ""
                parts = mod.split(".") if mod else []
                if node.level == 0:
                    parts = parts[1:]
                if parts:
                    out.add(parts[0])
                else:  # from . import x
                    out.update(a.name for a in node.names if a.name in known)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out & known


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(tree, known) - {name} for name, tree in mods.items()}


def _layer_of(name: str) -> str:
    for layer, members in LAYERS.items():
        if name in members:
            return layer
    raise AssertionError(f"aiaudio/{name}.py is in no layer: add it to LAYERS in tests/test_layout.py")


def test_every_module_has_one_layer() -> None:
    names = set(_modules())
    placed = [m for members in LAYERS.values() for m in members]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    assert names == set(placed), f"not in LAYERS: {sorted(names - set(placed))}; gone: {sorted(set(placed) - names)}"


def test_nothing_imports_the_cli() -> None:
    importers = sorted(m for m, deps in _graph().items() if "cli" in deps and m != "__main__")
    assert importers == []


@pytest.mark.parametrize("layer", list(LAYERS))
def test_imports_point_down(layer: str) -> None:
    graph = _graph()
    wrong = sorted(
        f"{m} -> {d} ({_layer_of(d)})"
        for m in sorted(LAYERS[layer])
        for d in graph.get(m, set())
        if _layer_of(d) not in MAY_IMPORT[layer] and (m, d) not in EXCEPTIONS
    )
    assert wrong == []


def test_core_imports_no_training_nor_app_module() -> None:
    graph = _graph()
    banned = {"train", "augment", "data", "evaluate", "vocoders", "explain", "report", "pipeline", "catalog", "cli"}
    wrong = sorted(f"{m} -> {d}" for m in LAYERS["core"] for d in graph.get(m, set()) & banned if (m, d) not in EXCEPTIONS)
    assert wrong == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
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

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return comps


def test_no_import_cycles() -> None:
    graph = {m: {d for d in deps if (m, d) not in EXCEPTIONS} for m, deps in _graph().items()}
    assert _cycles(graph) == []


def test_the_cycle_check_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_parser_sees_lazy_and_relative_imports() -> None:
    tree = ast.parse(
        "from . import x\nimport aiaudio.y\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .hidden import H\n"
        "def f():\n    from .z import g\n    from aiaudio.w import v\n"
    )
    assert _imports(tree, {"x", "y", "z", "w", "hidden"}) == {"x", "y", "z", "w"}

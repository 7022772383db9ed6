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

#: The layers, bottom first. A module belongs to exactly one: a name here is a module
#: (``aiaudio/NAME.py``) or a subpackage (``aiaudio/NAME/``, every module in it).
LAYERS: dict[str, set[str]] = {
    # the inference core: load audio, the model, score, the cues. No training code here.
    "core": {"_version", "errors", "_validate", "_outfiles", "samples", "audio", "inputs", "scores", "files", "dsp", "frontend", "modelconfig", "model", "_torch_inference", "runtime", "detector", "cues", "fakeprint"},
    # built on the core: folder scoring, explanations, reports, export, catalogs
    "app": {"batch", "explain", "report", "export", "catalog", "catalog_report", "tags", "cluster"},
    # the `train` extra: data sets, augmentation, training, evaluation, vocoders
    "training": {"training"},
    # the command line (``__main__`` is ``python -m aiaudio``): imported by nothing else
    "cli": {"cli", "__main__"},
    # the old module paths, kept for one release: each re-exports its new module and warns
    "deprecated": {"_moved", "pipeline", "data", "augment", "train", "evaluate", "vocoders"},
}

#: Which layers each layer may import (its own included).
MAY_IMPORT: dict[str, set[str]] = {
    "core": {"core"},
    "app": {"core", "app"},
    "training": {"core", "training"},
    "cli": {"core", "app", "training", "cli"},
    "deprecated": {"deprecated"},  # (each names its new module as a string: see aiaudio/_moved.py)
}

#: The documented exceptions, each an (importer, imported) edge.
#: ``Detector.explain`` is a convenience kept for the README and notebooks
#: (``det.explain(audio)``): it imports :mod:`aiaudio.explain` inside the method, on call.
#: The explanation module depends on the detector, not the reverse.
EXCEPTIONS: set[tuple[str, str]] = {("detector", "explain")}


def _name(path: Path) -> str:
    """``aiaudio/a/b.py`` -> ``a.b``; a package's ``__init__.py`` is the package's name."""
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, tuple[ast.Module, bool]]:
    """Every module of the package but ``aiaudio/__init__.py``: its tree, and whether it is a package."""
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        name = _name(p)
        if name:
            out[name] = (ast.parse(p.read_text(encoding="utf-8"), filename=str(p)), p.name == "__init__.py")
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(dotted: list[str], known: set[str]) -> str | None:
    """The known module a dotted name (inside the package) lives in: its longest known prefix."""
    for n in range(len(dotted), 0, -1):
        name = ".".join(dotted[:n])
        if name in known:
            return name
    return None


def _imports(tree: ast.Module, known: set[str], where: str = "", is_package: bool = False) -> set[str]:
    """The modules of the package that ``tree`` (the module ``where``) imports, at any depth,
    outside ``if TYPE_CHECKING:``."""
    out: set[str] = set()
    package = where.split(".") if is_package else where.split(".")[:-1]
    package = [p for p in package if p]

    def add(dotted: list[str], names: list[str]) -> None:
        for a in names:  # from X import submodule
            if ".".join(dotted + [a]) in known:
                out.add(".".join(dotted + [a]))
            elif dotted and (m := _resolve(dotted, known)):
                out.add(m)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "aiaudio" and len(parts) > 1 and (m := _resolve(parts[1:], known)):
                    out.add(m)
        elif isinstance(node, ast.ImportFrom):
            mod = (node.module or "").split(".") if node.module else []
            if node.level >= 1:
                base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else None
                if base is not None:
                    add(base + mod, [a.name for a in node.names])
            elif mod and mod[0] == "aiaudio":
                add(mod[1:], [a.name for a in node.names])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out & known


def _graph() -> dict[str, set[str]]:
    """Module -> the modules it imports. A subpackage counts as one node of its layer's."""
    mods = _modules()
    known = set(mods)
    return {name: _imports(tree, known, name, is_pkg) - {name} for name, (tree, is_pkg) in mods.items()}


def _top(name: str) -> str:
    return name.split(".")[0]


def _layer_of(name: str) -> str:
    for layer, members in LAYERS.items():
        if _top(name) in members:
            return layer
    raise AssertionError(f"aiaudio/{name} is in no layer: add it to LAYERS in tests/test_layout.py")


def _excepted(m: str, d: str) -> bool:
    return (_top(m), _top(d)) in EXCEPTIONS


def test_every_module_has_one_layer() -> None:
    names = {_top(m) for m in _modules()}
    placed = [m for members in LAYERS.values() for m in members]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    assert names == set(placed), f"not in LAYERS: {sorted(names - set(placed))}; gone: {sorted(set(placed) - names)}"


def test_nothing_imports_the_cli() -> None:
    importers = sorted(m for m, deps in _graph().items() if any(_top(d) == "cli" for d in deps) and _layer_of(m) != "cli")
    assert importers == []


def test_nothing_imports_the_deprecated_paths() -> None:
    importers = sorted(
        f"{m} -> {d}" for m, deps in _graph().items() for d in deps if _layer_of(d) == "deprecated" and _layer_of(m) != "deprecated"
    )
    assert importers == []


@pytest.mark.parametrize("layer", list(LAYERS))
def test_imports_point_down(layer: str) -> None:
    graph = _graph()
    wrong = sorted(
        f"{m} -> {d} ({_layer_of(d)})"
        for m in sorted(graph)
        if _layer_of(m) == layer
        for d in graph[m]
        if _layer_of(d) not in MAY_IMPORT[layer] and not _excepted(m, d)
    )
    assert wrong == []


def test_core_imports_no_training_nor_app_module() -> None:
    graph = _graph()
    wrong = sorted(
        f"{m} -> {d}" for m in graph if _layer_of(m) == "core" for d in graph[m] if _layer_of(d) != "core" and not _excepted(m, d)
    )
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
    graph = {m: {d for d in deps if not _excepted(m, d)} for m, deps in _graph().items()}
    assert _cycles(graph) == []


def test_no_import_cycles_between_top_level_modules_and_packages() -> None:
    graph: dict[str, set[str]] = {}
    for m, deps in _graph().items():
        graph.setdefault(_top(m), set()).update(_top(d) for d in deps if not _excepted(m, d) and _top(d) != _top(m))
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


def test_the_import_parser_resolves_imports_inside_subpackages() -> None:
    tree = ast.parse(
        "from .. import _validate\nfrom ..audio import load_audio\nfrom .augment import A\n"
        "from . import vocoders\nfrom aiaudio.cues.spectral import f\nimport aiaudio.training.data\n"
    )
    known = {"_validate", "audio", "training", "training.augment", "training.vocoders", "training.data", "cues", "cues.spectral", "train"}
    assert _imports(tree, known, "training.train") == {
        "_validate", "audio", "training.augment", "training.vocoders", "cues.spectral", "training.data"
    }
    # in a package's __init__, "." is the package itself
    assert _imports(ast.parse("from .augment import A\n"), known, "training", is_package=True) == {"training.augment"}


@pytest.mark.parametrize(
    ("old", "new"),
    [("pipeline", "batch"), ("data", "training.data"), ("augment", "training.augment"), ("train", "training.train"),
     ("evaluate", "training.evaluate"), ("vocoders", "training.vocoders")],
)
def test_the_old_module_paths_still_work_and_warn(old: str, new: str) -> None:
    """A moved module stays importable at its old path for one release: the same objects, and a DeprecationWarning."""
    import importlib
    import sys
    import warnings

    sys.modules.pop(f"aiaudio.{old}", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shim = importlib.import_module(f"aiaudio.{old}")
    target = importlib.import_module(f"aiaudio.{new}")
    assert any(issubclass(w.category, DeprecationWarning) and f"aiaudio.{new}" in str(w.message) for w in caught)
    assert shim.__all__ == target.__all__ and shim.__all__
    for name in target.__all__:
        assert getattr(shim, name) is getattr(target, name)
    other = next(n for n in vars(target) if n not in target.__all__ and not n.startswith("__"))
    assert getattr(shim, other) is getattr(target, other)  # forwarded, for old code that reached in


def test_no_tracked_file_names_a_folder_of_the_machine_that_wrote_it() -> None:
    """Scripts, docs, notebooks, model files and splits name no absolute folder of a development
    machine (the brief: "no machine path goes into a commit"); caches are written as ``~/.cache``."""
    import subprocess

    repo = PKG.parent
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    me = Path(__file__).resolve().relative_to(repo).as_posix()
    bad = []
    for name in filter(None, (f.decode() for f in files)):
        p = repo / name
        if name in (me, "tests/test_notebooks.py") or not p.is_file() or p.stat().st_size > 20_000_000:
            continue
        data = p.read_bytes()
        if b"\0" in data[:4096]:  # binary (weights, audio)
            continue
        for folder in (b"/work/", b"/root/", b"/home/runner/"):
            if folder in data:
                bad.append((name, folder.decode()))
    assert not bad, bad

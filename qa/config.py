"""One config file (``qa.toml``) for paths and the time zone, found by ``QA_CONFIG`` or in the working folder.

Precedence, highest first: a command-line flag, its environment variable, ``qa.toml``, the built-in default.
Relative paths in the file are read against the file's own folder, so ``qa`` started anywhere finds the same data.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_ENV = "QA_CONFIG"
CONFIG_NAME = "qa.toml"
DEFAULT_TIMEZONE = "Europe/Moscow"

PATH_KEYS = ("db", "rules", "inbox", "cache_dir", "audio_root", "lake_data")
TEXT_KEYS = ("model", "device", "timezone", "dask_address")
NUMBER_KEYS = ("settle",)  # seconds a file must have stayed unchanged before `qa run` takes it
KNOWN_KEYS = (*PATH_KEYS, *TEXT_KEYS, *NUMBER_KEYS)


class ConfigError(Exception):
    """A config file that cannot be read. ``str()`` reads ``PATH: PROBLEM``."""


@dataclass(frozen=True)
class Config:
    """Settings from ``qa.toml``; ``None`` where the file is silent. ``path`` is the file read, if any."""

    path: Path | None = None
    db: Path | str | None = None  # a DuckDB file, or a ``ducklake:postgres:…`` setting (kept as text)
    rules: Path | None = None
    inbox: Path | None = None
    cache_dir: Path | None = None
    audio_root: Path | None = None
    lake_data: Path | None = None  # a DuckLake's shared data folder (when ``db`` is ``ducklake:…``)
    model: str | None = None
    device: str | None = None
    timezone: str | None = None
    dask_address: str | None = None  # an existing Dask scheduler for `qa run` / `qa rescore` (tcp://HOST:8786)
    settle: float | None = None  # `qa run --settle`: a file changed more recently waits for the next run


def default_rules_dir() -> Path:
    """The default rule set shipped with the package (``scripts_rules/`` of a source checkout)."""
    here = Path(__file__).resolve().parent
    packaged = here / "default_rules"
    if (packaged / "ruleset.yml").is_file():
        return packaged
    return here.parent / "scripts_rules"


def find_config(cwd: Path | None = None) -> Path | None:
    """``$QA_CONFIG`` when set (it must exist), else ``qa.toml`` in the working folder, else ``None``."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (from {CONFIG_ENV})")
        return path
    local = (cwd or Path.cwd()) / CONFIG_NAME
    return local if local.is_file() else None


def load_config(path: Path | None = None) -> Config:
    """Read ``path`` (or the file :func:`find_config` finds); an empty :class:`Config` when there is none."""
    path = path or find_config()
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    section = raw.get("qa", raw)
    unknown = sorted(set(section) - set(KNOWN_KEYS))
    if unknown:
        from qa.fuzzy import nearest_name as nearest

        hints = [f"{k!r}" + (f" (did you mean {hint!r}?)" if (hint := nearest(k, KNOWN_KEYS)) else "")
                 for k in unknown]
        raise ConfigError(f"{path}: unknown key {', '.join(hints)}; known: {', '.join(KNOWN_KEYS)}")
    values: dict[str, Any] = {}
    base = path.resolve().parent
    for key in KNOWN_KEYS:
        if key not in section:
            continue
        value = section[key]
        if key in NUMBER_KEYS:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{path}: {key}: expected a number of seconds, not {value!r}")
            values[key] = float(value)
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key}: expected a string, not {value!r}")
        if key == "db" and value.startswith("ducklake:"):
            values[key] = value
        elif key in PATH_KEYS:
            p = Path(value).expanduser()
            values[key] = p if p.is_absolute() else base / p
        else:
            values[key] = value
    if "timezone" in values:
        check_timezone(values["timezone"], str(path))
    return Config(path=path, **values)


def check_timezone(name: str, where: str = "timezone") -> None:
    """Raise :class:`ConfigError` unless ``name`` is an IANA time zone such as ``Europe/Moscow``."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{where}: unknown time zone {name!r} (e.g. Europe/Moscow)") from exc


TIMEZONE_ENV = "QA_TIMEZONE"


def configured_timezone(given: str | None = None) -> str:
    """The one time zone of dates (``--since``/``--until``, ``day`` in daily views, display): ``given``, else
    ``$QA_TIMEZONE`` (``qa`` sets it from ``qa.toml``), else ``qa.toml``'s ``timezone`` (for callers that are not
    ``qa``, e.g. a store opened from Python), else Europe/Moscow. An unknown zone is a :class:`ConfigError`."""
    named = given or os.environ.get(TIMEZONE_ENV)
    if named:
        check_timezone(named, "timezone" if given else TIMEZONE_ENV)
        return named
    return load_config().timezone or DEFAULT_TIMEZONE


def cli_defaults(config: Config) -> dict[str, Any]:
    """Defaults for command options, by parameter name: the config's values, the packaged rules otherwise."""
    values: dict[str, Any] = {"rules": str(default_rules_dir()), "folder": str(default_rules_dir())}
    for key in KNOWN_KEYS:
        value = getattr(config, key)
        if value is not None and key != "lake_data":  # lake_data reaches the store as QA_LAKE_DATA
            values[key] = str(value)
    if config.rules is not None:
        values["folder"] = str(config.rules)
    return values


CONFIG_TEMPLATE = """\
# ru-contact-qa settings. Relative paths are read against this file's folder.
# Command-line flags and QA_* environment variables override these.
[qa]
db = "data/qa.duckdb"
rules = "rules"
inbox = "inbox"
cache_dir = "data/cache/transcripts"
# Several machines writing one store: a DuckLake (PostgreSQL catalog, Parquet files in a shared folder).
# db = "ducklake:postgres:dbname=qa host=10.0.0.5 port=5432 user=qa"
# lake_data = "/mnt/shared/qa-lake"
# Folder that relative call paths in the database are resolved against.
audio_root = "inbox"
# model = "base"          # or a local CTranslate2 folder
# device = "auto"         # auto | cpu | cuda
timezone = "Europe/Moscow"
# settle = 10             # seconds a file must have stayed unchanged before a run takes it (still being copied?)
# dask_address = "tcp://10.0.0.5:8786"   # run the tasks on this Dask scheduler (see README, Cluster)
"""


def init_project(folder: Path, force: bool = False) -> list[Path]:
    """Write ``folder/qa.toml`` and an editable copy of the default rules in ``folder/rules``; the paths written.

    Refuses (``FileExistsError``) to overwrite either unless ``force``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    config_file, rules_dir = folder / CONFIG_NAME, folder / "rules"
    for existing in (config_file, rules_dir):
        if existing.exists() and not force:
            raise FileExistsError(f"{existing}: already exists (use --force to overwrite)")
    source = default_rules_dir()
    if rules_dir.exists():
        shutil.rmtree(rules_dir)
    shutil.copytree(source, rules_dir, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    config_file.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    (folder / "inbox").mkdir(exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    return [config_file, rules_dir]

"""One config file (``qa.toml``) for paths and the time zone, found by ``QA_CONFIG`` or in the working folder.

Precedence, highest first: a command-line flag, its environment variable, ``qa.toml``, the built-in default.
Relative paths in the file are read against the file's own folder, so ``qa`` started anywhere finds the same data.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CONFIG_ENV = "QA_CONFIG"
CONFIG_NAME = "qa.toml"
DEFAULT_TIMEZONE = "Europe/Moscow"

PATH_KEYS = ("db", "rules", "inbox", "cache_dir", "audio_root", "lake_data")
TEXT_KEYS = ("model", "device", "timezone", "dask_address")
LIST_KEYS = ("allowed_hosts",)  # a string or a list of strings
NUMBER_KEYS = ("settle",)  # seconds a file must have stayed unchanged before `qa run` takes it
KNOWN_KEYS = (*PATH_KEYS, *TEXT_KEYS, *LIST_KEYS, *NUMBER_KEYS)


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
    allowed_hosts: tuple[str, ...] | None = None  # `qa serve`: more names the page may be reached by (Host header)
    settle: float | None = None  # `qa run --settle`: a file changed more recently waits for the next run
    sources: tuple[SourceSettings, ...] = ()  # the [[sources]] entries: PBX recording folders (README «Connect…»)


LEG_PARTIES = ("caller", "callee")
# Split recordings: the suffix of each leg and whose voice it holds. Asterisk's Monitor() writes `-in` (what it
# reads from the channel it runs on) and `-out` (what it writes to it); MixMonitor's r()/t() options the receive and
# transmit feeds. The channel that records is the one running the dialplan: the caller's.
DEFAULT_LEGS = {"in": "caller", "out": "callee", "r": "caller", "t": "callee"}
CALL_LOG_FORMATS = ("asterisk", "freepbx", "generic")
_SOURCE_KEYS = ("name", "folder", "pattern", "timezone", "legs", "directions", "call_log", "directory")
_CALL_LOG_KEYS = ("path", "format", "columns", "encoding", "delimiter", "usegmtime", "loguniqueid", "loguserfield",
                  "newcdrcolumns", "time_format", "min_billsec", "answered")
_DIRECTORY_KEYS = ("path", "columns", "encoding", "delimiter")


@dataclass(frozen=True)
class CallLogSettings:
    """A call log (CDR) CSV of a source: ``format`` picks the column layout (``asterisk`` Master.csv, ``freepbx``
    CDR export, ``generic`` with ``columns``); ``path`` may be a glob (one export per day)."""

    path: str
    format: str = "generic"
    columns: dict[str, Any] = field(default_factory=dict)  # field -> column name (or number), over the preset's
    encoding: str = "auto"  # auto: UTF-8, else cp1251 (said in the report)
    delimiter: str = "auto"  # auto: sniffed among , ; tab |
    usegmtime: bool = False  # times without a zone are UTC (cdr.conf [csv] usegmtime=yes), not the source's zone
    loguniqueid: bool = True  # Master.csv layout: cdr.conf [csv] loguniqueid / loguserfield / newcdrcolumns
    loguserfield: bool = True
    newcdrcolumns: bool | None = None  # None: by the row's column count
    time_format: str | None = None  # strptime format of the times when neither ISO nor dd.mm.yyyy
    min_billsec: float = 5.0  # answered calls shorter than this are skipped (not scored as silent calls)
    answered: tuple[str, ...] = ()  # more disposition values that mean «answered»


@dataclass(frozen=True)
class DirectorySettings:
    """The operator directory CSV: extension or login -> operator id, name, team, line (header row required)."""

    path: str
    columns: dict[str, str] = field(default_factory=dict)  # field -> header name, where the file's differ
    encoding: str = "auto"
    delimiter: str = "auto"


@dataclass(frozen=True)
class SourceSettings:
    """One ``[[sources]]`` entry of qa.toml: a folder of PBX recordings, how their names read, an optional call log
    and operator directory. Plain data (a Prefect deployment keeps it as JSON: :meth:`as_dict`, :meth:`from_dict`)."""

    name: str
    folder: str
    patterns: tuple[str, ...] = ()
    timezone: str = DEFAULT_TIMEZONE  # of call-log and file-name times written without a zone
    legs: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LEGS))
    directions: dict[str, str] = field(default_factory=dict)  # more direction words -> inbound/outbound/internal
    call_log: CallLogSettings | None = None
    directory: DirectorySettings | None = None
    origin: str = ""  # the qa.toml it came from, for messages

    def where(self, key: str = "") -> str:
        """``qa.toml: sources[NAME].key`` for messages."""
        return f"{self.origin or 'qa.toml'}: sources[{self.name}]" + (f".{key}" if key else "")

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceSettings:
        """The settings :meth:`as_dict` gave."""
        data = dict(data)
        log, directory = data.pop("call_log", None), data.pop("directory", None)
        if log is not None:
            log = CallLogSettings(**{**log, "answered": tuple(log.get("answered") or ())})
        return cls(**{**data, "patterns": tuple(data.get("patterns") or ())},
                   call_log=log, directory=DirectorySettings(**directory) if directory is not None else None)


def _table_keys(table: Any, known: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = sorted(set(table) - set(known))
    if unknown:
        from qa.fuzzy import nearest_name as nearest

        hints = [f"{k!r}" + (f" (did you mean {hint!r}?)" if (hint := nearest(k, known)) else "") for k in unknown]
        raise ConfigError(f"{where}: unknown key {', '.join(hints)}; known: {', '.join(known)}")
    return table


_KIND_NAMES = {str: "a string", bool: "true or false", dict: "a table", list: "a list", int: "a number",
               float: "a number"}


def _typed(table: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    """``table[key]`` when it is of one of ``kinds`` (``None`` when absent); a :class:`ConfigError` otherwise."""
    value = table.get(key)
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if value is None:
        return None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(dict.fromkeys(_KIND_NAMES[k] for k in kinds))
        raise ConfigError(f"{where}.{key}: expected {expected}, not {value!r}")
    return value


def _path(value: str, base: Path) -> str:
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


def _text_table(table: dict[str, Any], key: str, where: str, lists: bool = False) -> dict[str, Any]:
    """A table of names (a column's header, or its number); with ``lists`` also lists of them (joined by a space:
    a date and a time column read as one time)."""
    value = _typed(table, key, dict, where) or {}
    for k, v in value.items():
        items = v if lists and isinstance(v, list) and v else [v]
        if not all(isinstance(i, str | int) and not isinstance(i, bool) for i in items):
            raise ConfigError(f"{where}.{key}.{k}: expected a column name (or number), not {v!r}")
    return dict(value)


def _call_log(value: Any, base: Path, where: str) -> CallLogSettings:
    table = _table_keys(value, _CALL_LOG_KEYS, where)
    if not isinstance(table.get("path"), str):
        raise ConfigError(f"{where}.path: the call log CSV file (or a glob such as 'exports/*.csv') is required")
    fmt = _typed(table, "format", str, where) or "generic"
    if fmt not in CALL_LOG_FORMATS:
        raise ConfigError(f"{where}.format: {fmt!r} is none of {', '.join(CALL_LOG_FORMATS)}")
    columns = _text_table(table, "columns", where, lists=True)
    for key in ("encoding", "delimiter", "time_format"):
        _typed(table, key, str, where)
    for key in ("usegmtime", "loguniqueid", "loguserfield", "newcdrcolumns"):
        _typed(table, key, bool, where)
    billsec = _typed(table, "min_billsec", (int, float), where)
    answered = _typed(table, "answered", list, where) or []
    if not all(isinstance(a, str) for a in answered):
        raise ConfigError(f"{where}.answered: expected a list of disposition values (strings)")
    if fmt == "generic" and not columns:
        raise ConfigError(f"{where}.columns: a generic call log needs its column mapping (e.g. uniqueid = 'ID', "
                          f"start = 'Время', disposition = 'Статус')")
    defaults = CallLogSettings(path="")
    return CallLogSettings(
        path=_path(table["path"], base), format=fmt, columns=columns, encoding=table.get("encoding", "auto"),
        delimiter=table.get("delimiter", "auto"), usegmtime=table.get("usegmtime", False),
        loguniqueid=table.get("loguniqueid", defaults.loguniqueid),
        loguserfield=table.get("loguserfield", defaults.loguserfield), newcdrcolumns=table.get("newcdrcolumns"),
        time_format=table.get("time_format"),
        min_billsec=float(billsec) if billsec is not None else defaults.min_billsec, answered=tuple(answered))


def _directory(value: Any, base: Path, where: str) -> DirectorySettings:
    if isinstance(value, str):
        return DirectorySettings(path=_path(value, base))
    table = _table_keys(value, _DIRECTORY_KEYS, where)
    if not isinstance(table.get("path"), str):
        raise ConfigError(f"{where}.path: the operator directory CSV file is required")
    for key in ("encoding", "delimiter"):
        _typed(table, key, str, where)
    return DirectorySettings(path=_path(table["path"], base), columns=_text_table(table, "columns", where),
                             encoding=table.get("encoding", "auto"), delimiter=table.get("delimiter", "auto"))


def parse_sources(value: Any, path: Path, timezone: str) -> tuple[SourceSettings, ...]:
    """The ``[[sources]]`` tables of ``path`` (relative paths read against its folder; ``timezone`` unless a source
    names its own). Names and file-name patterns are checked when the source is opened (:mod:`qa.inbox.sources`)."""
    if not isinstance(value, list):
        raise ConfigError(f"{path}: sources: write each source as a [[sources]] table")
    base = path.resolve().parent
    out: list[SourceSettings] = []
    for n, raw in enumerate(value):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"{path}: sources[{name if isinstance(name, str) else n}]"
        table = _table_keys(raw, _SOURCE_KEYS, where)
        name = _typed(table, "name", str, where) or f"source{n + 1}"
        if any(s.name == name for s in out):
            raise ConfigError(f"{where}.name: {name!r} names two sources")
        if not isinstance(table.get("folder"), str):
            raise ConfigError(f"{where}.folder: the folder of the recordings is required")
        patterns = table.get("pattern", [])
        patterns = [patterns] if isinstance(patterns, str) else patterns
        if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
            raise ConfigError(f"{where}.pattern: expected a file-name pattern or a list of them, e.g. "
                              "'{direction}-{dst}-{src}-{date:%Y%m%d}-{time:%H%M%S}-{uniqueid}.wav'")
        zone = _typed(table, "timezone", str, where) or timezone
        check_timezone(zone, f"{where}.timezone")
        legs = {**DEFAULT_LEGS, **_text_table(table, "legs", where)} if "legs" in table else dict(DEFAULT_LEGS)
        for suffix, party in legs.items():
            if party not in LEG_PARTIES:
                raise ConfigError(f"{where}.legs.{suffix}: {party!r} is neither 'caller' nor 'callee'")
        directions = _text_table(table, "directions", where)
        for word, direction in directions.items():
            if direction not in ("inbound", "outbound", "internal"):
                raise ConfigError(f"{where}.directions.{word}: {direction!r} is not inbound, outbound or internal")
        out.append(SourceSettings(
            name=name, folder=_path(table["folder"], base), patterns=tuple(patterns), timezone=zone, legs=legs,
            directions=directions,
            call_log=_call_log(table["call_log"], base, f"{where}.call_log") if "call_log" in table else None,
            directory=_directory(table["directory"], base, f"{where}.directory") if "directory" in table else None,
            origin=str(path)))
    return tuple(out)


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
    sources = raw.pop("sources", None)
    section = raw.get("qa", raw)
    if isinstance(section, dict) and "sources" in section:  # [[qa.sources]] reads the same as [[sources]]
        if sources is not None:
            raise ConfigError(f"{path}: give the sources as [[sources]] or as [[qa.sources]], not both")
        sources = section.pop("sources")
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
        if key in LIST_KEYS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise ConfigError(f"{path}: {key}: expected a string or a list of strings, not {value!r}")
            values[key] = tuple(items)
            continue
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
    if sources is not None:
        values["sources"] = parse_sources(sources, path, values.get("timezone") or DEFAULT_TIMEZONE)
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
            values[key] = list(value) if key in LIST_KEYS else str(value)
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
# `qa serve` answers only requests naming the address it listens on; more names (a proxy's, a DNS name):
# allowed_hosts = ["qa.example.com"]

# A PBX's recordings, call log and operator directory (README, «Connect your PBX»; check with `qa sources check`):
# [[sources]]
# name = "freepbx"
# folder = "/var/spool/asterisk/monitor"
# pattern = "{direction}-{dst}-{src}-{date:%Y%m%d}-{time:%H%M%S}-{uniqueid}"
# directory = "operators.csv"            # extension,login,operator_id,name,team,line
# [sources.call_log]
# path = "/var/log/asterisk/cdr-csv/Master.csv"
# format = "asterisk"                    # or "freepbx" (CDR Reports CSV), "generic" (+ [sources.call_log.columns])
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

"""DuckLake, the store several machines write and read: a PostgreSQL catalog and Parquet files in a shared folder.

Chosen by one setting, ``--db`` / ``QA_DB`` / qa.toml's ``db``::

    ducklake:postgres:dbname=qa host=10.0.0.5 port=5432 user=qa?data=/mnt/shared/qa-lake

``postgres:`` is followed by a libpq connection string (key/value pairs or a ``postgresql://`` URI); ``?data=``
names the shared data folder (else ``QA_LAKE_DATA`` or qa.toml's ``lake_data``). The folder is needed only to create
the lake: the catalog remembers it afterwards.

This module holds what is plain logic (parsing the setting, finding the bundled extensions, translating migrations
for DuckLake, telling conflicts from outages, back-off delays); :mod:`qa.store.lake_store` opens the connections. It
is the one module that imports the extension packages ``duckdb-extension-ducklake`` and
``duckdb-extension-postgres``: their files are loaded by path, so nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PREFIX = "ducklake:"
DATA_ENV = "QA_LAKE_DATA"
RETRY_ENV = "QA_LAKE_RETRY_S"  # how long a writer retries an unreachable catalog or a lost commit race
DEFAULT_RETRY_S = 30.0
CATALOG_ALIAS = "lake"
EXTENSION_ABI = "v1.5.5"  # the DuckDB version the bundled extensions are built for (pinned with duckdb)


class LakeSettingError(ValueError):
    """A ``ducklake:`` setting that cannot be used. ``str()`` names the setting and the problem."""


def is_lake(db: str | Path) -> bool:
    """Whether a ``--db`` value names a DuckLake (else it is a DuckDB file)."""
    return str(db).startswith(PREFIX)


@dataclass(frozen=True)
class LakeLocation:
    """Where a lake lives: the catalog (``postgres:<conninfo>``) and the data folder (``None``: as recorded)."""

    catalog: str
    data_path: str | None = None

    @property
    def conninfo(self) -> str:
        return self.catalog.split(":", 1)[1]

    @property
    def display(self) -> str:
        """The setting with any password masked, for messages."""
        shown = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", self.catalog)
        shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", shown)
        return f"{PREFIX}{shown}"

    def attach_sql(self, read_only: bool = False) -> str:
        """The ATTACH statement for this lake (as catalog ``lake``)."""
        options = [f"DATA_PATH {sql_literal(self.data_path)}"] if self.data_path else []
        options += ["READ_ONLY"] if read_only else []
        listed = f" ({', '.join(options)})" if options else ""
        return f"ATTACH {sql_literal(PREFIX + self.catalog)} AS {CATALOG_ALIAS}{listed}"


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parse_location(db: str | Path, data_path: str | Path | None = None) -> LakeLocation:
    """Read a ``ducklake:postgres:<conninfo>[?data=<folder>]`` setting; ``data_path`` (else ``$QA_LAKE_DATA``) is
    the folder when the setting names none."""
    text = str(db)
    if not is_lake(text):
        raise LakeSettingError(f"{text}: not a ducklake: setting")
    body = text[len(PREFIX):]
    data: str | None = None
    if "?data=" in body:
        body, data = body.rsplit("?data=", 1)
    kind, _, conninfo = body.partition(":")
    if kind != "postgres":
        raise LakeSettingError(f"{text}: only a PostgreSQL catalog is supported (ducklake:postgres:<conninfo>)")
    # A click/typer Path option folds '//' to '/': put a URI's scheme back together.
    conninfo = re.sub(r"^(postgres(?:ql)?):/(?!/)", r"\1://", conninfo.strip())
    if not conninfo:
        raise LakeSettingError(f"{text}: no PostgreSQL connection string after ducklake:postgres:")
    data = data or (str(data_path) if data_path else None) or os.environ.get(DATA_ENV) or None
    if data:
        data = str(Path(data).expanduser().resolve())
    return LakeLocation(f"postgres:{conninfo}", data)


def _package_extension(package: str, name: str) -> Path:
    try:
        folder = resources.files(package)
    except ModuleNotFoundError as exc:
        raise LakeSettingError(f"the DuckLake store needs the Python package {package.replace('_', '-')}=="
                               f"{EXTENSION_ABI[1:]} (pip install -e .)") from exc
    path = Path(str(folder)) / "extensions" / EXTENSION_ABI / f"{name}.duckdb_extension"
    if not path.is_file():
        raise LakeSettingError(f"{path}: DuckDB extension not found (the package does not match DuckDB "
                               f"{EXTENSION_ABI})")
    return path


def extension_files() -> list[Path]:
    """The postgres and ducklake extension files to ``LOAD`` (postgres first).

    DuckDB derives an extension's entry point from its file name, and the postgres package names its file
    ``postgres`` while the extension calls itself ``postgres_scanner``: it is loaded through a link of that name
    in a private temporary folder.
    """
    postgres = _package_extension("duckdb_extension_postgres", "postgres")
    ducklake = _package_extension("duckdb_extension_ducklake", "ducklake")
    tag = hashlib.sha256(str(postgres).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"ru-contact-qa-ext-{os.getuid()}-{tag}"
    link = folder / "postgres_scanner.duckdb_extension"
    if not (link.is_symlink() and Path(os.readlink(link)) == postgres):
        folder.mkdir(mode=0o700, exist_ok=True)
        spare = folder / f".link-{os.getpid()}"
        spare.unlink(missing_ok=True)
        spare.symlink_to(postgres)
        spare.replace(link)
    return [link, ducklake]


# --- migrations ---------------------------------------------------------------------------------------------

def split_statements(sql: str) -> list[str]:
    """SQL text split at top-level semicolons (quotes and comments respected); comments dropped, blanks skipped."""
    out, current, i, n = [], [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == ch and not (end + 1 < n and sql[end + 1] == ch):
                    break
                end += 2 if sql[end] == ch else 1
            current.append(sql[i:end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            i = sql.find("\n", i) if "\n" in sql[i:] else n
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch == ";":
            out.append("".join(current).strip())
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    out.append("".join(current).strip())
    return [s for s in out if s]


def _top_level_items(body: str) -> list[str]:
    """Comma-separated items of a column list, commas inside brackets or quotes kept."""
    items, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(body):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    return [item.strip() for item in items if item.strip()]


def _balanced_end(text: str, open_at: int) -> int:
    """Index just past the bracket group that opens at ``open_at``."""
    pairs = {"(": ")", "[": "]"}
    stack = [pairs[text[open_at]]]
    i = open_at + 1
    while i < len(text) and stack:
        ch = text[i]
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch == stack[-1]:
            stack.pop()
        elif ch == "'":
            i = text.index("'", i + 1)
        i += 1
    return i


_TABLE_CONSTRAINT = re.compile(r"^(CONSTRAINT\s+\S+\s+)?(PRIMARY\s+KEY|UNIQUE|CHECK|FOREIGN\s+KEY)\b", re.I)
_COLUMN_WORDS = re.compile(r"\s+(PRIMARY\s+KEY|UNIQUE|CHECK\s*(?=\()|REFERENCES\s+[\w.]+|"
                           r"DEFAULT\s*(?=\[)|DEFAULT\s+(?:list_value|array)\s*(?=\())", re.I)


def _strip_column(column: str) -> str:
    """A column definition without the constraints DuckLake lacks (primary key, unique, check, references) and
    without a list default."""
    while True:
        match = _COLUMN_WORDS.search(column)
        if not match:
            return column
        end = match.end()
        rest = column[end:].lstrip()
        if rest[:1] in "([" and rest:
            end = _balanced_end(column, column.index(rest[0], end))
        keep = " NOT NULL" if match.group(1).upper().startswith("PRIMARY") else ""  # a key is never NULL
        column = (column[:match.start()] + keep + column[end:]).rstrip()
        column = _NOT_NULL_TWICE.sub(" NOT NULL", column)


_NOT_NULL_TWICE = re.compile(r"(\s+NOT\s+NULL\b)(.*?)\s+NOT\s+NULL\b", re.I)
_TABLE_KEY = re.compile(r"^(CONSTRAINT\s+\S+\s+)?PRIMARY\s+KEY\s*\(([^)]*)\)", re.I)


def _not_null(column: str) -> str:
    return column if re.search(r"\bNOT\s+NULL\b", column, re.I) else column + " NOT NULL"


_CREATE_TABLE = re.compile(r"^CREATE\s+(OR\s+REPLACE\s+)?TABLE\s+(IF\s+NOT\s+EXISTS\s+)?[\w.\"]+\s*\(", re.I)
_DROPPED = re.compile(r"^(CREATE\s+(OR\s+REPLACE\s+)?MACRO|CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|"
                      r"ALTER\s+TABLE\s+\S+\s+ADD\s+(PRIMARY\s+KEY|UNIQUE|CONSTRAINT|CHECK))\b", re.I)


def translate_statement(statement: str) -> str | None:
    """One migration statement as DuckLake takes it; ``None`` when it has no meaning there (an index, a macro:
    macros are defined on each connection by :func:`qa.store.days.define_day`, in the configured time zone).

    DuckLake has no PRIMARY KEY, UNIQUE, CHECK or FOREIGN KEY and no index, and no default for a list column;
    everything else (tables, NOT NULL, views, ALTER TABLE ADD COLUMN, data changes) runs as written.
    """
    text = statement.strip()
    if _DROPPED.match(text):
        return None
    head = _CREATE_TABLE.match(text)
    if not head:
        return text
    close = _balanced_end(text, head.end() - 1)
    raw = _top_level_items(text[head.end():close - 1])
    keys = {k.strip().strip('"').lower()
            for item in raw if (m := _TABLE_KEY.match(item)) for k in m.group(2).split(",")}
    items = [_strip_column(item) for item in raw if not _TABLE_CONSTRAINT.match(item)]
    items = [_not_null(item) if item.split()[0].strip('"').lower() in keys else item for item in items]
    return text[:head.end()] + "\n    " + ",\n    ".join(items) + "\n)" + text[close:]


_SKIP_ON_LAKE = re.compile(r"^--\s*ducklake:\s*skip\b", re.I | re.M)


def translate_migration(sql: str) -> list[str]:
    """A migration file's statements as DuckLake runs them (see :func:`translate_statement`); none for a file with
    a ``-- ducklake: skip`` line (a change that only a DuckDB file needs, such as dropping its keys)."""
    if _SKIP_ON_LAKE.search(sql):
        return []
    return [t for s in split_statements(sql) if (t := translate_statement(s)) is not None]


# --- errors and retries ----------------------------------------------------------------------------------------

_CONFLICT_MARKERS = ("Transaction conflict",)
_UNREACHABLE_MARKERS = ("Unable to connect to Postgres", "connection to server", "server closed the connection",
                        "terminating connection", "no connection to the server", "could not receive data",
                        "could not send data", "Connection refused", "connection is bad", "SSL SYSCALL",
                        'Failed to execute query "ROLLBACK"', "the database system is shutting down",
                        "the database system is starting up", "the database system is in recovery")
_DISK_FULL_MARKERS = ("No space left on device", "Disk quota exceeded")


def is_conflict(exc: BaseException) -> bool:
    """A commit that lost a race with another writer (retry it on a fresh snapshot)."""
    return any(m in str(exc) for m in _CONFLICT_MARKERS) and not is_unreachable(exc)


# DuckDB's words when PostgreSQL stops under a query: the result cut off, or the catalog's transaction aborted
# under DuckLake («Failed to get data file list from DuckLake: Current transaction is aborted»; PostgreSQL's own
# «current transaction is aborted, commands ignored…» reads the same). Compared case-insensitively.
_CUT_OFF_MARKERS = ("attempting to fetch from an unsuccessful query result", "current transaction is aborted")


def is_cut_off(exc: BaseException) -> bool:
    """A catalog query that failed without saying why: DuckDB's words when PostgreSQL stops under a query
    (tell an outage from a bug with :func:`qa.store.lake_store.catalog_refusal`)."""
    text = str(exc).lower()
    return any(m in text for m in _CUT_OFF_MARKERS)


def probe_conninfo(location: LakeLocation, timeout_s: int = 2) -> str:
    """The catalog's conninfo with a connect timeout, for a one-off probe connection
    (:func:`qa.store.lake_store.catalog_refusal`)."""
    info = location.conninfo
    if "connect_timeout" in info:
        return info
    if "://" in info:
        return f"{info}{'&' if '?' in info else '?'}connect_timeout={timeout_s}"
    return f"{info} connect_timeout={timeout_s}"


def is_unreachable(exc: BaseException) -> bool:
    """The PostgreSQL catalog could not be reached (down, restarting, network)."""
    return any(m in str(exc) for m in _UNREACHABLE_MARKERS)


def catalog_reason(message: str) -> str:
    """The libpq reason in a DuckDB error about the catalog (``connection to server … failed: Connection
    refused``), without DuckDB's wrapping."""
    found = re.search(r"Unable to connect to Postgres at \"[^\"]*\": (.*)", message)
    text = found.group(1) if found else message
    return text.strip().splitlines()[0] if text.strip() else message


def is_disk_full(exc: BaseException) -> bool:
    return any(m in str(exc) for m in _DISK_FULL_MARKERS)


def retry_seconds() -> float:
    """How long to keep retrying (``$QA_LAKE_RETRY_S``, default 30 s)."""
    value = os.environ.get(RETRY_ENV)
    try:
        return float(value) if value else DEFAULT_RETRY_S
    except ValueError as exc:
        raise LakeSettingError(f"{RETRY_ENV}={value!r}: expected seconds") from exc


def backoff_delays(first: float = 0.05, most: float = 2.0) -> Iterator[float]:
    """Exponential back-off with full jitter, so racing writers do not retry in step."""
    delay = first
    while True:
        yield random.uniform(first / 2, delay)
        delay = min(delay * 2, most)

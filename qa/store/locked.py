"""Ad-hoc SQL from people (``qa sql``) on a locked connection: it reads the store and nothing else.

Three locks, each enough for what it guards:

1. **One SELECT.** The text must be exactly one statement, of DuckDB's ``SELECT`` type (``FROM …``, ``WITH …``,
   ``DESCRIBE``, ``SUMMARIZE`` and ``SHOW`` are too): ``COPY … TO``, ``ATTACH``, ``INSTALL``, ``LOAD``, ``SET``,
   ``PRAGMA``, ``EXPORT``, ``CALL`` and every write are refused before anything runs.
2. **No file, no extension.** The connection runs with ``enable_external_access = false`` (no file read or written
   but the store's own: ``read_text('/etc/shadow')``, ``read_csv``, ``glob``, ``COPY`` and ``ATTACH`` of a file all
   fail), extensions neither installed nor loaded, and ``lock_configuration = true``, so no statement can undo it.
   A DuckLake keeps its data folder readable (``allowed_directories``): its tables are Parquet files there.
3. **Only the data tables.** Before the query runs, its plan as the binder made it (``EXPLAIN`` of the unoptimised
   logical plan, after views, ``query()`` and ``query_table()`` are expanded) is read: every table it scans must be
   one of the store's own tables and not an account table (:data:`ACCOUNT_TABLES`: password hashes, session
   tokens, the audit trail) unless ``accounts`` is asked for; every table function it calls must be one of
   :data:`ALLOWED_FUNCTIONS` (no ``pragma_storage_info`` statistics, ``duckdb_table_sample`` rows,
   ``json_execute_serialized_sql``, ``postgres_query`` or direct reads of a lake's catalog or Parquet files).
   Anything the check does not know is refused.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

ACCOUNT_TABLES = frozenset({"users", "sessions", "audit"})  # migration 004: accounts of the review page
SCANS = frozenset({"SEQ_SCAN", "DUCKLAKE_SCAN"})  # how a store's own table is read (a file's, a lake's)
# Table functions that read no table and no file: series, unnesting, and the catalog's descriptions (names and
# types of tables, columns, views; no rows).
ALLOWED_FUNCTIONS = frozenset({
    "RANGE", "GENERATE_SERIES", "UNNEST", "UNNEST_POSTFIX", "REPEAT", "REPEAT_ROW", "JSON_EACH", "JSON_TREE",
    "DUCKDB_COLUMNS", "DUCKDB_CONSTRAINTS", "DUCKDB_DATABASES", "DUCKDB_DEPENDENCIES", "DUCKDB_FUNCTIONS",
    "DUCKDB_INDEXES", "DUCKDB_KEYWORDS", "DUCKDB_SCHEMAS", "DUCKDB_SEQUENCES", "DUCKDB_SETTINGS",
    "DUCKDB_TABLES", "DUCKDB_TYPES", "DUCKDB_VIEWS", "PRAGMA_TABLE_INFO", "PRAGMA_SHOW", "PRAGMA_VERSION",
    "PRAGMA_PLATFORM", "PRAGMA_COLLATIONS", "PRAGMA_DATABASE_SIZE", "PG_TIMEZONE_NAMES", "ICU_CALENDAR_NAMES",
    "TEST_ALL_TYPES",
})
# Plan leaves that read nothing stored: constants, VALUES lists, CTE and subquery references.
INNER_LEAVES = frozenset({"DUMMY_SCAN", "EXPRESSION_GET", "COLUMN_DATA_GET", "COLUMN_DATA_SCAN", "CHUNK_GET",
                          "DELIM_GET", "CTE_REF", "CTE_SCAN", "EMPTY_RESULT", "RECURSIVE_CTE_SCAN",
                          "RECURSIVE_RECURRING_CTE_SCAN"})

# Set on a connection before its first statement, then locked.
LOCKED_SETTINGS: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "explain_output": "all",  # EXPLAIN gives the binder's plan too, before the optimiser folds scans away
}


class QueryRefused(ValueError):
    """A query ``qa sql`` will not run: not one SELECT, or it reads what it may not. ``str()`` says why."""


def single_select(sql: str) -> str:
    """The one SELECT statement of ``sql`` (trailing semicolon and blanks allowed); :class:`QueryRefused` else."""
    parser = duckdb.connect(":memory:")
    try:
        statements = parser.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"not valid SQL: {str(exc).splitlines()[0]}") from exc
    finally:
        parser.close()
    if len(statements) != 1:
        raise QueryRefused(f"one statement at a time, not {len(statements)}")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        kind = (statement.query.split() or [statement.type.name])[0].upper()
        raise QueryRefused(f"read-only: one SELECT is run here, not {kind} (qa sql reads the store and nothing "
                           "else: no COPY, ATTACH, INSTALL, LOAD, SET, PRAGMA, EXPORT or writes)")
    return statement.query


def lock(con: duckdb.DuckDBPyConnection, readable_folders: tuple[str, ...] = ()) -> None:
    """Lock a connection to the store it has open: no file access but ``readable_folders`` (a lake's data), no
    extension, and no setting changed from here on."""
    for name, value in LOCKED_SETTINGS.items():
        con.execute(f"SET {name} = {_literal(value)}")
    if readable_folders:
        con.execute(f"SET allowed_directories = {_literal(list(readable_folders))}")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def check_plan(con: duckdb.DuckDBPyConnection, sql: str, accounts: bool = False) -> list[str]:
    """The tables ``sql`` reads, from its binder plan on this (locked) connection; :class:`QueryRefused` when it
    reads an account table (unless ``accounts``), calls a table function not in :data:`ALLOWED_FUNCTIONS` or
    reads from anything else the check does not know. A query DuckDB cannot bind raises its ``duckdb.Error``."""
    functions = {r[0] for r in con.execute(
        "SELECT DISTINCT upper(function_name) FROM duckdb_functions() WHERE function_type = 'table'").fetchall()}
    rows = con.execute("EXPLAIN (FORMAT JSON) " + sql).fetchall()  # a bad query fails here, as it would when run
    plans = [json.loads(text) for key, text in rows if key == "logical_plan"]
    if not plans:
        raise QueryRefused("the query's plan could not be read, so it is not run")
    tables: list[str] = []
    for node in _nodes(plans[0]):
        name = str(node.get("name", "")).strip().upper()
        info = node.get("extra_info") or {}
        table = info.get("Table") if isinstance(info, dict) else None
        if table:
            bare = str(table).rsplit(".", 1)[-1].strip('"').lower()
            if name not in SCANS:
                raise QueryRefused(f"{name.lower()} of {table!r}: only the store's own tables are read here")
            if bare in ACCOUNT_TABLES and not accounts:
                raise QueryRefused(f"{bare}: an account table (users, sessions, audit) is not read by qa sql; an "
                                   "admin reads it with --include-accounts --admin NAME (audited)")
            tables.append(bare)
        elif name in functions:
            if name not in ALLOWED_FUNCTIONS:
                raise QueryRefused(f"table function {name.lower()}() is not allowed in qa sql (it reads files, "
                                   "storage or another database)")
        elif not node.get("children") and name not in INNER_LEAVES:
            raise QueryRefused(f"{name.lower()}: not a source qa sql knows to be safe, so the query is not run")
    return tables


def _nodes(plan: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = list(plan) if isinstance(plan, list) else [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.get("children") or [])
    return found


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"

"""The operator directory HR keeps: an extension or login -> operator id, name, team and line.

A CSV with a header row. Its columns are ``extension``, ``login``, ``operator_id``, ``name``, ``team`` and
``line`` (``columns`` in qa.toml maps other header names onto them); ``operator_id`` and one of ``extension`` /
``login`` are required. An operator is also found by their operator id, so a sidecar naming one gets its team.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.config import DirectorySettings
from qa.errors import SourceError
from qa.inbox.report import SourceReport
from qa.inbox.tables import read_csv

DIRECTORY_FIELDS = ("extension", "login", "operator_id", "name", "team", "line")


@dataclass(frozen=True, slots=True)
class Operator:
    """One directory row."""

    operator_id: str
    name: str | None = None
    team: str | None = None
    line: str | None = None
    extension: str | None = None
    login: str | None = None


class Directory:
    """Operators by extension, login and operator id (case-insensitive for logins)."""

    def __init__(self, operators: list[Operator] = (), report: SourceReport | None = None, where: str = "") -> None:
        self.operators = list(operators)
        self._by_key: dict[str, Operator] = {}
        for op in self.operators:
            for key in {k for k in (op.extension, op.login) if k}:
                folded = key.strip().casefold()
                if folded in self._by_key and self._by_key[folded] != op:
                    if report is not None:
                        report.add("directory_duplicate", f"{where}: {key!r} is listed for "
                                                          f"{self._by_key[folded].operator_id} and {op.operator_id}")
                    continue
                self._by_key[folded] = op
        self._by_id = {}
        for op in self.operators:
            self._by_id.setdefault(op.operator_id, op)

    def __len__(self) -> int:
        return len(self.operators)

    def find(self, key: str | None) -> Operator | None:
        """The operator with this extension or login, or ``None``."""
        return self._by_key.get(key.strip().casefold()) if key and key.strip() else None

    def by_id(self, operator_id: str | None) -> Operator | None:
        """The operator with this operator id, or ``None``."""
        return self._by_id.get(operator_id) if operator_id else None


def read_directory(settings: DirectorySettings, report: SourceReport) -> Directory:
    """The directory file; :class:`SourceError` naming it when it cannot be read or lacks the required columns."""
    from qa.fuzzy import nearest_name

    table = read_csv(settings.path, settings.encoding, settings.delimiter)
    for note in table.notes:
        report.notes.append(f"{table.path.name}: {note}")
        report.add("encoding" if "cp1251" in note or "UTF-16" in note else "delimiter", f"{table.path}: {note}")
    index: dict[str, int] = {}
    for key in DIRECTORY_FIELDS:
        title = settings.columns.get(key, key)
        found = table.column(str(title))
        if found is None and key in settings.columns:
            hint = nearest_name(str(title), table.header or [])
            raise SourceError(table.path, f"no column {title!r} (for {key}) in the header"
                                          + (f"; did you mean {hint!r}?" if hint else ""))
        if found is not None:
            index[key] = found
    if "operator_id" not in index or not ({"extension", "login"} & set(index)):
        raise SourceError(table.path, "the operator directory needs the columns operator_id and extension (or login)"
                                      f"; its header: {', '.join(table.header or [])} (map others with "
                                      "[sources.directory.columns])")
    operators = []
    for _line, cells in table.rows:
        values = {k: (cells[i].strip() if i < len(cells) else "") or None for k, i in index.items()}
        if not values.get("operator_id"):
            continue  # a blank or separator row
        operators.append(Operator(operator_id=values["operator_id"], name=values.get("name"),
                                  team=values.get("team"), line=values.get("line"),
                                  extension=values.get("extension"), login=values.get("login")))
    report.counts["directory_operators"] = len(operators)
    return Directory(operators, report, table.path.name)

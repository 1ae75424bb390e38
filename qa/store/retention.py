"""Retention: ``qa purge`` removes what identifies a caller (audio paths, transcripts, quotes, review comments)
from conversations older than a retention period, and keeps their scores and every aggregate."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from qa.store.base import Store, StoreError
from qa.store.current import refresh_current
from qa.store.search_index import refresh_search

_AGE = re.compile(r"^\s*(\d+)\s*([dw]?)\s*$")
_TEXT_KEYS = frozenset({"quote", "matched", "text", "evidence"})


@dataclass(frozen=True)
class PurgeResult:
    """How many conversations were purged and the cutoff used."""

    conversations: int
    cutoff: datetime


def parse_age(value: str) -> timedelta:
    """``180d``, ``26w`` or a bare number of days as a :class:`timedelta`; ``ValueError`` otherwise."""
    match = _AGE.match(value)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{value!r}: expected an age like 180d or 26w")
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    return timedelta(days=days)


def _scrub(value: Any) -> Any:
    """``value`` (parsed JSON) with every text quote blanked."""
    if isinstance(value, dict):
        return {k: ("" if k in _TEXT_KEYS and isinstance(v, str) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def purge(store: Store, older_than: timedelta, now: datetime | None = None) -> PurgeResult:
    """Purge conversations that started (else were stored) before ``now - older_than``."""
    if not store.exists():
        raise StoreError(f"{store.display}: database not found")
    cutoff = (now or datetime.now(UTC)) - older_than
    with store.connect() as con:
        ids = [r[0] for r in con.execute(
            "SELECT conversation_id FROM conversations WHERE purged_at IS NULL "
            "AND coalesce(started_at, ingested_at) < ?", [cutoff]).fetchall()]
        if not ids:
            return PurgeResult(0, cutoff)
        con.execute("BEGIN")
        try:
            con.execute("CREATE TEMP TABLE _purge AS SELECT unnest(?::VARCHAR[]) AS conversation_id", [ids])
            where = "conversation_id IN (SELECT conversation_id FROM _purge)"
            con.execute(f"DELETE FROM utterances WHERE {where}")
            con.execute(f"UPDATE conversations SET source_path = '', metadata = NULL, purged_at = ? WHERE {where}",
                        [datetime.now(UTC)])
            con.execute(f"UPDATE reviews SET comment = NULL WHERE {where}")
            for table, keys in (("findings", "ruleset_version, finding_idx"), ("scores", "ruleset_version")):
                rows = con.execute(f"SELECT conversation_id, {keys}, details FROM {table} WHERE {where}").fetchall()
                for *key, details in rows:
                    scrubbed = json.dumps(_scrub(json.loads(details)), ensure_ascii=False) if details else None
                    cond = " AND ".join(f"{k.strip()} = ?" for k in ["conversation_id", *keys.split(",")])
                    con.execute(f"UPDATE {table} SET details = ? WHERE {cond}", [scrubbed, *key])
            con.execute(f"UPDATE findings SET quote = '' WHERE {where}")
            refresh_current(con, ids)  # the current results carry quotes and details too
            refresh_search(con, ids)  # their transcripts are gone from the search too
            con.execute("DROP TABLE _purge")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return PurgeResult(len(ids), cutoff)

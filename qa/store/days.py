"""``qa_day``: the calendar day of a conversation in the configured time zone, a macro defined on every connection
(never stored, so a changed time zone needs no re-scoring)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import duckdb


@functools.lru_cache(maxsize=16)
def _fixed_offset_since(zone: str) -> tuple[datetime, int] | None:
    """``(moment, offset in seconds)`` when ``zone`` keeps one UTC offset from that moment through 2100 (Moscow:
    +3 since October 2014), found by weekly samples and a bisection; ``None`` for zones that keep changing (DST)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)

    def offset(at: datetime) -> int:
        return int(at.astimezone(tz).utcoffset().total_seconds())  # type: ignore[union-attr]

    first, last = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    final = offset(last)
    at, changed = last, None
    while at > first:  # the latest week whose start has another offset
        at -= timedelta(days=7)
        if offset(at) != final:
            changed = at
            break
    if changed is None:
        return first, final
    if changed.year >= 2090:
        return None  # still changing: daylight saving time
    low, high = changed, changed + timedelta(days=7)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        low, high = (middle, high) if offset(middle) != final else (low, middle)
    return high.replace(microsecond=0), final


def define_day(con: duckdb.DuckDBPyConnection, timezone: str | None = None) -> None:
    """(Re)define ``qa_day`` for this connection in ``timezone`` (default: the configured one), so ``day`` in every
    daily view and ``qa stats --by day`` falls on the same calendar day as ``--since``/``--until`` and the display.

    Days are computed when read, never stored, so a changed setting needs no re-scoring. Where the zone has kept
    one offset (most zones without daylight saving), the day is plain arithmetic on the epoch; before that, and in
    zones with daylight saving, the ICU conversion.
    """
    from qa.config import check_timezone, configured_timezone

    zone = timezone or configured_timezone()
    check_timezone(zone)  # an IANA name: safe to quote into the macro's text
    exact = f"CAST(timezone('{zone}', coalesce(started_at, scored_at)) AS DATE)"
    fixed = _fixed_offset_since(zone)
    if fixed is None:
        body = exact
    else:
        since, seconds = fixed
        body = (f"CASE WHEN coalesce(started_at, scored_at) >= TIMESTAMPTZ '{since.isoformat()}' THEN DATE "
                f"'1970-01-01' + CAST((epoch_us(coalesce(started_at, scored_at)) + {seconds * 1_000_000}) "
                f"// 86400000000 AS INTEGER) ELSE {exact} END")
    con.execute(f"CREATE OR REPLACE TEMP MACRO qa_day(started_at, scored_at) AS {body}")

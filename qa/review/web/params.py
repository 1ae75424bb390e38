"""The review page's query parameters: list filters, sort, page and page size, the search form, read and checked.

A value the page cannot use raises :class:`BadRequest`, which the application answers 400 with the message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from qa.store import queries
from qa.store.queries import Filters
from qa.store.search import SPEAKERS as SEARCH_SPEAKERS
from qa.store.search import SearchFilters

PAGE_SIZES = (10, 25, 50, 100)
CHANNELS = ("call", "chat")


class BadRequest(ValueError):
    """A query parameter the page cannot use (answered 400 with the message)."""


@dataclass(frozen=True)
class ListQuery:
    """The list page's request: filters, sort, page."""

    filters: Filters
    sort: str = "priority"
    descending: bool = False
    page: int = 1
    size: int = 25


def _text(params: Mapping[str, str], key: str) -> str | None:
    value = (params.get(key) or "").strip()
    return value or None


def _day(params: Mapping[str, str], key: str, timezone: str | None) -> datetime | None:
    """A ``since``/``until`` bound read as the CLI reads it (:func:`qa.store.queries.day_bound`): an ISO date or
    date-time in the configured time zone; ``until`` is inclusive."""
    value = _text(params, key)
    if value is None:
        return None
    try:
        return queries.day_bound(value, end=key == "until", timezone=timezone)
    except ValueError:
        raise BadRequest(f"{key}: дата в виде ГГГГ-ММ-ДД, а не {value!r}") from None


def _number(params: Mapping[str, str], key: str, low: float, high: float) -> float | None:
    value = _text(params, key)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"{key}: нужно число, а не {value!r}") from None
    if not (low <= number <= high) or math.isnan(number):
        raise BadRequest(f"{key}: от {low:g} до {high:g}, а не {value!r}")
    return number


def _int(params: Mapping[str, str], key: str, default: int) -> int:
    value = _text(params, key)
    if value is None:
        return default
    if not value.isdigit():
        raise BadRequest(f"{key}: нужно целое положительное число, а не {value!r}")
    return int(value)


def parse_filters(params: Mapping[str, str], flagged_only: bool = True, timezone: str | None = None) -> Filters:
    """Filters from query parameters (empty ones ignored; ``until`` is inclusive; days in ``timezone``, by default
    the configured one, as in the CLI)."""
    since, until = _day(params, "since", timezone), _day(params, "until", timezone)
    channel = _text(params, "channel")
    if channel not in (None, *CHANNELS):
        raise BadRequest(f"channel: call (звонок) или chat (чат), а не {channel!r}")
    show_all = _text(params, "all")
    if show_all not in (None, "0", "1"):
        raise BadRequest(f"all: 0 или 1, а не {show_all!r}")
    return Filters(
        since=since, until=until,
        team=_text(params, "team"), operator=_text(params, "operator"), rule=_text(params, "rule"),
        category=_text(params, "category"), channel=channel,
        min_score=_number(params, "min_score", 0, 100), max_score=_number(params, "max_score", 0, 100),
        flagged=None if show_all == "1" or not flagged_only else True,
    )


def parse_list_query(params: Mapping[str, str], timezone: str | None = None) -> ListQuery:
    """The list page's filters, sort column and direction, page and page size."""
    sort = _text(params, "sort") or "priority"
    if sort not in queries.SORT_COLUMNS:
        raise BadRequest(f"sort: одно из {', '.join(queries.SORT_COLUMNS)}, а не {sort!r}")
    order = _text(params, "order") or "asc"
    if order not in ("asc", "desc"):
        raise BadRequest(f"order: asc или desc, а не {order!r}")
    page, size = _paging(params)
    return ListQuery(parse_filters(params, timezone=timezone), sort, order == "desc", page, size)


@dataclass(frozen=True)
class SearchForm:
    """The search page's request: the query as typed (``None``: nothing searched yet), fuzzy mode, filters, page."""

    text: str | None
    fuzzy: bool
    filters: SearchFilters
    page: int = 1
    size: int = 25


RULE_HIT = {"yes": True, "no": False}


def parse_search(params: Mapping[str, str], timezone: str | None = None) -> SearchForm:
    """The search page's query, filters and page (checked like the list's; the query itself is checked by the
    parser, which says what is wrong with it)."""
    base = parse_filters(params, flagged_only=False, timezone=timezone)
    speaker = _text(params, "speaker")
    if speaker not in (None, *SEARCH_SPEAKERS):
        raise BadRequest(f"speaker: operator (оператор) или client (клиент), а не {speaker!r}")
    hit = _text(params, "rule_hit")
    if hit not in (None, *RULE_HIT):
        raise BadRequest(f"rule_hit: yes или no, а не {hit!r}")
    rule = _text(params, "rule")
    fuzzy = _text(params, "fuzzy")
    if fuzzy not in (None, "1"):
        raise BadRequest(f"fuzzy: 1 или пусто, а не {fuzzy!r}")
    page, size = _paging(params)
    text = params.get("q")
    filters = SearchFilters(since=base.since, until=base.until, team=base.team, operator=base.operator,
                            channel=base.channel, speaker=speaker, rule=rule or ("any" if hit else None),
                            rule_hit=RULE_HIT[hit] if hit else (True if rule else None))  # a rule picked: its hits
    return SearchForm(text, fuzzy == "1", filters, page, size)


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    """``(page, size)`` of a paged list: a page from 1, a size from :data:`PAGE_SIZES` (400 otherwise)."""
    size = _int(params, "size", 25)
    if size not in PAGE_SIZES:
        raise BadRequest(f"size: одно из {', '.join(map(str, PAGE_SIZES))}, а не {size}")
    page = _int(params, "page", 1)
    if page < 1:
        raise BadRequest("page: 1 или больше")
    return page, size

"""Personal data hidden on the review page and in its JSON: every text of a conversation shown with placeholders
instead (``redactor`` is a :class:`qa.text.redaction.Redactor`).

Masked: the turns, the findings' quotes and every text in their details, script quotes and evidence («name heard:
«Дмитрием»» → «name heard: «[ИМЯ]»»), flag reasons, verdict comments, the recording's file name and the metadata a
sidecar or call log carried (``caller_number``, ``client_name``…: :meth:`~qa.text.redaction.Redactor.redact_fields`).
Word timings and the ASR settings are dropped: the words hold the text itself.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from qa.review import labels

_QUOTED = re.compile(r"«([^«»]*)»")
# metadata that is the record's own bookkeeping, not what a caller said or a PBX logged about them: which source
# gave each field (field name → source name), the other recordings of the same PBX call (conversation ids), which
# channel is whose; kept as is so the page can say where a field came from and link the recordings
BOOKKEEPING = ("field_sources", "linked", "channels")


def _masked(redactor: Any, text: str | None) -> str | None:
    return redactor.redact(text).text if text else text


@cache
def _personal_evidence() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Evidence patterns whose named groups are personal data by construction («name heard: «…»», «introduced as
    «…», not «…»»), with their kind (``personal_evidence`` in ``web_labels.json``)."""
    return tuple((re.compile(pattern), kind) for pattern, kind in labels.table()["personal_evidence"].items())


def mask_evidence(redactor: Any, text: str | None) -> str | None:
    """A stored reason or piece of evidence with the personal data in it replaced: the names a step heard always,
    whatever the redactor finds in the rest («…» quotes included)."""
    if not text:
        return text
    for pattern, kind in _personal_evidence():
        def replace(found: re.Match[str], kind: str = kind) -> str:
            whole, start = found.group(), found.start()
            for name in sorted(found.groupdict(), key=found.start, reverse=True):
                a, b = found.start(name) - start, found.end(name) - start
                whole = whole[:a] + redactor.placeholder(kind) + whole[b:]
            return whole
        text = pattern.sub(replace, text)
    # placeholders stay as they are when redacted again
    return _masked(redactor, _QUOTED.sub(lambda m: f"«{_masked(redactor, m.group(1))}»", text))


def mask_any(redactor: Any, value: Any) -> Any:
    """Every text inside ``value`` (a finding's details: nested dicts and lists) redacted; numbers kept."""
    if isinstance(value, str):
        return _masked(redactor, value)
    if isinstance(value, dict):
        return {k: mask_any(redactor, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_any(redactor, v) for v in value]
    return value


def mask_row(row: dict[str, Any], redactor: Any) -> dict[str, Any]:
    """A row of the conversation list with its quote and recording file name masked."""
    return {**row, "top_quote": _masked(redactor, row.get("top_quote")),
            "source_path": _masked(redactor, row.get("source_path"))}


def mask_conversation(c: dict[str, Any], redactor: Any) -> dict[str, Any]:
    """The conversation with personal data replaced by placeholders in every text shown (word timings and ASR
    settings dropped: the words hold the text itself)."""
    c = dict(c)
    c["utterances"] = [{**u, "text": _masked(redactor, u.get("text")), "words": None,
                        "speaker_confidence": speaker_confidence(u.get("words") or [])} for u in c["utterances"]]
    c["findings"] = [{**f, "quote": _masked(redactor, f.get("quote")),
                      "details": mask_any(redactor, f.get("details") or {}),
                      "review_comment": _masked(redactor, f.get("review_comment"))}
                     for f in c["findings"]]
    c["script"] = [{**s, "quote": _masked(redactor, s.get("quote")), "reason": mask_evidence(redactor, s.get("reason"))}
                   for s in c.get("script", [])]
    c["reasons"] = [mask_evidence(redactor, r) for r in c.get("reasons", [])]
    if c.get("review"):
        c["review"] = {**c["review"], "comment": _masked(redactor, c["review"].get("comment"))}
    meta = dict(c.get("metadata") or {})
    meta.pop("legs", None)  # file paths: a recording's name holds the caller's number
    kept = {key: meta.pop(key) for key in BOOKKEEPING if key in meta}
    if isinstance(meta.get("transfers"), list):  # the number transferred to may be outside: masked, times kept
        kept["transfers"] = [{**t, "extension": _masked(redactor, str(t["extension"]))}
                             if isinstance(t, dict) and t.get("extension") is not None else t
                             for t in meta.pop("transfers")]
    c["metadata"] = {**redactor.redact_fields(meta), **kept}
    c["source_path"] = _masked(redactor, c.get("source_path"))
    stats = (c.pop("transcription", None) or {}).get("stats") or {}
    # how speakers were told and what was decoded again hold no personal data: the page shows them masked too
    c["transcription"] = {"stats": {k: stats[k] for k in ("mono_attribution", "decoded_again") if k in stats}}
    return c


def mask_history(history: list[dict[str, Any]], redactor: Any) -> list[dict[str, Any]]:
    """A conversation's verdict history with the comments masked."""
    return [{**h, "comment": _masked(redactor, h.get("comment"))} for h in history]


def speaker_confidence(words: list[list]) -> float | None:
    """The mean speaker confidence of a turn's words (a fifth value per stored word on mono calls), else None."""
    values = [w[4] for w in words if len(w) > 4 and w[4] is not None]
    return round(sum(values) / len(values), 2) if values else None

"""Personal data hidden on the review page: every text of a conversation shown with placeholders instead
(``redactor`` is a :class:`qa.text.redaction.Redactor` or anything with the same ``redact``)."""

from __future__ import annotations

from typing import Any

# metadata a PBX source stores that may hold a caller's number or name (the page shows it, masked unless allowed)
PARTY_FIELDS = ("src", "dst", "did", "recordingfile", "clid", "cnum", "cnam")


def _masked(redactor: Any, text: str | None) -> str | None:
    return redactor.redact(text).text if text else text


def mask_conversation(c: dict[str, Any], redactor: Any) -> dict[str, Any]:
    """The conversation with personal data replaced by placeholders in every text shown (word timings dropped:
    they hold the words themselves)."""
    c = dict(c)
    c["utterances"] = [{**u, "text": _masked(redactor, u.get("text")), "words": None,
                        "speaker_confidence": speaker_confidence(u.get("words") or [])} for u in c["utterances"]]
    c["findings"] = [{**f, "quote": _masked(redactor, f.get("quote")),
                      "details": {**(f.get("details") or {}),
                                  "matched": _masked(redactor, (f.get("details") or {}).get("matched"))}}
                     for f in c["findings"]]
    c["script"] = [{**s, "quote": _masked(redactor, s.get("quote"))} for s in c.get("script", [])]
    c["reasons"] = [_masked(redactor, r) for r in c.get("reasons", [])]
    meta = dict(c.get("metadata") or {})
    for key in PARTY_FIELDS:
        if isinstance(meta.get(key), str):
            meta[key] = _masked(redactor, meta[key])
    meta.pop("legs", None)  # file paths: a recording's name holds the caller's number
    c["metadata"] = meta
    stats = (c.pop("transcription", None) or {}).get("stats") or {}
    # how speakers were told and what was decoded again hold no personal data: the page shows them masked too
    c["transcription"] = {"stats": {k: stats[k] for k in ("mono_attribution", "decoded_again") if k in stats}}
    return c


def speaker_confidence(words: list[list]) -> float | None:
    """The mean speaker confidence of a turn's words (a fifth value per stored word on mono calls), else None."""
    values = [w[4] for w in words if len(w) > 4 and w[4] is not None]
    return round(sum(values) / len(values), 2) if values else None

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
    c["utterances"] = [{**u, "text": _masked(redactor, u.get("text")), "words": None} for u in c["utterances"]]
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
    c.pop("transcription", None)
    return c

"""Where each finding sits in the transcript: turns cut into plain and highlighted pieces.

Calls carry word timings, so a finding highlights the words inside its time span. Chats and imported
transcripts have no words: there the matched phrase is looked up in the turn's text (case and ё ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from qa.review.web.masking import speaker_confidence

_EPS = 0.01
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(frozen=True)
class Piece:
    """A run of a turn's text and the keys of the findings that highlight it (none: plain text)."""

    text: str
    finding_keys: tuple[str, ...] = ()
    start_s: float | None = None


@dataclass(frozen=True)
class Turn:
    """One turn of the dialogue, cut into pieces, with the findings attached to it."""

    idx: int
    speaker: str
    start_s: float
    end_s: float
    pieces: list[Piece]
    findings: list[dict[str, Any]] = field(default_factory=list)
    speaker_confidence: float | None = None  # mono calls: the speaker was inferred from the voice, this sure
    decoded_again: tuple[str, ...] = ()  # why this stretch was decoded again, when its words come from that decode


def _fold(text: str) -> str:
    """Lower case with ё as е, keeping every character's position."""
    return "".join(c if len(low := c.lower()) != 1 else low for c in text).replace("ё", "е")


def find_span(text: str, matched: str) -> tuple[int, int] | None:
    """Where ``matched`` occurs in ``text`` (case, ё and punctuation between words ignored), or ``None``."""
    words = re.findall(r"\w+", _fold(matched))
    if not words:
        return None
    found = re.search(r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)", _fold(text))
    return (found.start(), found.end()) if found else None


def _merge(pieces: list[Piece]) -> list[Piece]:
    """Joins neighbouring pieces highlighted by the same findings (or both plain)."""
    out: list[Piece] = []
    for p in pieces:
        if out and out[-1].finding_keys == p.finding_keys:
            out[-1] = Piece(out[-1].text + p.text, p.finding_keys, out[-1].start_s)
        else:
            out.append(p)
    return out


def _word_pieces(words: list[list], findings: list[dict[str, Any]]) -> list[Piece] | None:
    """Pieces from word timings; ``None`` when a finding with a matched phrase covers no word."""
    keyed = [f for f in findings if f.get("details", {}).get("matched") and f.get("start_s") is not None]
    word_keys = [tuple(f["finding_key"] for f in keyed if start < f["end_s"] - _EPS and end > f["start_s"] + _EPS)
                 for _text, start, end, *_rest in words]
    if {k for keys in word_keys for k in keys} != {f["finding_key"] for f in keyed}:
        return None
    pieces: list[Piece] = []
    for i, (text, start, *_rest) in enumerate(words):
        if i:
            between = tuple(k for k in word_keys[i - 1] if k in word_keys[i])
            pieces.append(Piece(" ", between))
        pieces.append(Piece(text, word_keys[i], start))
    return _merge(pieces)


def _text_pieces(text: str, findings: list[dict[str, Any]]) -> list[Piece]:
    """Pieces from the matched phrases looked up in the text."""
    spans = []
    for f in findings:
        span = find_span(text, f.get("details", {}).get("matched") or "")
        if span:
            spans.append((*span, f["finding_key"]))
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    pieces = [Piece(text[a:b], tuple(k for s, e, k in spans if s <= a and b <= e))
              for a, b in pairwise(cuts)]
    return _merge(pieces)


def _redecoded(stats: dict[str, Any], speaker: str, start: float, end: float) -> tuple[str, ...]:
    """Why a turn's stretch was decoded again and taken from the second decode (empty when it was not)."""
    for entry in stats.get("decoded_again") or ():
        if entry.get("speaker") not in (None, speaker, "mono"):
            continue
        for part in entry.get("stretches") or ():
            if part.get("kept") == "plain" and part["start"] < end and start < part["end"]:
                return tuple(dict.fromkeys(entry.get("why") or ()))
    return ()


@dataclass(frozen=True)
class Redecoded:
    """A channel some of whose words come from the decode without the prompt: why it was decoded again
    (``loop``, ``prompt_echo``, ``low_coverage``, ``unsure_words``) and how many stretches were taken from it."""

    speaker: str
    why: tuple[str, ...]
    taken: int


def redecoded_channels(stats: dict[str, Any]) -> list[Redecoded]:
    """The channels whose words were partly taken from the second decode (one decoded again whose first decode was
    kept whole is left out: nothing on the page comes from it)."""
    by_speaker: dict[str, tuple[dict[str, None], int]] = {}
    for entry in stats.get("decoded_again") or ():
        taken = sum(1 for part in entry.get("stretches") or () if part.get("kept") == "plain")
        if not taken:
            continue
        who = str(entry.get("speaker") or "mono")
        why, count = by_speaker.get(who, ({}, 0))
        by_speaker[who] = ({**why, **dict.fromkeys(entry.get("why") or ())}, count + taken)
    return [Redecoded(who, tuple(why), count) for who, (why, count) in by_speaker.items()]


def dialogue(utterances: list[dict[str, Any]], findings: list[dict[str, Any]],
             stats: dict[str, Any] | None = None) -> list[Turn]:
    """The turns of a conversation with their findings highlighted in place (most severe finding first); ``stats``
    (the transcription's) says where a speaker was inferred and where words were decoded again."""
    findings = sorted(findings, key=lambda f: _SEVERITY_RANK.get(f.get("severity"), 9))
    by_turn: dict[int, list[dict[str, Any]]] = {}
    for f in findings:
        if f.get("utterance_idx") is not None:
            by_turn.setdefault(int(f["utterance_idx"]), []).append(f)
    turns = []
    for u in utterances:
        attached = by_turn.get(u["idx"], [])
        pieces = _word_pieces(u["words"], attached) if u.get("words") else None
        if pieces is None:
            pieces = _text_pieces(u["text"], attached)
        attached = sorted(attached, key=lambda f: (f.get("start_s") or 0, _SEVERITY_RANK.get(f.get("severity"), 9)))
        words = u.get("words") or []
        sure = speaker_confidence(words) if words else u.get("speaker_confidence")
        turns.append(Turn(u["idx"], u["speaker"], u["start_s"], u["end_s"], pieces, attached, sure,
                          _redecoded(stats or {}, u["speaker"], u["start_s"], u["end_s"])))
    return turns

"""Coaching exports: findings picked by filters, each with context turns, a score, a verdict and, for calls,
an audio clip of the finding with its context; personal data redacted in the text and beeped in the audio.

Every file is written inside the output folder: file names are built from sanitised ids and checked to resolve
there, so no id or source file name can point elsewhere.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from qa.errors import QAInputError
from qa.records import Word
from qa.review import labels
from qa.speech.audio import DecodedAudio, cut_clip, decode_audio, decode_span, encode_audio
from qa.speech.legs import decode_legs
from qa.store import Store, queries
from qa.text.redaction import turn_mute_ranges

ExportFormat = Literal["jsonl", "csv", "html"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "html")
NOT_FALSE_POSITIVE = "not_false_positive"  # the default verdict filter of a findings export
ALL_VERDICTS = "all"  # --verdict all: false positives too
INTRODUCTION = "introduction"  # the script step category whose good examples keep the operator's own name
CLIP_MIME = {"ogg": "audio/ogg", "mp3": "audio/mpeg"}
MAX_CLIP_S = 60.0
WHOLE_AUDIO_S = 600.0  # a longer call is decoded clip by clip (a three-hour call whole would take gigabytes)
# Why a call example has no clip (``Example.clip_problem``); the first two mean a requested clip could not be cut.
CLIP_FAILURES = ("missing", "undecodable")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RedactorLike(Protocol):
    """What the export needs of :class:`qa.text.redaction.Redactor`."""

    def redact(self, text: str) -> Any: ...


@dataclass(frozen=True)
class ExportOptions:
    """How to export. Redaction is on unless ``redact`` is False; clips are cut for calls unless ``clips`` is
    False; ``context_s`` seconds of turns around each finding are included (and in its clip)."""

    out_dir: Path
    fmt: ExportFormat = "jsonl"
    context_s: float = 10.0
    clips: bool = True
    clip_format: Literal["ogg", "mp3"] = "ogg"
    redact: bool = True
    audio_root: Path = field(default_factory=Path.cwd)
    limit: int = 20
    good: bool = False  # script steps done well instead of findings
    rules_dir: Path | None = None  # where the HTML page takes rule titles from (default: the packaged rules)
    timezone: str | None = None  # the HTML page's times (default: the configured one)


@dataclass
class Example:
    """One coaching example: a finding with what a trainer needs around it."""

    rank: int
    conversation_id: str
    channel: str
    team: str | None
    operator_id: str | None
    started_at: str | None
    rule_id: str
    category: str
    severity: str
    speaker: str
    start_s: float
    end_s: float
    quote: str
    message: str | None
    score: float
    verdict: str | None
    review_comment: str | None
    finding_key: str
    context: list[dict[str, Any]]
    clip: str | None = None  # path relative to the output folder
    clip_error: str | None = None  # why there is no clip, in words
    clip_problem: str | None = None  # missing | undecodable (the clip could not be cut) | purged | transcript | outside
    redacted: dict[str, int] = field(default_factory=dict)  # kind -> count of replaced spans


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    out_file: Path
    examples: list[Example]
    clips: list[Path]
    redacted: dict[str, int]
    redaction: bool

    @property
    def missing_clips(self) -> list[Example]:
        """Call examples whose clip was asked for but could not be cut (audio file missing or unreadable)."""
        return [e for e in self.examples if e.clip_problem in CLIP_FAILURES]


def safe_name(*parts: str) -> str:
    """A file name from ids and labels: only ``[A-Za-z0-9._-]``, no leading dots, at most 150 characters."""
    name = "--".join(_UNSAFE.sub("_", p).strip("._") or "_" for p in parts)
    return name[:150]


def confined(out_dir: Path, relative: str) -> Path:
    """``out_dir / relative``, refusing anything that would resolve outside ``out_dir``."""
    root = out_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ValueError(f"{relative}: export path escapes the output folder {out_dir}")
    return path


def _context(utterances: list[dict[str, Any]], finding: dict[str, Any], context_s: float) -> list[dict[str, Any]]:
    """Turns overlapping the finding ± ``context_s``, and always the finding's own turn and its neighbours."""
    lo, hi = finding["start_s"] - context_s, finding["end_s"] + context_s
    own = finding.get("utterance_idx")
    picked = []
    for u in utterances:
        near = own is not None and abs(u["idx"] - own) <= 1
        if near or (u["end_s"] >= lo and u["start_s"] <= hi):
            picked.append(u)
    return picked


def turn_words(u: dict[str, Any]) -> list[Word]:
    """A stored turn's word timings as :class:`~qa.records.Word` records."""
    return [Word(w[0], w[1], w[2], w[3] if len(w) > 3 else 1.0) for w in u.get("words") or []]


class _Scrubber:
    """Redacts the texts of one example, counting what it replaced and collecting the times to beep."""

    def __init__(self, redactor: RedactorLike | None, keep_own_name: bool = False) -> None:
        self.redactor = redactor
        self.keep_own_name = keep_own_name  # a good introduction: the operator saying their own name is the point
        self.counts: Counter[str] = Counter()
        self.mute: list[tuple[float, float]] = []

    def __call__(self, text: str | None, words: Sequence[Word] = (), start: float = 0.0,
                 end: float = 0.0, own: bool = False) -> str | None:
        if text is None or self.redactor is None:
            return text
        redaction = self.redactor.redact(text)
        if own and self.keep_own_name and redaction.spans and {s.kind for s in redaction.spans} == {"name"}:
            return text
        if redaction.spans:
            self.counts.update(span.kind for span in redaction.spans)
            self.mute.extend(turn_mute_ranges(text, words, start, end, redaction.spans))
        return redaction.text


def _audio_path(source_path: str, audio_root: Path) -> Path:
    from qa.speech.audio_paths import resolve_audio

    return resolve_audio(source_path, audio_root)


def export_examples(
    store: Store,
    filters: queries.Filters,
    options: ExportOptions,
    redactor: RedactorLike | None,
    on_example: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Export the filtered findings (most severe first within each rule) as coaching examples, or with
    ``options.good`` the script steps done well (best-scored conversations first).

    ``redactor`` is required when ``options.redact`` is on. Calls whose audio cannot be read still export their
    text, with ``clip_error`` saying why.
    """
    if options.fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {options.fmt!r}")
    if options.redact and redactor is None:
        raise ValueError("redaction is on but no redactor was given")
    out_dir = Path(options.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not options.good and filters.verdict is None:  # findings marked false positive teach nothing
        filters = replace(filters, verdict=NOT_FALSE_POSITIVE)
    elif filters.verdict == ALL_VERDICTS:
        filters = replace(filters, verdict=None)
    if options.good:
        found = queries.good_examples(store, filters, limit=options.limit)
    else:  # the operator's behaviour first, the rules in turn (not 20 client complaints because of rule names)
        found = queries.findings(store, filters, limit=options.limit, coaching=True)
    details: dict[str, dict[str, Any]] = {}
    audio: dict[str, DecodedAudio | Path | tuple[str, str]] = {}
    examples: list[Example] = []
    clips: list[Path] = []
    totals: Counter[str] = Counter()
    for rank, finding in enumerate(found, 1):
        cid = finding["conversation_id"]
        if cid not in details:
            details[cid] = queries.conversation(store, cid) or {}
        conv = details[cid]
        turns = _context(conv.get("utterances", []), finding, options.context_s)
        scrub = _Scrubber(redactor if options.redact else None,
                          keep_own_name=options.good and finding["category"] == INTRODUCTION)
        context = [
            {"speaker": u["speaker"], "start_s": u["start_s"], "end_s": u["end_s"],
             "text": scrub(u["text"], turn_words(u), u["start_s"], u["end_s"],
                           own=u["idx"] == finding.get("utterance_idx") and u["speaker"] == "operator"),
             "is_finding": u["idx"] == finding.get("utterance_idx")}
            for u in turns
        ]
        own = next((c["text"] for c in context if c["is_finding"]), None)
        in_turn = own is not None and finding["quote"] in {u["text"] for u in turns}
        quote = own if in_turn else scrub(finding["quote"])
        example = Example(
            rank=rank, conversation_id=cid, channel=finding["channel"], team=finding["team"],
            operator_id=finding["operator_id"],
            started_at=finding["started_at"].isoformat() if finding["started_at"] else None,
            rule_id=finding["rule_id"], category=finding["category"], severity=finding["severity"],
            speaker=finding["speaker"], start_s=finding["start_s"], end_s=finding["end_s"], quote=quote or "",
            message=finding["message"], score=finding["total"], verdict=finding["verdict"],
            review_comment=scrub(finding["review_comment"]), finding_key=finding["finding_key"], context=context,
            redacted=dict(scrub.counts),
        )
        totals.update(scrub.counts)
        if options.clips and finding["channel"] == "call":
            _add_clip(example, conv, audio, scrub.mute, options, out_dir, clips)
        examples.append(example)
        if on_example:
            on_example(rank, len(found))
    out_file = confined(out_dir, f"examples.{options.fmt}")
    writer = {"jsonl": _write_jsonl, "csv": _write_csv, "html": _write_html}[options.fmt]
    writer(out_file, examples, options, out_dir, filters)
    return ExportResult(out_file, examples, clips, dict(totals), options.redact)


def _open_audio(source_path: str | None, audio_root: Path, duration_s: float | None = None,
                legs: list[str] | None = None) -> DecodedAudio | Path | tuple[str, str]:
    """The call's decoded audio (its path, for a long call: decoded clip by clip; a call recorded as split legs: a
    channel per leg, decoded whole), or (problem kind, message)
    saying why there is none."""
    from qa.speech.audio_paths import audio_problem

    if source_path and Path(source_path).suffix.lower() == ".json":  # a transcript from another ASR
        return "transcript", "no audio (scored from a transcript)"
    legs = legs if source_path and legs else None  # a purged call has no path and no legs
    for leg in legs or [source_path]:
        problem = audio_problem(leg, audio_root)
        if problem is not None:
            return problem.kind, str(problem)
    path = _audio_path(source_path or "", audio_root)
    if duration_s and duration_s > WHOLE_AUDIO_S and not legs:
        return path
    try:
        if legs:
            return decode_legs([_audio_path(leg, audio_root) for leg in legs])
        return decode_audio(path)
    except QAInputError as exc:
        return "undecodable", str(exc)


def _add_clip(example: Example, conv: dict[str, Any], audio: dict[str, DecodedAudio | Path | tuple[str, str]],
              mute: list[tuple[float, float]], options: ExportOptions, out_dir: Path, clips: list[Path]) -> None:
    cid = example.conversation_id
    if cid not in audio:
        audio[cid] = _open_audio(conv.get("source_path"), Path(options.audio_root), conv.get("duration_s"),
                                 (conv.get("metadata") or {}).get("legs"))
    decoded = audio[cid]
    if isinstance(decoded, tuple):
        example.clip_problem, example.clip_error = decoded
        return
    start = max(0.0, example.start_s - options.context_s)
    # A finding over the whole call (e.g. the silence share) gets its first minute, not the whole call.
    end = min(example.end_s + options.context_s, start + MAX_CLIP_S)
    if isinstance(decoded, Path):  # a long call: only this clip's span is decoded
        try:
            decoded = decode_span(decoded, start, end)
        except QAInputError as exc:
            example.clip_problem, example.clip_error = "undecodable", str(exc)
            return
    end = min(end, decoded.start_s + decoded.duration_s)
    if end <= start:
        example.clip_problem, example.clip_error = "outside", "the finding lies outside the audio"
        return
    channels = cut_clip(decoded, start, end, mute if options.redact else [])
    name = safe_name(example.rule_id, f"{example.rank:03d}", cid, f"{example.start_s:07.1f}s") + \
        f".{options.clip_format}"
    path = confined(out_dir, f"clips/{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_audio(channels, decoded.sample_rate, options.clip_format))
    example.clip = path.relative_to(out_dir.resolve()).as_posix()
    clips.append(path)


def _manifest(examples: list[Example], options: ExportOptions, filters: queries.Filters) -> dict[str, Any]:
    return {
        "created_at": datetime.now(UTC).isoformat(),
        "redaction": options.redact,
        "filters": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(filters).items()
                    if v is not None},
        "context_s": options.context_s,
        "examples": len(examples),
    }


def _write_jsonl(out_file: Path, examples: list[Example], options: ExportOptions, out_dir: Path,
                 filters: queries.Filters) -> None:
    with out_file.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps({**asdict(example), "redaction": options.redact}, ensure_ascii=False) + "\n")
    confined(out_dir, "manifest.json").write_text(
        json.dumps(_manifest(examples, options, filters), ensure_ascii=False, indent=2), encoding="utf-8")


def _local_time(iso: str | None, timezone: str | None = None) -> str:
    """An ISO timestamp as wall time in the configured zone, e.g. «27.11.2026 14:05 MSK»."""
    from qa.config import configured_timezone

    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(configured_timezone(timezone))).strftime(
        "%d.%m.%Y %H:%M %Z")


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"


def _context_text(example: Example) -> str:
    return "\n".join(f"{'>> ' if c['is_finding'] else ''}{c['speaker']} [{_clock(c['start_s'])}]: {c['text']}"
                     for c in example.context)


CSV_COLUMNS = ["rank", "rule_id", "category", "severity", "conversation_id", "channel", "team", "operator_id",
               "started_at", "speaker", "start_s", "end_s", "quote", "context", "score", "verdict",
               "review_comment", "clip", "clip_error", "clip_problem", "redacted", "finding_key"]


def _write_csv(out_file: Path, examples: list[Example], options: ExportOptions, out_dir: Path,
               filters: queries.Filters) -> None:
    with out_file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for e in examples:
            row = asdict(e) | {"context": _context_text(e), "redacted": json.dumps(e.redacted, ensure_ascii=False)}
            writer.writerow([row[c] if row[c] is not None else "" for c in CSV_COLUMNS])
    confined(out_dir, "manifest.json").write_text(
        json.dumps(_manifest(examples, options, filters), ensure_ascii=False, indent=2), encoding="utf-8")


def _template() -> Template:
    return Template((resources.files("qa.review") / "data" / "export_page.html").read_text(encoding="utf-8"))


def _filters_text(filters: queries.Filters, titles: labels.Titles, timezone: str | None) -> str:
    """The export's filters in Russian, e.g. «команда: team-south · правило: Оператор говорит «не знаю»»."""
    words = labels.table()
    parts = []
    for key, value in asdict(filters).items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = _local_time(value.isoformat(), timezone)
        elif key == "rule":
            value = titles.rule(value)
        elif key == "category":
            value = labels.category(value)
        elif key == "channel":
            value = labels.channel(value)
        elif key == "verdict":
            value = words["filter_values"].get(value) or labels.verdict(value)
        elif isinstance(value, bool):
            continue
        parts.append(f"{words['filters'].get(key, key)}: {value}")
    return " · ".join(parts) or words["export_page"]["no_filters"]


def _write_html(out_file: Path, examples: list[Example], options: ExportOptions, out_dir: Path,
                filters: queries.Filters) -> None:
    """One self-contained page in Russian: styles inline and clips embedded as data URIs, so it opens offline
    anywhere; rule titles, severities, speakers, verdicts and notes from ``qa/review/data/web_labels.json``."""
    from qa.config import default_rules_dir

    esc = html.escape
    words = labels.table()
    page_words = words["export_page"]
    titles = labels.load_titles(options.rules_dir or default_rules_dir())
    cards = io.StringIO()
    rule = None
    first_of = {}
    for e in examples:
        first_of.setdefault(e.rule_id, len(first_of))
    for e in sorted(examples, key=lambda e: first_of[e.rule_id]):  # each rule's examples under one heading
        if e.rule_id != rule:
            rule = e.rule_id
            cards.write(f'<h2 id="{esc(safe_name(rule))}">{esc(titles.rule(rule))}</h2>\n')
        turns = "".join(
            f'<div class="turn {esc(c["speaker"])}{" hit" if c["is_finding"] else ""}">'
            f'<span class="who">{esc(labels.speaker(c["speaker"]))} {esc(_clock(c["start_s"]))}</span> '
            f'{esc(c["text"] or "")}</div>'
            for c in e.context
        )
        if e.clip:
            data = base64.b64encode(confined(out_dir, e.clip).read_bytes()).decode("ascii")
            mime = CLIP_MIME[options.clip_format]
            player = f'<audio controls preload="none" src="data:{mime};base64,{data}"></audio>'
        elif e.clip_problem:
            detail = (e.clip_error or "").partition(": audio file not found")[0]  # the path, for a missing file
            note = words["clip_problems"][e.clip_problem].format(detail=detail)
            player = f'<p class="note">{esc(note)}</p>'
        else:
            player = ""
        verdict = f'<span class="verdict {esc(e.verdict)}">{esc(labels.verdict(e.verdict))}</span>' if e.verdict \
            else ""
        comment = f'<p class="comment">{esc(e.review_comment)}</p>' if e.review_comment else ""
        head = [labels.channel(e.channel), e.team or "", e.operator_id or "",
                _local_time(e.started_at, options.timezone), f"{labels.speaker(e.speaker)} {_clock(e.start_s)}",
                f"{page_words['score']} {e.score:g}"]
        cards.write(
            f'<section class="example sev-{esc(e.severity)}"><header><b>#{e.rank}</b> '
            f'<span class="sev">{esc(labels.severity(e.severity))}</span> {esc(e.conversation_id)} · '
            f'{" · ".join(esc(h) for h in head if h)} {verdict}</header>'
            f'<blockquote>{esc(labels.quote(e.quote, titles))}</blockquote>'
            f'<p class="message">{esc(e.message or "")}</p>{comment}'
            f'{player}<div class="context">{turns}</div></section>\n'
        )
    manifest = _manifest(examples, options, filters)
    banner = "" if options.redact else f'<p class="warning">{esc(page_words["redaction_off"])}</p>'
    title = page_words["good_title" if options.good else "title"].format(count=len(examples))
    page = _template().substitute(
        title=esc(title),
        meta=esc(page_words["meta"].format(created=_local_time(manifest["created_at"], options.timezone),
                                           filters=_filters_text(filters, titles, options.timezone),
                                           count=len(examples))),
        banner=banner,
        body=cards.getvalue(),
    )
    out_file.write_text(page, encoding="utf-8")

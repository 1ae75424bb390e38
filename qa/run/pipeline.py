"""The stages of the nightly job as plain functions over plain records (the flow only wires them).

Each stage takes and returns records (``InboxItem``, ``Conversation``, ``ScoredConversation``, ``Failure``),
never models or connections: heavy objects (the Whisper model, the lemmatiser, the compiled rule set) are
built once per worker process by the ``get_*`` functions and reused.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qa.errors import ModelError, QAInputError
from qa.inbox.inputs import (
    InboxItem,
    call_info,
    read_chat,
    read_transcript,
    unknown_input_error,
)
from qa.records import Conversation, Failure, ScoredConversation
from qa.rules.scoring import Scorer, build_scorer

# Conversations per chunk (one Prefect task each). A call costs seconds to minutes of transcription, hundreds of
# times a task's bookkeeping on any runner (15 ms on the embedded threads, ~70 ms on a Dask worker), so calls go one
# to a chunk: every worker keeps taking the next call until none is left, and no worker waits at the end on a chunk
# of several long calls. Scoring a chat or transcript costs milliseconds (~12 ms), so they go in bulk: 100 on the
# embedded threads (200 chats: 17 conversations/s in chunks of 4, 86/s in chunks of 50), 250 on Dask, whose
# bookkeeping would otherwise pass 5% of the chunk.
DEFAULT_CHUNK_SIZE = 4  # calls per task: never one task per conversation; a chunk's calls go side by side
DEFAULT_TEXT_CHUNK_SIZE = 100
DASK_TEXT_CHUNK_SIZE = 250
_lock = threading.Lock()
_scorers: dict[tuple[str, str], Scorer] = {}
_progress: list[Callable[[int, int], None]] = []


@dataclass(frozen=True)
class PipelineSettings:
    """Everything a worker needs to process conversations, as plain data (stored with each run)."""

    rules_dir: str
    transcription: dict[str, Any] = field(default_factory=dict)  # TranscriptionOptions overrides
    channels: dict[str, str] | None = None  # batch default channel → speaker mapping
    cache_dir: str | None = None  # transcript cache (by audio content hash)
    # calls one process transcribes at once (model replicas); None: one per thread of the Dask worker, else one
    transcriptions: int | None = None


def get_scorer(rules_dir: str | Path) -> Scorer:
    """The compiled rule set of a folder, built once per process (and again when the files change)."""
    from qa.rules.ruleset import ruleset_version

    key = (str(Path(rules_dir).resolve()), ruleset_version(Path(rules_dir)))
    with _lock:
        if key not in _scorers:
            _scorers[key] = build_scorer(rules_dir)
        return _scorers[key]


def built_scorers() -> int:
    """How many rule sets this process has compiled (each folder version once: a worker reuses its scorer)."""
    with _lock:
        return len(_scorers)


def with_concurrency(settings: PipelineSettings, transcriptions: int | None = None
                     ) -> tuple[PipelineSettings, dict[str, Any]]:
    """The settings for chunks run in this process (the embedded runner): as many calls transcribed at once as pay
    off on this machine, or ``transcriptions`` (see :mod:`qa.speech.transcribe.concurrency`), each with its share of
    the cores; and the choice as recorded in ``runs.settings``."""
    from qa.speech.transcribe.concurrency import choose

    chosen = choose(transcription_options(settings).resolved_device(), transcriptions)
    settings = replace(settings, transcriptions=chosen.transcriptions,
                       transcription={**settings.transcription, "cpu_threads": chosen.threads})
    return settings, chosen.as_dict()


def transcription_options(settings: PipelineSettings) -> Any:
    """The transcription options record of these settings (environment first, then explicit overrides)."""
    from qa.speech.transcribe import TranscriptionOptions

    overrides = {k: v for k, v in settings.transcription.items() if v is not None}
    return TranscriptionOptions.from_env(**overrides)


def primed_options(options: Any, ruleset_template: str | None) -> Any:
    """``options`` with the rule set's ``prompt_template`` (ruleset.yml) where ``QA_PROMPT_TEMPLATE`` set none: the
    wording around the terms is the rule set's data, like the terms."""
    from qa.speech.transcribe import DEFAULT_PROMPT_TEMPLATE

    if ruleset_template and options.prompt_template == DEFAULT_PROMPT_TEMPLATE:
        return replace(options, prompt_template=ruleset_template)
    return options


def source_items(sources: Sequence[dict[str, Any]] = ()
                 ) -> tuple[list[InboxItem], list[dict[str, Any]], tuple[Path, ...]]:
    """The calls of the PBX ``sources`` (qa.toml's ``[[sources]]`` as :meth:`SourceSettings.as_dict` gave them),
    each source's report (counts, problems with examples, ``summary`` for a log line), and the sources' folders
    and files (left out of an inbox that holds them)."""
    from qa.config import SourceSettings
    from qa.inbox.sources import scan_source, source_paths

    settings = [SourceSettings.from_dict(s) for s in sources]
    items: list[InboxItem] = []
    reports: list[dict[str, Any]] = []
    for source in settings:
        scan = scan_source(source)
        items += scan.items()  # before the report is taken: hashing reports files gone meanwhile
        reports.append({**scan.report.as_dict(), "summary": scan.report.summary_line()})
    return items, reports, tuple(p for s in settings for p in source_paths(s))


def gather_items(inbox: str | None, sources: Sequence[dict[str, Any]] = ()
                 ) -> tuple[list[InboxItem], list[dict[str, Any]]]:
    """Every input of a run: the ``inbox`` folder (the sources' folders and files inside it left out), then the
    PBX ``sources`` joined into calls (:func:`source_items`); with each source's report. The nightly run reads the
    inbox with :func:`qa.run.bookkeeping.discover` instead, which also names what it skips."""
    from qa.inbox.inputs import discover_inbox

    items, reports, exclude = source_items(sources)
    if inbox:
        items = discover_inbox(inbox, exclude) + items
    return items, reports


def plan_items(items: Sequence[InboxItem], stored: set[str]) -> tuple[list[InboxItem], list[InboxItem]]:
    """Split discovered items into new ones and ones already stored with the same content hash."""
    seen: set[str] = set()
    new, skipped = [], []
    for item in items:
        if item.content_sha256 in stored or item.content_sha256 in seen:
            skipped.append(item)
        else:
            seen.add(item.content_sha256)
            new.append(item)
    return new, skipped


def chunk_sizes(chunk_size: int | None, text_chunk_size: int | None, distributed: bool = False) -> tuple[int, int]:
    """Calls and text inputs (chats, transcripts) per chunk: an explicit ``chunk_size`` counts for both kinds
    unless ``text_chunk_size`` is given too; neither given, 4 calls, or 100 text inputs (250 on a ``distributed``
    runner, whose per-task bookkeeping costs more)."""
    calls = chunk_size or DEFAULT_CHUNK_SIZE
    texts = text_chunk_size or chunk_size or (DASK_TEXT_CHUNK_SIZE if distributed else DEFAULT_TEXT_CHUNK_SIZE)
    if calls < 1 or texts < 1:
        raise ValueError(f"chunk sizes must be at least 1 (got {calls} calls, {texts} chats/transcripts)")
    return calls, texts


def calls_per_chunk(calls_per: int, calls: int, threads: int | None) -> int:
    """Calls per chunk on a cluster of ``threads`` worker threads (a Dask worker transcribes one chunk per thread):
    ``calls_per``, or fewer where a small night would otherwise leave a thread without a chunk (8 calls on 4
    workers: 2 per chunk, not 2 chunks of 4); at least 1."""
    if not threads or calls < 1:
        return calls_per
    return max(1, min(calls_per, -(-calls // threads)))


def plan_chunks(items: Sequence[InboxItem], chunk_size: int | None = None,
                text_chunk_size: int | None = None) -> list[list[InboxItem]]:
    """Chunks of calls and chunks of text inputs (one Prefect task each, not one per conversation), each kind by
    its own size (:func:`chunk_sizes`), in the order the inbox listed them: a chunk goes out as soon as it is
    full, the part-filled ones last."""
    calls_per, texts_per = chunk_sizes(chunk_size, text_chunk_size)
    out: list[list[InboxItem]] = []
    open_chunks: dict[bool, list[InboxItem]] = {True: [], False: []}
    for item in items:
        is_call = item.kind == "call"
        chunk = open_chunks[is_call]
        chunk.append(item)
        if len(chunk) >= (calls_per if is_call else texts_per):
            out.append(chunk)
            open_chunks[is_call] = []
    out += [chunk for chunk in open_chunks.values() if chunk]
    return out


def longest_first(chunks: Sequence[list[InboxItem]]) -> list[list[InboxItem]]:
    """The chunks in the order to hand them out: calls before chats and transcripts, the biggest audio first (file
    size for length), so the last chunks to finish are the short ones and no worker is left idle behind a long call."""

    def audio_bytes(chunk: list[InboxItem]) -> int:
        size = 0
        for item in chunk:
            if item.kind == "call":
                try:
                    size += Path(item.path).stat().st_size
                except OSError:
                    pass  # a vanished file fails in its task, with its name
        return size

    return sorted(chunks, key=lambda chunk: (not any(i.kind == "call" for i in chunk), -audio_bytes(chunk)))


def load_model(settings: PipelineSettings) -> None:
    """Load the Whisper model that calls run with these settings will use (once per process; a warm start)."""
    from qa.speech.transcribe import load_model as load

    load(transcription_options(settings), _replicas(settings))


def _replicas(settings: PipelineSettings) -> int:
    if settings.transcriptions:
        return settings.transcriptions
    from qa.run.cluster import worker_threads

    return worker_threads() or 1


_gates: dict[int, threading.BoundedSemaphore] = {}


def _transcription_gate(replicas: int) -> threading.BoundedSemaphore:
    """At most ``replicas`` calls of this process between decoding and their last word at once: a thread waiting
    for a model replica holds no decoded audio, so memory stays within the budget per transcription."""
    with _lock:
        return _gates.setdefault(replicas, threading.BoundedSemaphore(replicas))


def _call_conversation(item: InboxItem, settings: PipelineSettings) -> Conversation:
    from qa.rules.brands import priming_terms
    from qa.speech.audio import RawFormat
    from qa.speech.transcribe import get_transcriber

    info = call_info(item)
    raw = None
    if info.raw_format:
        try:
            raw = RawFormat(**info.raw_format)
        except (TypeError, ValueError) as exc:
            raise QAInputError(item.sidecar or item.path, f"bad raw_format: {exc}") from exc
    # no mapping anywhere: the transcriber reads a one-channel file as mono, two channels as DEFAULT_CHANNELS
    channels = info.channels or settings.channels or None
    scorer = get_scorer(settings.rules_dir)
    # primed with this conversation's brand only (its team / line / sidecar company), not every brand
    vocabulary = priming_terms(scorer.rules.brands, scorer.rules.ruleset.settings.vocabulary, info.team,
                               info.metadata)
    replicas = _replicas(settings)
    options = primed_options(transcription_options(settings), scorer.rules.ruleset.settings.prompt_template)
    transcriber = get_transcriber(options, vocabulary, replicas)
    cache = Path(settings.cache_dir) if settings.cache_dir else None
    with _transcription_gate(replicas):
        transcript = transcriber.transcribe(Path(item.path), channels=channels, raw=raw, cache_dir=cache,
                                            hints=speaker_hints(scorer, info), legs=[Path(p) for p in item.legs])
    metadata = dict(info.metadata)
    warnings = [*info.warnings, *(f"audio: {note}" for note in transcript.stats.get("decode_notes", ()))]
    if info.sources:
        metadata["field_sources"] = dict(info.sources)  # where each field came from (the conversation page)
    if info.channels and "channels" in info.sources:
        metadata["channels"] = dict(info.channels)
    return Conversation(
        conversation_id=info.conversation_id,
        channel="call",
        source_path=item.path,
        content_sha256=item.content_sha256,
        utterances=transcript.utterances,
        operator_id=info.operator_id,
        team=info.team,
        started_at=info.started_at,
        duration_s=transcript.duration_s,
        speaker_mode=transcript.speaker_mode,
        metadata=metadata,
        transcription={"audio_sha256": transcript.audio_sha256, "options": transcript.options,
                       "stats": transcript.stats},
        warnings=warnings,
    )


def speaker_hints(scorer: Scorer, info: Any) -> dict[str, Any]:
    """What helps tell the operator's voice on a mono call: the sidecar's ``operator_name`` and ``direction``, and
    the names of the brand this call speaks for."""
    expected = scorer.rules.brands.expected_for(info.team, info.metadata) if scorer.rules.brands else None
    hints: dict[str, Any] = {"brands": list(expected.names) if expected is not None else []}
    for key in ("operator_name", "direction"):
        value = info.metadata.get(key)
        if isinstance(value, str) and value.strip():
            hints[key] = value.strip()
    return hints
def check_model(settings: PipelineSettings) -> None:
    """Raise :class:`ModelError` at once when the Whisper model setting points at nothing usable (instead of every
    call failing inside the flow). The embedded model is not touched (it is prepared when first needed)."""
    from qa.speech.transcribe import check_device
    from qa.speech.whisper_model import EMBEDDED_ALIASES, resolve_model

    options = transcription_options(settings)
    check_device(options.device)
    if (options.model or "").strip().lower() not in EMBEDDED_ALIASES:
        resolve_model(options.model)


def load_conversation(item: InboxItem, settings: PipelineSettings) -> Conversation:
    """Read (and for calls, transcribe) one inbox item. Raises ``QAInputError`` for bad input."""
    if item.kind == "chat":
        return read_chat(item)
    if item.kind == "transcript":
        return read_transcript(item)
    if item.kind == "call":
        return _call_conversation(item, settings)
    raise unknown_input_error(item)


def _failure(item_path: str, exc: Exception, sha: str | None, stage: str | None = None) -> Failure:
    if isinstance(exc, QAInputError):
        return Failure(item_path, stage or exc.stage, str(exc), sha)
    return Failure(item_path, stage or "internal", f"{item_path}: {type(exc).__name__}: {exc}", sha)


def prepare_chunk(items: Sequence[InboxItem], settings: PipelineSettings) -> list[Conversation | Failure]:
    """Load/transcribe a chunk, each item on its own: bad input (or a bug one input trips) becomes that item's
    ``Failure`` record and the rest of the chunk goes on. Only a broken model (:class:`ModelError`, every call
    would fail the same way) fails the chunk. A chunk's calls are transcribed side by side, as many at once as this
    process transcribes (:func:`_transcription_gate`), so the last chunk of a night keeps every core busy too."""
    calls = sum(1 for item in items if item.kind == "call")
    side_by_side = min(calls, _replicas(settings))
    if side_by_side <= 1:
        return [_prepared(item, settings) for item in items]
    with ThreadPoolExecutor(side_by_side, thread_name_prefix="qa-call") as pool:
        return list(pool.map(lambda item: _prepared(item, settings), items))


def _prepared(item: InboxItem, settings: PipelineSettings) -> Conversation | Failure:
    """One item of :func:`prepare_chunk`."""
    try:
        conv = load_conversation(item, settings)
        if not conv.utterances or not any(u.text.strip() for u in conv.utterances):
            raise QAInputError(item.path, "no speech found (silence or noise only)")
        return conv
    except QAInputError as exc:
        return _failure(item.path, exc, item.content_sha256)
    except ModelError:
        raise
    except RecursionError as exc:  # e.g. a structure nested past what a reader can walk
        return _failure(item.path, QAInputError(item.path, f"nested too deeply to read ({exc})"),
                        item.content_sha256, stage="parse")
    except Exception as exc:  # one input must never sink its chunk («internal»: tried again by the next run)
        return _failure(item.path, exc, item.content_sha256)


def score_chunk(prepared: Sequence[Conversation | Failure], settings: PipelineSettings
                ) -> list[ScoredConversation | Failure]:
    """Lemmatise and score the conversations of a chunk; failures pass through."""
    scorer = get_scorer(settings.rules_dir)
    out: list[ScoredConversation | Failure] = []
    for entry in prepared:
        if isinstance(entry, Failure):
            out.append(entry)
            continue
        try:
            out.append(scorer.score(entry))
        except Exception as exc:  # a scoring bug must not sink the batch
            out.append(_failure(entry.source_path, exc, entry.content_sha256, stage="score"))
    return out


def process_chunk(items: Sequence[InboxItem], settings: PipelineSettings) -> list[ScoredConversation | Failure]:
    """A chunk from files to scores: :func:`prepare_chunk`, then :func:`score_chunk` (one task, one hand-off)."""
    return score_chunk(prepare_chunk(items, settings), settings)


def rescore(conversations: Sequence[Conversation], rules_dir: str | Path) -> list[ScoredConversation]:
    """Score stored conversations with a (changed) rule set; no transcription."""
    scorer = get_scorer(rules_dir)
    return [scorer.score(c) for c in conversations]


def top_rules(scored: Sequence[ScoredConversation], n: int = 10) -> list[tuple[str, int]]:
    """The most frequent rule hits of a batch."""
    counts = Counter(f.rule_id for s in scored for f in s.findings)
    return counts.most_common(n)


def on_progress(callback: Callable[[int, int], None]) -> Callable[[], None]:
    """Register a progress callback ``(done, total)``; returns a function that unregisters it."""
    _progress.append(callback)
    return lambda: _progress.remove(callback)


def report_progress(done: int, total: int) -> None:
    """Tell registered listeners (the CLI's progress bar) how far the batch is."""
    for callback in list(_progress):
        callback(done, total)


def chunk_failures(items: Sequence[InboxItem], exc: BaseException) -> list[Failure]:
    """Failure records for every item of a chunk whose task failed even after its retries."""
    return [
        Failure(item.path, "transcribe", f"{item.path}: {type(exc).__name__}: {exc}", item.content_sha256)
        for item in items
    ]


def worth_retrying(_task: Any, _task_run: Any, state: Any) -> bool:
    """Whether a failed transcription chunk is retried (Prefect's ``retry_condition_fn``): not when the model is
    broken (:class:`ModelError`), which fails every try the same way."""
    return "ModelError" not in (getattr(state, "message", "") or "")


def run_summary(run_id: str, ruleset_version: str, model: str | None, discovered: int, skipped: int,
                scored: Sequence[ScoredConversation], failures: Sequence[Failure],
                sources: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Counts, flagged conversations and top rules of a run (for the artifact, the runs table and the CLI); the
    warnings of the conversations stored (``path: warning``) and each PBX source's report."""
    flagged = [s for s in scored if s.score.flagged]
    return {
        "run_id": run_id,
        "ruleset_version": ruleset_version,
        "model": model,
        "discovered": discovered,
        "skipped": skipped,
        "processed": len(scored),
        "failed": len(failures),
        "flagged": len(flagged),
        "top_rules": top_rules(scored),
        "flagged_ids": [(s.conversation.conversation_id, "; ".join(s.score.reasons)) for s in flagged],
        "failures": [f.error for f in failures],
        "warnings": [f"{s.conversation.source_path}: {w}" for s in scored for w in s.conversation.warnings],
        "sources": list(sources),  # each PBX source's report: what was read, skipped and doubtful
    }

"""Accuracy of the checks on the evaluation set (tests/fixtures/eval): per check, per half, from transcripts.

Run ``python benchmarks/bench_accuracy.py`` (``make bench-accuracy``). Prints, for the ``tune`` and the untouched
``holdout`` half: the share of all checks right, and per check the accuracy, precision and recall, and the
escalation false-positive rate on neutral conversations (gold: no escalation), from transcripts and from the
voiced calls at 16 kHz and 8 kHz (each call primed with its own brand, as the pipeline does; ``--global-priming``:
the default brand for all), then introductions with pymorphy3 alone vs with natasha PER (``--no-natasha`` skips).
``--rules`` and ``--eval`` pick another rule set or set; ``--errors`` lists every wrong verdict (tune half only
unless ``--show-holdout``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from qa.records import Conversation  # noqa: E402
from qa.rules.scoring import Scorer, build_scorer  # noqa: E402
from qa_eval.evalset import HALVES, EvalItem, load_eval_set, verdicts  # noqa: E402

AUDIO_CACHE = REPO_ROOT / "data" / "cache" / "eval_transcripts"  # git-ignored: reruns skip Whisper
AUDIO_VARIANTS = {"16k": ".ogg", "8k": ".8k.ogg"}


def audio_conversation(item: EvalItem, path: Path, transcriber) -> Conversation:
    """The item's voiced call transcribed by the real transcriber (cached), with the item's metadata."""
    channels = {"mono": "unknown"} if item.mono else {"left": "operator", "right": "client"}
    transcript = transcriber.transcribe(path, channels=channels, cache_dir=AUDIO_CACHE)
    conv = item.conversation()
    return Conversation(
        conversation_id=item.id, channel="call", source_path=str(path), content_sha256=transcript.audio_sha256,
        utterances=transcript.utterances, team=item.team, duration_s=transcript.duration_s,
        speaker_mode=transcript.speaker_mode, metadata=conv.metadata,
    )


def item_transcriber(item: EvalItem, scorer: Scorer, global_priming: bool = False):
    """The transcriber the pipeline would use for this call: primed with its own brand (``global_priming``:
    with the rule set's default names, as before per-conversation priming)."""
    from qa.rules.brands import priming_terms
    from qa.speech.transcribe import TranscriptionOptions, get_transcriber

    if global_priming:
        vocabulary = scorer.rules.ruleset.asr_vocabulary()
    else:
        conv = item.conversation()
        vocabulary = priming_terms(scorer.rules.brands, scorer.rules.ruleset.settings.vocabulary, conv.team,
                                   conv.metadata)
    return get_transcriber(TranscriptionOptions(), vocabulary)


def audio_conversations(items: list[EvalItem], scorer: Scorer, audio_dir: Path, variant: str,
                        halves: tuple[str, ...], global_priming: bool = False) -> list[tuple[EvalItem, Conversation]]:
    """Calls from their voiced audio (chats from their text, as they have no audio)."""
    out = []
    for item in items:
        if item.half not in halves:
            continue
        path = audio_dir / f"{item.id}{AUDIO_VARIANTS[variant]}"
        if item.channel == "chat":
            out.append((item, item.conversation()))
        elif path.is_file():
            out.append((item, audio_conversation(item, path, item_transcriber(item, scorer, global_priming))))
        else:
            print(f"  (no audio for {item.id}: {path.name}; run tools/make_eval_audio.py)")
    return out


def evaluate_audio(items: list[EvalItem], scorer: Scorer, audio_dir: Path, variant: str,
                   halves: tuple[str, ...], global_priming: bool = False) -> list[tuple[EvalItem, frozenset[str]]]:
    """Each item with the checks found true, calls from their voiced audio (chats from their text)."""
    return [(item, verdicts(scorer.score(conv)))
            for item, conv in audio_conversations(items, scorer, audio_dir, variant, halves, global_priming)]


def print_names_comparison(label: str, pairs: list[tuple[EvalItem, Conversation]], plain: Scorer,
                           natasha: Scorer, halves: tuple[str, ...]) -> None:
    """Introduction accuracy with pymorphy3's Name tags alone and with natasha PER added, per half."""
    for half in halves:
        row = []
        for scorer in (plain, natasha):
            got = [("introduction" in verdicts(scorer.score(conv))) == ("introduction" in item.gold)
                   for item, conv in pairs if item.half == half]
            row.append(f"{sum(got)}/{len(got)} = {_ratio(sum(got), len(got))}")
        print(f"  {label:<12} {half:<8} pymorphy3 alone {row[0]:<16} + natasha PER {row[1]}")


def evaluate(items: list[EvalItem], scorer: Scorer) -> list[tuple[EvalItem, frozenset[str]]]:
    """Each item with the checks the scorer found true, from its transcript."""
    return [(item, verdicts(scorer.score(item.conversation()))) for item in items]


def summary(results: list[tuple[EvalItem, frozenset[str]]], half: str) -> dict[str, object]:
    """Share of checks right, per-check counts (tp, fp, fn, tn), escalation false positives on neutral items."""
    counts: dict[str, Counter[str]] = {}
    right = total = 0
    neutral = esc_fp = 0
    split_right = split_total = split_neutral = split_fp = added = 0
    for item, got in results:
        if item.half != half:
            continue
        added += item.added_later
        for check in item.checks():
            g, p = check in item.gold, check in got
            c = counts.setdefault(check, Counter())
            c["tp" if g and p else "fp" if p else "fn" if g else "tn"] += 1
            right += g == p
            total += 1
            if not item.added_later:
                split_right += g == p
                split_total += 1
        if "escalation" not in item.gold:
            neutral += 1
            esc_fp += "escalation" in got
            if not item.added_later:
                split_neutral += 1
                split_fp += "escalation" in got
    return {"right": right, "total": total, "counts": counts, "neutral": neutral, "esc_fp": esc_fp,
            "added": added, "split": (split_right, split_total, split_fp, split_neutral)}


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "  -  "


def print_summary(label: str, s: dict[str, object]) -> None:
    counts: dict[str, Counter[str]] = s["counts"]  # type: ignore[assignment]
    print(f"\n{label}: {s['right']}/{s['total']} checks right = {_ratio(s['right'], s['total'])}")  # type: ignore[arg-type]
    print(f"  {'check':<20} {'acc':>6} {'prec':>6} {'recall':>6}   tp  fp  fn  tn")
    for check, c in counts.items():
        n = sum(c.values())
        print(f"  {check:<20} {_ratio(c['tp'] + c['tn'], n):>6} {_ratio(c['tp'], c['tp'] + c['fp']):>6} "
              f"{_ratio(c['tp'], c['tp'] + c['fn']):>6}  {c['tp']:3} {c['fp']:3} {c['fn']:3} {c['tn']:3}")
    print(f"  escalation false positives on neutral: {s['esc_fp']}/{s['neutral']} = "
          f"{_ratio(s['esc_fp'], s['neutral'])}")  # type: ignore[arg-type]
    if s["added"]:
        r, t, fp, n = s["split"]  # type: ignore[misc]
        print(f"  without the {s['added']} items added after the split: {r}/{t} = {_ratio(r, t)}, "
              f"escalation false positives {fp}/{n} = {_ratio(fp, n)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=str(REPO_ROOT / "scripts_rules"))
    parser.add_argument("--eval", default=str(REPO_ROOT / "tests" / "fixtures" / "eval"))
    parser.add_argument("--errors", action="store_true", help="list wrong verdicts of the tune half")
    parser.add_argument("--show-holdout", action="store_true", help="with --errors, the holdout half too")
    parser.add_argument("--audio", choices=["none", "16k", "8k", "both"], default="both",
                        help="also score the voiced calls through Whisper (cached in data/cache/eval_transcripts)")
    parser.add_argument("--global-priming", action="store_true",
                        help="prime Whisper with the default brand for every call (the state before #10's priming)")
    parser.add_argument("--no-natasha", action="store_true", help="skip the natasha comparison of introductions")
    parser.add_argument("--halves", default=",".join(HALVES), help="halves to score from audio (tune,holdout)")
    args = parser.parse_args(argv)
    items = load_eval_set(args.eval)
    scorer = build_scorer(args.rules)
    results = evaluate(items, scorer)
    calls = sum(i.channel == "call" for i in items)
    print(f"evaluation set: {calls} calls, {len(items) - calls} chats; rules {args.rules}")
    for half in HALVES:
        print_summary(f"{half} half, transcripts", summary(results, half))
    variants = [] if args.audio == "none" else list(AUDIO_VARIANTS) if args.audio == "both" else [args.audio]
    halves = tuple(h for h in args.halves.split(",") if h)
    sources: dict[str, list[tuple[EvalItem, Conversation]]] = {
        "transcripts": [(item, item.conversation()) for item in items]}
    for variant in variants:
        pairs = audio_conversations(items, scorer, Path(args.eval) / "audio", variant, halves,
                                    args.global_priming)
        sources[f"audio {variant}"] = pairs
        audio_results = [(item, verdicts(scorer.score(conv))) for item, conv in pairs]
        for half in halves:
            print_summary(f"{half} half, audio {variant} (chats from text)", summary(audio_results, half))
    if not args.no_natasha:
        from qa.text.person_ner import PersonFinder

        natasha = build_scorer(args.rules, scorer.lemmatizer, PersonFinder())
        print("\nintroduction right: pymorphy3 Name tags alone vs with natasha PER on the cased text")
        for label, pairs in sources.items():
            print_names_comparison(label, pairs, scorer, natasha, HALVES if label == "transcripts" else halves)
    if args.errors:
        print("\nwrong verdicts (+ = found but not gold, - = gold but not found):")
        for item, got in results:
            if item.half == "holdout" and not args.show_holdout:
                continue
            wrong = [("+" if c in got else "-") + c for c in item.checks() if (c in got) != (c in item.gold)]
            if wrong:
                print(f"  {item.half:<7} {item.id}: {' '.join(wrong)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

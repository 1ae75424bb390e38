"""Accuracy of the checks on the evaluation set (tests/fixtures/eval): from transcripts, and from the voiced calls as
PBXs record them, per condition and half.

Run ``python benchmarks/bench_accuracy.py`` (``make bench-accuracy``). Prints, for the ``tune`` and the untouched
``holdout`` half: the share of all checks right from transcripts (per check: accuracy, precision, recall), then per
recording condition (``clean`` stereo 16 kHz master; ``alaw`` mono 8 kHz A-law WAV; ``mp3`` mono 32 kbit/s; ``gsm``
mono GSM 06.10; ``noisy`` stereo 8 kHz with line noise at 20 dB SNR; see :mod:`qa_eval.degrade`): checks right, WER of
our pipeline beside bare faster-whisper (same base model, VAD on, beam 5, no prompt, one channel at a time), the share
of words given the right speaker, prompt-term insertions, and escalation false positives on neutral calls. Each call
is primed and hinted as the pipeline does it. Transcripts are cached in data/cache/eval_transcripts (ours, by audio
hash and settings) and data/cache/eval_bare (bare), the degraded copies in data/cache/eval_audio.

``--code DIR`` scores with the ``qa`` package of another checkout (e.g. the code before a change) on the same audio.
``--errors`` lists wrong verdicts (tune half only unless ``--show-holdout``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _code_root(argv: list[str]) -> Path:
    """The checkout whose ``qa`` is scored (``--code DIR``; else this one), chosen before anything imports qa."""
    for i, arg in enumerate(argv):
        if arg == "--code" and i + 1 < len(argv):
            return Path(argv[i + 1]).resolve()
        if arg.startswith("--code="):
            return Path(arg.split("=", 1)[1]).resolve()
    return REPO_ROOT


CODE_ROOT = _code_root(sys.argv[1:])
for root in (REPO_ROOT, CODE_ROOT):  # qa from CODE_ROOT (first), qa_eval from this checkout
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))

from qa.records import Conversation  # noqa: E402
from qa.rules.scoring import Scorer, build_scorer  # noqa: E402
from qa_eval.audio_metrics import errors, prompt_insertions, speaker_right  # noqa: E402
from qa_eval.degrade import CONDITIONS, degraded_copy  # noqa: E402
from qa_eval.evalset import HALVES, EvalItem, load_eval_set, unverified_checks, verdicts  # noqa: E402

AUDIO_CACHE = REPO_ROOT / "data" / "cache" / "eval_transcripts"  # git-ignored: reruns skip Whisper
BARE_CACHE = REPO_ROOT / "data" / "cache" / "eval_bare"
DEGRADED_DIR = REPO_ROOT / "data" / "cache" / "eval_audio"
STEREO = {"left": "operator", "right": "client"}


def item_vocabulary(item: EvalItem, scorer: Scorer) -> list[str]:
    """The priming terms the pipeline gives this call (its own brand, then the rule set's vocabulary)."""
    from qa.rules.brands import priming_terms

    conv = item.conversation()
    return priming_terms(scorer.rules.brands, scorer.rules.ruleset.settings.vocabulary, conv.team, conv.metadata)


USE_VOCABULARY: str | None = None  # --use-vocabulary: prompt (the default), hotwords or none


def item_transcriber(item: EvalItem, scorer: Scorer):
    """The transcriber the pipeline would use for this call: primed with its own brand."""
    from qa.run.pipeline import primed_options
    from qa.speech.transcribe import TranscriptionOptions, get_transcriber

    options = TranscriptionOptions.from_env(use_vocabulary=USE_VOCABULARY)  # QA_BEAM_SIZE… as the pipeline reads them
    options = primed_options(options, scorer.rules.ruleset.settings.prompt_template)  # and ruleset.yml's template
    return get_transcriber(options, item_vocabulary(item, scorer))


def item_hints(item: EvalItem, scorer: Scorer) -> dict:
    """The speaker hints the pipeline gives this call (sidecar operator_name/direction, the brand's names)."""
    expected = scorer.rules.brands.expected_for(item.team, item.sidecar) if scorer.rules.brands else None
    hints: dict = {"brands": list(expected.names) if expected is not None else []}
    for key in ("operator_name", "direction"):
        if isinstance(item.sidecar.get(key), str):
            hints[key] = item.sidecar[key]
    return hints


def audio_conversation(item: EvalItem, path: Path, transcriber, channels: dict | None = None,
                       hints: dict | None = None) -> Conversation:
    """The item's voiced call transcribed by the real transcriber (cached), with the item's metadata."""
    kwargs = {"channels": channels, "cache_dir": AUDIO_CACHE}
    if hints is not None and "hints" in inspect.signature(transcriber.transcribe).parameters:
        kwargs["hints"] = hints
    transcript = transcriber.transcribe(path, **kwargs)
    conv = item.conversation()
    return Conversation(
        conversation_id=item.id, channel="call", source_path=str(path), content_sha256=transcript.audio_sha256,
        utterances=transcript.utterances, team=item.team, duration_s=transcript.duration_s,
        speaker_mode=transcript.speaker_mode, metadata=conv.metadata,
        transcription={"audio_sha256": transcript.audio_sha256, "options": transcript.options,
                       "stats": transcript.stats},
    )


def bare_texts(transcriber, path: Path, condition: str) -> list[str]:
    """Bare faster-whisper's text per channel (cached): the reference our WER must not be worse than."""
    from qa.speech.transcribe import transcribe_bare

    cached = BARE_CACHE / condition / f"{path.name}.json"
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    texts = transcribe_bare(transcriber, path)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    return texts


def evaluate(items: list[EvalItem], scorer: Scorer) -> list[tuple[EvalItem, frozenset[str]]]:
    """Each item with the checks the scorer found true, from its transcript."""
    return [(item, verdicts(scorer.score(item.conversation()))) for item in items]


def summary(results: list[tuple[EvalItem, frozenset[str]]], half: str) -> dict[str, object]:
    """Share of checks right, per-check counts (tp, fp, fn, tn), escalation false positives on neutral items."""
    counts: dict[str, Counter[str]] = {}
    right = total = neutral = esc_fp = 0
    for item, got in results:
        if item.half != half:
            continue
        for check in item.checks():
            g, p = check in item.gold, check in got
            c = counts.setdefault(check, Counter())
            c["tp" if g and p else "fp" if p else "fn" if g else "tn"] += 1
            right += g == p
            total += 1
        if "escalation" not in item.gold:
            neutral += 1
            esc_fp += "escalation" in got
    return {"right": right, "total": total, "counts": counts, "neutral": neutral, "esc_fp": esc_fp}


def _ratio(a: float, b: float) -> str:
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


def condition_rows(items: list[EvalItem], scorer: Scorer, condition: str, audio_dir: Path,
                   bare: bool) -> list[dict]:
    """One row per voiced call in one recording condition: verdicts, WER counts, speakers, prompt insertions."""
    cond = CONDITIONS[condition]
    rows = []
    for item in items:
        if item.channel != "call":
            continue
        master = audio_dir / f"{item.id}.ogg"
        truth_path = audio_dir / f"{item.id}.truth.json"
        if not master.is_file() or not truth_path.is_file():
            print(f"  (no audio for {item.id}; run tools/make_eval_audio.py)")
            continue
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        path = degraded_copy(master, condition, DEGRADED_DIR)
        transcriber = item_transcriber(item, scorer)
        conv = audio_conversation(item, path, transcriber, None if cond.mono else STEREO, item_hints(item, scorer))
        scored = scorer.score(conv)
        got = verdicts(scored)
        heard = " ".join(u.text for u in sorted(conv.utterances, key=lambda u: u.start))
        said = " ".join(t["text"] for t in truth["turns"])
        by_role = {r: " ".join(t["text"] for t in truth["turns"] if t["speaker"] == r) for r in ("operator", "client")}
        if cond.mono:
            ours = errors(said, heard)
        else:
            parts = [errors(by_role[r], " ".join(u.text for u in conv.utterances if u.speaker == r))
                     for r in ("operator", "client")]
            ours = (sum(p[0] for p in parts), sum(p[1] for p in parts))
        prompt = [text for text in transcriber.priming().values() if text] or list(transcriber.vocabulary)
        row = {"item": item, "got": got, "ours": ours, "unverified": len(unverified_checks(scored)),
               "speakers": speaker_right(truth, conv.utterances) if cond.mono else None,
               "insertions": prompt_insertions(prompt, said, heard),
               "decoded_again": len((conv.transcription.get("stats") or {}).get("decoded_again", []))}
        if bare:
            texts = bare_texts(transcriber, path, condition)
            if cond.mono:
                row["bare"] = errors(said, texts[0])
                row["bare_insertions"] = prompt_insertions(prompt, said, texts[0])
            else:
                parts = [errors(by_role[r], t) for r, t in zip(("operator", "client"), texts, strict=False)]
                row["bare"] = (sum(p[0] for p in parts), sum(p[1] for p in parts))
                row["bare_insertions"] = prompt_insertions(prompt, said, " ".join(texts))
        rows.append(row)
    return rows


def print_conditions(table: dict[str, list[dict]], halves: tuple[str, ...]) -> None:
    """The per-condition table: checks right (a step left unverified for want of a speaker counts as not passed;
    ``unv.`` says how many), WER ours vs bare, right speaker, prompt insertions, escalation FP, second decodes."""
    print("\nper recording condition (calls only):")
    print(f"  {'condition':<8} {'half':<8} {'checks right':>20} {'unv.':>4} {'WER ours':>9} {'WER bare':>9} "
          f"{'right speaker':>20} {'prompt ins.':>11} {'esc. FP':>9} {'redecoded':>9}")
    for condition, rows in table.items():
        for half in halves:
            mine = [r for r in rows if r["item"].half == half]
            if not mine:
                continue
            right = sum((c in r["item"].gold) == (c in r["got"]) for r in mine for c in r["item"].checks())
            total = sum(len(r["item"].checks()) for r in mine)
            edits, words = sum(r["ours"][0] for r in mine), sum(r["ours"][1] for r in mine)
            bare = [r["bare"] for r in mine if "bare" in r]
            bare_wer = _ratio(sum(b[0] for b in bare), sum(b[1] for b in bare)) if bare else "  -  "
            spk = [r["speakers"] for r in mine if r["speakers"] is not None]
            spk_text = (f"{sum(s[0] for s in spk)}/{sum(s[1] for s in spk)} = "
                        f"{_ratio(sum(s[0] for s in spk), sum(s[1] for s in spk))}") if spk else "(stereo)"
            neutral = [r for r in mine if "escalation" not in r["item"].gold]
            fp = sum("escalation" in r["got"] for r in neutral)
            ins = sum(r["insertions"] for r in mine)
            bare_ins = sum(r.get("bare_insertions", 0) for r in mine)
            again = sum(bool(r["decoded_again"]) for r in mine)
            unsure = sum(r["unverified"] for r in mine)
            print(f"  {condition:<8} {half:<8} {right:>4}/{total:<4} = {_ratio(right, total):>6} {unsure:>3} "
                  f"{_ratio(edits, words):>9} {bare_wer:>9} {spk_text:>20} {ins:>4} (bare {bare_ins:>2}) "
                  f"{fp:>2}/{len(neutral):<2}   {again:>3}/{len(mine)}")


def main(argv: list[str] | None = None) -> int:
    global AUDIO_CACHE, USE_VOCABULARY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=str(REPO_ROOT / "scripts_rules"))
    parser.add_argument("--eval", default=str(REPO_ROOT / "tests" / "fixtures" / "eval"))
    parser.add_argument("--code", help="score with the qa package of this checkout (the same audio)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help=f"recording conditions to voice ({','.join(CONDITIONS)}; 'none' for transcripts only)")
    parser.add_argument("--halves", default=",".join(HALVES), help="halves to score from audio (tune,holdout)")
    parser.add_argument("--no-bare", action="store_true", help="skip bare faster-whisper (its WER column)")
    parser.add_argument("--errors", action="store_true", help="list wrong verdicts of the tune half")
    parser.add_argument("--show-holdout", action="store_true", help="with --errors, the holdout half too")
    parser.add_argument("--json", type=Path, help="also write the per-condition rows here")
    parser.add_argument("--cache", type=Path, help=f"transcript cache folder (default {AUDIO_CACHE})")
    parser.add_argument("--use-vocabulary", choices=["prompt", "hotwords", "none"],
                        help="how the brand and vocabulary reach Whisper (default: the pipeline's, prompt)")
    args = parser.parse_args(argv)
    USE_VOCABULARY = args.use_vocabulary
    if args.cache:
        AUDIO_CACHE = args.cache
    items = load_eval_set(args.eval)
    scorer = build_scorer(args.rules)
    results = evaluate(items, scorer)
    calls = sum(i.channel == "call" for i in items)
    print(f"evaluation set: {calls} calls, {len(items) - calls} chats; rules {args.rules}; qa from {CODE_ROOT}")
    for half in HALVES:
        print_summary(f"{half} half, transcripts", summary(results, half))
    halves = tuple(h for h in args.halves.split(",") if h)
    conditions = [] if args.conditions == "none" else [c for c in args.conditions.split(",") if c]
    table: dict[str, list[dict]] = {}
    wanted = [i for i in items if i.half in halves]
    for condition in conditions:
        table[condition] = condition_rows(wanted, scorer, condition, Path(args.eval) / "audio", not args.no_bare)
    if table:
        print_conditions(table, halves)
    if args.errors:
        print("\nwrong verdicts (+ = found but not gold, - = gold but not found):")
        for condition, rows in table.items():
            for r in rows:
                item, got = r["item"], r["got"]
                if item.half == "holdout" and not args.show_holdout:
                    continue
                wrong = [("+" if c in got else "-") + c for c in item.checks() if (c in got) != (c in item.gold)]
                if wrong:
                    print(f"  {condition:<6} {item.half:<7} {item.id}: {' '.join(wrong)}")
    if args.json:
        args.json.write_text(json.dumps({c: [{**{k: v for k, v in r.items() if k not in ("item", "got")},
                                              "id": r["item"].id, "half": r["item"].half, "got": sorted(r["got"])}
                                             for r in rows] for c, rows in table.items()}, ensure_ascii=False,
                                        indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

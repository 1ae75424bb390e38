"""Accuracy of the checks on the evaluation set (tests/fixtures/eval): per check, per half, from transcripts.

Run ``python benchmarks/bench_accuracy.py`` (``make bench-accuracy``). Prints, for the ``tune`` and the untouched
``holdout`` half: the share of all checks right, and per check the accuracy, precision and recall, and the
escalation false-positive rate on neutral conversations (gold: no escalation). ``--rules`` and ``--eval`` pick
another rule set or set; ``--errors`` lists every wrong verdict (tune half only unless ``--show-holdout``).
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

from qa.evalset import HALVES, EvalItem, load_eval_set, verdicts  # noqa: E402
from qa.scoring import Scorer, build_scorer  # noqa: E402


def evaluate(items: list[EvalItem], scorer: Scorer) -> list[tuple[EvalItem, frozenset[str]]]:
    """Each item with the checks the scorer found true, from its transcript."""
    return [(item, verdicts(scorer.score(item.conversation()))) for item in items]


def summary(results: list[tuple[EvalItem, frozenset[str]]], half: str) -> dict[str, object]:
    """Share of checks right, per-check counts (tp, fp, fn, tn), escalation false positives on neutral items."""
    counts: dict[str, Counter[str]] = {}
    right = total = 0
    neutral = esc_fp = 0
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=str(REPO_ROOT / "scripts_rules"))
    parser.add_argument("--eval", default=str(REPO_ROOT / "tests" / "fixtures" / "eval"))
    parser.add_argument("--errors", action="store_true", help="list wrong verdicts of the tune half")
    parser.add_argument("--show-holdout", action="store_true", help="with --errors, the holdout half too")
    args = parser.parse_args(argv)
    items = load_eval_set(args.eval)
    results = evaluate(items, build_scorer(args.rules))
    calls = sum(i.channel == "call" for i in items)
    print(f"evaluation set: {calls} calls, {len(items) - calls} chats; from transcripts; rules {args.rules}")
    for half in HALVES:
        print_summary(f"{half} half, transcripts", summary(results, half))
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

"""Benchmarks of the text pipeline: lemmatisation speed and lemma accuracy on UD Russian treebanks.

Run ``python benchmarks/bench_text.py`` (``make bench-text``). It also times the whole text stage (normalise,
tokenise, lemmatise, score) of a 1,000-token conversation on one core, cold and warm, beside the baseline commit's
code run in a subprocess (see :mod:`text_stage`). The gold data is ``../shared/data/ud_russian/`` next to the
repository (or ``$QA_SHARED_DATA/ud_russian``); without it the lemma figures are skipped with a message.

How lemmas are counted: every syntactic word of the CoNLL-U file (multi-word ranges ``1-2`` and empty nodes
``1.1`` are skipped) except punctuation (UPOS ``PUNCT``). The lemmatiser gets the word form as the pipeline
would give it (lower case, е for ё, leading and trailing punctuation stripped) and its lemma is compared with
the gold lemma, both in that same form.
"""

from __future__ import annotations

import os
import string
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CODE_ROOT = Path(os.environ.get("QA_BENCH_CODE") or REPO_ROOT)  # where ``qa`` is imported from (baseline runs)
if str(CODE_ROOT) not in sys.path:
    sys.path.insert(0, str(CODE_ROOT))

from qa.text.lemmatizer import Lemmatizer  # noqa: E402

TREEBANKS = ("ru_gsd-ud-test.conllu", "ru_taiga-ud-test.conllu")
_EDGE_PUNCTUATION = string.punctuation + "«»„“”‘’—–…"


@dataclass(frozen=True, slots=True)
class TreebankWord:
    """One syntactic word of a CoNLL-U sentence."""

    form: str
    lemma: str
    upos: str


def shared_data_dir() -> Path:
    """``$QA_SHARED_DATA`` if set, else ``../shared/data`` relative to the repository root."""
    env = os.environ.get("QA_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def ud_russian_dir() -> Path:
    """The folder of the UD Russian test treebanks."""
    return shared_data_dir() / "ud_russian"


def read_conllu(path: Path) -> list[list[TreebankWord]]:
    """Sentences of a CoNLL-U file as lists of words (multi-word ranges and empty nodes left out)."""
    sentences: list[list[TreebankWord]] = []
    sentence: list[TreebankWord] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line:
                if sentence:
                    sentences.append(sentence)
                    sentence = []
                continue
            if line.startswith("#"):
                continue
            columns = line.split("\t")
            if "-" in columns[0] or "." in columns[0]:
                continue
            sentence.append(TreebankWord(form=columns[1], lemma=columns[2], upos=columns[3]))
    if sentence:
        sentences.append(sentence)
    return sentences


def comparable(text: str) -> str:
    """Lower case, е for ё, edge punctuation stripped (kept when it is all there is)."""
    plain = text.lower().replace("ё", "е")
    return plain.strip(_EDGE_PUNCTUATION) or plain


def scored_words(sentences: Sequence[Sequence[TreebankWord]]) -> list[TreebankWord]:
    """The words that count for lemma accuracy: all but punctuation."""
    return [word for sentence in sentences for word in sentence if word.upos != "PUNCT"]


def lemma_accuracy(lemmatizer: Lemmatizer, sentences: Sequence[Sequence[TreebankWord]]) -> dict[str, Any]:
    """Share of non-punctuation words whose lemma equals the gold lemma (see the module docstring)."""
    words = scored_words(sentences)
    predicted = lemmatizer.lemmas(comparable(word.form) for word in words)
    pairs = zip(predicted, words, strict=True)
    correct = sum(comparable(lemma) == comparable(word.lemma) for lemma, word in pairs)
    return {"words": len(words), "correct": correct, "accuracy": correct / len(words) if words else 0.0}


def _best_rate(lemmatizer: Lemmatizer, words: Sequence[str], cold: bool, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        if cold:
            lemmatizer.cache_clear()
        started = time.perf_counter()
        lemmatizer.lemmas(words)
        best = min(best, time.perf_counter() - started)
    return len(words) / best


def lemma_throughput(lemmatizer: Lemmatizer, words: Sequence[str], repeats: int = 3) -> dict[str, Any]:
    """Words per second through ``Lemmatizer.lemmas``: from an empty cache (cold) and a full one (warm)."""
    cold = _best_rate(lemmatizer, words, cold=True, repeats=repeats)
    warm = _best_rate(lemmatizer, words, cold=False, repeats=repeats)
    return {
        "tokens": len(words),
        "distinct": len(set(words)),
        "cold_tokens_per_s": cold,
        "warm_tokens_per_s": warm,
    }


def lemma_benchmarks(lemmatizer: Lemmatizer) -> dict[str, Any]:
    """Lemma accuracy per treebank (with and without the lemma override table) and lemmatisation speed.

    Returns ``{"skipped": reason}`` when the treebanks are not there.
    """
    folder = ud_russian_dir()
    paths = [folder / name for name in TREEBANKS]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        return {"skipped": f"UD Russian treebanks not found: {', '.join(missing)}"}
    treebanks = {path.name: read_conllu(path) for path in paths}
    plain = Lemmatizer(overrides={})
    accuracy = {
        name: {
            "lemmatizer": lemma_accuracy(lemmatizer, sentences),
            "no_overrides": lemma_accuracy(plain, sentences),
        }
        for name, sentences in treebanks.items()
    }
    words = [comparable(word.form) for sentences in treebanks.values() for word in scored_words(sentences)]
    return {"accuracy": accuracy, "throughput": lemma_throughput(lemmatizer, words)}


def _print_lemma_figures(figures: dict[str, Any]) -> None:
    if "skipped" in figures:
        print(f"lemma benchmarks skipped: {figures['skipped']}")
        return
    speed = figures["throughput"]
    print(f"lemmatisation: {speed['tokens']} UD word forms ({speed['distinct']} distinct)")
    print(f"  cold cache: {speed['cold_tokens_per_s']:,.0f} tokens/s")
    print(f"  warm cache: {speed['warm_tokens_per_s']:,.0f} tokens/s")
    print("lemma accuracy (non-PUNCT words; lower case, е for ё, edge punctuation stripped on both sides):")
    for name, result in figures["accuracy"].items():
        ours, plain = result["lemmatizer"], result["no_overrides"]
        print(
            f"  {name}: {ours['accuracy']:.2%} ({ours['correct']}/{ours['words']}); "
            f"without the override table {plain['accuracy']:.2%}"
        )


def main() -> None:
    """Print the benchmark figures."""
    import argparse

    import text_stage

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=text_stage.BASELINE_REF,
                        help="git commit to time beside this checkout ('none' to skip)")
    parser.add_argument("--stage-only", action="store_true", help="only the text-stage figures")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # a baseline subprocess's answer
    args = parser.parse_args()
    cpu = text_stage.pin_one_core()
    if args.json:
        print(text_stage.json_figures())
        return
    if not args.stage_only:
        started = time.perf_counter()
        lemmatizer = Lemmatizer()
        print(f"Lemmatizer built in {time.perf_counter() - started:.2f} s (pymorphy3 dictionaries loaded)")
        _print_lemma_figures(lemma_benchmarks(lemmatizer))
    text_stage.report(args.baseline, cpu)


if __name__ == "__main__":
    main()

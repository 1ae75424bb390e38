"""The whole text stage of one 1,000-token conversation, per stage, cold and warm, beside a baseline commit.

The conversation is the turns of the default rule set's tests (``scripts_rules/*.test.txt``) in a loop until
it holds 1,000 words, as a call transcript with turn times. Stages (all through public functions that the
baseline has as well, so both are timed the same way):

* tokenise: ``qa.text.tokenize.split_tokens`` over every turn;
* normalise: ``qa.text.normalize.split_normalized``, which tokenises as well (the fast path takes whole chunks from a
  table without calling the tokenizer, so the two are not subtracted);
* lemmatise: ``Lemmatizer.lemma`` of every normalised word;
* analyse: ``qa.text.analysis.analyse_conversation`` (all three, tokens built), on a fresh copy;
* score: ``Scorer.score`` with the default rule set on a fresh copy of the analysed conversation (metrics,
  checks, scorecard; the phrases of the rules that apply to a call);
* whole stage: analyse + score of a fresh copy.

*Cold* empties every per-process table of the text stage first (the lemma cache, the tokenizer's and
normaliser's tables, the matcher's word table); *warm* runs again with them full, as a nightly batch would.
Figures are the best of several runs of CPU time on one core (the process is pinned to one CPU); a shared
machine's noise only ever adds time, so the best run is the fairest. The baseline is the commit
``BASELINE_REF`` (the last one before the fast text stage), checked out with ``git archive`` into a temporary
folder and timed by this same file in a subprocess on the same core.
"""

from __future__ import annotations

import copy
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE_REF = "cfd590c7e09ecb710b9d73aadd6446be2ac1bbd0"  # main before the fast text stage (razdel, no tables)
WORDS = 1000
COLD_RUNS = 10
WARM_RUNS = 100
STAGES = ("tokenise", "normalise", "lemmatise", "analyse", "score", "whole")
LABELS = {"tokenise": "tokenise", "normalise": "tok+norm", "lemmatise": "lemmatise", "analyse": "analyse",
          "score": "score", "whole": "whole"}


def pin_one_core() -> int | None:
    """Pin this process (and its children) to one CPU; returns it (None where affinity is unsupported)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _turns() -> list[tuple[str, str]]:
    turns = []
    for path in sorted((REPO_ROOT / "scripts_rules").glob("*.test.txt")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            if ": " in raw and not raw.startswith("#") and raw.split()[1].rstrip(":") in ("operator", "client"):
                turns.append((raw.split()[1].rstrip(":"), raw.split(": ", 1)[1]))
    return turns


def conversation(words: int = WORDS) -> Any:
    """The benchmark call: rule-test turns in a loop up to ``words`` words, 0.4 s a word, 0.5 s pauses."""
    from qa.records import Conversation, Utterance

    turns = _turns()
    utterances, count, t = [], 0, 0.0
    while count < words:
        speaker, text = turns[len(utterances) % len(turns)]
        n = len(text.split())
        utterances.append(Utterance(speaker, t, t + 0.4 * n, text))
        count += n
        t += 0.4 * n + 0.5
    return Conversation("bench", "call", "bench", "", utterances, speaker_mode="transcript")


def _best(run: Callable[[], object], runs: int, before: Callable[[], object] | None = None) -> float:
    """Best CPU time of ``runs`` calls, in ms (``before`` runs untimed ahead of each)."""
    best = float("inf")
    for _ in range(runs):
        if before is not None:
            before()
        gc.collect(1)  # the copies made ahead are not collected inside the timed run
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best * 1000


def stage_figures() -> dict[str, Any]:
    """ms per conversation for each stage, cold and warm, with the code imported as ``qa`` (this or baseline)."""
    import qa.text.normalize as normalize
    import qa.text.tokenize as tokenize
    from qa.rules.scoring import build_scorer
    from qa.text.analysis import analyse_conversation
    from qa.text.lemmatizer import Lemmatizer

    lemmatizer = Lemmatizer()
    scorer = build_scorer(REPO_ROOT / "scripts_rules", lemmatizer)
    matcher = scorer.rules.matcher
    matchers = [matcher, *getattr(scorer.rules, "channel_matchers", {}).values()]  # one per channel, where built
    template = conversation()
    texts = [u.text for u in template.utterances]

    def empty_tables() -> None:
        lemmatizer.cache_clear()
        for module in (normalize, tokenize):
            for name in ("clear_caches", "clear_token_cache"):
                if hasattr(module, name):
                    getattr(module, name)()
        for each in matchers:
            for table in ("_cache", "_wanted"):
                getattr(each, table, {}).clear()

    def tokenise() -> None:
        for text in texts:
            tokenize.split_tokens(text)

    def normalise() -> None:
        for text in texts:
            normalize.split_normalized(text)

    norms = [norm for text in texts for _, norm in normalize.split_normalized(text)]

    def lemmatise() -> None:
        for norm in norms:
            lemmatizer.lemma(norm)

    fresh: list[Any] = []

    def new_copy() -> None:
        fresh[:] = [copy.deepcopy(template)]

    def analyse() -> None:
        analyse_conversation(fresh[0], lemmatizer)

    analysed = analyse_conversation(copy.deepcopy(template), lemmatizer)
    scored: list[Any] = []

    def score() -> None:
        scorer.score(scored[0])

    def whole() -> None:
        scorer.score(analyse_conversation(fresh[0], lemmatizer))

    def warm_copy() -> None:  # new token tuples each run: nothing is remembered per utterance across runs
        new_copy()
        scored[:] = [copy.deepcopy(analysed)]

    def cold_copy() -> None:
        empty_tables()
        warm_copy()

    runs = {"tokenise": tokenise, "normalise": normalise, "lemmatise": lemmatise, "analyse": analyse,
            "score": score, "whole": whole}
    figures: dict[str, dict[str, float]] = {"cold": {}, "warm": {}}
    for name, run in runs.items():
        figures["cold"][name] = _best(run, COLD_RUNS, cold_copy)
        warm_copy()
        whole()  # every table full again
        figures["warm"][name] = _best(run, WARM_RUNS, warm_copy)
    return {
        "words": sum(len(u.text.split()) for u in template.utterances),
        "tokens": sum(len(u.tokens) for u in analysed.utterances),
        "turns": len(template.utterances),
        "rules": len(scorer.rules.ruleset.active_rules()),
        "phrases": len(matcher.patterns),
        "ms": figures,
    }


def json_figures() -> str:
    """``stage_figures`` as one JSON line (what a baseline subprocess prints)."""
    return json.dumps(stage_figures())


def baseline_figures(ref: str) -> dict[str, Any] | str:
    """The stage figures of commit ``ref`` (its ``qa/`` in a temporary folder, timed in a subprocess), or why not."""
    with tempfile.TemporaryDirectory(prefix="qa-bench-baseline-") as folder:
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", ref, "qa"], capture_output=True)
        if archive.returncode != 0:
            return f"git archive {ref} failed: {archive.stderr.decode(errors='replace').strip()}"
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        env = {**os.environ, "QA_BENCH_CODE": folder}
        script = Path(__file__).with_name("bench_text.py")
        done = subprocess.run([sys.executable, str(script), "--json"], capture_output=True, text=True, env=env,
                              cwd=folder)
        if done.returncode != 0:
            return f"baseline run failed: {done.stderr.strip().splitlines()[-1:]}"
        return json.loads(done.stdout.strip().splitlines()[-1])


def _ratio(base: float | None, now: float) -> str:
    if base is None or now <= 0:
        return ""
    return f"{base / now:.1f}×"


def report(baseline_ref: str, cpu: int | None) -> None:
    """Print the text-stage table: per stage, cold and warm, now beside the baseline, and conversations/s."""
    now = stage_figures()
    base: dict[str, Any] | None = None
    if baseline_ref.lower() != "none":
        got = baseline_figures(baseline_ref)
        if isinstance(got, str):
            print(f"baseline skipped: {got}")
        else:
            base = got
    where = f"CPU {cpu}" if cpu is not None else "one process (affinity not supported)"
    print(f"Text stage: {now['words']}-word call ({now['tokens']} tokens, {now['turns']} turns) against "
          f"{now['rules']} rules ({now['phrases']} phrases), pinned to {where}; best CPU time of "
          f"{COLD_RUNS} cold / {WARM_RUNS} warm runs")
    head = f"  {'stage':<10} {'cold ms':>9} {'warm ms':>9}"
    if base is not None:
        head += f"  {'baseline cold':>13} {'baseline warm':>13} {'cold ×':>7} {'warm ×':>7}"
    print(head)
    for stage in STAGES:
        cold, warm = now["ms"]["cold"][stage], now["ms"]["warm"][stage]
        line = f"  {LABELS[stage]:<10} {cold:>9.2f} {warm:>9.2f}"
        if base is not None:
            b_cold, b_warm = base["ms"]["cold"][stage], base["ms"]["warm"][stage]
            line += f"  {b_cold:>13.2f} {b_warm:>13.2f} {_ratio(b_cold, cold):>7} {_ratio(b_warm, warm):>7}"
        print(line)
    for mode in ("cold", "warm"):
        rate = 1000 / now["ms"][mode]["whole"]
        line = f"  whole text stage, {mode}: {rate:,.0f} conversations/s on one core"
        if base is not None:
            b_rate = 1000 / base["ms"][mode]["whole"]
            line += f" (baseline {b_rate:,.0f}/s, {rate / b_rate:.1f}×)"
        print(line)

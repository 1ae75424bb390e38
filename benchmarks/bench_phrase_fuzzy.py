"""Phrase-level fuzzy pass: hits on ASR slips vs new findings on neutral Russian text, and its cost.

Neutral text: every sentence of the UD Russian test treebanks in ../shared/data/ud_russian (cited, not copied),
scored once as the operator's and once as the client's turn, with the rule set as shipped and with the phrase pass
switched off. A finding that only the phrase pass gives on neutral text is a false positive.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from qa.records import Conversation, Utterance
from qa.rules.compiled import CompiledRuleSet
from qa.rules.matching import Matcher
from qa.rules.scoring import Scorer, build_scorer
from qa.text.lemmatizer import get_lemmatizer

REPO = Path(__file__).resolve().parents[1]
UD = REPO.parent / "shared" / "data" / "ud_russian"
SLIPS = [  # (speaker, Whisper's slip, rule it should trigger)
    ("operator", "Ниже не могу помочь, обратитесь в офис.", "stop_word_cant_help"),
    ("operator", "Ничем не мо гу помочь.", "stop_word_cant_help"),
    ("client", "Хочу расстаргнуть до Говоры.", "escalation_cancellation"),
    ("client", "Я хочу растор гнуть договор.", "escalation_cancellation"),
    ("client", "Прошу расторжение до говора.", "escalation_cancellation"),
]


def sentences(limit: int) -> list[str]:
    out: list[str] = []
    for path in sorted(UD.glob("*.conllu")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# text = "):
                out.append(line[len("# text = "):])
    return out[:limit]


def without_phrase_pass(scorer: Scorer) -> Scorer:
    patterns = [dataclasses.replace(p, phrase_fuzzy=None) for p in scorer.rules.matcher.patterns]
    return Scorer(scorer.lemmatizer, CompiledRuleSet(scorer.rules.ruleset, Matcher(patterns)))


def run(scorer: Scorer, texts: list[str]) -> tuple[int, list[tuple[str, str]], float]:
    found, fuzzy_only = 0, []
    t0 = time.perf_counter()
    for i, text in enumerate(texts):
        for speaker in ("operator", "client"):
            conv = Conversation(f"s{i}", "call", "ud", "0", [Utterance(speaker, 0.0, 4.0, text)],
                                speaker_mode="transcript")
            for f in scorer.score(conv).findings:
                if f.kind in ("stopword", "trigger"):
                    found += 1
                    if f.details.get("match") == "fuzzy_phrase":
                        fuzzy_only.append((f.rule_id, text))
    return found, fuzzy_only, time.perf_counter() - t0


def main() -> None:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    lemmatizer = get_lemmatizer()
    shipped = build_scorer(REPO / "scripts_rules", lemmatizer)
    plain = without_phrase_pass(shipped)
    texts = sentences(limit)
    for t in texts[:50]:  # warm the lemma and fuzzy caches equally
        run(plain, [t])
    base_n, _, base_s = run(plain, texts)
    new_n, fuzzy_only, new_s = run(shipped, texts)
    print(f"neutral sentences (UD Russian test): {len(texts)}, each as operator and as client")
    print(f"phrase-word findings: {base_n} without the phrase pass, {new_n} with it")
    print(f"new findings from the phrase pass only (false positives): {len(fuzzy_only)} "
          f"= {len(fuzzy_only) / (2 * len(texts)):.4%} of turns")
    for rule_id, text in fuzzy_only[:10]:
        print(f"  {rule_id}: {text}")
    print(f"time: {base_s:.2f} s without, {new_s:.2f} s with (x{new_s / base_s:.2f}); "
          f"{2 * len(texts) / new_s:.0f} turns/s with")
    hits = 0
    for speaker, text, rule_id in SLIPS:
        conv = Conversation("slip", "call", "slip", "0", [Utterance(speaker, 0.0, 3.0, text)],
                            speaker_mode="transcript")
        shipped_hit = [f for f in shipped.score(conv).findings if f.rule_id == rule_id]
        plain_hit = [f for f in plain.score(conv).findings if f.rule_id == rule_id]
        hits += bool(shipped_hit)
        how = shipped_hit[0].details.get("match", "words") if shipped_hit else "-"
        before, after = ("hit" if plain_hit else "miss"), ("hit" if shipped_hit else "miss")
        print(f"slip «{text}» → {rule_id}: without {before}, with {after} ({how})")
    print(f"slips caught: {hits}/{len(SLIPS)}")


if __name__ == "__main__":
    main()

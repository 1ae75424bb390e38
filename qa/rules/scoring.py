"""Score a conversation: analyse (lemmatise), compute metrics, run the checks, fill the scorecard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qa.records import Conversation, ScoredConversation
from qa.rules.checks import run_checks
from qa.rules.compiled import CompiledRuleSet, compile_ruleset
from qa.rules.metrics import call_timeline, conversation_metrics
from qa.rules.ruleset import load_ruleset
from qa.rules.scorecard import dedupe_findings, score
from qa.text.analysis import LemmatizerLike, analyse_conversation
from qa.text.names import PersonTagger


@dataclass(frozen=True)
class Scorer:
    """A lemmatiser and a compiled rule set: everything needed to score. Build once, pass in."""

    lemmatizer: LemmatizerLike
    rules: CompiledRuleSet

    @property
    def ruleset_version(self) -> str:
        return self.rules.version

    def score(self, conversation: Conversation) -> ScoredConversation:
        """Analyse (if not yet) and score one conversation."""
        if any(not u.tokens for u in conversation.utterances if u.text.strip()):
            analyse_conversation(conversation, self.lemmatizer)
        timeline = call_timeline(conversation) if conversation.channel != "chat" else None
        metrics = conversation_metrics(conversation, timeline)
        findings, steps = run_checks(conversation, self.rules, metrics, timeline)
        findings = dedupe_findings(findings)
        return ScoredConversation(
            conversation=conversation,
            ruleset_version=self.rules.version,
            findings=findings,
            steps=steps,
            metrics=metrics,
            score=score(findings, steps, self.rules.ruleset),
        )


def build_scorer(rules_dir: str | Path, lemmatizer: LemmatizerLike | None = None,
                 persons: PersonTagger | None = None) -> Scorer:
    """Load, validate and compile a rule set folder (loads the lemmatiser if none is given; ``persons``, a
    natasha PER tagger built once by the caller, also tells names in introductions)."""
    if lemmatizer is None:
        from qa.text.lemmatizer import get_lemmatizer

        lemmatizer = get_lemmatizer()
    return Scorer(lemmatizer, compile_ruleset(load_ruleset(rules_dir), lemmatizer, persons))

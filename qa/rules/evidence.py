"""No evidence from the prompt: a hit whose matched words may be Whisper reading its own prompt back.

A call is transcribed primed with the rule set's terms (its brand's names, ``vocabulary``: agencies that are also
escalation triggers), and on poor audio Whisper sometimes writes the prompt back as speech («Центробанк, прокуратура
кончатство в течение часто» for «…они закончатся в течение часа»). A trigger, brand or stop-word hit is *not heard*
when every word it matched is a prompt word (the same word, or one starting with the same six letters:
«Роспотребнадёжный») and the stretch is low-confidence: a matched word heard with probability below
:data:`LOW_PROBABILITY` where the words around it average below :data:`LOW_STRETCH` (a brand said clearly often has
one word Whisper is unsure of: «Телеком Плюс» with «Плюс» at 0.09 amid words at 0.7–0.99), or the words sit in a
prompt-shaped run (prompt words back to back from two or more prompt terms, more words than the longest term). Such a
finding is kept for review as unverified, with no penalty and no escalation; such a brand does not pass the company
step. The prompt is read from the conversation's stored transcription options (``initial_prompt``, ``hotwords``), so a
rescore applies the same test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qa.records import Conversation, Utterance

LOW_PROBABILITY = 0.5
LOW_STRETCH = 0.6  # mean probability of the matched words and CONTEXT_WORDS either side
CONTEXT_WORDS = 3
STEM = 6
_NON_WORD = re.compile(r"[^\w]+")


def _norm(text: str) -> list[str]:
    return _NON_WORD.sub(" ", text.lower().replace("ё", "е")).split()


@dataclass(frozen=True)
class PromptEvidence:
    """The prompt a call was primed with, as terms of normalised words."""

    terms: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, conversation: Conversation) -> PromptEvidence | None:
        """The prompt of a transcribed call (None for chats, external transcripts and unprimed calls)."""
        options: Mapping[str, Any] = (conversation.transcription or {}).get("options") or {}
        text = " , ".join(str(options.get(k) or "") for k in ("initial_prompt", "hotwords"))
        terms = tuple(t for t in (tuple(_norm(part)) for part in text.split(",")) if t)
        return cls(terms) if terms else None

    def term_ids(self, word: str) -> frozenset[int]:
        """The prompt terms a word belongs to (exactly, or by its first six letters for long words)."""
        ids = set()
        for token in _norm(word):
            for k, term in enumerate(self.terms):
                if any(token == t or (len(t) >= STEM and len(token) >= STEM and token[:STEM] == t[:STEM])
                       for t in term):
                    ids.add(k)
        return frozenset(ids)

    def echo_words(self, utterance: Utterance) -> set[int]:
        """Indices of the utterance's words in a prompt-shaped run."""
        ids = [self.term_ids(w.text) for w in utterance.words]
        out: set[int] = set()
        i = 0
        while i < len(ids):
            if not ids[i]:
                i += 1
                continue
            j = i
            while j < len(ids) and ids[j]:
                j += 1
            terms = set().union(*ids[i:j])
            longest = max(len(self.terms[t]) for t in terms)
            if len(terms) >= 2 and j - i > longest:
                out.update(range(i, j))
            i = j
        return out

    def unheard(self, utterance: Utterance, first: int, last: int) -> str | None:
        """Why the tokens ``first..last`` of an utterance may be the prompt read back, else None (heard)."""
        if not utterance.words or not utterance.tokens:
            return None
        tokens = utterance.tokens[first:last + 1]
        spans = {(t.start, t.end) for t in tokens}
        indices = [k for k, w in enumerate(utterance.words)
                   if any(w.start <= s + 1e-6 and e <= w.end + 1e-6 for s, e in spans)
                   or (w.start, w.end) in spans]
        if not indices:
            return None
        content = [k for k in indices if any(len(t) >= 3 for t in _norm(utterance.words[k].text))]
        if not content or not all(self.term_ids(utterance.words[k].text) for k in content):
            return None
        low = [utterance.words[k] for k in content if utterance.words[k].probability < LOW_PROBABILITY]
        around = utterance.words[max(0, min(indices) - CONTEXT_WORDS):max(indices) + CONTEXT_WORDS + 1]
        stretch = sum(w.probability for w in around) / len(around)
        if low and stretch < LOW_STRETCH:  # one unsure word in clear speech is a brand said, not an echo
            return (f"prompt word «{low[0].text.strip(',.!?')}» heard with probability "
                    f"{low[0].probability:.2f} in a stretch of {stretch:.2f}")
        if set(content) & self.echo_words(utterance):
            return "prompt words back to back, as in the prompt"
        return None


def prompt_reasons(conversation: Conversation, hits: Sequence[tuple[int, int, int]]) -> list[str | None]:
    """For each ``(utterance index, first token, last token)``: why it may be the prompt read back, else None."""
    prompt = PromptEvidence.of(conversation)
    if prompt is None:
        return [None] * len(hits)
    return [prompt.unheard(conversation.utterances[u], a, b) for u, a, b in hits]

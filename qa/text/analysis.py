"""Turns utterances into timed, normalised, lemmatised tokens (the form every check works on)."""

from __future__ import annotations

from typing import Protocol

from qa.record_maker import maker
from qa.records import Conversation, Token, Utterance, Word
from qa.text.normalize import is_detached_hyphen_part, split_normalized

_token = maker(Token)  # Token(text, norm, lemma, start, end), built slot by slot


class LemmatizerLike(Protocol):
    def lemma(self, word: str) -> str: ...


def analyse_text(text: str, lemmatizer: LemmatizerLike, start: float = 0.0, end: float = 0.0) -> list[Token]:
    """Tokens of a text; every token gets the given time span."""
    lemma = lemmatizer.lemma
    return [_token(surface, norm, lemma(norm), start, end) for surface, norm in split_normalized(text)]


def _rejoin_hyphen_parts(words: tuple[Word, ...]) -> list[Word]:
    """Whisper writes «чем -нибудь» as two words; join such parts to the word before them."""
    out: list[Word] = []
    for word in words:
        if out and is_detached_hyphen_part(word.text):
            prev = out[-1]
            out[-1] = Word(prev.text.rstrip() + word.text.strip(), prev.start, word.end,
                           min(prev.probability, word.probability))
        else:
            out.append(word)
    return out


def analyse_utterance(utterance: Utterance, lemmatizer: LemmatizerLike) -> Utterance:
    """Fill ``utterance.tokens``: from its timed words where it has them, else from its text and turn times."""
    if utterance.words:
        tokens: list[Token] = []
        for word in _rejoin_hyphen_parts(utterance.words):
            tokens.extend(analyse_text(word.text, lemmatizer, word.start, word.end))
    else:
        tokens = analyse_text(utterance.text, lemmatizer, utterance.start, utterance.end)
    utterance.tokens = tuple(tokens)
    return utterance


def analyse_conversation(conversation: Conversation, lemmatizer: LemmatizerLike) -> Conversation:
    """Tokenise and lemmatise every utterance of a conversation in place; returns it."""
    for utterance in conversation.utterances:
        analyse_utterance(utterance, lemmatizer)
    return conversation

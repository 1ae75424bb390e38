"""Named values: the metadata a sidecar or a PBX call log carries beside a conversation («caller_number»,
«client_name», «client_email»…), masked the way its text is.

A key says what its value is: one whose words (split at ``_``, ``-``, ``.``, spaces and camelCase) hold a word or
phrase listed under ``field_kinds`` in ``qa/text/data/pii.json`` is personal data of that kind whatever the value
looks like, and the whole value becomes the kind's placeholder («caller_number» → «[ТЕЛЕФОН]», «client_name» → «[ИМЯ]»).
Any other text value goes through the redactor like an utterance, and a long number like a digit run. Lists and
nested objects are walked; an inner key without a kind of its own takes its parent's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from qa.text.redaction.lexicon import plain

_KEY_WORDS = re.compile(r"[A-ZА-ЯЁ]?[a-zа-яё]+|[A-ZА-ЯЁ]+(?![a-zа-яё])|\d+")


def key_words(key: str) -> list[str]:
    """The words of a key: «callerNumber» and «caller_number» → [caller, number]."""
    return [plain(word) for word in _KEY_WORDS.findall(key)]


FieldKinds = Mapping[str, tuple[tuple[tuple[str, ...], str], ...]]  # first word → (phrase, kind), longest first


def field_kind(key: str, kinds: FieldKinds) -> str | None:
    """The kind of personal data a key names: that of the first phrase of ``kinds`` its words hold."""
    words = key_words(key)
    for index, word in enumerate(words):
        for phrase, kind in kinds.get(word, ()):
            if tuple(words[index:index + len(phrase)]) == phrase:
                return kind
    return None


def redact_value(key: str, value: Any, kinds: FieldKinds, placeholders: Mapping[str, str],
                 redact_text: Callable[[str], str], inherited: str | None = None) -> Any:
    """``value`` of ``key`` with its personal data replaced: the kind's placeholder for a key that names one,
    else ``redact_text`` over text and numbers; containers walked, other values (booleans, ``None``) kept."""
    kind = field_kind(key, kinds) or inherited
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v, kinds, placeholders, redact_text, kind) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, v, kinds, placeholders, redact_text, kind) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if kind is not None:
        return placeholders[kind]
    if isinstance(value, int | float):
        text = str(value)
        masked = redact_text(text)
        return value if masked == text else masked
    return redact_text(str(value))

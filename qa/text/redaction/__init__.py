"""Finds personal data in Russian utterances and replaces it with typed placeholders ([ТЕЛЕФОН], [ИМЯ]…).

Kinds (:data:`KINDS`): ``phone``, ``card``, ``email``, ``passport``, ``inn``, ``snils``, ``birth_date``, ``name``,
``number`` (any other run of 7 digits or more: account, contract and order numbers) and ``address`` (a person's
street and house, with what is said around them).
Numbers are read alike in digits or in words, the way Whisper writes them and people say them, and dates, e-mails
and names are found typed or spoken. One module per kind of personal data, each describing its own rules:

- :mod:`.numbers` (phone, card, passport, INN, SNILS, number), on the digit runs of :mod:`.number_runs`;
- :mod:`.dates` (dates of birth), :mod:`.emails` (typed and dictated), :mod:`.names` (people's names),
  :mod:`.addresses` (postal addresses);
- :mod:`.redactor` runs them over the tokens of :mod:`.tokens` and holds the public API; :mod:`.lexicon` reads
  every Russian word they know from ``qa/text/data/pii.json``, on first use.

:func:`silence_ranges` maps the spans onto word timestamps, and :meth:`Redactor.mute_ranges` gives the times to
beep in a whole recording (exports and the review page's player share it). :meth:`Redactor.redact_fields` masks
named values (metadata: :mod:`.fields`).
"""

from qa.text.redaction.lexicon import load_rules
from qa.text.redaction.names import STRONG_NAME_SHARE, WEAK_NAME_SHARE
from qa.text.redaction.number_runs import MAX_GAP_WORDS
from qa.text.redaction.numbers import CUE_WINDOW, DICTATED_MIN_DIGITS, MIN_NUMBER_DIGITS
from qa.text.redaction.redactor import (
    KINDS,
    MUTE_PAD_S,
    PiiSpan,
    Redaction,
    Redactor,
    get_redactor,
    replace_spans,
    silence_ranges,
    turn_mute_ranges,
)

__all__ = [
    "CUE_WINDOW",
    "DICTATED_MIN_DIGITS",
    "KINDS",
    "MAX_GAP_WORDS",
    "MIN_NUMBER_DIGITS",
    "MUTE_PAD_S",
    "STRONG_NAME_SHARE",
    "WEAK_NAME_SHARE",
    "PiiSpan",
    "Redaction",
    "Redactor",
    "get_redactor",
    "load_rules",
    "replace_spans",
    "silence_ranges",
    "turn_mute_ranges",
]

"""Identity numbers: phone, card, passport, INN, SNILS, and ``number`` for any other long run of digits.

Each digit run (:mod:`qa.text.redaction.number_runs`) is classified by its length, its first digits, its written
layout («123-45-67», «45 10 123456», «123-456-789 01») and the cue words before it («карта», «ИНН», «серия»…) or,
failing those, after it («…, это ИНН»). A run of :data:`MIN_NUMBER_DIGITS` digits or more is never left in the text
(account, contract and order numbers become ``number``); a run said digit by digit is a code from
:data:`DICTATED_MIN_DIGITS` digits. A run holding «тысяча» or «миллион» shorter than that is an amount, and one
holding «миллион» stays an amount unless a cue names it. A run joined only by fillers that nothing but its length
makes a number is judged part by part («3 500, ну, 4 200»). A 4-digit series and a 6-digit number in one utterance
are a passport when a passport cue is among the utterance's last :data:`CUE_WINDOW` words. Digit groups of
:data:`PHONE_TAIL_DIGITS` digits in all joined by hyphens («50 -7231», «40-17-62») are the end of a phone number whose
start the ASR put elsewhere (the previous segment, before a full stop), unless an amount word follows.
"""

from __future__ import annotations

from qa.text.redaction.lexicon import Rules
from qa.text.redaction.number_runs import NumberRun, NumberRuns, starts_number
from qa.text.redaction.tokens import SENTENCE_END, Token, TokenRange

MIN_NUMBER_DIGITS = 7  # a run this long is never left in the text
CUE_WINDOW = 6  # words looked back from a digit run for its cue
DICTATED_MIN_DIGITS = 6  # a run said digit by digit is a code from this length («1, 2, 3, 9, 8, 7»)
PHONE_TAIL_DIGITS = (5, 6)  # digit groups joined by hyphens this long are the end of a phone number («50 -7231»)
_PASSPORT_LAYOUTS = ((4, 6), (2, 2, 6))  # «4510 123456», «45 10 123456»
_LOCAL_PHONE_LAYOUT = (3, 2, 2)  # «123-45-67»
_SNILS_LAYOUT = (3, 3, 3, 2)
_SPOKEN_MOBILE_STARTS = ("89", "79")


class Numbers:
    """Finds the digit runs that are personal data and tells their kind."""

    def __init__(self, rules: Rules) -> None:
        self._rules = rules
        self._runs = NumberRuns(rules)

    def find(self, tokens: list[Token], taken: list[bool]) -> list[tuple[str, TokenRange]]:
        """Each kind with its token range, among the tokens not ``taken``, in order."""
        runs = self._runs.find(tokens, taken)
        return [(kind, (piece.first, piece.last))
                for run in runs for piece, kind in self._classified(tokens, run, runs)]

    def _cue_kind(self, token: Token) -> str | None:
        if token.kind != "word":
            return None
        return self._rules.number_cues.get(token.lemma) or self._rules.number_cues.get(token.norm)

    def _cues(self, tokens: list[Token], before: int) -> list[str]:
        """Kinds named by cue words in the few words before token ``before``, nearest first."""
        kinds: list[str] = []
        seen = 0
        index = before - 1
        while index >= 0 and seen < CUE_WINDOW:
            token = tokens[index]
            if token.kind == "word":
                seen += 1
                kind = self._cue_kind(token)
                if kind and kind not in kinds:
                    kinds.append(kind)
            index -= 1
        return kinds

    def _cues_after(self, tokens: list[Token], after: int) -> list[str]:
        """Kinds named by cue words after token ``after`` up to the sentence end or the next number, nearest first
        («503 212 345 678, это ИНН»)."""
        kinds: list[str] = []
        seen = 0
        for token in tokens[after + 1:]:
            if token.text in SENTENCE_END or starts_number(token, self._rules) or seen >= CUE_WINDOW:
                break
            if token.kind == "word":
                seen += 1
                kind = self._cue_kind(token)
                if kind and kind not in kinds:
                    kinds.append(kind)
        return kinds

    def _classified(self, tokens: list[Token], run: NumberRun, runs: list[NumberRun]) -> list[
            tuple[NumberRun, str]]:
        """The run with its kind, or, when it was joined over fillers and nothing but its length makes it a
        number («оплатил 3 500, ну, 4 200»), its parts each with their own kind."""
        kind = self._classify(tokens, run, runs)
        if kind == "number" and run.pieces and not self._cues(tokens, run.first) + self._cues_after(tokens, run.last):
            return [pair for piece in run.pieces for pair in self._classified(tokens, piece, runs)]
        return [(run, kind)] if kind is not None else []

    def _classify(self, tokens: list[Token], run: NumberRun, runs: list[NumberRun]) -> str | None:
        """The kind of a digit run, or None to keep it."""
        length = len(run.digits)
        if run.quantity and length < MIN_NUMBER_DIGITS:
            return None
        cues = self._cues(tokens, run.first) or self._cues_after(tokens, run.last)
        if run.millions and not cues:
            return None  # «два миллиона» is an amount unless a cue says it is a number
        kind = _kind_by_cue(cues, length)
        if kind:
            return kind
        everywhere = self._cues(tokens, len(tokens)) if length in (4, 6) else []
        if "passport" in everywhere and length in (4, 6) and _passport_pair(run, runs):
            return "passport"
        return _kind_by_shape(run, cues)


def _passport_pair(run: NumberRun, runs: list[NumberRun]) -> bool:
    """True when a 4-digit series and a 6-digit number sit in the same utterance."""
    lengths = {len(other.digits) for other in runs if other is not run}
    return (len(run.digits) == 4 and 6 in lengths) or (len(run.digits) == 6 and 4 in lengths)


def _kind_by_cue(cues: list[str], length: int) -> str | None:
    """The first cue whose kind fits the digit count («ИНН» and 10 or 12 digits), nearest cue first."""
    for cue in cues:
        if cue == "inn" and length in (10, 12):
            return "inn"
        if cue == "snils" and length == 11:
            return "snils"
        if cue == "card" and 13 <= length <= 19:
            return "card"
        if cue == "passport" and length in (4, 6, 10):
            return "passport"
        if cue == "phone" and MIN_NUMBER_DIGITS <= length <= 12:
            return "phone"
    return None


def _looks_like_phone(run: NumberRun) -> bool:
    digits, length = run.digits, len(run.digits)
    if (length == 11 and digits[0] in "78") or (length == 12 and run.plus) or (length == 10 and digits[0] == "9"):
        return True
    # a spoken mobile number read a digit too long («… сто ноль ноль ноль ноль один»)
    return not run.layout and length == 12 and digits[:2] in _SPOKEN_MOBILE_STARTS


def _kind_by_shape(run: NumberRun, cues: list[str]) -> str | None:
    """The kind of a digit run without a fitting cue: by its written layout, length and first digits."""
    length, layout = len(run.digits), run.layout
    if layout in _PASSPORT_LAYOUTS:
        return "passport"
    if layout == _SNILS_LAYOUT or (layout[-4:] == _SNILS_LAYOUT and length == 11):
        return "snils"
    if layout == _LOCAL_PHONE_LAYOUT or _looks_like_phone(run):
        return "phone"
    if run.hyphenated and PHONE_TAIL_DIGITS[0] <= length <= PHONE_TAIL_DIGITS[1] and not run.quantity:
        return "phone"  # «50 -7231», «40-17-62»: the end of a phone number the ASR cut from its start
    long_enough = length >= MIN_NUMBER_DIGITS or (run.dictated and length >= DICTATED_MIN_DIGITS)
    if "number" in cues:
        return "number" if long_enough else None
    if length == 11:
        return "snils"  # eleven digits that are no phone: the only 11-digit document number
    if 13 <= length <= 19:
        return "card"
    return "number" if long_enough else None

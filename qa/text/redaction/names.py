"""People's names: first names, patronymics and surnames, a run of them («Петров Иван Иванович») being one span.

Name readings come from pymorphy3's Name/Surn/Patr tags (through :mod:`qa.text.lemmatizer`). A word read as a name
almost always («анна», «иванович») is one in any case; a word that is often a common noun («вера», «роман», «лев»)
only when capitalised mid-sentence, after a cue («зовут», «на имя», «фамилия», «это») or next to another name part.
Whatever its tags, a capitalised word right after «зовут», «фамилия», «на имя», «говорила» is a name («Фамилия
Лисица», a misspelt «Петровую»), and so is a capitalised word beside an accepted name («Ким Ен Су», «Белку Марину»,
«Соловей Игорь Викторович»). None after a street, work or company word («улица Ленина», «роман Толстого»), nor a
place in the locative after «в»/«на» («в марине», «на Невском»). Addresses are not redacted.
"""

from __future__ import annotations

from qa.text.lemmatizer import Lemmatizer
from qa.text.redaction.lexicon import Rules
from qa.text.redaction.tokens import SENTENCE_END, Token, TokenRange

STRONG_NAME_SHARE = 0.8  # a word read as a name this often is a name in any case and place
WEAK_NAME_SHARE = 0.25  # below this even a capitalised word is not taken for a name


class Names:
    """Finds people's names; holds the lemmatiser for the name readings."""

    def __init__(self, rules: Rules, lemmatizer: Lemmatizer) -> None:
        self._rules = rules
        self._lemmatizer = lemmatizer

    def find(self, tokens: list[Token], taken: list[bool]) -> list[TokenRange]:
        """The token ranges of the names among the tokens not ``taken``, adjacent name words joined, in order."""
        shares: dict[int, float] = {}
        for index, token in enumerate(tokens):
            if _may_be_name(token, taken[index]):
                share = sum(self._lemmatizer.name_tags(token.norm).values())
                if share > 0:
                    shares[index] = share
        accepted = {index for index, share in shares.items() if self._reads_as_name(tokens, index, share, shares)}
        accepted |= self._cued_words(tokens, taken)
        accepted = self._grow_by_capitals(tokens, taken, accepted)
        # a run of name words («Петров Иван Иванович») is one span
        runs: list[TokenRange] = []
        for index in sorted(accepted):
            if runs and runs[-1][1] + 1 == index:
                runs[-1] = (runs[-1][0], index)
            else:
                runs.append((index, index))
        return runs

    def _blocked(self, tokens: list[Token], index: int) -> bool:
        """After a street, work or company word («улица Ленина»), or a place in the locative after «в»/«на»
        («в марине», «на Невском»): not a person's name."""
        rules = self._rules
        before = _previous_word(tokens, index)
        if before is None:
            return False
        previous = tokens[before]
        if previous.lemma in rules.name_blockers or previous.norm in rules.name_blocker_forms:
            return True
        return (before == index - 1 and previous.norm in rules.locative_prepositions
                and tokens[index].norm.endswith(rules.locative_endings))

    def _reads_as_name(self, tokens: list[Token], index: int, share: float, shares: dict[int, float]) -> bool:
        """Whether a word with a name reading (``share`` of its parses) is a name here."""
        rules = self._rules
        if self._blocked(tokens, index):
            return False
        token = tokens[index]
        before = _previous_word(tokens, index)
        cued = any(tokens[i].lemma in rules.name_cues for i in _words_before(tokens, index, 2))
        capital_inside = token.text[0].isupper() and before is not None
        # «это Слава», «я Рашид»: after an introduction any name reading will do when it is capitalised
        introduced = capital_inside and tokens[before].lemma in rules.weak_name_cues
        neighbours = [shares[other] for other in (index - 1, index + 1) if other in shares]
        # beside a sure name part («Любовь Ивановна») any name reading will do; beside another unsure one,
        # both must be read as names often enough
        beside_name = any(
            other >= STRONG_NAME_SHARE or min(other, share) >= WEAK_NAME_SHARE for other in neighbours)
        return (share >= STRONG_NAME_SHARE or cued or beside_name or introduced
                or (capital_inside and share >= WEAK_NAME_SHARE))

    def _cued_words(self, tokens: list[Token], taken: list[bool]) -> set[int]:
        """Words right after a name cue that are names whatever pymorphy reads: a capitalised one after «зовут»,
        «фамилия», «на имя», «разговаривала» («Фамилия Лисица», «разговаривала Мира», a misspelt «Петровую»), a
        lower-case one in its dictionary form after the surname cue itself («фамилия салавей»)."""
        rules = self._rules
        found: set[int] = set()
        for index, token in enumerate(tokens):
            if not _may_be_name(token, taken[index]) or token.norm in rules.name_cue_stop_words:
                continue
            before = _previous_word(tokens, index)
            if before is None or self._blocked(tokens, index):
                continue
            cue = tokens[before]
            if token.text[0].isupper() and cue.lemma in rules.capital_name_cues:
                found.add(index)
            # lower case: a word in its dictionary form («фамилия кузнец»), one the dictionary does not know (the
            # ASR's «фамилия смернов») or one with a name reading; not «фамилия указана неверно»
            elif self._after_surname_cue(tokens, index) and token.norm not in rules.surname_cue_fillers and (
                    token.lemma == token.norm or not self._lemmatizer.is_known(token.norm)
                    or self._lemmatizer.name_tags(token.norm)):
                found.add(index)
        return found

    def _after_surname_cue(self, tokens: list[Token], index: int) -> bool:
        """Whether «фамилия» comes right before token ``index``, or with at most two fillers between («фамилия у
        меня …», «фамилия, значит, …»)."""
        rules = self._rules
        before = _previous_word(tokens, index)
        for _ in range(3):
            if before is None:
                return False
            if tokens[before].norm in rules.surname_cues:
                return True
            if tokens[before].norm not in rules.surname_cue_fillers:
                return False
            before = _previous_word(tokens, before)
        return False

    def _grow_by_capitals(self, tokens: list[Token], taken: list[bool], accepted: set[int]) -> set[int]:
        """The names with the capitalised words right beside them (only spaces between): the rest of a foreign
        name («Ким Ен Су», «Ли Вэй») or a surname that is a common word («Белку Марину», «Колесник Богдан»)."""
        grown = set(accepted)
        frontier = sorted(accepted)
        while frontier:
            index = frontier.pop()
            for other in (index - 1, index + 1):
                if other not in grown and 0 <= other < len(tokens) and self._capital_beside_name(
                        tokens, taken, other, grown):
                    grown.add(other)
                    frontier.append(other)
        return grown

    def _capital_beside_name(self, tokens: list[Token], taken: list[bool], index: int, names: set[int]) -> bool:
        token = tokens[index]
        if (not _may_be_name(token, taken[index]) or not token.text[0].isupper()
                or token.norm in self._rules.name_cue_stop_words or self._blocked(tokens, index)):
            return False
        if not _opens_sentence(tokens, index):
            return True
        # a capital opening the sentence is only a surname before a full name, all in the nominative (the lemma
        # is the word itself): «Соловей Игорь Викторович», not «Спросите Олега Игоревича» or «Здравствуйте …»
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        return (following is not None and index + 1 in names and index + 2 in names
                and token.norm not in self._rules.address_words
                and token.lemma == token.norm and following.lemma == following.norm)


def _may_be_name(token: Token, taken: bool) -> bool:
    return token.kind == "word" and not taken and len(token.text) > 1 and not _is_acronym(token.text)


def _is_acronym(text: str) -> bool:
    return len(text) > 1 and text.isupper()


def _previous_word(tokens: list[Token], index: int) -> int | None:
    """The word or number before token ``index`` past commas and dashes; None at a sentence's start."""
    index -= 1
    while index >= 0 and tokens[index].kind == "punct" and tokens[index].text not in SENTENCE_END:
        index -= 1
    return index if index >= 0 and tokens[index].kind != "punct" else None


def _opens_sentence(tokens: list[Token], index: int) -> bool:
    return _previous_word(tokens, index) is None


def _words_before(tokens: list[Token], index: int, count: int) -> list[int]:
    found: list[int] = []
    index -= 1
    while index >= 0 and len(found) < count:
        if tokens[index].kind == "word":
            found.append(index)
        elif tokens[index].text in SENTENCE_END:
            break
        index -= 1
    return found

"""Postal addresses: a person's street and house, with the city, region, postcode, building, flat and entrance said
with them, as one span («г. Тула, ул. Советская, д. 12, кв. 3», «проспект Мира 101, квартира 7», «на Садовой, 18,
кв. 4», «деревня Ивановка, улица Садовая, дом 5»).

An address needs a place and a house number, as a door does: a street (a street-type word with its name before or
after it, «улица Ленина», «Комсомольский проспект», «ул. Чехова»), a settlement («деревне Сосновка»), or a bare
street name when a house word or a flat follows it («Вавилова, дом 19», «Пролетарскую 7 квартира 12»); then the
house («дом 5», «д. 16А», «, 25», «дом двадцать восемь»), then any building, flat or entrance. A street alone («я
живу на Ленинском проспекте») is no address. The city, region and postcode said just before it join the span. The
address of a business said as such («наш офис на Тверской, дом 7», «пункт выдачи на улице Ленина, 12») is no
person's: a business noun up to ``business_window`` words before it keeps it, unless a verb of living or delivery
comes between («был в отделении, а живу на …»). Every word is in ``qa/text/data/pii.json`` (``address``).
"""

from __future__ import annotations

from qa.text.redaction.lexicon import Rules
from qa.text.redaction.tokens import SENTENCE_END, Token, TokenRange, in_words

MAX_HOUSE_DIGITS = 4  # a house, building or flat number («16», «320», «1205»); longer ones are other numbers
POSTCODE_DIGITS = 6
MAX_NAME_WORDS = 3  # words of a street name after its type word («улица Марины Расковой»)


class Addresses:
    """Finds postal addresses in the tokens of an utterance."""

    def __init__(self, rules: Rules) -> None:
        self._rules = rules
        self._words = rules.address

    def find(self, tokens: list[Token], taken: list[bool]) -> list[TokenRange]:
        """The token ranges of the addresses among the tokens not ``taken``, in order, not overlapping."""
        found: list[TokenRange] = []
        floor = 0  # the first token a new address may take (after the previous one)
        index = 0
        while index < len(tokens):
            span = self._address_at(tokens, taken, index, floor)
            if span is None:
                index += 1
                continue
            found.append(span)
            floor = index = span[1] + 1
        return found

    # --- one address -------------------------------------------------------------------------------------

    def _address_at(self, tokens: list[Token], taken: list[bool], index: int, floor: int) -> TokenRange | None:
        """The address whose place (street or settlement) starts at ``index``, grown back to its city and
        postcode and on to its flat; None when there is none, or it is a business's."""
        place = self._place_at(tokens, taken, index)
        if place is None:
            return None
        first, last, bare = place
        house = self._house_after(tokens, taken, last, bare)
        if house is None:
            return None
        end = self._units_after(tokens, taken, house)
        if bare and end == house and not self._has_house_word(tokens, last, house):
            return None  # «Пушкина 10» alone may be anything; with «дом» or a flat it is an address
        start = self._grow_back(tokens, taken, first, floor)
        if self._a_business(tokens, start):
            return None
        return start, end

    def _place_at(self, tokens: list[Token], taken: list[bool], index: int) -> tuple[int, int, bool] | None:
        """(first, last, bare) of a street or settlement starting at ``index``; ``bare``: a street name with no
        type word, which needs a house word or a flat to count."""
        words = self._words
        if not self._free_word(tokens, taken, index):
            return None
        token = tokens[index]
        if self._is(token, words.street_types) or self._is(token, words.settlement_types):
            after = self._skip_dot(tokens, index)
            names = self._name_words(tokens, taken, after + 1)
            if names:
                return index, names[-1], False
            return None
        if self._is_name_word(tokens, taken, index):
            following = index + 1
            if following < len(tokens) and self._free_word(tokens, taken, following) and \
                    self._is(tokens[following], words.street_types):
                return index, self._skip_dot(tokens, following), False  # «Комсомольский проспект»
            if token.text[0].isupper() or self._house_word_next(tokens, index):
                return index, index, True  # «Садовой, 18, кв. 4», «вавилова дом 19»
        return None

    def _name_words(self, tokens: list[Token], taken: list[bool], index: int) -> list[int]:
        """The words of a street or settlement name from ``index`` (up to :data:`MAX_NAME_WORDS`, hyphens inside:
        «Марины Расковой», «Красный Яр», «Ростов-на-Дону»)."""
        found: list[int] = []
        while index < len(tokens) and len(found) < MAX_NAME_WORDS:
            if self._is_name_word(tokens, taken, index):
                found.append(index)
                index += 1
            elif found and tokens[index].text == "-" and index + 1 < len(tokens) and \
                    tokens[index].start == tokens[index - 1].end and self._free_word(tokens, taken, index + 1):
                found.append(index + 1)
                index += 2
            else:
                break
        return found

    def _house_after(self, tokens: list[Token], taken: list[bool], last: int, bare: bool) -> int | None:
        """The last token of the house number after the place ending at ``last`` («, дом 5», «д. 16А», «101»,
        «дом двадцать восемь»); None when no house number follows."""
        index = self._skip(tokens, last + 1, ",")
        worded = index < len(tokens) and self._free_word(tokens, taken, index) and \
            self._is(tokens[index], self._words.house_words)
        if worded:
            index = self._skip_dot(tokens, index) + 1
        end = self._number_at(tokens, taken, index)
        if end is None:
            return None
        if not worded and self._amount_after(tokens, end):
            return None  # «на улице Мира 5 минут»: a quantity
        return end

    def _units_after(self, tokens: list[Token], taken: list[bool], end: int) -> int:
        """The end of the building, flat, entrance… after the house ending at ``end`` («, корпус 2, кв. 15»)."""
        words = self._words
        while True:
            index = self._skip(tokens, end + 1, ",")
            if not (index < len(tokens) and self._free_word(tokens, taken, index)
                    and self._is(tokens[index], words.unit_words)):
                return end
            number = self._skip_dot(tokens, index) + 1
            found = self._number_at(tokens, taken, number)
            if found is None and self._is(tokens[index], words.letter_units) and number < len(tokens) and \
                    tokens[number].kind == "word" and len(tokens[number].text) == 1:
                found = number  # «литера А»
            if found is None:
                return end
            end = found

    def _grow_back(self, tokens: list[Token], taken: list[bool], first: int, floor: int) -> int:
        """The start of the address once the city, settlement, region and postcode said just before its street
        join it («630099, Новосибирск, …», «Московская область, город Химки, …», «Королев улица Гагарина»)."""
        words = self._words
        start = first
        while True:
            index = start - 1
            if index >= floor and tokens[index].text == ",":
                index -= 1
            if index < floor or taken[index]:
                return start
            token = tokens[index]
            if token.kind == "num" and len(token.text) == POSTCODE_DIGITS:
                start = index
                continue
            if token.kind == "punct" and token.text == "." and index - 1 >= floor and \
                    self._is(tokens[index - 1], words.settlement_types):
                start = index - 1  # «г. Москва»: the type word before the name already taken
                continue
            if token.kind != "word" or taken[index] or self._is(token, words.stop_words):
                return start
            if self._is(token, words.settlement_types) or self._is(token, words.region_types):
                start = index  # «город Химки», «Московская область»: the type word, its name taken next
                continue
            if not token.text[0].isupper():
                return start
            start = index  # a capitalised name: a city, a settlement, a region's adjective
            while start - 2 >= floor and tokens[start - 1].text == "-" and tokens[start - 2].kind == "word" and \
                    tokens[start - 1].start == tokens[start - 2].end:
                start -= 2  # «Ростов-на-Дону», «Санкт-Петербург»

    def _a_business(self, tokens: list[Token], start: int) -> bool:
        """Whether a business noun comes shortly before the address in its sentence, with no verb of living or
        delivery after it: the company's own address."""
        words = self._words
        seen = 0
        index = start - 1
        while index >= 0 and seen < words.business_window:
            token = tokens[index]
            if token.text in SENTENCE_END:
                return False
            if token.kind == "word":
                seen += 1
                if self._is(token, words.person_cues):
                    return False
                if self._is(token, words.business_cues):
                    return True
            index -= 1
        return False

    # --- small readers -----------------------------------------------------------------------------------

    def _number_at(self, tokens: list[Token], taken: list[bool], index: int) -> int | None:
        """The last token of a house, building or flat number at ``index``: digits with a letter or a slash
        glued («16А», «16/2»), or one spoken number («двадцать восемь», «сто двенадцать»)."""
        if index >= len(tokens) or taken[index]:
            return None
        token = tokens[index]
        if token.kind == "num":
            if len(token.text) > MAX_HOUSE_DIGITS:
                return None
            end = index
            following = tokens[end + 1] if end + 1 < len(tokens) else None
            if following is not None and following.start == token.end:
                if following.kind == "word" and len(following.text) <= 2:
                    end += 1  # «16А»
                elif following.text == "/" and end + 2 < len(tokens) and tokens[end + 2].kind == "num" and \
                        tokens[end + 2].start == following.end:
                    end += 2  # «16/2»
            return end
        values = self._rules.number_words
        if token.kind != "word" or token.lemma not in values:
            return None
        end, previous = index, values[token.lemma]
        while end + 1 < len(tokens) and tokens[end + 1].kind == "word" and tokens[end + 1].lemma in values:
            value = values[tokens[end + 1].lemma]
            round_before = previous >= 20 and previous % 10 == 0
            if not (round_before and value < (100 if previous % 100 == 0 else 10)):
                break
            end, previous = end + 1, value
        return end

    def _amount_after(self, tokens: list[Token], end: int) -> bool:
        following = tokens[end + 1] if end + 1 < len(tokens) else None
        return following is not None and in_words(following, self._rules.amount_words)

    def _is_name_word(self, tokens: list[Token], taken: list[bool], index: int) -> bool:
        """A word that may be (part of) a street or place name: not a preposition, cue, type or number word."""
        if not self._free_word(tokens, taken, index):
            return False
        token = tokens[index]
        words = self._words
        return not (len(token.text) < 2 or self._is(token, words.stop_words) or self._is(token, words.house_words)
                    or self._is(token, words.unit_words) or self._is(token, words.street_types)
                    or self._is(token, words.settlement_types) or token.lemma in self._rules.number_words
                    or in_words(token, self._rules.amount_words))

    def _house_word_next(self, tokens: list[Token], index: int) -> bool:
        following = self._skip(tokens, index + 1, ",")
        return following < len(tokens) and tokens[following].kind == "word" and \
            self._is(tokens[following], self._words.house_words)

    def _has_house_word(self, tokens: list[Token], last: int, house: int) -> bool:
        return any(t.kind == "word" and self._is(t, self._words.house_words) for t in tokens[last + 1:house + 1])

    @staticmethod
    def _free_word(tokens: list[Token], taken: list[bool], index: int) -> bool:
        return 0 <= index < len(tokens) and not taken[index] and tokens[index].kind == "word"

    @staticmethod
    def _is(token: Token, words: frozenset[str]) -> bool:
        return in_words(token, words)

    @staticmethod
    def _skip(tokens: list[Token], index: int, punct: str) -> int:
        return index + 1 if index < len(tokens) and tokens[index].text == punct else index

    @staticmethod
    def _skip_dot(tokens: list[Token], index: int) -> int:
        """``index``, or the «.» right after it (an abbreviation: «ул.», «д.», «кв.»)."""
        following = index + 1
        if following < len(tokens) and tokens[following].text == "." and tokens[following].start == \
                tokens[index].end:
            return following
        return index

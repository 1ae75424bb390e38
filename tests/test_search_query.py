"""The search query language: literal Russian queries parsed into lemmatised words, phrases, windows, OR and NOT,
and every query that cannot be searched refused with a message in Russian."""

from __future__ import annotations

import pytest

from qa.text.search_query import Atom, Group, QueryError, parse_query


def shape(part) -> object:
    """A parsed query as nested tuples of lemmas: ('all'|'any', parts, excluded), atoms as ('phrase', lemmas, slop)
    or a bare lemma."""
    if isinstance(part, Atom):
        lemmas = tuple(w.lemma for w in part.words)
        if len(lemmas) == 1 and not part.quoted:
            return lemmas[0]
        return ("near" if part.slop is not None else "phrase", lemmas, part.slop)
    assert isinstance(part, Group)
    parts = tuple(shape(p) for p in part.parts)
    return (part.op, parts, tuple(shape(p) for p in part.excluded)) if part.op == "all" else ("any", parts)


@pytest.mark.parametrize(("query", "expected"), [
    ("вернуть деньги", ("all", ("вернуть", "деньга"), ())),
    ("Верните ДЕНЬГИ", ("all", ("вернуть", "деньга"), ())),
    ("вернули денег", ("all", ("вернуть", "деньга"), ())),
    ('"верните деньги"', ("all", (("phrase", ("вернуть", "деньга"), None),), ())),
    ("«верните деньги»", ("all", (("phrase", ("вернуть", "деньга"), None),), ())),
    ("„верните деньги“", ("all", (("phrase", ("вернуть", "деньга"), None),), ())),
    ("«вернуть деньги»~3", ("all", (("near", ("вернуть", "деньга"), 3),), ())),
    ("суд OR жалоба", ("all", (("any", ("суд", "жалоба")),), ())),
    ("суд ИЛИ жалоба деньги", ("all", (("any", ("суд", "жалоба")), "деньга"), ())),
    ("(суд | прокуратура) деньги", ("all", (("any", ("суд", "прокуратура")), "деньга"), ())),
    ("деньги -спасибо", ("all", ("деньга",), ("спасибо",))),
    ("деньги NOT спасибо", ("all", ("деньга",), ("спасибо",))),
    ("деньги НЕ «большое спасибо»", ("all", ("деньга",), (("phrase", ("большой", "спасибо"), None),))),
    ("не знаю", ("all", ("знать",), ())),  # «не» in lower case is a word, and a stop-word: left out
    ('"не знаю"', ("all", (("phrase", ("не", "знать"), None),), ())),  # inside quotes it counts
    ("деньги AND возврат", ("all", ("деньга", "возврат"), ())),
    ("расторгнуть договор ёлки", ("all", ("расторгнуть", "договор", "елка"), ())),
    ("25 рублей", ("all", (("phrase", ("двадцать", "пять"), None), "рубль"), ())),
])
def test_queries_parse_to_lemmas_as_transcripts_are_lemmatised(lemmatizer, query, expected):
    assert shape(parse_query(query, lemmatizer).root) == expected


def test_stop_words_left_out_are_reported_and_fuzzy_is_kept(lemmatizer):
    parsed = parse_query("я хочу вернуть деньги", lemmatizer, fuzzy=True)
    assert parsed.dropped == ("я",) and parsed.fuzzy
    assert parsed.lemmas() == ["хотеть", "вернуть", "деньга"]
    assert parse_query("деньги -спасибо", lemmatizer).lemmas() == ["деньга"]  # excluded words are not looked for


@pytest.mark.parametrize(("query", "message"), [
    ("", "Пустой запрос"),
    ("   ", "Пустой запрос"),
    ("и в на не", "только служебные слова («и», «в», «на», «не»)"),
    ('"и в"', "только служебные слова"),
    ('"вернуть деньги', "Незакрытая кавычка \" (символ 1)"),
    ("«вернуть деньги", "Незакрытая кавычка «"),
    ("вернуть деньги»", "Закрывающая кавычка » без открывающей"),
    ("а" * 10_000, "Запрос слишком длинный: 10 000 символов, можно не больше 500"),
    ("(суд деньги", "Непарная скобка"),
    ("суд) деньги", "Непарная скобка «)»"),
    ("-спасибо", "только исключения"),
    ("NOT спасибо", "только исключения"),
    ("суд OR -деньги", "нельзя ставить внутри OR"),
    ("суд OR", "OR без второй части"),
    ("OR суд", "OR без первой части"),
    ("деньги NOT", "После NOT нужно слово"),
    ("деньги~3", "~N ставится сразу после закрывающей кавычки"),
    ("«вернуть деньги»~", "После ~ нужно число"),
    ("«вернуть деньги»~99", "не дальше чем через 20"),
    (" ".join(f"слово{i}" for i in range(30)), "Слишком много слов"),
])
def test_queries_that_cannot_be_searched_are_refused_in_russian(lemmatizer, query, message):
    with pytest.raises(QueryError) as error:
        parse_query(query, lemmatizer)
    assert message in str(error.value)

"""Negation and hypotheticals: a denied or supposed complaint/threat does not escalate (pairs of literal Russian).

Each row is an affirmed utterance and its negated (or hypothetical) twin, scored by the real rule set and lemmatiser.
"""

from __future__ import annotations

import json

import pytest

from qa.records import Conversation, Utterance
from qa.text.negation import default_cues, denial, load_cues

PAIRS = [
    # (rule, affirmed — escalates, negated/hypothetical — does not)
    ("escalation_complaint", "Я буду жаловаться.", "Сразу скажу, жаловаться я не собираюсь."),
    ("escalation_complaint", "У меня претензия к вам.", "Претензий у меня нет."),
    ("escalation_complaint", "Хочу пожаловаться на мастера.", "Если бы я хотел пожаловаться, я бы так и сказал."),
    ("escalation_complaint", "Я напишу жалобу.", "Я не напишу жалобу, не волнуйтесь."),
    ("escalation_complaint", "Оставлю жалобу на сайте.", "Жалобу оставлять не стану."),
    ("escalation_complaint", "Жалуюсь на ваш сервис.", "Я ни на что не жалуюсь."),
    ("escalation_complaint", "Есть претензия по счёту.", "Претензии нет, всё в порядке."),
    ("escalation_complaint", "Подам рекламацию.", "Рекламацию подавать я не буду."),
    ("escalation_complaint", "Я пожалуюсь вашему начальству.", "Я бы пожаловался, но времени нет."),
    ("escalation_complaint", "Претензию я вам отправлю.", "Без претензии обойдёмся."),
    ("escalation_legal_threat", "Я подам в суд.", "В суд я не пойду."),
    ("escalation_legal_threat", "Обращусь в прокуратуру.", "В прокуратуру обращаться не буду."),
    ("escalation_legal_threat", "Напишу в Роспотребнадзор.", "В Роспотребнадзор писать я не собираюсь."),
    ("escalation_legal_threat", "Мой юрист с вами свяжется.", "Я юрист по образованию, поэтому спрашиваю."),
    ("escalation_legal_threat", "Буду судиться с вами.", "Судиться я не хочу."),
    ("escalation_legal_threat", "Вызову полицию.", "Полицию вызывать не стану."),
    ("escalation_legal_threat", "Пожалуюсь в ЦБ.", "Если бы я жаловался в ЦБ, вы бы уже знали."),
    ("escalation_legal_threat", "Подам иск.", "Никакой иск я не подам."),
    ("escalation_legal_threat", "Наймём адвоката.", "Адвоката нанимать не будем."),
    ("escalation_legal_threat", "Дойду до прокурора.", "До прокурора я не дойду, некогда."),
    ("escalation_manager_request", "Позовите руководителя.", "Руководителя звать не надо."),
    ("escalation_manager_request", "Соедините с руководителем.", "Не надо соединять с руководителем."),
    ("escalation_manager_request", "Дайте старшего.", "Старшего не нужно, вы справитесь."),
    ("escalation_manager_request", "Позовите начальника.", "Начальника не зовите."),
    ("escalation_manager_request", "Хочу поговорить с руководителем.", "Если бы был руководитель, я бы поговорил."),
    ("escalation_cancellation", "Хочу расторгнуть договор.", "Расторгать договор я не хочу."),
    ("escalation_cancellation", "Я отказываюсь от услуг.", "От услуг я не отказываюсь."),
    ("escalation_cancellation", "Отключите меня.", "Отключать меня не надо."),
    ("escalation_cancellation", "Я ухожу к другому оператору.", "К другому оператору я не ухожу."),
    ("escalation_cancellation", "Хочу расторгнуть договор.", "Я бы расторг договор, если бы мог."),
    ("escalation_refund", "Верните деньги.", "Деньги возвращать не нужно."),
    ("escalation_refund", "Хочу вернуть деньги.", "Не хочу возвращать деньги, просто объясните."),
    ("escalation_refund", "Требую возврат средств.", "Возврат средств не требую."),
    ("escalation_refund", "Хочу компенсацию.", "Компенсацию мне не надо."),
    ("escalation_refund", "Хочу возврат денег.", "Возврат денег мне не нужен."),
    ("escalation_fraud", "Меня обманули.", "Меня никто не обманывал, всё честно."),
    ("escalation_fraud", "Это мошенничество.", "Это не мошенничество, я сам ошибся."),
    ("escalation_fraud", "Вы мошенники!", "Если бы вы были мошенники, я бы понял."),
    ("escalation_fraud", "Это развод.", "Никакого развода тут нет."),
    ("escalation_complaint", "Нет, я буду жаловаться.", "Жаловаться не буду."),
    ("escalation_complaint", "Я не хочу жаловаться, но претензию всё-таки напишу.", "Я не хочу жаловаться."),
    ("escalation_legal_threat", "Деньги не вернули, я подам в суд.", "Подавать в суд мы не будем."),
    # Whisper's commas between a verb and its infinitive («жаловаться, я не собираюсь»): the negated governor
    # still denies; a governor with an infinitive of its own («не хочу ждать») leaves the trigger affirmed.
    ("escalation_complaint", "Хочу пожаловаться, не хочу ждать.", "Сразу скажу, жаловаться, я не собираюсь."),
    ("escalation_complaint", "Я буду жаловаться, не сомневайтесь.",
     "Жаловаться, я не собираюсь просто подскажите, как оплатить."),
    ("escalation_cancellation", "Хочу расторгнуть договор, не хочу продлевать.", "Расторгать договор, я не хочу."),
    ("escalation_legal_threat", "Подам в суд, не хочу ждать.", "Судиться, я не стану."),
    ("escalation_legal_threat", "Обращусь в прокуратуру, не буду терпеть.", "Обращаться в прокуратуру, мы не будем."),
    ("escalation_refund", "Буду требовать возврат денег, не стану ждать.", "Требовать возврат денег, я не стану."),
    ("escalation_legal_threat", "Подам в суд, не пойду на уступки.", "Суд, я не пойду, но хочу понять."),
    ("escalation_legal_threat", "До прокурора дойду, не сомневайтесь.", "В прокуратуру, я не обращусь."),
    ("escalation_manager_request", "Позовите руководителя, не хочу с вами говорить.",
     "Звать руководителя, я не буду."),
]


def _rule_hits(scorer, text: str, rule_id: str) -> list[str]:
    conv = Conversation("t", "call", "t.txt", "0", [Utterance("client", 0.0, 4.0, text)], speaker_mode="transcript")
    return [f.quote for f in scorer.score(conv).findings if f.rule_id == rule_id]


def test_at_least_forty_pairs():
    assert len(PAIRS) >= 40


@pytest.mark.parametrize(("rule_id", "affirmed", "negated"), PAIRS)
def test_affirmed_escalates_negated_does_not(scorer, rule_id, affirmed, negated):
    assert _rule_hits(scorer, affirmed, rule_id), f"{rule_id} missed «{affirmed}»"
    assert not _rule_hits(scorer, negated, rule_id), f"{rule_id} fired on «{negated}»"


def test_stop_words_keep_their_own_negation(scorer):
    """Negation scope is off for operator stop-words: «не могу помочь» is the phrase itself."""
    conv = Conversation("t", "call", "t.txt", "0", [Utterance("operator", 0.0, 4.0, "Ничем не могу помочь.")],
                        speaker_mode="transcript")
    assert any(f.rule_id == "stop_word_cant_help" for f in scorer.score(conv).findings)


@pytest.mark.parametrize(
    ("text", "first", "last", "kind"),
    [
        ("жаловаться я не собираюсь", 0, 0, "negated"),
        ("если бы я хотел пожаловаться", 4, 4, "hypothetical"),
        ("я не знаю, буду жаловаться", 4, 4, None),
        ("хочу компенсацию за неделю без связи", 1, 1, None),
        ("жаловаться, я не собираюсь", 0, 0, "negated"),
        ("хочу жаловаться, я не собираюсь ждать", 1, 1, None),
        ("ругаться и жаловаться, я не собираюсь объяснить", 2, 2, "negated"),
        ("жаловаться буду, не хочу ждать", 0, 0, None),
        ("жаловаться, но я не собираюсь", 0, 0, None),
        ("жалоба, я не собираюсь", 0, 0, None),
        ("претензий, у меня нет", 0, 0, "negated"),  # Whisper's comma before the existential negation
        ("претензий, у меня нет, просто хочу уточнить доставку", 0, 0, "negated"),
        ("подам в суд, у меня нет выбора", 2, 2, None),  # «нет» does not end its clause
        ("я напишу претензию, у меня нет", 2, 2, None),  # the hit does not open its clause
    ],
)
def test_denial_scope(text, first, last, kind, lemmatizer):
    from qa.text.analysis import analyse_text

    tokens = analyse_text(text, lemmatizer)
    scope = denial(text, tokens, first, last)
    assert (scope.kind if scope else None) == kind


def test_cues_are_data(tmp_path):
    assert "не" in default_cues().negators_before
    broken = tmp_path / "neg.json"
    broken.write_text(json.dumps({"negators_before": ["не"]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"neg\.json.*negators_after"):
        load_cues(broken)

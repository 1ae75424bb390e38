"""Conversations with literal Russian for the search tests (written through the store's real write path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qa.records import Conversation, Utterance, Word

DAY = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def chat(cid: str, team: str, operator: str, day: int, turns: list[tuple[str, str]], channel: str = "chat",
         started: bool = True) -> Conversation:
    at = DAY + timedelta(days=day)
    utterances = [Utterance(speaker, 10.0 * i, 10.0 * i + 4, text) for i, (speaker, text) in enumerate(turns)]
    return Conversation(conversation_id=cid, channel=channel, source_path=f"inbox/{cid}", content_sha256=f"sha-{cid}",
                        utterances=utterances, operator_id=operator, team=team, started_at=at if started else None,
                        speaker_mode="chat" if channel == "chat" else "stereo")


def call_with_words() -> Conversation:
    words = (Word("Я", 30.0, 30.2), Word("хочу,", 30.2, 30.6), Word("чтобы", 30.6, 30.9), Word("мне", 30.9, 31.1),
             Word("вернули", 31.25, 31.8), Word("денег", 31.8, 32.2), Word("за", 32.2, 32.3),
             Word("октябрь.", 32.3, 32.9))
    conv = chat("c2", "team-a", "op-2", 9, [("operator", "Слушаю вас.")], channel="call")
    conv.utterances.append(Utterance("client", 30.0, 32.9, "Я хочу, чтобы мне вернули денег за октябрь.", words))
    conv.utterances.append(Utterance("operator", 34.0, 36.0, "Спасибо, что подождали."))
    return conv


def conversations() -> list[Conversation]:
    return [
        chat("c1", "team-a", "op-1", 1, [("client", "Верните деньги, пожалуйста."),
                                         ("operator", "Деньги вернём в течение недели.")]),
        call_with_words(),
        chat("c3", "team-b", "op-3", 19, [("client", "Деньги мне верните, иначе пойду в суд."),
                                          ("client", "Большое спасибо, деньги пришли.")]),
        chat("c4", "team-b", "op-3", -31, [("client", "Хочу расторгнуть договор."),
                                           ("operator", "Растаргнуть договор можно в офисе.")], channel="call"),
        chat("c5", "team-a", "op-1", 24, [("client", "Мне уже вернули деньги, спасибо.")]),
        chat("c6", "team-a", "op-4", 27, [("unknown", "верните деньги срочно")], channel="call"),
    ]

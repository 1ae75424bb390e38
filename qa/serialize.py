"""Plain-dict views of the records, for ``qa score --json`` and exports."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from qa.records import Conversation, ScoredConversation


def conversation_to_dict(conversation: Conversation) -> dict[str, Any]:
    """The conversation's metadata (no utterances)."""
    return {
        "conversation_id": conversation.conversation_id,
        "channel": conversation.channel,
        "source_path": conversation.source_path,
        "content_sha256": conversation.content_sha256,
        "operator_id": conversation.operator_id,
        "team": conversation.team,
        "started_at": conversation.started_at.isoformat() if conversation.started_at else None,
        "duration_s": conversation.duration_s,
        "speaker_mode": conversation.speaker_mode,
        "metadata": conversation.metadata,
        "transcription": conversation.transcription,
    }


def scored_to_dict(scored: ScoredConversation) -> dict[str, Any]:
    """Everything the rule set said about one conversation, as JSON-ready data."""
    conv = scored.conversation
    return {
        "conversation": conversation_to_dict(conv),
        "ruleset_version": scored.ruleset_version,
        "utterances": [
            {"idx": i, "speaker": u.speaker, "start_s": round(u.start, 2), "end_s": round(u.end, 2), "text": u.text,
             "lemmas": u.lemmas,
             "words": [{"text": w.text, "start_s": round(w.start, 3), "end_s": round(w.end, 3),
                        "probability": round(w.probability, 4)} for w in u.words]}
            for i, u in enumerate(conv.utterances)
        ],
        "findings": [asdict(f) for f in scored.findings],
        "script": [asdict(s) for s in scored.steps],
        "metrics": scored.metrics,
        "score": asdict(scored.score),
    }

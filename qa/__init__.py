"""Offline speech and chat QA for Russian contact centers.

Importing ``qa`` touches no disk, model or network: heavy objects (the Whisper model, the morphological
analyser, database connections) are built by the functions that need them and passed in.
"""

from qa.errors import AudioError, ConversationFormatError, ModelError, QAInputError, RuleFileError
from qa.records import (
    Conversation,
    Failure,
    Finding,
    Score,
    ScoredConversation,
    StepResult,
    Token,
    Utterance,
    Word,
)

__all__ = [
    "AudioError",
    "Conversation",
    "ConversationFormatError",
    "Failure",
    "Finding",
    "ModelError",
    "QAInputError",
    "RuleFileError",
    "Score",
    "ScoredConversation",
    "StepResult",
    "Token",
    "Utterance",
    "Word",
]

__version__ = "0.1.0"

"""The encoder outputs a channel's second decode reuses (qa.speech.transcribe.models.EncoderMemo), on a fake model."""

from __future__ import annotations

import numpy as np

from qa.speech.transcribe.models import EncoderMemo


class _Model:
    def __init__(self) -> None:
        self.encoded = 0
        self.frames_per_second = 100

    def encode(self, features: np.ndarray) -> object:
        self.encoded += 1
        return object()


def test_the_same_features_are_encoded_once_while_kept_and_each_output_is_handed_back_once():
    model = _Model()
    memo = EncoderMemo(model)
    a, b = np.ones((2, 80, 30), np.float32), np.zeros((2, 80, 30), np.float32)
    with memo.keeping():
        first = memo.encode(a)
        assert memo.encode(a.copy()) is first  # the same features, another array: reused
        assert memo.encode(b) is not first and model.encoded == 2
        assert memo.encode(a) is not first and model.encoded == 3  # handed back once only
    assert memo.reused == 1 and memo._kept is None  # nothing held after the block
    memo.encode(a), memo.encode(a)
    assert model.encoded == 5 and memo.reused == 1  # outside a block every call encodes
    assert memo.frames_per_second == 100  # everything else is the model's


def test_features_of_another_shape_are_not_taken_for_the_same():
    model = _Model()
    memo = EncoderMemo(model)
    with memo.keeping():
        memo.encode(np.zeros((1, 80, 30), np.float32))
        memo.encode(np.zeros((2, 80, 15), np.float32))
    assert model.encoded == 2 and memo.reused == 0

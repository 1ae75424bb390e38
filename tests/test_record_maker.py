"""record_maker builds the same frozen records as their classes, and falls back where it cannot."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from qa.record_maker import maker
from qa.records import Token
from qa.rules.matching import Hit, Pattern


def test_same_token_as_the_class() -> None:
    built = maker(Token)("Жалобу", "жалобу", "жалоба", 1.0, 1.5)
    assert built == Token("Жалобу", "жалобу", "жалоба", 1.0, 1.5)
    assert hash(built) == hash(Token("Жалобу", "жалобу", "жалоба", 1.0, 1.5))
    with pytest.raises(AttributeError):
        built.lemma = "x"  # type: ignore[misc]  # still frozen


def test_same_hit_as_the_class() -> None:
    pattern = Pattern("r", "match", "жалоба", ())
    assert maker(Hit)(pattern, 0, 1, 90.0, "words") == Hit(pattern, 0, 1, 90.0)


def test_wrong_number_of_fields_is_an_error() -> None:
    with pytest.raises(TypeError):
        maker(Token)("a", "b")


@dataclass(frozen=True)
class _NoSlots:
    a: int


@dataclass(frozen=True, slots=True)
class _Checked:
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("negative")


@dataclass(frozen=True, slots=True)
class _Factory:
    a: list[int] = field(default_factory=list, init=False)


@pytest.mark.parametrize("cls", [_NoSlots, _Checked, _Factory])
def test_falls_back_to_the_class(cls: type) -> None:
    assert maker(cls) is cls

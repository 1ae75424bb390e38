"""Builds many small frozen records fast: the text stage makes a thousand tokens per conversation.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; for a slotted one the slot
descriptors can be set directly, which gives the same object for about half the cost. :func:`maker` returns
such a builder, or the class itself when the shortcut would not be exact (no slots, a ``__post_init__``,
fields with defaults made by factories or not set by ``__init__``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def maker(cls: type[T]) -> Callable[..., T]:
    """A function of the fields in order (all positional, none left out) that builds a ``cls``."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = tuple(f.name for f in fields)
    if (
        "__slots__" not in cls.__dict__
        or hasattr(cls, "__post_init__")
        or any(not f.init for f in fields)
        or not all(type(cls.__dict__.get(name)).__name__ == "member_descriptor" for name in names)
    ):
        return cls
    args = ", ".join(f"v{i}" for i in range(len(names)))
    body = "".join(f"    s{i}(obj, v{i})\n" for i in range(len(names)))
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope.update({f"s{i}": cls.__dict__[name].__set__ for i, name in enumerate(names)})
    exec(f"def build({args}):\n    obj = new(cls)\n{body}    return obj\n", scope)  # as dataclasses do
    build = scope["build"]
    build.__doc__ = f"{cls.__name__}({', '.join(names)}) built slot by slot."
    return build

"""Splits Russian text into tokens with character offsets: razdel's tokens, found by compiled regexes.

The tokens are exactly razdel's (``razdel.tokenize``, 0.5): text is cut into *atoms* (a run of Cyrillic
letters, a run of Latin letters, a run of digits, one punctuation mark, one other character), and two
atoms with no space between them join when one of razdel's rules says so: a hyphen or underscore between
two non-punctuation atoms («что-то», «2-й»), a point, comma or slash between digits («1,5», «1/2»),
punctuation runs («?!», «...», «--», «:)»), and a symbol next to a letter («ΔP»). A space always splits.
The rules only look at the atoms of one space-free chunk, and at the kind of the atom just before or after
the chunk when the chunk starts or ends with a hyphen, underscore, point, comma or slash; so a chunk's
tokens are computed once and kept in a bounded per-process table (a few µs a chunk cold, a dict look-up
warm). razdel itself stays the reference in the tests (``tests/test_tokenize.py``).
"""

from __future__ import annotations

import re

RU, LAT, INT, PUNCT, OTHER = "RU", "LAT", "INT", "PUNCT", "OTHER"  # razdel's atom kinds

_ENDINGS = ".?!…"
_DASHES = "‑–—−-"
_QUOTES = "«“‘" "»”’" "\"„'"
_BRACKETS = "([}" ")]}"
_PUNCTS = "\\/!#$%&*+,.:;<=>?@^_`|~№…" + _DASHES + _QUOTES + _BRACKETS
_ATOM = re.compile(
    rf"(?P<RU>[а-яё]+)|(?P<LAT>[a-z]+)|(?P<INT>\d+)|(?P<PUNCT>[{re.escape(_PUNCTS)}])|(?P<OTHER>\S)", re.I
)
_SMILE = re.compile(r"^[=:;]-?[)(]{1,3}$")
_CHUNK = re.compile(r"\S+")
_LINKS = frozenset(_DASHES + "_")  # join two non-punctuation atoms
_NUMBER_LINKS = frozenset(".,/\\")  # join two digit runs
_EDGE = _LINKS | _NUMBER_LINKS  # a chunk edged by one of these looks at the atom beyond the space
_CACHE_LIMIT = 100_000  # chunks remembered (then the table starts again)

_Pieces = tuple[tuple[str, int, int], ...]
_chunks: dict[object, _Pieces] = {}


def _kind(char: str) -> str:
    """razdel's atom kind of a single character."""
    match = _ATOM.match(char)
    return match.lastgroup if match is not None and match.lastgroup else OTHER


def _joins(a: str, a_kind: str, b: str, b_kind: str, before: str | None, after: str | None, buffer: str) -> bool:
    """razdel's rules for two adjacent atoms ``a`` ``b``: ``before`` is the kind of the atom before ``a``,
    ``after`` of the one after ``b`` (None at the ends of the text), ``buffer`` the token so far."""
    for links, kinds in ((_DASHES, None), ("_", None), (".,", (INT,)), ("/\\", (INT,))):
        if a in links:
            left, right = before, b_kind
        elif b in links:
            left, right = a_kind, after
        else:
            continue
        if left is None or right is None:
            continue
        if kinds is None:
            if left != PUNCT and right != PUNCT:
                return True
        elif left == INT and right == INT:
            return True
    if a_kind == PUNCT and b_kind == PUNCT:
        if _SMILE.match(buffer + b) or (a in _ENDINGS and b in _ENDINGS) or a + b in ("--", "**"):
            return True
    if (a_kind == OTHER and b_kind in (OTHER, RU, LAT)) or (a_kind in (OTHER, RU, LAT) and b_kind == OTHER):
        return True
    return a_kind == LAT and a.lower() == "yahoo" and b == "!"


def _split_chunk(chunk: str, before: str | None, after: str | None) -> _Pieces:
    """Tokens of one space-free chunk as ``(surface, start, stop)`` relative to it; ``before``/``after``: the
    kinds of the atoms beyond the spaces on either side (None at the ends of the text)."""
    atoms = [(m.start(), m.end(), m.lastgroup or OTHER) for m in _ATOM.finditer(chunk)]
    pieces: list[tuple[str, int, int]] = []
    first = 0
    for i in range(1, len(atoms)):
        a_start, a_stop, a_kind = atoms[i - 1]
        b_start, b_stop, b_kind = atoms[i]
        left = atoms[i - 2][2] if i >= 2 else before
        right = atoms[i + 1][2] if i + 1 < len(atoms) else after
        start = atoms[first][0]
        if not _joins(chunk[a_start:a_stop], a_kind, chunk[b_start:b_stop], b_kind, left, right,
                      chunk[start:a_stop]):
            pieces.append((chunk[start:a_stop], start, a_stop))
            first = i
    if atoms:
        start = atoms[first][0]
        pieces.append((chunk[start:], start, len(chunk)))
    return tuple(pieces)


def _needs_before(chunk: str) -> bool:
    """Whether the chunk's first two atoms join or not depending on the atom before the chunk."""
    head = chunk[0]
    if head not in _EDGE or len(chunk) < 2:
        return False
    return _kind(chunk[1]) != PUNCT if head in _LINKS else _kind(chunk[1]) == INT


def _needs_after(chunk: str) -> bool:
    """Whether the chunk's last two atoms join or not depending on the atom after the chunk."""
    tail = chunk[-1]
    if tail not in _EDGE or len(chunk) < 2:
        return False
    return _kind(chunk[-2]) != PUNCT if tail in _LINKS else _kind(chunk[-2]) == INT


def context_free(chunk: str) -> bool:
    """Whether a space-free chunk's tokens are the same wherever it stands (true of most)."""
    return not (_needs_before(chunk) or _needs_after(chunk))


def chunk_tokens(chunk: str) -> tuple[str, ...]:
    """The token surfaces of a context-free chunk (see :func:`context_free`), from the chunk table."""
    pieces = _chunks.get(chunk)
    if pieces is None:
        pieces = _remember(chunk, _split_chunk(chunk, None, None))
    return tuple(surface for surface, _, _ in pieces)


def _remember(key: object, pieces: _Pieces) -> _Pieces:
    if len(_chunks) >= _CACHE_LIMIT:
        _chunks.clear()
    _chunks[key] = pieces
    return pieces


def split_tokens(text: str) -> list[tuple[str, int, int]]:
    """All tokens of ``text`` (razdel's), punctuation included, as ``(surface, start, stop)``."""
    tokens: list[tuple[str, int, int]] = []
    append = tokens.append
    chunks = _chunks
    matches = list(_CHUNK.finditer(text))
    last = len(matches) - 1
    for k, match in enumerate(matches):
        chunk = match.group()
        key: object = chunk
        before = after = None
        if chunk[0] in _EDGE or chunk[-1] in _EDGE:
            if k > 0 and _needs_before(chunk):
                before = _kind(matches[k - 1].group()[-1])
            if k < last and _needs_after(chunk):
                after = _kind(matches[k + 1].group()[0])
            if before is not None or after is not None:
                key = (chunk, before, after)
        pieces = chunks.get(key)
        if pieces is None:
            pieces = _remember(key, _split_chunk(chunk, before, after))
        offset = match.start()
        if len(pieces) == 1:
            append((chunk, offset, offset + len(chunk)))
        else:
            for surface, start, stop in pieces:
                append((surface, offset + start, offset + stop))
    return tokens


def clear_token_cache() -> None:
    """Forget the chunks seen so far (benchmarks use it to measure a cold start)."""
    _chunks.clear()


def is_word(surface: str) -> bool:
    """True when a token holds at least one letter or digit (so is not pure punctuation or symbols)."""
    return any(char.isalnum() for char in surface)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Word tokens of ``text`` as ``(surface, start, stop)`` char offsets, pure punctuation left out."""
    return [token for token in split_tokens(text) if is_word(token[0])]

"""Person names in cased text by natasha's NER (the only module of ours that imports natasha).

natasha tags PER spans from context («оператор Макцем» is a person though no dictionary knows the word), which
pymorphy3's Name grammeme cannot. It finds nothing in lower-case text, so it is given Whisper's cased output.
Build one :class:`PersonFinder` per process (embeddings and the tagger load once, ~1 s) and pass it in;
importing this module loads nothing. natasha pulls in pymorphy2, which needs ``setuptools<81`` and
``OPENBLAS_NUM_THREADS=1`` (set before numpy loads: ``qa.run.environment``, the Makefile).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PersonSpan:
    """A PER span of a text: character offsets and the words it covers."""

    start: int
    stop: int
    text: str

    def words(self) -> tuple[str, ...]:
        """The span's words, lower case, ё→е, without punctuation."""
        return tuple(w.strip(",.!?«»\"'()").casefold().replace("ё", "е") for w in self.text.split())


def adapt_span(span: Any) -> PersonSpan:
    """natasha's ``DocSpan`` as our record."""
    return PersonSpan(int(span.start), int(span.stop), str(span.text))


class PersonFinder:
    """natasha's segmenter and news NER tagger, loaded once; :meth:`persons` is thread-safe for reading."""

    def __init__(self) -> None:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        from natasha import NewsEmbedding, NewsNERTagger, Segmenter

        self._segmenter = Segmenter()
        self._ner = NewsNERTagger(NewsEmbedding())

    def persons(self, text: str) -> list[PersonSpan]:
        """The PER spans of a cased text (an empty list for lower-case text: natasha needs capitals)."""
        from natasha import Doc

        if not text.strip():
            return []
        doc = Doc(text)
        doc.segment(self._segmenter)
        doc.tag_ner(self._ner)
        return [adapt_span(s) for s in doc.spans if s.type == "PER"]

    def person_words(self, text: str) -> frozenset[str]:
        """Every word inside a PER span of ``text`` (lower case, ё→е)."""
        return frozenset(w for span in self.persons(text) for w in span.words() if w)

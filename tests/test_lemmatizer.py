"""Lemmatisation: inflected forms meet at one lemma; accuracy on a UD Russian slice; lazy loading."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from qa.text.lemmatizer import Lemmatizer, get_lemmatizer
from qa.text.normalize import split_normalized

REPO = Path(__file__).resolve().parents[1]


def _bench_module() -> ModuleType:
    """benchmarks/bench_text.py (it holds the CoNLL-U reader and the comparison rules)."""
    spec = importlib.util.spec_from_file_location("bench_text", REPO / "benchmarks" / "bench_text.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("word", "lemma"),
    [
        ("руководителя", "руководитель"),
        ("руководителю", "руководитель"),
        ("руководитель", "руководитель"),
        ("руководителем", "руководитель"),
        ("жалобу", "жалоба"),
        ("жалобы", "жалоба"),
        ("жалобой", "жалоба"),
        ("знаю", "знать"),
        ("знаете", "знать"),
        ("расторгнуть", "расторгнуть"),
        ("мою", "мой"),
        ("моей", "мой"),
        ("счета", "счет"),
        ("ещё", "еще"),
        ("еще", "еще"),
        ("со", "со"),
        ("есть", "быть"),
        ("должна", "должен"),
        ("чем-нибудь", "что-нибудь"),
        ("что-то", "что-то"),
        ("нибудь", "нибудь"),
        ("hello", "hello"),
        ("", ""),
    ],
)
def test_lemma(lemmatizer: Lemmatizer, word: str, lemma: str) -> None:
    assert lemmatizer.lemma(word) == lemma


@pytest.mark.parametrize(
    "forms",
    [
        ("руководитель", "руководителя", "руководителю", "руководителей"),
        ("жалоба", "жалобу", "жалобы", "жалобами"),
        ("знать", "знаю", "знаешь", "знали"),
        ("оператор", "оператора", "оператору"),
    ],
)
def test_inflected_forms_share_a_lemma(lemmatizer: Lemmatizer, forms: tuple[str, ...]) -> None:
    assert len(set(lemmatizer.lemmas(forms))) == 1


def test_lemmas_of_normalised_text(lemmatizer: Lemmatizer) -> None:
    words = [word for _, word in split_normalized("Позовите Вашего РУКОВОДИТЕЛЯ, я напишу жалобу!")]
    assert lemmatizer.lemmas(words) == ["позвать", "ваш", "руководитель", "я", "написать", "жалоба"]


def test_no_yo_in_lemmas(lemmatizer: Lemmatizer) -> None:
    lemmas = lemmatizer.lemmas(["ждёте", "ждете", "всё", "счёта", "пришёл"])
    assert all("ё" not in lemma for lemma in lemmas)
    assert lemmas[0] == lemmas[1] == "ждать"


def test_cache_counts_hits() -> None:
    lemmatizer = Lemmatizer(cache_size=4)
    lemmatizer.lemmas(["жалобу", "жалобу", "жалобы"])
    info = lemmatizer.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 2, 4)
    lemmatizer.lemmas(["а", "б", "в", "г", "д"])
    assert lemmatizer.cache_info().currsize == 4


def test_overrides_replace_the_table() -> None:
    assert Lemmatizer(overrides={"ЖАЛОБУ": "Жалобушка"}).lemma("жалобу") == "жалобушка"
    assert Lemmatizer(overrides={}).lemma("есть") == "есть"


def test_get_lemmatizer_builds_one_per_process() -> None:
    seen: list[Lemmatizer] = []
    threads = [threading.Thread(target=lambda: seen.append(get_lemmatizer())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4 and all(item is seen[0] for item in seen)


def test_import_loads_no_dictionaries() -> None:
    code = "import sys, qa.text.lemmatizer, qa.text.normalize; print('pymorphy3' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("treebank", ["ru_gsd-ud-test.conllu", "ru_taiga-ud-test.conllu"])
def test_accuracy_on_ud_slice(shared_data: Path, lemmatizer: Lemmatizer, treebank: str) -> None:
    path = shared_data / "ud_russian" / treebank
    if not path.is_file():
        pytest.skip(f"{path} not present")
    bench = _bench_module()
    sentences = bench.read_conllu(path)[:30]
    result = bench.lemma_accuracy(lemmatizer, sentences)
    assert result["words"] > 200
    assert result["accuracy"] >= 0.9

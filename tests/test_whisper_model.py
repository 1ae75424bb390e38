"""The embedded model is joined once and verified; remote model names are refused (no downloads)."""

from __future__ import annotations

import json

import pytest

from qa.errors import ModelError
from qa.speech.whisper_model import EMBEDDED_SHA256, file_sha256_hex, prepare_embedded_model, resolve_model


@pytest.mark.parametrize("setting", ["large-v3", "openai/whisper-small", "/nowhere/whisper-model"])
def test_names_that_would_need_a_download_are_refused(setting):
    with pytest.raises(ModelError) as caught:
        resolve_model(setting)
    message = str(caught.value)
    assert setting in message
    assert "never downloads" in message and "QA_WHISPER_MODEL" in message and "--model" in message


def test_folder_without_model_bin_is_refused(tmp_path):
    with pytest.raises(ModelError, match=r"no model\.bin"):
        resolve_model(str(tmp_path))


def test_local_folder_with_model_bin_is_used(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    assert resolve_model(str(tmp_path)) == tmp_path


@pytest.mark.slow
def test_embedded_model_is_joined_verified_and_reused(tmp_path):
    folder = prepare_embedded_model(tmp_path)
    model_bin = folder / "model.bin"
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (folder / name).is_file()
    assert file_sha256_hex(model_bin) == EMBEDDED_SHA256
    stamp = json.loads((folder / "model.bin.verified.json").read_text())
    assert stamp["sha256"] == EMBEDDED_SHA256 and stamp["size"] == model_bin.stat().st_size
    mtime = model_bin.stat().st_mtime_ns
    assert prepare_embedded_model(tmp_path) == folder
    assert model_bin.stat().st_mtime_ns == mtime  # not rewritten

    with open(model_bin, "r+b") as handle:  # damage it: the next call must rebuild it
        handle.write(b"broken")
    prepare_embedded_model(tmp_path)
    assert file_sha256_hex(model_bin) == EMBEDDED_SHA256


def test_embedded_aliases_resolve_to_the_prepared_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr("qa.speech.whisper_model.prepare_embedded_model", lambda: calls.append(1) or tmp_path)
    for alias in (None, "", "base", "embedded"):
        assert resolve_model(alias) == tmp_path
    assert len(calls) == 4

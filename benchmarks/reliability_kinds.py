"""The bad-input matrix of ``benchmarks/bench_reliability.py``: each kind writes one bad input (or sets up one fault)
into an inbox that also holds three good files, and says what a correct run does with it.

Expectations: ``fail`` (recorded in ``failures`` naming the file, not stored), ``store`` (a valid if unusual input:
stored, under ``ids``), ``warn`` (stored, and a warning naming the file), ``skip`` (named in the run's output,
neither stored nor failed), ``refuse`` (the run stops before it starts: exit 2 naming the problem, nothing
stored), ``dedupe`` (the same content twice: stored once), ``note`` (a fault of an earlier run, named by this one).

Only the standard library, numpy and the bundled samples make the inputs, so the same kinds run against any
version of ``qa`` (the baseline commit too).
"""

from __future__ import annotations

import json
import os
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
FIXTURES = REPO / "tests" / "fixtures" / "audio"
GOOD = {"call-0001": ("call_compliant.flac", "call_compliant.json"), "chat-0001": ("chat_good.chat.json",),
        "transcript-0001": ("transcript_example.transcript.json",)}


@dataclass
class Made:
    """What a kind wrote: the bad paths (as the run should name them) and the ids it should store."""

    paths: list[Path]
    ids: list[str] = field(default_factory=list)


@dataclass
class Kind:
    """One row of the matrix."""

    name: str
    expect: str
    make: Callable[[Path], Made]
    args: tuple[str, ...] = ()
    unprivileged: bool = False  # run as a process that chmod 000 keeps out
    before: Callable[[Path], None] | None = None  # set up the database before the run (gets the db path)


def _json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _text(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


CHAT = _sample("chat_slow.chat.json")
TRANSCRIPT = _sample("transcript_example.transcript.json")
SIDECAR = _sample("call_stopwords.json")


def chat(inbox: Path, name: str, **changes: object) -> Made:
    data = {**CHAT, "id": f"bad-{name}", **changes}
    return Made([_json(inbox / f"{name}.chat.json", data)], [str(data["id"])])


def transcript(inbox: Path, name: str, turns: list | None = None, **changes: object) -> Made:
    data = {**TRANSCRIPT, "id": f"bad-{name}", **({"turns": turns} if turns is not None else {}), **changes}
    return Made([_json(inbox / f"{name}.transcript.json", data)], [str(data["id"])])


def turn0(**changes: object) -> list:
    return [{**TRANSCRIPT["turns"][0], **changes}, *TRANSCRIPT["turns"][1:]]


def call(inbox: Path, name: str, sidecar: object | None = None, audio: str = "call_stopwords.flac") -> Made:
    """The stopwords sample call under ``name`` with a sidecar (an object, raw text, or the sample's own)."""
    target = inbox / f"{name}{Path(audio).suffix}"
    target.write_bytes((SAMPLES / audio).read_bytes())
    side = inbox / f"{name}.json"
    if isinstance(sidecar, str | bytes):
        _text(side, sidecar)
    else:
        _json(side, {**SIDECAR, "id": f"bad-{name}", **(sidecar or {})})
    return Made([target], [f"bad-{name}"])


def wav(path: Path, channels: int = 2, seconds: float = 60.0, rate: int = 8000, noise: float = 0.0) -> Path:
    frames = np.zeros((int(seconds * rate), channels), dtype="<i2")
    if noise:
        frames = (np.random.default_rng(3).standard_normal(frames.shape) * noise * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames.tobytes())
    return path


def alaw_wav_with_fact(path: Path, seconds: float = 60.0, rate: int = 8000) -> Path:
    """An A-law WAV (format 6) with its fact chunk, as telephony systems write them."""
    data = bytes([0xD5]) * int(seconds * rate)
    fmt = struct.pack("<HHIIHHH", 6, 1, rate, rate, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, len(data)) + \
        b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def cut(path: Path, keep: int) -> Path:
    path.write_bytes(path.read_bytes()[:keep])
    return path


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def raw_alaw(inbox: Path, name: str, raw_format: object) -> Made:
    (inbox / f"{name}.al").write_bytes(bytes([0xD5]) * 8000 * 5)
    side = {**SIDECAR, "id": f"bad-{name}"}
    if raw_format is not None:
        side["raw_format"] = raw_format
    _json(inbox / f"{name}.json", side)
    return Made([inbox / f"{name}.al"], [f"bad-{name}"])


def fresh(made: Made) -> Made:
    """The kind's files written just now (the harness ages every other file by an hour)."""
    for path in made.paths:
        os.utime(path, None)
    return made


def dead_run(db: Path) -> None:
    """A run recorded as running by a process that then ended without finishing it."""
    import duckdb

    code = ("import sys; from qa.store import open_store, RunInfo; "
            "open_store(sys.argv[1]).start_run(RunInfo(run_id='killed-earlier'))")
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", code, str(db)], check=True, env={**os.environ})
    duckdb.connect(str(db), read_only=True).close()


def damaged_db(db: Path) -> None:
    db.write_bytes(os.urandom(20_000))
    old = os.path.getmtime(db) - 3600
    os.utime(db, (old, old))


def unreadable(made: Made) -> Made:
    for path in made.paths:
        path.chmod(0o000)
    return made


def symlinked_folder(inbox: Path) -> Made:
    outside = inbox.parent / "outside"
    outside.mkdir(exist_ok=True)
    _json(outside / "linked.chat.json", {**CHAT, "id": "bad-linked"})
    (inbox / "linked").symlink_to(outside, target_is_directory=True)
    return Made([inbox / "linked" / "linked.chat.json"], ["bad-linked"])


def unreadable_folder(inbox: Path) -> Made:
    folder = inbox / "closed"
    folder.mkdir()
    _json(folder / "inside.chat.json", {**CHAT, "id": "bad-inside"})
    folder.chmod(0o000)
    return Made([folder])


def _kinds() -> list[Kind]:
    k = Kind
    t0 = TRANSCRIPT["turns"][0]
    return [
        # --- calls: audio ---------------------------------------------------------------------------------------
        k("call: empty file", "fail", lambda d: Made([_text(d / "empty.wav", b"")])),
        k("call: corrupt FLAC", "fail", lambda d: Made([_text(d / "corrupt.flac",
                                                              (FIXTURES / "corrupt.flac").read_bytes())])),
        k("call: FLAC cut in half (being copied)", "fail", lambda d: Made([_text(
            d / "half.flac", (SAMPLES / "call_escalation.flac").read_bytes()[:450_000])])),
        k("call: PCM WAV cut at 30 KB", "fail", lambda d: Made([cut(wav(d / "cut.wav", noise=0.05), 30_000)])),
        k("call: A-law WAV cut at 30 KB", "fail", lambda d: Made([cut(alaw_wav_with_fact(d / "alaw.wav"),
                                                                      30_000)])),
        k("call: WAV header only", "fail", lambda d: Made([cut(wav(d / "header.wav"), 44)])),
        k("call: random bytes as .wav", "fail", lambda d: Made([_text(d / "noise.wav", os.urandom(50_000))])),
        k("call: random bytes as .mp3", "fail", lambda d: Made([_text(d / "noise.mp3", os.urandom(50_000))])),
        k("call: text file named .ogg", "fail", lambda d: Made([_text(d / "notes.ogg", "not audio at all\n" * 100)])),
        k("call: 3 s of digital silence", "fail", lambda d: Made([_text(
            d / "silence.flac", (FIXTURES / "silence_3s.flac").read_bytes())])),
        k("call: 60 s of line noise only", "fail", lambda d: Made([wav(d / "hiss.wav", noise=0.01)])),
        k("call: 0.1 s long", "fail", lambda d: Made([wav(d / "blip.wav", seconds=0.1, noise=0.2)])),
        k("call: 3 channels, no mapping", "fail", lambda d: Made([wav(d / "three.wav", channels=3, seconds=5,
                                                                      noise=0.1)])),
        k("call: mono file, sidecar names right", "fail", lambda d: call(d, "mono_right", {
            "channels": {"left": "operator", "right": "client"}}, audio="call_mono.ogg")),
        k("call: headerless .al without raw_format", "fail", lambda d: raw_alaw(d, "noformat", None)),
        k("call: raw_format codec mp3", "fail", lambda d: raw_alaw(d, "badcodec", {"codec": "mp3",
                                                                                  "sample_rate": 8000})),
        k("call: raw_format sample_rate -1", "fail", lambda d: raw_alaw(d, "badrate", {"codec": "alaw",
                                                                                      "sample_rate": -1})),
        k("call: still being copied (settle 60 s)", "skip", lambda d: fresh(call(d, "copying")),
          args=("--settle", "60")),
        k("call: unreadable (chmod 000)", "fail", lambda d: unreadable(call(d, "closed")), unprivileged=True),
        # --- call sidecars ----------------------------------------------------------------------------------------
        k("sidecar: invalid JSON", "fail", lambda d: call(d, "sc_json", '{"id": "x",')),
        k("sidecar: empty file", "fail", lambda d: call(d, "sc_empty", "")),
        k("sidecar: a JSON array", "fail", lambda d: call(d, "sc_array", "[1, 2]")),
        k("sidecar: not UTF-8 (cp1251)", "fail", lambda d: call(d, "sc_cp1251", '{"team": "отдел"}'.encode("cp1251"))),
        k("sidecar: channel key 'foo'", "fail", lambda d: call(d, "sc_foo", {"channels": {"foo": "operator"}})),
        k("sidecar: both channels operator", "fail", lambda d: call(d, "sc_both", {
            "channels": {"left": "operator", "right": "operator"}})),
        k("sidecar: channel speaker 'boss'", "fail", lambda d: call(d, "sc_boss", {"channels": {"left": "boss"}})),
        k("sidecar: channels {}", "fail", lambda d: call(d, "sc_nochan", {"channels": {}})),
        k("sidecar: started_at 'вчера'", "fail", lambda d: call(d, "sc_when", {"started_at": "вчера"})),
        k("sidecar: started_at without zone", "warn", lambda d: call(d, "sc_naive", {
            "started_at": "2026-11-27T10:15:00"})),
        k("sidecar: 2 MiB", "fail", lambda d: call(d, "sc_big", {"pbx_dump": "x" * (2 << 20)})),
        k("sidecar: 100 KB of metadata", "fail", lambda d: call(d, "sc_meta", {"crm": "x" * 100_000})),
        k("sidecar: metadata nested 50 deep", "fail", lambda d: call(d, "sc_deep", {"tree": json.loads(nested(50))})),
        k("sidecar: id ''", "fail", lambda d: call(d, "sc_noid", {"id": ""})),
        k("sidecar: id 500 characters", "fail", lambda d: call(d, "sc_longid", {"id": "x" * 500})),
        k("sidecar: id with a control character", "fail", lambda d: call(d, "sc_ctrl", {"id": "call\x07bell"})),
        k("sidecar: id with '/'", "store", lambda d: Made(call(d, "sc_slash", {"id": "team/2026/7"}).paths,
                                                           ["team/2026/7"])),
        k("sidecar: numeric id", "store", lambda d: Made(call(d, "sc_num", {"id": 12345}).paths, ["12345"])),
        k("sidecar: team as an object", "fail", lambda d: call(d, "sc_team", {"team": {"name": "x"}})),
        k("sidecar: key typo 'teem'", "warn", lambda d: call(d, "sc_typo", json.dumps(  # 'teem' instead of 'team'
            {**{key: v for key, v in SIDECAR.items() if key != "team"}, "id": "bad-sc_typo", "teem": "team-north"}))),
        k("sidecar: id of the other call", "fail", lambda d: Made(call(d, "sc_dup", {"id": "call-0001"}).paths)),
        # --- chats ----------------------------------------------------------------------------------------------
        k("chat: invalid JSON", "fail", lambda d: Made([_text(d / "c_json.chat.json", '{"messages": [')])),
        k("chat: empty file", "fail", lambda d: Made([_text(d / "c_empty.chat.json", "")])),
        k("chat: a JSON array", "fail", lambda d: Made([_text(d / "c_array.chat.json", "[]")])),
        k("chat: no messages field", "fail", lambda d: chat(d, "c_nomsg", messages=None)),
        k("chat: messages []", "fail", lambda d: chat(d, "c_zero", messages=[])),
        k("chat: role 'boss'", "fail", lambda d: chat(d, "c_role", messages=[{**CHAT["messages"][0],
                                                                              "role": "boss"}])),
        k("chat: message without 'at'", "fail", lambda d: chat(d, "c_noat", messages=[
            {"role": "client", "text": "алло"}])),
        k("chat: at 'вчера'", "fail", lambda d: chat(d, "c_at", messages=[{**CHAT["messages"][0], "at": "вчера"}])),
        k("chat: text is a list", "fail", lambda d: chat(d, "c_textlist", messages=[{**CHAT["messages"][0],
                                                                                     "text": ["a"]}])),
        k("chat: nested 100,000 levels", "fail", lambda d: Made([_text(
            d / "c_deep.chat.json", '{"id": "deep", "messages": ' + json.dumps(CHAT["messages"]) + ', "x": '
            + nested(100_000) + "}")])),
        k("chat: times without a zone", "warn", lambda d: chat(d, "c_naive", messages=[
            {**m, "at": m["at"][:19]} for m in CHAT["messages"]])),
        k("chat: zoned and unzoned times mixed", "warn", lambda d: chat(d, "c_mixed", messages=[
            {**m, "at": m["at"][:19] if i % 2 else m["at"]} for i, m in enumerate(CHAT["messages"])])),
        k("chat: id of the call", "fail", lambda d: Made(chat(d, "c_dup", id="call-0001").paths)),
        k("chat: the same file twice", "dedupe", lambda d: Made([_text(
            d / "copy_of_good.chat.json", (SAMPLES / "chat_good.chat.json").read_bytes())])),
        k("chat: 65 MiB file", "fail", lambda d: Made([_text(d / "c_huge.chat.json", b" " * (65 << 20) + b"{}")])),
        k("chat: not UTF-8 (cp1251)", "fail", lambda d: Made([_text(
            d / "c_cp1251.chat.json", json.dumps(CHAT, ensure_ascii=False).encode("cp1251", "replace"))])),
        k("chat: UTF-8 with a byte-order mark", "store", lambda d: Made([_text(
            d / "c_bom.chat.json", "\ufeff" + json.dumps({**CHAT, "id": "bad-bom"}, ensure_ascii=False))],
            ["bad-bom"])),
        k("chat: every text empty", "fail", lambda d: chat(d, "c_blank", messages=[
            {**m, "text": " "} for m in CHAT["messages"]])),
        k("chat: unicode file name with spaces", "store", lambda d: Made([_json(
            d / "чат от клиента 1.chat.json", {**CHAT, "id": "bad-unicode"})], ["bad-unicode"])),
        k("chat: 100 KB of metadata", "fail", lambda d: chat(d, "c_meta", crm="x" * 100_000)),
        # --- transcripts ----------------------------------------------------------------------------------------
        k("transcript: start NaN", "fail", lambda d: Made([_text(d / "t_nan.transcript.json", json.dumps(
            {**TRANSCRIPT, "id": "bad-nan", "turns": turn0(start=float("nan"))}))])),
        k("transcript: end Infinity", "fail", lambda d: Made([_text(d / "t_inf.transcript.json", json.dumps(
            {**TRANSCRIPT, "id": "bad-inf", "turns": turn0(end=float("inf"))}))])),
        k("transcript: end 1e300", "fail", lambda d: transcript(d, "t_huge", turn0(end=1e300))),
        k("transcript: negative start", "fail", lambda d: transcript(d, "t_neg", turn0(start=-1))),
        k("transcript: end before start", "fail", lambda d: transcript(d, "t_back", turn0(start=5, end=1))),
        k("transcript: start as text", "fail", lambda d: transcript(d, "t_str", turn0(start="0.4"))),
        k("transcript: word start 'abc'", "fail", lambda d: transcript(d, "t_word", turn0(words=[
            {"text": "Здравствуйте", "start": "abc", "end": 1.0}]))),
        k("transcript: word without end", "fail", lambda d: transcript(d, "t_wordend", turn0(words=[
            {"text": "Здравствуйте", "start": 0.4}]))),
        k("transcript: word probability 5", "fail", lambda d: transcript(d, "t_prob", turn0(words=[
            {"text": "Здравствуйте", "start": 0.4, "end": 1.0, "probability": 5}]))),
        k("transcript: speaker 'robot'", "fail", lambda d: transcript(d, "t_robot", turn0(speaker="robot"))),
        k("transcript: no turns", "fail", lambda d: transcript(d, "t_noturns", turns=[])),
        k("transcript: times past duration_s", "fail", lambda d: transcript(d, "t_past", duration_s=5.0)),
        k("transcript: turns out of order", "store", lambda d: transcript(d, "t_order", turns=list(
            reversed(TRANSCRIPT["turns"])))),
        k("transcript: 100 KB of metadata", "fail", lambda d: transcript(d, "t_meta", crm="x" * 100_000)),
        k("transcript: turn is a string", "fail", lambda d: transcript(d, "t_turnstr", turns=["hello"])),
        k("transcript: id of the chat", "fail", lambda d: Made(transcript(d, "t_dup", id="chat-0001", turns=[
            {**t0, "text": "другой текст"}]).paths)),
        # --- the inbox ------------------------------------------------------------------------------------------
        k("inbox: chat in a symlinked folder", "store", symlinked_folder),
        k("inbox: symlink loop", "skip", lambda d: Made([_link(d / "loop", d)])),
        k("inbox: broken symlink", "skip", lambda d: Made([_link(d / "gone.wav", d / "nowhere.wav")])),
        k("inbox: named pipe", "skip", lambda d: Made([_fifo(d / "pipe.chat.json")])),
        k("inbox: unreadable chat (chmod 000)", "fail", lambda d: unreadable(Made([_text(
            d / "closed.chat.json", json.dumps({**CHAT, "id": "bad-closed"}))])), unprivileged=True),
        k("inbox: unreadable folder", "fail", unreadable_folder, unprivileged=True),
        k("inbox: unknown type .docx", "fail", lambda d: Made([_text(d / "report.docx", b"PK\x03\x04")])),
        k("inbox: JSON that is no sidecar", "fail", lambda d: Made([_json(d / "orphan.json", {"id": "x"})])),
        # --- the run --------------------------------------------------------------------------------------------
        k("run: --model pointing nowhere", "refuse", lambda d: Made([]), args=("--model", "/nonexistent/model")),
        k("run: --device gpu", "refuse", lambda d: Made([]), args=("--device", "gpu")),
        k("run: --channels operator,operator", "refuse", lambda d: Made([]), args=("--channels",
                                                                                   "operator,operator")),
        k("run: --settle abc", "refuse", lambda d: Made([]), args=("--settle", "abc")),
        k("run: damaged database file", "refuse", lambda d: Made([]), before=damaged_db),
        k("run: an earlier run killed mid-way", "note", lambda d: Made([]), before=dead_run),
    ]


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


KINDS = _kinds()

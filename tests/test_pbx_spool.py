"""The nightly flow for real over a fake Asterisk/FreePBX spool: recordings named as FreePBX names them (mono mixes,
split `-in`/`-out` legs in A-law, a lone leg), the Asterisk Master.csv of those calls (answered, queue ring
attempts, missed, busy, too short, a transfer and its consultation call) and the operator directory, read through
`qa run` with only qa.toml's [[sources]] into DuckDB; then `qa sources check` and the conversation page.

The audio is the bundled sample calls cut to their first 25 s and written as a PBX writes them (8 kHz WAV, PCM or
A-law); the call log and directory are tests/fixtures/pbx/ (see its README for the column order's origin)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.speech.audio import TARGET_RATE
from qa.store import open_store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
PBX = REPO / "tests" / "fixtures" / "pbx"
runner = CliRunner()
CUT_S = 25.0

QA_TOML = """\
[qa]
db = "qa.duckdb"
timezone = "Europe/Moscow"

[[sources]]
name = "asterisk"
folder = "spool/monitor"
pattern = "{direction}-{dst}-{src}-{date:%Y%m%d}-{time:%H%M%S}-{uniqueid}"
directory = "operators.csv"

[sources.call_log]
path = "Master.csv"
format = "asterisk"
min_billsec = 5
"""

MSK = "+03:00"
# id -> (operator, team, CDR start in Moscow time); the file names' times differ: the call log wins
EXPECTED = {
    "1795763700.11": ("op-anna", "team-north", "2026-11-27T10:14:55"),  # queue: 203 did not answer, 201 did
    "1795767600.21": ("op-ivan", "team-south", "2026-11-27T11:19:58"),  # split legs, operator on the callee leg
    "1795770300.31": ("op-olga", "team-north", "2026-11-27T12:05:00"),  # answered by 203, transferred to 202
    "1795770320.35": ("op-ivan", "team-south", "2026-11-27T12:05:20"),  # 203's consultation call to 202
    "1795779000.71": ("op-anna", "team-north", "2026-11-27T14:30:00"),  # outbound, only its -in leg recorded
}


def _write(path: Path, channels: list[np.ndarray], fmt: str) -> None:
    from qa.speech.audio import TARGET_RATE, encode_audio

    path.write_bytes(encode_audio(channels, TARGET_RATE, fmt))


def build_spool(root: Path) -> Path:
    """A FreePBX-style spool (monitor/YYYY/MM/DD) beside Master.csv, operators.csv and qa.toml; the qa.toml path."""
    from qa.speech.audio import TARGET_RATE, decode_audio

    day = root / "spool" / "monitor" / "2026" / "11" / "27"
    day.mkdir(parents=True)
    cut = int(CUT_S * TARGET_RATE)

    def sample(name: str) -> list[np.ndarray]:
        return [c[:cut] for c in decode_audio(SAMPLES / name).channels]

    def mix(channels: list[np.ndarray]) -> list[np.ndarray]:
        return [np.clip(np.sum(channels, axis=0), -1, 1).astype(np.float32)]

    compliant, stopwords, escalation = (sample(n) for n in ("call_compliant.flac", "call_stopwords.flac",
                                                            "call_escalation.flac"))
    silence = [np.zeros(TARGET_RATE, dtype=np.float32)]
    operator, client = 0, 1  # the samples' left and right channels
    _write(day / "in-4950000000-79161234567-20261127-101500-1795763700.11.wav", mix(compliant), "wav-8k")
    # Monitor()'s legs on the caller's (trunk's) channel: -in = what the caller said, -out = what they heard
    _write(day / "in-4950000000-79031112233-20261127-112000-1795767600.21-in.wav", [stopwords[client]], "wav-alaw")
    _write(day / "in-4950000000-79031112233-20261127-112000-1795767600.21-out.wav", [stopwords[operator]],
           "wav-alaw")
    _write(day / "in-4950000000-79265554433-20261127-120500-1795770300.31.wav", mix(escalation), "wav-8k")
    _write(day / "exten-202-203-20261127-120520-1795770320.35.wav", sample("call_mono.ogg"), "wav-8k")
    _write(day / "in-4950000000-79160001122-20261127-124000-1795772400.41.wav", silence, "wav-8k")  # NO ANSWER
    _write(day / "in-4950000000-79160005566-20261127-140000-1795777200.61.wav", silence, "wav-8k")  # billsec 3
    _write(day / "out-79035556677-201-20261127-143000-1795779000.71-in.wav",
           [compliant[operator][: 12 * TARGET_RATE]], "wav-alaw")  # its -out leg is missing
    shutil.copy(PBX / "Master.csv", root / "Master.csv")
    shutil.copy(PBX / "operators.csv", root / "operators.csv")
    config = root / "qa.toml"
    config.write_text(QA_TOML, encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def spool(tmp_path_factory, transcript_cache):
    """Two `qa run`s over the spool (the second must add nothing), and `qa sources check` of it."""
    root = tmp_path_factory.mktemp("pbx")
    config = build_spool(root)
    env = {"QA_CONFIG": str(config)}
    db = root / "qa.duckdb"
    args = ["run", "--db", str(db), "--cache-dir", str(transcript_cache), "--rules", str(REPO / "scripts_rules")]
    with pytest.MonkeyPatch.context() as patch:
        seen = _watch_decoding(patch)
        first = runner.invoke(app, args, env=env)
    second = runner.invoke(app, args, env=env)
    check = runner.invoke(app, ["sources", "check", "--limit", "0"], env=env)
    check_json = runner.invoke(app, ["sources", "check", "--format", "json"], env=env)
    return {"root": root, "db": db, "first": first, "second": second, "check": check, "check_json": check_json,
            "env": env, "seen": seen}


def _watch_decoding(patch: pytest.MonkeyPatch) -> dict[str, list]:
    """Record, during the first run, what was decoded whole, the blocks split legs were read in, and each call the
    transcriber was given with its legs (the transcriber, the arguments, the transcript)."""
    from qa.speech import audio, legs
    from qa.speech.transcribe.transcriber import Transcriber

    seen: dict[str, list] = {"whole": [], "leg_blocks": [], "transcribed": []}
    decode, decode_legs, blocks, transcribe = audio.decode_audio, legs.decode_legs, legs.LegsStream.blocks, \
        Transcriber.transcribe

    def whole(path, *args, **kwargs):
        seen["whole"].append(str(path))
        return decode(path, *args, **kwargs)

    def whole_legs(paths, *args, **kwargs):
        seen["whole"].extend(map(str, paths))
        return decode_legs(paths, *args, **kwargs)

    def leg_blocks(self):
        for block in blocks(self):
            seen["leg_blocks"].append(block.shape)
            yield block

    def transcribed(self, path, *args, **kwargs):
        result = transcribe(self, path, *args, **kwargs)
        if kwargs.get("legs"):
            seen["transcribed"].append((self, path, kwargs, result))
        return result

    patch.setattr(audio, "decode_audio", whole)
    patch.setattr(legs, "decode_legs", whole_legs)
    patch.setattr(legs.LegsStream, "blocks", leg_blocks)
    patch.setattr(Transcriber, "transcribe", transcribed)
    return seen


def rows(db: Path, sql: str, *params) -> list[dict]:
    columns, data = open_store(db).query(sql, params)
    return [dict(zip(columns, r, strict=True)) for r in data]


def test_every_stored_call_has_its_operator_team_and_start(spool):
    assert spool["first"].exit_code == 0, spool["first"].output
    stored = {r["conversation_id"]: r for r in rows(spool["db"], "SELECT conversation_id, operator_id, team, "
                                                    "started_at, metadata FROM conversations")}
    assert set(stored) == set(EXPECTED)  # the missed and the too-short call are not stored
    for cid, (operator, team, start) in EXPECTED.items():
        row = stored[cid]
        assert (row["operator_id"], row["team"]) == (operator, team), cid
        assert row["started_at"].astimezone(UTC) == datetime.fromisoformat(start + MSK).astimezone(UTC), cid
        sources = json.loads(row["metadata"])["field_sources"]
        assert (sources["id"], sources["started_at"], sources["operator_id"], sources["team"]) == \
            ("call_log", "call_log", "directory", "directory"), cid
    assert json.loads(stored["1795763700.11"]["metadata"])["direction"] == "inbound"


def test_skipped_calls_are_counted_not_scored_as_silent(spool):
    assert rows(spool["db"], "SELECT source_path FROM failures") == []
    (run,) = rows(spool["db"], "SELECT settings, processed FROM runs ORDER BY started_at LIMIT 1")
    (report,) = json.loads(run["settings"])["sources"]
    assert run["processed"] == 5
    assert report["counts"]["files"] == 8 and report["counts"]["calls"] == 5 and report["counts"]["paired"] == 1
    problems = report["problems"]
    assert (problems["not_answered"], problems["too_short"], problems["unpaired_leg"], problems["no_file"]) == \
        (1, 1, 1, 1)
    assert problems["duplicate_uniqueid"] == 1  # the transfer (a queue's unanswered ring attempt is no duplicate)
    assert "1795781000.91" in report["examples"]["no_file"][0]
    output = spool["first"].output
    assert "skipped by the call log: 1 not answered, 1 too short" in output


def test_split_legs_are_one_two_channel_call_with_the_directory_extension_as_operator(spool):
    (conv,) = rows(spool["db"], "SELECT speaker_mode, metadata FROM conversations "
                                "WHERE conversation_id = '1795767600.21'")
    meta = json.loads(conv["metadata"])
    assert conv["speaker_mode"] == "stereo"
    assert meta["channels"] == {"0": "client", "1": "operator"} and meta["field_sources"]["channels"] == "directory"
    assert [Path(p).name.rsplit("-", 1)[1] for p in meta["legs"]] == ["in.wav", "out.wav"]
    said = {r["speaker"]: r["text"] for r in rows(spool["db"], "SELECT speaker, string_agg(text, ' ') AS text "
                                                  "FROM utterances WHERE conversation_id = '1795767600.21' "
                                                  "GROUP BY speaker")}
    assert set(said) == {"operator", "client"}
    # the operator's turns come from the -out leg (the callee's), the client's from the -in leg
    assert "девушк" in said["operator"].lower() and "авари" in said["operator"].lower()
    assert "интернет" in said["client"].lower() and "девушк" not in said["client"].lower()


def test_split_legs_are_streamed_block_by_block_and_transcribed_as_when_decoded_whole(spool):
    """The flow reads the legs through one stream (never a leg decoded whole), and the transcript is the one the
    legs decoded whole and put side by side (as before streaming) give."""
    from qa.speech.audio import DecodedAudio, decode_audio
    from qa.speech.legs import legs_sha256

    seen = spool["seen"]
    ((transcriber, path, kwargs, transcript),) = seen["transcribed"]
    legs = [Path(p) for p in kwargs["legs"]]
    assert [p.name.rsplit("-", 1)[1] for p in legs] == ["in.wav", "out.wav"]
    assert not {str(p) for p in legs} & set(seen["whole"])
    assert seen["leg_blocks"] and max(shape[1] for shape in seen["leg_blocks"]) < TARGET_RATE
    assert {shape[0] for shape in seen["leg_blocks"]} == {2}
    whole = [decode_audio(p) for p in legs]  # the legs as they were joined before: each decoded whole
    length = max(len(d.channels[0]) for d in whole)
    channels = [np.pad(d.channels[0], (0, length - len(d.channels[0]))) for d in whole]
    before = transcriber.transcribe_audio(DecodedAudio(channels, length / TARGET_RATE, 8000, 2), Path(path),
                                          legs_sha256(legs), kwargs.get("channels"), kwargs.get("hints"))
    assert transcript.stats["words"] > 20
    def said(t):  # the flow analysed its transcript in place (tokens): the words, their times and speakers
        return [(u.speaker, u.start, u.end, u.text, u.words) for u in t.utterances], t.duration_s

    assert said(transcript) == said(before)


def test_an_unpaired_leg_is_scored_as_mono(spool):
    (conv,) = rows(spool["db"], "SELECT speaker_mode, metadata FROM conversations "
                                "WHERE conversation_id = '1795779000.71'")
    assert conv["speaker_mode"] == "mono" and json.loads(conv["metadata"])["leg"] == "in"
    assert "unpaired leg" in spool["first"].output


def test_a_transfer_stays_one_conversation_and_the_consultation_is_linked(spool):
    metas = {r["conversation_id"]: json.loads(r["metadata"]) for r in
             rows(spool["db"], "SELECT conversation_id, metadata FROM conversations")}
    transferred = metas["1795770300.31"]
    assert [(t["extension"], t["operator_id"]) for t in transferred["transfers"]] == [("202", "op-ivan")]
    assert transferred["linked"] == ["1795770320.35"] and metas["1795770320.35"]["linked"] == ["1795770300.31"]


def test_a_second_run_adds_nothing(spool):
    assert spool["second"].exit_code == 0, spool["second"].output
    runs = rows(spool["db"], "SELECT processed, skipped FROM runs ORDER BY started_at")
    assert [(r["processed"], r["skipped"]) for r in runs] == [(5, 0), (0, 5)]


def test_sources_check_lists_what_would_be_read_and_every_problem(spool):
    check = spool["check"]
    assert check.exit_code == 0, check.output
    text = check.output
    for expected in ("1795767600.21", "op-ivan", "0=client 1=operator", "1 files whose call-log rows are none",
                     "Master.csv:11: uniqueid 1795781000.91", "no callee leg; scored as mono",
                     "1795770300.31: 2 answered rows (Master.csv:4, Master.csv:6)"):
        assert expected in text, expected
    (source,) = json.loads(spool["check_json"].output)
    by_id = {c["id"]: c for c in source["calls"]}
    assert set(by_id) == set(EXPECTED)
    assert by_id["1795763700.11"]["started_at"] == "2026-11-27T10:14:55+03:00"
    assert by_id["1795763700.11"]["sources"]["direction"] == "file_name"


def test_the_conversation_page_shows_where_each_field_came_from(spool):
    from test_web import signed_in

    page = signed_in(spool["db"], "lead").get("/conversations/1795770300.31")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-field="operator_id" data-source="directory"' in html and "справочник операторов" in html
    assert 'data-field="started_at" data-source="call_log"' in html and "журнал звонков АТС" in html
    assert 'data-field="src"' in html and "79265554433" not in html  # the caller's number masked: [ТЕЛЕФОН]
    assert 'href="/conversations/1795770320.35"' in html
    audio = signed_in(spool["db"], "lead2").get("/audio/1795767600.21")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    # split legs go through the beeping too, and the listening is audited
    played = open_store(spool["db"]).query("SELECT username, detail FROM audit WHERE action = 'audio_played' AND "
                                           "conversation_id = '1795767600.21'")[1]
    assert [(user, detail.split(" ")[0]) for user, detail in played] == [("lead2", "beeped")]

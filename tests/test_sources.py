"""PBX sources without audio decoding: [[sources]] in qa.toml, file-name patterns, call logs (Asterisk Master.csv,
FreePBX's CDR export, a cloud PBX's CSV), the operator directory, and how a source's files become calls — with
every skipped, refused or doubtful file and row counted. The recordings here are placeholder bytes: nothing is
decoded (tests/test_pbx_spool.py runs real audio through the flow)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.config import CallLogSettings, ConfigError, DirectorySettings, SourceSettings, load_config
from qa.errors import SourceError
from qa.inbox.calllog import answered_value, channel_extension, direction_value, parse_seconds, parse_time
from qa.inbox.calllog import read_call_log as _read_call_log
from qa.inbox.filenames import compile_pattern, field_time, split_leg, unusual_name
from qa.inbox.report import SourceReport
from qa.inbox.sources import scan_source
from qa.inbox.tables import read_csv

REPO = Path(__file__).resolve().parents[1]
PBX = REPO / "tests" / "fixtures" / "pbx"
FREEPBX = "{direction}-{dst}-{src}-{date:%Y%m%d}-{time:%H%M%S}-{uniqueid}"
runner = CliRunner()


def read_call_log(settings: CallLogSettings, zone: str = "Europe/Moscow") -> tuple[list, SourceReport]:
    report = SourceReport("test", "")
    return _read_call_log(settings, zone, report, "sources[test].call_log"), report


def touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")


# --- file names ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "name", "fields"), [
    (FREEPBX, "in-4950000000-79161234567-20261127-101500-1795763700.11.wav",
     {"direction": "in", "dst": "4950000000", "src": "79161234567", "date": "20261127", "time": "101500",
      "uniqueid": "1795763700.11"}),
    (FREEPBX, "out-79035556677-201-20261127-143000-1795779000.71.mp3",
     {"direction": "out", "dst": "79035556677", "src": "201", "date": "20261127", "time": "143000",
      "uniqueid": "1795779000.71"}),
    (FREEPBX + ".wav", "in-1-2-20261127-101500-17.5.WAV", {"direction": "in", "dst": "1", "src": "2",
                                                           "date": "20261127", "time": "101500", "uniqueid": "17.5"}),
    (FREEPBX + ".wav", "in-1-2-20261127-101500-17.5.mp3", None),  # the pattern names .wav
    (FREEPBX, "in-1-2-2026112-101500-17.5.wav", None),  # seven digits are no %Y%m%d
    ("{uniqueid}", "rec-0001.mp3", {"uniqueid": "rec-0001"}),
    ("{_}_{extension}_{datetime:%Y-%m-%d_%H-%M-%S}", "Входящий_201_2026-11-27_10-15-00.mp3",
     {"extension": "201", "datetime": "2026-11-27_10-15-00"}),
])
def test_a_pattern_reads_the_fields_of_a_file_name(pattern, name, fields):
    compiled = compile_pattern(pattern, "sources[x].pattern")
    assert compiled.match(name, Path(name).stem) == fields


@pytest.mark.parametrize(("pattern", "message"), [
    ("{direction}-{dts}-{uniqueid}", "unknown field {dts} (did you mean {dst}?)"),
    ("{date:%Y%m%d}-{date:%H}", "field {date} appears twice"),
    ("{date:%Y%q}", "%q is not a strftime directive"),
    ("{date}-{uniqueid}", "{date} needs its strftime format"),
    ("{uniqueid}}", "unbalanced brace"),
])
def test_a_bad_pattern_is_a_config_error_naming_it(pattern, message):
    with pytest.raises(ConfigError, match=r"sources\[x\]\.pattern") as caught:
        compile_pattern(pattern, "qa.toml: sources[x].pattern")
    assert message in str(caught.value)


def test_file_name_times_are_in_the_source_time_zone_and_bad_ones_are_errors():
    formats = {"date": "%Y%m%d", "time": "%H%M%S"}
    moment = field_time({"date": "20261127", "time": "101500"}, formats, "Europe/Moscow")
    assert moment == datetime(2026, 11, 27, 7, 15, tzinfo=UTC)
    with pytest.raises(ValueError):
        field_time({"date": "20261399", "time": "101500"}, formats, "Europe/Moscow")


@pytest.mark.parametrize(("stem", "leg"), [
    ("in-1-2-20261127-101500-17.5-in", ("in-1-2-20261127-101500-17.5", "in")),
    ("17.5-out", ("17.5", "out")), ("17.5_r", ("17.5", "r")), ("17.5-t", ("17.5", "t")),
    ("17.5-inside", None), ("in", None),
])
def test_split_leg_suffixes(stem, leg):
    assert split_leg(stem, ["in", "out", "r", "t"]) == leg


@pytest.mark.parametrize(("name", "why"), [
    ("in-1-2.wav", None), ("Звонок.wav", "Cyrillic letters"), ("call 1.wav", "spaces"),
    ("Звонок 1.wav", "Cyrillic letters and spaces"),
])
def test_unusual_names(name, why):
    assert unusual_name(name) == why


# --- call-log values ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "utc", "expected"), [
    ("2026-11-27 10:14:55", False, "2026-11-27T07:14:55+00:00"),  # Asterisk's %Y-%m-%d %T, local time
    ("2026-11-27 10:14:55", True, "2026-11-27T10:14:55+00:00"),  # usegmtime=yes
    ("27.11.2026 10:15:00", False, "2026-11-27T07:15:00+00:00"),  # a Russian export
    ("27.11.2026 10:15", False, "2026-11-27T07:15:00+00:00"),
    ("2026-11-27T10:15:00+05:00", False, "2026-11-27T05:15:00+00:00"),  # a zone given wins
    ("1795763700", False, "2026-11-27T07:15:00+00:00"),  # Unix time
])
def test_call_log_times(text, utc, expected):
    assert parse_time(text, "Europe/Moscow", utc).astimezone(UTC).isoformat() == expected


@pytest.mark.parametrize("text", ["31.11.2026 14:00:00", "вчера", "2026-13-01 10:00:00"])
def test_malformed_call_log_times_raise(text):
    with pytest.raises(ValueError):
        parse_time(text, "Europe/Moscow")


@pytest.mark.parametrize(("text", "seconds"), [("58", 58), ("58,5", 58.5), ("2:05", 125), ("00:02:05", 125),
                                               ("", None)])
def test_call_log_durations(text, seconds):
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize(("word", "answered"), [("ANSWERED", True), ("NO ANSWER", False), ("BUSY", False),
                                               ("Отвечен", True), ("Не отвечен", False), ("пропущен", False),
                                               ("Дозвонился", None), ("", None)])
def test_dispositions(word, answered):
    assert answered_value(word) is answered


def test_extra_answered_words_from_the_config():
    assert answered_value("Дозвонился", ("дозвонился",)) is True


@pytest.mark.parametrize(("word", "expected"), [("in", ("inbound", True)), ("out", ("outbound", True)),
                                               ("exten", ("internal", True)), ("Входящий", ("inbound", True)),
                                               ("conf", ("conf", False)), ("", (None, True))])
def test_directions(word, expected):
    assert direction_value(word) == expected


@pytest.mark.parametrize(("channel", "extension"), [("PJSIP/201-0000001a", "201"), ("SIP/202-00000abc", "202"),
                                                    ("Local/203@from-queue-00000012;1", "203"),
                                                    ("IAX2/204-1234", "204"), ("", None)])
def test_extensions_in_channel_names(channel, extension):
    assert channel_extension(channel) == extension


# --- call logs --------------------------------------------------------------------------------------------------

def test_asterisk_master_csv_in_the_cdr_csv_column_order():
    rows, report = read_call_log(CallLogSettings(path=str(PBX / "Master.csv"), format="asterisk"))
    assert len(rows) == 11 and report.problems == {}
    queue_try, answered = rows[0], rows[1]
    assert (queue_try.uniqueid, queue_try.answered, queue_try.dstchannel_ext) == ("1795763700.11", False, "203")
    assert (answered.src, answered.dst, answered.channel_ext, answered.dstchannel_ext) == \
        ("79161234567", "400", "trunk", "201")
    assert (answered.billsec, answered.disposition, answered.linkedid) == (58, "ANSWERED", "1795763700.11")
    assert answered.start == datetime(2026, 11, 27, 7, 14, 55, tzinfo=UTC)


def test_usegmtime_reads_the_times_as_utc():
    rows, _ = read_call_log(CallLogSettings(path=str(PBX / "Master.csv"), format="asterisk", usegmtime=True))
    assert rows[1].start == datetime(2026, 11, 27, 10, 14, 55, tzinfo=UTC)


def test_master_csv_without_the_optional_columns(tmp_path):
    """cdr.conf with loguniqueid=no, loguserfield=no: 16 columns, no uniqueid; a row of another width is reported."""
    import csv

    rows = list(csv.reader((PBX / "Master.csv").open(encoding="utf-8")))
    with (tmp_path / "Master.csv").open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, quoting=csv.QUOTE_NONNUMERIC).writerows([*(r[:16] for r in rows[2:4]), rows[0]])
    settings = CallLogSettings(path=str(tmp_path / "Master.csv"), format="asterisk", loguniqueid=False,
                               loguserfield=False, newcdrcolumns=False)
    rows, report = read_call_log(settings)
    assert [r.src for r in rows] == ["79031112233", "79265554433"] and rows[0].uniqueid is None
    assert report.problems == {"malformed_row": 1}
    assert "Master.csv:3: 21 columns, expected 16" in report.examples["malformed_row"][0]


def test_freepbx_cdr_export_by_its_header():
    rows, report = read_call_log(CallLogSettings(path=str(PBX / "freepbx_cdr.csv"), format="freepbx"))
    assert [r.uniqueid for r in rows] == ["1795763700.11", "1795767600.21", "1795772400.41", "1795779000.71"]
    assert rows[0].recordingfile == "in-4950000000-79161234567-20261127-101500-1795763700.11.wav"
    assert rows[0].did == "4950000000" and rows[2].answered is False
    assert report.problems == {}


def test_a_cloud_export_in_cp1251_with_semicolons_and_a_generic_mapping():
    settings = CallLogSettings(path=str(PBX / "cloud_calls.csv"), format="generic", columns={
        "uniqueid": "ID записи", "start": "Время", "direction": "Тип", "disposition": "Статус", "src": "Откуда",
        "dst": "Куда", "extension": "Кто ответил", "billsec": "Длительность разговора"})
    rows, report = read_call_log(settings)
    assert [r.uniqueid for r in rows] == ["rec-0001", "rec-0002", "rec-0003", "rec-0004", "rec-0005"]
    assert [r.direction for r in rows][:2] == ["inbound", "outbound"]
    assert [r.answered for r in rows] == [True, True, False, True, True]
    assert rows[3].extension == "ivan" and rows[0].start == datetime(2026, 11, 27, 7, 15, tzinfo=UTC)
    assert rows[4].start is None  # 31.11.2026
    assert report.problems == {"encoding": 1, "delimiter": 1, "malformed_date": 1}
    assert "31.11.2026 14:00:00" in report.examples["malformed_date"][0]
    assert any("cp1251" in n for n in report.notes) and any("semicolon" in n for n in report.notes)


def test_a_mapped_column_missing_from_the_header_names_the_file_and_the_nearest_column():
    settings = CallLogSettings(path=str(PBX / "cloud_calls.csv"), columns={"uniqueid": "ID запси"})
    with pytest.raises(SourceError, match=r"no column 'ID запси' .*did you mean 'ID записи'"):
        read_call_log(settings)


def test_an_explicit_encoding_that_does_not_fit_is_an_error():
    with pytest.raises(SourceError, match=r"cloud_calls\.csv: not utf-8 text"):
        read_csv(PBX / "cloud_calls.csv", encoding="utf-8")


# --- qa.toml ------------------------------------------------------------------------------------------------------

def test_sources_in_qa_toml(tmp_path):
    (tmp_path / "qa.toml").write_text(
        '[qa]\ntimezone = "Asia/Yekaterinburg"\n\n'
        '[[sources]]\nname = "pbx"\nfolder = "monitor"\npattern = "{uniqueid}"\ndirectory = "ops.csv"\n'
        '[sources.call_log]\npath = "Master.csv"\nformat = "asterisk"\nusegmtime = true\nmin_billsec = 3\n\n'
        '[[sources]]\nname = "cloud"\nfolder = "/srv/cloud"\ntimezone = "Europe/Moscow"\n'
        '[sources.call_log]\npath = "exports/*.csv"\ncolumns = {uniqueid = "ID", start = ["Дата", "Время"]}\n',
        encoding="utf-8")
    pbx, cloud = load_config(tmp_path / "qa.toml").sources
    assert (pbx.name, pbx.folder, pbx.patterns, pbx.timezone) == ("pbx", str(tmp_path / "monitor"), ("{uniqueid}",),
                                                                  "Asia/Yekaterinburg")
    assert pbx.call_log.usegmtime and pbx.call_log.min_billsec == 3 and pbx.directory.path == str(tmp_path / "ops.csv")
    assert cloud.timezone == "Europe/Moscow" and cloud.call_log.columns["start"] == ["Дата", "Время"]
    assert SourceSettings.from_dict(json.loads(json.dumps(pbx.as_dict()))) == pbx  # as a deployment keeps it


@pytest.mark.parametrize(("text", "message"), [
    ('[[sources]]\nfolder = "x"\nfolder_ = 1\n', "unknown key 'folder_' (did you mean 'folder'?)"),
    ('[[sources]]\nname = "a"\n', "sources[a].folder: the folder of the recordings is required"),
    ('[[sources]]\nfolder = "x"\n[sources.call_log]\npath = "m.csv"\nformat = "asterix"\n', "'asterix' is none of"),
    ('[[sources]]\nfolder = "x"\n[sources.call_log]\npath = "m.csv"\n', "a generic call log needs its column"),
    ('[[sources]]\nfolder = "x"\ntimezone = "Moscow"\n', "unknown time zone 'Moscow'"),
    ('[[sources]]\nfolder = "x"\nlegs = {in = "client"}\n', "'client' is neither 'caller' nor 'callee'"),
    ('[[sources]]\nfolder = "x"\n[sources.call_log]\npath = "m.csv"\nformat = "asterisk"\nusegmtime = "yes"\n',
     "usegmtime: expected true or false"),
    ('[[sources]]\nname = "a"\nfolder = "x"\n[[sources]]\nname = "a"\nfolder = "y"\n', "'a' names two sources"),
])
def test_bad_sources_are_config_errors_naming_the_key(tmp_path, text, message):
    (tmp_path / "qa.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "qa.toml")
    assert str(caught.value).startswith(str(tmp_path / "qa.toml")) and message in str(caught.value)


# --- reading a source ---------------------------------------------------------------------------------------------

def source(folder: Path, log: CallLogSettings | None = None, directory: bool = True, **kw) -> SourceSettings:
    return SourceSettings(name="pbx", folder=str(folder), patterns=kw.pop("patterns", (FREEPBX,)), call_log=log,
                          directory=DirectorySettings(str(PBX / "operators.csv")) if directory else None, **kw)


def by_id(scan) -> dict:
    return {c.info.conversation_id: c for c in scan.calls}


def test_freepbx_recordingfile_matches_a_converted_mp3_and_a_row_outside_the_folder_is_refused(tmp_path):
    touch(tmp_path, "2026/11/27/in-4950000000-79161234567-20261127-101500-1795763700.11.mp3",
          "out-79035556677-201-20261127-143000-1795779000.71.wav")
    log = CallLogSettings(path=str(PBX / "freepbx_cdr.csv"), format="freepbx")
    scan = scan_source(source(tmp_path, log, patterns=()))  # no pattern: matched by the log's recordingfile only
    calls = by_id(scan)
    assert set(calls) == {"1795763700.11", "1795779000.71"}
    assert calls["1795763700.11"].info.operator_id == "op-anna"  # dstchannel PJSIP/201
    assert calls["1795779000.71"].info.operator_id == "op-anna"  # src 201 of an outbound call
    problems = scan.report.problems
    assert problems["outside_folder"] == 1 and "etc/asterisk" in scan.report.examples["outside_folder"][0]
    assert problems["no_file"] == 0  # the refused row is not asked for a file


def test_a_cloud_export_joined_by_record_id_with_logins_and_a_missed_call(tmp_path):
    touch(tmp_path, "rec-0001.mp3", "rec-0002.mp3", "rec-0003.mp3", "rec-0004.mp3", "rec-0005.mp3",
          "Запись rec-0006.mp3", "greeting.wav")
    log = CallLogSettings(path=str(PBX / "cloud_calls.csv"), columns={
        "uniqueid": "ID записи", "start": "Время", "direction": "Тип", "disposition": "Статус", "src": "Откуда",
        "dst": "Куда", "extension": "Кто ответил", "billsec": "Длительность разговора"})
    scan = scan_source(source(tmp_path, log, patterns=("{uniqueid}.mp3",)))
    calls = by_id(scan)
    assert set(calls) == {"rec-0001", "rec-0002", "rec-0004", "rec-0005", "Запись rec-0006", "greeting"}
    assert (calls["rec-0001"].info.operator_id, calls["rec-0001"].info.team) == ("op-anna", "team-north")
    assert calls["rec-0004"].info.operator_id == "op-ivan"  # by login
    assert calls["rec-0001"].info.started_at == datetime(2026, 11, 27, 7, 15, tzinfo=UTC)
    assert calls["rec-0005"].info.started_at is None and calls["rec-0005"].info.operator_id == "op-ivan"
    p = scan.report.problems
    assert (p["not_answered"], p["malformed_date"], p["unusual_name"], p["unmatched_name"], p["no_log_row"],
            p["encoding"], p["delimiter"]) == (1, 1, 1, 1, 2, 1, 1)  # rec-0003 missed; greeting.wav no .mp3


def test_split_legs_pair_and_the_directory_extension_is_the_operator(tmp_path):
    touch(tmp_path, "out-79035556677-201-20261127-143000-1795779000.71-in.wav",
          "out-79035556677-201-20261127-143000-1795779000.71-out.wav",
          "in-4950000000-79031112233-20261127-112000-1795767600.21-r.wav",
          "in-4950000000-79031112233-20261127-112000-1795767600.21-t.wav",
          "in-4950000000-79031112233-20261127-112000-1795767600.21.wav")  # a mixed copy beside the legs
    scan = scan_source(source(tmp_path))  # no call log: the file name and the directory only
    calls = by_id(scan)
    outbound, inbound = calls["1795779000.71"], calls["1795767600.21"]
    assert outbound.paired and [f.name.rsplit("-", 1)[1] for f in outbound.files] == ["in.wav", "out.wav"]
    assert outbound.info.channels == {"0": "operator", "1": "client"} and outbound.info.operator_id == "op-anna"
    # no log: the name has the DID and the caller, not 202; still, an inbound call's callee is the operator
    assert inbound.info.channels == {"0": "client", "1": "operator"} and inbound.info.operator_id is None
    assert scan.report.problems["mixed_and_legs"] == 1 and scan.report.problems["operator_unknown"] == 1
    item = next(i for i in scan.items() if i.call.conversation_id == "1795779000.71")
    assert item.legs == tuple(str(f) for f in outbound.files) and item.path == item.legs[0]


def test_legs_recorded_on_the_callee_channel(tmp_path):
    touch(tmp_path, "17.5-in.wav", "17.5-out.wav")
    scan = scan_source(source(tmp_path, patterns=(), legs={"in": "callee", "out": "caller", "r": "caller",
                                                           "t": "callee"}))
    (call,) = scan.calls
    assert [f.name for f in call.files] == ["17.5-out.wav", "17.5-in.wav"]  # channel 0 is always the caller


def test_precedence_sidecar_over_call_log_over_file_name_over_directory(tmp_path):
    name = "in-4950000000-79161234567-20261127-101500-1795763700.11"
    touch(tmp_path, f"{name}.wav")
    (tmp_path / f"{name}.json").write_text(json.dumps({"team": "team-vip", "company": "Телеком Плюс"}),
                                           encoding="utf-8")
    log = CallLogSettings(path=str(PBX / "Master.csv"), format="asterisk")
    (call,) = scan_source(source(tmp_path, log)).calls
    info = call.info
    assert (info.team, info.operator_id, info.metadata["operator_name"]) == ("team-vip", "op-anna", "Анна")
    assert info.started_at == datetime(2026, 11, 27, 7, 14, 55, tzinfo=UTC)  # the log's 10:14:55, not 10:15:00
    expected = {"team": "sidecar", "company": "sidecar", "id": "call_log", "started_at": "call_log",
                "direction": "file_name", "src": "call_log", "dst": "call_log", "extension": "call_log",
                "linkedid": "call_log", "billsec": "call_log", "operator_id": "directory",
                "operator_name": "directory", "line": "directory"}
    assert {k: info.sources[k] for k in expected} == expected
    assert info.metadata["company"] == "Телеком Плюс"


def test_a_sidecar_operator_takes_their_own_team_from_the_directory(tmp_path):
    name = "in-4950000000-79161234567-20261127-101500-1795763700.11"
    touch(tmp_path, f"{name}.wav")
    (tmp_path / f"{name}.json").write_text('{"operator_id": "op-ivan"}', encoding="utf-8")
    (call,) = scan_source(source(tmp_path)).calls
    assert (call.info.operator_id, call.info.team) == ("op-ivan", "team-south")


def test_unknown_extensions_duplicate_ids_and_unmatched_names_are_counted(tmp_path):
    touch(tmp_path, "a/out-79035556677-299-20261127-143000-1795779000.99.wav",
          "b/out-79035556677-299-20261127-143000-1795779000.99.wav", "voicemail.wav")
    scan = scan_source(source(tmp_path))
    ids = sorted(c.info.conversation_id for c in scan.calls)
    assert ids == ["1795779000.99~a_out-79035556677-299-20261127-143000-1795779000.99.wav",
                   "1795779000.99~b_out-79035556677-299-20261127-143000-1795779000.99.wav", "voicemail"]
    p = scan.report.problems
    assert (p["duplicate_id"], p["unknown_extension"], p["unmatched_name"]) == (2, 2, 1)
    assert by_id(scan)[ids[0]].info.operator_id == "299"  # not in the directory: the extension stands in


def test_a_missing_call_log_leaves_the_source_unread(tmp_path):
    touch(tmp_path, "x.wav")
    scan = scan_source(source(tmp_path, CallLogSettings(path=str(tmp_path / "Master.csv"), format="asterisk")))
    assert scan.calls == [] and scan.report.error == f"{tmp_path / 'Master.csv'}: file not found"


def test_a_directory_without_the_required_columns_names_them(tmp_path):
    (tmp_path / "ops.csv").write_text("Сотрудник;Отдел\nИванов;Продажи\n", encoding="utf-8")
    touch(tmp_path, "x.wav")
    settings = SourceSettings(name="pbx", folder=str(tmp_path), directory=DirectorySettings(str(tmp_path / "ops.csv")))
    report = scan_source(settings).report
    assert "needs the columns operator_id and extension (or login)" in report.error and "Сотрудник" in report.error


# --- the CLI ---------------------------------------------------------------------------------------------------

def spool_config(tmp_path: Path, extra: str = "") -> dict[str, str]:
    touch(tmp_path / "monitor", "in-4950000000-79161234567-20261127-101500-1795763700.11.wav", "stray.wav")
    shutil.copy(PBX / "Master.csv", tmp_path / "Master.csv")
    (tmp_path / "qa.toml").write_text(
        f'[[sources]]\nname = "pbx"\nfolder = "monitor"\npattern = "{FREEPBX}"\ndirectory = "{PBX / "operators.csv"}"'
        f'\n{extra}[sources.call_log]\npath = "Master.csv"\nformat = "asterisk"\n', encoding="utf-8")
    return {"QA_CONFIG": str(tmp_path / "qa.toml")}


def test_sources_check_is_a_dry_run_listing_calls_and_problems(tmp_path):
    env = spool_config(tmp_path)
    result = runner.invoke(app, ["sources", "check"], env=env)
    assert result.exit_code == 0, result.output
    assert "1795763700.11" in result.output and "op-anna" in result.output and "team-north" in result.output
    assert "2026-11-27 10:14:55" in result.output  # in the source's time zone
    assert "1 files whose name matches no pattern" in result.output and "- stray.wav" in result.output
    assert "answered call-log rows with no recording file" in result.output
    as_json = json.loads(runner.invoke(app, ["sources", "check", "--format", "json", "--limit", "1"], env=env).output)
    assert len(as_json[0]["calls"]) == 1 and as_json[0]["problems"]["unmatched_name"] == 1
    assert not (tmp_path / "qa.duckdb").exists() and not (tmp_path / "data").exists()  # nothing stored


def test_sources_check_exits_1_when_a_source_cannot_be_read_and_2_for_a_bad_pattern(tmp_path):
    env = spool_config(tmp_path)
    (tmp_path / "Master.csv").unlink()
    result = runner.invoke(app, ["sources", "check"], env=env)
    output = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 1 and "not read" in output and "Master.csv: file not found" in output
    env = spool_config(tmp_path / "bad", 'pattern = "{uniqeid}"\n'.replace("pattern", "legs = {}\n#"))
    (tmp_path / "bad" / "qa.toml").write_text(
        (tmp_path / "bad" / "qa.toml").read_text(encoding="utf-8").replace(FREEPBX, "{uniqeid}"), encoding="utf-8")
    for command in (["sources", "check"], ["run", "--db", str(tmp_path / "x.duckdb")]):
        result = runner.invoke(app, command, env=env)
        output = " ".join(result.output.split())
        assert result.exit_code == 2 and "unknown field {uniqeid} (did you mean {uniqueid}?)" in output
    assert runner.invoke(app, ["sources", "check", "--source", "nope"], env=env).exit_code == 2


def test_qa_run_with_a_source_that_cannot_be_read_exits_1_and_says_so(tmp_path):
    env = spool_config(tmp_path)
    (tmp_path / "Master.csv").unlink()
    result = runner.invoke(app, ["run", "--db", str(tmp_path / "qa.duckdb"), "--cache-dir", ""], env=env)
    output = " ".join(result.output.split())
    assert result.exit_code == 1 and "source not read" in output and "Master.csv: file not found" in output


def test_an_inbox_holding_the_source_folder_reads_each_file_once(tmp_path):
    from qa.run.pipeline import gather_items

    spool_config(tmp_path)
    settings = load_config(tmp_path / "qa.toml").sources[0]
    items, reports = gather_items(str(tmp_path), [settings.as_dict()])
    assert sorted(Path(i.path).name for i in items) == [
        "in-4950000000-79161234567-20261127-101500-1795763700.11.wav", "qa.toml", "stray.wav"]
    assert [i.call is not None for i in items if i.path.endswith(".wav")] == [True, True]
    assert reports[0]["counts"]["calls"] == 2 and "pbx: 2 files, 2 calls" in reports[0]["summary"]


def test_qa_schedule_serves_the_sources_of_qa_toml(tmp_path, monkeypatch):
    import qa.flows.nightly

    served = {}
    monkeypatch.setattr(qa.flows.nightly, "serve_nightly", lambda *args: served.update(args=args))
    env = spool_config(tmp_path)
    result = runner.invoke(app, ["schedule", "--db", str(tmp_path / "qa.duckdb"), "--rules",
                                 str(REPO / "scripts_rules")], env=env)
    assert result.exit_code == 0, result.output
    inbox, _db, _rules, _cron, _cluster, sources = served["args"]
    assert inbox is None and [SourceSettings.from_dict(s).name for s in sources] == ["pbx"]
    result = runner.invoke(app, ["schedule", "--no-sources", "--db", str(tmp_path / "qa.duckdb")], env=env)
    assert result.exit_code == 2 and "give an INBOX folder" in " ".join(result.output.split())


def test_a_recording_gone_before_it_is_hashed_is_reported_not_fatal(tmp_path):
    touch(tmp_path, "17.1.wav", "17.2.wav")
    scan = scan_source(source(tmp_path, patterns=()))
    (tmp_path / "17.1.wav").unlink()
    assert [Path(i.path).name for i in scan.items()] == ["17.2.wav"]
    assert scan.report.problems["unreadable_file"] == 1

"""Run records: sortable ids, atomic JSON that reads back the same, a history that survives bad files,
and metrics files flattened to dotted keys."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, UnsupportedFormatError
from mlxkit.pipeline.records import (
    RunRecord,
    list_records,
    new_run_id,
    read_metrics_file,
    read_record,
    utc_timestamp,
    write_record,
)
from mlxkit.store.digest import Digest

MOMENT = datetime(2024, 5, 1, 12, 0, 3, 250000, tzinfo=UTC)
LOCK = Digest.from_hex("c" * 64)
RECORD = RunRecord(
    id="20240501-120003-3fa2c1",
    started="2024-05-01T12:00:03.250000Z",
    finished="2024-05-01T12:01:00.000000Z",
    command="mlx run -S train.lr=0.01",
    status="completed",
    git_revision="0123456789abcdef0123456789abcdef01234567",
    git_dirty=True,
    params={"params.yaml": {"train.lr": 0.01, "train.layers": [64, 32]}},
    metrics={"metrics.json": {"auc": 0.91, "model": "rf", "loss.train": 0.2}},
    stages_run=("train",),
    stages_cached=("prepare",),
    lock_digest=LOCK,
)


def test_new_run_id_is_utc_time_to_the_second_then_six_hex_digits():
    run_id = new_run_id(MOMENT.astimezone(timezone(timedelta(hours=2))))
    assert re.fullmatch(r"20240501-120003-[0-9a-f]{6}", run_id)


def test_run_ids_sort_by_time():
    earlier, later = new_run_id(MOMENT), new_run_id(MOMENT + timedelta(seconds=1))
    assert sorted([later, earlier]) == [earlier, later]


def test_utc_timestamp_is_iso_8601_in_utc_with_microseconds():
    assert utc_timestamp(MOMENT.astimezone(timezone(timedelta(hours=-5)))) == "2024-05-01T12:00:03.250000Z"


def test_a_time_without_a_time_zone_is_refused():
    with pytest.raises(ValueError, match="must carry its time zone"):
        new_run_id(datetime(2024, 5, 1))


def test_write_record_publishes_readable_json_and_read_record_gives_it_back(tmp_path):
    path = write_record(tmp_path / "runs", RECORD)
    assert path == tmp_path / "runs" / "20240501-120003-3fa2c1.json"
    data = json.loads(path.read_text())
    assert list(data) == ["format", "id", "status", "started", "finished", "command", "git_revision", "git_dirty",
                          "stages_run", "stages_cached", "lock_digest", "params", "metrics"]  # fmt: skip
    assert (data["format"], data["lock_digest"], data["stages_run"]) == (1, str(LOCK), ["train"])
    assert read_record(path) == RECORD
    assert os.listdir(tmp_path / "runs") == [path.name]


def test_write_record_refuses_an_id_that_is_not_a_run_id(tmp_path):
    record = RunRecord(**{**RECORD.__dict__, "id": "../../escape"})
    with pytest.raises(ValueError, match="is not a run id"):
        write_record(tmp_path, record)
    assert os.listdir(tmp_path) == []


def test_a_record_of_a_failed_run_outside_git_keeps_its_nulls(tmp_path):
    record = RunRecord(id=RECORD.id, started=RECORD.started, finished=RECORD.finished, command="mlx run", status="failed")
    assert read_record(write_record(tmp_path, record)) == record


def _write(tmp_path, data: dict[str, object], name: str = RECORD.id) -> os.PathLike[str]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"status": "running"}, "at 'status': 'running' is not one of 'completed', 'failed', 'interrupted'"),
        ({"started": "2024-13-01T00:00:00Z"}, "at 'started': '2024-13-01T00:00:00Z' is not a date and time"),
        ({"finished": "yesterday"}, "at 'finished': 'yesterday' does not match"),
        ({"git_revision": "0123456789abcdef0123456789abcdef01234567\n"}, "at 'git_revision': "
         "'0123456789abcdef0123456789abcdef01234567\\n' is not a commit id"),
        ({"lock_digest": str(LOCK) + "\n"}, "at 'lock_digest': "),
        ({"metrics": {"m.json": {"a": [1]}}}, "at 'metrics.m.json.a': [1] is not of type"),
        ({"id": "20240501-120003-000000"},
         "'id' is '20240501-120003-000000' but the file is named '20240501-120003-3fa2c1.json'"),
        ({"extra": 1}, "at 'the top level': unknown key 'extra'"),
    ],
)
def test_read_record_refuses_a_malformed_record(tmp_path, change, problem):
    path = _write(tmp_path, {**RECORD.to_json(), **change})
    with pytest.raises(InvalidFileError) as info:
        read_record(path)
    assert info.value.problem.startswith(problem)
    assert info.value.source == str(path)


def test_read_record_refuses_a_newer_format(tmp_path):
    path = _write(tmp_path, {"format": 2, "id": RECORD.id})
    with pytest.raises(UnsupportedFormatError, match="uses run-record format 2, this mlx reads 1$"):
        read_record(path)


def test_read_record_refuses_duplicate_keys_and_bad_json_with_the_line(tmp_path):
    path = tmp_path / f"{RECORD.id}.json"
    path.write_text('{"format": 1,\n "format": 1}')
    with pytest.raises(InvalidFileError, match="duplicate key 'format'$"):
        read_record(path)
    path.write_text('{"format": 1,\n\n oops}')
    with pytest.raises(InvalidFileError) as info:
        read_record(path)
    assert (info.value.line, info.value.problem) == (3, "not valid JSON: Expecting property name enclosed in double quotes")


def test_list_records_is_oldest_first_and_skips_unreadable_records_with_a_reason(tmp_path):
    runs = tmp_path / "runs"
    # Same second: the random part of the id says nothing, the microseconds decide.
    first = RunRecord(**{**RECORD.__dict__, "id": "20240501-120003-ffffff", "started": "2024-05-01T12:00:03.000001Z"})
    second = RunRecord(**{**RECORD.__dict__, "id": "20240501-120003-000000", "started": "2024-05-01T12:00:03.900000Z"})
    third = RunRecord(**{**RECORD.__dict__, "id": "20240502-000000-abcdef", "started": "2024-05-02T00:00:00.000000Z"})
    for record in (third, second, first):
        write_record(runs, record)
    (runs / "20240501-235959-badbad.json").write_text("{")
    (runs / ".mlx-tmp-0011223344556677").write_text("{")  # a record being written
    (runs / "notes.txt").write_text("not a record")
    problems: list[str] = []
    assert list_records(runs, problems) == [first, second, third]
    assert problems == [f"skipping run record '{runs / '20240501-235959-badbad.json'}': not valid JSON: "
                        "Expecting property name enclosed in double quotes"]  # fmt: skip
    assert list_records(runs) == [first, second, third]


def test_list_records_of_no_directory_is_empty(tmp_path):
    assert list_records(tmp_path / "runs") == []


# -- metrics -------------------------------------------------------------------------------------


def test_read_metrics_file_flattens_nested_json_to_dotted_keys(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"auc": 0.9, "loss": {"train": 0.1, "test": {"mean": 0.2}}, "name": "rf", "ok": True,
                                "missing": None, "history": [0.5, 0.4], "empty": {}}))  # fmt: skip
    assert read_metrics_file(path) == {
        "auc": 0.9, "loss.test.mean": 0.2, "loss.train": 0.1, "missing": None, "name": "rf", "ok": True,
    }  # fmt: skip


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_read_metrics_file_reads_yaml_too(tmp_path, suffix):
    path = tmp_path / f"metrics{suffix}"
    path.write_text("auc: 0.9\nper_class:\n  1: 0.8\n  null: 0.7\ndate: 2024-01-01\n")
    assert read_metrics_file(path) == {"auc": 0.9, "date": "2024-01-01", "per_class.1": 0.8, "per_class.null": 0.7}


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("m.json", "[1, 2]", "a metrics file must hold a mapping of names to values, not a list"),
        ("m.yaml", "", "a metrics file must hold a mapping of names to values, not nothing"),
        ("m.json", '"text"', "a metrics file must hold a mapping of names to values, not a str"),
        ("m.json", '{"a.b": 1, "a": {"b": 2}}', "the metric 'a.b' is written twice (as 'a.b' and as 'a: {b}')"),
        ("m.json", '{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("m.json", '{"a": 1 "b": 2}', "not valid JSON: Expecting ',' delimiter"),
        ("m.yaml", "a: [1, 2\n", None),  # the YAML parser's own words (libyaml's or PyYAML's)
    ],
)
def test_read_metrics_file_refuses_what_is_not_a_metrics_mapping(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidFileError) as info:
        read_metrics_file(path, source=name)
    assert info.value.source == name
    assert problem is None or info.value.problem == problem


def test_read_metrics_file_takes_utf8_with_a_byte_order_mark_and_names_the_first_byte_that_is_not(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(b'\xef\xbb\xbf{"auc": 0.9}')  # what some Windows tools write
    assert read_metrics_file(path) == {"auc": 0.9}
    path.write_bytes('{"a": 1,\n "b": "\u00e9"}'.encode("latin-1"))
    with pytest.raises(InvalidFileError) as info:
        read_metrics_file(path, source="m.json")
    assert (info.value.line, info.value.problem) == (2, "not UTF-8 text (byte 16)")


def test_read_metrics_file_refuses_a_missing_file_and_an_unknown_format(tmp_path):
    with pytest.raises(InvalidFileError, match="^invalid file 'm.json': no such metrics file$"):
        read_metrics_file(tmp_path / "m.json", source="m.json")
    (tmp_path / "m.csv").write_text("auc\n0.9\n")
    with pytest.raises(UnsupportedFormatError) as info:
        read_metrics_file(tmp_path / "m.csv", source="m.csv")
    assert (info.value.message, info.value.hint) == (
        "'m.csv' is not a metrics file mlx reads", "write metrics as JSON (.json) or YAML (.yaml, .yml)"
    )


@settings(deadline=None)  # timings are not what these properties check
@given(st.binary(max_size=200), st.sampled_from(["m.json", "m.yaml"]))
def test_read_metrics_file_of_arbitrary_bytes_raises_only_invalid_file_error(tmp_path_factory, data, name):
    path = tmp_path_factory.mktemp("metrics") / name
    path.write_bytes(data)
    try:
        read_metrics_file(path)
    except InvalidFileError:
        pass


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                            max_size=3), max_leaves=6)
_TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@settings(deadline=None)  # timings are not what these properties check
@given(
    started=_TIMES,
    command=st.text(max_size=30),
    status=st.sampled_from(["completed", "failed", "interrupted"]),
    revision=st.none() | st.text("0123456789abcdef", min_size=40, max_size=40),
    dirty=st.none() | st.booleans(),
    params=st.dictionaries(st.text(max_size=8), st.dictionaries(st.text(min_size=1, max_size=8), _VALUES, max_size=3),
                           max_size=2),
    metrics=st.dictionaries(st.text(max_size=8), st.dictionaries(st.text(max_size=8), _SCALARS, max_size=3), max_size=2),
    stages=st.lists(st.text(min_size=1, max_size=8), max_size=3).map(tuple),
)
def test_records_round_trip_through_their_file(tmp_path_factory, started, command, status, revision, dirty, params,
                                               metrics, stages):  # fmt: skip
    record = RunRecord(new_run_id(started), utc_timestamp(started), utc_timestamp(started), command, status, revision,
                       dirty, params, metrics, stages, stages[::-1], LOCK)  # fmt: skip
    assert read_record(write_record(tmp_path_factory.mktemp("runs"), record)) == record

"""The run cache: one JSON file per fingerprint; a bad entry is a reported miss, never a failed run."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.fs.confine import RepoPath, unsafe_reason
from mlxkit.pipeline.model import LockedPath
from mlxkit.pipeline.runcache import RunCache
from mlxkit.store.digest import Digest

FINGERPRINT = Digest.from_hex("12" + "3" * 62)
A, B = Digest.from_hex("a" * 64), Digest.from_hex("b" * 64)
OUTS = (LockedPath(RepoPath.parse("models/model.joblib"), A, 321), LockedPath(RepoPath.parse("data/prepared"), B, 4567, 2))
SORTED_OUTS = (OUTS[1], OUTS[0])


@pytest.fixture
def cache(tmp_path):
    return RunCache(tmp_path / "runs")


def entry_file(cache: RunCache, fingerprint: Digest = FINGERPRINT):
    return cache.directory / fingerprint.hex[:2] / f"{fingerprint.hex[2:]}.json"


def test_put_writes_one_small_json_file_named_like_an_object(cache):
    cache.put(FINGERPRINT, OUTS)
    assert entry_file(cache).read_text() == (
        '{"format":1,"outs":['
        f'{{"files":2,"hash":"{B}","path":"data/prepared","size":4567}},'
        f'{{"hash":"{A}","path":"models/model.joblib","size":321}}]}}\n'
    )
    assert os.listdir(entry_file(cache).parent) == [entry_file(cache).name]  # no temp file left


def test_get_returns_what_put_stored_sorted_by_path(cache):
    cache.put(FINGERPRINT, OUTS)
    assert cache.get(FINGERPRINT) == SORTED_OUTS
    assert cache.problems == []


def test_get_of_an_unknown_fingerprint_is_a_quiet_miss(cache):
    assert cache.get(FINGERPRINT) is None
    assert cache.problems == []


def test_a_stage_without_outs_is_remembered_too(cache):
    cache.put(FINGERPRINT, ())
    assert cache.get(FINGERPRINT) == ()


OUT = {"path": "m", "hash": str(A), "size": 1}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON: Expecting property name enclosed in double quotes"),
        (b"\xff\xfe\x00", "not UTF-8 text (byte 0)"),
        (b'{"format": 1, "format": 1, "outs": []}', "duplicate key 'format'"),
        (json.dumps({"format": 1}).encode(), "at 'the top level': 'outs' is required"),
        (json.dumps({"format": 1, "outs": [{**OUT, "hash": "blake3:../../x"}]}).encode(),
         "at 'outs.0.hash': 'blake3:../../x' does not match '^blake3:[0-9a-f]{64}$'"),
        (json.dumps({"format": 1, "outs": [{**OUT, "hash": str(A) + "\n"}]}).encode(),
         f"'{A}\n' is not a hash of the form 'blake3:<64 lowercase hex digits>'"),
        (json.dumps({"format": 1, "outs": [{**OUT, "path": "../outside"}]}).encode(),
         "unsafe path '../outside': the path has a '..' component"),
        (json.dumps({"format": 1, "outs": [{**OUT, "size": 1.0}]}).encode(),
         "at 'outs.0': 'size' and 'files' must be whole numbers"),
        (json.dumps({"format": 1, "outs": [OUT, OUT]}).encode(), "an out is listed twice"),
        (json.dumps({"format": 2, "outs": "anything"}).encode(), "uses run-cache format 2, this mlx reads 1"),
    ],
    ids=["json", "bytes", "duplicate-key", "schema", "hash", "hash-newline", "unsafe-path", "float-size", "twice", "newer"],
)
def test_a_corrupt_entry_is_a_miss_and_the_reason_is_reported(cache, content, reason):
    entry_file(cache).parent.mkdir(parents=True)
    entry_file(cache).write_bytes(content)
    assert cache.get(FINGERPRINT) is None
    [problem] = cache.problems
    assert problem.startswith(f"ignoring run-cache entry '{entry_file(cache)}': ")
    assert reason in problem


def test_an_entry_that_is_a_directory_is_a_reported_miss(cache):
    entry_file(cache).mkdir(parents=True)
    assert cache.get(FINGERPRINT) is None
    assert cache.problems == [f"ignoring run-cache entry '{entry_file(cache)}': Is a directory"]


def test_put_replaces_a_corrupt_entry(cache):
    entry_file(cache).parent.mkdir(parents=True)
    entry_file(cache).write_text("garbage")
    cache.put(FINGERPRINT, OUTS)
    assert cache.get(FINGERPRINT) == SORTED_OUTS


_DIGESTS = st.text("0123456789abcdef", min_size=64, max_size=64).map(Digest.from_hex)
_PATHS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(lambda p: unsafe_reason(p) is None)
_OUTS = st.lists(
    st.builds(LockedPath, _PATHS.map(RepoPath), _DIGESTS, st.integers(0, 2**64), st.none() | st.integers(0, 10**9)),
    max_size=4,
    unique_by=lambda locked: locked.path,
)


@settings(deadline=None)  # timings are not what these properties check
@given(fingerprint=_DIGESTS, outs=_OUTS)
def test_outs_round_trip_through_the_run_cache(tmp_path_factory, fingerprint, outs):
    cache = RunCache(tmp_path_factory.mktemp("runs"))
    cache.put(fingerprint, tuple(outs))
    assert cache.get(fingerprint) == tuple(sorted(outs, key=lambda locked: locked.path))
    assert cache.problems == []

"""Requests that stall once the connection is up: the proxy (tests/remote_fixtures.py, `Stall`) takes
a request, or sends part of its answer, and then says nothing for longer than the remote's
`timeout` (1 s here). The request is tried again once, alone (one part, not the whole file; a
download asks for the bytes it has not received only), and a request that stalls every time fails
the command in one line (exit 22) leaving nothing half done: no incomplete multipart upload, no
object, nothing in the cache that fsck would flag.

Every command runs the real `mlx` in a subprocess with a timeout of its own, so that a regression
(a hang) fails the test instead of stalling the suite."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading

import pytest
from blake3 import blake3

from tests.conftest import Repo, clone
from tests.remote_fixtures import Stall, boto3_client, free_port, gave_up, run_timed, s3_origin, through_proxy

PART = 8 << 20  # multipart.PART: a file over it goes up in parts (the threshold is not configurable)
# The timeout of the tests about refusals, not stalls: a busy machine (CI runs two test workers on
# two cores) can keep moto from answering sixteen parallel uploads within the stall tests' 1 s, and
# a timeout's retry line would then replace the 503's that these tests expect.
PATIENT = "30"


def _part(number: int):
    return lambda method, query: method == "PUT" and query.get("partNumber") == [str(number)]


def _once(picks, stall: Stall | bool):
    """A proxy's `fails`: `stall` (or with True, a 503) for the first request `picks` chooses,
    nothing for the others."""
    stalled: list[bool] = []

    def fails(method: str, query: dict[str, list[str]]) -> bool | Stall:
        if picks(method, query) and not stalled:
            stalled.append(True)
            return stall
        return False

    return fails


def _big_file(repo: Repo) -> bytes:
    data = os.urandom(PART + 300_000)  # two parts: 8 MiB and 300 kB
    repo.gen({"model.bin": data}, old=True)
    return data


# -- uploads -------------------------------------------------------------------------------------

# A part held silent once the proxy has it all, or after 1 MiB of its 8 (the client cannot even
# finish sending it: aiohttp's read timeout had not started, and the push hung for ever).
PART_STALLS = {"unanswered": Stall(), "half sent": Stall(received=1 << 20)}


@pytest.mark.parametrize("stall", PART_STALLS.values(), ids=PART_STALLS.keys())
def test_a_part_that_stalls_once_is_sent_again_alone_and_the_push_completes(
    repo, mlx, s3_server, s3_bucket, make_proxy, stall
):
    data = _big_file(repo)
    proxy = make_proxy(_once(_part(1), stall))
    through_proxy(proxy, repo, mlx, s3_bucket)
    assert mlx("add", "model.bin").code == 0

    pushed = run_timed(repo, "push")

    assert pushed.code == 0, pushed
    assert pushed.err_lines == ["warning: remote 'origin' did not answer in 1 s; retrying (2 of 2)"]
    assert proxy.stalled == 1
    assert [proxy.parts_sent(number) for number in (1, 2)] == [2, 1]  # the part again, not the file
    client = boto3_client(s3_server.endpoint)
    (key,) = [entry["Key"] for entry in client.list_objects_v2(Bucket=s3_bucket, Prefix="p/objects/")["Contents"]]
    assert client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == data
    assert "Uploads" not in client.list_multipart_uploads(Bucket=s3_bucket)


def test_a_retry_after_a_refused_request_is_said_with_the_server_answer(repo, mlx, s3_bucket, make_proxy):
    """Not only timeouts: every retry is said on stderr with its cause (the push still succeeds)."""
    _big_file(repo)
    proxy = make_proxy(_once(_part(1), True))  # True: answered "503 SlowDown"
    s3_origin(repo, mlx, s3_bucket, proxy.endpoint, timeout=PATIENT)
    assert mlx("add", "model.bin").code == 0

    pushed = run_timed(repo, "push")

    assert pushed.code == 0, pushed
    assert pushed.err_lines == ["warning: remote 'origin' answered 503 SlowDown; retrying (2 of 5)"]
    assert [proxy.parts_sent(number) for number in (1, 2)] == [2, 1]


def test_each_retry_of_an_endpoint_nobody_listens_on_is_said_before_the_failure(repo, mlx, s3_env):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    s3_origin(repo, mlx, "bucket", endpoint, timeout="1")
    repo.gen({"a.txt": b"a"})
    assert mlx("add", "a.txt").code == 0

    pushed = run_timed(repo, "push")

    assert pushed.code == 22, pushed
    assert pushed.err_lines == [
        *(f"warning: remote 'origin' could not be reached; retrying ({n} of 5)" for n in range(2, 6)),
        f"mlx: cannot connect to '{endpoint}', the endpoint of remote 'origin', after 5 tries",
    ]


def test_a_storm_of_refusals_to_parallel_requests_is_said_once_and_counted(repo, mlx, s3_bucket, make_proxy):
    """Sixteen uploads at once, each answered 503 on its first try: the retry is said once when it
    starts and once more at the end with the count, not 20 times over."""
    refused: set[str] = set()
    armed = threading.Event()  # set once the remote exists: its first push goes through untouched

    def fails(method: str, query: dict[str, list[str]]) -> bool:
        path = proxy.requests[-1][1]  # recorded before `fails` is asked
        if armed.is_set() and method == "PUT" and "/p/objects/" in path and path not in refused:
            refused.add(path)
            return True
        return False

    proxy = make_proxy(fails)
    s3_origin(repo, mlx, s3_bucket, proxy.endpoint, timeout=PATIENT)
    assert mlx("config", "remote.pack_threshold", "4096").code == 0  # files of 5 kB go loose: a request each
    repo.gen({"first.txt": b"creates the remote"})
    assert mlx("add", "first.txt").code == 0 and mlx("push").code == 0
    repo.gen({"data": {f"{n:02}.bin": os.urandom(5000) for n in range(20)}})
    assert mlx("add", "data").code == 0
    armed.set()

    pushed = run_timed(repo, "push", "-j", "16")

    assert pushed.code == 0, pushed
    assert len(refused) == 20  # the files (their tree is small: it goes into a pack)
    said = "warning: remote 'origin' answered 503 SlowDown; retrying (2 of 5)"
    assert pushed.err_lines[0] == said, pushed
    with_count = re.escape(said) + r" \(and (\d+) more like it in the last \d+ s\)"
    counted = [re.fullmatch(with_count, line) for line in pushed.err_lines[1:]]
    assert all(counted), pushed  # a slow machine may say it again after 10 s, with what it held back
    assert len(pushed.err_lines) + sum(int(match[1]) for match in counted) == 20, pushed


@pytest.mark.parametrize("stall", PART_STALLS.values(), ids=PART_STALLS.keys())
def test_a_part_that_always_stalls_fails_the_push_and_the_upload_is_aborted(
    repo, mlx, s3_server, s3_bucket, make_proxy, stall
):
    _big_file(repo)
    proxy = make_proxy(lambda method, query: stall if _part(1)(method, query) else False)
    through_proxy(proxy, repo, mlx, s3_bucket)
    assert mlx("add", "model.bin").code == 0

    pushed = run_timed(repo, "push")

    gave_up(pushed, "upload", "objects/[0-9a-f]{2}/[0-9a-f]{62}", s3_bucket)
    assert proxy.parts_sent(1) == 2
    client = boto3_client(s3_server.endpoint)
    assert "Uploads" not in client.list_multipart_uploads(Bucket=s3_bucket)  # aborted
    assert "Contents" not in client.list_objects_v2(Bucket=s3_bucket, Prefix="p/objects/")
    assert "Contents" not in client.list_objects_v2(Bucket=s3_bucket, Prefix="p/index/")


# -- downloads -----------------------------------------------------------------------------------

# "packed": small files, each tracked alone, fetched with a ranged GET of their pack (read_ranges).
# With no directory, no tree is fetched first, so a fresh clone has no cache directory while the
# pack is read: the periodic flush of the cache's file system must not trip on that (it did, once a
# read took over 0.25 s: exit 3, "no such file or directory: '.mlx/cache'").
# "loose": one file over the pack threshold, fetched with a streamed GET into a temp file in the
# cache (download). "big pack": a pack over MAX_READ (8 MiB) wanted whole, also downloaded into a
# temp file (open_local), then unpacked. The stall comes after the first 16 kB of the answer.
BIG_PACK = {f"p{i:02}.bin": os.urandom(800_000) for i in range(23)}  # 18.4 MB, in one pack
FILES = {
    "packed": {f"f{i:02}.bin": os.urandom(20_000) for i in range(20)},
    "loose": {"weights.bin": os.urandom(1_500_000)},
    "big pack": BIG_PACK,
}
VERBS = {"packed": "read", "loose": "download", "big pack": "download"}
PACK, LOOSE = r"packs/[0-9a-f]{64}\.pack", r"objects/[0-9a-f]{2}/[0-9a-f]{62}"
WHERE = {"packed": PACK, "loose": LOOSE, "big pack": PACK}
PREFIX = {"packed": "/packs/", "loose": "/objects/", "big pack": "/packs/"}


def _pushed_and_cloned(repo: Repo, mlx, bucket: str, proxy, tmp_path, files: dict[str, bytes]) -> Repo:
    repo.gen(files, old=True)
    assert mlx("add", *files).code == 0
    through_proxy(proxy, repo, mlx, bucket)
    repo.commit("data")
    assert mlx("push").code == 0
    return clone(repo, tmp_path)


def _checked_out(clone: Repo, files: dict[str, bytes]) -> dict[str, bytes]:
    """Those of `files` in the clone's workspace, with their bytes (those missing left out)."""
    return {name: (clone / name).read_bytes() for name in files if (clone / name).is_file()}


def _stalling_reads(proxy_of, prefix: str, times: list[int], stall: Stall = Stall(answered=16 << 10), ranges: str = ""):
    """A proxy's `fails`: the GETs below `prefix` (whose Range starts with `ranges`) stall while
    `times[0]` > proxy.stalled."""

    def fails(method: str, query: dict[str, list[str]]) -> bool | Stall:
        proxy = proxy_of()
        chosen = prefix in proxy.requests[-1][1] and (proxy.ranges[-1] or "").startswith(ranges)
        if method == "GET" and chosen and proxy.stalled < times[0]:
            return stall
        return False

    return fails


def _gets(proxy, prefix: str) -> list[str | None]:
    """The Range header of each GET below `prefix` the proxy saw (None: the whole file)."""
    return [proxy.ranges[n] for n, (method, path, _) in enumerate(proxy.requests) if method == "GET" and prefix in path]


def _fsck_is_clean_but_for_missing_objects(clone: Repo) -> None:
    checked = run_timed(clone, "fsck", "--json")
    assert "Traceback" not in checked.err, checked
    report = checked.json
    assert {problem["kind"] for problem in report["problems"]} <= {"missing"}, checked
    assert report["garbage"] == [], checked  # no temp file left in the cache
    assert clone.temp_files() == []


@pytest.mark.parametrize("layout", FILES)
def test_a_read_that_stalls_once_is_retried_and_the_pull_completes(repo, mlx, s3_bucket, make_proxy, tmp_path, layout):
    proxy = make_proxy(_stalling_reads(lambda: proxy, PREFIX[layout], [1]))
    clone = _pushed_and_cloned(repo, mlx, s3_bucket, proxy, tmp_path, FILES[layout])

    pulled = run_timed(clone, "pull")

    assert pulled.code == 0, pulled
    assert proxy.stalled == 1
    assert pulled.err_lines == ["warning: remote 'origin' did not answer in 1 s; retrying (2 of 2)"]
    first, again = _gets(proxy, PREFIX[layout])
    assert again == (f"bytes={16 << 10}-" if VERBS[layout] == "download" else first)  # a download continues
    assert _checked_out(clone, FILES[layout]) == FILES[layout]
    assert run_timed(clone, "fsck").code == 0


@pytest.mark.parametrize("layout", FILES)
def test_a_read_that_always_stalls_fails_cleanly_and_a_rerun_completes(repo, mlx, s3_bucket, make_proxy, tmp_path, layout):
    stalls = [1_000]
    proxy = make_proxy(_stalling_reads(lambda: proxy, PREFIX[layout], stalls))
    clone = _pushed_and_cloned(repo, mlx, s3_bucket, proxy, tmp_path, FILES[layout])

    fetched = run_timed(clone, "fetch")

    gave_up(fetched, VERBS[layout], WHERE[layout], s3_bucket)
    assert proxy.stalled == 2
    _fsck_is_clean_but_for_missing_objects(clone)

    stalls[0] = 0  # the stalls go away
    pulled = run_timed(clone, "pull")
    assert pulled.code == 0, pulled
    assert _checked_out(clone, FILES[layout]) == FILES[layout]
    assert run_timed(clone, "fsck").code == 0


# -- part of a big pack: ranged reads ------------------------------------------------------------

# 11 of BIG_PACK's 23 objects, side by side in the pack: 8.8 MB, less than half of it, so they are
# read as ranges (not the whole pack), one range cut at MAX_READ into two reads, of 8 MB and 0.8 MB.
# The first read (from offset 0) stalls.


def _first_in_pack(endpoint: str, bucket: str, count: int) -> list[str]:
    """The names of BIG_PACK's first `count` objects in its pack, as the push's index places them."""
    client = boto3_client(endpoint)
    (key,) = [entry["Key"] for entry in client.list_objects_v2(Bucket=bucket, Prefix="p/index/")["Contents"]]
    raw = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    (pack,) = json.loads(gzip.decompress(raw) if key.endswith(".gz") else raw)["packs"].values()
    names = {blake3(data).hexdigest(): name for name, data in BIG_PACK.items()}
    return [names[digest] for digest, _offset, _length in sorted(pack["objects"], key=lambda entry: entry[1])][:count]


def test_a_ranged_read_of_a_big_pack_that_stalls_once_is_read_again_and_the_pull_completes(
    repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path
):
    proxy = make_proxy(_stalling_reads(lambda: proxy, "/packs/", [1], ranges="bytes=0-"))
    clone = _pushed_and_cloned(repo, mlx, s3_bucket, proxy, tmp_path, BIG_PACK)
    wanted = _first_in_pack(s3_server.endpoint, s3_bucket, 11)

    pulled = run_timed(clone, "pull", *wanted)

    assert pulled.code == 0, pulled
    assert pulled.err_lines == ["warning: remote 'origin' did not answer in 1 s; retrying (2 of 2)"]
    reads = _gets(proxy, "/packs/")
    # the stalled range again, not the pack (the two ranges are asked for side by side, in either order)
    stalled = [read for read in reads if read.startswith("bytes=0-")]
    assert len(reads) == 3 and len(stalled) == 2 and stalled[0] == stalled[1], reads
    assert _checked_out(clone, BIG_PACK) == {name: BIG_PACK[name] for name in wanted}
    _fsck_is_clean_but_for_missing_objects(clone)  # the 12 objects not pulled


def test_a_ranged_read_of_a_big_pack_that_always_stalls_fails_cleanly_and_a_rerun_completes(
    repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path
):
    stalls = [1_000]
    proxy = make_proxy(_stalling_reads(lambda: proxy, "/packs/", stalls, ranges="bytes=0-"))
    clone = _pushed_and_cloned(repo, mlx, s3_bucket, proxy, tmp_path, BIG_PACK)
    wanted = _first_in_pack(s3_server.endpoint, s3_bucket, 11)

    fetched = run_timed(clone, "fetch", *wanted)

    gave_up(fetched, "read", PACK, s3_bucket)
    assert proxy.stalled == 2
    _fsck_is_clean_but_for_missing_objects(clone)

    stalls[0] = 0
    pulled = run_timed(clone, "pull", *wanted)
    assert pulled.code == 0, pulled
    assert _checked_out(clone, BIG_PACK) == {name: BIG_PACK[name] for name in wanted}
    _fsck_is_clean_but_for_missing_objects(clone)  # the 12 objects not pulled


# -- a download that breaks midway continues from the bytes received -----------------------------

# One loose object of 3 MiB; its GET stalls, or the connection drops, after 1 MiB of the answer.
# The retry asks for the rest only (as boto3's transfer manager does), not the whole object again.
WEIGHTS = {"weights.bin": os.urandom(3 << 20)}
RECEIVED = 1 << 20
BREAKS = {"stalls": Stall(answered=RECEIVED), "drops": Stall(answered=RECEIVED, seconds=0)}
SAID = {"stalls": ["warning: remote 'origin' did not answer in 1 s; retrying (2 of 2)"],
        "drops": ["warning: remote 'origin' dropped the connection; retrying (2 of 5)"]}


@pytest.mark.parametrize("fault", BREAKS)
def test_a_download_that_breaks_midway_continues_from_the_bytes_received(
    repo, mlx, s3_bucket, make_proxy, tmp_path, fault
):
    proxy = make_proxy(_stalling_reads(lambda: proxy, "/objects/", [1], BREAKS[fault]))
    clone = _pushed_and_cloned(repo, mlx, s3_bucket, proxy, tmp_path, WEIGHTS)

    pulled = run_timed(clone, "pull")

    assert pulled.code == 0, pulled
    assert pulled.err_lines == SAID[fault]
    assert proxy.stalled == 1
    assert _gets(proxy, "/objects/") == [None, f"bytes={RECEIVED}-"]
    assert _checked_out(clone, WEIGHTS) == WEIGHTS
    assert run_timed(clone, "fsck").code == 0


def test_a_download_whose_object_was_replaced_between_tries_starts_over_and_is_refused(
    repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path
):
    """Objects are immutable, but if one is replaced (same size, other bytes) between the tries, the
    rest of the new one is not spliced onto the start of the old: the answer's ETag differs, so the
    object is downloaded again from byte 0, and its hash does not match its name."""
    replacement = os.urandom(len(WEIGHTS["weights.bin"]))

    def fails(method: str, query: dict[str, list[str]]) -> bool | Stall:
        path = proxy.requests[-1][1]
        if method != "GET" or "/objects/" not in path:
            return False
        if len(_gets(proxy, "/objects/")) == 1:
            return Stall(answered=RECEIVED, seconds=0)
        if len(_gets(proxy, "/objects/")) == 2:  # the retry: the object changes under it
            boto3_client(s3_server.endpoint).put_object(Bucket=s3_bucket, Key=path.split("/", 2)[2], Body=replacement)
        return False

    proxy = make_proxy(fails)
    clone = _pushed_and_cloned(repo, mlx, s3_bucket, proxy, tmp_path, WEIGHTS)

    pulled = run_timed(clone, "pull")

    assert _gets(proxy, "/objects/") == [None, f"bytes={RECEIVED}-", None]
    assert pulled.code == 21, pulled
    assert "Traceback" not in pulled.err, pulled
    assert re.search(r"object [0-9a-f]+ at objects/[0-9a-f/]+ is corrupt", pulled.err), pulled
    assert _checked_out(clone, WEIGHTS) == {}
    _fsck_is_clean_but_for_missing_objects(clone)

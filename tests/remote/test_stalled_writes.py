"""Writes of bytes that stall while their body is being sent: a push's index (for 10^5 objects some
4.5 MB), which the server stops reading after its first bytes. Such a write is given up after the
remote's `timeout` (1 s here) like a stalled part of an upload, tried again once, and then fails the
push in one line (exit 22) with no index published. s3fs's `pipe_file`, which sent them before, has
no such watchdog: aiohttp's read timeout starts only once the whole body is sent, so the push hung.

The proxy's connections buffer only a few kB (`small_buffers`), so that an index of a few hundred
kB stalls before it is sent, as a larger one does with any server; without it loopback buffers
megabytes, the client sends the whole index, and even s3fs gives up waiting for the answer.

Every command runs the real `mlx` in a subprocess with a timeout of its own (`run_timed`, in
tests/remote_fixtures.py), so that a regression (a hang) fails the test instead of stalling the
suite."""

from __future__ import annotations

import gzip
import json

from blake3 import blake3

from tests.conftest import Repo, clone
from tests.remote_fixtures import Stall, boto3_client, gave_up, run_timed, through_proxy

FILES = 5_000  # tiny files: an index of 210 kB, where the proxy's connections and the client buffer 140 kB
STALL = Stall(received=1 << 10)
INDEX = r"index/[0-9a-f]{64}\.json\.gz"


def _tiny_files(repo: Repo) -> dict[str, bytes]:
    files = {f"f{number:05}": f"{number}\n".encode() for number in range(FILES)}
    repo.gen({"data": files}, old=True)
    return files


def _stalling_index_writes(proxy_of, times: list[int]):
    """A proxy's `fails`: the PUTs of an index stall while `times[0]` > proxy.stalled."""

    def fails(method: str, query: dict[str, list[str]]) -> bool | Stall:
        proxy = proxy_of()
        if method == "PUT" and "/index/" in proxy.requests[-1][1] and proxy.stalled < times[0]:
            return STALL
        return False

    return fails


def _indexes(endpoint: str, bucket: str) -> dict[str, bytes]:
    client = boto3_client(endpoint)
    listed = client.list_objects_v2(Bucket=bucket, Prefix="p/index/").get("Contents", [])
    return {entry["Key"]: client.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read() for entry in listed}


def _pushed_index_reads_back(endpoint: str, bucket: str) -> None:
    """The bucket holds one index, whole: its bytes hash to its name and list every file and the tree."""
    ((key, data),) = _indexes(endpoint, bucket).items()
    assert key == f"p/index/{blake3(data).hexdigest()}.json.gz"
    assert len(data) > 200_000  # well over what the proxy's connections and the client buffer
    document = json.loads(gzip.decompress(data))
    assert sum(len(pack["objects"]) for pack in document["packs"].values()) == FILES + 1


def _a_fresh_clone_pulls(repo: Repo, tmp_path, files: dict[str, bytes]) -> None:
    copy = clone(repo, tmp_path)
    pulled = run_timed(copy, "pull")
    assert pulled.code == 0, pulled
    assert {name: (copy / "data" / name).read_bytes() for name in files} == files


def test_an_index_write_that_stalls_once_is_sent_again_and_the_push_completes(
    repo, mlx, s3_server, s3_bucket, make_proxy, tmp_path
):
    files = _tiny_files(repo)
    proxy = make_proxy(_stalling_index_writes(lambda: proxy, [1]), small_buffers=True)
    through_proxy(proxy, repo, mlx, s3_bucket)
    assert mlx("add", "data").code == 0
    repo.commit("data")

    pushed = run_timed(repo, "push")

    assert pushed.code == 0, pushed
    assert pushed.err_lines == ["warning: remote 'origin' did not answer in 1 s; retrying (2 of 2)"]
    assert proxy.stalled == 1
    assert sum(1 for method, path, _ in proxy.requests if method == "PUT" and "/index/" in path) == 2
    _pushed_index_reads_back(s3_server.endpoint, s3_bucket)
    _a_fresh_clone_pulls(repo, tmp_path, files)


def test_an_index_write_that_always_stalls_fails_the_push_without_an_index_and_a_rerun_completes(
    repo, mlx, s3_server, s3_bucket, make_proxy
):
    _tiny_files(repo)
    stalls = [1_000]
    proxy = make_proxy(_stalling_index_writes(lambda: proxy, stalls), small_buffers=True)
    through_proxy(proxy, repo, mlx, s3_bucket)
    assert mlx("add", "data").code == 0
    repo.commit("data")

    pushed = run_timed(repo, "push")

    gave_up(pushed, "write", INDEX, s3_bucket)
    assert proxy.stalled == 2
    assert _indexes(s3_server.endpoint, s3_bucket) == {}  # its packs may stay, named by nothing

    stalls[0] = 0  # the stalls go away
    pushed = run_timed(repo, "push")
    assert pushed.code == 0, pushed
    _pushed_index_reads_back(s3_server.endpoint, s3_bucket)

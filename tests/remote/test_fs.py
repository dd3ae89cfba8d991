"""RemoteFS: the same contract for a local directory and for S3 (moto's server on loopback), and
failures that say what happened in one line: missing files, missing buckets, missing credentials,
an endpoint that stopped answering (after retries)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from mlxkit.errors import RemoteError
from mlxkit.store.remotes.fs import RemoteNotFoundError, RetryPolicy
from mlxkit.store.remotes.location import open_remote
from tests.remote_fixtures import FAST_RETRY, REGION, RemoteSpec, S3Server, create_bucket, start_s3_server


def test_write_then_read_gives_the_bytes(remote_url: RemoteSpec):
    fs = remote_url.open()
    fs.write("index/a.json", b'{"x": 1}')

    assert fs.read("index/a.json") == b'{"x": 1}'


def test_write_replaces_a_file_whole(remote_url: RemoteSpec):
    fs = remote_url.open()
    fs.write("locks/a.json", b"first version")
    fs.write("locks/a.json", b"second")

    assert fs.read("locks/a.json") == b"second"


def test_list_is_recursive_with_names_relative_to_the_prefix(remote_url: RemoteSpec):
    fs = remote_url.open()
    fs.write("objects/ab/cdef", b"12345")
    fs.write("objects/ff/0011", b"")
    fs.write("packs/p.pack", b"xyz")
    fs.write("objectsbeside", b"not below objects/")

    assert fs.list("objects") == {"ab/cdef": 5, "ff/0011": 0}
    assert fs.list("objects/") == {"ab/cdef": 5, "ff/0011": 0}
    assert fs.list("packs") == {"p.pack": 3}


def test_list_of_a_prefix_with_nothing_below_is_empty(remote_url: RemoteSpec):
    fs = remote_url.open()

    assert fs.list("index") == {}


def test_size_and_exists_of_present_and_missing_files(remote_url: RemoteSpec):
    fs = remote_url.open()
    fs.write("objects/ab/cd", b"1234")

    assert (fs.size("objects/ab/cd"), fs.exists("objects/ab/cd")) == (4, True)
    assert (fs.size("objects/ab/ce"), fs.exists("objects/ab/ce")) == (None, False)
    assert fs.size("objects/ab") is None  # a directory (or a key prefix) is not a file


def test_read_ranges_gives_each_range_and_less_past_the_end(remote_url: RemoteSpec):
    fs = remote_url.open()
    fs.write("packs/p.pack", b"0123456789")

    assert fs.read_ranges("packs/p.pack", [(0, 3), (5, 6), (8, 10), (7, 20)]) == [b"012", b"5", b"89", b"789"]
    assert fs.read_ranges("packs/p.pack", []) == []


def test_upload_then_download_gives_the_same_bytes(remote_url: RemoteSpec, tmp_path):
    data = os.urandom(3 << 20)
    source = tmp_path / "source"
    source.write_bytes(data)
    fs = remote_url.open()

    fs.upload(source, "objects/12/34")
    fs.download("objects/12/34", tmp_path / "copy")

    assert (tmp_path / "copy").read_bytes() == data
    assert fs.list("objects") == {"12/34": len(data)}


def test_delete_removes_files_and_ignores_missing_ones(remote_url: RemoteSpec):
    fs = remote_url.open()
    fs.write("locks/a.json", b"a")
    fs.write("locks/b.json", b"b")

    fs.delete(["locks/a.json", "locks/never-there.json"])

    assert fs.list("locks") == {"b.json": 1}


def test_reading_a_missing_file_names_it_and_the_remote(remote_url: RemoteSpec, tmp_path):
    fs = remote_url.open()
    fs.write("mlx-store.json", b"{}")  # the remote exists; the file does not
    expected = f"'index/nope.json' does not exist on remote 'origin' ({fs.url})"

    for call in (lambda: fs.read("index/nope.json"), lambda: fs.read_ranges("index/nope.json", [(0, 1)]),
                 lambda: fs.download("index/nope.json", tmp_path / "x")):
        with pytest.raises(RemoteNotFoundError) as caught:
            call()
        assert caught.value.message == expected
        assert caught.value.exit_code == 22


def test_a_read_with_a_limit_refuses_a_larger_file(remote_url: RemoteSpec):
    fs = remote_url.open()
    fs.write("mlx-store.json", b"x" * 1000)

    assert fs.read("mlx-store.json", limit=1000) == b"x" * 1000
    with pytest.raises(RemoteError, match=r"^'mlx-store.json' on remote 'origin' \(.*\) is larger than 999 bytes: it is not mlx's$"):
        fs.read("mlx-store.json", limit=999)


def test_paths_that_climb_out_are_a_bug_not_a_request(remote_url: RemoteSpec):
    fs = remote_url.open()

    for path in ("../x", "objects/../../x", "a//b", "a/./b"):
        with pytest.raises(ValueError, match="not a remote path"):
            fs.read(path)


def test_jobs_default_per_protocol_and_can_be_set(remote_url: RemoteSpec):
    assert remote_url.open().jobs == (4 if remote_url.kind == "local" else 8)
    assert remote_url.open(jobs=2).jobs == 2


# -- a local directory ---------------------------------------------------------------------------


def test_local_listing_skips_temp_files_left_by_a_killed_writer(tmp_path):
    fs = open_remote("backup", str(tmp_path / "remote"), {}, None)
    fs.write("packs/a.pack", b"a")
    (tmp_path / "remote" / "packs" / ".mlx-tmp-0123456789abcdef").write_bytes(b"half")

    assert fs.list("packs") == {"a.pack": 1}


def test_local_writes_leave_no_temp_files_and_readable_modes(tmp_path):
    source = tmp_path / "source"
    source.write_bytes(b"pack bytes")
    fs = open_remote("backup", str(tmp_path / "remote"), {}, None)

    fs.write("index/i.json", b"{}")
    fs.upload(source, "packs/p.pack")

    names = sorted(str(p.relative_to(tmp_path / "remote")) for p in (tmp_path / "remote").rglob("*"))
    assert names == ["index", "index/i.json", "packs", "packs/p.pack"]
    assert {oct((tmp_path / "remote" / n).stat().st_mode & 0o777) for n in ("index/i.json", "packs/p.pack")} == {"0o644"}


def test_local_remote_is_not_created_below_a_missing_directory(tmp_path):
    root = tmp_path / "mnt" / "nas" / "remote"
    fs = open_remote("backup", str(root), {}, None)

    with pytest.raises(RemoteError) as caught:
        fs.write("mlx-store.json", b"{}")

    assert caught.value.message == f"cannot create remote 'backup' ({root}): '{root.parent}' does not exist"
    assert caught.value.hint == "create that directory, or mount the disk that holds it"
    assert not (tmp_path / "mnt").exists()


# -- S3 --------------------------------------------------------------------------------------------


def test_a_missing_bucket_is_named(s3_server, s3_env):
    fs = open_remote("origin", "s3://no-such-bucket/data", _endpoint(s3_server.endpoint), None, retry=FAST_RETRY)

    for call in (lambda: fs.list("index"), lambda: fs.read("mlx-store.json"), lambda: fs.write("x", b"x")):
        with pytest.raises(RemoteError) as caught:
            call()
        assert caught.value.message == "bucket 'no-such-bucket' does not exist (remote 'origin': s3://no-such-bucket/data)"
        assert caught.value.hint == "create the bucket, or correct the remote's url"


def test_missing_credentials_give_one_line_naming_what_to_set(s3_bucket, s3_server, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    fs = open_remote("origin", f"s3://{s3_bucket}/data", _endpoint(s3_server.endpoint), None, retry=FAST_RETRY)

    with pytest.raises(RemoteError) as caught:
        fs.list("index")

    assert caught.value.message == (
        f"no credentials for remote 'origin' (s3://{s3_bucket}/data): set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or 'mlx remote modify --local origin access_key_id ...'"
    )
    assert "\n" not in caught.value.message


def test_credentials_from_options_are_used(s3_bucket, s3_server, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    options = {**_endpoint(s3_server.endpoint), "key": "testing", "secret": "testing"}
    fs = open_remote("origin", f"s3://{s3_bucket}/data", options, None)

    fs.write("a", b"1")

    assert fs.list("") == {"a": 1}


def test_an_endpoint_that_stops_answering_fails_after_retries_naming_it(tmp_path, s3_env):
    server = start_s3_server(tmp_path)
    try:
        fs = open_remote("origin", f"s3://{create_bucket(server.endpoint)}/p", _endpoint(server.endpoint), None, retry=FAST_RETRY)
        fs.write("mlx-store.json", b"{}")
        server.stop()

        with pytest.raises(RemoteError) as caught:
            fs.read("mlx-store.json")
    finally:
        server.stop()

    assert caught.value.message == f"cannot connect to '{server.endpoint}', the endpoint of remote 'origin', after 3 tries"


def test_connection_failures_are_retried_until_the_endpoint_answers_again(tmp_path, s3_env):
    server = start_s3_server(tmp_path)
    port = int(server.endpoint.rsplit(":", 1)[1])
    bucket = create_bucket(server.endpoint)
    patient = RetryPolicy(tries=10, first_delay=0.1)  # up to 51 s: far longer than a restart takes
    fs = open_remote("origin", f"s3://{bucket}/p", _endpoint(server.endpoint), None, retry=patient)
    server.stop()
    restarted: list[S3Server] = []
    restarter = threading.Thread(target=lambda: restarted.append(start_s3_server(tmp_path, port)))
    restarter.start()
    try:
        with pytest.raises(RemoteError) as caught:
            fs.read("mlx-store.json")  # refused until the new server listens; it has no buckets
    finally:
        restarter.join()
        for again in restarted:
            again.stop()

    assert caught.value.message == f"bucket '{bucket}' does not exist (remote 'origin': s3://{bucket}/p)"


def _endpoint(endpoint: str) -> dict[str, object]:
    return {"client_kwargs": {"endpoint_url": endpoint, "region_name": REGION}}


def test_downloading_a_large_s3_object_streams_it_in_bounded_memory(s3_bucket, s3_server, tmp_path):
    """s3fs's default reads ten 50 MiB ranges at once, each whole: a 1 GiB object took 1.1 GiB of
    memory. The download runs in a child process so that its peak resident memory is its own."""
    size = 256 << 20
    spec = RemoteSpec("s3", f"s3://{s3_bucket}/big", s3_server.endpoint)
    source = tmp_path / "source"
    with open(source, "wb") as handle:
        for _ in range(size >> 20):
            handle.write(os.urandom(1 << 20))
    spec.open().upload(source, "objects/ab/big")
    # VmHWM, not getrusage: ru_maxrss survives exec, so a child would report this process's peak.
    child = textwrap.dedent(f"""
        from mlxkit.store.remotes.location import open_remote
        fs = open_remote("origin", {spec.url!r}, {spec.options!r}, None)
        fs.download("objects/ab/big", {str(tmp_path / "copy")!r})
        status = open("/proc/self/status").read()
        print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
    """)
    peak_mib = int(subprocess.run([sys.executable, "-c", child], check=True, capture_output=True, text=True).stdout)

    assert os.path.getsize(tmp_path / "copy") == size
    assert peak_mib < 200, f"{peak_mib} MiB resident to download {size >> 20} MiB"

"""Uploads to S3 (store/remotes/multipart.py) against moto's server on loopback: a large file goes
up in checksummed parts and reads back whole; a part that fails is resent alone; an upload that
cannot finish is aborted and leaves nothing; every upload of a remote shares one memory budget.

Failures come from `FaultyProxy` (tests/remote_fixtures.py), a small HTTP proxy on loopback in front
of moto that answers "503 SlowDown" to the requests a test chooses and forwards everything else."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlxkit.errors import RemoteError
from tests.remote_fixtures import RemoteSpec, boto3_client

PART = 8 << 20  # multipart.PART: the size of every part but the last


def _random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_a_large_file_goes_up_in_checksummed_parts_and_reads_back_whole(s3_bucket, s3_server, tmp_path):
    data = _random_file(tmp_path / "big", 2 * PART + 12345)
    fs = RemoteSpec("s3", f"s3://{s3_bucket}/p", s3_server.endpoint).open()

    fs.upload(tmp_path / "big", "objects/ab/cd")

    client = boto3_client(s3_server.endpoint)
    head = client.head_object(Bucket=s3_bucket, Key="p/objects/ab/cd", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')  # three parts
    assert "ChecksumCRC32" in head  # each part checksummed, as boto3 sends them (else: a full-object CRC64NVME)
    assert client.get_object(Bucket=s3_bucket, Key="p/objects/ab/cd")["Body"].read() == data
    assert "Uploads" not in client.list_multipart_uploads(Bucket=s3_bucket)


def test_no_part_checksum_is_asked_for_when_the_client_sends_checksums_only_where_required(s3_bucket, s3_server, tmp_path):
    # For servers that reject checksums (docs/remotes.md). A fresh process: s3fs keeps one client per
    # set of options, made with the environment it first saw.
    _random_file(tmp_path / "big", 2 * PART + 1)
    spec = RemoteSpec("s3", f"s3://{s3_bucket}/p", s3_server.endpoint)
    child = textwrap.dedent(f"""
        from mlxkit.store.remotes.location import open_remote
        open_remote("origin", {spec.url!r}, {spec.options!r}, 1).upload({str(tmp_path / "big")!r}, "objects/ab/cd")
    """)
    env = {**os.environ, "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required"}
    subprocess.run([sys.executable, "-c", child], check=True, env=env)

    head = boto3_client(s3_server.endpoint).head_object(Bucket=s3_bucket, Key="p/objects/ab/cd", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"')
    assert "ChecksumCRC32" not in head


def test_a_small_file_goes_up_in_one_request(s3_bucket, s3_server, make_proxy, tmp_path):
    data = _random_file(tmp_path / "small", PART)
    proxy = make_proxy()

    RemoteSpec("s3", f"s3://{s3_bucket}/p", proxy.endpoint).open().upload(tmp_path / "small", "objects/ab/cd")

    assert [method for method, _, _ in proxy.requests] == ["PUT"]
    assert boto3_client(s3_server.endpoint).get_object(Bucket=s3_bucket, Key="p/objects/ab/cd")["Body"].read() == data


def test_a_part_that_fails_once_is_sent_again_alone(s3_bucket, s3_server, make_proxy, tmp_path):
    data = _random_file(tmp_path / "big", 3 * PART)
    refused: list[str] = []

    def once_for_part_two(method: str, query: dict[str, list[str]]) -> bool:
        if method == "PUT" and query.get("partNumber") == ["2"] and not refused:
            refused.append("2")
            return True
        return False

    proxy = make_proxy(once_for_part_two)
    RemoteSpec("s3", f"s3://{s3_bucket}/p", proxy.endpoint).open().upload(tmp_path / "big", "objects/ab/cd")

    assert [proxy.parts_sent(number) for number in (1, 2, 3)] == [1, 2, 1]
    assert boto3_client(s3_server.endpoint).get_object(Bucket=s3_bucket, Key="p/objects/ab/cd")["Body"].read() == data


def test_an_upload_whose_part_keeps_failing_is_aborted_and_leaves_nothing(s3_bucket, s3_server, make_proxy, tmp_path):
    _random_file(tmp_path / "big", 3 * PART)
    proxy = make_proxy(lambda method, query: method == "PUT" and query.get("partNumber") == ["2"])
    fs = RemoteSpec("s3", f"s3://{s3_bucket}/p", proxy.endpoint).open()

    with pytest.raises(RemoteError) as caught:
        fs.upload(tmp_path / "big", "objects/ab/cd")

    assert caught.value.message == (
        f"cannot upload 'objects/ab/cd' on remote 'origin' (s3://{s3_bucket}/p): "
        "please reduce your request rate, after 3 tries"
    )
    assert proxy.parts_sent(2) == 3  # FAST_RETRY: three tries in all
    client = boto3_client(s3_server.endpoint)
    assert "Uploads" not in client.list_multipart_uploads(Bucket=s3_bucket)  # aborted
    assert "Contents" not in client.list_objects_v2(Bucket=s3_bucket)


def test_uploads_at_once_share_one_memory_budget(s3_bucket, s3_server, tmp_path):
    """Eight 48 MiB files on eight threads: s3fs's put_file held eight parts of each in memory
    (771 MiB in all, measured); the shared budget holds 64 MiB whatever the number of uploads."""
    spec = RemoteSpec("s3", f"s3://{s3_bucket}/many", s3_server.endpoint)
    size, count = 6 * PART, 8
    chunk = os.urandom(1 << 20)
    for index in range(count):
        with open(tmp_path / f"f{index}", "wb") as handle:
            for _ in range(size >> 20):
                handle.write(chunk)
    # VmHWM, not getrusage: ru_maxrss survives exec, so a child would report this process's peak.
    child = textwrap.dedent(f"""
        from concurrent.futures import ThreadPoolExecutor
        from mlxkit.store.remotes.location import open_remote
        fs = open_remote("origin", {spec.url!r}, {spec.options!r}, {count})
        fs.size("warm-up")  # the client and its imports, before the baseline
        baseline = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
        with ThreadPoolExecutor({count}) as pool:
            list(pool.map(lambda index: fs.upload({str(tmp_path)!r} + f"/f{{index}}", f"o/{{index}}"), range({count})))
        peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
        print((peak - baseline) // 1024)
    """)
    grown_mib = int(subprocess.run([sys.executable, "-c", child], check=True, capture_output=True, text=True).stdout)

    sizes = {entry["Key"]: entry["Size"] for entry in boto3_client(s3_server.endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert sizes == {f"many/o/{index}": size for index in range(count)}
    assert grown_mib < 100, f"{grown_mib} MiB more resident to upload {count} files of {size >> 20} MiB at once"

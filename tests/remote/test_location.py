"""Opening a remote from its url: local paths become absolute directories, other protocols go to
fsspec, and what cannot be opened says why (an unknown protocol, a package to install)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from mlxkit.errors import RemoteError, UsageError
from mlxkit.store.remotes.fs import FsspecFS, LocalFS
from mlxkit.store.remotes.location import display_url, open_remote, split_url


@pytest.mark.parametrize("url", ["remote", "./remote", "file://remote", "local://remote"])
def test_relative_local_urls_resolve_against_the_working_directory(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fs = open_remote("backup", url, {}, None)

    assert isinstance(fs, LocalFS)
    assert fs.root == fs.url == str(tmp_path / "remote")


@pytest.mark.parametrize("url", ["/srv/mlx", "file:///srv/mlx", "FILE:///srv/mlx", "file://localhost/srv/mlx"])
def test_absolute_local_urls_name_that_directory(url):
    assert split_url("backup", url) == ("file", "/srv/mlx")


def test_s3_urls_open_through_fsspec_without_touching_the_network():
    fs = open_remote("origin", "s3://bucket/some/prefix/", {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}, None)

    assert isinstance(fs, FsspecFS)
    assert (fs.url, fs.bucket, fs.jobs) == ("s3://bucket/some/prefix/", "bucket", 8)


def test_an_unknown_protocol_is_a_usage_error():
    with pytest.raises(UsageError) as caught:
        open_remote("origin", "nosuch://bucket/x", {}, None)

    assert caught.value.message == "unknown protocol 'nosuch' in the url of remote 'origin' (nosuch://bucket/x)"
    assert caught.value.hint == "use a directory, file://, s3:// or another protocol fsspec knows"


@pytest.mark.skipif(importlib.util.find_spec("paramiko") is not None, reason="paramiko is installed here")
def test_a_protocol_whose_package_is_missing_names_the_package():
    with pytest.raises(RemoteError) as caught:
        open_remote("origin", "sftp://host/x", {}, None)

    assert caught.value.message == "the 'sftp' protocol needs the package 'paramiko': pip install paramiko"


def test_s3_without_s3fs_says_which_extra_to_install(tmp_path):
    script = (
        "import sys, json\n"
        "sys.modules['s3fs'] = None  # as if s3fs were not installed\n"
        "from mlxkit.errors import RemoteError\n"
        "from mlxkit.store.remotes.location import open_remote\n"
        "try:\n"
        "    open_remote('origin', 's3://bucket/x', {}, None)\n"
        "except RemoteError as exc:\n"
        "    print(json.dumps([exc.message, exc.exit_code]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)

    assert json.loads(proc.stdout) == ["the 's3' protocol needs the package 's3fs': pip install 'mlxkit[s3]'", 22]


def test_opening_a_local_remote_imports_no_fsspec(tmp_path):
    script = (
        "import sys\n"
        "from mlxkit.store.remotes import catalog, layout, locks, packs\n"
        "from mlxkit.store.remotes.location import open_remote\n"
        f"fs = open_remote('backup', {str(tmp_path / 'remote')!r}, {{}}, None)\n"
        "layout.create_marker(fs)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fsspec', 's3fs', 'botocore', 'aiobotocore')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)

    assert proc.stdout == "[]\n"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "remote 'origin' has an empty url"),
        ("simplecache::s3://bucket/x", "remote 'origin': chained urls ('simplecache::s3://bucket/x') are not supported"),
    ],
)
def test_urls_mlx_does_not_open_are_refused(url, message):
    with pytest.raises(UsageError) as caught:
        open_remote("origin", url, {}, None)

    assert caught.value.message == message


def test_jobs_below_one_are_refused():
    with pytest.raises(UsageError) as caught:
        open_remote("origin", "/srv/mlx", {}, 0)

    assert caught.value.message == "remote 'origin': jobs must be at least 1, not 0"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sftp://me:secret@host:22/x", "sftp://host:22/x"),
        ("s3://bucket/x", "s3://bucket/x"),
        ("/srv/a@b", "/srv/a@b"),
    ],
)
def test_urls_in_messages_carry_no_user_or_password(url, shown):
    assert display_url(url) == shown

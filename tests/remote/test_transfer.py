"""push, fetch, pull and status --cloud through the real `mlx` executable, against a local-directory
remote and against S3 (moto's server on loopback): the contract suite of issue 5."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Repo, clone, mlx_executable
from tests.remote_fixtures import configure, create_bucket, overwrite_remote_file, remote_files, s3_origin, start_s3_server

SMALL = {f"f{i:03}.csv": f"row,{i}\n" * (i + 1) for i in range(40)}
BIG = os.urandom(300_000)  # above the tests' pack threshold: stored loose


@pytest.fixture
def project(repo: Repo, mlx, remote_url):
    """A repository with a directory of small files and one large file, and `origin` configured."""
    repo.gen({"data": SMALL, "model.bin": BIG}, old=True)
    assert mlx("add", "data", "model.bin").code == 0
    configure(mlx, repo.path, remote_url)
    assert mlx("config", "remote.pack_threshold", "100000").code == 0
    repo.commit("data")
    return repo


def test_push_then_pull_into_a_fresh_clone_restores_every_file(project, mlx, tmp_path):
    pushed = mlx("push")
    assert pushed.code == 0, pushed
    assert pushed.out == "42 objects pushed to 'origin' (" + pushed.out.split("(", 1)[1]
    assert "in 1 pack" in pushed.out and "0 already there" in pushed.out

    copy = clone(project, tmp_path)
    pulled = mlx("pull", cwd=copy.path)

    assert pulled.code == 0, pulled
    assert "42 objects fetched from 'origin'" in pulled.out
    assert (copy / "model.bin").read_bytes() == BIG
    assert {p.name: p.read_text() for p in (copy / "data").iterdir()} == SMALL
    assert mlx("status", cwd=copy.path).out == "Everything is up to date (2 tracked paths).\n"


def test_pull_prints_the_warnings_of_its_checkout(project, mlx, tmp_path):
    assert mlx("push").code == 0
    copy = clone(project, tmp_path)
    assert mlx("init", cwd=copy.path).code == 0
    (copy / ".mlx/state.db").write_bytes(b"garbage" * 1000)  # the checkout finds its stat cache damaged

    pulled = mlx("pull", cwd=copy.path)

    assert pulled.code == 0, pulled
    assert len(pulled.err_lines) == 1, pulled
    assert pulled.err_lines[0].startswith("warning: the stat cache 'state.db' was unreadable ("), pulled
    assert pulled.err_lines[0].endswith(") and has been rebuilt"), pulled


def test_the_remote_holds_loose_large_objects_one_pack_and_one_index(project, mlx, remote_url):
    assert mlx("push").code == 0
    names = remote_files(remote_url)
    assert sorted(name.split("/")[0] for name in names) == ["index", "objects", "packs"]
    loose = [name for name in names if name.startswith("objects/")]
    assert loose == [f"objects/{project.pointer('model.bin')['hash'][7:9]}/{project.pointer('model.bin')['hash'][9:]}"]


def test_a_second_push_sends_nothing(project, mlx):
    assert mlx("push").code == 0
    again = mlx("push")
    assert again.code == 0, again
    assert again.out == "0 objects pushed to 'origin' (0 B); 42 already there.\n"


def test_status_cloud_shows_what_is_missing_where(project, mlx, tmp_path):
    before = mlx("status", "--cloud")
    assert before.code == 0, before
    assert before.out == (
        "data: 41 missing on 'origin' (of 41 objects)\n"
        "model.bin: 1 missing on 'origin' (of 1 object)\n"
    )
    assert mlx("status", "--cloud", "--exit-code").code == 1
    assert mlx("push", "data").code == 0
    assert mlx("status", "--cloud").out == "model.bin: 1 missing on 'origin' (of 1 object)\n"
    assert mlx("push").code == 0
    assert mlx("status", "--cloud").out == "Cache and remote 'origin' are in sync (42 objects of 2 paths).\n"

    copy = clone(project, tmp_path)
    fresh = mlx("status", "--cloud", "--json", cwd=copy.path).json
    assert fresh["missing_locally"] == 42  # the tree is read from the remote: its files are counted
    assert [entry["tree_unknown"] for entry in fresh["paths"]] == [False, False]


def test_fetch_and_push_of_a_target_move_only_its_objects(project, mlx, tmp_path):
    assert mlx("push", "model.bin.mlx").code == 0
    copy = clone(project, tmp_path)
    fetched = mlx("fetch", "model.bin", cwd=copy.path)
    assert fetched.code == 0, fetched
    assert fetched.out.startswith("1 object fetched from 'origin'")
    missing = mlx("pull", "data", cwd=copy.path)
    assert missing.code == 20, missing
    assert "warning: 'data': not on the remote" in missing.err


def test_an_unknown_target_is_refused(project, mlx):
    mlx("push", "nothing/here").expect_error(
        2, "'nothing/here' is not tracked by mlx and no stage writes it", "run 'mlx add nothing/here' to track it"
    )


def test_a_corrupt_byte_in_a_pack_is_reported_and_never_stored(project, mlx, tmp_path, remote_url):
    assert mlx("push").code == 0
    pack = _corrupt_the_first_object_of_a_pack(remote_url)

    copy = clone(project, tmp_path)
    fetched = mlx("fetch", cwd=copy.path)

    assert fetched.code == 21, fetched
    corrupt = [line for line in fetched.err_lines if "is corrupt" in line]
    assert len(corrupt) == 1 and f"in packs/{pack} at offset 0 is corrupt" in corrupt[0]
    assert fetched.err_lines[-2].startswith("mlx: 1 object on the remote did not match its hash")
    assert len(copy.objects()) == 41  # everything else arrived


def test_a_corrupt_loose_object_is_reported_and_never_stored(project, mlx, tmp_path, remote_url):
    assert mlx("push").code == 0
    digest = project.pointer("model.bin")["hash"][7:]
    overwrite_remote_file(remote_url, f"objects/{digest[:2]}/{digest[2:]}", b"not the model")

    copy = clone(project, tmp_path)
    fetched = mlx("fetch", cwd=copy.path)

    assert fetched.code == 21, fetched
    assert f"warning: object {digest[:12]} at objects/{digest[:2]}/{digest[2:]} is corrupt" in fetched.err_lines
    assert digest not in copy.objects()
    assert len(copy.objects()) == 41
    assert not copy.temp_files()


def test_a_complete_fetch_vouches_for_its_trees_so_the_checkout_need_not_stat_their_objects(
    project, mlx, tmp_path, remote_url
):
    """After a fetch that brought everything, the stat cache says the directory's tree is complete
    at the cache's generation; after one that found a corrupt object it must not."""
    from mlxkit.repo.repository import find_repository
    from mlxkit.store.digest import Digest

    def vouched(where: Path) -> bool:
        repo = find_repository(where)
        try:
            return repo.state.is_complete(Digest.parse(project.pointer("data")["hash"]), repo.store.generation())
        finally:
            repo.close()

    assert mlx("push").code == 0
    whole = clone(project, tmp_path, "whole")
    assert mlx("fetch", cwd=whole.path).code == 0
    assert vouched(whole.path)

    _corrupt_the_first_object_of_a_pack(remote_url)
    damaged = clone(project, tmp_path, "damaged")
    assert mlx("fetch", cwd=damaged.path).code == 21
    assert not vouched(damaged.path)
    checked_out = mlx("checkout", cwd=damaged.path)
    said = checked_out.out + checked_out.err
    assert "data" in said and "not in the cache" in said, checked_out


def test_a_remote_of_a_newer_format_is_refused(project, mlx, remote_url):
    assert mlx("push").code == 0
    overwrite_remote_file(remote_url, "mlx-store.json", b'{"format": 2, "hash": "blake3", "kind": "remote"}\n')
    result = mlx("pull")
    assert result.code == 13, result
    assert "format 2" in result.err and "Traceback" not in result.err


def test_a_fresh_clone_can_pull_and_repro_frozen(repo, mlx, tmp_path, remote_url):
    repo.gen({"params.yaml": "n: 3\n", "raw.txt": "a\nb\nc\nd\n"}, old=True)
    repo.gen({"mlx.yaml": "stages:\n  head:\n    cmd: head -n ${n} raw.txt > out.txt\n    deps: [raw.txt]\n"
                          "    params: [n]\n    outs: [out.txt]\n"})
    assert mlx("add", "raw.txt").code == 0
    assert mlx("run").code == 0
    configure(mlx, repo.path, remote_url)
    repo.commit("pipeline")
    assert mlx("push").code == 0

    copy = clone(repo, tmp_path)
    pulled = mlx("pull", cwd=copy.path)
    assert pulled.code == 0, pulled
    assert (copy / "out.txt").read_text() == "a\nb\nc\n"
    assert (copy / "raw.txt").read_text() == "a\nb\nc\nd\n"
    frozen = mlx("repro", "--frozen", cwd=copy.path)
    assert frozen.code == 0, frozen
    assert mlx("status", cwd=copy.path).code == 0
    # the cache the pull created is an mlx cache: gc and fsck work there without 'mlx init'
    assert mlx("fsck", cwd=copy.path).code == 0
    assert mlx("gc", cwd=copy.path).out.startswith("Removed 0 objects")


def test_push_all_commits_sends_an_old_version_too(repo, mlx, tmp_path, remote_url):
    repo.gen({"model.bin": "v1\n"}, old=True)
    assert mlx("add", "model.bin").code == 0
    configure(mlx, repo.path, remote_url)
    repo.commit("v1")
    repo.gen({"model.bin": "v2\n"}, old=True)
    assert mlx("add", "model.bin").code == 0
    repo.commit("v2")

    assert mlx("push").out.startswith("1 object pushed")
    assert mlx("push", "--all-commits").out.startswith("1 object pushed")

    copy = clone(repo, tmp_path)
    copy.git("checkout", "-q", "HEAD~1")
    assert mlx("pull", cwd=copy.path).code == 0
    assert (copy / "model.bin").read_text() == "v1\n"


def test_push_and_fetch_rev_move_what_the_named_commit_references(repo, mlx, tmp_path, remote_url):
    repo.gen({"model.bin": "v1\n"}, old=True)
    assert mlx("add", "model.bin").code == 0
    configure(mlx, repo.path, remote_url)
    repo.commit("v1")
    repo.git("branch", "first")
    repo.gen({"model.bin": "v2\n"}, old=True)
    assert mlx("add", "model.bin").code == 0
    repo.commit("v2")

    assert mlx("push", "--rev", "first").out.startswith("2 objects pushed")  # v1 and the workspace's v2
    copy = clone(repo, tmp_path)
    fetched = mlx("fetch", "--rev", "origin/first", "--json", cwd=copy.path)
    assert (fetched.code, fetched.json["fetched"]) == (0, 2), fetched
    copy.git("checkout", "-q", "first")
    assert mlx("checkout", cwd=copy.path).code == 0  # from the cache: nothing left to fetch
    assert (copy / "model.bin").read_text() == "v1\n"


def test_rev_dash_reads_the_commits_from_stdin(repo, mlx, tmp_path, remote_url):
    """The pre-push hook's way: `git rev-list ... | mlx push --rev -`, one commit a line."""
    configure(mlx, repo.path, remote_url)
    commits = []
    for version in ("v1", "v2", "v3"):
        repo.gen({"model.bin": f"{version}\n"}, old=True)
        assert mlx("add", "model.bin").code == 0
        repo.commit(version)
        commits.append(repo.git("rev-parse", "HEAD").strip())
    repo.gen({"model.bin": "workspace\n"}, old=True)
    assert mlx("add", "model.bin").code == 0

    pushed = mlx("push", "--rev", "-", "--json", input="\n".join(commits[:2]) + "\n\n")
    assert (pushed.code, pushed.json["uploaded"]) == (0, 4), pushed  # v1 and v2, HEAD's v3, the workspace's
    copy = clone(repo, tmp_path)
    for commit, version in zip(commits[:2], ("v1", "v2"), strict=True):
        copy.git("checkout", "-q", commit)
        assert mlx("pull", cwd=copy.path).code == 0
        assert (copy / "model.bin").read_text() == f"{version}\n"
    refused = mlx("push", "--rev", "-", input="no-such-commit\n")
    assert refused.code == 2 and "'no-such-commit' names no commit" in refused.err, refused


def test_two_concurrent_pushes_of_overlapping_data_both_land(repo, mlx, tmp_path, remote_url):
    shared = {f"s{i}.txt": f"shared {i}\n" for i in range(50)}
    repo.gen({"data": shared}, old=True)
    configure(mlx, repo.path, remote_url)
    repo.commit("remote")
    clones = []
    for name in ("one", "two"):
        copy = clone(repo, tmp_path, name)
        copy.gen({"data": {f"{name}{i}.txt": f"{name} {i}\n" for i in range(50)}}, old=True)
        assert mlx("add", "data", cwd=copy.path).code == 0
        copy.commit(name)
        clones.append(copy)
    env = {**os.environ}
    pushes = [subprocess.Popen([mlx_executable(), "push"], cwd=c.path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for c in clones]
    for process in pushes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err

    for copy in clones:
        fresh = clone(copy, tmp_path, f"{copy.path.name}-fresh")
        assert mlx("pull", cwd=fresh.path).code == 0
        assert len(list((fresh / "data").iterdir())) == 100


def test_missing_credentials_give_one_line(project, mlx, remote_url, monkeypatch):
    if remote_url.kind != "s3":
        pytest.skip("credentials are an S3 matter")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(project.path / "no-such-file"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(project.path / "no-such-file"))
    result = mlx("push")
    assert result.code == 22, result
    assert result.err_lines[0].startswith("mlx: no credentials for remote 'origin'")
    assert "Traceback" not in result.err and len(result.err_lines) <= 2


def test_a_push_killed_midway_is_finished_by_a_rerun(project, mlx, remote_url, tmp_path):
    if remote_url.kind != "local":
        pytest.skip("for S3, test_a_server_that_stops_in_the_middle_of_a_push... stops the server instead")
    project.gen({"more": {f"m{i}.bin": os.urandom(150_000) for i in range(60)}}, old=True)
    assert mlx("add", "more").code == 0
    process = subprocess.Popen([mlx_executable(), "push", "-j", "1"], cwd=project.path)
    remote = Path(remote_url.url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((remote / "objects").rglob("*"))) < 20:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()

    rerun = mlx("push")
    assert rerun.code == 0, rerun
    assert "already there" in rerun.out and not rerun.out.endswith("; 0 already there.\n")
    assert mlx("status", "--cloud").out.startswith("Cache and remote 'origin' are in sync")


def test_a_server_that_stops_in_the_middle_of_a_push_gives_a_clear_error_and_a_rerun_completes(
    repo, mlx, tmp_path, s3_env
):
    import s3fs

    repo.gen({"data": {f"f{i:03}.bin": os.urandom(300_000) for i in range(120)}}, old=True)
    assert mlx("add", "data").code == 0
    server = start_s3_server(tmp_path)
    try:
        bucket = create_bucket(server.endpoint)
        s3_origin(repo, mlx, bucket, server.endpoint)
        assert mlx("config", "remote.pack_threshold", "100000").code == 0  # 120 loose uploads
        push = subprocess.Popen([mlx_executable(), "push", "-j", "1"], cwd=repo.path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        client = s3fs.S3FileSystem(key="testing", secret="testing", client_kwargs={"endpoint_url": server.endpoint},
                                   skip_instance_cache=True, use_listings_cache=False)
        deadline = time.monotonic() + 60
        while push.poll() is None and time.monotonic() < deadline:
            if len(client.find(f"{bucket}/p/objects")) >= 5:
                break
            time.sleep(0.02)
        assert push.poll() is None, "the push ended before the server was stopped"
        server.stop()
        _out, err = push.communicate(timeout=120)
        assert push.returncode == 22, err
        *retries, failure = err.splitlines()
        assert failure.startswith("mlx: ") and "127.0.0.1" in failure and "Traceback" not in err, err
        assert all(re.fullmatch(r"warning: remote 'origin' (could not be reached|dropped the connection); retrying \(\d of 5\)"
                                r"( \(and \d+ more like it in the last \d+ s\))?", line)
                   for line in retries), err
    finally:
        server.stop()
    restarted = start_s3_server(tmp_path, port=int(server.endpoint.rsplit(":", 1)[1]))
    try:
        create_bucket_named(restarted.endpoint, bucket)  # moto kept its objects in memory: all gone
        rerun = mlx("push")
        assert rerun.code == 0, rerun
        assert mlx("status", "--cloud").out.startswith("Cache and remote 'origin' are in sync")
    finally:
        restarted.stop()


def create_bucket_named(endpoint: str, bucket: str) -> None:
    import s3fs

    s3fs.S3FileSystem(key="testing", secret="testing", client_kwargs={"endpoint_url": endpoint},
                      skip_instance_cache=True).mkdir(bucket)


def _corrupt_the_first_object_of_a_pack(remote_url) -> str:
    """Flip a byte inside the first object of one of the remote's packs; returns the pack's name."""
    fs = remote_url.open()
    pack = next(iter(fs.list("packs")))
    data = bytearray(fs.read(f"packs/{pack}"))
    data[5] ^= 0xFF
    overwrite_remote_file(remote_url, f"packs/{pack}", bytes(data))
    return pack


def test_a_large_pack_is_fetched_whole_and_a_damaged_object_in_it_is_still_found(repo, mlx, tmp_path, remote_url):
    files = {f"f{i:03}.bin": os.urandom(64 * 1024) for i in range(150)}  # one pack of 9.6 MB
    repo.gen({"data": files}, old=True)
    assert mlx("add", "data").code == 0
    configure(mlx, repo.path, remote_url)
    repo.commit("data")
    assert mlx("push").code == 0
    fs = remote_url.open()
    (pack,) = fs.list("packs")
    data = bytearray(fs.read(f"packs/{pack}"))
    assert len(data) > 8 << 20  # more than one ranged read: downloaded as a whole
    data[5] ^= 1  # inside the first object (a file: trees come last)
    overwrite_remote_file(remote_url, f"packs/{pack}", bytes(data))

    copy = clone(repo, tmp_path)
    fetched = mlx("fetch", cwd=copy.path)

    assert fetched.code == 21, fetched
    assert sum("is corrupt" in line for line in fetched.err_lines) == 1
    assert len(copy.objects()) == 150  # the tree and 149 files
    assert not copy.temp_files() and not list((copy / ".mlx" / "tmp").glob(".mlx-tmp-*"))


def test_objects_of_several_large_packs_unpacked_by_workers_keep_their_own_pack(repo, mlx, tmp_path, remote_url):
    # 4,400 objects (enough for worker processes) in two packs of more than 8 MiB (each fetched whole)
    files = {f"f{i:04}.bin": os.urandom(5000) for i in range(4400)}
    repo.gen({"data": files}, old=True)
    assert mlx("add", "data").code == 0
    configure(mlx, repo.path, remote_url)
    assert mlx("config", "remote.pack_size", str(11 << 20)).code == 0
    repo.commit("data")
    assert mlx("push").code == 0
    fs = remote_url.open()
    packs = sorted(fs.list("packs"))
    assert len(packs) == 2 and all(size > 8 << 20 for size in fs.list("packs").values())
    for pack in packs:  # a byte of each pack's first object
        data = bytearray(fs.read(f"packs/{pack}"))
        data[5] ^= 1
        overwrite_remote_file(remote_url, f"packs/{pack}", bytes(data))

    copy = clone(repo, tmp_path)
    fetched = mlx("fetch", cwd=copy.path)

    assert fetched.code == 21, fetched
    corrupt = [line for line in fetched.err_lines if "is corrupt" in line]
    named = sorted(re.search(r"in packs/(\S+) at offset 0 is corrupt", line)[1] for line in corrupt)
    assert named == packs, corrupt
    assert len(copy.objects()) == 4400 - 2 + 1  # the rest, and the tree


def test_a_push_reads_no_tree_the_remote_has(project, mlx):
    """A tree reaches the remote after its files, so a push does not look inside a tree the remote
    has: with the tree gone from the local cache, a second push still finds nothing to send."""
    assert mlx("push").code == 0
    os.remove(project.object_path(project.pointer("data")["hash"]))

    again = mlx("push")

    assert again.code == 0, again
    assert again.out == "0 objects pushed to 'origin' (0 B); 42 already there.\n"

"""Interrupted commands leave the repository consistent, and running them again finishes the job
(RELIABILITY.md §10): SIGINT exits 130, SIGTERM 143, and even kill -9 leaves nothing that fsck
counts as more than garbage.

Each test starts `mlx add` (or checkout) of a directory of a few thousand small files, waits until
the command is visibly in the middle of its work (objects, or workspace files, are appearing), then
signals it. Nothing here depends on timing: if the command has already finished, the test says so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

FILES = 4200  # enough for mlx to use its forked workers (mlxkit.parallel), and to be caught mid-way
SMALL = 1500  # below that threshold: threads in one process
DIRS = 30


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """Directories of small files of distinct content, written once per test process; tests take
    hard-linked copies (mlx only reads what it adds), which costs a tenth of writing them."""
    root = tmp_path_factory.mktemp("template")
    old = time.time() - 3600
    for name, files in (("data", FILES), ("small", SMALL)):
        per_dir = files // DIRS
        for d in range(DIRS):
            folder = root / name / f"d{d:02}"
            folder.mkdir(parents=True)
            for f in range(per_dir):
                path = folder / f"f{f:04}.txt"
                with open(path, "wb") as handle:
                    handle.write(f"{name} {d} {f} ".encode() * 20)
                os.utime(path, (old, old))
    return root


@pytest.fixture
def generate(template):
    def copy(root, name: str = "data") -> None:
        subprocess.run(["cp", "-al", str(template / name), str(root / name)], check=True)

    return copy


def count_objects(repo) -> int:
    top = repo.cache / "objects"
    return sum(len(os.listdir(top / d)) for d in os.listdir(top) if (top / d).is_dir()) if top.is_dir() else 0


def start(mlx_path, repo, *args):
    # A session of its own, so that a signal can go to the whole process group, as Ctrl-C does.
    return subprocess.Popen(
        [mlx_path, *args], cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def processes_holding(path) -> list[int]:
    """Pids of processes that have `path` open (mlx's forked workers included)."""
    holders = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    holders.append(int(pid))
                    break
            except OSError:
                continue
    return holders


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.01)


def signal_when(proc, condition, signum, what: str, timeout: float = 60, *, group: bool = False) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"mlx finished (exit {proc.returncode}) before {what}; make the data set larger\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)
    if group:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    try:
        return proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"mlx did not exit within 120 s of signal {signum}")


def add_json(mlx, *paths):
    result = mlx("add", "--json", *paths)
    assert result.code == 0, result
    return result.json


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_during_add_exits_cleanly_and_a_rerun_finishes(repo, mlx, mlx_path, generate, signum, code):
    generate(repo.path, "data")
    proc = start(mlx_path, repo, "add", "data")

    out, err = signal_when(proc, lambda: count_objects(repo) > 0, signum, "objects appeared")

    assert proc.returncode == code, err
    assert err == "mlx: interrupted\n"
    assert out == ""
    assert not (repo / "data.mlx").exists()
    assert not (repo / ".gitignore").exists()
    assert repo.temp_files() == []
    assert not (repo / ".mlx" / "tmp" / "lock.json").exists()
    partial = count_objects(repo)
    assert 0 < partial < FILES + 1
    fsck = mlx("fsck", "--json")
    assert fsck.code == 0, fsck
    assert (fsck.json["problems"], fsck.json["garbage"]) == ([], [])

    rerun = add_json(mlx, "data")

    counters = rerun["counters"]
    assert rerun["paths"][0]["change"] == "added"
    assert counters["objects_written"] + counters["objects_skipped"] == FILES
    assert counters["objects_skipped"] == partial  # what was stored before the signal is not stored again
    assert count_objects(repo) == FILES + 1  # every file and the tree
    assert mlx("status", "--exit-code").code == 0


def test_ctrl_c_to_the_process_group_during_add(repo, mlx, mlx_path, generate):
    # Ctrl-C in a terminal signals every process in the foreground group: mlx and its workers.
    generate(repo.path, "data")
    proc = start(mlx_path, repo, "add", "data")

    out, err = signal_when(proc, lambda: count_objects(repo) > 0, signal.SIGINT, "objects appeared", group=True)

    assert (proc.returncode, out, err) == (130, "", "mlx: interrupted\n")
    assert not (repo / "data.mlx").exists()
    assert repo.temp_files() == []
    wait_until(lambda: processes_holding(repo / ".mlx" / "tmp" / "lock") == [], "no process holds the lock")
    assert mlx("add", "data").code == 0
    assert mlx("status", "--exit-code").code == 0


def test_kill_9_during_add_then_rerun_completes_and_fsck_is_clean(repo, mlx, mlx_path, generate):
    generate(repo.path, "data")
    proc = start(mlx_path, repo, "add", "data")

    signal_when(proc, lambda: count_objects(repo) > 200, signal.SIGKILL, "objects appeared")

    assert proc.returncode == -signal.SIGKILL
    assert not (repo / "data.mlx").exists()
    # Forked workers die with their parent instead of keeping the lock (and waiting) forever.
    wait_until(lambda: processes_holding(repo / ".mlx" / "tmp" / "lock") == [], "no process holds the lock")
    after_kill = mlx("fsck", "--json")
    assert after_kill.code == 0, after_kill  # leftover temp files are garbage, not problems
    assert after_kill.json["problems"] == []
    assert all(os.path.basename(g).startswith(".mlx-tmp-") for g in after_kill.json["garbage"])

    rerun = mlx("add", "data")  # the kernel released the lock with the process

    assert rerun.code == 0, rerun
    assert mlx("status", "--exit-code").code == 0
    final = mlx("fsck", "--json")
    assert final.code == 0, final
    assert final.json["problems"] == []
    assert final.json["objects_checked"] == FILES + 1
    assert mlx("fsck", "--repair").code == 0
    assert repo.temp_files() == []


def test_signal_during_checkout_leaves_whole_files_and_a_rerun_finishes(repo, mlx, mlx_path, generate, tmp_path):
    generate(repo.path, "data")
    assert mlx("add", "data").code == 0
    trash = tmp_path / "trash"
    trash.mkdir()
    (repo / "data").rename(trash / "data")  # move aside: a mass delete slows later file creation
    proc = start(mlx_path, repo, "checkout")

    out, err = signal_when(proc, lambda: (repo / "data").is_dir(), signal.SIGINT, "the checkout started")

    assert proc.returncode == 130, err
    assert err == "mlx: interrupted\n"
    assert repo.temp_files() == []
    placed = [f"{d}/{name}" for d in os.listdir(repo / "data") for name in os.listdir(repo / "data" / d)]
    for name in placed:  # each file present is whole (the signal may come at any point)
        assert (repo / "data" / name).read_bytes() == (trash / "data" / name).read_bytes()

    rerun = mlx("checkout", "--json")

    assert rerun.code == 0, rerun
    assert rerun.json["placed"] == FILES - len(placed)
    assert mlx("status", "--exit-code").code == 0


def test_file_that_changes_while_it_is_added_is_refused(repo, mlx, mlx_path):
    import threading

    big = repo / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 48)  # large enough to be hashed through mmap
    stop = threading.Event()

    def append() -> None:
        with open(big, "ab", buffering=0) as handle:
            while not stop.is_set():
                handle.write(b"more")
                time.sleep(0.0005)

    writer = threading.Thread(target=append)
    writer.start()
    try:
        size = big.stat().st_size
        deadline = time.monotonic() + 10
        while big.stat().st_size == size and time.monotonic() < deadline:
            time.sleep(0.001)
        result = mlx("add", "big.bin")
    finally:
        stop.set()
        writer.join()

    result.expect_error(
        16,
        "'big.bin' changed while it was being added",
        hint="wait until whatever writes it has finished, then run the command again",
    )
    assert not (repo / "big.bin.mlx").exists()
    assert repo.temp_files() == []
    fsck = mlx("fsck", "--json")
    assert (fsck.code, fsck.json["problems"]) == (0, [])
    assert mlx("add", "big.bin").code == 0  # once the writer has stopped


def test_interrupted_add_in_one_process_then_status_trusts_the_stat_cache(repo, mlx, mlx_path, generate):
    # Below the forked-worker threshold; the stat cache written by an interrupted add is still right.
    generate(repo.path, "small")
    proc = start(mlx_path, repo, "add", "small")
    signal_when(proc, lambda: count_objects(repo) > 0, signal.SIGINT, "objects appeared")
    assert proc.returncode == 130
    assert not (repo / "small.mlx").exists()
    assert mlx("add", "small").code == 0

    report = json.loads(mlx("status", "--json").out)

    assert report["is_clean"]
    assert report["counters"]["files_hashed"] == 0

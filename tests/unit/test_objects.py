"""The object store: read-only objects named by the hash of their bytes, copied in, never moved."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from mlxkit.errors import ChangedWhileReadingError, IntegrityError, MissingObjectError, UnsupportedFormatError
from mlxkit.fs.atomic import TEMP_PREFIX
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import MMAP_THRESHOLD, hash_bytes, hash_path
from mlxkit.store.objects import MARKER, OBJECT_MODE, ObjectStore

LONG_AGO = 1_600_000_000


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    created = ObjectStore(tmp_path / "cache")
    created.create()
    return created


def listing(store: ObjectStore) -> list[str]:
    """Every file below objects/, relative, sorted (temp files included)."""
    return sorted(p.relative_to(store.objects).as_posix() for p in store.objects.rglob("*") if not p.is_dir())


def object_files(store: ObjectStore) -> dict[str, bytes]:
    return {name: (store.objects / name).read_bytes() for name in listing(store)}


def test_put_bytes_stores_a_read_only_object_named_by_the_hash_of_its_bytes(store):
    digest, written = store.put_bytes(b"hello\n")
    assert written
    assert digest == hash_bytes(b"hello\n")
    path = store.objects / digest.hex[:2] / digest.hex[2:]
    assert store.path(digest) == path
    assert path.read_bytes() == b"hello\n"
    assert stat.S_IMODE(path.stat().st_mode) == OBJECT_MODE == 0o444
    assert listing(store) == [digest.relpath]


def test_put_bytes_of_an_existing_object_writes_nothing_and_freshens_it(store):
    digest, _ = store.put_bytes(b"same")
    path = store.path(digest)
    os.utime(path, (LONG_AGO, LONG_AGO))
    before = path.stat()
    again, written = store.put_bytes(b"same")
    after = path.stat()
    assert (again, written) == (digest, False)
    assert after.st_ino == before.st_ino
    assert after.st_mtime > LONG_AGO + 10**8
    assert listing(store) == [digest.relpath]


def test_put_file_copies_and_leaves_the_source_untouched(store, tmp_path):
    source = tmp_path / "data.csv"
    source.write_bytes(b"x,y\n1,2\n")
    os.chmod(source, 0o640)
    before = source.stat()
    stored = store.put_file(source, "data.csv")
    after = source.stat()
    assert stored.written
    assert stored.digest == hash_bytes(b"x,y\n1,2\n")
    assert stored.stat.st_ino == before.st_ino
    assert source.read_bytes() == b"x,y\n1,2\n"
    assert (after.st_ino, after.st_mtime_ns, after.st_size, after.st_nlink) == (
        before.st_ino, before.st_mtime_ns, before.st_size, 1
    )
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert store.path(stored.digest).stat().st_ino != before.st_ino
    assert store.read_verified(stored.digest) == b"x,y\n1,2\n"
    assert stat.S_IMODE(store.path(stored.digest).stat().st_mode) == 0o444


def test_put_file_of_an_existing_object_writes_nothing_and_freshens_it(store, tmp_path):
    digest, _ = store.put_bytes(b"content")
    os.utime(store.path(digest), (LONG_AGO, LONG_AGO))
    inode = store.path(digest).stat().st_ino
    source = tmp_path / "f"
    source.write_bytes(b"content")
    stored = store.put_file(source, "f")
    assert (stored.digest, stored.written) == (digest, False)
    assert store.path(digest).stat().st_ino == inode
    assert store.path(digest).stat().st_mtime > LONG_AGO + 10**8


def test_put_file_with_a_known_digest_that_is_stored_reads_nothing(store, tmp_path):
    known, _ = store.put_bytes(b"old content")
    source = tmp_path / "f"
    source.write_bytes(b"what the stat cache vouched for")
    stored = store.put_file(source, "f", known=known)
    assert (stored.digest, stored.written) == (known, False)
    assert listing(store) == [known.relpath]


def test_put_file_with_a_known_digest_that_is_missing_hashes_the_file(store, tmp_path):
    source = tmp_path / "f"
    source.write_bytes(b"abc")
    stored = store.put_file(source, "f", known=hash_bytes(b"gone"))
    assert (stored.digest, stored.written) == (hash_bytes(b"abc"), True)


def test_put_file_refuses_to_follow_a_symlink(store, tmp_path):
    (tmp_path / "secret").write_bytes(b"outside")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(OSError):
        store.put_file(tmp_path / "link", "link")
    assert listing(store) == []


def test_put_file_of_an_empty_file(store, tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    stored = store.put_file(tmp_path / "empty", "empty")
    assert str(stored.digest) == "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    assert store.path(stored.digest).read_bytes() == b""


def _calls_of(function_name: str, action):
    """Run `action` and count calls of functions named `function_name` in mlxkit.store.objects."""
    calls = []

    def profiler(frame, event, arg):
        code = frame.f_code
        if event == "call" and code.co_name == function_name and code.co_filename.endswith("objects.py"):
            calls.append(code.co_name)

    sys.setprofile(profiler)
    try:
        result = action()
    finally:
        sys.setprofile(None)
    return result, len(calls)


@pytest.mark.parametrize("size", [MMAP_THRESHOLD, MMAP_THRESHOLD + 1, 3 * MMAP_THRESHOLD + 12345])
def test_put_file_of_a_large_file_takes_the_mmap_path_and_stores_the_same_bytes(store, tmp_path, size):
    content = (bytes(range(256)) * (size // 256 + 1))[:size]
    source = tmp_path / "big.bin"
    source.write_bytes(content)
    inode = source.stat().st_ino
    stored, large_calls = _calls_of("_put_large", lambda: store.put_file(source, "big.bin"))
    assert large_calls == 1
    assert stored.written
    assert stored.digest == hash_bytes(content)
    assert store.path(stored.digest).read_bytes() == content
    assert stat.S_IMODE(store.path(stored.digest).stat().st_mode) == 0o444
    assert source.read_bytes() == content
    assert source.stat().st_ino == inode
    assert listing(store) == [stored.digest.relpath]


def test_put_file_just_below_the_threshold_takes_the_small_path(store, tmp_path):
    source = tmp_path / "f"
    source.write_bytes(b"\x01" * (MMAP_THRESHOLD - 1))
    stored, large_calls = _calls_of("_put_large", lambda: store.put_file(source, "f"))
    assert large_calls == 0
    assert hash_path(store.path(stored.digest)) == stored.digest


def test_put_file_of_a_large_existing_object_writes_nothing(store, tmp_path):
    content = b"\x07" * (MMAP_THRESHOLD + 5)
    digest, _ = store.put_bytes(content)
    os.utime(store.path(digest), (LONG_AGO, LONG_AGO))
    source = tmp_path / "big"
    source.write_bytes(content)
    stored = store.put_file(source, "big")
    assert (stored.digest, stored.written) == (digest, False)
    assert store.path(digest).stat().st_mtime > LONG_AGO + 10**8


def test_put_file_raises_changed_while_reading_when_the_bytes_differ_from_the_stat(store, tmp_path):
    """A FIFO: stat says 0 bytes, reading yields some. The same check catches a file that grew."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        try:
            with open(fifo, "wb") as handle:
                handle.write(b"appeared while reading")
        except BrokenPipeError:  # pragma: no cover - the reader closed first
            pass

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(ChangedWhileReadingError) as info:
            store.put_file(fifo, "data/fifo")
    finally:
        thread.join(10)
    assert str(info.value) == "'data/fifo' changed while it was being added"
    assert info.value.hint == "wait until whatever writes it has finished, then run the command again"
    assert listing(store) == []


def test_put_file_of_a_large_file_being_appended_raises_changed_while_reading(store, tmp_path):
    source = tmp_path / "growing.bin"
    source.write_bytes(b"\x00" * (MMAP_THRESHOLD + 1))
    stop = threading.Event()

    def append_until_stopped() -> None:
        with open(source, "ab") as handle:
            while not stop.is_set():
                handle.write(b"+")
                handle.flush()
                time.sleep(0)

    thread = threading.Thread(target=append_until_stopped)
    thread.start()
    errors = 0
    try:
        deadline = time.monotonic() + 20
        while errors == 0 and time.monotonic() < deadline:
            try:
                store.put_file(source, "growing.bin")
            except ChangedWhileReadingError as exc:
                assert exc.path == "growing.bin"
                errors += 1
    finally:
        stop.set()
        thread.join(10)
    assert errors == 1
    # Whatever attempts did succeed stored objects that hash to their names; no temp file is left.
    for digest, path in store.iter_objects():
        assert hash_path(path) == digest, path
    assert list(store.iter_strays()) == []


class _Interrupted(Exception):
    pass


def test_interrupting_a_large_put_stops_the_copy_and_leaves_nothing_behind(store, tmp_path):
    """As Ctrl-C in the CLI (whose handler raises): the signal raises in the thread that hashes
    while another thread copies; the copy stops, the temp file goes, and no thread or descriptor
    of the copy is left. The signal is sent once the temp file has bytes: the copy is under way."""
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(1 << 20) * 128)
    descriptors = len(os.listdir("/proc/self/fd"))

    def signal_once_copying() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with os.scandir(store.objects) as entries:
                if any(e.name.startswith(TEMP_PREFIX) and e.stat().st_size > 0 for e in entries):
                    os.kill(os.getpid(), signal.SIGUSR1)
                    return
            time.sleep(0.0002)

    def raise_interrupted(signum, frame):
        raise _Interrupted

    previous = signal.signal(signal.SIGUSR1, raise_interrupted)
    watcher = threading.Thread(target=signal_once_copying)
    try:
        watcher.start()
        with pytest.raises(_Interrupted):
            store.put_file(source, "big.bin")
    finally:
        watcher.join(30)
        signal.signal(signal.SIGUSR1, previous)
    assert listing(store) == []
    assert [thread.name for thread in threading.enumerate() if thread.name == "mlx-copy"] == []
    assert len(os.listdir("/proc/self/fd")) == descriptors


def test_read_bytes_of_a_missing_object_raises_missing_object(store):
    with pytest.raises(MissingObjectError, match="^object 000000000000 is missing from the cache$"):
        store.read_bytes(Digest("0" * 64))


def test_read_verified_detects_a_corrupt_object(store):
    digest, _ = store.put_bytes(b"good")
    path = store.path(digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"evil")
    with pytest.raises(IntegrityError, match=f"^object {digest.short} in the cache is corrupt$"):
        store.read_verified(digest)
    assert hash_path(path) != digest


def test_create_writes_the_marker(store):
    assert json.loads((store.root / MARKER).read_bytes()) == {"format": 1, "hash": "blake3"}
    assert (store.root / MARKER).read_bytes() == b'{"format": 1, "hash": "blake3"}\n'
    store.check_marker()


def test_check_marker_refuses_a_directory_without_the_marker(tmp_path):
    (tmp_path / "objects").mkdir()
    with pytest.raises(UnsupportedFormatError) as info:
        ObjectStore(tmp_path).check_marker()
    assert info.value.message == f"'{tmp_path}' has no {MARKER}: it is not an mlx cache"
    assert info.value.hint is not None
    assert "deletes nothing" in info.value.hint


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (b'{"format": 2, "hash": "blake3"}', "uses format 2, this mlx reads 1"),
        (b'{"format": 1, "hash": "sha256"}', "uses format 1, this mlx reads 1"),
        (b"[1]", "uses format ?, this mlx reads 1"),
        (b"not json", "is not valid JSON"),
    ],
)
def test_check_marker_refuses_a_newer_or_foreign_marker(tmp_path, marker, message):
    (tmp_path / MARKER).write_bytes(marker)
    with pytest.raises(UnsupportedFormatError, match=re.escape(message)):
        ObjectStore(tmp_path).check_marker()


def test_digest_at_reads_back_exactly_what_location_builds(store):
    digest, _ = store.put_bytes(b"x")

    assert store.digest_at(store.location(digest)) == digest
    assert store.digest_at(str(store.path(digest))) == digest


@pytest.mark.parametrize(
    "spelling",
    [
        "../../../../etc/passwd",  # starts with the objects path, leaves it
        "{fanout}/../{fanout}/{rest}",
        "{fanout}{rest0}/{rest1}",  # the right 64 digits, split 3 + 61
        "{fanout}/{rest}/",
        "{fanout}//{rest}",
        "{fanout}/{rest}x",
        "{fanout}/{REST}",  # upper case is another name
        "{fanout}/{rest}\n",
    ],
)
def test_digest_at_refuses_any_other_spelling(store, spelling):
    digest, _ = store.put_bytes(b"x")
    fanout, rest = digest.hex[:2], digest.hex[2:]
    text = spelling.format(fanout=fanout, rest=rest, REST=rest.upper(), rest0=rest[0], rest1=rest[1:])

    assert store.digest_at(f"{store.objects}/{text}") is None
    assert store.digest_at(f"/elsewhere/objects/{fanout}/{rest}") is None


def test_iter_objects_skips_temp_files_and_foreign_names_which_iter_strays_reports(store):
    digest, _ = store.put_bytes(b"object")
    fanout = store.objects / digest.hex[:2]
    temp = fanout / f"{TEMP_PREFIX}0123456789abcdef"
    temp.write_bytes(b"half")
    upper = fanout / digest.hex[2:].upper()
    upper.write_bytes(b"x")
    short = fanout / digest.hex[2:-1]
    short.write_bytes(b"x")
    subdir = fanout / ("f" * 62)
    subdir.mkdir()
    link = fanout / ("e" * 62)
    link.symlink_to(store.path(digest))
    foreign = store.objects / "zz"
    foreign.mkdir()
    (foreign / ("a" * 62)).write_bytes(b"x")

    assert list(store.iter_objects()) == [(digest, str(store.path(digest)))]
    assert sorted(store.iter_strays()) == sorted([temp, upper, short, subdir, link, foreign])


def test_iter_objects_of_a_store_without_objects_dir_is_empty(tmp_path):
    assert list(ObjectStore(tmp_path / "none").iter_objects()) == []
    assert list(ObjectStore(tmp_path / "none").iter_strays()) == []


def test_put_bytes_many_objects_share_fanout_directories(store):
    digests = {store.put_bytes(str(n).encode())[0] for n in range(300)}
    assert {d for d, _ in store.iter_objects()} == digests
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o444 for _, p in store.iter_objects())
    assert len(os.listdir(store.objects)) == len({d.hex[:2] for d in digests})


def test_objects_are_0o444_whatever_the_umask(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "cache")
    store.create()
    big = tmp_path / "big"
    big.write_bytes(b"y" * (MMAP_THRESHOLD + 1))
    old = os.umask(0o077)
    try:
        small, _ = store.put_bytes(b"x")
        large = store.put_file(big, "big").digest
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.path(small).stat().st_mode) == 0o444
    assert stat.S_IMODE(store.path(large).stat().st_mode) == 0o444


def test_a_fan_out_directory_deleted_behind_the_store_is_made_again(store: ObjectStore) -> None:
    """The store makes a fan-out directory when a write finds it missing, not from memory."""
    digest, _ = store.put_bytes(b"first")
    fanout = store.objects / digest.hex[:2]
    os.chmod(store.path(digest), 0o644)
    os.unlink(store.path(digest))
    os.rmdir(fanout)

    assert store.put_bytes(b"first") == (digest, True)
    assert store.read_verified(digest) == b"first"


def test_iter_strays_reports_a_file_directly_below_objects(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "cache")
    store.create()
    (store.objects / "README").write_bytes(b"not an object")
    (store.objects / ".mlx-tmp-0123456789abcdef").write_bytes(b"half")
    assert sorted(p.name for p in store.iter_strays()) == [".mlx-tmp-0123456789abcdef", "README"]


def test_digest_moved_reads_a_link_into_a_cache_elsewhere_only_when_this_cache_holds_the_object(store):
    digest, _ = store.put_bytes(b"x")
    fanout, rest = digest.hex[:2], digest.hex[2:]

    assert store.digest_moved(f"/old/place/.mlx/cache/objects/{fanout}/{rest}") == digest
    assert store.digest_moved(f"../../objects/{fanout}/{rest}") == digest
    assert store.digest_moved(f"/old/objects/{rest[:2]}/{fanout}{rest[2:]}") is None  # not an object here
    assert store.digest_moved(f"/old/objects/{fanout}/{rest}/") is None
    assert store.digest_moved(f"/old/objects/{fanout}/{rest.upper()}") is None


def test_present_finds_exactly_the_stored_objects_whether_it_lists_or_probes(store):
    stored = [store.put_bytes(f"object {i}".encode())[0] for i in range(3000)]
    absent = [hash_bytes(f"absent {i}".encode()) for i in range(3000)]
    asked = stored[::2] + absent
    assert store.present(asked) == set(stored[::2])  # ~17 asked a prefix: listed
    assert store.present(stored[:3] + absent[:3]) == set(stored[:3])  # a few: probed one by one
    assert store.present([]) == set()
    assert ObjectStore(store.root.parent / "none").present(stored) == set()  # no cache at all

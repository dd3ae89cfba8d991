"""The remote's file system: the few operations a remote needs, retried and explained.

Two implementations behind one interface. `LocalFS` (a directory, or a mounted one) uses plain
reads and mlx's own atomic writes, because fsspec's local `put` writes in place. `FsspecFS` is
everything else (S3 through s3fs, and any fsspec protocol; S3 uploads and writes go through
multipart.py, and S3 downloads through s3download.py, which continues a broken one where it
stopped). Only these two modules import fsspec, and only when such a remote is opened, so `mlx
status` never pays for it.

Every call retries transient failures (lost connections, timeouts, 5xx, throttling) with
exponential backoff and never retries a missing file, a refusal or missing credentials; a final
failure is a one-line `RemoteError` naming the remote and the path. Paths are relative to the
remote's root and `/`-separated; layout.py builds them from validated names only.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from mlxkit.errors import RemoteError, UsageError
from mlxkit.fs.atomic import fsync_dir, is_temp_name, open_temp, temp_name, unlink_quietly, write_atomic
from mlxkit.fs.links import copy_fd
from mlxkit.progress import warn
from mlxkit.store.remotes import DEFAULT_TIMEOUT, s3download
from mlxkit.store.remotes.failures import (
    classify,
    is_timeout,
    missing_package,
    quiet_orphaned_connection_errors,
    reason,
    retry_cause,
    unreachable_endpoint,
)

if TYPE_CHECKING:
    from mlxkit.store.remotes.multipart import S3Uploader

T = TypeVar("T")
FILE_MODE = 0o644
_BUCKETED = frozenset({"s3", "s3a", "gs", "gcs"})  # protocols whose root starts with a bucket
# s3fs's and botocore's own retries are turned off so that this module's policy is the only one
# (otherwise a refused connection took 6 s per call instead of one try). The timeouts are the
# remote's `timeout` option (repo/remotes.py); these apply to a remote opened without it.
_S3_CONFIG = {"connect_timeout": DEFAULT_TIMEOUT, "read_timeout": DEFAULT_TIMEOUT, "retries": {"total_max_attempts": 1}}


@dataclass(frozen=True)
class RetryPolicy:
    """`tries` attempts in all, sleeping `first_delay` seconds after the first failure, doubling;
    `timeout_tries` in all for a request the remote did not answer in time, since each such try
    costs the whole timeout (5 tries of 60 s stalled a pull for 5 minutes, silently)."""

    tries: int = 5
    first_delay: float = 0.2
    timeout_tries: int = 2

    def delays(self) -> Iterator[float]:
        for attempt in range(self.tries - 1):
            yield self.first_delay * 2**attempt


DEFAULT_RETRY = RetryPolicy()


class Attempts:
    """The tries of one request: the caller counts each in `tries`, and after a failure asks
    `failed` how long to wait before the next (None: give up). Every retry is said on stderr
    (progress.warn) with its cause, as restic and rclone do, so that a stalled, dropping or
    throttling remote is never silent about why a transfer takes longer. When many requests run at
    once, the retries of one cause at one try are said once and counted (progress.Repeats)."""

    def __init__(self, policy: RetryPolicy, remote: str, timeout: float | None) -> None:
        self.tries = 0
        self._policy = policy
        self._delays = policy.delays()
        self._remote = remote
        self._timeout = timeout

    def failed(self, exc: BaseException, kind: str) -> float | None:
        if kind != "transient":
            return None
        timed_out = is_timeout(exc)
        limit = self._policy.timeout_tries if timed_out else self._policy.tries
        delay = next(self._delays, None) if self.tries < limit else None
        if delay is not None:
            waited = f" in {self._timeout:g} s" if self._timeout else ""
            cause = f"did not answer{waited}" if timed_out else retry_cause(exc)
            said = f"remote '{self._remote}' {cause}; retrying ({self.tries + 1} of {limit})"
            warn(said, kind=(self._remote, cause, self.tries))  # a storm of one cause is said once, counted
        return delay


class RemoteNotFoundError(RemoteError):
    """A file asked for by name is not on the remote (callers that expect this catch it)."""


class RemoteFS:
    """What every remote offers; subclasses implement the `_` methods, this class retries them."""

    is_local: ClassVar[bool]
    bucket: str | None = None  # for object stores: the first component of the root

    def __init__(self, name: str, url: str, jobs: int, retry: RetryPolicy, timeout: float | None = None) -> None:
        self.name = name
        self.url = url  # for messages: never holds a secret (location.display_url)
        self.jobs = jobs
        self.retry = retry
        self.timeout = timeout  # seconds to connect, or for the next bytes of an answer (None: no limit)

    def attempts(self) -> Attempts:
        """A new request's tries, under this remote's policy."""
        return Attempts(self.retry, self.name, self.timeout)

    def list(self, prefix: str) -> dict[str, int]:
        """Every file below `prefix`, recursively: name relative to `prefix` -> size (one listing)."""
        return self._retrying("list", prefix, self._list, _checked(prefix))

    def temp_files(self) -> dict[str, tuple[int, float]]:
        """Temp files anywhere on the remote (a directory's writes in progress, or left by a kill):
        path -> (size, modification time). Object stores write each file whole and have none."""
        return {}

    def exists(self, path: str) -> bool:
        return self.size(path) is not None

    def size(self, path: str) -> int | None:
        """The size of the file at `path`, or None when there is none."""
        return self._retrying("check", path, self._size, _checked(path))

    def read(self, path: str, limit: int | None = None) -> bytes:
        """The whole file; with `limit`, a file of more than `limit` bytes is refused (RemoteError)
        after reading at most `limit` + 1 of them (a small metadata file: a hostile remote could
        put a huge one there)."""
        data = self._retrying("read", path, self._read, _checked(path), limit)
        if limit is not None and len(data) > limit:
            raise RemoteError(f"'{path}' on remote '{self.name}' ({self.url}) is larger than {limit} bytes: it is not mlx's")
        return data

    def read_ranges(self, path: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """The bytes [start, end) of each range; fewer where the file ends first (callers verify)."""
        if not ranges:
            return []
        return self._retrying("read", path, self._read_ranges, _checked(path), ranges)

    def write(self, path: str, data: bytes) -> None:
        """Publish `data` at `path` whole: readers see the old file, or none, or all of `data`."""
        self._retrying("write", path, self._write, _checked(path), data)

    def upload(self, local_path: str | Path, path: str) -> None:
        """Publish a copy of the local file `local_path` at `path`, whole, like `write`."""
        self._retrying("upload", path, self._upload, str(local_path), _checked(path))

    def download(self, path: str, local_path: str | Path) -> None:
        """Copy the file at `path` into `local_path` (the caller's temporary file, which it verifies)."""
        self._retrying("download", path, self._download, _checked(path), str(local_path))

    def open_local(self, path: str, scratch: Path) -> int:
        """A file descriptor for reading the file at `path`: a downloaded copy in `scratch` whose name
        is removed at once (a kill leaves nothing behind), or, on a local remote, the file itself."""
        temp = temp_name(scratch)
        try:
            self.download(path, temp)
            return os.open(temp, os.O_RDONLY)
        finally:
            unlink_quietly(temp)

    def delete(self, paths: list[str]) -> None:
        """Remove files; a file already gone is not an error."""
        if paths:
            self._retrying("delete", paths[0], self._delete, [_checked(path) for path in paths])

    # -- the retry loop and the messages ------------------------------------------------------

    def _retrying(self, verb: str, path: str, function: Callable[..., T], *args: Any) -> T:
        attempts = self.attempts()
        while True:
            attempts.tries += 1
            try:
                return function(*args)
            except Exception as exc:  # classified: anything not a remote failure is re-raised as is
                kind = classify(exc)
                if kind is None:
                    raise
                delay = attempts.failed(exc, kind)
                if delay is None:
                    raise self._failure(verb, path, exc, kind, attempts.tries) from exc
            time.sleep(delay)

    def _failure(self, verb: str, path: str, exc: Exception, kind: str, tries: int) -> RemoteError:
        where = f"remote '{self.name}' ({self.url})"
        if kind == "credentials":
            return RemoteError(
                f"no credentials for {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                f"or 'mlx remote modify --local {self.name} access_key_id ...'"
            )
        if kind == "bucket":
            return RemoteError(
                f"bucket '{self.bucket}' does not exist (remote '{self.name}': {self.url})",
                hint="create the bucket, or correct the remote's url",
            )
        if kind == "missing":
            return RemoteNotFoundError(f"'{path}' does not exist on {where}")
        if kind == "denied":
            return RemoteError(f"permission denied to {verb} '{path}' on {where}: {reason(exc)}")
        gave_up = f", after {tries} tries" if tries > 1 else ""
        endpoint = unreachable_endpoint(exc)
        if endpoint is not None:
            return RemoteError(f"cannot connect to '{endpoint}', the endpoint of remote '{self.name}'{gave_up}")
        if is_timeout(exc) and self.timeout:
            return RemoteError(
                f"cannot {verb} '{path}' on {where}: no answer in {self.timeout:g} s{gave_up}",
                hint=f"check the endpoint; a slow one may get more time: 'mlx remote modify {self.name} timeout SECONDS'",
            )
        return RemoteError(f"cannot {verb} '{path}' on {where}: {reason(exc)}{gave_up}")

    # -- what an implementation provides (paths already checked) ------------------------------

    def _list(self, prefix: str) -> dict[str, int]:
        raise NotImplementedError

    def _size(self, path: str) -> int | None:
        raise NotImplementedError

    def _read(self, path: str, limit: int | None) -> bytes:
        raise NotImplementedError

    def _read_ranges(self, path: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        raise NotImplementedError

    def _write(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def _upload(self, local_path: str, path: str) -> None:
        raise NotImplementedError

    def _download(self, path: str, local_path: str) -> None:
        raise NotImplementedError

    def _delete(self, paths: list[str]) -> None:
        raise NotImplementedError


def _checked(path: str) -> str:
    """A relative `/`-separated path without `.`/`..`/empty parts (or "" for the root)."""
    path = path.strip("/")
    if path and any(part in ("", ".", "..") for part in path.split("/")) or "\\" in path or "\x00" in path:
        raise ValueError(f"not a remote path: {path!r}")  # layout.py builds paths: this is a bug
    return path


class LocalFS(RemoteFS):
    """A directory: plain reads, and temp file + fsync + rename + directory fsync for writes."""

    is_local = True

    def __init__(self, name: str, root: str, jobs: int, retry: RetryPolicy) -> None:
        super().__init__(name, root, jobs, retry)
        self.root = root
        self._made: set[str] = set()

    def _full(self, path: str) -> str:
        return os.path.join(self.root, path) if path else self.root

    def _list(self, prefix: str) -> dict[str, int]:
        return {name: found.st_size for name, found in self._walk(prefix, temp=False)}

    def temp_files(self) -> dict[str, tuple[int, float]]:
        found = self._retrying("list", "", lambda: list(self._walk("", temp=True)))
        return {name: (info.st_size, info.st_mtime) for name, info in found}

    def _walk(self, prefix: str, *, temp: bool) -> Iterator[tuple[str, os.stat_result]]:
        """Every regular file below `prefix` (name relative to it, its lstat): the temp files of
        writes in progress (or left by a kill) with `temp`, every other file without."""
        stack = [("", self._full(prefix))]
        while stack:
            relative, directory = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((f"{relative}{entry.name}/", entry.path))
                elif entry.is_file(follow_symlinks=False) and is_temp_name(entry.name) == temp:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:  # renamed or removed since the directory was read
                        continue
                    yield relative + entry.name, info

    def _size(self, path: str) -> int | None:
        try:
            found = os.stat(self._full(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return found.st_size if stat.S_ISREG(found.st_mode) else None

    def _read(self, path: str, limit: int | None) -> bytes:
        with os.fdopen(_open_regular(self._full(path)), "rb") as handle:
            return handle.read() if limit is None else handle.read(limit + 1)

    def open_local(self, path: str, scratch: Path) -> int:
        return self._retrying("read", path, _open_regular, self._full(_checked(path)))

    def _read_ranges(self, path: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        with os.fdopen(_open_regular(self._full(path)), "rb") as handle:
            pieces = []
            for start, end in ranges:
                handle.seek(start)
                pieces.append(handle.read(max(0, end - start)))
            return pieces

    def _write(self, path: str, data: bytes) -> None:
        full = self._full(path)
        self._make_parent(full)
        write_atomic(Path(full), data, mode=FILE_MODE)

    def _upload(self, local_path: str, path: str) -> None:
        full = self._full(path)
        directory = self._make_parent(full)
        fd, temp = open_temp(directory, FILE_MODE)
        try:
            try:
                with open(local_path, "rb") as source:
                    copy_fd(source.fileno(), fd)
                os.fchmod(fd, FILE_MODE)
                os.fsync(fd)  # a pack must be durable before the index that names it
            finally:
                os.close(fd)
            os.replace(temp, full)
        except BaseException:
            unlink_quietly(temp)
            raise
        fsync_dir(Path(directory))

    def _download(self, path: str, local_path: str) -> None:
        with os.fdopen(_open_regular(self._full(path)), "rb") as source, open(local_path, "wb") as target:
            copy_fd(source.fileno(), target.fileno())

    def _delete(self, paths: list[str]) -> None:
        for path in paths:
            try:
                os.unlink(self._full(path))
            except FileNotFoundError:
                pass

    def _make_parent(self, full: str) -> str:
        directory = os.path.dirname(full)
        if directory not in self._made:
            if not os.path.isdir(self.root):
                parent = os.path.dirname(self.root)
                if not os.path.isdir(parent):  # an unmounted disk must not become a local directory
                    raise RemoteError(
                        f"cannot create remote '{self.name}' ({self.url}): '{parent}' does not exist",
                        hint="create that directory, or mount the disk that holds it",
                    )
                os.makedirs(self.root, exist_ok=True)
            os.makedirs(directory, exist_ok=True)
            self._made.add(directory)
        return directory


_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
# (a symbolic link never gets this far: O_NOFOLLOW refuses it with ELOOP)
_NOT_REGULAR = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket",
                stat.S_IFDIR: "a directory"}  # fmt: skip


def _open_regular(full: str) -> int:
    """A descriptor for reading the regular file `full`. Anything else on a directory remote (a FIFO
    that would block the read for ever, a symbolic link to /dev/zero that never ends) is refused
    with an OSError saying what it is, without waiting: O_NONBLOCK opens a FIFO at once, and
    O_NOFOLLOW refuses a link."""
    try:
        fd = os.open(full, _READ_FLAGS)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise OSError(errno.ELOOP, "a symbolic link, not a regular file", full) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = _NOT_REGULAR.get(stat.S_IFMT(mode), "not a regular file")
        raise OSError(errno.EINVAL, f"{what}, not a regular file", full)
    return fd


class FsspecFS(RemoteFS):
    """Any fsspec file system; object stores write each file in one request, so whole."""

    is_local = False

    def __init__(
        self, name: str, url: str, fs: Any, root: str, jobs: int, retry: RetryPolicy, *,
        bucket: bool, multipart: bool = False, timeout: float | None = None,
    ) -> None:
        super().__init__(name, url, jobs, retry, timeout)
        self._fs = fs
        self._root = root.rstrip("/")
        self._uploader: S3Uploader | None = None  # S3: every PUT, retried and watched while it sends
        self._resumes_downloads = multipart  # S3: a retried download continues (s3download.py)
        if multipart:
            from mlxkit.store.remotes.multipart import S3Uploader  # asyncio: only for S3

            self._uploader = S3Uploader(fs, self.attempts, timeout=timeout)
        # (S3 downloads go through s3download.py, which streams one GET and continues it after a
        # failure; these options are for the other object stores.)
        # s3fs downloads a file over 50 MiB as ten 50 MiB ranges at once, each read whole into memory:
        # 1.1 GiB of resident memory for a 1 GiB object, and ten requests that moto (and some
        # S3-compatible servers) answer by reading the whole object each. One streamed GET keeps
        # memory at s3fs's 64 KiB reads, whatever the size, and was 6x faster on moto.
        self._download_options = {"max_concurrency": 1} if bucket else {}
        # s3fs reads a whole file with a HEAD for its size first, unless it may use one request only.
        self._read_options = {"max_concurrency": 1} if multipart else {}
        if bucket:
            self.bucket = self._root.split("/", 1)[0]

    def _full(self, path: str) -> str:
        return f"{self._root}/{path}" if path else self._root

    def _list(self, prefix: str) -> dict[str, int]:
        top = self._full(prefix)
        try:
            found = self._fs.find(top, detail=True)
        except FileNotFoundError as exc:
            if classify(exc) == "bucket":
                raise
            return {}
        cut = len(top) + 1
        return {
            name[cut:]: int(info["size"])
            for name, info in found.items()
            if info.get("type", "file") == "file" and name.startswith(f"{top}/")
        }

    def _size(self, path: str) -> int | None:
        try:
            info = self._fs.info(self._full(path))
        except FileNotFoundError as exc:
            if classify(exc) == "bucket":
                raise
            return None
        return int(info["size"]) if info.get("type", "file") == "file" else None

    def _read(self, path: str, limit: int | None) -> bytes:
        if limit is not None:  # one ranged GET: a hostile file is never read whole
            return bytes(self._fs.cat_file(self._full(path), start=0, end=limit + 1, **self._read_options))
        return bytes(self._fs.cat_file(self._full(path), **self._read_options))

    def _read_ranges(self, path: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        full = self._full(path)
        answers = self._fs.cat_ranges(
            [full] * len(ranges), [start for start, _ in ranges], [end for _, end in ranges], on_error="return"
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return [bytes(answer) for answer in answers]

    def upload(self, local_path: str | Path, path: str) -> None:
        if self._uploader is None:
            return super().upload(local_path, path)
        checked, uploader = _checked(path), self._uploader
        self._uploading("upload", checked, lambda: uploader.upload(str(local_path), self._full(checked)))

    def write(self, path: str, data: bytes) -> None:
        if self._uploader is None:
            return super().write(path, data)
        # Not s3fs's pipe_file: nothing bounds its sending, and an index the server stopped
        # reading halfway held the push for ever.
        checked, uploader = _checked(path), self._uploader
        self._uploading("write", checked, lambda: uploader.put(data, self._full(checked)))

    def _uploading(self, verb: str, path: str, send: Callable[[], None]) -> None:
        """`send()` through the uploader, which retries each request itself (with `_retrying`'s
        warnings); a final failure is explained as `_retrying` explains it."""
        from mlxkit.store.remotes.multipart import RequestFailed  # loaded with the uploader

        try:
            send()
        except RequestFailed as failed:
            raise self._failure(verb, path, failed.cause, failed.kind, failed.tries) from failed.cause

    def _write(self, path: str, data: bytes) -> None:
        self._creating_parents(path, lambda full: self._fs.pipe_file(full, data))

    def _upload(self, local_path: str, path: str) -> None:
        self._creating_parents(path, lambda full: self._fs.put_file(local_path, full))

    def download(self, path: str, local_path: str | Path) -> None:
        if not self._resumes_downloads:
            return super().download(path, local_path)
        checked = _checked(path)
        bucket, key, _ = self._fs.split_path(self._full(checked))
        partial = s3download.Partial(str(local_path))  # what a try leaves for the next one
        self._retrying("download", checked, self._download_rest, bucket, key, partial)

    def _download_rest(self, bucket: str, key: str, partial: s3download.Partial) -> None:
        from fsspec.asyn import sync

        sync(self._fs.loop, s3download.download, self._fs, bucket, key, partial)

    def _download(self, path: str, local_path: str) -> None:
        self._fs.get_file(self._full(path), local_path, **self._download_options)

    def _delete(self, paths: list[str]) -> None:
        fulls = [self._full(path) for path in paths]
        try:
            self._fs.rm(fulls)  # s3fs: one request per 1,000 keys
        except FileNotFoundError as exc:
            if classify(exc) == "bucket":
                raise
            for full in fulls:  # some file systems refuse a batch naming a missing file
                try:
                    self._fs.rm_file(full)
                except FileNotFoundError:
                    pass

    def _creating_parents(self, path: str, put: Callable[[str], None]) -> None:
        """Object stores have no directories; file systems that do (sftp, smb) refuse a write into
        a missing one, which is then created. Never for a missing bucket: that is an error."""
        full = self._full(path)
        try:
            put(full)
        except FileNotFoundError as exc:
            if classify(exc) == "bucket":
                raise
            self._fs.makedirs(full.rsplit("/", 1)[0], exist_ok=True)
            put(full)


def open_fsspec(
    name: str, url: str, display: str, protocol: str, options: Mapping[str, Any], jobs: int, retry: RetryPolicy
) -> FsspecFS:
    """Open `url` with fsspec; `display` is the url as messages show it."""
    try:
        import fsspec
        from fsspec.core import url_to_fs
    except ImportError:  # pragma: no cover - fsspec is a dependency
        raise RemoteError(f"remote '{name}' needs the package 'fsspec': pip install fsspec") from None
    if protocol not in fsspec.available_protocols():
        raise UsageError(
            f"unknown protocol '{protocol}' in the url of remote '{name}' ({display})",
            hint="use a directory, file://, s3:// or another protocol fsspec knows",
        )
    storage: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}
    if protocol in ("s3", "s3a"):
        storage["config_kwargs"] = {**_S3_CONFIG, **options.get("config_kwargs", {})}
    storage.update((key, value) for key, value in options.items() if key != "config_kwargs")
    try:
        fs, root = url_to_fs(url, **storage)
    except ImportError as exc:
        package = missing_package(exc, protocol)
        install = "'mlxkit[s3]'" if package == "s3fs" else package
        raise RemoteError(f"the '{protocol}' protocol needs the package '{package}': pip install {install}") from None
    except (TypeError, ValueError) as exc:
        raise RemoteError(f"cannot open remote '{name}' ({display}): {reason(exc)}") from None
    s3 = protocol in ("s3", "s3a")
    if s3:
        fs.retries = 1  # s3fs's own retry loop: off, RemoteFS retries
        quiet_orphaned_connection_errors(fs.loop)
    timeout = storage["config_kwargs"].get("read_timeout") if s3 else None
    return FsspecFS(name, display, fs, root, jobs, retry, bucket=protocol in _BUCKETED, multipart=s3, timeout=timeout)

"""Uploads to S3: one PUT for a small file, a pipelined multipart upload for a large one, and one
memory budget for every upload of a remote; and one PUT for bytes in memory (an index, a lock), with
the same retries and watchdog.

s3fs's `put_file` sends a large file's parts in batches and waits for each whole batch, holds each
batch in memory (once more inside aiohttp) for each of the `-j` uploads at once (eight 48 MiB files:
771 MiB resident), and leaves checksums to a full-object one the server computes at the end. This
module does what boto3's transfer manager does instead:

- a new part starts as soon as any part finishes, and the bytes read but not yet sent are bounded by
  `BUDGET` across all the remote's uploads (the threads of `-j` share it), whatever their number;
- each part carries a CRC32 the server checks, and the object gets the composite checksum, when the
  client's `request_checksum_calculation` is "when_supported" (botocore's default);
- each request is retried on its own with the remote's policy (a lost part is resent, not the
  file), and an upload that fails is aborted, so no incomplete upload is left to pay for;
- a request whose body the server stops taking is given up after the remote's timeout, as one it
  stops answering is (aiohttp's read timeout starts only once the body is sent, and nothing else
  bounds the sending: such a part held the push for ever).

It drives s3fs's client through `S3FileSystem._call_s3` (session, credentials and error
translation stay s3fs's) on s3fs's event loop.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mlxkit.store.remotes.failures import classify

if TYPE_CHECKING:
    from mlxkit.store.remotes.fs import Attempts

T = TypeVar("T")

PART = 8 << 20  # boto3's part size: small enough to pipeline, large enough for few requests
MAX_PARTS = 10_000  # S3's limit: a larger file gets larger parts
BUDGET = 64 << 20  # bytes read and not yet acknowledged, for all the remote's uploads together


class RequestFailed(Exception):
    """A request that failed for good: `kind` is failures.classify()'s, after `tries` attempts."""

    def __init__(self, cause: BaseException, kind: str, tries: int) -> None:
        super().__init__(str(cause))
        self.cause, self.kind, self.tries = cause, kind, tries


class _Budget:
    """A byte budget on the event loop: take(n) waits until n bytes are free (n is capped at the
    whole budget, so one large request never waits for ever)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._free = limit
        self._changed: asyncio.Condition | None = None  # made on the loop that uses it

    async def take(self, wanted: int) -> int:
        if self._changed is None:
            self._changed = asyncio.Condition()
        taken = min(wanted, self._limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self._free >= taken)
            self._free -= taken
        return taken

    async def give(self, taken: int) -> None:
        assert self._changed is not None
        async with self._changed:
            self._free += taken
            self._changed.notify_all()


class S3Uploader:
    """Uploads local files to one s3fs file system; safe to call from many threads at once."""

    def __init__(
        self, fs: Any, attempts: Callable[[], Attempts], *, timeout: float | None = None, part: int = PART, budget: int = BUDGET
    ) -> None:
        self._fs = fs
        self._attempts = attempts  # each request's tries, under the remote's retry policy
        self._timeout = timeout  # the remote's: the longest a request may send nothing (None: no limit)
        self._part = part
        self._budget = _Budget(budget)

    def upload(self, local_path: str, full_path: str) -> None:
        """Publish the file at `local_path` as the object `bucket/key` = `full_path`, whole: one PUT,
        or a multipart upload that is completed or aborted. Raises RequestFailed."""
        from fsspec.asyn import sync

        bucket, key, _ = self._fs.split_path(full_path)
        sync(self._fs.loop, self._upload, local_path, bucket, key)

    def put(self, data: bytes, full_path: str) -> None:
        """Publish `data` (an index, a lock, the marker: far below S3's 5 GB for one PUT) as the
        object `full_path` with one PUT, under the same retries and watchdog as a file's. Raises
        RequestFailed."""
        from fsspec.asyn import sync

        bucket, key, _ = self._fs.split_path(full_path)
        sync(self._fs.loop, self._request, "put_object", _Bytes(data), Bucket=bucket, Key=key)

    async def _upload(self, local_path: str, bucket: str, key: str) -> None:
        fd = os.open(local_path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            part = max(self._part, -(-size // MAX_PARTS))
            if size <= part:
                taken = await self._budget.take(size)
                try:
                    await self._request("put_object", _Body(fd, 0, size, local_path), Bucket=bucket, Key=key)
                finally:
                    await self._budget.give(taken)
            else:
                await self._multipart(_Body(fd, 0, size, local_path), part, bucket, key)
        finally:
            os.close(fd)

    async def _multipart(self, whole: _Body, part: int, bucket: str, key: str) -> None:
        checksum = await self._checksum_algorithm()
        created = await self._request(
            "create_multipart_upload", None, Bucket=bucket, Key=key,
            **({"ChecksumAlgorithm": checksum} if checksum else {}),
        )
        upload_id = created["UploadId"]
        parts: dict[int, dict[str, Any]] = {}
        sending: set[asyncio.Task[None]] = set()
        failures: list[BaseException] = []

        async def send(number: int, body: _Body, taken: int) -> None:
            try:
                answer = await self._request(
                    "upload_part", body, Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number
                )
            finally:
                await self._budget.give(taken)
            parts[number] = {"PartNumber": number, "ETag": answer["ETag"]}
            if checksum and f"Checksum{checksum}" in answer:
                parts[number][f"Checksum{checksum}"] = answer[f"Checksum{checksum}"]

        def finished(task: asyncio.Task[None]) -> None:
            sending.discard(task)
            if not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())  # type: ignore[arg-type]

        try:
            # Parts start in order, each once the budget has room for it: a new part is sent as
            # soon as any earlier one is acknowledged.
            for number, offset in enumerate(range(0, whole.length, part), 1):
                length = min(part, whole.length - offset)
                taken = await self._budget.take(length)
                if failures:
                    await self._budget.give(taken)
                    raise failures[0]
                task = asyncio.ensure_future(send(number, _Body(whole.fd, offset, length, whole.name), taken))
                sending.add(task)
                task.add_done_callback(finished)
            while sending:
                await asyncio.wait(set(sending))
            if failures:
                raise failures[0]
            await self._request(
                "complete_multipart_upload", None, Bucket=bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [parts[number] for number in sorted(parts)]},
            )
        except BaseException:
            for task in sending:
                task.cancel()
            await asyncio.gather(*sending, return_exceptions=True)
            try:  # best effort: an incomplete upload is invisible, but costs storage until aborted
                await self._fs._call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the first failure is the one to report
                pass
            raise

    async def _request(self, method: str, body: _Body | _Bytes | None, **kwargs: Any) -> Any:
        """One S3 request, retried on transient failures with the remote's backoff; `body` is read
        afresh for each try (the HTTP client closes the one it sent)."""
        attempts = self._attempts()
        while True:
            attempts.tries += 1
            try:
                if body is None:
                    return await self._fs._call_s3(method, **kwargs)
                kwargs["Body"] = body.read()
                return await self._sending(kwargs["Body"], self._fs._call_s3(method, **kwargs))
            except Exception as exc:
                kind = classify(exc)
                if kind is None:
                    raise
                delay = attempts.failed(exc, kind)
                if delay is None:
                    raise RequestFailed(exc, kind, attempts.tries) from exc
            finally:
                kwargs.pop("Body", None)
            await asyncio.sleep(delay)

    async def _sending(self, buffer: io.BytesIO, call: Awaitable[T]) -> T:
        """The answer of `call`, which sends `buffer`: given up with a TimeoutError once the HTTP
        client has taken some of its bytes and then, for the remote's timeout, takes no more and
        gets no answer. (botocore's own sockets treat a send that does not move the same way;
        aiohttp starts its read timeout only once the whole body is sent, so a server that stopped
        reading held the request for ever.) The clock starts with the first byte taken, not
        before: a request may wait that long for a free connection while others send."""
        task = asyncio.ensure_future(call)
        if self._timeout is None:
            return await task
        loop = asyncio.get_running_loop()
        try:
            taken, moved = 0, None  # where the client was in `buffer` at the last look, and since when
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._timeout / 4)
                if done:
                    return task.result()
                if buffer.tell() != taken:
                    taken, moved = buffer.tell(), loop.time()
                elif moved is not None and loop.time() - moved >= self._timeout:
                    raise TimeoutError(f"the server took no bytes of the request in {self._timeout:g} s")
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _checksum_algorithm(self) -> str | None:
        """The per-part checksum boto3's transfer manager asks for (CRC32), or None when the client
        is configured to send checksums only where an operation requires them (for servers that do
        not support them)."""
        client = await self._fs.set_session()
        return "CRC32" if getattr(client.meta.config, "request_checksum_calculation", None) == "when_supported" else None


@dataclass(frozen=True)
class _Body:
    """`length` bytes of the open file `fd` from `offset`: what one request sends."""

    fd: int
    offset: int
    length: int
    name: str

    def read(self) -> io.BytesIO:
        """The bytes, read straight into the buffer of a BytesIO of their own: botocore sends a
        file-like body as it is, and aiohttp sends a BytesIO from its buffer, where bytes (wrapped
        in a BytesIO that shares them) would be copied once more."""
        buffer = io.BytesIO()
        if self.length:
            buffer.seek(self.length - 1)
            buffer.write(b"\0")  # sizes the buffer once
            with buffer.getbuffer() as view:
                got = os.preadv(self.fd, [view], self.offset)
            if got != self.length:
                raise OSError(f"'{self.name}' changed while it was being uploaded")
            buffer.seek(0)
        return buffer


@dataclass(frozen=True)
class _Bytes:
    """Bytes already in memory: what one request sends."""

    data: bytes

    def read(self) -> io.BytesIO:
        """A BytesIO over the bytes, whose position shows how far the client has sent them. It
        shares them until aiohttp asks for its buffer, which copies them once for the request."""
        return io.BytesIO(self.data)

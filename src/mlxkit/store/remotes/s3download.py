"""Downloads from S3 that continue where a failed try stopped.

s3fs's `get_file` writes the file from its first byte on every call (it continues a broken answer
only inside one call, with s3fs's own retries, which fs.py turns off so that its policy is the only
one). A 10 GiB object whose connection broke at 9 GiB was sent again whole, maybe again and again.
Here each try of fs.py's retry loop is one call of `download`, and a `Partial` carries what the
tries before it left: the local file, and the object's size and ETag as the first answer gave them.
A retry asks for the rest only (`Range: bytes=N-`, N the bytes already in the file), as boto3's
transfer manager does, and keeps them only if the answer is the rest of that same object: a range
starting at N, of the same total size and ETag. Anything else (an object replaced between the tries,
a server that ignores Range) is dropped and the file is written again from byte 0; the caller
hashes the whole file before it enters the cache in any case.

One streamed GET per try, read 64 KiB at a time, so memory stays bounded whatever the size; each
read waits at most the remote's `timeout` (botocore's `read_timeout`), as in `get_file`. The
requests go through `S3FileSystem._call_s3` (session, credentials and error translation stay
s3fs's), on s3fs's event loop (the caller runs `download` there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

CHUNK = 1 << 16  # bytes per read of the answer, as s3fs's get_file


@dataclass
class Partial:
    """One download across its tries: where its bytes go, and the object's size and ETag as the
    first answer said (None until an answer came)."""

    local_path: str
    size: int | None = None
    etag: str | None = None

    def written(self) -> int:
        """The bytes of the object already in the local file: 0 before any answer came, or when
        the file is longer than the object (it cannot be the object's start)."""
        if self.size is None:
            return 0
        try:
            written = os.path.getsize(self.local_path)
        except FileNotFoundError:
            return 0
        return written if written <= self.size else 0

    def is_continued_by(self, answer: dict[str, Any], start: int) -> bool:
        """Whether `answer` is the rest of the same object, from byte `start`."""
        assert self.size is not None
        same_range = answer.get("ContentRange") == f"bytes {start}-{self.size - 1}/{self.size}"
        return same_range and answer.get("ETag") == self.etag


async def download(fs: Any, bucket: str, key: str, partial: Partial) -> None:
    """One try: the object `key` of `bucket`, or the rest of it, into `partial.local_path`."""
    start = partial.written()
    if start == partial.size:  # every byte came before the failure (the caller verifies them)
        return
    answer = await _get(fs, bucket, key, start)
    if start and not partial.is_continued_by(answer, start):
        answer["Body"].close()
        start, answer = 0, await _get(fs, bucket, key, 0)
    if start == 0:
        size = answer.get("ContentLength")  # S3 always says; without it, a retry starts over
        partial.size, partial.etag = None if size is None else int(size), answer.get("ETag")
    await _save(answer["Body"], partial.local_path, start)


async def _get(fs: Any, bucket: str, key: str, start: int) -> dict[str, Any]:
    ranged = {"Range": f"bytes={start}-"} if start else {}
    answer: dict[str, Any] = await fs._call_s3("get_object", Bucket=bucket, Key=key, **ranged)
    return answer


async def _save(body: Any, local_path: str, start: int) -> None:
    """Write the answer's `body` into the file from byte `start` (the bytes before it are kept)."""
    try:
        with open(local_path, "r+b" if start else "wb") as file:
            file.seek(start)
            file.truncate()
            while chunk := await body.read(CHUNK):
                file.write(chunk)
    finally:
        body.close()

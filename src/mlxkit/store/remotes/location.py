"""Open a remote from its URL: a plain path or `file://` is a local directory (LocalFS), anything
else goes to fsspec (FsspecFS). Which protocols a committed configuration may name is decided by
repo/remotes.py; this module only opens what it is given."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mlxkit.errors import UsageError
from mlxkit.store.remotes.fs import DEFAULT_RETRY, LocalFS, RemoteFS, RetryPolicy, open_fsspec

LOCAL_PROTOCOLS = ("file", "local")
DEFAULT_JOBS_LOCAL = 4
DEFAULT_JOBS_NETWORK = 8  # object stores answer each request slowly but many at once
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def open_remote(
    name: str, url: str, options: Mapping[str, Any], jobs: int | None, *, retry: RetryPolicy = DEFAULT_RETRY
) -> RemoteFS:
    """The file system of remote `name`. `options` are fsspec storage options (ignored for a local
    directory); `jobs` None means the protocol's default. Nothing is read or written yet."""
    if jobs is not None and jobs < 1:
        raise UsageError(f"remote '{name}': jobs must be at least 1, not {jobs}")
    protocol, local = split_url(name, url)
    if local is not None:
        return LocalFS(name, local, jobs or DEFAULT_JOBS_LOCAL, retry)
    display = display_url(url)
    return open_fsspec(name, url, display, protocol, options, jobs or DEFAULT_JOBS_NETWORK, retry)


def split_url(name: str, url: str) -> tuple[str, str | None]:
    """(protocol, absolute local path) for a directory, (protocol, None) for anything else."""
    if not url:
        raise UsageError(f"remote '{name}' has an empty url")
    if "::" in url:
        raise UsageError(
            f"remote '{name}': chained urls ('{display_url(url)}') are not supported",
            hint="use a directory, file:// or s3:// url",
        )
    match = _SCHEME.match(url)
    if match is None:
        return "file", os.path.abspath(url)
    protocol = match.group(1).lower()
    if protocol in LOCAL_PROTOCOLS:
        rest = url[match.end() :]
        return "file", os.path.abspath(rest.removeprefix("localhost") if rest.startswith("localhost/") else rest)
    return protocol, None


def display_url(url: str) -> str:
    """`url` without a user name or password (`sftp://me:pw@host/x` -> `sftp://host/x`)."""
    if _SCHEME.match(url) is None:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

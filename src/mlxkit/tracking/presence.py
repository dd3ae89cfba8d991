"""Which objects a remote has, and their sizes: the indexes answer for packed objects; loose objects
are listed once when many are asked about, and probed one by one (in parallel) when few are."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from mlxkit.store.digest import Digest
from mlxkit.store.remotes.layout import loose_path
from mlxkit.tracking.connect import Connection

# Above this many questions one listing of objects/ (1,000 names a request on S3) is cheaper.
PROBE_LIMIT = 64


def remote_sizes(connection: Connection, digests: Iterable[Digest]) -> dict[Digest, int]:
    """The size of every object in `digests` that the remote has; absent ones are left out."""
    catalog, fs = connection.catalog, connection.fs
    sizes: dict[Digest, int] = {}
    rest: list[Digest] = []
    for digest in digests:
        location = catalog.locate(digest)
        if location is None:
            rest.append(digest)
        else:
            sizes[digest] = location.length
    if len(rest) > PROBE_LIMIT:
        listed = fs.list("objects")
        sizes.update((digest, listed[digest.relpath]) for digest in rest if digest.relpath in listed)
    elif rest:
        with ThreadPoolExecutor(max(1, fs.jobs), thread_name_prefix="mlx-probe") as pool:
            answers = pool.map(lambda digest: fs.size(loose_path(digest)), rest)
            sizes.update((digest, size) for digest, size in zip(rest, answers) if size is not None)
    return sizes


def on_remote(connection: Connection, digests: Iterable[Digest]) -> set[Digest]:
    return set(remote_sizes(connection, digests))

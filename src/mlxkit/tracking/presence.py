"""Which objects a remote has, and their sizes: the indexes answer for packed objects; loose objects
are listed once when many are asked about, and probed one by one (in parallel) when few are.

A copy on the remote whose size is not the object's is damaged (a truncated upload, or a corrupt
object pushed by an older mlx): `intact_on_remote` does not count it, so that push sends the
object again and `status --cloud` reports it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.store.objects import ObjectStore
from mlxkit.store.remotes.catalog import Location
from mlxkit.store.remotes.layout import loose_path, pack_path
from mlxkit.tracking.connect import Connection
from mlxkit.tracking.trees import load_tree

# Above this many questions one listing of objects/ (1,000 names a request on S3) is cheaper.
PROBE_LIMIT = 64


def intact_on_remote(connection: Connection, sizes: Mapping[Digest, int | None]) -> set[Digest]:
    """The objects of `sizes` (object -> its size, None where it is unknown: any size will do) that
    the remote has in a pack, or loose, with that size."""
    catalog = connection.catalog
    found: set[Digest] = set()
    rest: list[Digest] = []
    for digest, size in sizes.items():
        lengths = [location.length for location in catalog.locations(digest)]
        if lengths and (size is None or size in lengths):
            found.add(digest)
        else:
            rest.append(digest)
    found.update(digest for digest, listed in loose_sizes(connection, rest).items() if sizes[digest] in (None, listed))
    return found


def vouched_sizes(repo: Repository, trees: Iterable[Digest]) -> dict[Digest, int]:
    """The files of `trees` that the stat cache vouches are in the local cache (their tree was
    recorded complete at the cache's generation, as checkout trusts it), with the sizes the trees
    list: what cache_sizes would stat 10^5 times to learn. A file whose cache copy has another size
    is corrupt, and push hashes what it sends."""
    generation = repo.store.generation()
    sizes: dict[Digest, int] = {}
    for digest in trees:
        if repo.state.is_complete(digest, generation):
            tree = load_tree(repo.store, digest, missing_ok=True)
            for entry in tree.entries if tree is not None else ():
                sizes[entry.digest] = entry.size
    return sizes


def cache_sizes(store: ObjectStore, digests: Iterable[Digest]) -> dict[Digest, int | None]:
    """The size of each object in the local cache, None for those it lacks (what to compare the
    remote's copies with)."""
    sizes: dict[Digest, int | None] = {}
    for digest in digests:
        try:
            sizes[digest] = os.stat(store.location(digest)).st_size
        except FileNotFoundError:
            sizes[digest] = None
    return sizes


def loose_sizes(connection: Connection, digests: list[Digest]) -> dict[Digest, int]:
    """The size of each loose object of `digests` on the remote; absent ones are left out."""
    fs = connection.fs
    if len(digests) > PROBE_LIMIT:
        listed = fs.list("objects")
        return {digest: listed[digest.relpath] for digest in digests if digest.relpath in listed}
    if not digests:
        return {}
    with ThreadPoolExecutor(max(1, fs.jobs), thread_name_prefix="mlx-probe") as pool:
        answers = pool.map(lambda digest: fs.size(loose_path(digest)), digests)
        return {digest: size for digest, size in zip(digests, answers) if size is not None}


def read_copy(connection: Connection, digest: Digest, location: Location | None) -> bytes:
    """The bytes of one copy of `digest` on the remote, unverified: at `location` in a pack, or the
    loose one (None). RemoteNotFoundError when it is not there."""
    if location is None:
        return connection.fs.read(loose_path(digest))
    end = location.offset + location.length
    return connection.fs.read_ranges(pack_path(location.pack), [(location.offset, end)])[0]

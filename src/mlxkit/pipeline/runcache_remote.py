"""The run cache on a remote (`push/fetch/pull --run-cache`): entries travel as `runs/ab/cdef….json`,
after the objects they name (an entry is published only when its outputs can be fetched).

Entries are few (one per distinct stage run) and small, so each is one file; one listing of `runs/`
tells a push what to send and a fetch what to bring. A fetched entry is checked whole (schema,
hashes, paths) before it is written into the local run cache; a bad one is reported and skipped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.errors import InvalidFileError, UnsafePathError, UnsupportedFormatError, problem_text
from mlxkit.fs.atomic import temp_name, unlink_quietly
from mlxkit.pipeline.runcache import RunCache, read_entry
from mlxkit.repo.repository import Repository
from mlxkit.tracking.connect import Connection
from mlxkit.tracking.roots import Root

RUNS = "runs"
ENTRY_LABEL = "run-cache entry "
_ENTRY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{62}\.json")


@dataclass(frozen=True)
class RunCacheTransfer:
    entries: int  # sent or brought
    problems: list[str] = field(default_factory=list)  # entries skipped, one line each


def run_cache(repo: Repository) -> RunCache:
    return RunCache(repo.cache_dir / RUNS)


def local_entries(repo: Repository) -> dict[str, str]:
    """`ab/cdef….json` -> its path, for every well-named entry of the local run cache."""
    top = run_cache(repo).directory
    found = {}
    for directory, _dirs, files in os.walk(top):
        for name in files:
            relative = os.path.relpath(os.path.join(directory, name), top).replace(os.sep, "/")
            if _ENTRY.fullmatch(relative):
                found[relative] = os.path.join(directory, name)
    return found


def entry_roots(repo: Repository) -> tuple[list[Root], list[str]]:
    """The outputs every local entry names (for a push to send), and the entries that cannot be read."""
    roots, problems = [], []
    for relative, path in sorted(local_entries(repo).items()):
        try:
            outs = read_entry(Path(path))
        except (OSError, InvalidFileError, UnsafePathError, UnsupportedFormatError) as exc:
            problems.append(f"ignoring run-cache entry '{path}': {problem_text(exc)}")
            continue
        # labelled by the entry (no path): what push reports missing names the entry to hold back
        roots.extend(Root(out.digest, out.files is not None, f"{ENTRY_LABEL}{relative}", "") for out in outs)
    return roots, problems


def push_entries(repo: Repository, connection: Connection, missing: list[str]) -> int:
    """Send the local entries the remote lacks, except those whose objects a push could not send
    (`missing`: what it reported, labelled by ENTRY_LABEL and the entry)."""
    skip = {found.group() for label in missing if label.startswith(ENTRY_LABEL) and (found := _ENTRY.search(label))}
    remote = connection.fs.list(RUNS)
    sent = 0
    for relative, path in sorted(local_entries(repo).items()):
        if relative in remote or relative in skip:
            continue
        with open(path, "rb") as handle:
            connection.fs.write(f"{RUNS}/{relative}", handle.read())
        sent += 1
    return sent


def fetch_entries(repo: Repository, connection: Connection) -> RunCacheTransfer:
    """Bring the remote's entries the local run cache lacks, each checked before it is kept."""
    if connection.unmarked:  # the place holds nothing mlx knows of
        return RunCacheTransfer(0, [])
    have = local_entries(repo)
    directory = run_cache(repo).directory
    brought, problems = 0, []
    for relative in sorted(connection.fs.list(RUNS)):
        if not _ENTRY.fullmatch(relative) or relative in have:
            continue
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_name(target.parent)
        data = connection.fs.read(f"{RUNS}/{relative}")
        try:
            with open(temp, "xb") as handle:  # checked in place, then renamed: never half-published
                handle.write(data)
            read_entry(Path(temp))
            os.replace(temp, target)
        except (InvalidFileError, UnsafePathError, UnsupportedFormatError) as exc:
            problems.append(f"skipping run-cache entry '{RUNS}/{relative}' of remote '{connection.name}': {problem_text(exc)}")
            continue
        finally:
            unlink_quietly(temp)
        brought += 1
    return RunCacheTransfer(brought, problems)

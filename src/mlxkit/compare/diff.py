"""mlx diff: the tracked files that were added, modified, deleted or renamed between two revisions.

A revision's tracked paths are its pointer files and the cached outs its mlx.lock records, each with
the digest recorded there; a directory is expanded into its files through its tree object in the
local cache, and when that tree is not there the directory is reported as a whole (`not_in_cache`),
never guessed. The workspace side is what the disk holds now, read as `mlx status` reads it: the
Scanner's stat cache vouches for unchanged files, so a second diff costs stats, not hashes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mlxkit.compare.revisions import WORKSPACE, Revisions, Snapshot
from mlxkit.errors import InvalidFileError, PipelineError, UnsafePathError, UnsupportedFormatError, UsageError
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.model import LockedPath
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.tracking import workspace
from mlxkit.tracking.pointer import SUFFIX, Unreadable, find_pointer_files, target_of
from mlxkit.tracking.targets import check_target, direct_pointer_files, skip_unlisted
from mlxkit.tracking.trees import load_tree

Files = dict[str, tuple[str, int, bool]]  # a directory's files: repository path -> (digest hex, size, executable)
_NESTED_MARK = ".mlx/config.yaml"  # a committed nested mlx repository: its pointers are its own


@dataclass(frozen=True)
class Change:
    path: str
    old: Digest | None  # None when added
    new: Digest | None  # None when deleted
    size: int  # the new size (the old one when deleted); a directory's: all its files
    is_dir: bool = False


@dataclass(frozen=True)
class Renamed:
    old_path: str
    new_path: str
    digest: Digest
    size: int
    is_dir: bool = False


@dataclass(frozen=True)
class DirectoryCounts:
    """How many files changed inside a directory that both sides' trees could list."""

    path: str
    added: int = 0
    modified: int = 0
    deleted: int = 0
    renamed: int = 0


@dataclass(frozen=True)
class NotInCache:
    """A directory whose tree object `digest` (at `revision`) is not in the local cache."""

    path: str
    digest: Digest
    revision: str


@dataclass(frozen=True)
class DiffReport:
    a: str
    b: str
    added: list[Change]
    modified: list[Change]
    deleted: list[Change]
    renamed: list[Renamed]
    directories: list[DirectoryCounts]
    not_in_cache: list[NotInCache]
    counters: dict[str, int]  # the workspace scan's: files_hashed is 0 when the stat cache vouched for all
    warnings: list[str] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        return not (self.added or self.modified or self.deleted or self.renamed)


@dataclass(frozen=True)
class _Tracked:
    """A tracked path as one side has it. `executable` is None where nothing records it (mlx.lock)."""

    digest: Digest
    size: int
    is_dir: bool
    executable: bool | None = None

    def same_as(self, other: _Tracked) -> bool:
        unknown = self.executable is None or other.executable is None
        return self.digest == other.digest and self.is_dir == other.is_dir and (unknown or self.executable == other.executable)


class _Side:
    """A commit: the paths its pointer files and mlx.lock record, their files from tree objects."""

    def __init__(self, repo: Repository, snapshot: Snapshot, warnings: list[str], pointed: list[RepoPath] | None = None) -> None:
        self.name = snapshot.name
        self.store = repo.store
        self.skipped: set[RepoPath] = set()  # paths left out of the comparison (see _Workspace)
        self.tracked = _recorded(snapshot, _committed_pointers(snapshot) if pointed is None else pointed, warnings)

    def state(self, path: RepoPath) -> _Tracked | None:
        return self.tracked.get(path)

    def files(self, path: RepoPath, state: _Tracked) -> Files | None:
        tree = load_tree(self.store, state.digest, missing_ok=True)
        if tree is None:
            return None
        return {f"{path}/{entry.path}": (entry.digest.hex, entry.size, entry.executable) for entry in tree.entries}


class _Workspace(_Side):
    """The disk: what the pointer files and mlx.lock there track, with the content it holds now."""

    def __init__(
        self, repo: Repository, snapshot: Snapshot, warnings: list[str], scanner: workspace.Scanner, targets: list[RepoPath]
    ) -> None:
        self.unlisted: list[RepoPath] = []  # directories and links mlx cannot read: what they hold is not compared
        direct = direct_pointer_files(repo, targets)  # a target's own pointer file is read without listing its directory
        self.answered = {target_of(file) for file in direct}
        skip = skip_unlisted(repo, targets, answered=direct)

        def leave_out(error: Unreadable) -> None:
            skip(error)
            self.unlisted.append(RepoPath(error.path))

        # Through links: a link to a directory of pointer files is left out, not its pointers called deleted.
        walk = find_pointer_files(repo.root, through_links=True, on_unreadable=leave_out, named=direct)
        pointed = [target_of(file) for file in walk]
        super().__init__(repo, snapshot, warnings, pointed)
        self.scanner = scanner
        self.warnings = warnings
        self._last: workspace.Snapshot | None = None

    def state(self, path: RepoPath) -> _Tracked | None:
        if path not in self.answered and any(path.is_within(directory) for directory in self.unlisted):
            self.skipped.add(path)  # not "deleted": its pointer may well be there (or behind the link)
            return None
        recorded = self.tracked.get(path)
        if recorded is None:
            return None
        self._last = found = self.scanner.snapshot(path)
        if found.problem is not None:
            self.skipped.add(path)
            self.warnings.append(f"'{path}' is not compared: it holds {found.problem}")
            return None
        if found.digest is None:
            return None
        executable = None if recorded.executable is None or found.files is not None else found.executable
        return _Tracked(found.digest, found.size, found.files is not None, executable)

    def files(self, path: RepoPath, state: _Tracked) -> Files | None:
        """The entries of the directory `state` just read (the scan's records: nothing is hashed again)."""
        assert self._last is not None and self._last.target == path
        listing = self.scanner.listing_of(self._last)
        assert listing is not None  # a directory with a problem was skipped
        return {f"{path}/{name}": (hex_digest, size, x) for name, hex_digest, size, x in listing.entries}


def diff(
    repo: Repository, a: str | None = None, b: str | None = None, *, targets: list[str] | None = None,
    cwd: Path | None = None, progress: Progress = NULL_PROGRESS,
) -> DiffReport:
    """What changed in the tracked files from `a` (default HEAD) to `b` (default the workspace)."""
    repo.require_git("mlx diff")
    a, b = a or "HEAD", b or WORKSPACE
    warnings: list[str] = []
    counters = workspace.Counters()
    scanner = workspace.Scanner(repo, store=False, counters=counters, progress=progress)
    named = [RepoPath.from_user(repo.root, text, cwd) for text in targets or []]
    for target in named:
        check_target(repo, target)
    with Revisions(repo) as revisions:
        old, new = (
            _Workspace(repo, snapshot, warnings, scanner, named) if snapshot.is_workspace else _Side(repo, snapshot, warnings)
            for snapshot in revisions.open([a, b])
        )
        within = _targets(targets or [], named, [*old.tracked, *new.tracked], a, b)
        builder = _Builder()
        for path in sorted(old.tracked.keys() | new.tracked.keys()):
            if within and not any(path.is_within(t) or t.is_within(path) for t in within):
                continue
            before, after = old.state(path), new.state(path)
            if path in old.skipped or path in new.skipped or (before and after and before.same_as(after)):
                continue
            if before and after and before.is_dir != after.is_dir:
                builder.compare(path, before, None, old, new)
                builder.compare(path, None, after, old, new)
            else:
                builder.compare(path, before, after, old, new)
    return builder.report(a, b, [t.posix for t in within], counters.as_dict(), [*repo.warnings, *warnings, *repo.state.warnings])


def _committed_pointers(snapshot: Snapshot) -> list[RepoPath]:
    """The targets of the committed `*.mlx` files, but those of nested mlx repositories."""
    names = snapshot.files()
    nested = [name[: -len(_NESTED_MARK)] for name in names if name.endswith("/" + _NESTED_MARK)]
    found = []
    for name in names:
        if name.endswith(SUFFIX) and not any(name.startswith(root) for root in nested):
            try:
                found.append(target_of(RepoPath.parse(name)))
            except UnsafePathError:
                continue  # a name mlx could not have written: not a pointer file
    return found


def _recorded(snapshot: Snapshot, pointed: Iterable[RepoPath], warnings: list[str]) -> dict[RepoPath, _Tracked]:
    """The paths a revision tracks, with what it records for each; a path inside another is left
    to the outer one (a tracked directory holds the files, not their own pointers)."""
    found: dict[RepoPath, _Tracked] = {}
    for target in pointed:
        pointer = snapshot.pointer(target)
        if pointer is not None:
            found[target] = _Tracked(pointer.digest, pointer.size, pointer.is_dir, pointer.executable)
    for out in _cached_outs(snapshot, warnings):
        found.setdefault(out.path, _Tracked(out.digest, out.size, out.files is not None))
    outermost: dict[RepoPath, _Tracked] = {}
    for path in sorted(found):
        parts = path.posix.split("/")
        if not any(RepoPath("/".join(parts[:depth])) in outermost for depth in range(1, len(parts))):
            outermost[path] = found[path]
    return outermost


def _cached_outs(snapshot: Snapshot, warnings: list[str]) -> list[LockedPath]:
    """The outs mlx.lock records, but those mlx.yaml keeps in git (`cache: false`: metrics, plots)."""
    recorded = [(name, out) for name, entry in snapshot.lock().stages.items() for out in entry.outs]
    if not recorded:
        return []
    try:
        pipeline = snapshot.pipeline()
    except (InvalidFileError, PipelineError, UnsafePathError, UnsupportedFormatError) as exc:
        warnings.append(f"{exc.message}: every out in {snapshot.label('mlx.lock')} is compared")
        pipeline = None
    stages = pipeline.stages if pipeline is not None else {}
    in_git = {(name, out.path) for name, stage in stages.items() for out in stage.outs if not out.cache}
    return [out for name, out in recorded if (name, out.path) not in in_git]


def _targets(given: list[str], named: list[RepoPath], tracked: list[RepoPath], a: str, b: str) -> list[RepoPath]:
    """The targets (`given` as typed, `named` as paths), each of which must be or hold a tracked path."""
    for text, target in zip(given, named, strict=True):
        if not any(path.is_within(target) or target.is_within(path) for path in tracked):
            raise UsageError(f"'{text}' is not tracked by mlx at {a} or {b}", hint="name a tracked path, or a directory holding some")
    return named


class _Builder:
    """Collects the changes path by path, then pairs renames and counts per directory."""

    def __init__(self) -> None:
        self.changes: dict[str, list[Change]] = {"added": [], "modified": [], "deleted": []}
        self.not_in_cache: list[NotInCache] = []
        self.expanded: list[str] = []  # directories whose files were compared

    def compare(self, path: RepoPath, before: _Tracked | None, after: _Tracked | None, old: _Side, new: _Side) -> None:
        kept = before or after
        assert kept is not None
        self._add(path.posix, before and (before.digest, before.size), after and (after.digest, after.size), kept.is_dir)
        if not kept.is_dir:
            return
        # The old side first: the workspace's listing must follow its own scan (Scanner.listing_of).
        was = old.files(path, before) if before else {}
        now = new.files(path, after) if after else {}
        for files, state, side in ((was, before, old), (now, after, new)):
            if files is None and state is not None:
                self.not_in_cache.append(NotInCache(path.posix, state.digest, side.name))
        if was is None or now is None:
            return
        self.expanded.append(path.posix)
        for name in sorted(was.keys() | now.keys()):
            one, other = was.get(name), now.get(name)
            if one != other:
                self._add(name, one and (Digest(one[0]), one[1]), other and (Digest(other[0]), other[1]), False)

    def _add(self, path: str, before: tuple[Digest, int] | None, after: tuple[Digest, int] | None, is_dir: bool) -> None:
        kind = "added" if before is None else "deleted" if after is None else "modified"
        size = (after or before or (None, 0))[1]
        self.changes[kind].append(Change(path, before and before[0], after and after[0], size, is_dir))

    def report(self, a: str, b: str, within: list[str], counters: dict[str, int], warnings: list[str]) -> DiffReport:
        added, deleted, renamed = _renames(self.changes["added"], self.changes["deleted"])
        lists = {"added": added, "modified": self.changes["modified"], "deleted": deleted}
        if within:
            expanded = set(self.expanded)
            lists = {
                kind: [c for c in changes if _shown(c.path, c.is_dir and c.path not in expanded, within)]
                for kind, changes in lists.items()
            }
            renamed = [r for r in renamed if _shown(r.old_path, False, within) or _shown(r.new_path, False, within)]
            self.not_in_cache = [n for n in self.not_in_cache if _shown(n.path, True, within)]
        lists = {kind: sorted(changes, key=lambda c: c.path) for kind, changes in lists.items()}
        shown = {c.path for changes in lists.values() for c in changes if c.is_dir}
        directories = _counts([path for path in self.expanded if path in shown], lists, renamed)
        return DiffReport(
            a, b, lists["added"], lists["modified"], lists["deleted"], sorted(renamed, key=lambda r: r.new_path),
            directories, sorted(self.not_in_cache, key=lambda n: (n.path, n.revision)), counters, warnings,
        )


def _shown(path: str, whole: bool, within: list[str]) -> bool:
    """Whether a change at `path` falls under a target; a directory reported `whole` also when a
    target lies inside it (its files could not be listed)."""
    return any(path == t or path.startswith(t + "/") or (whole and t.startswith(path + "/")) for t in within)


def _renames(added: list[Change], deleted: list[Change]) -> tuple[list[Change], list[Change], list[Renamed]]:
    """Pair an added and a deleted path of the same content when that content is unique on both
    sides: exact, and never a guess among several copies."""
    def unique(changes: list[Change], digest_of: str) -> dict[tuple[Digest, bool], Change]:
        groups: dict[tuple[Digest, bool], list[Change]] = defaultdict(list)
        for change in changes:
            groups[(getattr(change, digest_of), change.is_dir)].append(change)
        return {key: group[0] for key, group in groups.items() if len(group) == 1}

    gone, came = unique(deleted, "old"), unique(added, "new")
    renamed = [Renamed(gone[key].path, came[key].path, key[0], came[key].size, key[1]) for key in gone.keys() & came.keys()]
    paired = {(path, rename.is_dir) for rename in renamed for path in (rename.old_path, rename.new_path)}
    return [c for c in added if (c.path, c.is_dir) not in paired], [c for c in deleted if (c.path, c.is_dir) not in paired], renamed


def _counts(directories: list[str], lists: dict[str, list[Change]], renamed: list[Renamed]) -> list[DirectoryCounts]:
    counts = {path: dict.fromkeys(("added", "modified", "deleted", "renamed"), 0) for path in directories}

    def owner(path: str) -> str | None:
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            if path in counts:
                return path
        return None

    for kind, changes in lists.items():
        for change in changes:
            if not change.is_dir and (found := owner(change.path)) is not None:
                counts[found][kind] += 1
    for rename in renamed:
        if not rename.is_dir:
            for found in {owner(rename.old_path), owner(rename.new_path)} - {None}:
                counts[found]["renamed"] += 1  # type: ignore[index]
    return [DirectoryCounts(path, **counts[path]) for path in sorted(counts)]

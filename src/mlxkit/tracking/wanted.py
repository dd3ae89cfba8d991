"""What push, fetch, pull and `status --cloud` transfer: the objects that the workspace (or a part of
git's history) references, optionally only below some targets, with the tracked path that names
each, for messages.

A directory's tree object is expanded to its files when the tree is in the local cache; the trees
that are not (a fresh clone) stay in `unexpanded` until fetch has brought them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from mlxkit.cyclegc import collector_paused
from mlxkit.errors import UsageError
from mlxkit.fs.confine import RepoPath, is_repository_root
from mlxkit.repo.repository import Repository
from mlxkit.store.digest import Digest
from mlxkit.tracking.history import WORKSPACE, Scope
from mlxkit.tracking.pointer import SUFFIX
from mlxkit.tracking.roots import Root, all_roots
from mlxkit.tracking.targets import check_target, direct_pointer_files, inside_directory, skip_unlisted
from mlxkit.tracking.trees import load_tree


@dataclass
class Wanted:
    files: dict[Digest, str] = field(default_factory=dict)  # object -> the tracked path naming it
    trees: dict[Digest, str] = field(default_factory=dict)  # every directory's tree object
    unexpanded: dict[Digest, str] = field(default_factory=dict)  # trees not in the local cache
    tree_files: dict[Digest, int] = field(default_factory=dict)  # files of each tree, as recorded
    skipped_files: int = 0  # files of trees left unexpanded on purpose (`skip`)

    @collector_paused()
    def expand(self, repo: Repository) -> None:
        """Add the files of every tree that is now in the local cache."""
        for digest, path in list(self.unexpanded.items()):
            tree = load_tree(repo.store, digest, missing_ok=True)
            if tree is None:
                continue
            del self.unexpanded[digest]
            for entry in tree.entries:
                self.files.setdefault(entry.digest, f"{path}/{entry.path}")

    def skip(self, trees: set[Digest]) -> None:
        """Never expand `trees` (push: trees the remote has, whose files it has too); their files
        still count."""
        for digest in trees & self.unexpanded.keys():
            del self.unexpanded[digest]
            self.skipped_files += self.tree_files.get(digest, 0)

    @property
    def count(self) -> int:
        return len(self.files) + len(self.trees) + self.skipped_files


def wanted_objects(
    repo: Repository, targets: list[str] | None = None, *, scope: Scope = WORKSPACE, cwd: Path | None = None,
    extra: Iterable[Root] = (), expand: bool = True,
) -> Wanted:
    """Stage dependencies are left out: each is a tracked path or another stage's output, which are
    roots of their own, or a file (code) that mlx never stores. `extra`: more roots (the run cache's).
    Without `expand`, every tree stays in `unexpanded` for the caller to expand."""
    selection = Selection(target_paths(repo, targets, cwd))
    wanted = Wanted()
    for root in chain(selected_roots(repo, selection, scope), extra):
        if not root.optional and selection.admits(root):
            _want(wanted, root)
    selection.refuse_unmatched()
    if expand:
        wanted.expand(repo)
    return wanted


def selected_roots(repo: Repository, selection: Selection, scope: Scope) -> Iterator[Root]:
    """all_roots, leaving out or refusing what cannot be read as the targets say (skip_unlisted),
    with the targets' own pointer files read without listing their directory (direct_pointer_files)."""
    direct = direct_pointer_files(repo, selection.targets)
    return all_roots(repo, scope, unlisted=skip_unlisted(repo, selection.targets, answered=direct), named=direct)


class Selection:
    """Which roots the targets select (all when there are none). A target that selects none is an
    error: a typo, or a file inside a tracked directory, which is then named."""

    def __init__(self, targets: list[RepoPath]) -> None:
        self.targets = targets
        self._matched: set[int] = set()
        self._containing: dict[int, str] = {}  # a target inside a tracked directory -> that directory

    def admits(self, root: Root) -> bool:
        if not self.targets:
            return True
        hits = [i for i, target in enumerate(self.targets) if root.path and RepoPath(root.path).is_within(target)]
        if not hits and root.is_dir and root.path:
            directory = RepoPath(root.path)
            self._containing.update((i, root.path) for i, target in enumerate(self.targets) if target.is_within(directory))
        self._matched.update(hits)
        return bool(hits)

    def refuse_unmatched(self) -> None:
        for i, target in enumerate(self.targets):
            if i in self._matched:
                continue
            if i in self._containing:
                raise inside_directory(target.posix, self._containing[i])
            raise UsageError(
                f"'{target.posix}' is not tracked by mlx and no stage writes it", hint=f"run 'mlx add {target.posix}' to track it"
            )


def _want(wanted: Wanted, root: Root) -> None:
    label = root.path or root.source
    if not root.is_dir:
        wanted.files.setdefault(root.digest, label)
    elif root.digest not in wanted.trees:
        wanted.trees[root.digest] = label
        wanted.unexpanded[root.digest] = label
        wanted.tree_files[root.digest] = root.files


def target_paths(repo: Repository, targets: list[str] | None, cwd: Path | None = None) -> list[RepoPath]:
    """The paths `targets` name; none, which means everything, when one of them is the repository's
    root (`mlx push .` at the top, as `mlx status .`)."""
    if any(is_repository_root(repo.root, text, cwd) for text in targets or []):
        return []
    return [target_path(repo, text, cwd) for text in targets or []]


def target_path(repo: Repository, text: str, cwd: Path | None = None) -> RepoPath:
    """The path a target names; `data.mlx` (the pointer file) stands for `data`. One at or through a
    symbolic link is refused as every command refuses it (check_target)."""
    path = RepoPath.from_user(repo.root, text, cwd)
    check_target(repo, path)
    return RepoPath(path.posix[: -len(SUFFIX)]) if path.posix.endswith(SUFFIX) and path.posix != SUFFIX else path

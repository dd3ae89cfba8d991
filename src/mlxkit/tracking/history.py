"""The part of git's history a command covers (`--all-branches`, `--all-tags`, `--all-commits`,
`--rev REV`), and the pointer files and lockfiles committed in it, read straight from git's object
database.

One `git rev-list --objects` lists every object reachable from the scope's commits once, however
many commits share it, so a scope of 10^3 commits costs one process, not one per commit.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import MlxError, UsageError

LOCKFILE = "mlx.lock"
POINTER_SUFFIX = ".mlx"


class HistoryUnreadable(MlxError):
    exit_code = 12


@dataclass(frozen=True)
class Scope:
    """Which commits, besides the workspace, a command takes into account."""

    all_branches: bool = False
    all_tags: bool = False
    all_commits: bool = False
    revs: tuple[str, ...] = ()  # commits the user names (a branch, a tag, a sha), each on its own

    @property
    def is_workspace_only(self) -> bool:
        return not (self.all_branches or self.all_tags or self.all_commits or self.revs)

    def describe(self) -> str:
        flags = [flag for flag, on in (("--all-branches", self.all_branches), ("--all-tags", self.all_tags),
                                       ("--all-commits", self.all_commits)) if on]  # fmt: skip
        flags += [f"--rev {rev}" for rev in self.revs[:_NAMED_REVS]]
        if len(self.revs) > _NAMED_REVS:  # the pre-push hook may name 10^4 commits
            flags.append(f"and {len(self.revs) - _NAMED_REVS} more commits")
        return " ".join(flags) or "the workspace"


_NAMED_REVS = 3  # how many of the named commits a message names


WORKSPACE = Scope()


def _git(git_root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        return subprocess.run(["git", *args], cwd=git_root, input=stdin, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) else exc
        raise HistoryUnreadable(f"cannot read git's history, so nothing was done: {detail}") from exc


def _revisions(git_root: Path, scope: Scope) -> list[str]:
    """The commits `git rev-list` starts from: the named ones, and, but for --all-commits (which
    walks from every ref), the tips of the scope's branches and tags, and HEAD."""
    head, *found = _commits(git_root, ["HEAD", *scope.revs])
    named = []
    for rev, commit in zip(scope.revs, found, strict=True):
        if commit is None:
            raise UsageError(f"'{rev}' names no commit", hint="name a branch, a tag or a commit: 'git log --oneline' lists them")
        named.append(commit)
    if scope.all_commits:
        return named
    commits = {*named, *([head] if head else [])}
    refs = [name for name, on in (("refs/heads", scope.all_branches), ("refs/tags", scope.all_tags)) if on]
    if refs:
        listing = _git(git_root, "for-each-ref", "--format=%(objectname) %(*objectname)", *refs).decode()
        # an annotated tag peels to its commit (the second field); a branch or a lightweight tag is one
        commits.update(fields[-1] for fields in (line.split() for line in listing.splitlines()) if fields)
    return sorted(commits)


def _commits(git_root: Path, names: list[str]) -> list[str | None]:
    """The commit each name gives (None: none, as HEAD in a repository without commits), from one
    `git cat-file --batch-check`, so that a name is never read as an option."""
    broken = [name for name in names if "\n" in name]  # it would shift every answer after it
    if broken:
        raise UsageError(f"{broken[0]!r} names no commit")
    asked = "".join(f"{name}^{{commit}}\n" for name in names).encode("utf-8", "surrogateescape")
    answers = _git(git_root, "cat-file", "--batch-check=%(objectname) %(objecttype)", stdin=asked)
    fields = [answer.split() for answer in answers.decode("utf-8", "surrogateescape").splitlines()]
    return [found[0] if found[1:] == ["commit"] else None for found in fields]


def history_blobs(git_root: Path, repo_root: Path, scope: Scope) -> list[tuple[str, str, str]]:
    """(blob id, path relative to `repo_root`, where it was found) for every pointer file and
    mlx.lock committed in the scope, each distinct blob once."""
    revisions = _revisions(git_root, scope)
    if not revisions and not scope.all_commits:
        return []
    # the commits go on stdin: there may be more than a command line holds
    walk = "--all" if scope.all_commits else "--no-walk"
    listing = _git(git_root, "rev-list", "--objects", walk, "--stdin", stdin="".join(f"{rev}\n" for rev in revisions).encode())
    prefix = repo_root.resolve().relative_to(git_root.resolve()).as_posix()
    prefix = "" if prefix == "." else f"{prefix}/"
    seen: set[str] = set()
    blobs = []
    where = scope.describe()
    for line in listing.decode("utf-8", "surrogateescape").splitlines():
        blob, _space, path = line.partition(" ")
        if not path.startswith(prefix) or blob in seen:
            continue
        name = path.rsplit("/", 1)[-1]
        if name != LOCKFILE and not (name.endswith(POINTER_SUFFIX) and name != POINTER_SUFFIX):
            continue
        seen.add(blob)
        inside = path[len(prefix):]
        blobs.append((blob, inside, f"{inside} (in {where})"))
    return blobs

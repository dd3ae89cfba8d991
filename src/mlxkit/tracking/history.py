"""The part of git's history a command covers (`--all-branches`, `--all-tags`, `--all-commits`,
`--rev REV`), and the pointer files and lockfiles committed in it, read straight from git's object
database.

Every path of every commit in scope is read: a blob is a pointer wherever one of its paths says so,
however git first met it (a monorepo's other project, a copy named `archive/data-v1.yaml`). One
`git rev-list` lists the scope's root trees, and one `git diff-tree --stdin` compares each distinct
tree with the one before it (the first with the empty tree): every (path, blob) of every tree shows
up once, when it appears, and identical subtrees are skipped, so a scope of 10^3 commits costs two
processes and about as much work as `git log --raw`.
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
    stash: bool = False  # every stash entry (--all-commits includes them): gc keeps them by default
    remote_branches: bool = False  # with all_branches, the remote-tracking ones too (gc: keep what others pushed)
    # gc's --allow-single-branch: the user vouches that a clone fetching only some branches sees
    # every branch whose data matters (check_whole_history)
    single_branch_ok: bool = False

    @property
    def spans_branches(self) -> bool:
        """Whether the scope means every branch, tag or commit: what a partial clone cannot see."""
        return self.all_branches or self.all_tags or self.all_commits

    @property
    def is_workspace_only(self) -> bool:
        return not (self.all_branches or self.all_tags or self.all_commits or self.revs or self.stash)

    def describe(self) -> str:
        flags = [flag for flag, on in (("--all-branches", self.all_branches), ("--all-tags", self.all_tags),
                                       ("--all-commits", self.all_commits)) if on]  # fmt: skip
        flags += [f"--rev {rev}" for rev in self.revs[:_NAMED_REVS]]
        if len(self.revs) > _NAMED_REVS:  # the pre-push hook may name 10^4 commits
            flags.append(f"and {len(self.revs) - _NAMED_REVS} more commits")
        return " ".join(flags) or ("the stash" if self.stash else "the workspace")


_NAMED_REVS = 3  # how many of the named commits a message names


WORKSPACE = Scope()


def _git(git_root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        return subprocess.run(["git", *args], cwd=git_root, input=stdin, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) else exc
        raise HistoryUnreadable(f"cannot read git's history, so nothing was done: {detail}") from exc


def check_whole_history(git_root: Path, scope: Scope, action: str) -> None:
    """Refuse, before `action` (gc deleting what `scope`'s history does not reference), a clone that cannot see all of it: a
    shallow clone (`git clone --depth`, CI's default) lacks the older commits, and one that fetches
    only some branches of a remote (`git clone --single-branch`) lacks the others. What they
    reference would be taken for garbage (UsageError, exit 2)."""
    if not scope.spans_branches:
        return
    if _git(git_root, "rev-parse", "--is-shallow-repository").strip() == b"true":
        raise UsageError(
            f"this clone is shallow: {action} what the commits it lacks reference",
            hint="fetch the whole history first: 'git fetch --unshallow'",
        )
    if scope.single_branch_ok:
        return
    for remote in _partial_remotes(git_root):
        raise UsageError(
            f"this clone fetches only some branches of its git remote '{remote}': {action} what the other branches reference",
            hint=f"fetch every branch first: git config remote.{remote}.fetch '+refs/heads/*:refs/remotes/{remote}/*' && "
            f"git fetch {remote}; or pass --allow-single-branch if the remote has no other branch",
        )


def _partial_remotes(git_root: Path) -> list[str]:
    """The git remotes whose fetch refspecs leave some branches out (`--single-branch` writes
    `+refs/heads/main:refs/remotes/origin/main`; a full clone `+refs/heads/*:...`)."""
    listing = subprocess.run(
        ["git", "config", "--get-regexp", r"^remote\..*\.fetch$"], cwd=git_root, capture_output=True, check=False
    ).stdout.decode("utf-8", "surrogateescape")  # exit 1: no remote fetches anything
    refspecs: dict[str, list[str]] = {}
    for line in listing.splitlines():
        key, _space, refspec = line.partition(" ")
        refspecs.setdefault(key[len("remote.") : -len(".fetch")], []).append(refspec.strip())
    return sorted(remote for remote, specs in refspecs.items() if not _fetches_every_branch(specs))


def _fetches_every_branch(refspecs: list[str]) -> bool:
    sources = [spec.removeprefix("+").partition(":")[0] for spec in refspecs]
    return any(source in ("refs/heads/*", "refs/*") for source in sources) and not any(s.startswith("^") for s in sources)


def _revisions(git_root: Path, scope: Scope) -> list[str]:
    """The commits `git rev-list` starts from: the named ones and every stash entry, and, but for
    --all-commits (which walks from every ref), the tips of the scope's branches and tags, and HEAD."""
    if not (scope.revs or scope.all_branches or scope.all_tags or scope.all_commits):  # the stash alone (plain gc)
        return sorted(_saved_commits(_stash(git_root)))
    head, *found = _commits(git_root, ["HEAD", *scope.revs])
    named = []
    for rev, commit in zip(scope.revs, found, strict=True):
        if commit is None:
            raise UsageError(f"'{rev}' names no commit", hint="name a branch, a tag or a commit: 'git log --oneline' lists them")
        named.append(commit)
    stashed = _stash(git_root) if scope.all_commits or scope.stash else []
    if scope.all_commits:  # the walk reaches each entry's index and untracked-files commits
        return named + [entry[0] for entry in stashed]
    commits = {*named, *_saved_commits(stashed)}
    if head and (scope.all_branches or scope.all_tags or scope.revs):
        commits.add(head)
    refs = [name for name, on in (("refs/heads", scope.all_branches), ("refs/remotes", scope.all_branches and scope.remote_branches),
                                  ("refs/tags", scope.all_tags)) if on]  # fmt: skip
    if refs:
        listing = _git(git_root, "for-each-ref", "--format=%(objectname) %(*objectname)", *refs).decode()
        # an annotated tag peels to its commit (the second field); a branch or a lightweight tag is one
        commits.update(fields[-1] for fields in (line.split() for line in listing.splitlines()) if fields)
    return sorted(commits)


def _stash(git_root: Path) -> list[list[str]]:
    """Every stash entry (stash@{0}, stash@{1}, ...: the reflog of refs/stash, which `--all` does not
    read), each as its commit and that commit's parents."""
    listing = _git(git_root, "log", "-g", "--no-show-signature", "--format=%H %P", "--ignore-missing", "refs/stash", "--")
    return [line.split() for line in listing.decode().splitlines() if line]


def _saved_commits(stashed: list[list[str]]) -> set[str]:
    """Each stash entry's work-tree commit, index commit and untracked-files commit; not the commit
    it was made on, which is history like any other."""
    return {commit for entry in stashed for commit in entry[:1] + entry[2:]}


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
    mlx.lock committed in the scope, each distinct (blob, path) once."""
    revisions = _revisions(git_root, scope)
    if not revisions and not scope.all_commits:
        return []
    trees = _root_trees(git_root, revisions, scope.all_commits)
    empty = _EMPTY_TREES.get(len(trees[0]), "") if trees else ""
    pairs = [f"{before} {after}\n" for before, after in zip([empty, *trees], trees, strict=False)]
    # the pathspecs only narrow git's output; the names are checked below (a prefix may hold '*')
    listing = _git(git_root, "diff-tree", "-r", "-z", "--no-renames", "--stdin", "--", f"*{POINTER_SUFFIX}", LOCKFILE,
                   f"*/{LOCKFILE}", stdin="".join(pairs).encode())  # fmt: skip
    prefix = repo_root.resolve().relative_to(git_root.resolve()).as_posix()
    prefix = "" if prefix == "." else f"{prefix}/"
    seen: set[tuple[str, str]] = set()
    blobs = []
    where = scope.describe()
    fields = listing.split(b"\0")
    for info, raw_path in zip(fields[::2], fields[1::2], strict=False):
        # ':<mode> <mode> <blob> <blob> <status>', after the header line of each pair of trees
        meta = info.rpartition(b"\n")[2].decode().split()
        path = raw_path.decode("utf-8", "surrogateescape")
        if len(meta) != 5 or not meta[1].startswith("100") or not path.startswith(prefix):
            continue  # a deletion, a symbolic link or a submodule, or another project's file
        name = path.rsplit("/", 1)[-1]
        if name != LOCKFILE and not (name.endswith(POINTER_SUFFIX) and name != POINTER_SUFFIX):
            continue
        if (meta[3], path) in seen:
            continue
        seen.add((meta[3], path))
        inside = path[len(prefix):]
        blobs.append((meta[3], inside, f"{inside} (in {where})"))
    return blobs


# git's empty tree, by the length of an object id (sha1 and sha256 repositories)
_EMPTY_TREES = {40: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", 64: "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"}


def _root_trees(git_root: Path, revisions: list[str], all_commits: bool) -> list[str]:
    """The distinct root trees of the scope's commits, in `git rev-list`'s order (neighbours are
    mostly parent and child, so their diff is small)."""
    walk = "--all" if all_commits else "--no-walk"
    # the commits go on stdin: there may be more than a command line holds
    listing = _git(git_root, "rev-list", "--format=%T", walk, "--stdin", stdin="".join(f"{rev}\n" for rev in revisions).encode())
    trees = (line for line in listing.decode().splitlines() if line and not line.startswith("commit "))
    return list(dict.fromkeys(trees))

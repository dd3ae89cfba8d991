"""Reading files as they are at a git revision, without checking it out (gitpython, imported lazily)."""

from __future__ import annotations

from pathlib import Path

from mlxkit.errors import GitRequiredError, UsageError


def read_at(git_root: Path, rev: str, path_in_repo: str) -> bytes | None:
    """The bytes of `path_in_repo` (relative to `git_root`) at `rev`, or None if it is not there."""
    if rev.startswith("-"):
        raise UsageError(f"'{rev}' is not a revision")
    try:
        import git
    except ImportError:  # pragma: no cover - a dependency
        raise GitRequiredError("reading at a revision (gitpython is not installed)") from None
    try:
        repo = git.Repo(git_root)
        commit = repo.commit(rev)
    except (git.BadName, ValueError, git.GitCommandError):
        raise UsageError(f"unknown revision '{rev}'") from None
    except git.InvalidGitRepositoryError:
        raise GitRequiredError("reading at a revision") from None
    try:
        blob = commit.tree / path_in_repo
    except KeyError:
        return None
    return blob.data_stream.read()


def head_revision(git_root: Path) -> tuple[str | None, bool | None]:
    """The commit checked out and whether tracked files differ from it (None, None without commits)."""
    import subprocess

    head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=git_root, capture_output=True, text=True)
    if head.returncode != 0:
        return None, None
    changes = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=git_root, capture_output=True, text=True
    )
    return head.stdout.strip(), bool(changes.stdout.strip()) if changes.returncode == 0 else None

"""Reading files as they are at git revisions, without checking them out.

One `git cat-file --batch` process answers every question a command asks (`REV^{commit}` to resolve
a name, `COMMIT:PATH` for a file's bytes), so reading metrics at 100 commits costs one process and
a few hundred pipe round trips, not one process per file. gitpython's object reads are this same
batch process; calling it directly spares its import (~0.1 s) and its tree walks in Python.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlxkit.errors import GitRequiredError, MlxError, UsageError


class GitUnreadable(MlxError):
    exit_code = 12


class GitFiles:
    """Blobs and commits of one git repository; `prefix` is where the mlx repository sits inside it."""

    def __init__(self, git_root: Path, repo_root: Path) -> None:
        self.git_root = git_root
        inside = repo_root.resolve().relative_to(git_root.resolve()).as_posix()
        self.prefix = "" if inside == "." else f"{inside}/"
        self._process: subprocess.Popen[bytes] | None = None
        self._commits: dict[str, str] = {}

    def __enter__(self) -> GitFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()  # type: ignore[union-attr]
            self._process.wait()
            self._process = None

    def commit(self, rev: str) -> str:
        """The commit id `rev` names (a branch, tag, id, or an expression such as HEAD~2)."""
        if rev not in self._commits:
            if rev.startswith("-") or not rev.strip() or any(c in rev for c in "\n\r\0"):
                raise UsageError(f"'{rev}' is not a revision")
            found = self._ask(f"{rev}^{{commit}}")
            if found is None:
                raise UsageError(f"unknown revision '{rev}'", hint="name a branch, a tag or a commit ('git log' lists them)")
            self._commits[rev] = found[0]
        return self._commits[rev]

    def blob(self, commit: str, path: str) -> tuple[str, bytes] | None:
        """(blob id, bytes) of `path` (relative to the mlx repository) at `commit`, or None if absent."""
        if any(c in path for c in "\n\r\0"):
            return None  # a name git's batch protocol cannot carry cannot be one mlx wrote
        found = self._ask(f"{commit}:{self.prefix}{path}")
        if found is None or found[1] != "blob":
            return None
        return found[0], found[2]

    def read(self, commit: str, path: str) -> bytes | None:
        found = self.blob(commit, path)
        return None if found is None else found[1]

    def files(self, commit: str, suffix: str = "") -> list[str]:
        """Paths (relative to the mlx repository) of the files at `commit` whose names end with `suffix`."""
        out = self._run("ls-tree", "-r", "-z", "--name-only", "--full-tree", commit, "--", self.prefix or ".")
        paths = [name.decode("utf-8", "surrogateescape") for name in out.split(b"\0") if name]
        return [path[len(self.prefix):] for path in paths if path.startswith(self.prefix) and path.endswith(suffix)]

    def log(self, *revs: str, limit: int | None = None) -> list[str]:
        """Commit ids reachable from any of `revs`, each once, newest first (one `git rev-list`)."""
        if not revs:
            return []
        args = ["rev-list", *([f"--max-count={limit}"] if limit else []), *dict.fromkeys(self.commit(rev) for rev in revs)]
        return self._run(*args).decode().split()

    def refs(self, *kinds: str) -> list[tuple[str, str]]:
        """(short name, commit id) of every ref under refs/heads and/or refs/tags (`kinds`)."""
        listing = self._run("for-each-ref", "--format=%(refname:short) %(objectname) %(*objectname)", *(f"refs/{kind}" for kind in kinds))
        refs = []
        for line in listing.decode("utf-8", "surrogateescape").splitlines():
            name, *ids = line.split()
            refs.append((name, ids[-1]))  # an annotated tag peels to its commit (the last field)
        return refs

    def _ask(self, spec: str) -> tuple[str, str, bytes] | None:
        process = self._batch()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
            process.stdin.flush()
            header = process.stdout.readline().rstrip(b"\n")
            if header.endswith((b" missing", b" ambiguous")) or not header:
                return None
            oid, kind, size_text = header.decode().split()
            size = int(size_text)
            data = process.stdout.read(size + 1)[:-1]
        except (OSError, ValueError) as exc:  # ValueError: a header that is not "<oid> <type> <size>"
            raise GitUnreadable(f"cannot read git's objects: {exc}") from exc
        if len(data) != size:
            raise GitUnreadable("cannot read git's objects: 'git cat-file' stopped")
        return oid, kind, data

    def _batch(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            try:
                self._process = subprocess.Popen(
                    ["git", "cat-file", "--batch"], cwd=self.git_root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
                )
            except OSError as exc:
                raise GitRequiredError("reading at a revision", hint=f"git could not be started: {exc}") from None
        return self._process

    def _run(self, *args: str) -> bytes:
        try:
            return subprocess.run(["git", *args], cwd=self.git_root, capture_output=True, check=True).stdout
        except subprocess.CalledProcessError as exc:
            raise GitUnreadable(f"git {args[0]} failed: {exc.stderr.decode(errors='replace').strip()}") from None
        except OSError as exc:
            raise GitRequiredError("reading at a revision", hint=f"git could not be started: {exc}") from None


def read_at(git_root: Path, rev: str, path_in_repo: str) -> bytes | None:
    """The bytes of `path_in_repo` (relative to `git_root`) at `rev`, or None if it is not there."""
    with GitFiles(git_root, git_root) as files:
        return files.read(files.commit(rev), path_in_repo)


def head_revision(git_root: Path) -> tuple[str | None, bool | None]:
    """The commit checked out and whether tracked files differ from it (None, None without commits)."""
    head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=git_root, capture_output=True, text=True)
    if head.returncode != 0:
        return None, None
    changes = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=git_root, capture_output=True, text=True
    )
    return head.stdout.strip(), bool(changes.stdout.strip()) if changes.returncode == 0 else None

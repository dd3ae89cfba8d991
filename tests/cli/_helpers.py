"""Independent re-statements of the formats (docs/formats.md), to check what mlx writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from blake3 import blake3


def b3(data: bytes | str) -> str:
    """The digest string mlx uses for `data`."""
    return "blake3:" + blake3(data.encode() if isinstance(data, str) else data).hexdigest()


def tree_bytes(files: dict[str, bytes | str], executable: frozenset[str] = frozenset()) -> bytes:
    """The canonical tree object for a directory holding `files` (relative path -> content)."""
    entries = []
    for path in sorted(files):
        data = files[path].encode() if isinstance(files[path], str) else files[path]
        entry: dict[str, object] = {"hash": b3(data), "path": path, "size": len(data)}
        if path in executable:
            entry["x"] = True
        entries.append(entry)
    return json.dumps({"entries": entries, "format": 1}, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_writable(path: Path) -> None:
    os.chmod(path, mode_of(path) | 0o200)


def git(cwd: Path, *args: str) -> str:
    import subprocess

    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def is_git_ignored(repo_path: Path, relpath: str) -> bool:
    import subprocess

    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", "--", relpath], cwd=repo_path, check=False)
    assert proc.returncode in (0, 1), proc
    return proc.returncode == 0

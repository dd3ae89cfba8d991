"""`mlx install`: git hooks that keep data beside the commits, and the merge driver for mlx.lock.

Each hook gets one block between `# >>> mlx >>>` and `# <<< mlx <<<`, placed right after the
shebang of a hook the user already has (so that a final `exit 0` of theirs cannot skip it), or in a
new `#!/bin/sh` script. The block runs in a subshell: it sets no variable of the user's script (pre-push
uses `mlx_refs` and unsets it). pre-push reads the pushed refs git passes on stdin, pushes the data of
every commit they send, and hands the same lines on to the user's code after it.
Installing again replaces the block in place; uninstalling removes only the block, byte for byte, and
deletes the file only when nothing but `#!/bin/sh` is left. A hook mlx cannot edit safely (a symbolic
link, a file git does not run because it is not executable, a script for another interpreter) is left
alone with a warning. docs/hooks.md tells what each hook does and why.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlxkit.errors import GitRequiredError, MlxError
from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.confine import check_no_symlinks
from mlxkit.repo.repository import Repository

START, END = "# >>> mlx >>>", "# <<< mlx <<<"
SHEBANG = "#!/bin/sh\n"
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash"})
DRIVER = "mlx-lock"
DRIVER_CONFIG = {f"merge.{DRIVER}.name": "mlx.lock per-stage merge", f"merge.{DRIVER}.driver": "mlx merge-driver %O %A %B %P"}
ATTRIBUTES, ATTRIBUTE_LINE = ".gitattributes", f"mlx.lock merge={DRIVER}"

_PROLOGUE = """\
  command -v mlx >/dev/null 2>&1 || { echo "warning: mlx {hook} hook: 'mlx' is not on PATH, skipped" >&2; exit 0; }
  cd {directory} 2>/dev/null || { echo "warning: mlx {hook} hook: the mlx repository is not in this checkout, skipped" >&2; exit 0; }
  unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
"""
_BODIES = {
    "post-checkout": """\
  mlx -q checkout </dev/null || echo "warning: mlx post-checkout hook: 'mlx checkout' failed, so the data may not match this branch" >&2
""",
    "pre-commit": """\
  code=0
  mlx -q status --exit-code </dev/null >/dev/null || code=$?
  if [ "$code" = 1 ] && [ "$(git config --bool mlx.strictPreCommit 2>/dev/null)" = true ]; then
    echo "error: mlx: tracked data or mlx.lock is out of date (see 'mlx status'); commit stopped by mlx.strictPreCommit" >&2
    exit 1
  elif [ "$code" = 1 ]; then
    echo "warning: mlx: tracked data or mlx.lock is out of date (see 'mlx status'); committing anyway" >&2
  elif [ "$code" != 0 ]; then
    echo "warning: mlx pre-commit hook: 'mlx status' failed; committing anyway" >&2
  fi
""",
    "pre-push": """\
  if ! mlx remote default </dev/null >/dev/null 2>&1; then
    echo "warning: mlx pre-push hook: no default remote, so no data was pushed (mlx remote add --default NAME URL)" >&2
    exit 0
  fi
  git_remote=$1
  # every pushed commit, one a line, into 'mlx push --rev -' (a first push may send 10^5 commits:
  # more than a command line holds)
  while read -r local_ref local_sha remote_ref remote_sha; do
    case "$local_sha" in *[!0]*) ;; *) continue ;; esac  # all zeros: a ref being deleted
    echo "$local_sha"
    # and every commit the push sends with it: those that neither a ref of the git remote (as this
    # clone knows them) nor the remote's current value of the ref already hold
    known=
    case "$remote_sha" in *[!0]*) git cat-file -e "$remote_sha^{commit}" 2>/dev/null && known=$remote_sha ;; esac
    git rev-list "$local_sha" --not --remotes="$git_remote" ${known:+"$known"} 2>/dev/null
  done | mlx push --rev - && exit 0
  echo "error: mlx pre-push hook: 'mlx push' failed, so git does not push either ('git push --no-verify' skips the hook)" >&2
  exit 1
""",
}
_GUARDS = {"post-checkout": '  [ "$3" = 1 ] || exit 0  # a branch checkout, not \'git checkout -- FILE\'\n'}
HOOKS = tuple(_BODIES)


@dataclass(frozen=True)
class HookChange:
    hook: str  # 'pre-push'
    path: str  # the hook's file, relative to the work tree when inside it
    action: str  # created, added (to a hook of yours), updated, unchanged, skipped; removed, deleted, absent


@dataclass(frozen=True)
class InstallResult:
    uninstall: bool
    root: str  # the mlx repository the hooks run mlx in
    hooks_dir: str
    hooks: list[HookChange]
    merge_driver: str  # registered, unchanged; removed, absent (in the repository's git config)
    attributes: str  # created, appended, unchanged; removed, deleted, absent (.gitattributes beside mlx.lock)
    to_commit: list[str]
    warnings: list[str]


def install(repository: Repository, *, uninstall: bool = False) -> InstallResult:
    """Install (or remove) the hooks, the merge driver and its .gitattributes line."""
    repository.require_git("mlx install")
    top = Path(_git(repository.root, "rev-parse", "--show-toplevel")).resolve()
    hooks_dir = Path(_git(repository.root, "rev-parse", "--path-format=absolute", "--git-path", "hooks")).resolve()
    directory = "./" + repository.root.resolve().relative_to(top).as_posix()
    warnings: list[str] = []
    changes = [_change_hook(hooks_dir / name, name, directory, top, uninstall, warnings) for name in HOOKS]
    driver = _change_driver(repository.root, uninstall)
    attributes = _change_attributes(repository.root, uninstall)
    to_commit = [ATTRIBUTES] if attributes not in ("unchanged", "absent") else []
    return InstallResult(uninstall, str(repository.root), str(hooks_dir), changes, driver, attributes, to_commit, warnings)


# pre-push reads the refs git passes on stdin (`<local ref> <local sha> <remote ref> <remote sha>` lines), then
# gives them, unchanged, to the user's commands after the block: stdin becomes a here-document of the same lines.
_READ_REFS = "mlx_refs=$(cat)\n"
_PASS_REFS = """\
if [ -n "$mlx_refs" ]; then exec <<mlx_refs_end
$mlx_refs
mlx_refs_end
else exec </dev/null; fi
unset mlx_refs
"""


def hook_block(hook: str, directory: str) -> str:
    """The block for `hook`, running mlx in `directory` (relative to the work tree's top, where git runs hooks)."""
    prologue = _GUARDS.get(hook, "") + _PROLOGUE.replace("{hook}", hook).replace("{directory}", shlex.quote(directory))
    if hook == "pre-push":
        body = f"{_READ_REFS}(\n{prologue}{_BODIES[hook]}) <<mlx_refs_end || exit 1\n$mlx_refs\nmlx_refs_end\n{_PASS_REFS}"
    else:
        body = f"(\n{prologue}{_BODIES[hook]}) || exit 1\n"
    return f"{START}\n# 'mlx install' wrote this block; 'mlx install --uninstall' removes it (docs/hooks.md).\n{body}{END}\n"


def with_block(text: str | None, block: str) -> str:
    """`text` (None: no hook yet) with `block` in place of mlx's blocks, else right after the shebang."""
    if text is None:
        return SHEBANG + block
    lines, at = _without_blocks(text)
    if at is None:
        at = 1 if lines and lines[0].startswith("#!") else 0
        if at and not lines[0].endswith("\n"):
            lines[0] += "\n"
    return "".join(lines[:at]) + block + "".join(lines[at:])


def without_block(text: str) -> str | None:
    """`text` without mlx's blocks; None when nothing but mlx's own shebang is left."""
    rest = "".join(_without_blocks(text)[0])
    return None if rest.strip() in ("", SHEBANG.strip()) else rest


def _without_blocks(text: str) -> tuple[list[str], int | None]:
    """The lines outside mlx's blocks, and where the first block was (ValueError: a block left open)."""
    kept: list[str] = []
    first, inside = None, False
    for line in re.findall(r"[^\n]*\n|[^\n]+\Z", text):
        marker = line.rstrip("\r\n")
        if not inside and marker == START:
            first, inside = len(kept) if first is None else first, True
        elif inside:
            inside = marker != END
        else:
            kept.append(line)
    if inside:
        raise ValueError(f"has a '{START}' line without its '{END}'")
    return kept, first


def _change_hook(path: Path, hook: str, directory: str, top: Path, uninstall: bool, warnings: list[str]) -> HookChange:
    shown = os.path.relpath(path, top) if path.is_relative_to(top) else str(path)
    try:
        text, mode = _read_hook(path, check_runnable=not uninstall)
        if uninstall:
            changed = None if text is None else without_block(text)
        else:
            changed = with_block(text, hook_block(hook, directory))
    except ValueError as exc:
        warnings.append(f"'{shown}' {exc}: mlx leaves it alone (see docs/hooks.md)")
        return HookChange(hook, shown, "skipped")
    if uninstall:
        action = "absent" if text is None or changed == text else ("deleted" if changed is None else "removed")
    else:
        action = "created" if text is None else "unchanged" if changed == text else "updated" if START in text else "added"
    if action in ("absent", "unchanged"):
        return HookChange(hook, shown, action)
    if changed is None:
        path.unlink()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, changed.encode("utf-8", "surrogateescape"), mode=mode)
    return HookChange(hook, shown, action)


def _read_hook(path: Path, *, check_runnable: bool) -> tuple[str | None, int]:
    """The hook's text (None when there is none) and mode; ValueError when mlx must not edit it."""
    if path.is_symlink():
        raise ValueError("is a symbolic link")
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None, 0o755
    mode = path.stat().st_mode & 0o7777
    if check_runnable and START not in text:
        if not mode & 0o100:
            raise ValueError("is not executable, so git does not run it")
        if not _is_shell(text):
            raise ValueError(f"is not a shell script ('{text.splitlines()[0]}')")
    return text, mode


def _is_shell(text: str) -> bool:
    """A script without a shebang runs under /bin/sh (git retries it so); otherwise name a POSIX-like shell."""
    if not text.startswith("#!"):
        return True
    words = text[2:].split("\n", 1)[0].split()
    if words and os.path.basename(words[0]) == "env":
        words = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
    return bool(words) and os.path.basename(words[0]) in SHELLS


def _change_driver(root: Path, uninstall: bool) -> str:
    current = {key: _git(root, "config", "--local", "--get", key, check=False) for key in DRIVER_CONFIG}
    if uninstall:
        if not any(current.values()):
            return "absent"
        _git(root, "config", "--local", "--remove-section", f"merge.{DRIVER}")
        return "removed"
    if current == DRIVER_CONFIG:
        return "unchanged"
    for key, value in DRIVER_CONFIG.items():
        _git(root, "config", "--local", key, value)
    return "registered"


def _change_attributes(root: Path, uninstall: bool) -> str:
    check_no_symlinks(root, ATTRIBUTES, include_last=True)
    path = root / ATTRIBUTES
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        text, mode = None, 0o644
    lines = re.findall(r"[^\n]*\n|[^\n]+\Z", text or "")
    ours = [line for line in lines if line.strip() == ATTRIBUTE_LINE]
    if uninstall:
        if not ours:
            return "absent"
        rest = "".join(line for line in lines if line not in ours)
        if not rest.strip():
            path.unlink()
            return "deleted"
        new, action = rest, "removed"
    elif ours:
        return "unchanged"
    else:
        separator = "\n" if text and not text.endswith("\n") else ""
        new, action = f"{text or ''}{separator}{ATTRIBUTE_LINE}\n", "created" if text is None else "appended"
    write_atomic(path, new.encode("utf-8", "surrogateescape"), mode=mode)
    return action


def _git(cwd: Path, *args: str, check: bool = True) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GitRequiredError("mlx install", hint=f"git could not be started: {exc}") from None
    if check and proc.returncode != 0:
        raise MlxError(f"git {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout.strip() if proc.returncode == 0 else ""

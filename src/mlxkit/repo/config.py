"""Configuration: `.mlx/config.yaml` (committed) overlaid by `.mlx/config.local.yaml` (not committed).

Keys are dotted: `section.option` (`cache.type`), and `remotes.NAME.OPTION` for named remotes
(`remotes.origin.url`; a remote's name may itself hold dots, its option never does). Every file is
validated against the `config-1` schema. What a committed file could abuse is accepted only in
config.local.yaml, which git does not see: `cache.dir` (it would move the cache out of `.mlx/`) and
a remote's credentials. The two files merge key by key, remotes included.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlxkit.errors import InvalidFileError, UsageError
from mlxkit.formats.schema import conforms, load_schema, validate
from mlxkit.formats.yamlio import YamlDocument, dump_yaml, load_yaml
from mlxkit.fs.atomic import write_atomic
from mlxkit.fs.links import DEFAULT_LINK_TYPES
from mlxkit.repo.root import CONFIG_FILE, LOCAL_CONFIG_FILE
from mlxkit.store.remotes import DEFAULT_TIMEOUT

LOCAL_ONLY = frozenset({"cache.dir"})
SECRET_OPTIONS = frozenset({"access_key_id", "secret_access_key", "session_token"})
MASK = "***"
REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
REMOTE_NAME_RULE = "letters, digits, '_', '.' and '-', at most 64, starting with a letter or digit"
# A committed url may name a plain path, file:// or s3:// only: any other fsspec protocol would make a
# teammate's mlx talk to whatever the commit chose (a url in config.local.yaml was typed on this machine).
COMMITTABLE_PROTOCOLS = frozenset({"", "file", "s3"})
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
DEFAULTS: dict[str, Any] = {
    "core.fsync": "batch",
    "core.jobs": None,
    "core.remote": None,
    "cache.type": list(DEFAULT_LINK_TYPES),
    "cache.dir": None,
    "remote.pack_threshold": 1024 * 1024,
    "remote.pack_size": 64 * 1024 * 1024,
    "remote.jobs": None,
    "remote.timeout": DEFAULT_TIMEOUT,
}


def known_keys() -> dict[str, dict[str, Any]]:
    """Every `section.option` key and its schema, from the config schema itself (remotes aside)."""
    keys = {}
    for section, body in load_schema("config-1")["properties"].items():
        for name, schema in body.get("properties", {}).items():
            keys[f"{section}.{name}"] = schema
    return keys


def remote_options() -> dict[str, dict[str, Any]]:
    """Each option a named remote takes (`url`, `region`, ...) and its schema."""
    (body,) = load_schema("config-1")["properties"]["remotes"]["patternProperties"].values()
    return dict(body["properties"])


def split_key(key: str) -> tuple[str, ...]:
    """`remotes.my.remote.url` -> ('remotes', 'my.remote', 'url'); `cache.type` -> ('cache', 'type')."""
    if key.startswith("remotes."):
        name, dot, option = key.removeprefix("remotes.").rpartition(".")
        if dot and name:
            return ("remotes", name, option)
    return tuple(key.split(".", 1))


def is_secret(key: str) -> bool:
    """A credential: never in config.yaml, and shown as MASK wherever values are printed."""
    path = split_key(key)
    return len(path) == 3 and path[0] == "remotes" and path[2] in SECRET_OPTIONS


def is_local_only(key: str) -> bool:
    return key in LOCAL_ONLY or is_secret(key)


def check_remote_name(name: str) -> None:
    if not REMOTE_NAME.fullmatch(name):
        raise UsageError(f"invalid remote name '{name}'", hint=f"a remote name is {REMOTE_NAME_RULE}")


def url_protocol(url: str) -> str:
    """The fsspec protocol of `url` as fsspec would read it; '' for a plain path. A chained url
    (`simplecache::s3://...`) gives its whole chain, so that it is never taken for a plain path."""
    if "://" in url or "::" in url:
        return url.partition("://")[0]
    return "data" if url.startswith("data:") else ""


def mask_url(url: str) -> str:
    """`url` with the password of its user part (`sftp://user:pw@host/...`) replaced by '***', for
    output: every message and hint that shows a remote's url shows this."""
    if _URL_SCHEME.match(url) is None:
        return url
    try:
        netloc = urlsplit(url).netloc
    except ValueError:  # an unparsable authority ('[' without ']'): show none of it
        return _URL_SCHEME.match(url).group(0) + MASK  # type: ignore[union-attr]
    user, at, _host = netloc.rpartition("@")
    name, colon, password = user.partition(":")
    if not at or not colon:
        return url
    start = url.index(netloc) + len(name) + 1  # the netloc follows the scheme's '//'
    return url[:start] + MASK + url[start + len(password) :]


def url_in_hint(url: str) -> str:
    """`url` as a command in a hint shows it: itself, or `URL` when it holds a password (a masked
    one, run as printed, would store '***' as the password)."""
    return url if mask_url(url) == url else "URL"


def committed_url_problem(url: str) -> str | None:
    """Why `url` may not come from config.yaml, or None when it may."""
    protocol = url_protocol(url)
    if protocol in COMMITTABLE_PROTOCOLS:
        return None
    return (
        f"the protocol '{protocol}' is accepted only in .mlx/{LOCAL_CONFIG_FILE}: "
        "a committed remote may use a path, file:// or s3://"
    )


@dataclass
class Config:
    shared: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)
    mlx_dir: Path | None = None  # where the files were read from (relative remote paths start at its parent)

    def get(self, key: str) -> Any:
        path = split_key(key)
        for layer in (self.local, self.shared):
            value = _lookup(layer, path)
            if value is not None:
                return value
        return DEFAULTS.get(key)

    def items(self) -> list[tuple[str, Any, str]]:
        """(key, value, where) for every key set in a file, local ones last. Secrets are included
        (is_secret says which): whatever prints them masks them."""
        rows = [(".".join(path), value, CONFIG_FILE) for path, value in _leaves(self.shared)]
        rows += [(".".join(path), value, LOCAL_CONFIG_FILE) for path, value in _leaves(self.local)]
        return rows

    @property
    def link_types(self) -> tuple[str, ...]:
        return tuple(self.get("cache.type"))


def read_config(mlx_dir: Path) -> Config:
    return Config(_read_layer(mlx_dir, CONFIG_FILE), _read_layer(mlx_dir, LOCAL_CONFIG_FILE), mlx_dir)


def read_layer(mlx_dir: Path, *, local: bool) -> dict[str, Any]:
    """One file's content (validated), to change and hand to write_layer."""
    return copy.deepcopy(_read_layer(mlx_dir, LOCAL_CONFIG_FILE if local else CONFIG_FILE))


def write_layer(mlx_dir: Path, data: dict[str, Any], *, local: bool) -> None:
    """Replace one file with `data`, which must be valid (callers check what they add)."""
    name = LOCAL_CONFIG_FILE if local else CONFIG_FILE
    validate(data, "config-1", f".mlx/{name}")
    _write(mlx_dir / name, data)


def _write(path: Path, data: dict[str, Any]) -> None:
    """Keep what people wrote: only the keys whose values change are edited in the file's text, so
    its comments, order and layout stay (a file a text edit cannot change is written whole)."""
    from mlxkit.formats.yamltext import edit_mapping  # writers only: ~1 ms that readers need not pay

    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        text = ""
    edited = edit_mapping(text, data, f".mlx/{path.name}")
    if edited is None:
        edited = dump_yaml(data) if data else ""
    write_atomic(path, edited.encode("utf-8"))


def _read_layer(mlx_dir: Path, name: str) -> dict[str, Any]:
    path = mlx_dir / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    source = f".mlx/{name}"
    document = load_yaml(raw, source)
    if document.data is None:
        return {}
    _check_remote_names(document)
    if not _known_valid(mlx_dir, raw):
        if not conforms(document.data, "config-1"):  # the quick check first: a fresh clone's first
            validate(document, "config-1")  # command need not import jsonschema (65 ms) to pass it
        _remember_valid(mlx_dir, raw)
    if name == CONFIG_FILE:
        for where, _ in _leaves(document.data):
            key = ".".join(where)
            if is_local_only(key):
                raise _committed_local_only(document, where, key)
    else:
        local_only = [where for where, _ in _leaves(document.data) if is_local_only(".".join(where))]
        if local_only and _is_tracked_by_git(path):  # a git call only for a file that sets such keys
            raise _committed_local_only(document, local_only[0], ".".join(local_only[0]), tracked=True)
    dir_value = _lookup(document.data, ("cache", "dir"))
    if dir_value is not None and not Path(dir_value).is_absolute():
        raise InvalidFileError(source, "'cache.dir' must be an absolute path", line=document.line_of(("cache", "dir")))
    return document.data


def _check_remote_names(document: YamlDocument) -> None:
    """Before the schema: jsonschema cannot match a pattern against a key YAML read as a number or a
    boolean (`1:`, `on:`), and its own message for a bad name is a raw regex."""
    remotes = document.data.get("remotes") if isinstance(document.data, dict) else None
    for name in remotes if isinstance(remotes, dict) else ():
        if not isinstance(name, str) or not REMOTE_NAME.fullmatch(name):
            quote = "" if isinstance(name, str) else " (quote it: YAML reads it as a number or a boolean)"
            raise InvalidFileError(
                document.source, f"at 'remotes': invalid remote name '{name}'",
                line=document.line_of(("remotes", str(name))), hint=f"a remote name is {REMOTE_NAME_RULE}{quote}",
            )  # fmt: skip


def _is_tracked_by_git(path: Path) -> bool:
    """Whether git's index holds `path` (force-added, committed): then a commit chose its content.
    Remembered in this process while git's index file keeps its stat (a command opens the
    repository more than once: `mlx status` for the data and for the pipeline)."""
    stamp = _index_stamp(path.parent)
    known = _TRACKED.get(str(path))
    if stamp is not None and known is not None and known[0] == stamp:
        return known[1]
    tracked = _ask_git_whether_tracked(path)
    if stamp is not None:
        _TRACKED[str(path)] = (stamp, tracked)
    return tracked


_TRACKED: dict[str, tuple[tuple[int, ...], bool]] = {}


def _index_stamp(directory: Path) -> tuple[int, ...] | None:
    """The stat of the git index that holds `directory`'s files, or None when it cannot be told
    without asking git (GIT_DIR or GIT_INDEX_FILE set, a `.git` file that names no git directory)."""
    if "GIT_DIR" in os.environ or "GIT_INDEX_FILE" in os.environ:
        return None
    for parent in (directory, *directory.parents):
        dot_git = parent / ".git"
        if dot_git.is_dir():
            index = dot_git / "index"
            break
        if dot_git.is_file():  # a worktree or a submodule: 'gitdir: <its own git directory>'
            text = dot_git.read_text(errors="replace").strip()
            if not text.startswith("gitdir: "):
                return None
            index = parent / text.removeprefix("gitdir: ") / "index"
            break
    else:
        return ()  # not in git: nothing can have committed it, until a .git appears (then not ())
    try:
        st = os.stat(index)
    except FileNotFoundError:
        return (0,)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _ask_git_whether_tracked(path: Path) -> bool:
    import subprocess

    try:
        found = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", path.name],
            cwd=path.parent, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except OSError:  # no git: nothing can have committed it
        return False
    return found.returncode == 0


def _committed_local_only(document: YamlDocument, where: tuple[str, ...], key: str, *, tracked: bool = False) -> InvalidFileError:
    rule = f"'{key}' may only be set in .mlx/{LOCAL_CONFIG_FILE}"
    if tracked:
        rule = f"'{key}' may only be set in .mlx/{LOCAL_CONFIG_FILE} while git does not track that file"
        untrack = f"stop tracking it: 'git rm --cached .mlx/{LOCAL_CONFIG_FILE}', commit, and check its content"
    if is_secret(key):
        _, remote, option = where
        return InvalidFileError(
            document.source,
            f"{rule}: a committed file must not hold credentials",
            line=document.line_of(where),
            hint=untrack if tracked else f"delete the line (and revoke the credential if it was ever committed), then run "
            f"'mlx remote modify --local {remote} {option} VALUE'",
        )
    return InvalidFileError(
        document.source,
        f"{rule}: a committed file must not move the cache",
        line=document.line_of(where),
        hint=untrack if tracked else f"run 'mlx config --local {key} PATH' instead",
    )


# jsonschema costs ~90 ms to import, half of a command's start-up budget; a config file whose exact
# bytes passed validation once is not validated again (the digests are kept in .mlx/tmp/).
_VALID_FILE = "config-valid"


def _validity_key(raw: bytes) -> str:
    from blake3 import blake3

    from mlxkit import __version__

    return blake3(__version__.encode() + b"\0" + raw).hexdigest()


def _known_valid(mlx_dir: Path, raw: bytes) -> bool:
    try:
        known = (mlx_dir / "tmp" / _VALID_FILE).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return False
    return _validity_key(raw) in known


def _remember_valid(mlx_dir: Path, raw: bytes) -> None:
    path = mlx_dir / "tmp" / _VALID_FILE
    try:
        known = path.read_text(encoding="ascii").split()[-7:]
    except (OSError, UnicodeDecodeError):
        known = []
    try:
        write_atomic(path, "\n".join([*known, _validity_key(raw)]).encode() + b"\n", durable=False)
    except OSError:  # a read-only checkout: validate every time
        pass


def parse_value(key: str, text: str) -> Any:
    """Turn the text typed after `mlx config KEY` into the value the schema expects."""
    schema = check_key(key)
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "array" in kinds:
        return [part.strip() for part in text.split(",") if part.strip()]
    if "integer" in kinds:
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"'{key}' takes a whole number, not '{text}'") from None
    return text


def set_value(mlx_dir: Path, key: str, value: Any, *, local: bool) -> None:
    """Set (or with value None, unset) `key` in one config file, validating the result first."""
    check_key(key)
    name = LOCAL_CONFIG_FILE if local else CONFIG_FILE
    if is_local_only(key) and not local:
        raise UsageError(f"'{key}' may only be set in .mlx/{LOCAL_CONFIG_FILE}", hint=f"run 'mlx config --local {key} ...'")
    path = split_key(key)
    problem = committed_url_problem(value) if path[-1] == "url" and isinstance(value, str) and not local else None
    if problem:
        raise UsageError(problem, hint=f"run 'mlx config --local {key} {url_in_hint(value)}'")
    data = copy.deepcopy(_read_layer(mlx_dir, name))
    if value is None:
        _unset(data, path)
    else:
        _set(data, path, value)
    try:
        validate(data, "config-1", f".mlx/{name}")
    except InvalidFileError as exc:  # the file was valid when read: the new value is what is wrong
        problem = re.sub(r"^at '[^']*': ", "", exc.problem)
        raise UsageError(f"invalid value for '{key}': {problem}") from None
    if key == "cache.dir" and value is not None and not Path(value).is_absolute():
        raise UsageError("'cache.dir' must be an absolute path")
    _write(mlx_dir / name, data)


def check_key(key: str) -> dict[str, Any]:
    """The schema of `key`; a UsageError with the closest known key when there is none."""
    path = split_key(key)
    options = remote_options()
    if len(path) == 3 and path[0] == "remotes":
        check_remote_name(path[1])
        if path[2] in options:
            return options[path[2]]
    keys = known_keys()
    if key in keys:
        return keys[key]
    import difflib

    parts = key.split(".")
    name = ".".join(parts[1:-1]) if len(parts) >= 3 else "NAME"  # `remote.origin.url` meant `remotes.origin.url`
    candidates = [*keys, *(f"remotes.{name}.{option}" for option in options)]
    close = difflib.get_close_matches(key, candidates, n=1)
    known = f"{', '.join(sorted(keys))}, remotes.NAME.OPTION (OPTION: {', '.join(options)})"
    raise UsageError(f"unknown config key '{key}'", hint=f"did you mean '{close[0]}'?" if close else f"known keys: {known}")


def _lookup(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)  # type: ignore[assignment]
    return data


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value


def _unset(data: dict[str, Any], path: tuple[str, ...]) -> None:
    """Remove the key, and every mapping that it leaves empty."""
    parent = _lookup(data, path[:-1]) if len(path) > 1 else data
    if not isinstance(parent, dict) or path[-1] not in parent:
        return
    del parent[path[-1]]
    if not parent and len(path) > 1:
        _unset(data, path[:-1])


def _leaves(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, value) of every value that is not a mapping, in file order."""
    rows: list[tuple[tuple[str, ...], Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _leaves(value, (*prefix, key))
        else:
            rows.append(((*prefix, key), value))
    return rows

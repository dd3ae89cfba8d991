"""Named remotes: what `remotes.NAME` in the configuration means, and the edits `mlx remote` makes.

A remote is defined by `remotes.NAME` in config.yaml, config.local.yaml or both (merged key by key,
the local file winning), so a committed url can be completed by credentials kept on this machine.
The default remote is `core.remote`. Each remote has a local folder `.mlx/remotes/NAME/` (copies of
its indexes); removing or renaming a remote removes or renames that folder with it.

A url is stored as typed. A plain relative path (`../nas/remote`) and `~` are resolved when the
remote is used, against the repository's root and the user's home, so that every clone and every
working directory mean the same folder.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlxkit.errors import InvalidFileError, UsageError
from mlxkit.repo.config import (
    CONFIG_FILE,
    LOCAL_CONFIG_FILE,
    MASK,
    SECRET_OPTIONS,
    Config,
    check_remote_name,
    committed_url_problem,
    mask_url,
    url_in_hint,
    parse_value,
    read_config,
    read_layer,
    remote_options,
    set_value,
    url_protocol,
    write_layer,
)

REMOTES_DIR = "remotes"
# config option -> s3fs storage option; endpoint and region go to botocore's client.
_S3_OPTIONS = {"profile": "profile", "access_key_id": "key", "secret_access_key": "secret", "session_token": "token"}
_S3_CLIENT_OPTIONS = {"endpoint_url": "endpoint_url", "region": "region_name"}
SECRET_STORAGE_OPTIONS = frozenset(_S3_OPTIONS[option] for option in SECRET_OPTIONS)


@dataclass(frozen=True)
class RemoteSettings:
    name: str
    url: str  # local paths made absolute (see the module's docstring)
    options: dict[str, Any] = field(repr=False)  # fsspec storage options; may hold credentials
    jobs: int | None
    pack_threshold: int
    pack_size: int
    url_is_local_config: bool
    defined_in: tuple[str, ...] = ()  # config.yaml and/or config.local.yaml
    is_default: bool = False

    @property
    def public_url(self) -> str:
        """The url with a password in it (`sftp://user:pw@host/...`) replaced by '***', for output."""
        return mask_url(self.url)

    def public_options(self) -> dict[str, Any]:
        """The storage options with every credential replaced by '***', for output."""
        return {key: MASK if key in SECRET_STORAGE_OPTIONS else value for key, value in self.options.items()}


@dataclass(frozen=True)
class AddRemoteResult:
    name: str
    url: str
    file: str
    replaced: bool
    default: bool


@dataclass(frozen=True)
class RemoveRemoteResult:
    name: str
    files: list[str]
    was_default: bool


def remote_names(config: Config) -> list[str]:
    return sorted({*config.shared.get("remotes", {}), *config.local.get("remotes", {})})


def catalog_dir(mlx_dir: Path, name: str) -> Path:
    """`.mlx/remotes/NAME/`: the local copies of a remote's indexes (`name` is a checked remote name)."""
    return mlx_dir / REMOTES_DIR / name


def resolve_remote(config: Config, name: str | None) -> RemoteSettings:
    """The settings of remote `name` (None: the default remote), ready to open."""
    if name is None:
        name = default_remote_name(config)
    settings = _settings(config, name)
    problem = None if settings.url_is_local_config else committed_url_problem(settings.url)
    if problem:
        raise InvalidFileError(
            f".mlx/{CONFIG_FILE}", f"remote '{name}': {problem}",
            hint=f"if you trust this url, run 'mlx remote modify --local {name} url {url_in_hint(settings.url)}'",
        )  # fmt: skip
    return settings


def default_remote_name(config: Config) -> str:
    """core.remote, checked: it is set and names a remote that exists."""
    name: str | None = config.get("core.remote")
    names = remote_names(config)
    if name is None:
        if names:
            raise UsageError("no default remote", hint=f"run 'mlx remote default NAME' (remotes: {', '.join(names)})")
        raise UsageError("no default remote", hint="run 'mlx remote add --default NAME URL'")
    if name not in names:
        where = LOCAL_CONFIG_FILE if config.local.get("core", {}).get("remote") else CONFIG_FILE
        raise UsageError(
            f"no such remote '{name}' (core.remote in .mlx/{where} names it as the default)",
            hint=f"run 'mlx remote add {name} URL', or choose another default with 'mlx remote default NAME'",
        )
    return name


def list_remotes(config: Config) -> list[RemoteSettings]:
    """Every remote, sorted by name (whatever its protocol: listing one opens nothing)."""
    return [_settings(config, name) for name in remote_names(config)]


def _settings(config: Config, name: str) -> RemoteSettings:
    if name not in remote_names(config):
        raise _no_such_remote(name, config)
    layers = ((CONFIG_FILE, config.shared), (LOCAL_CONFIG_FILE, config.local))
    defined_in = tuple(file for file, layer in layers if name in layer.get("remotes", {}))
    url = config.get(f"remotes.{name}.url")
    if url is None:
        raise InvalidFileError(
            f".mlx/{defined_in[0]}", f"remote '{name}' has no url",
            hint=f"run 'mlx remote modify {name} url URL', or 'mlx remote remove {name}'",
        )  # fmt: skip
    root = config.mlx_dir.parent if config.mlx_dir is not None else None
    return RemoteSettings(
        name=name,
        url=_absolute(url, root),
        options=_storage_options(config, name, url_protocol(url)),
        jobs=config.get(f"remotes.{name}.jobs") or config.get("remote.jobs"),
        pack_threshold=config.get("remote.pack_threshold"),
        pack_size=config.get("remote.pack_size"),
        url_is_local_config=_option(config.local, name, "url") is not None,
        defined_in=defined_in,
        is_default=config.get("core.remote") == name,
    )


def _storage_options(config: Config, name: str, protocol: str) -> dict[str, Any]:
    """s3fs's options (s3:// and s3a://); other protocols get none (their credentials come from their
    environment)."""
    if protocol not in ("s3", "s3a"):
        return {}
    options: dict[str, Any] = {}
    for option, target in _S3_OPTIONS.items():
        if (value := config.get(f"remotes.{name}.{option}")) is not None:
            options[target] = value
    client = {target: value for option, target in _S3_CLIENT_OPTIONS.items() if (value := config.get(f"remotes.{name}.{option}"))}
    if client:
        options["client_kwargs"] = client
    # botocore's read timeout is the wait for the next bytes of an answer (aiohttp's sock_read,
    # started once a request's body is sent), not for a whole transfer: a large part on a slow link
    # never hits it, a server that stopped answering does
    timeout = config.get(f"remotes.{name}.timeout") or config.get("remote.timeout")
    options["config_kwargs"] = {"connect_timeout": timeout, "read_timeout": timeout}
    return options


def _absolute(url: str, root: Path | None) -> str:
    protocol = url_protocol(url)
    if protocol not in ("", "file", "local"):
        return url
    prefix = f"{protocol}://" if protocol else ""
    path = url.removeprefix(prefix)
    if prefix and path.startswith("localhost/"):  # file://localhost/tmp/x is /tmp/x (RFC 8089)
        path = path.removeprefix("localhost")
    path = os.path.expanduser(path)
    if root is not None and not os.path.isabs(path):
        path = os.path.normpath(os.path.join(root, path))
    return prefix + path


def _no_such_remote(name: str, config: Config) -> UsageError:
    names = remote_names(config)
    hint = f"known remotes: {', '.join(names)}" if names else f"run 'mlx remote add {name} URL' to add it"
    return UsageError(f"no such remote '{name}'", hint=hint)


# -- edits (the caller holds the repository lock) --------------------------------------------------


def add_remote(mlx_dir: Path, name: str, url: str, *, local: bool, default: bool, force: bool) -> AddRemoteResult:
    """Define a remote in config.yaml (config.local.yaml with `local`); `force` replaces its entry
    in that file (keys the other file sets for it still apply)."""
    check_remote_name(name)
    if not url:
        raise UsageError("a remote needs a url")
    exists = name in remote_names(read_config(mlx_dir))
    if exists and not force:
        raise UsageError(
            f"remote '{name}' already exists", hint=f"pass --force to replace it, or run 'mlx remote modify {name} url URL'"
        )
    problem = None if local else committed_url_problem(url)
    if problem:
        raise UsageError(problem, hint=f"run 'mlx remote add --local {name} {url_in_hint(url)}' to keep it to this machine")
    data = read_layer(mlx_dir, local=local)
    if default:
        data.setdefault("core", {})["remote"] = name
    data.setdefault("remotes", {})[name] = {"url": url}
    write_layer(mlx_dir, data, local=local)
    return AddRemoteResult(name, url, f".mlx/{LOCAL_CONFIG_FILE if local else CONFIG_FILE}", exists, default)


def remove_remote(mlx_dir: Path, name: str) -> RemoveRemoteResult:
    """Remove the remote from both files (and core.remote where it names it), then its local folder."""
    config = read_config(mlx_dir)
    if name not in remote_names(config):
        raise _no_such_remote(name, config)
    files, was_default = [], False
    for local in (False, True):
        data = read_layer(mlx_dir, local=local)
        remotes, core = data.get("remotes", {}), data.get("core", {})
        defined, default_here = name in remotes, core.get("remote") == name
        if not (defined or default_here):
            continue
        remotes.pop(name, None)
        if default_here:
            del core["remote"]
        for section in ("remotes", "core"):
            if section in data and not data[section]:
                del data[section]
        write_layer(mlx_dir, data, local=local)
        if defined:
            files.append(f".mlx/{LOCAL_CONFIG_FILE if local else CONFIG_FILE}")
        was_default = was_default or default_here
    folder = catalog_dir(mlx_dir, name)
    if folder.exists():
        shutil.rmtree(folder)
    return RemoveRemoteResult(name, files, was_default)


def rename_remote(mlx_dir: Path, old: str, new: str) -> None:
    """Rename in both files, keeping each file's order, with core.remote and the local folder."""
    config = read_config(mlx_dir)
    if old not in remote_names(config):
        raise _no_such_remote(old, config)
    check_remote_name(new)
    if new == old:
        return
    if new in remote_names(config):
        raise UsageError(f"remote '{new}' already exists", hint=f"run 'mlx remote remove {new}' first")
    for local in (False, True):
        data = read_layer(mlx_dir, local=local)
        remotes, core = data.get("remotes", {}), data.get("core", {})
        if old not in remotes and core.get("remote") != old:
            continue
        if old in remotes:
            data["remotes"] = {new if key == old else key: value for key, value in remotes.items()}
        if core.get("remote") == old:
            core["remote"] = new
        write_layer(mlx_dir, data, local=local)
    source, target = catalog_dir(mlx_dir, old), catalog_dir(mlx_dir, new)
    if source.exists():
        if target.exists():  # left behind by a remote of that name removed by hand
            shutil.rmtree(target)
        source.rename(target)


def modify_remote(mlx_dir: Path, name: str, key: str, value: str | None, *, local: bool, unset: bool = False) -> None:
    """Set (or unset) one option of an existing remote from its text form (`jobs` takes a number)."""
    config = read_config(mlx_dir)
    if name not in remote_names(config):
        raise _no_such_remote(name, config)
    options = remote_options()
    if key not in options:
        import difflib

        close = difflib.get_close_matches(key, list(options), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known options: {', '.join(options)}"
        raise UsageError(f"unknown remote option '{key}'", hint=hint)
    full = f"remotes.{name}.{key}"
    if unset:
        here, other = (config.local, config.shared) if local else (config.shared, config.local)
        if key == "url" and _option(here, name, "url") is not None and _option(other, name, "url") is None:
            raise UsageError(f"remote '{name}' needs a url", hint=f"run 'mlx remote remove {name}' to remove the remote")
        set_value(mlx_dir, full, None, local=local)
        return
    if value is None:
        raise UsageError(f"'mlx remote modify {name} {key}' needs a value, or --unset")
    if key in SECRET_OPTIONS and not local:
        raise UsageError(
            f"'{key}' is a credential: it may only be set in .mlx/{LOCAL_CONFIG_FILE}",
            hint=f"run 'mlx remote modify --local {name} {key} ...'",
        )
    problem = None if local or key != "url" else committed_url_problem(value)
    if problem:
        raise UsageError(problem, hint=f"run 'mlx remote modify --local {name} url {url_in_hint(value)}' to keep it to this machine")
    set_value(mlx_dir, full, parse_value(full, value), local=local)


def set_default(mlx_dir: Path, name: str, *, local: bool) -> None:
    """Make `name` the default remote (core.remote); in config.local.yaml it overrides config.yaml's."""
    config = read_config(mlx_dir)
    if name not in remote_names(config):
        raise _no_such_remote(name, config)
    set_value(mlx_dir, "core.remote", name, local=local)


def _option(layer: dict[str, Any], name: str, option: str) -> Any:
    remote = layer.get("remotes", {}).get(name)
    return remote.get(option) if isinstance(remote, dict) else None

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples


def config(
    key: Annotated[Optional[str], typer.Argument(help="A dotted key, such as cache.type.")] = None,  # noqa: UP007
    value: Annotated[Optional[str], typer.Argument(help="The value to set (lists: comma-separated).")] = None,  # noqa: UP007
    local: Annotated[bool, typer.Option("--local", help="Write .mlx/config.local.yaml (not committed).")] = False,
    unset: Annotated[bool, typer.Option("--unset", help="Remove KEY.")] = False,
    list_: Annotated[bool, typer.Option("--list", "-l", help="List every key that is set.")] = False,
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Get, set or list configuration (.mlx/config.yaml, or config.local.yaml with --local)."""
    from mlxkit import api
    from mlxkit.errors import UsageError
    from mlxkit.repo.config import MASK, is_secret, mask_url, split_key

    def shown(key: str, value: object) -> object:
        """Credentials as '***', and a password inside a remote's url too."""
        if is_secret(key) and value is not None:
            return MASK
        return mask_url(value) if split_key(key)[-1:] == ("url",) and isinstance(value, str) else value

    if list_ or key is None:
        rows = [(k, shown(k, v), f) for k, v, f in api.config_list()]
        if json:
            render.emit_json([{"key": k, "value": v, "file": f} for k, v, f in rows])
        else:
            for k, v, f in rows:
                render.line(f"{k}={_text(v)}  ({f})")
        return
    if unset or value is not None:
        if unset and value is not None:
            raise UsageError("--unset takes a key and no value")
        api.config_set(key, None if unset else value, local=local, wait=wait)
        return
    current = shown(key, api.config_get(key))  # credentials are never printed
    if json:
        render.emit_json({"key": key, "value": current})
    else:
        render.line(_text(current))


def _text(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def register(app: typer.Typer) -> None:
    app.command(
        epilog=examples(
            "mlx config cache.type hardlink,copy", "mlx config cache.type", "mlx config --local cache.dir /mnt/shared/mlx-cache",
            "mlx config remotes.origin.url s3://my-bucket/project", "mlx config --list",
        )
    )(config)

"""`mlx remote add|list|remove|modify|default|rename`: the named remotes of .mlx/config.yaml."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples

Name = Annotated[str, typer.Argument(help="The remote's name.", show_default=False, metavar="NAME")]
Local = Annotated[bool, typer.Option("--local", help="Write .mlx/config.local.yaml (not committed).")]

remote_app = typer.Typer(
    help="Name the places 'mlx push' and 'mlx pull' send data to and fetch it from.", no_args_is_help=True
)


@remote_app.command("add", epilog=examples(
    "mlx remote add --default origin s3://my-bucket/project",
    "mlx remote add backup /mnt/nas/mlx-remote",
    "mlx remote add --local scratch gs://my-bucket/scratch",
))  # fmt: skip
def add(
    name: Name,
    url: Annotated[str, typer.Argument(help="A directory, file://, s3:// (other fsspec protocols with --local).", show_default=False, metavar="URL")],
    default: Annotated[bool, typer.Option("--default", "-d", help="Make it the default remote.")] = False,
    local: Local = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace a remote of the same name.")] = False,
    wait: Wait = None,
) -> None:
    """Add a remote. Relative paths are relative to the repository's root."""
    from mlxkit import api

    result = api.remote_add(name, url, default=default, local=local, force=force, wait=wait)
    verb = "replaced" if result.replaced else "added"
    render.line(f"{verb} remote '{result.name}' in {result.file}" + (" (the default)" if result.default else ""))


@remote_app.command("list", epilog=examples("mlx remote list", "mlx remote list --json"))
def list_(json: Json = False) -> None:
    """List the remotes: name, url, the default (*) and the files that define each one."""
    from mlxkit import api

    remotes = api.remote_list()
    if json:
        render.emit_json([
            {"name": r.name, "url": r.public_url, "default": r.is_default, "files": list(r.defined_in), "jobs": r.jobs,
             "options": r.public_options()}
            for r in remotes
        ])  # fmt: skip
        return
    if not remotes:
        render.info("no remotes: add one with 'mlx remote add --default NAME URL'")
        return
    rows = [[r.name, r.public_url, "*" if r.is_default else "", ", ".join(r.defined_in)] for r in remotes]
    render.table(None, ["name", "url", "default", "defined in"], rows)


@remote_app.command("remove", epilog=examples("mlx remote remove backup"))
def remove(name: Name, wait: Wait = None) -> None:
    """Forget a remote (from both config files). Its data on the remote is not touched."""
    from mlxkit import api

    result = api.remote_remove(name, wait=wait)
    render.line(f"removed remote '{result.name}'" + (" (it was the default)" if result.was_default else ""))


@remote_app.command("modify", epilog=examples(
    "mlx remote modify origin endpoint_url http://127.0.0.1:9000",
    "mlx remote modify origin region eu-west-1",
    "mlx remote modify --local origin secret_access_key '...'",
    "mlx remote modify --unset origin profile",
))  # fmt: skip
def modify(
    name: Name,
    key: Annotated[str, typer.Argument(
        help="url, endpoint_url, region, profile, jobs; with --local also access_key_id, secret_access_key, session_token.",
        show_default=False, metavar="KEY",
    )],
    value: Annotated[Optional[str], typer.Argument(help="The value.", show_default=False, metavar="[VALUE]")] = None,  # noqa: UP007
    local: Local = False,
    unset: Annotated[bool, typer.Option("--unset", help="Remove KEY.")] = False,
    wait: Wait = None,
) -> None:
    """Set or remove one option of a remote."""
    from mlxkit import api
    from mlxkit.errors import UsageError

    if unset and value is not None:
        raise UsageError("--unset takes a key and no value")
    api.remote_modify(name, key, value, local=local, unset=unset, wait=wait)


@remote_app.command("default", epilog=examples("mlx remote default", "mlx remote default origin", "mlx remote default --local backup"))
def default(
    name: Annotated[Optional[str], typer.Argument(help="The remote to make the default.", show_default=False, metavar="[NAME]")] = None,  # noqa: UP007
    local: Local = False,
    wait: Wait = None,
) -> None:
    """Print the default remote, or make NAME the default."""
    from mlxkit import api

    chosen = api.remote_default(name, local=local, wait=wait)
    if name is None:
        render.line(chosen)


@remote_app.command("rename", epilog=examples("mlx remote rename origin s3-main"))
def rename(
    old: Annotated[str, typer.Argument(help="The remote's name.", show_default=False, metavar="OLD")],
    new: Annotated[str, typer.Argument(help="Its new name.", show_default=False, metavar="NEW")],
    wait: Wait = None,
) -> None:
    """Rename a remote, in both config files and as the default."""
    from mlxkit import api

    api.remote_rename(old, new, wait=wait)
    render.line(f"renamed remote '{old}' to '{new}'")


def register(app: typer.Typer) -> None:
    app.add_typer(remote_app, name="remote")

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import AllBranches, AllCommits, AllTags, Json, Revs, Wait, examples, history_scope
from mlxkit.errors import UsageError

if TYPE_CHECKING:
    from mlxkit.tracking.gc_cloud import CloudGcResult


def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="List what would be deleted; delete nothing.")] = False,
    all_branches: AllBranches = False,
    all_tags: AllTags = False,
    all_commits: AllCommits = False,
    rev: Revs = None,
    projects: Annotated[
        Optional[list[Path]],  # noqa: UP007
        typer.Option("--projects", "-p", metavar="DIR", help="Also what the project at DIR references, which shares this cache (cache.dir); repeatable."),
    ] = None,
    cloud: Annotated[bool, typer.Option("--cloud", "-c", help="Collect on a remote instead (needs --all-commits).")] = False,
    remote: Annotated[Optional[str], typer.Option("--remote", "-r", help="The remote for --cloud (default: core.remote).")] = None,  # noqa: UP007
    force: Annotated[bool, typer.Option("--force", help="With --cloud: break a remote lock that is over an hour old.")] = False,
    allow_single_branch: Annotated[bool, typer.Option(
        "--allow-single-branch", help="Run in a clone that fetches only some branches of its git remote (git clone --single-branch).",
    )] = False,
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Delete cache objects that no pointer file or lockfile references, in the workspace (and git's index)
    and in the part of history the options name."""
    from mlxkit import api
    from dataclasses import replace

    scope = replace(history_scope(all_branches, all_tags, all_commits, rev), single_branch_ok=allow_single_branch)
    if cloud or remote:
        if projects:
            raise UsageError("--projects is for the local cache, not --cloud", hint="a remote's gc keeps what every commit of this repository references")
        _cloud(api.gc_cloud(remote, scope, dry_run=dry_run, force=force, progress=render.progress(not json)), json=json)
        return
    result = api.gc(dry_run=dry_run, scope=scope, projects=projects or (), wait=wait, progress=render.progress(not json))
    render.warnings(result.warnings)
    if json:
        render.emit_json(result)
        return
    if dry_run:
        for digest in result.removed:
            render.line(f"would remove {digest}")
    verb = "Would remove" if dry_run else "Removed"
    render.line(
        f"{verb} {render.plural(result.removed_objects, 'object')} ({render.size(result.removed_bytes)}); "
        f"kept {result.kept_objects} ({render.size(result.kept_bytes)}) referenced by {render.plural(result.roots, 'root')}."
    )


def _cloud(result: CloudGcResult, *, json: bool) -> None:
    if json:
        render.emit_json(result)
        return
    for digest in result.removed:
        render.line(f"would remove {digest}")
    verb = "Would remove" if result.dry_run else "Removed"
    packs = f", {render.plural(result.packs_deleted, 'pack')} deleted, {result.packs_rewritten} rewritten" if result.packs_deleted else ""
    packs += f", {render.plural(result.temp_files, 'temp file')} of killed pushes" if result.temp_files else ""
    render.line(
        f"{verb} {render.plural(result.removed_objects, 'object')} from '{result.remote}' ({render.size(result.removed_bytes)} freed"
        f"{packs}); kept {result.kept_objects} ({render.size(result.kept_bytes)}) referenced by {render.plural(result.roots, 'root')}."
    )


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx gc --dry-run", "mlx gc", "mlx gc --all-commits   # keep what any commit references", "mlx gc -p ../other-project   # a cache shared through cache.dir", "mlx gc --cloud --all-commits -r origin"))(gc)

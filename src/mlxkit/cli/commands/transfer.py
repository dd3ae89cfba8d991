"""mlx push, mlx fetch, mlx pull: move objects between the cache and a remote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import AllBranches, AllCommits, AllTags, Json, Revs, Wait, examples, history_scope

RunCache = Annotated[bool, typer.Option("--run-cache", help="Also the run cache's entries and the outputs they name.")]

if TYPE_CHECKING:
    from mlxkit.tracking.fetch import FetchResult
    from mlxkit.tracking.push import PushResult

Targets = Annotated[
    Optional[list[str]],  # noqa: UP007
    typer.Argument(help="Tracked paths, pointer files or stage outputs (default: everything).", show_default=False, metavar="[TARGET]..."),
]
Remote = Annotated[Optional[str], typer.Option("--remote", "-r", help="The remote (default: core.remote).")]  # noqa: UP007
Jobs = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, max=256, help="Transfers in parallel (default: per protocol).")]  # noqa: UP007


def push(
    targets: Targets = None, remote: Remote = None, jobs: Jobs = None, all_branches: AllBranches = False,
    all_tags: AllTags = False, all_commits: AllCommits = False, rev: Revs = None, run_cache: RunCache = False, json: Json = False,
) -> None:
    """Send the cached data and models the workspace references to a remote."""
    from mlxkit import api

    result = api.push(
        targets, remote=remote, scope=history_scope(all_branches, all_tags, all_commits, rev), jobs=jobs, run_cache=run_cache,
        progress=render.progress(not json),
    )
    render.warnings(result.warnings)
    if json:
        render.emit_json(result)
    else:
        if run_cache:
            render.info(f"run-cache entries pushed: {result.run_cache_entries}")
        render.line(
            f"{render.plural(result.uploaded, 'object')} pushed to '{result.remote}' ({render.size(result.uploaded_bytes)}"
            f"{', in ' + render.plural(result.packs, 'pack') if result.packs else ''}); {result.present} already there."
        )
    _push_problems(result)


def fetch(
    targets: Targets = None, remote: Remote = None, jobs: Jobs = None, all_branches: AllBranches = False,
    all_tags: AllTags = False, all_commits: AllCommits = False, rev: Revs = None, run_cache: RunCache = False, json: Json = False,
    wait: Wait = None,
) -> None:
    """Bring the data and models the workspace references from a remote into the cache."""
    from mlxkit import api

    result = api.fetch(
        targets, remote=remote, scope=history_scope(all_branches, all_tags, all_commits, rev), jobs=jobs, run_cache=run_cache, wait=wait,
        progress=render.progress(not json),
    )
    if json:
        render.emit_json(result)
    else:
        _fetched_line(result)
    _fetch_problems(result)


def pull(
    targets: Targets = None, remote: Remote = None, jobs: Jobs = None, all_branches: AllBranches = False,
    all_tags: AllTags = False, all_commits: AllCommits = False, rev: Revs = None, run_cache: RunCache = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite files whose content is not in the cache.")] = False,
    json: Json = False, wait: Wait = None,
) -> None:
    """Fetch from a remote, then check out: tracked paths and the stage outputs of mlx.lock."""
    from mlxkit import api

    result = api.pull(
        targets, remote=remote, scope=history_scope(all_branches, all_tags, all_commits, rev), jobs=jobs, run_cache=run_cache, force=force,
        wait=wait, progress=render.progress(not json),
    )
    if json:
        render.emit_json(result)
    else:
        _fetched_line(result.fetch)
        checked_out = [*result.tracked.warnings, *(result.outputs.warnings if result.outputs else [])]
        render.warnings([text for text in dict.fromkeys(checked_out) if text not in result.fetch.warnings])
        placed = result.tracked.placed + (result.outputs.placed if result.outputs else 0)
        for path in [*result.tracked.paths, *(result.outputs.paths if result.outputs else [])]:
            render.line(f"updated   {path}")
        render.line(f"{render.plural(placed, 'file')} placed in the workspace.")
    _fetch_problems(result.fetch)
    if result.missing:
        from mlxkit.tracking.checkout import missing_error

        raise missing_error(result.missing, fetched=True)


def _push_problems(result: PushResult) -> None:
    from mlxkit.errors import IntegrityError

    why = "neither in the cache nor on the remote, so not pushed"
    if not result.corrupt:
        _missing(result.missing, why)
        return
    render.warnings([*result.corrupt, *(f"'{path}': {why}" for path in result.missing)])
    raise IntegrityError(
        f"{render.plural(len(result.corrupt), 'object')} in the cache did not match "
        + ("its hash and was not pushed" if len(result.corrupt) == 1 else "their hash and were not pushed"),
        hint="run 'mlx fsck --repair', then re-add the data with 'mlx add' and push again",
    )


def _fetched_line(result: FetchResult) -> None:
    render.warnings(result.warnings)
    render.line(
        f"{render.plural(result.fetched, 'object')} fetched from '{result.remote}' "
        f"({render.size(result.fetched_bytes)}); {result.present} already in the cache."
    )


def _fetch_problems(result: FetchResult) -> None:
    from mlxkit.errors import IntegrityError

    render.warnings(result.corrupt)
    if result.corrupt:
        one = len(result.corrupt) == 1
        raise IntegrityError(
            f"{render.plural(len(result.corrupt), 'object')} on the remote did not match "
            + ("its hash and was not stored" if one else "their hash and were not stored"),
            hint=(f"run 'mlx fsck --remote {result.remote} --read-data --repair' to remove every damaged object, "
                  "then 'mlx push' from a clone that has them"),
        )
    hint = None
    if result.bad_indexes:  # what they list cannot be found: say so, not only "not on the remote"
        hint = (
            f"'{result.remote}' has {render.plural(result.bad_indexes, 'unreadable index file')}, which may list them: "
            f"run 'mlx fsck --remote {result.remote}'"
        )
    _missing(result.missing, "not on the remote", hint)


def _missing(paths: list[str], why: str, hint: str | None = None) -> None:
    from mlxkit.errors import MissingObjectError

    if not paths:
        return
    render.warnings([f"'{path}': {why}" for path in paths])
    raise MissingObjectError(
        f"{render.plural(len(paths), 'path')} could not be transferred completely",
        hint=hint or "push from a clone whose cache has them ('mlx status --cloud' shows what is where)",
    )


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx push", "mlx push data/raw -r backup", "mlx push --rev v1.0", "mlx push --all-commits -j 16"))(push)
    app.command(epilog=examples("mlx fetch", "mlx fetch models/ -r origin", "mlx fetch --rev main~3", "mlx fetch --all-tags"))(fetch)
    app.command(epilog=examples("mlx pull", "mlx pull models/model.pkl", "mlx pull && mlx repro --frozen"))(pull)

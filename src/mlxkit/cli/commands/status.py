from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Targets, examples

if TYPE_CHECKING:
    from mlxkit.pipeline.status import PipelineReport
    from mlxkit.tracking.cloudstatus import CloudStatusReport
    from mlxkit.tracking.status import StatusReport

SHOWN = 10


def status(
    targets: Targets = None,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when anything is not clean (for CI).")] = False,
    cloud: Annotated[bool, typer.Option("--cloud", "-c", help="Compare the cache with a remote instead of the workspace.")] = False,
    remote: Annotated[Optional[str], typer.Option("--remote", "-r", help="The remote for --cloud (default: core.remote).")] = None,  # noqa: UP007
    json: Json = False,
) -> None:
    """Show tracked paths that are modified, missing or not in the cache, and stages that are out of date."""
    from mlxkit import api

    if cloud or remote:
        _cloud(api.cloud_status(targets, remote=remote), json=json, exit_code=exit_code)
        return
    report = api.status(targets, progress=render.progress(not json))
    pipeline = None if targets else api.pipeline_status(environ=os.environ, missing_ok=True)
    render.warnings(report.warnings)
    clean = report.is_clean and (pipeline is None or pipeline.is_clean)
    if json:
        data = render.as_data(report)
        if pipeline is not None:
            data["pipeline"] = render.as_data(pipeline)
            data["is_clean"] = clean
        render.emit_json(data)
    else:
        if report.tracked or pipeline is None:
            _show_data(report)
        if pipeline is not None:
            _show_pipeline(pipeline)
    if exit_code and not clean:
        raise typer.Exit(1)


def _cloud(report: CloudStatusReport, *, json: bool, exit_code: bool) -> None:
    render.warnings(report.warnings)
    if json:
        render.emit_json(report)
    elif report.is_clean:
        render.line(
            f"Cache and remote '{report.remote}' are in sync ({render.plural(report.objects, 'object')} "
            f"of {render.plural(report.tracked, 'path')})."
        )
    else:
        for entry in report.paths:
            parts = [f"{entry.missing_locally} missing locally"] if entry.missing_locally else []
            parts += [f"{entry.missing_remotely} missing on '{report.remote}'"] if entry.missing_remotely else []
            parts += ["its directory listing is in neither place"] if entry.tree_unknown else []
            render.line(f"{entry.path}: {', '.join(parts)} (of {render.plural(entry.objects, 'object')})")
    if exit_code and not report.is_clean:
        raise typer.Exit(1)


def _show_data(report: StatusReport) -> None:
    if report.is_clean:
        render.line(f"Everything is up to date ({render.plural(report.tracked, 'tracked path')}).")
        return
    for entry in report.paths:
        render.line(f"{', '.join(entry.changes)}: {entry.path}" + (f" ({entry.problem})" if entry.problem else ""))
        for label, files in (("added", entry.added), ("modified", entry.modified), ("deleted", entry.deleted)):
            for name in files[:SHOWN]:
                render.line(f"    {label}: {entry.path}/{name}")
            if len(files) > SHOWN:
                render.line(f"    ... and {len(files) - SHOWN} more {label}")
        if entry.missing_objects:
            render.line(f"    {render.plural(entry.missing_objects, 'object')} not in the cache")


def _show_pipeline(pipeline: PipelineReport) -> None:
    if pipeline.is_clean:
        render.line(f"Pipeline is up to date ({render.plural(len(pipeline.stages), 'stage')}).")
        return
    for check in pipeline.stale:
        render.line(f"stale stage '{check.name}':")
        for reason in check.reasons:
            render.line(f"    {reason}")
    for name in pipeline.unknown_in_lock:
        render.line(f"mlx.lock has an entry for '{name}', which mlx.yaml does not define")


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx status", "mlx status --json | jq .pipeline", "mlx status data/raw --json", "mlx status --exit-code   # in CI", "mlx status --cloud -r origin"))(status)

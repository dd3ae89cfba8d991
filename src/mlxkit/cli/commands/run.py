"""`mlx run` (the terminal loop) and `mlx repro` (the CI loop): one engine, different defaults."""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples
from mlxkit.errors import StageFailedError, UsageError

if TYPE_CHECKING:
    from mlxkit.pipeline.runner import RunOptions, StageOutcome

Stages = Annotated[
    Optional[list[str]],  # noqa: UP007 - typer needs Optional here
    typer.Argument(help="Stages to bring up to date, with what they depend on (default: all).", show_default=False, metavar="[STAGE]..."),
]
Force = Annotated[bool, typer.Option("--force", "-f", help="Run the stages even if they are up to date.")]
Single = Annotated[bool, typer.Option("--single-item", "-s", help="Only the named stages, not what they depend on.")]
Downstream = Annotated[bool, typer.Option("--downstream", help="The named stages and every stage that depends on them.")]
Dry = Annotated[bool, typer.Option("--dry", help="Print what would run and why; change nothing.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Run up to N independent stages at once.")]
KeepGoing = Annotated[bool, typer.Option("--keep-going", "-k", help="After a failure, finish the stages that do not depend on it.")]
NoRunCache = Annotated[bool, typer.Option("--no-run-cache", help="Run stale stages even when their outputs are known.")]


def run(
    stages: Stages = None,
    set_param: Annotated[
        Optional[list[str]],  # noqa: UP007
        typer.Option("--set-param", "-S", metavar="[FILE:]KEY=VALUE", help="Set a param (in params.yaml by default) before running."),
    ] = None,
    force: Force = False,
    single_item: Single = False,
    downstream: Downstream = False,
    dry: Dry = False,
    jobs: Jobs = 1,
    keep_going: KeepGoing = False,
    no_run_cache: NoRunCache = False,
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Run the stages that are out of date, commit their outputs and record them in mlx.lock."""
    from mlxkit.pipeline.runner import RunOptions

    options = RunOptions(
        stages or [], force=force, single=single_item, downstream=downstream, dry=dry, jobs=jobs, keep_going=keep_going,
        run_cache=not no_run_cache,
    )
    _execute("run", options, set_param, json=json, wait=wait, live=sys.stdout.isatty() and not json, timestamps=False)


def repro(
    stages: Stages = None,
    frozen: Annotated[bool, typer.Option("--frozen", help="Run nothing; exit 1 if mlx.lock does not describe the code, data and params.")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Run every stage again; exit 1 if an output differs from mlx.lock.")] = False,
    force: Force = False,
    single_item: Single = False,
    downstream: Downstream = False,
    dry: Dry = False,
    jobs: Jobs = 1,
    keep_going: KeepGoing = False,
    no_run_cache: NoRunCache = False,
    pull: Annotated[bool, typer.Option("--pull", help="First pull from the default remote what the workspace and mlx.lock reference (and the run cache), so that stages whose inputs match are not run again.")] = False,
    json: Json = False,
    wait: Wait = None,
) -> None:
    """Reproduce the pipeline for CI: plain log lines, and checks that the committed lockfile holds."""
    if frozen:
        given = {"--verify": verify, "--force": force, "--single-item": single_item, "--downstream": downstream,
                 "--dry": dry, "--jobs": jobs != 1, "--keep-going": keep_going, "--no-run-cache": no_run_cache,
                 "--pull": pull}  # fmt: skip
        clashing = [name for name, on in given.items() if on]
        if clashing:
            raise UsageError(f"--frozen runs nothing, so {clashing[0]} has no meaning with it")
        _frozen(stages, json)
        return
    from mlxkit.pipeline.runner import RunOptions

    options = RunOptions(
        stages or [], force=force, single=single_item, downstream=downstream, dry=dry, jobs=jobs, keep_going=keep_going,
        run_cache=not no_run_cache, verify=verify,
    )
    if pull and not dry:
        _pull_recorded(json=json, wait=wait)
    _execute("repro", options, None, json=json, wait=wait, live=False, timestamps=not sys.stdout.isatty())


def _pull_recorded(*, json: bool, wait: float | None) -> None:
    """`mlx pull --run-cache` from the default remote, tolerating what is missing there: a stage whose
    outputs are not on the remote simply runs (and one whose tracked inputs are not says so)."""
    from mlxkit import api

    pulled = api.pull(run_cache=True, wait=wait, progress=render.progress(not json), command="mlx repro --pull")
    render.warnings([*pulled.fetch.warnings, *pulled.fetch.corrupt])
    if not json:
        render.info(
            f"pulled {render.plural(pulled.fetch.fetched, 'object')} from '{pulled.fetch.remote}' "
            f"({render.size(pulled.fetch.fetched_bytes)})" + (f"; not there: {', '.join(pulled.missing)}" if pulled.missing else "")
        )


def _execute(
    verb: str, options: RunOptions, assignments: list[str] | None, *, json: bool, wait: float | None, live: bool, timestamps: bool
) -> None:
    from mlxkit import api
    from mlxkit.cli.runview import RunView, describe

    view = RunView(live=live, prefix=options.jobs > 1, timestamps=timestamps, to_stderr=json)
    try:
        report = api.run(options, params=assignments, environ=os.environ, on_event=view, wait=wait, command=_typed(verb))
    finally:
        view.close()
    render.warnings(report.warnings)
    if json:
        render.emit_json(report)
    elif options.dry:
        if not any(o.state != "up to date" for o in report.stages):
            render.line("Everything is up to date.")
    elif not any(o.state in ("ran", "restored", "failed") for o in report.stages):
        render.line(f"Everything is up to date ({render.plural(len(report.stages), 'stage')}).")
    elif report.run_id and not report.failed:
        render.info(f"recorded run {report.run_id}" + ("; next: git add mlx.lock" if report.lock_changed else ""))
    for outcome in report.failed:
        if outcome.tail and not json:
            sys.stderr.write("".join(f"  {line}\n" for line in outcome.tail))
    if report.failed:
        first = report.failed[0]
        raise StageFailedError(describe(first), hint=_failure_hint(report.failed, options.keep_going))
    if options.verify and report.differing:
        for outcome in report.differing:
            for difference in outcome.differences:
                render.line(f"not reproducible: stage '{outcome.name}': {difference}")
        raise typer.Exit(1)


def _typed(verb: str) -> str:
    """The command line as typed, for the run record ('mlx -q run -S train.lr=0.01'); global options
    take no values, so the first word that is not an option is the command."""
    args = sys.argv[1:]
    named = next((arg for arg in args if not arg.startswith("-")), None)
    return shlex.join(["mlx", *args]) if named == verb else f"mlx {verb}"


def _failure_hint(failed: list[StageOutcome], keep_going: bool) -> str:
    others = f"{len(failed) - 1} more stage(s) failed; " if len(failed) > 1 else ""
    return others + ("stages that depend on it did not run" if keep_going else "fix it and run again; completed stages are kept in mlx.lock")


def _frozen(stages: list[str] | None, json: bool) -> None:
    from mlxkit import api

    report = api.pipeline_status(stages, as_committed=True, environ=os.environ)
    if json:
        render.emit_json(report)
    else:
        for check in report.stale:
            render.line(f"stale: '{check.name}': {'; '.join(check.reasons)}")
        for name in report.unknown_in_lock:
            render.line(f"stale: mlx.lock has an entry for '{name}', which mlx.yaml does not define")
        if report.is_clean:
            render.line(f"mlx.lock is up to date ({render.plural(len(report.stages), 'stage')}).")
    if not report.is_clean:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples(
        "mlx run", "mlx run train -S train.lr=0.01", "mlx run --dry", "mlx run -j 2 --keep-going", "mlx run evaluate -s -f",
    ))(run)  # fmt: skip
    app.command(epilog=examples(
        "mlx repro --frozen          # in CI: is mlx.lock up to date?", "mlx repro", "mlx repro --verify          # is the pipeline deterministic?",
    ))(repro)  # fmt: skip

"""`mlx dag`, `mlx stage add|list`, `mlx freeze`, `mlx unfreeze`: look at and edit the stage graph."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, Wait, examples

Paths = Optional[list[str]]  # noqa: UP007 - typer needs Optional here


def dag(
    targets: Annotated[Paths, typer.Argument(help="Show only these stages and what they depend on.", show_default=False, metavar="[STAGE]...")] = None,
    ascii_only: Annotated[bool, typer.Option("--ascii", help="Draw with ASCII characters only.")] = False,
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Print a Mermaid flowchart (for Markdown).")] = False,
    dot: Annotated[bool, typer.Option("--dot", help="Print a Graphviz dot graph.")] = False,
) -> None:
    """Draw the stage graph: what depends on what."""
    from mlxkit import api
    from mlxkit.errors import UsageError

    chosen = [name for name, on in (("ascii", ascii_only), ("mermaid", mermaid), ("dot", dot)) if on]
    if len(chosen) > 1:
        raise UsageError("choose one of --ascii, --mermaid and --dot")
    text = api.dag(targets, style=chosen[0] if chosen else "text")
    render.line(text.rstrip("\n"))


stage_app = typer.Typer(help="Add stages to mlx.yaml, or list them.", no_args_is_help=True)


@stage_app.command("add", epilog=examples(
    "mlx stage add -n prepare -d src/prepare.py -d data/raw -o data/prepared python src/prepare.py",
    "mlx stage add -n train -d data/prepared -p train -o model.joblib -m metrics.json python src/train.py",
))  # fmt: skip
def stage_add(
    command: Annotated[list[str], typer.Argument(help="The command (quote it, or put it after --).", show_default=False, metavar="COMMAND...")],
    name: Annotated[str, typer.Option("--name", "-n", help="The stage's name.", show_default=False)],
    deps: Annotated[Paths, typer.Option("--deps", "-d", help="A file or directory the command reads.", show_default=False)] = None,
    outs: Annotated[Paths, typer.Option("--outs", "-o", help="A file or directory the command writes (cached).", show_default=False)] = None,
    outs_no_cache: Annotated[Paths, typer.Option("--outs-no-cache", "-O", help="An output kept in git (not added to .gitignore).", show_default=False)] = None,
    params: Annotated[Paths, typer.Option("--params", "-p", help="A params key ('train.lr'), or FILE:KEY,KEY.", show_default=False)] = None,
    metrics: Annotated[Paths, typer.Option("--metrics", "-m", help="A metrics file the command writes.", show_default=False)] = None,
    plots: Annotated[Paths, typer.Option("--plots", help="A plots file the command writes.", show_default=False)] = None,
    wdir: Annotated[Optional[str], typer.Option("--wdir", "-w", help="Run the command in this directory.")] = None,  # noqa: UP007
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace a stage of the same name.")] = False,
    wait: Wait = None,
) -> None:
    """Append a stage to mlx.yaml, keeping the file's comments and layout."""
    import shlex

    from mlxkit import api

    cmd = command[0] if len(command) == 1 else shlex.join(command)
    result = api.stage_add(
        name, cmd, deps=deps, outs=outs, outs_no_cache=outs_no_cache, params=params, metrics=metrics, plots=plots,
        wdir=wdir, force=force, wait=wait,
    )
    verb = "replaced" if result.replaced else "added"
    render.line(f"{verb} stage '{result.name}' in mlx.yaml" + (" (created)" if result.created else ""))
    render.info("next: mlx run " + result.name)


@stage_app.command("list", epilog=examples("mlx stage list", "mlx stage list --json"))
def stage_list(json: Json = False) -> None:
    """List the stages in the order they run, with what they read and write."""
    from mlxkit import api

    stages = api.stages()
    if json:
        render.emit_json(stages)
        return
    rows = []
    for stage in stages:
        outs = ", ".join(str(out.path) for out in stage.outs)
        flags = " (frozen)" if stage.frozen else ""
        rows.append([stage.name + flags, stage.desc or "; ".join(stage.cmd), outs])
    render.table(None, ["stage", "description or command", "writes"], rows)


def freeze(
    stage: Annotated[str, typer.Argument(help="The stage (a foreach/matrix template name freezes all its items).", show_default=False)],
    wait: Wait = None,
) -> None:
    """Freeze a stage: 'mlx run' leaves it as it is, even when its inputs change."""
    _set_frozen(stage, True, wait)


def unfreeze(stage: Annotated[str, typer.Argument(help="The stage.", show_default=False)], wait: Wait = None) -> None:
    """Unfreeze a stage, so that 'mlx run' runs it again when it is out of date."""
    _set_frozen(stage, False, wait)


def _set_frozen(stage: str, frozen: bool, wait: float | None) -> None:
    from mlxkit import api

    result = api.freeze(stage, frozen, wait=wait)
    state = "frozen" if frozen else "not frozen"
    render.line(f"stage '{result.name}' is {state}" + ("" if result.changed else " (it already was)"))


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx dag", "mlx dag train", "mlx dag --mermaid > pipeline.md", "mlx dag --dot | dot -Tsvg > dag.svg"))(dag)
    app.add_typer(stage_app, name="stage")
    app.command(epilog=examples("mlx freeze prepare"))(freeze)
    app.command(epilog=examples("mlx unfreeze prepare"))(unfreeze)

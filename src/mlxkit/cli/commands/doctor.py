from __future__ import annotations

import typer

from mlxkit.cli import render
from mlxkit.cli.options import Json, examples


def doctor(json: Json = False) -> None:
    """Show versions, platform, the cache, and which link types the file system supports."""
    from mlxkit import api

    report = api.doctor()
    if json:
        render.emit_json(report)
        return
    rows = [
        ["mlx", report.mlx_version],
        ["python", report.python],
        ["platform", report.platform],
        *[[name, version] for name, version in report.packages.items()],
        ["repository", report.repository or "(not in an mlx repository)"],
        ["git", "yes" if report.git else "no"],
    ]
    if report.cache_dir:
        rows += [
            ["cache", f"{report.cache_dir}: {render.plural(report.cache_objects, 'object')}, {render.size(report.cache_bytes)}"],
            ["link types supported", ", ".join(report.link_types_supported) or "none"],
            ["cache.type", ",".join(report.link_types_configured)],
        ]
    rows += [["problem", problem] for problem in report.problems]
    render.table(None, ["", ""], rows, header=False)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("mlx doctor", "mlx doctor --json"))(doctor)

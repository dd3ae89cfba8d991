"""The command line itself: help with examples, --version, usage errors; mlx doctor."""

from __future__ import annotations

import platform
import sys

import pytest

COMMANDS = [
    "init", "add", "status", "checkout", "remove", "move", "gc", "fsck", "config", "unprotect", "doctor",
    "run", "repro", "dag", "push", "fetch", "pull", "diff", "install",
]  # fmt: skip
GROUPS = ["stage", "remote", "metrics", "params", "plots"]
SUBCOMMANDS = ["stage add", "remote add", "metrics show", "metrics diff", "params diff", "plots show", "plots diff"]


def test_help_lists_every_command_with_a_description(repo, mlx):
    result = mlx("--help")

    assert result.code == 0, result
    listed = [line.split()[1] for line in result.out.splitlines() if line.startswith("│ ") and len(line.split()) > 2]
    for command in COMMANDS + GROUPS:
        assert command in listed, command
    assert "merge-driver" not in listed  # git's, not the user's


@pytest.mark.parametrize("command", COMMANDS + SUBCOMMANDS)
def test_every_command_help_shows_examples(repo, mlx, command):
    result = mlx(*command.split(), "--help")

    assert result.code == 0, result
    lines = [line.strip() for line in result.out.splitlines()]
    assert "Examples" in lines
    examples = lines[lines.index("Examples") + 1 :]
    assert any(line.startswith(f"mlx {command}") or f"&& mlx {command}" in line for line in examples), result.out


def test_short_help_option(repo, mlx):
    assert mlx("status", "-h").out == mlx("status", "--help").out


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(tmp_path, mlx, flag):
    result = mlx(flag, cwd=tmp_path)

    assert (result.code, result.out, result.err) == (0, "mlx 0.1.0\n", "")


def test_unknown_command_is_a_usage_error(repo, mlx):
    result = mlx("frobnicate")

    assert result.code == 2, result
    assert "No such command 'frobnicate'" in result.err
    assert "Traceback" not in result.err


def test_unknown_option_is_a_usage_error(repo, mlx):
    result = mlx("status", "--frobnicate")

    assert result.code == 2, result
    assert "No such option: --frobnicate" in result.err


def test_missing_argument_is_a_usage_error(repo, mlx):
    result = mlx("add")

    assert result.code == 2, result
    assert "Missing argument" in result.err


def test_quiet_silences_reports_but_not_errors(repo, mlx):
    repo.gen({"a.csv": "a\n"})

    added = mlx("-q", "add", "a.csv")
    failed = mlx("-q", "add", "nope")

    assert (added.code, added.out, added.err) == (0, "", "")
    failed.expect_error(2, "'nope' does not exist")


def test_doctor_json_reports_versions_cache_and_link_types(repo, mlx):
    repo.gen({"a.csv": "a\n"})
    assert mlx("add", "a.csv").code == 0

    report = mlx("doctor", "--json").json

    assert report["mlx_version"] == "0.1.0"
    assert report["python"] == platform.python_version() == sys.version.split()[0]
    assert set(report["packages"]) == {"typer", "rich", "pyyaml", "blake3", "pathspec", "jsonschema", "gitpython"}
    assert "not installed" not in report["packages"].values()
    assert report["repository"] == str(repo.path.resolve())
    assert report["cache_dir"] == str(repo.cache.resolve())
    assert (report["cache_objects"], report["cache_bytes"]) == (1, 2)
    assert "copy" in report["link_types_supported"]
    assert "hardlink" in report["link_types_supported"]
    assert set(report["link_types_supported"]) <= {"reflink", "hardlink", "symlink", "copy"}
    assert report["link_types_configured"] == ["reflink", "copy"]
    assert report["git"] is True
    assert repo.temp_files() == []  # the link probes cleaned up after themselves


def test_doctor_text_outside_a_repository(tmp_path, mlx):
    result = mlx("doctor", cwd=tmp_path)

    assert result.code == 0, result
    rows = {line.split("│")[0].strip(): line.split("│")[1].strip() for line in result.out.splitlines() if "│" in line}
    assert rows["mlx"] == "0.1.0"
    assert rows["repository"] == "(not in an mlx repository)"
    assert rows["git"] == "no"
    assert "cache" not in rows


def test_doctor_reports_an_invalid_configuration_instead_of_failing(repo, mlx):
    (repo / ".mlx" / "config.yaml").write_text("cache:\n  type: [bogus]\n")

    result = mlx("doctor", "--json")

    assert result.code == 0, result
    assert result.json["problems"] == [
        "invalid file '.mlx/config.yaml:2': at 'cache.type.0': 'bogus' is not one of 'reflink', 'hardlink', 'symlink', 'copy'"
    ]

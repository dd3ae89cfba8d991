"""The part of git's history a command covers, as messages name it."""

from __future__ import annotations

from mlxkit.tracking.history import WORKSPACE, Scope


def test_a_scope_names_its_options():
    assert WORKSPACE.describe() == "the workspace"
    assert Scope(all_branches=True, revs=("v1",)).describe() == "--all-branches --rev v1"


def test_a_scope_of_many_named_commits_names_three_and_counts_the_rest():
    """The pre-push hook may name 10^4 commits; every message that says where a file was found
    carries this, so it must stay one short line."""
    scope = Scope(revs=tuple(f"{i:040x}" for i in range(10_000)))
    assert scope.describe() == f"--rev {0:040x} --rev {1:040x} --rev {2:040x} and 9997 more commits"

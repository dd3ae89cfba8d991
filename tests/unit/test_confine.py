"""Confinement: a RepoPath is relative, '/'-separated and never names .git/.mlx; no write goes through a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlxkit.errors import UnsafePathError
from mlxkit.fs.confine import RepoPath, check_no_symlinks, unsafe_reason

UNSAFE = {
    "/etc/passwd": "the path is absolute",
    "C:/x": "the path is absolute",
    "c:x": "the path is absolute",
    "..": "the path has a '..' component",
    "../x": "the path has a '..' component",
    "a/../../b": "the path has a '..' component",
    "a/..": "the path has a '..' component",
    "~": "the path starts with '~'",
    "~root/x": "the path starts with '~'",
    "a\\b": "the path contains a backslash",
    "..\\x": "the path contains a backslash",
    "a\x00b": "the path contains a NUL byte",
    "": "the path is empty",
    ".": "the path is empty",
    "./a": "the path has an empty or '.' component",
    "a/./b": "the path has an empty or '.' component",
    "a//b": "the path has an empty or '.' component",
    "a/": "the path has an empty or '.' component",
    "a\udcff": "the path is not valid UTF-8",
}
RESERVED = [
    ".git", ".GIT", ".Git", "a/.git", ".git/hooks/pre-commit", ".git.", ".git ", ".git. . ", ".git::$INDEX_ALLOCATION",
    "git~1", "GIT~1", ".mlx", ".MLX", "d/.Mlx/cache", ".mlx.", "mlx~1",
    ".g\u200cit", "\u200d.git", ".git\ufeff", ".gi\u206at", ".\u202egit",
]


@pytest.mark.parametrize(("text", "reason"), UNSAFE.items())
def test_unsafe_reason_names_why_a_path_is_refused(text, reason):
    assert unsafe_reason(text) == reason


@pytest.mark.parametrize("text", RESERVED)
def test_unsafe_reason_refuses_git_and_mlx_in_every_alias(text):
    reason = unsafe_reason(text)
    assert reason is not None
    assert reason.startswith("the path has the reserved name ")


@pytest.mark.parametrize("text", [*UNSAFE, *RESERVED])
def test_repo_path_parse_raises_unsafe_path_error(text):
    with pytest.raises(UnsafePathError, match="^unsafe path "):
        RepoPath.parse(text)


@pytest.mark.parametrize(
    "text",
    ["a", "data/raw.csv", ".gitignore", ".github/x", "git", "a/b/c", "...", "..a", "a..", "a b", "é/ü", "a~",
     "gitx~1", "ab:c/d", "x/.gitx", "x/git"],
)
def test_repo_path_parse_accepts_ordinary_names(text):
    assert unsafe_reason(text) is None
    assert RepoPath.parse(text).posix == text


def test_repo_path_name_parent_and_join():
    path = RepoPath.parse("data/raw/a.csv")
    assert (path.name, path.parent) == ("a.csv", "data/raw")
    assert RepoPath.parse("top").parent == ""
    assert RepoPath.parse("data").join("raw/a.csv") == path
    with pytest.raises(UnsafePathError):
        RepoPath.parse("data").join("../x")


def test_repo_path_is_within_does_not_match_a_sibling_with_the_same_prefix():
    assert RepoPath.parse("data/a").is_within(RepoPath.parse("data"))
    assert RepoPath.parse("data").is_within(RepoPath.parse("data"))
    assert not RepoPath.parse("data2/a").is_within(RepoPath.parse("data"))


def test_repo_path_from_user_refuses_paths_outside_the_root(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    assert RepoPath.from_user(root, "sub/../a.txt", cwd=root).posix == "a.txt"
    assert RepoPath.from_user(root, "../repo/b", cwd=root / "x").posix == "repo/b"
    with pytest.raises(UnsafePathError, match="is outside the repository"):
        RepoPath.from_user(root, "../elsewhere", cwd=root)
    with pytest.raises(UnsafePathError, match="is outside the repository"):
        RepoPath.from_user(root, "/etc/passwd", cwd=root)


def _assert_refused_or_inside(text: str) -> None:
    root = "/repo/root"
    try:
        path = RepoPath.parse(text)
    except UnsafePathError:
        return
    joined = os.path.normpath(os.path.join(root, path.posix))
    assert joined.startswith(root + "/")
    assert not {".git", ".mlx"} & set(joined.casefold().split("/"))


@settings(deadline=None)  # timings are not what these properties check
@given(st.text(max_size=30))
@example("../x")
@example("a/../../b")
@example("/x")
@example("~/x")
@example("a/\u2024\u2024/b")
def test_any_text_is_refused_or_stays_inside_the_root(text):
    _assert_refused_or_inside(text)


@settings(deadline=None)  # timings are not what these properties check
@given(st.lists(st.sampled_from(["a", "..", ".", "", ".git", "b", "~", "/", "\\", ".MLX", "x\x00", "C:"]), max_size=5))
def test_any_joined_components_are_refused_or_stay_inside_the_root(parts):
    _assert_refused_or_inside("/".join(parts))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "real").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"secret")
    (repo / "linkdir").symlink_to(tmp_path / "outside")
    (repo / "real" / "linkfile").symlink_to(tmp_path / "outside" / "secret")
    (repo / "real" / "file").write_bytes(b"x")
    return repo


def test_check_no_symlinks_refuses_a_symlinked_parent_directory(root):
    with pytest.raises(UnsafePathError, match="^unsafe path 'linkdir/secret': 'linkdir' is a symbolic link$"):
        check_no_symlinks(root, "linkdir/secret")


def test_check_no_symlinks_refuses_a_symlinked_parent_deeper_down(root):
    (root / "real" / "inner").symlink_to(root / "real")
    with pytest.raises(UnsafePathError, match="'real/inner' is a symbolic link"):
        check_no_symlinks(root, "real/inner/x/y")


def test_check_no_symlinks_allows_a_final_symlink_unless_include_last(root):
    check_no_symlinks(root, "real/linkfile")
    with pytest.raises(UnsafePathError, match="'real/linkfile' is a symbolic link"):
        check_no_symlinks(root, "real/linkfile", include_last=True)


def test_check_no_symlinks_accepts_real_and_missing_paths(root):
    check_no_symlinks(root, "real/file", include_last=True)
    check_no_symlinks(root, "missing/deeper/file", include_last=True)
    check_no_symlinks(root, "real/missing", include_last=True)

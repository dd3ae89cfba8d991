"""What the system refuses (a permission, a full disk) is one line for the user, not a bug report."""

from __future__ import annotations

import errno

from mlxkit.cli.app import _system_refusal


def test_a_refusal_that_names_files_names_them_relative_to_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    refused = _system_refusal(PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "data/a b")))

    assert refused is not None and refused.exit_code == 3
    assert refused.message == "permission denied: 'data/a b'"
    assert refused.hint == "check that path's permissions (and its parents'); -v shows where it happened"
    assert _system_refusal(OSError(errno.EEXIST, "File exists", "a", None, "b")).message == "file exists: 'a' -> 'b'"


def test_a_full_disk_under_a_copy_between_descriptors_is_a_refusal_too():
    refused = _system_refusal(OSError(errno.ENOSPC, "No space left on device"))

    assert refused is not None
    assert (refused.message, refused.hint) == ("no space left on device", "free some space on that file system, then run the command again")


def test_an_error_that_names_no_file_and_no_condition_is_a_bug():
    assert _system_refusal(OSError(errno.EINVAL, "Invalid argument")) is None
    assert _system_refusal(OSError("something else")) is None

"""Where a repository is, found with `os.path` alone: the quickest answers (cli/fastpath.py) import
nothing more to find it, and repo/repository.py finds it the same way."""

from __future__ import annotations

import os

MLX_DIR = ".mlx"
CONFIG_FILE = "config.yaml"  # in MLX_DIR
LOCAL_CONFIG_FILE = "config.local.yaml"  # in MLX_DIR


def find_root(start: str) -> str | None:
    """The nearest directory at or above `start` holding `.mlx/`, not crossing a mount point."""
    directory = os.path.realpath(start)
    while True:
        mlx_dir = os.path.join(directory, MLX_DIR)
        if os.path.isfile(os.path.join(mlx_dir, CONFIG_FILE)) or os.path.isdir(os.path.join(mlx_dir, "cache")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory or os.path.ismount(directory):
            return None
        directory = parent

"""mlx: reproducible machine-learning projects.

This module holds the version only, so that `mlx --version` imports nothing else.
"""

__version__ = "0.1.0"

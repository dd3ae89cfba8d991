"""Comparisons across git revisions and the workspace: diff, params, metrics, plots.

revisions.py is what they all read through: a Snapshot of the repository at a commit or on disk.
"""

"""Editing YAML as text: where a composed node's text ends, and a value written to fit on a line.

`mlx stage add`, `mlx freeze` (pipeline/edit.py) and `mlx run -S` (pipeline/setparams.py) change
files people wrote, so they never re-dump them: they replace or insert one span of the text, at
places PyYAML's node marks give. These are the pieces both need.
"""

from __future__ import annotations

from typing import Any

import yaml


def end_of(node: yaml.Node) -> int:
    """Where the text of `node` ends: at its last scalar or flow collection (a block collection's
    own end mark lies past the comments and blank lines that follow it)."""
    while isinstance(node, yaml.CollectionNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node.end_mark.index


def line_end(text: str, position: int) -> int:
    """Where the last line with content at or before `position` ends (its line break, or the end of
    the text): a block scalar's end mark lies past the blank lines that follow it."""
    newline = text.find("\n", len(text[:position].rstrip()))
    return len(text) if newline < 0 else newline


class _FlowDumper(yaml.SafeDumper):
    """Flow style on one line: a string with a line break goes double-quoted (escaped), never folded
    over lines whose indentation would have to fit the place it is written to."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    breaks = any(ch in "\n\r\x85\u2028\u2029" for ch in value)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if breaks else None)


_FlowDumper.add_representer(str, _represent_str)


def flow(value: Any) -> str:
    """`value` as YAML that fits on the rest of a line, keys in their order: '0.01', 'true', "'1'",
    '[1, 2]', '{cmd: x, deps: [a]}'."""
    text = yaml.dump([value], Dumper=_FlowDumper, default_flow_style=True, allow_unicode=True, sort_keys=False, width=2**30)
    return text.strip()[1:-1]

"""Editing YAML as text: where a composed node's text ends, a value written to fit on a line, and
a key set, added or removed in place.

`mlx stage add`, `mlx freeze` (pipeline/edit.py), `mlx run -S` (pipeline/setparams.py) and `mlx
config` (repo/config.py) change files people wrote, so they never re-dump them: they replace, insert
or delete spans of the text, at places PyYAML's node marks give, and keep every comment, the order
of keys and the layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from mlxkit.errors import InvalidFileError
from mlxkit.formats.yamlio import load_yaml


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


def block_flow(value: Any) -> str:
    """`value` for the rest of a line in block context, after 'key: ': as `flow`, but a string is
    quoted only where a block needs it ('url: s3://bucket/p', not "url: 's3://bucket/p'")."""
    if isinstance(value, str):
        text = yaml.dump({"k": value}, Dumper=_FlowDumper, default_flow_style=False, allow_unicode=True, width=2**30)
        if text.count("\n") == 1:
            return text[len("k: ") : -1]
    return flow(value)


class _CannotEdit(Exception):
    """A text edit cannot say the change (the caller writes the data whole)."""


def set_in_text(text: str, parts: list[str], value: Any) -> str | None:
    """`text` (a YAML mapping, or nothing) with the value at `parts` replaced, or added with its
    missing parents. None where the text is not a mapping, or a parent is not one."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:  # nothing, or comments only
        return _insert_block(text, len(text), 0, parts, value)
    if not isinstance(root, yaml.MappingNode):  # a lone 'null', '~' or '---': nothing to keep
        return None
    try:
        return _replace_or_add(text, root, parts, value)
    except _CannotEdit:
        return None


def edit_mapping(text: str, new: dict[str, Any], source: str) -> str | None:
    """`text`, a YAML mapping, changed to say `new` by editing only the keys whose values differ:
    comments, key order and layout stay. None where a text edit cannot say it; the result is read
    back (strictly) and must give `new`, values and types alike, or None is returned."""
    try:
        old = load_yaml(text, source).data or {}
        if not isinstance(old, dict):
            return None
        for parts, value in _changes(old, new, []):
            if value is _DELETE:
                text = _delete(text, parts)
            elif isinstance(value, _Rename):
                text = _rename(text, parts, value.key)
            else:
                edited = set_in_text(text, parts, value)
                if edited is None:
                    return None
                text = edited
        reread = load_yaml(text, source).data or {}
    except (_CannotEdit, InvalidFileError, yaml.YAMLError):
        return None
    return text if _same(reread, new) else None


_DELETE = object()


@dataclass(frozen=True)
class _Rename:
    key: str  # the new name


def _changes(old: dict[str, Any], new: dict[str, Any], prefix: list[str]) -> list[tuple[list[str], Any]]:
    """(key path, new value, _DELETE or a _Rename) for every key whose value differs; a new
    mapping is added key by key, so that it is written in block style. One key that gives its
    place to one new key is renamed where it stands (`mlx remote rename`)."""
    gone = [key for key in old if key not in new]
    came = [key for key in new if key not in old]
    renamed = len(gone) == len(came) == 1 and list(old).index(gone[0]) == list(new).index(came[0])
    if renamed:
        old = {came[0] if key == gone[0] else key: value for key, value in old.items()}
    changes: list[tuple[list[str], Any]] = [([*prefix, gone[0]], _Rename(came[0]))] if renamed else []
    changes += [([*prefix, key], _DELETE) for key in old if key not in new]
    for key, value in new.items():
        before = old.get(key, _DELETE)
        if isinstance(value, dict) and value and (before is _DELETE or isinstance(before, dict)):
            changes += _changes({} if before is _DELETE else before, value, [*prefix, key])
        elif before is _DELETE or not _same(before, value):
            changes.append(([*prefix, key], value))
    return changes


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types (1, 1.0 and true differ), whatever the order of keys."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _child(node: Any, key: str) -> tuple[Any, Any] | None:
    """The (key node, value node) of `key` in a mapping node, or None."""
    return next(((k, v) for k, v in node.value if k.tag.endswith(":str") and k.value == key), None)


def _pair(text: str, parts: list[str]) -> tuple[Any, Any]:
    """The key node and value node at `parts`, all in block mappings."""
    node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    pair: tuple[Any, Any] | None = None
    for part in parts:
        if not isinstance(node, yaml.MappingNode) or node.flow_style:
            raise _CannotEdit
        pair = _child(node, part)
        if pair is None:
            raise _CannotEdit
        node = pair[1]
    assert pair is not None
    return pair


def _delete(text: str, parts: list[str]) -> str:
    """`text` without the key at `parts` and its value: their lines go, a comment on the last one too."""
    key_node, node = _pair(text, parts)
    start = text.rfind("\n", 0, key_node.start_mark.index) + 1
    if text[start : key_node.start_mark.index].strip():  # something before the key on its line
        raise _CannotEdit
    end = line_end(text, end_of(node))
    return text[:start] + text[end + 1 :]


def _rename(text: str, parts: list[str], key: str) -> str:
    """`text` with the last key of `parts` spelled `key` where it stands."""
    key_node, _ = _pair(text, parts)
    return text[: key_node.start_mark.index] + block_flow(key) + text[key_node.end_mark.index :]


def _replace_or_add(text: str, node: Any, parts: list[str], value: Any) -> str:
    """`text` with the value at `parts` replaced or added where the parser found things."""
    in_flow = False
    for depth, part in enumerate(parts):
        if depth and _is_empty(node):  # a bare 'key:' becomes the block mapping of the rest
            return _insert_block(text, key_node.end_mark.index, key_node.start_mark.column + 2, parts[depth:], value)
        if not isinstance(node, yaml.MappingNode):
            raise _CannotEdit
        pair = _child(node, part)
        if pair is None and node.flow_style:  # the whole {flow: mapping} again, with the new key
            start, end = node.start_mark.index, node.end_mark.index
            mapping = yaml.safe_load(text[start:end])
            for missing in reversed(parts[depth + 1 :]):
                value = {missing: value}
            return text[:start] + flow({**mapping, part: value}) + text[end:]
        if pair is None:
            return _insert_block(text, end_of(node), node.value[0][0].start_mark.column, parts[depth:], value)
        in_flow = node.flow_style
        key_node, node = pair
    if node.style not in ("|", ">") if isinstance(node, yaml.ScalarNode) else node.flow_style:
        start, end = node.start_mark.index, node.end_mark.index
        written = flow(value) if in_flow else block_flow(value)
        return text[:start] + (" " if start == end else "") + written + text[end:]  # ' ': after a bare 'key:'
    # a block mapping, list or text: everything from the key's end to the end of its last line
    return text[: key_node.end_mark.index] + ": " + block_flow(value) + text[line_end(text, end_of(node)) :]


def _is_empty(node: Any) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null") and node.value == ""


def _insert_block(text: str, position: int, column: int, parts: list[str], value: Any) -> str:
    """New `key:` lines after the line holding `position` (the end of a value), at `column`, nested
    two spaces a level."""
    if position and text[position - 1] == "\n":  # a block scalar ends after its line breaks ('|+' keeps them)
        end = position - 1
    else:
        newline = text.find("\n", position)
        end = len(text) if newline < 0 else newline
    if end == len(text) and text:
        text += "\n"
    lines = [f"{' ' * (column + 2 * depth)}{flow(part)}:" for depth, part in enumerate(parts)]
    lines[-1] += " " + block_flow(value)
    at = end + 1 if text else 0
    return text[:at] + "\n".join(lines) + "\n" + text[at:]

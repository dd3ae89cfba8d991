"""YAML is data, and only data: safe loading with no aliases, tags or duplicate keys, and a size cap.

`load_yaml` also returns where each value was written, so that a schema error can name the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from mlxkit.errors import InvalidFileError

MAX_YAML_BYTES = 16 * 1024 * 1024
Location = tuple[str | int, ...]


class _Strict:
    """Refuses anchors, aliases, explicit tags and duplicate mapping keys (a mixin for the loaders below)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent):
            raise yaml.MarkedYAMLError(None, None, "aliases ('*name') are not allowed", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise yaml.MarkedYAMLError(None, None, "anchors ('&name') are not allowed", event.start_mark)
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and not (isinstance(event, yaml.ScalarEvent) and event.implicit[0]):
            raise yaml.MarkedYAMLError(None, None, f"tags ('{tag}') are not allowed", event.start_mark)
        return Composer.compose_node(self, parent, index)  # type: ignore[arg-type]

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.MarkedYAMLError(None, None, "a mapping key must be a plain value", key_node.start_mark) from None
            if duplicate:
                raise yaml.MarkedYAMLError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return SafeConstructor.construct_mapping(self, node, deep=deep)  # type: ignore[arg-type]

    def construct_yaml_int(self, node: Any) -> Any:
        try:
            return SafeConstructor.construct_yaml_int(self, node)  # type: ignore[arg-type]
        except ValueError:  # Python refuses to convert more than 4300 decimal digits
            raise yaml.MarkedYAMLError(None, None, "a number with too many digits", node.start_mark) from None


class _StrictLoader(_Strict, yaml.SafeLoader):
    pass


# libyaml parses about ten times faster than PyYAML's pure-Python scanner (3 ms against 20 ms for a
# 20-stage mlx.lock). Only its parser is used: events are composed here, so every check above holds.
_FastStrictLoader: Any = None
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastStrictLoader(_Strict, Composer, CParser, SafeConstructor, Resolver):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)


for _loader in filter(None, (_StrictLoader, _FastStrictLoader)):
    _loader.add_constructor("tag:yaml.org,2002:int", _Strict.construct_yaml_int)
    # YAML 1.1's implicit timestamps turn '2024-01-01' into a datetime: keep it a string.
    _loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    source: str
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Location) -> int | None:
        """The line of `location`, or of its nearest ancestor that has one."""
        location = tuple(location)
        while location:
            if location in self.lines:
                return self.lines[location]
            location = location[:-1]
        return self.lines.get((), None)


def load_yaml(text: bytes | str, source: str) -> YamlDocument:
    """Parse one YAML document; any problem is an InvalidFileError naming `source` and the line."""
    if len(text) > MAX_YAML_BYTES:
        raise InvalidFileError(source, f"larger than the {MAX_YAML_BYTES // (1024 * 1024)} MiB limit for YAML files")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = text.count(b"\n", 0, exc.start) + 1
            raise InvalidFileError(source, f"not UTF-8 text (byte {exc.start})", line=line) from None
    refused = yaml.reader.Reader.NON_PRINTABLE.search(text)  # what PyYAML's reader refuses, before parsing
    if refused:
        line = text.count("\n", 0, refused.start()) + 1
        raise InvalidFileError(source, f"the character U+{ord(refused.group()[0]):04X} is not allowed in YAML", line=line)
    loader = (_FastStrictLoader or _StrictLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None, source, {})
        lines: dict[Location, int] = {}
        _record_lines(node, (), lines)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        raise InvalidFileError(source, problem, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise InvalidFileError(source, f"malformed YAML: {exc}") from None
    except RecursionError:
        raise InvalidFileError(source, "nested too deeply") from None
    finally:
        loader.dispose()
    return YamlDocument(data, source, lines)


def _record_lines(node: Any, location: Location, lines: dict[Location, int]) -> None:
    lines[location] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # construct_mapping refuses a key that is not a plain value, naming its line
            key = key_node.value
            _record_lines(value_node, location + (key,), lines)
            lines[location + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, location + (index,), lines)


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump_yaml(data: Any) -> str:
    """Block-style YAML in the key order given, Unicode kept readable."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)

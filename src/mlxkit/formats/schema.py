"""Validate documents against the JSON Schemas shipped in mlxkit/schemas (jsonschema, imported lazily).

An error names the file, the line of the offending value, where in the document it is, and what
was expected; an unknown key gets a "did you mean" hint. A schema may say what a value should be
in words, with the annotation keyword `expected` ("a list of paths"): a wrong type or a string
that misses its pattern is then named in those words, not with a type list or a raw regex.

`conforms` answers yes or no without jsonschema (and its 0.1 s import), for the happy path.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from typing import Any

from mlxkit.errors import InvalidFileError
from mlxkit.formats.yamlio import Location, YamlDocument


_SCHEMAS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "schemas")  # mlxkit/schemas


@cache
def load_schema(name: str) -> dict[str, Any]:
    # A file beside the package: mlxkit is installed as files, never zipped, and importlib.resources
    # would cost every command ~5 ms of imports (tempfile, random, zipfile) to say the same.
    with open(os.path.join(_SCHEMAS, f"{name}.json"), encoding="utf-8") as handle:
        return json.load(handle)


@cache
def _validator(name: str) -> Any:
    import jsonschema

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def validate(document: YamlDocument | Any, name: str, source: str | None = None) -> None:
    """Raise InvalidFileError for the first problem (in document order) of `document` against `name`."""
    if isinstance(document, YamlDocument):
        data, source, doc = document.data, document.source, document
    else:
        data, doc = document, None
    errors = list(_validator(name).iter_errors(data))
    if not errors:
        return
    problems = []
    for error in errors:
        message, hint, unknown = _explain(error)
        location: Location = tuple(error.absolute_path)
        # An unknown key is reported at its own line, not at the line of the mapping that holds it.
        line = doc.line_of(location + (str(unknown),) if unknown is not None else location) if doc else None
        # A missing key is reported last: a misspelt key ('sise' for 'size') explains it better.
        problems.append((error.validator == "required", line or 0, len(location), location, message, hint, line))
    *_, location, message, hint, line = min(problems, key=lambda problem: problem[:3])
    where = ".".join(str(part) for part in location) or "the top level"
    raise InvalidFileError(source or "<document>", f"at '{where}': {message}", line=line, hint=hint)


def _explain(error: Any) -> tuple[str, str | None, object]:
    """The message, the hint, and the unknown key when the error is one."""
    import difflib

    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        patterns = [re.compile(pattern) for pattern in error.schema.get("patternProperties", {})]
        # From the instance, not the message: a key YAML reads as a number (`1: x`) has no quotes there.
        extra = [key for key in error.instance if key not in known and not any(p.search(str(key)) for p in patterns)]
        unknown = extra[0] if extra else None
        if unknown is not None:
            close = difflib.get_close_matches(str(unknown), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else (f"known keys: {', '.join(known)}" if known else None)
            return f"unknown key '{unknown}'", hint, unknown
    if error.validator == "required":
        return error.message.replace(" is a required property", " is required"), None, None
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}", None, None
    if error.validator in ("type", "pattern") and "expected" in error.schema:
        return f"{error.instance!r} is not {error.schema['expected']}", None, None
    return error.message, None, None


# -- a check that needs no jsonschema when the document is well formed ----------------------------

_TYPES = {"object": dict, "array": list, "string": str, "null": type(None)}
_SKIPPED = {"$schema", "$id", "$defs", "$comment", "title", "description", "expected", "then", "else"}  # 'if' reads then/else
_KNOWN = {"if", "$ref", "anyOf", "type", "properties", "additionalProperties", "required", "patternProperties"}
_KNOWN |= {"minProperties", "maxProperties", "items", "minItems", "uniqueItems", "pattern", "minLength"}
_KNOWN |= {"enum", "minimum", "maximum"}


def conforms(data: Any, name: str) -> bool:
    """Whether `data` meets the schema `name`, knowing only the keywords in `_KNOWN`: any other
    keyword makes it say no (then ask `validate`), so it is never looser than jsonschema
    (tests/unit/pipeline/test_spec.py checks it against jsonschema for pipeline-1)."""
    top = load_schema(name)
    return _conforms(data, top, top)


def _conforms(value: Any, schema: dict[str, Any], top: dict[str, Any]) -> bool:
    for keyword, rule in schema.items():
        if keyword in _SKIPPED:
            continue
        if keyword == "if":
            branch = schema.get("then" if _conforms(value, rule, top) else "else")
            ok = branch is None or _conforms(value, branch, top)
        elif keyword == "$ref":
            ok = rule.startswith("#/$defs/") and _conforms(value, top["$defs"][rule.removeprefix("#/$defs/")], top)
        elif keyword == "anyOf":
            ok = any(_conforms(value, option, top) for option in rule)
        elif keyword == "type":
            names = [rule] if isinstance(rule, str) else rule
            ok = any(_is_type(value, name) for name in names)
        elif keyword == "enum":  # the same type too: jsonschema tells true from 1, this is stricter
            ok = any(type(value) is type(option) and value == option for option in rule)
        elif keyword in ("minimum", "maximum"):  # numbers only, as in JSON Schema
            ok = type(value) not in (int, float) or (value >= rule if keyword == "minimum" else value <= rule)
        elif isinstance(value, dict):
            ok = all(type(key) is str for key in value) and _object(value, keyword, rule, schema, top)
        elif isinstance(value, list):
            ok = keyword != "items" or all(_conforms(item, rule, top) for item in value)
            ok = ok and (keyword != "minItems" or len(value) >= rule)
            if keyword == "uniqueItems" and rule is True:  # strings only; anything else: ask jsonschema
                ok = all(type(item) is str for item in value) and len(set(value)) == len(value)
        elif isinstance(value, str):
            ok = keyword != "pattern" or re.search(rule, value) is not None
            ok = ok and (keyword != "minLength" or len(value) >= rule)
        else:
            ok = True
        if not ok or keyword not in _KNOWN:
            return False
    return True


def _is_type(value: Any, name: str) -> bool:
    if name == "boolean":
        return type(value) is bool
    if name == "integer":
        return type(value) is int
    if name == "number":
        return type(value) in (int, float)
    return isinstance(value, _TYPES.get(name, ()))


def _object(value: dict[str, Any], keyword: str, rule: Any, schema: dict[str, Any], top: dict[str, Any]) -> bool:
    if keyword == "properties":
        return all(_conforms(value[key], sub, top) for key, sub in rule.items() if key in value)
    if keyword == "patternProperties":
        return all(_conforms(item, sub, top) for key, item in value.items() for pattern, sub in rule.items() if re.search(pattern, key))
    if keyword == "additionalProperties":
        known, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
        return all(
            key in known or any(re.search(pattern, key) for pattern in patterns) or (rule is not False and _conforms(item, rule, top))
            for key, item in value.items()
        )
    if keyword == "required":
        return all(key in value for key in rule)
    if keyword == "minProperties":
        return len(value) >= rule
    return keyword != "maxProperties" or len(value) <= rule

"""Validate documents against the JSON Schemas shipped in mlxkit/schemas (jsonschema, imported lazily).

An error names the file, the line of the offending value, where in the document it is, and what
was expected; an unknown key gets a "did you mean" hint.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from mlxkit.errors import InvalidFileError
from mlxkit.formats.yamlio import Location, YamlDocument


@cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("mlxkit.schemas").joinpath(f"{name}.json").read_text(encoding="utf-8"))


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
        line = doc.line_of(location + (unknown,) if unknown is not None else location) if doc else None
        # A missing key is reported last: a misspelt key ('sise' for 'size') explains it better.
        problems.append((error.validator == "required", line or 0, len(location), location, message, hint, line))
    *_, location, message, hint, line = min(problems, key=lambda problem: problem[:3])
    where = ".".join(str(part) for part in location) or "the top level"
    raise InvalidFileError(source or "<document>", f"at '{where}': {message}", line=line, hint=hint)


_UNEXPECTED = re.compile(r"\('(.+?)' (?:was|were) unexpected\)")


def _explain(error: Any) -> tuple[str, str | None, str | None]:
    """The message, the hint, and the unknown key when the error is one."""
    import difflib

    if error.validator == "additionalProperties":
        match = _UNEXPECTED.search(error.message)
        unknown = match.group(1).split("', '")[0] if match else None
        known = sorted(error.schema.get("properties", {}))
        if unknown is not None:
            close = difflib.get_close_matches(unknown, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else (f"known keys: {', '.join(known)}" if known else None)
            return f"unknown key '{unknown}'", hint, unknown
    if error.validator == "required":
        return error.message.replace(" is a required property", " is required"), None, None
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}", None, None
    return error.message, None, None

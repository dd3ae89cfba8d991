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
    error = min(errors, key=lambda e: ((doc.line_of(tuple(e.absolute_path)) or 0) if doc else 0, len(e.absolute_path)))
    location: Location = tuple(error.absolute_path)
    where = ".".join(str(part) for part in location) or "the top level"
    message, hint = _explain(error)
    raise InvalidFileError(
        source or "<document>", f"at '{where}': {message}", line=doc.line_of(location) if doc else None, hint=hint
    )


_UNEXPECTED = re.compile(r"\('(.+?)' (?:was|were) unexpected\)")


def _explain(error: Any) -> tuple[str, str | None]:
    import difflib

    if error.validator == "additionalProperties":
        match = _UNEXPECTED.search(error.message)
        unknown = match.group(1).split("', '")[0] if match else None
        known = sorted(error.schema.get("properties", {}))
        if unknown is not None:
            close = difflib.get_close_matches(unknown, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else (f"known keys: {', '.join(known)}" if known else None)
            return f"unknown key '{unknown}'", hint
    if error.validator == "required":
        return error.message.replace(" is a required property", " is required"), None
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}", None
    return error.message, None

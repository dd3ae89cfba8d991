"""Documents near a schema's edges, for the property tests that hold the quick schema check
(`formats.schema.conforms`) against jsonschema: a valid document with one part replaced."""

from __future__ import annotations

import copy

from hypothesis import strategies as st


def mutations(valid: object, values: st.SearchStrategy) -> st.SearchStrategy:
    """`valid` with the value at one of its paths (the whole document included) replaced by one of `values`."""
    return st.tuples(st.sampled_from(paths(valid)), values).map(lambda change: replaced(valid, *change))


def paths(data: object, prefix: tuple = ()) -> list[tuple]:
    """Every path into `data`: keys of mappings and indexes of lists, the empty path first."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(paths(value, prefix + (key,)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(paths(value, prefix + (index,)))
    return found


def replaced(data: object, path: tuple, value: object) -> object:
    """A copy of `data` with `value` at `path`."""
    if not path:
        return value
    data = copy.deepcopy(data)
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data

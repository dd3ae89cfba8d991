"""mlx.yaml: the pipeline as people write it, turned into Stage values whose paths are confined.

Reading goes: strict YAML -> the JSON Schema pipeline-1 -> the `${}` context (params.yaml, then
`vars`) -> each stage, or one stage per foreach item or matrix combination, interpolated and then
checked against the schema again (a `${files}` may have become anything) -> paths resolved against
`wdir` and confined to the repository. Every error names mlx.yaml, the line and the stage.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from mlxkit.errors import UnsafePathError
from mlxkit.formats.schema import conforms, validate
from mlxkit.formats.yamlio import YamlDocument, load_yaml
from mlxkit.fs.confine import RepoPath, check_no_symlinks, unsafe_reason
from mlxkit.pipeline.interpolate import Context, Where, interpolate, render
from mlxkit.pipeline import PIPELINE_FILE
from mlxkit.pipeline.model import DEFAULT_PARAMS_FILE, Out, OutKind, ParamRef, Pipeline, PlotOptions, Stage
from mlxkit.pipeline.params import KEY, did_you_mean, kind_of, read_params

SCHEMA = "pipeline-1"
STAGE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ITEM_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_OUTPUTS: tuple[tuple[str, OutKind, bool], ...] = (("outs", "out", True), ("metrics", "metric", False), ("plots", "plot", False))
_GENERATORS = ("foreach", "matrix", "do")
_KEY_HINT = "a key is names joined by dots, such as 'train.lr'"
_NAMES_HINT = "stage names are letters, digits, '_', '.' and '-' ('@' joins a stage and its foreach item)"


def load_pipeline(root: Path) -> Pipeline | None:
    """The pipeline of the repository at `root`, or None when it has no mlx.yaml."""
    check_no_symlinks(root, PIPELINE_FILE, include_last=True)  # a committed link may point anywhere
    try:
        text = (root / PIPELINE_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return pipeline_from_text(text, root)


ParamsReader = Callable[[RepoPath], "dict[str, Any] | None"]


def pipeline_from_text(text: bytes | str, root: Path, source: str = PIPELINE_FILE, params: ParamsReader | None = None) -> Pipeline:
    """Parse mlx.yaml's text; the params files it interpolates from are read from `root`, or by
    `params` (a params file's mapping, None when there is no such file: at a git revision, say)."""
    document = load_yaml(text, source)
    if document.data is None:
        return Pipeline({}, source)
    if not conforms(document.data, SCHEMA):
        validate(document, SCHEMA)
    read = params or partial(_params_on_disk, root)
    context_files: list[RepoPath] = []

    def recorded(file: RepoPath) -> dict[str, Any] | None:
        context_files.append(file)
        return read(file)

    context = _context(recorded, document)
    stages: dict[str, Stage] = {}
    for key, body in (document.data.get("stages") or {}).items():
        name = render(key)  # YAML reads `1:` as a number
        at = Where.at(document, "stages", name)
        if not STAGE_NAME.fullmatch(name):
            raise at.error(f"'{name}' is not a valid stage name", hint=_NAMES_HINT)
        for stage in _stages(name, body, context, at):
            stages[stage.name] = stage
    tracked = tuple(_params_file(file, None, Where.at(document, "params", i)) for i, file in enumerate(document.data.get("params", [])))
    return Pipeline(stages, source, params=tracked, context_files=tuple(context_files))


def _params_on_disk(root: Path, file: RepoPath) -> dict[str, Any] | None:
    return read_params(root, file) if file.on_disk(root).is_file() else None


def _context(read: ParamsReader, document: YamlDocument) -> Context:
    """params.yaml at the root (when there is one), then each `vars` entry in order."""
    context = Context()
    default = RepoPath(DEFAULT_PARAMS_FILE)
    default_values = read(default)
    has_default = default_values is not None
    if default_values is not None:
        context.merge(default_values, DEFAULT_PARAMS_FILE, Where.at(document))
    for index, entry in enumerate(document.data.get("vars") or []):
        at = Where.at(document, "vars", index)
        if isinstance(entry, dict):
            context.merge(entry, f"vars.{index}", at)
            continue
        file_text, _, keys_text = entry.partition(":")
        file = _params_file(file_text, None, at)
        if file == default and has_default:
            continue  # loaded already, as a whole
        values = read(file)
        if values is None:
            raise at.error(f"no such params file '{file}'")
        if keys_text:
            keys = [key.strip() for key in keys_text.split(",")]
            for key in keys:
                if key not in values:
                    raise at.error(f"'{file}' has no key '{key}'", hint=did_you_mean(key, values))
            values = {key: values[key] for key in keys}
        context.merge(values, file.posix, at)
    return context


def _stages(name: str, body: dict[str, Any], context: Context, at: Where) -> list[Stage]:
    line = at.document.line_of(at.location)
    present = [key for key in _GENERATORS if key in body]
    if not present:
        return [_stage(name, body, context, at, line)]
    if "foreach" in body and "matrix" in body:
        raise at.error("a stage has 'foreach' or 'matrix', not both")
    if present == ["do"]:
        raise at.child("do").error("'do' needs 'foreach' or 'matrix' beside it")
    for key in body:
        if key not in _GENERATORS:
            raise at.child(key).error(f"'{key}' belongs inside 'do'", hint="beside 'do' there is only 'foreach' or 'matrix'")
    generator = "foreach" if "foreach" in body else "matrix"
    items = (_foreach if generator == "foreach" else _matrix)(body[generator], context, at.child(generator))
    stages: dict[str, Stage] = {}
    for suffix, values in items:
        full = f"{name}@{suffix}"
        if not _ITEM_NAME.fullmatch(suffix):
            raise at.child(generator).error(f"an item makes the stage name '{full}', which is not valid", hint=_NAMES_HINT)
        if full in stages:
            hint = "give each item a different name, or use a mapping whose keys name them"
            raise at.child(generator).error(f"two items make the stage name '{full}'", hint=hint)
        template_at = Where(at.document, at.location + ("do",), ("stages", full))
        stages[full] = _stage(full, body["do"], context.with_item(values, at.child(generator)), template_at, line)
    return list(stages.values())


def _item_name(value: Any, fallback: str) -> str:
    return fallback if isinstance(value, (dict, list)) else render(value)


def _foreach(value: Any, context: Context, at: Where) -> list[tuple[str, dict[str, Any]]]:
    """(name suffix, context values) per item: a list's item or index, a mapping's key."""
    value = interpolate(value, context, at) if isinstance(value, str) else value
    if isinstance(value, dict):
        return [(render(key), {"key": key, "item": item}) for key, item in value.items()]
    if isinstance(value, list):
        return [(_item_name(item, str(index)), {"item": item}) for index, item in enumerate(value)]
    raise at.error(f"foreach needs a list or a mapping, not {render(value)!r}")


def _matrix(value: Any, context: Context, at: Where) -> list[tuple[str, dict[str, Any]]]:
    """One item per combination of the axes' values, first axis slowest; names join values with '-'."""
    value = interpolate(value, context, at) if isinstance(value, str) else value
    if not isinstance(value, dict) or not value:
        raise at.error("matrix needs a mapping of axis names to lists of values")
    axes = {}
    for axis, values in value.items():
        values = interpolate(values, context, at.child(axis)) if isinstance(values, str) else values
        if not isinstance(values, list):
            raise at.child(axis).error(f"the matrix axis '{axis}' needs a list of values, not {render(values)!r}")
        axes[axis] = list(enumerate(values))
    combinations = []
    for combination in itertools.product(*axes.values()):
        named = list(zip(axes, combination, strict=True))
        names = [_item_name(item, f"{axis}{index}") for axis, (index, item) in named]
        combinations.append(("-".join(names), {"item": {axis: item for axis, (_, item) in named}}))
    return combinations


def _stage(name: str, body: dict[str, Any], context: Context, at: Where, line: int | None) -> Stage:
    resolved = {key: interpolate(value, context, at.child(key), shell=key == "cmd") for key, value in body.items()}
    if not conforms({"stages": {name: resolved}}, SCHEMA):
        validate(_resolved_document(name, resolved, at), SCHEMA)
    wdir = _wdir(resolved.get("wdir"), at.child("wdir"))
    outs: dict[RepoPath, Out] = {}
    for field, kind, cache in _OUTPUTS:
        for index, entry in enumerate(_list(resolved, field, at)):
            out = _out(entry, kind, cache, wdir, at.child(field).child(index))
            if out.path in outs:
                raise at.child(field).child(index).error(f"'{out.path}' is already an output of this stage")
            outs[out.path] = out
    cmd = resolved["cmd"]
    deps = (_confined(dep, wdir, at.child("deps").child(index)) for index, dep in enumerate(_list(resolved, "deps", at)))
    return Stage(
        name=name,
        cmd=(cmd,) if isinstance(cmd, str) else tuple(cmd),
        wdir=wdir,
        deps=tuple(dict.fromkeys(deps)),
        outs=tuple(outs.values()),
        params=_params(_list(resolved, "params", at), wdir, at.child("params")),
        env=tuple(dict.fromkeys(_list(resolved, "env", at))),
        desc=resolved.get("desc"),
        frozen=_flag(resolved, "frozen", False, at),
        always_changed=_flag(resolved, "always_changed", False, at),
        line=line,
    )


def _resolved_document(name: str, resolved: dict[str, Any], at: Where) -> YamlDocument:
    """The interpolated stage as a document whose lines are those of the stage it came from."""
    lines = {("stages", name): at.document.line_of(at.location)}
    size = len(at.location)
    for location, line in at.document.lines.items():
        if location[:size] == at.location:
            lines[("stages", name) + location[size:]] = line
    return YamlDocument({"stages": {name: resolved}}, at.document.source, lines)


def _list(mapping: dict[str, Any], key: str, at: Where) -> list[Any]:
    """The list at `key`: what the schema allows there, once a '${...}' left as text is refused."""
    value = mapping.get(key, [])
    if not isinstance(value, list):
        raise at.child(key).error(f"'{key}' needs a list, not {value!r}")
    return value


def _flag(mapping: dict[str, Any], key: str, default: bool, at: Where) -> bool:
    value = mapping.get(key, default)
    if not isinstance(value, bool):
        raise at.child(key).error(f"'{key}' needs true or false, not {value!r}")
    return value


def _out(entry: str | dict[str, Any], kind: OutKind, cache: bool, wdir: RepoPath | None, at: Where) -> Out:
    if isinstance(entry, str):
        return Out(_confined(entry, wdir, at), kind, cache=cache)
    ((text, flags),) = entry.items()
    flags, at = flags or {}, at.child(text)
    cache, persist = _flag(flags, "cache", cache, at), _flag(flags, "persist", False, at)
    plot = None
    if flags.keys() - {"cache", "persist"}:  # plot options: the schema allows them in plots entries only
        y = flags.get("y", ())
        plot = PlotOptions(
            flags.get("x"), (y,) if isinstance(y, str) else tuple(y), flags.get("template", "linear"),
            flags.get("title"), flags.get("x_label"), flags.get("y_label"),
        )  # fmt: skip
        if plot.template.startswith("confusion") and len(plot.y) != 1:
            raise at.child("y").error("a confusion matrix takes one 'y' column, the predicted class")
    return Out(_confined(text, wdir, at), kind, cache=cache, persist=persist, plot=plot)


def _params(entries: list[Any], wdir: RepoPath | None, at: Where) -> tuple[ParamRef, ...]:
    """One ParamRef per file, in order of first mention; keys of params.yaml are relative to wdir."""
    keys_of: dict[RepoPath, list[str] | None] = {}  # None: every key of the file
    for index, entry in enumerate(entries):
        if isinstance(entry, str):
            file, keys, entry_at = _confined(DEFAULT_PARAMS_FILE, wdir, at), [entry], at.child(index)
        else:
            ((text, _),) = entry.items()
            entry_at = at.child(index).child(text)
            file, keys = _params_file(text, wdir, entry_at), _list(entry, text, at.child(index))
        for key in keys:
            if not isinstance(key, str) or not KEY.fullmatch(key):
                raise entry_at.error(f"'{key}' is not a params key", hint=_KEY_HINT)
        if not keys or (file in keys_of and keys_of[file] is None):
            keys_of[file] = None
        else:
            keys_of[file] = list(dict.fromkeys((keys_of.get(file) or []) + keys))
    return tuple(ParamRef(file, tuple(keys or ())) for file, keys in keys_of.items())


def _params_file(text: str, wdir: RepoPath | None, at: Where) -> RepoPath:
    file = _confined(text, wdir, at)
    kind_of(file, named_in=at.place())  # exit 13, as for 'mlx run -S' with such a file
    return file


def _wdir(text: str | None, at: Where) -> RepoPath | None:
    if text is None or posixpath.normpath(text) == ".":
        return None
    return _confined(text, None, at)


def _confined(text: str, wdir: RepoPath | None, at: Where) -> RepoPath:
    """`text` (relative to `wdir`) as a path from the repository root, which it must not leave."""
    joined, reason = join_path(text, wdir.posix if wdir else None)
    if reason:
        raise UnsafePathError(
            f"unsafe path '{text}' in {at.place()}: {reason}",
            hint="paths in mlx.yaml are relative to the stage's wdir and stay inside the repository",
        )
    return RepoPath(joined)


_NOT_RELATIVE = re.compile(r"/|~|[A-Za-z]:")


def join_path(text: str, wdir: str | None) -> tuple[str, str | None]:
    """`text` (relative to `wdir`) as a path from the repository root, and why it may not be one
    (None when it may). `mlx stage add` checks its arguments with it, so that it never writes a
    path that reading mlx.yaml refuses."""
    joined = posixpath.normpath(f"{wdir}/{text}" if wdir else text)
    if not text or _NOT_RELATIVE.match(text):  # empty, absolute or '~': wrong whatever wdir is
        return joined, unsafe_reason(text)
    if joined == ".." or joined.startswith("../"):
        return joined, f"the path leaves the repository (it is '{joined}' from the root)"
    return joined, unsafe_reason(joined)

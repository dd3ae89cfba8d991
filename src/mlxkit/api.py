"""The Python API: what the CLI calls, and what users import.

    from mlxkit import api
    report = api.status()               # a StatusReport, the same object `mlx status --json` prints
    with api.open("data/raw/a.csv", rev="v1") as f: ...

Every function takes `repo` (a path inside the repository; the current directory by default).
Relative paths given to a function are relative to `repo` when it is given (as with `git -C`),
else to the current directory.
Functions that change the repository take its lock (`wait` seconds to queue behind another writer,
None to fail at once) and report progress through `progress`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlxkit.errors import NotARepositoryError, UsageError
from mlxkit.fs.confine import RepoPath
from mlxkit.progress import NULL_PROGRESS, Progress
from mlxkit.repo.repository import InitResult, Repository, find_repository, init_repository

if TYPE_CHECKING:  # the verbs are imported when called, so `import mlxkit.api` stays light
    from mlxkit.compare.diff import DiffReport
    from mlxkit.compare.metrics import MetricsDiff, MetricsShow
    from mlxkit.compare.params import ParamsDiff
    from mlxkit.compare.render_plots import PlotsReport
    from mlxkit.pipeline.edit import AddStageResult, FreezeResult
    from mlxkit.pipeline.lockmerge import MergeDriverResult
    from mlxkit.pipeline.model import Stage
    from mlxkit.pipeline.run import RunReport
    from mlxkit.pipeline.runner import OnEvent, RunOptions
    from mlxkit.pipeline.status import PipelineReport
    from mlxkit.repo.doctor import DoctorReport
    from mlxkit.repo.hooks import InstallResult
    from mlxkit.repo.remotes import AddRemoteResult, RemoteSettings, RemoveRemoteResult
    from mlxkit.tracking.add import AddResult
    from mlxkit.tracking.checkout import CheckoutResult
    from mlxkit.tracking.cloudstatus import CloudStatusReport
    from mlxkit.tracking.fetch import FetchResult
    from mlxkit.tracking.fsck import FsckResult
    from mlxkit.tracking.fsck_remote import RemoteFsckResult
    from mlxkit.tracking.gc import GcResult
    from mlxkit.tracking.gc_cloud import CloudGcResult
    from mlxkit.tracking.history import Scope
    from mlxkit.tracking.move import MoveResult
    from mlxkit.tracking.pull import PullResult
    from mlxkit.tracking.push import PushResult
    from mlxkit.tracking.remove import RemoveResult
    from mlxkit.tracking.roots import Root
    from mlxkit.tracking.status import StatusReport
    from mlxkit.tracking.unprotect import UnprotectResult

PathLike = str | os.PathLike[str]


def _start(repo: PathLike | None) -> Path:
    return Path(repo) if repo is not None else Path.cwd()


def _cwd(repo: PathLike | None) -> Path | None:
    """What relative paths are relative to: `repo` when given, else the current directory."""
    return Path(repo).resolve() if repo is not None else None


@contextmanager
def _reading(repo: PathLike | None, command: str) -> Iterator[Repository]:
    opened = find_repository(_start(repo), command=command)
    try:
        yield opened
    finally:
        opened.close()


@contextmanager
def _writing(repo: PathLike | None, command: str, wait: float | None) -> Iterator[Repository]:
    with _reading(repo, command) as opened, opened.lock(wait=wait):
        yield opened


def init(path: PathLike | None = None, *, no_git: bool = False) -> InitResult:
    return init_repository(_start(path), no_git=no_git)


def add(
    paths: list[str], *, repo: PathLike | None = None, wait: float | None = None, progress: Progress = NULL_PROGRESS,
    command: str = "mlx add",
) -> AddResult:
    with _writing(repo, command, wait) as opened:
        from mlxkit.tracking.add import add as _add

        return _add(opened, paths, cwd=_cwd(repo), progress=progress)


def status(
    targets: list[str] | None = None, *, repo: PathLike | None = None, progress: Progress = NULL_PROGRESS
) -> StatusReport:
    with _reading(repo, "mlx status") as opened:
        from mlxkit.tracking.status import status as _status

        return _status(opened, targets, cwd=_cwd(repo), progress=progress)


def checkout(
    targets: list[str] | None = None, *, force: bool = False, relink: bool = False, repo: PathLike | None = None,
    wait: float | None = None, progress: Progress = NULL_PROGRESS, command: str = "mlx checkout",
) -> CheckoutResult:
    with _writing(repo, command, wait) as opened:
        from mlxkit.tracking.checkout import checkout as _checkout

        return _checkout(opened, targets, force=force, relink=relink, cwd=_cwd(repo), progress=progress)


def remove(
    targets: list[str], *, outs: bool = False, force: bool = False, repo: PathLike | None = None,
    wait: float | None = None, command: str = "mlx remove",
) -> RemoveResult:
    with _writing(repo, command, wait) as opened:
        from mlxkit.tracking.remove import remove as _remove

        return _remove(opened, targets, outs=outs, force=force, cwd=_cwd(repo))


def move(
    source: str, destination: str, *, repo: PathLike | None = None, wait: float | None = None, command: str = "mlx move"
) -> MoveResult:
    with _writing(repo, command, wait) as opened:
        from mlxkit.tracking.move import move as _move

        return _move(opened, source, destination, cwd=_cwd(repo))


def gc(
    *, dry_run: bool = False, scope: Scope | None = None, projects: Sequence[PathLike] = (), repo: PathLike | None = None,
    wait: float | None = None, progress: Progress = NULL_PROGRESS, command: str = "mlx gc",
) -> GcResult:
    """Delete cache objects that neither the workspace nor `scope` (a part of git's history)
    references, nor the workspace (and the same part of history) of any of `projects`: other
    repositories that share this one's cache through `cache.dir`, each locked while gc runs."""
    with _writing(repo, command, wait) as opened, ExitStack() as stack:
        from mlxkit.tracking.gc import gc as _gc
        from mlxkit.tracking.history import WORKSPACE

        sharing = _sharing_projects(opened, projects, command, wait, stack)
        return _gc(opened, dry_run=dry_run, scope=scope or WORKSPACE, progress=progress, sharing=sharing)


def _sharing_projects(
    opened: Repository, projects: Sequence[PathLike], command: str, wait: float | None, stack: ExitStack
) -> list[Repository]:
    """Each project of `projects` (once, this one aside), opened and locked; UsageError for one
    whose cache is another."""
    sharing: dict[Path, Repository] = {}
    for given in projects:
        try:
            other = stack.enter_context(_reading(given, command))
        except NotARepositoryError as exc:
            exc.hint = "--projects names the folders of other mlx projects that share this cache"
            raise
        root = other.root.resolve()
        if root == opened.root.resolve() or root in sharing:
            continue
        if not _same_directory(other.cache_dir, opened.cache_dir):
            raise UsageError(
                f"'{given}' keeps its objects in '{other.cache_dir}', not in this project's cache '{opened.cache_dir}'",
                hint="--projects names the projects that share this cache (their cache.dir)",
            )
        stack.enter_context(other.lock(wait=wait))
        sharing[root] = other
    return list(sharing.values())


def _same_directory(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def gc_cloud(
    remote: str | None, scope: Scope, *, dry_run: bool = False, force: bool = False, repo: PathLike | None = None,
    progress: Progress = NULL_PROGRESS,
) -> CloudGcResult:
    """Delete from `remote` what nothing in `scope` (which must include every commit) references."""
    from mlxkit.tracking.gc_cloud import gc_cloud as _gc_cloud

    with _reading(repo, "mlx gc --cloud") as opened:
        return _gc_cloud(opened, remote, scope, dry_run=dry_run, force=force, progress=progress)


def fsck(
    *, repair: bool = False, repo: PathLike | None = None, wait: float | None = None,
    progress: Progress = NULL_PROGRESS, command: str = "mlx fsck",
) -> FsckResult:
    from mlxkit.tracking.fsck import fsck as _fsck

    if repair:
        with _writing(repo, command, wait) as opened:
            return _fsck(opened, repair=True, progress=progress)
    with _reading(repo, command) as opened:
        return _fsck(opened, progress=progress)


def fsck_remote(
    remote: str | None = None, *, read_data: bool = False, repair: bool = False, force: bool = False,
    repo: PathLike | None = None, progress: Progress = NULL_PROGRESS,
) -> RemoteFsckResult:
    """Check a remote's indexes and packs; with `read_data`, re-hash every object on it and find the
    trees listing an object it lost. `repair` (which reads the data) holds the remote exclusively,
    writes back the damaged indexes this clone has a good copy of, and removes what is damaged
    (objects, missing or truncated packs from the indexes, other unreadable indexes) and every tree
    listing a lost object, for a push to send them again; `force` breaks a stale lock."""
    from mlxkit.tracking.fsck_remote import fsck_remote as _fsck_remote

    command = "mlx fsck --remote --repair" if repair else "mlx fsck --remote"
    with _reading(repo, command) as opened:
        return _fsck_remote(opened, remote, read_data=read_data, repair=repair, force=force, progress=progress)


def unprotect(
    paths: list[str], *, repo: PathLike | None = None, wait: float | None = None, command: str = "mlx unprotect"
) -> UnprotectResult:
    with _writing(repo, command, wait) as opened:
        from mlxkit.tracking.unprotect import unprotect as _unprotect

        return _unprotect(opened, paths, cwd=_cwd(repo))


def cloud_status(
    targets: list[str] | None = None, *, remote: str | None = None, scope: Scope | None = None,
    repo: PathLike | None = None,
) -> CloudStatusReport:
    """Which objects of the workspace (and `scope`) are missing from the cache and from `remote`."""
    from mlxkit.tracking.cloudstatus import cloud_status as _cloud_status
    from mlxkit.tracking.history import WORKSPACE

    with _reading(repo, "mlx status --cloud") as opened:
        return _cloud_status(opened, remote, targets, scope=scope or WORKSPACE, cwd=_cwd(repo))


def push(
    targets: list[str] | None = None, *, remote: str | None = None, scope: Scope | None = None, jobs: int | None = None,
    run_cache: bool = False, repo: PathLike | None = None, progress: Progress = NULL_PROGRESS, command: str = "mlx push",
) -> PushResult:
    """Send what the workspace (and `scope`) references to `remote` (default: core.remote); with
    `run_cache`, the run cache's entries too, after the outputs they name."""
    from dataclasses import replace

    from mlxkit.tracking.history import WORKSPACE
    from mlxkit.tracking.push import push as _push

    with _reading(repo, command) as opened:
        extra, problems = _run_cache_roots(opened) if run_cache else ([], [])
        result = _push(
            opened, remote, targets, scope=scope or WORKSPACE, jobs=jobs, cwd=_cwd(repo), progress=progress, extra_roots=extra
        )
        if not run_cache:
            return result
        from mlxkit.pipeline.runcache_remote import push_entries
        from mlxkit.tracking.connect import connect

        sent = push_entries(opened, connect(opened, remote), result.missing)
        return replace(result, run_cache_entries=sent, warnings=[*result.warnings, *problems])


def _run_cache_roots(opened: Repository) -> tuple[list[Root], list[str]]:
    from mlxkit.pipeline.runcache_remote import entry_roots

    return entry_roots(opened)


def fetch(
    targets: list[str] | None = None, *, remote: str | None = None, scope: Scope | None = None, jobs: int | None = None,
    run_cache: bool = False, repo: PathLike | None = None, wait: float | None = None, progress: Progress = NULL_PROGRESS,
    command: str = "mlx fetch",
) -> FetchResult:
    """Bring what the workspace (and `scope`) references from `remote` into the cache; with
    `run_cache`, the remote's run-cache entries and the outputs they name too."""
    with _writing(repo, command, wait) as opened:
        return _fetch_into(opened, targets, remote, scope, jobs, run_cache, _cwd(repo), progress)


def _fetch_into(
    opened: Repository, targets: list[str] | None, remote: str | None, scope: Scope | None, jobs: int | None,
    run_cache: bool, cwd: Path | None, progress: Progress, durable: bool = True,
) -> FetchResult:
    from dataclasses import replace

    from mlxkit.tracking.fetch import fetch as _fetch
    from mlxkit.tracking.history import WORKSPACE

    if not run_cache:
        return _fetch(opened, remote, targets, scope=scope or WORKSPACE, jobs=jobs, cwd=cwd, progress=progress, durable=durable)
    from mlxkit.pipeline.runcache_remote import fetch_entries
    from mlxkit.tracking.connect import connect

    entries = fetch_entries(opened, connect(opened, remote, jobs=jobs))
    extra, problems = _run_cache_roots(opened)
    result = _fetch(
        opened, remote, targets, scope=scope or WORKSPACE, jobs=jobs, cwd=cwd, progress=progress, extra_roots=extra,
        durable=durable,
    )
    return replace(result, run_cache_entries=entries.entries, warnings=[*result.warnings, *entries.problems, *problems])


def pull(
    targets: list[str] | None = None, *, remote: str | None = None, scope: Scope | None = None, jobs: int | None = None,
    run_cache: bool = False, force: bool = False, repo: PathLike | None = None, wait: float | None = None,
    progress: Progress = NULL_PROGRESS, command: str = "mlx pull",
) -> PullResult:
    """fetch, then check out the tracked paths and the stage outputs of mlx.lock (below `targets`)."""
    from mlxkit.parallel import in_background
    from mlxkit.pipeline import PIPELINE_FILE
    from mlxkit.tracking.pull import PullResult, checkout_fetched
    from mlxkit.tracking.wanted import target_paths

    with _writing(repo, command, wait) as opened:
        fetched = _fetch_into(opened, targets, remote, scope, jobs, run_cache, _cwd(repo), progress, durable=False)
        within = target_paths(opened, targets, _cwd(repo))
        # the fetched objects reach the disk while the checkout works (a syncfs waits on the kernel)
        with in_background(opened.objects_barrier() if fetched.fetched else lambda: None):
            tracked = checkout_fetched(opened, within, force=force, progress=progress)
            outputs = None
            if os.path.lexists(opened.root / PIPELINE_FILE):  # the pipeline costs 20 ms to import
                from mlxkit.pipeline.outputs import checkout_recorded

                outputs = checkout_recorded(opened, within, force=force, progress=progress)
        return PullResult(fetched, tracked, outputs)


def config_get(key: str, *, repo: PathLike | None = None) -> Any:
    from mlxkit.repo import config as _config

    _config.check_key(key)
    with _reading(repo, "mlx config") as opened:
        return opened.config.get(key)


def config_list(*, repo: PathLike | None = None) -> list[tuple[str, Any, str]]:
    with _reading(repo, "mlx config") as opened:
        return opened.config.items()


def config_set(
    key: str, value: str | None, *, local: bool = False, repo: PathLike | None = None, wait: float | None = None
) -> None:
    """Set `key` from its text form (`cache.type` takes `hardlink,copy`); None unsets it."""
    from mlxkit.repo import config as _config

    _config.check_key(key)
    with _writing(repo, "mlx config", wait) as opened:
        parsed = None if value is None else _config.parse_value(key, value)
        _config.set_value(opened.mlx_dir, key, parsed, local=local)


def _locate(repo: PathLike | None) -> Path | None:
    from mlxkit.errors import NotARepositoryError
    from mlxkit.repo.repository import locate_root

    try:
        return locate_root(_start(repo))
    except NotARepositoryError:
        return None


def doctor(*, repo: PathLike | None = None) -> DoctorReport:
    from mlxkit.errors import MlxError, NotARepositoryError
    from mlxkit.repo.doctor import doctor as _doctor

    problems = []
    try:
        opened: Repository | None = find_repository(_start(repo))
    except NotARepositoryError:
        opened = None
    except MlxError as exc:  # a broken configuration is when doctor is needed most
        opened = None
        problems.append(exc.message)
    try:
        return _doctor(opened, problems, root=None if opened else _locate(repo))
    finally:
        if opened is not None:
            opened.close()


def open(path: PathLike, rev: str | None = None, *, repo: PathLike | None = None) -> BinaryIO:  # noqa: A001
    """A binary file object with a tracked file's content, as the workspace's pointers (or `rev`'s) name it."""
    with _reading(repo, "mlx api.open") as opened:
        from mlxkit.tracking.read import open_tracked

        return open_tracked(opened, RepoPath.from_user(opened.root, path, _cwd(repo)), rev)


def read(path: PathLike, rev: str | None = None, *, repo: PathLike | None = None) -> bytes:
    """A tracked file's bytes, verified against their hash."""
    with _reading(repo, "mlx api.read") as opened:
        from mlxkit.tracking.read import read_tracked

        return read_tracked(opened, RepoPath.from_user(opened.root, path, _cwd(repo)), rev)


# -- the pipeline ----------------------------------------------------------------------------------


def run(
    options: RunOptions | None = None, *, params: list[str] | None = None, environ: Mapping[str, str] | None = None,
    on_event: OnEvent | None = None, repo: PathLike | None = None, wait: float | None = None, command: str = "mlx run",
) -> RunReport:
    """Run the stages that are out of date (`RunOptions` says which and how); `params` are `-S key=value`
    assignments written to the params files first. Stage commands see `environ` (default: os.environ)."""
    from mlxkit.pipeline.run import run as _run
    from mlxkit.pipeline.runner import RunOptions, ignore_event

    with _writing(repo, command, wait) as opened:
        return _run(
            opened, options or RunOptions(), os.environ if environ is None else environ, assignments=params,
            command=command, on_event=on_event or ignore_event,
        )


def pipeline_status(
    targets: list[str] | None = None, *, as_committed: bool = False, environ: Mapping[str, str] | None = None,
    missing_ok: bool = False, repo: PathLike | None = None,
) -> PipelineReport | None:
    """Stages that are out of date, with reasons. `as_committed` judges mlx.lock as `repro --frozen` does.
    Without mlx.yaml: None with `missing_ok`, else a PipelineError."""
    from mlxkit.pipeline import PIPELINE_FILE

    with _reading(repo, "mlx status") as opened:
        if missing_ok and not (opened.root / PIPELINE_FILE).is_file():
            return None  # before loading the pipeline's modules: `mlx status` of a project without one
        from mlxkit.pipeline.status import pipeline_status as _pipeline_status

        return _pipeline_status(opened, os.environ if environ is None else environ, targets, as_committed=as_committed)


def dag(targets: list[str] | None = None, *, style: str = "text", repo: PathLike | None = None) -> str:
    """The stage graph drawn as text: `text` (box-drawing), `ascii`, `mermaid` or `dot`."""
    from mlxkit.pipeline.dag import render
    from mlxkit.pipeline.select import load_graph, stage_names

    with _reading(repo, "mlx dag") as opened:
        graph = load_graph(opened)
        return render(graph, style, stage_names(graph.pipeline, targets) if targets else None)  # type: ignore[arg-type]


def stages(*, repo: PathLike | None = None) -> list[Stage]:
    """Every stage of mlx.yaml (foreach and matrix items expanded), in graph order."""
    from mlxkit.pipeline.select import load_graph

    with _reading(repo, "mlx stage list") as opened:
        graph = load_graph(opened)
        return [graph.stages[name] for name in graph.order()]


def stage_add(
    name: str, cmd: str, *, deps: list[str] | None = None, outs: list[str] | None = None,
    outs_no_cache: list[str] | None = None, params: list[str] | None = None, metrics: list[str] | None = None,
    plots: list[str] | None = None, wdir: str | None = None, force: bool = False, repo: PathLike | None = None,
    wait: float | None = None,
) -> AddStageResult:
    """Append a stage to mlx.yaml (creating it), keeping the file's comments and layout."""
    from mlxkit.pipeline.edit import add_stage

    with _writing(repo, "mlx stage add", wait) as opened:
        return add_stage(
            opened.root, name, cmd, deps=deps or (), outs=outs or (), params=params or (), metrics=metrics or (),
            plots=plots or (), outs_no_cache=outs_no_cache or (), wdir=wdir, force=force,
        )


def freeze(name: str, frozen: bool = True, *, repo: PathLike | None = None, wait: float | None = None) -> FreezeResult:
    """Set (or clear) `frozen` on a stage: a frozen stage is never run, nor checked."""
    from mlxkit.pipeline.edit import set_frozen

    with _writing(repo, "mlx freeze" if frozen else "mlx unfreeze", wait) as opened:
        return set_frozen(opened.root, name, frozen)


# -- remotes ---------------------------------------------------------------------------------------

def remote_add(
    name: str, url: str, *, default: bool = False, local: bool = False, force: bool = False,
    repo: PathLike | None = None, wait: float | None = None,
) -> AddRemoteResult:
    """Define a remote (in config.local.yaml with `local`; `default` also makes it core.remote)."""
    from mlxkit.repo.remotes import add_remote

    with _writing(repo, "mlx remote add", wait) as opened:
        return add_remote(opened.mlx_dir, name, url, local=local, default=default, force=force)


def remote_list(*, repo: PathLike | None = None) -> list[RemoteSettings]:
    """Every remote, sorted by name; `options` may hold credentials (`public_options()` masks them)."""
    from mlxkit.repo.remotes import list_remotes

    with _reading(repo, "mlx remote list") as opened:
        return list_remotes(opened.config)


def remote_remove(name: str, *, repo: PathLike | None = None, wait: float | None = None) -> RemoveRemoteResult:
    """Forget a remote (both config files, the default if it was, `.mlx/remotes/NAME/`); the remote's data stays."""
    from mlxkit.repo.remotes import remove_remote

    with _writing(repo, "mlx remote remove", wait) as opened:
        return remove_remote(opened.mlx_dir, name)


def remote_modify(
    name: str, key: str, value: str | None = None, *, local: bool = False, unset: bool = False,
    repo: PathLike | None = None, wait: float | None = None,
) -> None:
    """Set one option of a remote from its text form (`jobs` takes `8`), or remove it with `unset`."""
    from mlxkit.repo.remotes import modify_remote

    with _writing(repo, "mlx remote modify", wait) as opened:
        modify_remote(opened.mlx_dir, name, key, value, local=local, unset=unset)


def remote_default(
    name: str | None = None, *, local: bool = False, repo: PathLike | None = None, wait: float | None = None
) -> str:
    """Make `name` the default remote and return it; without `name`, the default remote's name."""
    from mlxkit.repo.remotes import default_remote_name, set_default

    if name is None:
        with _reading(repo, "mlx remote default") as opened:
            return default_remote_name(opened.config)
    with _writing(repo, "mlx remote default", wait) as opened:
        set_default(opened.mlx_dir, name, local=local)
        return name


def remote_rename(old: str, new: str, *, repo: PathLike | None = None, wait: float | None = None) -> None:
    from mlxkit.repo.remotes import rename_remote

    with _writing(repo, "mlx remote rename", wait) as opened:
        rename_remote(opened.mlx_dir, old, new)


# -- metrics and params across revisions ----------------------------------------------------------


def metrics_show(
    targets: list[str] | None = None, *, revs: list[str] | None = None, scope: Scope | None = None,
    all_rows: bool = False, repo: PathLike | None = None,
) -> MetricsShow:
    """Metrics of the workspace (or of `revs`, 'workspace' naming the files on disk) and of the
    commits `scope` adds; `targets` instead of the pipeline's metrics files. A file that cannot be
    read at one revision is a problem of that revision, not an error."""
    with _reading(repo, "mlx metrics show") as opened:
        from mlxkit.compare.metrics import show_metrics
        from mlxkit.tracking.history import WORKSPACE

        return show_metrics(opened, targets, revs=revs, scope=scope or WORKSPACE, all_rows=all_rows, cwd=_cwd(repo))


def metrics_diff(
    old: str | None = None, new: str | None = None, *, targets: list[str] | None = None, all: bool = False,  # noqa: A002
    all_rows: bool = False, repo: PathLike | None = None,
) -> MetricsDiff:
    """Metrics that changed from `old` (default HEAD) to `new` (default the workspace); every metric with `all`."""
    with _reading(repo, "mlx metrics diff") as opened:
        from mlxkit.compare.metrics import diff_metrics

        return diff_metrics(opened, old, new, targets=targets, all=all, all_rows=all_rows, cwd=_cwd(repo))


def params_diff(
    old: str | None = None, new: str | None = None, *, all: bool = False, repo: PathLike | None = None  # noqa: A002
) -> ParamsDiff:
    """Params that changed from `old` (default HEAD) to `new` (default the workspace); every param with `all`."""
    with _reading(repo, "mlx params diff") as opened:
        from mlxkit.compare.params import diff_params

        return diff_params(opened, old, new, all=all)


def diff(
    a: str | None = None, b: str | None = None, *, targets: list[str] | None = None, repo: PathLike | None = None,
    progress: Progress = NULL_PROGRESS,
) -> DiffReport:
    """Tracked files added, modified, deleted or renamed from `a` (default HEAD) to `b` (default the
    workspace: the files on disk now, read through the stat cache)."""
    with _reading(repo, "mlx diff") as opened:
        from mlxkit.compare.diff import diff as _diff

        return _diff(opened, a, b, targets=targets, cwd=_cwd(repo), progress=progress)


# -- git integration -------------------------------------------------------------------------------


def install(*, uninstall: bool = False, repo: PathLike | None = None) -> InstallResult:
    """Add git hooks (post-checkout, pre-commit, pre-push) beside the user's own, the mlx.lock merge driver
    and its .gitattributes line; `uninstall` removes exactly what this added (docs/hooks.md)."""
    with _writing(repo, "mlx install --uninstall" if uninstall else "mlx install", None) as opened:
        from mlxkit.repo.hooks import install as _install

        return _install(opened, uninstall=uninstall)


def merge_lock(base: PathLike, ours: PathLike, theirs: PathLike, *, name: str = "mlx.lock") -> MergeDriverResult:
    """git's merge driver for mlx.lock: merge the three files stage by stage into `ours` (a conflicting stage
    between conflict markers); `ours` is left as it was when a file is not a lockfile. Needs no repository."""
    from mlxkit.pipeline.lockmerge import merge_lock_files

    return merge_lock_files(Path(base), Path(ours), Path(theirs), name=name)


# -- plots -----------------------------------------------------------------------------------------


def plots_show(
    targets: list[str] | None = None, *, out: PathLike = "mlx_plots", image_format: str = "png", repo: PathLike | None = None
) -> PlotsReport:
    """Draw the workspace's plots files (mlx.yaml's plots, or `targets`) into `out` (relative paths:
    as for targets): an image per file (png or svg) and index.html, a report that opens offline."""
    with _reading(repo, "mlx plots show") as opened:
        from mlxkit.compare.render_plots import plots_report
        from mlxkit.compare.revisions import WORKSPACE

        return plots_report(opened, [WORKSPACE], targets, out, image_format, cwd=_cwd(repo))


def plots_diff(
    revs: list[str] | None = None, *, targets: list[str] | None = None, out: PathLike = "mlx_plots", image_format: str = "png",
    repo: PathLike | None = None,
) -> PlotsReport:
    """Draw the plots files of several revisions overlaid: HEAD and the workspace without `revs`, one
    revision and the workspace, or the revisions given ('workspace' names the files on disk)."""
    with _reading(repo, "mlx plots diff") as opened:
        from mlxkit.compare.plots import compared_revisions
        from mlxkit.compare.render_plots import plots_report

        return plots_report(opened, compared_revisions(revs), targets, out, image_format, cwd=_cwd(repo))

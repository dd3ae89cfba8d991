"""mlx run: what runs and why, what mlx.lock records, failures, the run cache and run records."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml

from ._helpers import b3, mode_of

# A three-stage chain. Every command appends its stage's name to ../log (outside the repository), so
# a test can tell exactly which commands ran.
CHAIN = """\
stages:
  prepare:
    cmd: cp raw.txt prepared.txt && echo prepare >> ../log
    deps: [raw.txt]
    outs: [prepared.txt]
  train:
    cmd: cat prepared.txt params.yaml > model.txt && echo train >> ../log
    deps: [prepared.txt]
    params: [train.lr]
    outs: [model.txt]
  evaluate:
    cmd: "wc -c < model.txt > metrics.txt && echo evaluate >> ../log"
    deps: [model.txt]
    metrics: [metrics.txt]
"""


@pytest.fixture
def chain(repo):
    repo.gen({"mlx.yaml": CHAIN, "params.yaml": "train:\n  lr: 0.1\n  epochs: 3\n", "raw.txt": "raw data\n"}, old=True)
    return repo


def ran(repo) -> list[str]:
    """The stages whose commands ran since the last call."""
    log = repo.path.parent / "log"
    names = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return names


def lock(repo) -> dict:
    return yaml.safe_load((repo / "mlx.lock").read_text())


def test_run_executes_stages_in_order_and_pins_them_in_the_lockfile(chain, mlx):
    result = mlx("run")

    assert result.code == 0, result
    assert ran(chain) == ["prepare", "train", "evaluate"]
    entry = lock(chain)["stages"]["prepare"]
    assert entry["cmd"] == "cp raw.txt prepared.txt && echo prepare >> ../log"
    assert entry["deps"] == [{"path": "raw.txt", "hash": b3("raw data\n"), "size": 9}]
    assert entry["outs"] == [{"path": "prepared.txt", "hash": b3("raw data\n"), "size": 9}]
    assert lock(chain)["stages"]["train"]["params"] == {"params.yaml": {"train.lr": 0.1}}
    assert b3("raw data\n").removeprefix("blake3:") in chain.objects()
    assert "/prepared.txt" in (chain / ".gitignore").read_text().split("\n")
    assert "/metrics.txt" not in (chain / ".gitignore").read_text().split("\n")  # metrics stay in git


def test_second_run_runs_nothing_and_says_so(chain, mlx):
    mlx("run")
    ran(chain)

    result = mlx("run")

    assert (result.code, result.out) == (0, "Everything is up to date (3 stages).\n"), result
    assert ran(chain) == []


def test_changed_param_reruns_the_stage_and_what_follows(chain, mlx):
    mlx("run")
    ran(chain)
    chain.gen({"params.yaml": "train:\n  lr: 0.2\n  epochs: 3\n"})

    dry = mlx("run", "--dry")
    assert "'train' would run: param 'train.lr' changed (0.1 -> 0.2)" in dry.out, dry
    assert ran(chain) == []

    assert mlx("run").code == 0
    assert ran(chain) == ["train", "evaluate"]


def test_param_not_listed_by_the_stage_changes_nothing(chain, mlx):
    mlx("run")
    ran(chain)
    chain.gen({"params.yaml": "train:\n  lr: 0.1\n  epochs: 4\n"})

    assert mlx("run").code == 0
    assert ran(chain) == []


def test_downstream_stage_is_skipped_when_upstream_output_is_unchanged(chain, mlx):
    mlx("run")
    ran(chain)
    chain.gen({"mlx.yaml": CHAIN.replace("cp raw.txt prepared.txt", "cat raw.txt > prepared.txt")})

    assert mlx("run").code == 0
    assert ran(chain) == ["prepare"]  # same prepared.txt: train and evaluate are still up to date


def test_set_param_writes_params_file_then_runs(chain, mlx):
    mlx("run")
    ran(chain)

    result = mlx("run", "-S", "train.lr=0.5")

    assert result.code == 0, result
    assert "lr: 0.5" in (chain / "params.yaml").read_text()
    assert ran(chain) == ["train", "evaluate"]
    assert lock(chain)["stages"]["train"]["params"] == {"params.yaml": {"train.lr": 0.5}}


def test_failing_stage_stops_downstream_and_keeps_completed_stages_in_lock(chain, mlx):
    chain.gen({"mlx.yaml": CHAIN.replace("cat prepared.txt params.yaml > model.txt", "echo oops; exit 3")})

    result = mlx("run")

    assert result.code == 31, result
    assert "mlx: 'train' failed: 'echo oops; exit 3 && echo train >> ../log' exited with status 3" in result.err
    assert "  oops" in result.err_lines  # the tail of its output
    assert "Traceback" not in result.err
    assert list(lock(chain)["stages"]) == ["prepare"]
    assert ran(chain) == ["prepare"]


def test_keep_going_finishes_independent_stages(repo, mlx):
    repo.gen({"mlx.yaml": """\
stages:
  bad:
    cmd: exit 1
    outs: [a.txt]
  after_bad:
    cmd: cp a.txt b.txt
    deps: [a.txt]
    outs: [b.txt]
  good:
    cmd: echo good > c.txt
    outs: [c.txt]
"""})

    result = mlx("run", "--keep-going", "--json")

    assert result.code == 31
    states = {o["name"]: o["state"] for o in json.loads(result.out)["stages"]}
    assert states == {"bad": "failed", "after_bad": "skipped", "good": "ran"}
    assert list(lock(repo)["stages"]) == ["good"]


def test_declared_output_not_produced_is_an_error(repo, mlx):
    repo.gen({"mlx.yaml": "stages:\n  s:\n    cmd: 'true'\n    outs: [never.txt]\n"})

    result = mlx("run")

    assert result.code == 31
    assert "'s' failed: stage 's' did not produce its output 'never.txt'" in result.err
    assert not (repo / "mlx.lock").exists()


def test_deleted_outputs_are_restored_from_the_cache_not_recomputed(chain, mlx):
    mlx("run")
    ran(chain)
    (chain / "model.txt").unlink()

    result = mlx("run")

    assert result.code == 0, result
    assert "'train' outputs restored from mlx.lock" in result.out, result
    assert ran(chain) == []
    assert (chain / "model.txt").read_text().startswith("raw data\n")


def test_run_cache_restores_outputs_of_a_fingerprint_seen_before(chain, mlx):
    mlx("run")
    chain.gen({"params.yaml": "train:\n  lr: 0.2\n  epochs: 3\n"})
    mlx("run")
    ran(chain)
    chain.gen({"params.yaml": "train:\n  lr: 0.1\n  epochs: 3\n"})

    result = mlx("run")

    assert result.code == 0, result
    assert "restored from the run cache" in result.out
    assert ran(chain) == []
    assert "lr: 0.1" in (chain / "model.txt").read_text()

    chain.gen({"params.yaml": "train:\n  lr: 0.2\n  epochs: 3\n"})
    assert mlx("run", "--no-run-cache").code == 0
    assert ran(chain) == ["train", "evaluate"]


def test_force_single_item_and_downstream_choose_the_stages(chain, mlx):
    mlx("run")
    ran(chain)

    assert mlx("run", "--force", "train", "-s").code == 0
    assert ran(chain) == ["train"]
    assert mlx("run", "--force", "train").code == 0
    assert ran(chain) == ["prepare", "train"]
    assert mlx("run", "--force", "train", "--downstream").code == 0
    assert ran(chain) == ["train", "evaluate"]


def test_unknown_stage_is_a_usage_error_with_a_suggestion(chain, mlx):
    mlx("run", "trian").expect_error(2, "there is no stage 'trian' in mlx.yaml", "did you mean 'train'?")


def test_frozen_stage_is_not_run(chain, mlx):
    chain.gen({"mlx.yaml": CHAIN.replace("  train:\n", "  train:\n    frozen: true\n")})

    result = mlx("run", "--json")

    states = {o["name"]: o["state"] for o in json.loads(result.out)["stages"]}
    assert states["train"] == "frozen"


def test_interpolated_params_are_arguments_never_commands(repo, mlx):
    repo.gen({
        "params.yaml": "name: 'x; touch PWNED'\n",
        "mlx.yaml": "stages:\n  s:\n    cmd: printf '%s' ${name} > out.txt\n    params: [name]\n    outs: [out.txt]\n",
    })

    result = mlx("run")

    assert result.code == 0, result
    assert not (repo / "PWNED").exists()
    assert (repo / "out.txt").read_text() == "x; touch PWNED"


def test_environment_variables_are_inputs_recorded_by_digest(repo, mlx, monkeypatch):
    repo.gen({"mlx.yaml": "stages:\n  s:\n    cmd: echo $MODE > out.txt\n    env: [MODE]\n    outs: [out.txt]\n"})
    monkeypatch.setenv("MODE", "secret-value")
    assert mlx("run").code == 0

    text = (repo / "mlx.lock").read_text()
    assert "secret-value" not in text
    assert lock(repo)["stages"]["s"]["env"] == {"MODE": b3("secret-value")}
    monkeypatch.setenv("MODE", "other")
    assert "environment variable 'MODE' changed" in mlx("run", "--dry").out


def test_wdir_is_the_working_directory_and_paths_are_relative_to_it(repo, mlx):
    repo.gen({"sub": {"in.txt": "in\n"}, "mlx.yaml": "stages:\n  s:\n    cmd: cp in.txt out.txt\n    wdir: sub\n    deps: [in.txt]\n    outs: [out.txt]\n"})

    assert mlx("run").code == 0
    assert (repo / "sub" / "out.txt").read_text() == "in\n"
    assert lock(repo)["stages"]["s"]["outs"][0]["path"] == "sub/out.txt"


def test_a_cycle_is_refused_before_anything_runs(repo, mlx):
    repo.gen({"mlx.yaml": """\
stages:
  a:
    cmd: touch ../ran-a; cp b a
    deps: [b]
    outs: [a]
  b:
    cmd: touch ../ran-b; cp a b
    deps: [a]
    outs: [b]
"""})

    result = mlx("run")

    assert result.code == 30, result
    assert "a → b → a" in result.err
    assert not (repo.path.parent / "ran-a").exists() and not (repo.path.parent / "ran-b").exists()


def test_parallel_stages_prefix_their_output(repo, mlx):
    repo.gen({"mlx.yaml": "stages:\n  one:\n    cmd: echo hello-one > 1.txt; echo said-one\n    outs: [1.txt]\n"
              "  two:\n    cmd: echo hello-two > 2.txt; echo said-two\n    outs: [2.txt]\n"})  # fmt: skip

    result = mlx("run", "-j", "2")

    assert result.code == 0, result
    assert "one | said-one" in result.out and "two | said-two" in result.out


def test_each_run_that_did_something_is_recorded(chain, mlx):
    mlx("run")
    mlx("run")  # nothing to do: no record

    records = sorted((chain / ".mlx" / "runs").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "completed"
    assert record["stages_run"] == ["prepare", "train", "evaluate"]
    assert record["params"]["params.yaml"]["train.lr"] == 0.1
    assert record["lock_digest"] == b3((chain / "mlx.lock").read_bytes())


def test_status_shows_stale_stages_with_reasons(chain, mlx):
    mlx("run")
    chain.gen({"raw.txt": "new raw\n"})

    result = mlx("status", "--json")

    stale = {s["name"]: s["reasons"] for s in result.json["pipeline"]["stages"] if s["state"] == "stale"}
    assert stale == {
        "prepare": ["dep 'raw.txt' changed"],
        "train": ["upstream stage 'prepare' is stale"],
        "evaluate": ["upstream stage 'train' is stale"],
    }
    assert mlx("status", "--exit-code").code == 1
    text = mlx("status").out
    assert "stale stage 'prepare':\n    dep 'raw.txt' changed\n" in text


def test_lock_is_written_after_each_stage_not_at_the_end(chain, mlx):
    chain.gen({"mlx.yaml": CHAIN.replace("wc -c < model.txt > metrics.txt", "test -s mlx.lock && grep -q train mlx.lock && wc -c < model.txt > metrics.txt")})

    assert mlx("run").code == 0, "evaluate saw train's entry in mlx.lock while it ran"


def test_output_existing_before_the_first_run_is_kept_in_the_cache(repo, mlx):
    repo.gen({"out.txt": "hand-made\n", "mlx.yaml": "stages:\n  s:\n    cmd: echo generated > out.txt\n    outs: [out.txt]\n"})

    assert mlx("run").code == 0
    assert b3("hand-made\n").removeprefix("blake3:") in repo.objects()
    assert (repo / "out.txt").read_text() == "generated\n"


def test_hardlinked_outputs_are_read_only(chain, mlx):
    assert mlx("config", "cache.type", "hardlink").code == 0
    assert mlx("run").code == 0
    assert os.stat(chain / "model.txt").st_nlink == 2
    assert mode_of(chain / "model.txt") & 0o222 == 0


def test_a_changed_param_mapping_is_reported_key_by_key(repo, mlx):
    repo.gen({"params.yaml": "train:\n  lr: 0.1\n  depth: 3\n",
              "mlx.yaml": "stages:\n  s:\n    cmd: cat params.yaml > out.txt\n    params: [train]\n    outs: [out.txt]\n"})  # fmt: skip
    assert mlx("run").code == 0
    repo.gen({"params.yaml": "train:\n  lr: 0.2\n  depth: 3\n  seed: 1\n"})

    assert mlx("run", "--dry").out == "'s' would run: param 'train.lr' changed (0.1 -> 0.2); param 'train.seed' added\n"


def test_a_param_missing_from_its_file_is_named_before_anything_runs(chain, mlx):
    chain.gen({"params.yaml": "train:\n  rate: 0.1\n"})

    result = mlx("run")

    result.expect_error(30, "stage 'train' uses the param 'train.lr', which 'params.yaml' does not define", "did you mean 'train.rate'?")
    assert ran(chain) == []


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("stages:\n  a:\n    cmd: x\n    outz: [o]\n", 12, "invalid file 'mlx.yaml:4': at 'stages.a': unknown key 'outz'"),
        ("stages:\n  a:\n    cmd: x\n    outs: [../o]\n", 14, "unsafe path '../o' in 'mlx.yaml:4' at 'stages.a.outs.0'"),
        ("stages:\n  a:\n    cmd: x\n    outs: [o]\n  b:\n    cmd: y\n    outs: [o]\n", 30, "'o' is an output of both 'a' (mlx.yaml:2) and 'b' (mlx.yaml:5)"),
        ("stages:\n  a: &x\n    cmd: x\n  b: *x\n", 12, "invalid file 'mlx.yaml:2': anchors ('&name') are not allowed"),
        ("stages:\n  a:\n    cmd: echo ${nope}\n", 12, "invalid file 'mlx.yaml:3': at 'stages.a.cmd': '${nope}' is not defined"),
    ],
    ids=["unknown key", "path outside", "two writers", "anchor", "undefined variable"],
)
def test_definition_errors_exit_before_any_stage_runs(repo, mlx, text, code, message):
    repo.gen({"mlx.yaml": text})

    result = mlx("run")

    assert result.code == code, result
    assert result.err_lines[0].startswith(f"mlx: {message}"), result
    assert not (repo / "mlx.lock").exists()


def test_no_pipeline_says_how_to_start_one(repo, mlx):
    result = mlx("run")

    assert result.code == 30
    assert result.err_lines[1] == "hint: declare stages with 'mlx stage add -n NAME -d DEP -o OUT CMD', or write mlx.yaml (docs/pipelines.md)"


@pytest.mark.parametrize("args", [["--dry"], ["trian"]], ids=["dry", "unknown stage"])
def test_set_param_changes_nothing_when_the_run_cannot_happen(chain, mlx, args):
    before = (chain / "params.yaml").read_text()

    result = mlx("run", "-S", "train.lr=9", *args)

    assert result.code == 2, result
    assert (chain / "params.yaml").read_text() == before


def test_entries_of_removed_stages_leave_the_lockfile_even_when_nothing_runs(chain, mlx):
    assert mlx("run").code == 0
    chain.gen({"mlx.yaml": CHAIN.split("  evaluate:")[0]})

    result = mlx("run")

    assert result.code == 0, result
    assert list(lock(chain)["stages"]) == ["prepare", "train"]
    assert mlx("status", "--exit-code").code == 0


def test_a_symbolic_link_as_mlx_yaml_is_refused(repo, mlx, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("stages:\n  s:\n    cmd: touch ../PWNED\n")
    os.symlink(outside, repo / "mlx.yaml")

    result = mlx("run")

    assert result.code == 14, result
    assert not (tmp_path / "PWNED").exists()


def test_stage_list_json_gives_paths_as_text(chain, mlx):
    result = mlx("stage", "list", "--json")

    assert result.code == 0, result
    train = next(stage for stage in result.json if stage["name"] == "train")
    assert train["deps"] == ["prepared.txt"]
    assert train["outs"][0]["path"] == "model.txt"
    assert train["params"] == [{"file": "params.yaml", "keys": ["train.lr"]}]


def test_stage_add_keeps_comments_and_the_new_stage_runs(repo, mlx):
    repo.gen({"mlx.yaml": "# the pipeline\nstages:\n  a:  # makes a\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"})

    added = mlx("stage", "add", "-n", "b", "-d", "a.txt", "-o", "b.txt", "cp a.txt b.txt")

    assert added.code == 0, added
    assert (repo / "mlx.yaml").read_text().startswith("# the pipeline\nstages:\n  a:  # makes a\n")
    assert mlx("run").code == 0
    assert (repo / "b.txt").read_text() == "a\n"
    assert mlx("freeze", "b").code == 0
    assert "'b' is frozen: not run" in mlx("run", "-f").out


def test_persist_outputs_are_kept_and_always_changed_stages_always_run(repo, mlx):
    repo.gen({"mlx.yaml": """\
stages:
  grow:
    cmd: echo more >> log.txt
    outs:
    - log.txt: {persist: true}
    always_changed: true
"""})

    assert mlx("run").code == 0
    assert mlx("run").code == 0

    assert (repo / "log.txt").read_text() == "more\nmore\n"
    assert "'grow' would run: always_changed is set" in mlx("run", "--dry").out


def test_a_list_of_commands_runs_in_order_and_stops_at_the_first_failure(repo, mlx):
    repo.gen({"mlx.yaml": "stages:\n  s:\n    cmd:\n    - echo one > out.txt\n    - 'false'\n    - echo three >> out.txt\n    outs: [out.txt]\n"})

    result = mlx("run")

    assert result.code == 31
    assert "'s' failed: 'false' exited with status 1" in result.err
    assert (repo / "out.txt").read_text() == "one\n"


def test_foreach_stages_run_each_item(repo, mlx):
    repo.gen({"mlx.yaml": """\
stages:
  greet:
    foreach: [ada, bob]
    do:
      cmd: echo hello ${item} > hello-${item}.txt
      outs:
      - hello-${item}.txt
"""})

    result = mlx("run", "greet")

    assert result.code == 0, result
    assert (repo / "hello-ada.txt").read_text() == "hello ada\n"
    assert sorted(lock(repo)["stages"]) == ["greet@ada", "greet@bob"]


@pytest.mark.parametrize("tracked", ["out.txt", "data"], ids=["the out itself", "its directory"])
def test_an_output_tracked_by_a_pointer_file_is_refused_before_anything_runs(repo, mlx, tracked):
    repo.gen({"data": {"keep.txt": "k\n"}, "out.txt": "o\n"}, old=True)
    assert mlx("add", tracked).code == 0
    out = "out.txt" if tracked == "out.txt" else "data/out.txt"
    repo.gen({"mlx.yaml": f"stages:\n  s:\n    cmd: touch ../ran; echo new > {out}\n    outs: [{out}]\n"})

    result = mlx("run")

    result.expect_error(
        30, f"'{out}' is an output of stage 's' and is tracked by '{tracked}.mlx'",
        f"stop tracking it ('mlx remove {tracked}.mlx'), or take it out of the stage's outs",
    )
    assert not (repo.path.parent / "ran").exists()


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_restored_output_kept_in_git_is_a_plain_file_not_a_link_into_the_cache(repo, mlx, link):
    repo.gen({"mlx.yaml": "stages:\n  s:\n    cmd: echo 0.9 > metrics.txt; mkdir -p out; echo m > out/model.txt\n"
              "    outs: [out]\n    metrics: [metrics.txt]\n"})  # fmt: skip
    assert mlx("config", "cache.type", link).code == 0
    assert mlx("run").code == 0
    (repo / "metrics.txt").unlink()

    result = mlx("run")

    assert "'s' outputs restored from mlx.lock" in result.out, result
    info = os.lstat(repo / "metrics.txt")
    assert (stat.S_ISREG(info.st_mode), info.st_nlink, mode_of(repo / "metrics.txt") & 0o200) == (True, 1, 0o200)
    assert (repo / "metrics.txt").read_text() == "0.9\n"
    assert os.path.islink(repo / "out" / "model.txt") or os.stat(repo / "out" / "model.txt").st_nlink == 2  # cached: linked
    assert mlx("status", "--exit-code").code == 0


def test_a_missing_dep_whose_name_has_brackets_is_only_missing(repo, mlx):
    repo.gen({"in (1).txt": "x\n", "mlx.yaml": "stages:\n  s:\n    cmd: cp 'in (1).txt' out.txt\n    deps: ['in (1).txt']\n    outs: [out.txt]\n"})
    assert mlx("run").code == 0
    (repo / "in (1).txt").unlink()

    assert mlx("run", "--dry").out == "'s' would run: dep 'in (1).txt' is missing\n"


def test_a_dep_that_is_a_symbolic_link_is_named_as_such(repo, mlx, tmp_path):
    (tmp_path / "outside.txt").write_text("secret\n")
    os.symlink(tmp_path / "outside.txt", repo / "in.txt")
    repo.gen({"mlx.yaml": "stages:\n  s:\n    cmd: touch ../ran; cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n"})

    result = mlx("run")

    result.expect_error(
        31, "'s' failed: dep 'in.txt' of stage 's' holds symbolic links: 'in.txt' (mlx does not follow symbolic links: "
        "replace them with the files they point to)", "fix it and run again; completed stages are kept in mlx.lock",
    )  # fmt: skip
    assert not (repo.path.parent / "ran").exists()


def test_an_unreadable_run_cache_entry_is_a_warning_and_the_stage_runs(repo, mlx):
    repo.gen({"params.yaml": "v: 1\n", "mlx.yaml": "stages:\n  s:\n    cmd: echo ${v} > out.txt\n    params: [v]\n    outs: [out.txt]\n"})
    assert mlx("run").code == 0
    [entry] = (repo / ".mlx" / "cache" / "runs").glob("*/*.json")
    repo.gen({"params.yaml": "v: 2\n"})
    assert mlx("run").code == 0
    entry.write_text("{")
    repo.gen({"params.yaml": "v: 1\n"})

    result = mlx("run")

    assert result.code == 0, result
    assert f"warning: ignoring run-cache entry '{entry}': not valid JSON: Expecting property name enclosed in double quotes\n" in result.err
    assert "'s' ran in" in result.out


def test_the_run_record_keeps_the_command_line_as_typed_global_options_too(chain, mlx, monkeypatch):
    argv = ["-q", "run", "-S", "train.lr=0.5", "train"]
    monkeypatch.setattr("sys.argv", ["/usr/bin/mlx", *argv])

    assert mlx(*argv).code == 0

    [record] = (chain / ".mlx" / "runs").glob("*.json")
    assert json.loads(record.read_text())["command"] == "mlx -q run -S train.lr=0.5 train"

#!/usr/bin/env bash
# The end-to-end demonstration behind `make demo`, in throwaway git repositories:
# 1. the pipeline loop on examples/churn: run, change a param, status, run again, compare params,
#    metrics and plots with the last commit, repro --frozen, push to a remote (a local directory)
#    and pull into a fresh clone, git hooks, metrics across every commit;
# 2. the tracking loop on a generated dataset: init, add, commit, edit, status, diff, checkout, gc, fsck.
set -euo pipefail

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

example=$(cd "$(dirname "$0")/churn" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mlx-demo.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com

say "part 1: the pipeline (a copy of examples/churn in $work/churn)"
cp -r "$example" "$work/churn"
cd "$work/churn"
git init -q && mlx init >/dev/null && git add -A && git commit -qm "The churn project"
run mlx dag
run mlx run
run cat metrics.json
run git add -A
git commit -qm "First run"
run mlx status
run mlx run -S train.n_estimators=200     # only train and evaluate run: prepare is up to date
run mlx status
say "what the parameter change did, against the last commit"
run mlx params diff
run mlx metrics diff
run mlx plots diff -o "$work/plots"     # index.html opens offline; the PNGs are for CI comments
say "mlx repro --frozen   # the lockfile now describes the workspace"
mlx repro --frozen
git add -A && git commit -qm "200 trees"
say "a fresh clone has no data, and --frozen still checks the lockfile"
git clone -q "$work/churn" "$work/clone"
(cd "$work/clone" && ls && mlx repro --frozen)
run mlx remote add --default origin ../remote
git add -A && git commit -qm "A remote beside the project"
run mlx push
run mlx status --cloud
say "a second clone: mlx pull brings data and models, mlx repro --frozen checks them"
git clone -q "$work/churn" "$work/clone2"
(cd "$work/clone2" && mlx pull && mlx repro --frozen && ls models)
run mlx run -S train.n_estimators=100     # seen before: restored from the run cache
run git status --short
run mlx install                           # hooks: checkout on branch switch, push before git push
git add -A && git commit -qm "100 trees again" && git tag v1
run mlx metrics show --all-commits

say "part 2: tracking data (in $work/data)"
mkdir "$work/data" && cd "$work/data"

run git init -q
run mlx init
git add .mlx && git commit -qm "Initialize mlx"

say "python: generate data/raw (200 CSV shards, fixed seed)"
python3 - <<'PY'
import os, random
rng = random.Random(0)
os.makedirs("data/raw", exist_ok=True)
for shard in range(200):
    with open(f"data/raw/part-{shard:03}.csv", "w") as f:
        f.write("x,y\n")
        for _ in range(50):
            f.write(f"{rng.random():.6f},{rng.randint(0, 1)}\n")
PY

run mlx add data/raw
run cat data/raw.mlx
run git add data/raw.mlx data/.gitignore
git commit -qm "Track raw data"
run mlx status

say "edit one shard and delete another"
echo "0.5,1" >> data/raw/part-007.csv
rm data/raw/part-042.csv
run mlx status
run mlx diff                              # HEAD against the workspace, file by file
set +e; say "mlx status --exit-code"; mlx status --exit-code >/dev/null; echo "exit code: $?"; set -e

say "mlx checkout   # refuses: part-007.csv has content that is not in the cache"
mlx checkout || echo "(exit code $?)"
run mlx checkout --force
run mlx status

say "a new version of one shard, added but then discarded"
echo "0.9,0" >> data/raw/part-001.csv
run mlx add data/raw
run git checkout data/raw.mlx
run mlx checkout
run mlx status
run mlx gc --dry-run
run mlx gc
run mlx fsck
run mlx config cache.type hardlink,copy
run mlx checkout --relink
run mlx doctor
say "done: the demo repository was $work (removed on exit)"

"""A push whose lock another command broke (`gc --cloud --force`, which may have deleted its packs)
publishes nothing and fails: the next push completes the job (review F13)."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from tests.conftest import mlx_executable
from tests.remote_fixtures import RemoteSpec, s3_origin


@pytest.mark.parametrize("sabotage", ["lock removed", "lock replaced", "pack deleted"])
def test_a_push_that_lost_its_lock_or_its_pack_publishes_no_index(repo, mlx, s3_server, s3_bucket, make_proxy, sabotage):
    repo.gen({"data": {f"f{i}.csv": f"row,{i}\n" for i in range(20)}}, old=True)
    reached, go = threading.Event(), threading.Event()
    seen: list[str] = []

    def pause_before_publishing(method: str, query: dict[str, list[str]]) -> bool:
        """After the pack's upload, hold the push's next look at its lock until the test says go."""
        path = proxy.requests[-1][1]
        if method == "PUT" and "/packs/" in path:
            seen.append(path)
        elif seen and method == "GET" and "/locks/" in path and not reached.is_set():
            reached.set()
            go.wait(60)
        return False

    proxy = make_proxy(pause_before_publishing)
    direct = RemoteSpec("s3", f"s3://{s3_bucket}/p", s3_server.endpoint).open()  # not through the proxy, which waits
    assert mlx("add", "data").code == 0
    s3_origin(repo, mlx, s3_bucket, proxy.endpoint)
    pushing = subprocess.Popen([mlx_executable(), "push"], cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reached.wait(60), "the push never checked its lock"
        (lock,) = direct.list("locks")
        if sabotage == "lock removed":
            direct.delete([f"locks/{lock}"])
        elif sabotage == "lock replaced":
            document = json.loads(direct.read(f"locks/{lock}"))
            direct.write(f"locks/{lock}", json.dumps({**document, "pid": document["pid"] + 1}).encode())
        else:
            direct.delete([f"packs/{name}" for name in direct.list("packs")])
    finally:
        go.set()
        out, err = pushing.communicate(timeout=120)

    assert pushing.returncode == 22, (out, err)
    if sabotage == "pack deleted":
        assert err.startswith("mlx: 1 file(s) this push uploaded to remote 'origin' are gone (packs/")
    else:
        assert err.startswith(f"mlx: the lock of this command on remote 'origin' (locks/{lock}) was broken by another command")
    assert err.splitlines()[0].endswith(", so the push's index was not written")
    assert err.splitlines()[1:] == ["hint: run the push again: it sends what is missing"]
    assert direct.list("index") == {}

    again = mlx("push")
    assert again.code == 0, again
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0
    assert mlx("status", "--cloud", "--exit-code").code == 0

"""How many requests mlx makes on S3, counted by a recording proxy on loopback in front of moto:
each one costs a round trip, tens of milliseconds on a real object store."""

from __future__ import annotations

import collections
import os

from tests.remote_fixtures import RemoteSpec, s3_origin


def test_reading_a_small_file_is_one_request(s3_bucket, make_proxy):
    proxy = make_proxy()
    fs = RemoteSpec("s3", f"s3://{s3_bucket}/p", proxy.endpoint).open()
    fs.write("index/x.json", b"{}")
    proxy.requests.clear()

    assert fs.read("index/x.json") == b"{}"

    assert [(method, path) for method, path, _ in proxy.requests] == [("GET", f"/{s3_bucket}/p/index/x.json")]


def test_a_push_with_nothing_to_send_asks_about_each_loose_object_once(repo, mlx, s3_bucket, make_proxy):
    # A tree and a file above the pack threshold: both stored loose, and a push asks whether the
    # remote has them (the tree first, to skip its files).
    repo.gen({"data": {f"f{i:03}.csv": f"row,{i}\n" for i in range(100)}, "model.bin": os.urandom(20_000)}, old=True)
    proxy = make_proxy()
    for args in (("add", "data", "model.bin"), ("config", "remote.pack_threshold", "4096")):
        assert mlx(*args).code == 0
    s3_origin(repo, mlx, s3_bucket, proxy.endpoint)
    assert mlx("push").code == 0
    proxy.requests.clear()

    again = mlx("push")

    assert again.code == 0, again
    assert again.out == "0 objects pushed to 'origin' (0 B); 102 already there.\n"
    asked = collections.Counter(  # a listing is asked of the bucket, with a prefix
        (path, str(query.get("prefix"))) for method, path, query in proxy.requests if method in ("HEAD", "GET")
    )
    loose = [path for path, _ in asked if path.startswith(f"/{s3_bucket}/p/objects/")]
    assert len(loose) == 2
    assert max(asked.values()) == 1, asked


def test_status_cloud_in_a_fresh_clone_lists_the_loose_objects_once(repo, mlx, s3_bucket, make_proxy, tmp_path):
    # 70 loose files in a directory and 70 beside it (more than the 64 objects probed one by one):
    # the clone first asks about the directory's tree alone, reads it, then about everything at once.
    tops = {f"t{i:03}.bin": os.urandom(5_000) for i in range(70)}
    repo.gen({"data": {f"f{i:03}.bin": os.urandom(5_000) for i in range(70)}, **tops}, old=True)
    proxy = make_proxy()
    for args in (("add", "data", *tops), ("config", "remote.pack_threshold", "4096")):
        assert mlx(*args).code == 0
    s3_origin(repo, mlx, s3_bucket, proxy.endpoint)
    assert mlx("push").code == 0
    repo.commit("data")
    copy = tmp_path / "clone"
    repo.git("clone", "-q", str(repo.path), str(copy))
    proxy.requests.clear()

    status = mlx("status", "--cloud", cwd=copy)

    assert status.code == 0, status
    assert status.out.startswith("data: 71 missing locally (of 71 objects)\n"), status  # the tree and its 70 files
    listings = [query["prefix"][0] for method, _path, query in proxy.requests if method == "GET" and "list-type" in query]
    assert listings.count("p/objects/") == 1, listings

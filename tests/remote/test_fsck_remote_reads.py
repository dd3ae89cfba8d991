"""What mlx fsck --remote --read-data reads, seen through a proxy in front of a real S3 server: a
push that publishes a directory while fsck lists the remote is not reported as an incomplete tree,
and every object and pack is read once (a tree's bytes are kept from the re-hash for the search
for incomplete trees)."""

from __future__ import annotations

from collections import Counter

from mlxkit import api
from tests.conftest import Repo
from tests.remote_fixtures import RemoteSpec, configure, s3_origin

# Tiny files go into a pack; the tree listing 60 of them (about 6 KB) is above the threshold: loose.
FILES = {f"f{i:02}.csv": f"row {i}\n" for i in range(60)}
THRESHOLD = "4096"
ORDER = ("packs", "index", "objects")  # a push's order of writes: the loose tree last


def through_proxy(repo: Repo, mlx, bucket: str, proxy) -> None:
    s3_origin(repo, mlx, bucket, proxy.endpoint)
    assert mlx("config", "remote.pack_threshold", THRESHOLD, cwd=repo.path).code == 0


def remote_files(direct) -> set[str]:
    return {f"{prefix}/{name}" for prefix in ("objects", "packs", "index") for name in direct.list(prefix)}


def test_a_directory_pushed_while_fsck_lists_the_remote_is_not_an_incomplete_tree(repo, mlx, s3_server, s3_bucket, make_proxy):
    """The push's pack, index and loose tree appear just before fsck lists objects/: after its
    listing of index/ (which misses the index naming the tree's files) and before the one that
    shows the tree. Exactly what a push running alongside can do, since the listings are not one
    snapshot and a plain fsck takes no lock."""
    pushed: dict[str, bytes] = {}

    def push_before_listing_objects(method: str, query: dict[str, list[str]]) -> bool:
        if method == "GET" and any("objects" in prefix for prefix in query.get("prefix", ())) and pushed:
            for name in sorted(pushed, key=lambda name: ORDER.index(name.split("/")[0])):
                direct.write(name, pushed.pop(name))
        return False

    proxy = make_proxy(push_before_listing_objects)
    direct = RemoteSpec("s3", f"s3://{s3_bucket}/p", s3_server.endpoint).open()  # not through the proxy
    repo.gen({"notes.txt": "notes\n", "data": FILES}, old=True)
    through_proxy(repo, mlx, s3_bucket, proxy)
    assert mlx("add", "notes.txt").code == 0
    assert mlx("push").code == 0
    before = remote_files(direct)
    assert mlx("add", "data").code == 0
    assert mlx("push").code == 0
    new = remote_files(direct) - before
    assert sorted(name.split("/")[0] for name in new) == ["index", "objects", "packs"]  # the tree is loose
    pushed.update({name: direct.read(name) for name in new})
    direct.delete(sorted(new))

    checked = mlx("fsck", "--remote", "origin", "--read-data")

    assert not pushed  # the "push" happened during the check
    assert checked.code == 0, checked
    assert "incomplete tree" not in checked.out
    assert mlx("fsck", "--remote", "origin", "--read-data").code == 0


def test_read_data_reads_every_object_and_pack_once(repo, mlx, s3_bucket, make_proxy):
    proxy = make_proxy()
    repo.gen({"data": FILES, "small": {"a.txt": "a\n", "b.txt": "b\n"}}, old=True)  # a loose tree, a packed one
    through_proxy(repo, mlx, s3_bucket, proxy)
    assert mlx("add", "data", "small").code == 0
    assert mlx("push").code == 0
    del proxy.requests[:]

    checked = mlx("fsck", "--remote", "origin", "--read-data")

    assert checked.code == 0, checked
    reads = Counter(path for method, path, _query in proxy.requests if method == "GET" and ("/objects/" in path or "/packs/" in path))
    assert sorted(path.split("/")[3] for path in reads) == ["objects", "packs"], reads
    assert set(reads.values()) == {1}, reads


def test_trees_beyond_the_memory_kept_are_read_again_and_still_checked(repo, mlx, remote_url, monkeypatch):
    repo.gen({"data": FILES, "small": {"a.txt": "a\n", "b.txt": "b\n"}}, old=True)
    configure(mlx, repo.path, remote_url)
    assert mlx("config", "remote.pack_threshold", THRESHOLD).code == 0
    assert mlx("add", "data", "small").code == 0
    assert mlx("push").code == 0
    (pack,) = remote_url.open().list("packs")
    remote_url.open().delete([f"packs/{pack}"])  # every file is lost; the loose tree of data/ lists them
    monkeypatch.setattr("mlxkit.tracking.fsck_remote.TREE_MEMORY", 0)  # keep no tree's bytes

    result = api.fsck_remote("origin", read_data=True, repo=repo.path)

    assert [problem.kind for problem in result.problems] == ["incomplete tree", "missing pack"]
    assert result.problems[0].detail == "lists 60 object(s) of which the remote has no intact copy"

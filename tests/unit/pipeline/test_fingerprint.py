"""Stage fingerprints: exactly cmd, dep hashes, params and env digests go in; nothing else moves them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.fingerprint import fingerprint_text, stage_fingerprint
from mlxkit.pipeline.model import LockedPath
from mlxkit.store.digest import Digest
from mlxkit.store.hashing import hash_bytes

A, B = Digest.from_hex("a" * 64), Digest.from_hex("b" * 64)


def dep(path: str, digest: Digest = A, size: int = 1, files: int | None = None) -> LockedPath:
    return LockedPath(RepoPath.parse(path), digest, size, files)


DEPS = (dep("src/train.py", B), dep("data/prepared", A, 10, 2))
PARAMS = {"params.yaml": {"train.lr": 0.1, "train.layers": [64, 32]}}
ENV = {"SEED": B, "UNSET": None}


def fingerprint(cmd=("python train.py",), deps=DEPS, params=PARAMS, env=ENV) -> Digest:
    return stage_fingerprint(cmd, deps, params, env)


def test_fingerprint_is_the_blake3_of_the_documented_canonical_json():
    text = fingerprint_text(("python train.py",), DEPS, PARAMS, ENV)
    assert text == (
        '{"cmd":["python train.py"],'
        f'"deps":[["data/prepared","{A}"],["src/train.py","{B}"]],'
        f'"env":{{"SEED":"{B}","UNSET":null}},'
        '"format":1,'
        '"params":{"params.yaml":{"train.layers":[64,32],"train.lr":0.1}}}'
    )
    assert fingerprint() == hash_bytes(text.encode("utf-8"))


def test_fingerprint_ignores_dep_size_and_file_count_but_not_the_hash():
    assert fingerprint(deps=(dep("src/train.py", B, 999), dep("data/prepared", A, 1, 7))) == fingerprint()
    assert fingerprint(deps=(dep("src/train.py", A), dep("data/prepared", A, 10, 2))) != fingerprint()


def test_fingerprint_ignores_the_order_deps_are_given_in_but_not_the_order_of_commands():
    assert fingerprint(deps=tuple(reversed(DEPS))) == fingerprint()
    assert fingerprint(cmd=("a", "b")) != fingerprint(cmd=("b", "a"))


def test_fingerprint_changes_with_every_input():
    base = fingerprint()
    assert fingerprint(cmd=("python train.py --fast",)) != base
    assert fingerprint(deps=DEPS[:1]) != base
    assert fingerprint(deps=(dep("src/other.py", B), DEPS[1])) != base
    assert fingerprint(params={"params.yaml": {"train.lr": 0.2, "train.layers": [64, 32]}}) != base
    assert fingerprint(params={"other.yaml": PARAMS["params.yaml"]}) != base
    assert fingerprint(env={"SEED": A, "UNSET": None}) != base
    assert fingerprint(env={"SEED": B}) != base


def test_an_unset_variable_differs_from_one_set_to_the_empty_string():
    assert fingerprint(env={"X": None}) != fingerprint(env={"X": hash_bytes(b"")})


def test_param_values_of_different_types_give_different_fingerprints():
    values = [1, 1.0, True, "1", [1], {"1": 1}, None, 0.1, 0.30000000000000004]
    digests = {fingerprint(params={"p.yaml": {"k": value}}) for value in values}
    assert len(digests) == len(values)


def test_a_number_key_and_a_string_key_stay_apart():
    number = fingerprint(params={"p.yaml": {"k": {1: "a"}}})
    text = fingerprint(params={"p.yaml": {"k": {"1": "a"}}})
    assert number != text
    assert '"k":{"\\u00001":"a"}' in fingerprint_text((), (), {"p.yaml": {"k": {1: "a"}}}, {})


def test_mixed_key_types_in_one_mapping_are_fingerprinted():
    assert fingerprint(params={"p.yaml": {"k": {1: "a", "b": 2, None: 3, True: 4}}}) != fingerprint()


def test_floats_go_in_exactly():
    assert '"k":0.1' in fingerprint_text((), (), {"p": {"k": 0.1}}, {})
    assert fingerprint(params={"p": {"k": 0.1}}) != fingerprint(params={"p": {"k": 0.1 + 2**-56}})


def test_non_ascii_text_is_written_as_itself():
    assert fingerprint_text(("echo é",), (), {}, {}).startswith('{"cmd":["echo é"]')


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@settings(deadline=None)  # timings are not what these properties check
@given(st.dictionaries(st.text(max_size=4), _VALUES, max_size=5), st.dictionaries(st.text(max_size=4), st.none(), max_size=4))
def test_fingerprint_ignores_the_insertion_order_of_mappings(params, env):
    reordered_params = {"p.yaml": dict(reversed(list(params.items())))}
    reordered_env: dict[str, Digest | None] = dict(reversed(list(env.items())))
    assert fingerprint(params={"p.yaml": params}, env=dict(env)) == fingerprint(params=reordered_params, env=reordered_env)

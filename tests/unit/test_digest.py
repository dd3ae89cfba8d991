"""Digest: only `blake3:<64 lowercase hex>` becomes a Digest, so a path built from one is safe."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.store.digest import Digest, InvalidDigest
from mlxkit.store.hashing import hash_bytes

HEX = "0123456789abcdef" * 4


def test_digest_parse_accepts_blake3_and_64_lowercase_hex():
    digest = Digest.parse(f"blake3:{HEX}")
    assert digest.hex == HEX
    assert str(digest) == f"blake3:{HEX}"
    assert digest.short == HEX[:12]


def test_digest_relpath_splits_after_two_hex_digits():
    assert Digest.parse(f"blake3:{HEX}").relpath == f"01/{HEX[2:]}"


@pytest.mark.parametrize(
    "text",
    [
        f"blake3:{HEX.upper()}",  # uppercase
        f"blake3:{HEX[:63]}",  # short
        f"blake3:{HEX}0",  # long
        f"blake3:{HEX}\n",  # trailing newline ('$' would accept it)
        f" blake3:{HEX}",
        f"BLAKE3:{HEX}",
        f"sha256:{HEX}",
        f"md5:{HEX[:32]}",
        HEX,  # no algorithm
        "blake3:../../x",
        f"blake3:../../{HEX[6:]}",
        f"blake3:{HEX[:31]}/{HEX[32:]}",
        f"blake3:{HEX[:63]}g",
        "",
    ],
)
def test_digest_parse_rejects_anything_but_the_exact_pattern(text):
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


@pytest.mark.parametrize("value", [None, 42, b"blake3:" + HEX.encode(), ["blake3:" + HEX], True])
def test_digest_parse_rejects_non_strings_naming_the_type(value):
    with pytest.raises(InvalidDigest, match=f"not {type(value).__name__}$"):
        Digest.parse(value)


def test_digest_from_hex_rejects_path_tricks():
    with pytest.raises(InvalidDigest):
        Digest.from_hex("../" + HEX[3:])
    assert Digest.from_hex(HEX) == Digest.parse(f"blake3:{HEX}")


def test_hash_bytes_of_empty_input_is_blake3_of_nothing():
    assert str(hash_bytes(b"")) == "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


@settings(deadline=None)  # timings are not what these properties check
@given(st.binary(max_size=256))
def test_digest_of_any_bytes_round_trips_through_its_text(data):
    digest = hash_bytes(data)
    assert Digest.parse(str(digest)) == digest
    assert digest.relpath == f"{digest.hex[:2]}/{digest.hex[2:]}"

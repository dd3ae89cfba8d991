"""formats/yamltext.py's edit_mapping: a YAML file changed to say new data by editing only the keys
that changed, keeping what people wrote; None where a text edit cannot say it."""

from __future__ import annotations

import pytest
import yaml

from mlxkit.formats.yamltext import edit_mapping

TEAM = """\
# Team settings: keep these comments.
core:
  fsync: batch   # durability
cache:
  type: [reflink, copy]

# Remotes
remotes:
  origin:
    url: /mnt/shared  # the lab's disk
    jobs: 4
"""


def edited(text: str, change) -> str:
    data = yaml.safe_load(text) or {}
    change(data)
    result = edit_mapping(text, data, "config.yaml")
    assert result is not None
    assert yaml.safe_load(result) == data
    return result


def test_a_changed_value_is_replaced_where_it_stands_and_its_comment_stays():
    result = edited(TEAM, lambda data: data["core"].update(fsync="never"))
    assert result == TEAM.replace("fsync: batch", "fsync: never")


def test_a_changed_list_keeps_its_flow_style():
    result = edited(TEAM, lambda data: data["cache"].update(type=["hardlink", "copy"]))
    assert result == TEAM.replace("[reflink, copy]", "[hardlink, copy]")


def test_a_new_key_goes_at_the_end_of_its_mapping_and_a_new_mapping_in_block_style():
    def change(data):
        data["core"]["jobs"] = 3
        data["remotes"]["backup"] = {"url": "s3://bucket/p", "jobs": 8}

    result = edited(TEAM, change)
    assert result == TEAM.replace("fsync: batch   # durability\n", "fsync: batch   # durability\n  jobs: 3\n") + (
        "  backup:\n    url: s3://bucket/p\n    jobs: 8\n"
    )


def test_a_removed_key_takes_its_lines_and_its_comment_and_an_emptied_mapping_goes_too():
    result = edited(TEAM, lambda data: data["remotes"]["origin"].pop("url"))
    assert "/mnt/shared" not in result and "the lab's disk" not in result
    assert "# Remotes\n" in result and "# Team settings" in result

    result = edited(TEAM, lambda data: data.pop("remotes"))
    assert result == TEAM.split("remotes:")[0]


def test_a_renamed_key_keeps_its_place_and_its_comments():
    def rename(data):
        data["remotes"] = {"store": data["remotes"].pop("origin")}

    assert edited(TEAM, rename) == TEAM.replace("  origin:", "  store:")

    text = "a: 1  # first\nb: 2  # second\nc: 3\n"
    renamed = edit_mapping(text, {"a": 1, "z": 2, "c": 3}, "x.yaml")
    assert renamed == "a: 1  # first\nz: 2  # second\nc: 3\n"


def test_values_keep_their_types():
    result = edited("a: 1\n", lambda data: data.update(a="1", b=True, c=1.0))
    assert yaml.safe_load(result) == {"a": "1", "b": True, "c": 1.0}
    assert [type(value) for value in yaml.safe_load(result).values()] == [str, bool, float]


def test_an_empty_or_comment_only_file_gets_the_keys():
    assert edited("", lambda data: data.update(core={"jobs": 2})) == "core:\n  jobs: 2\n"
    assert edited("# nothing yet\n", lambda data: data.update(core={"jobs": 2})) == "# nothing yet\ncore:\n  jobs: 2\n"


@pytest.mark.parametrize(
    "text",
    [
        "core: {remote: a, jobs: 2}\n",  # a key removed from a flow mapping
        "- a\n- b\n",  # not a mapping
        "core: [1, 2\n",  # not YAML
        "core:\n  jobs: 1\ncore:\n  jobs: 2\n",  # a duplicate key, refused by the strict reader
    ],
)
def test_what_a_text_edit_cannot_say_gives_none(text):
    assert edit_mapping(text, {"core": {"jobs": 2}}, "config.yaml") is None

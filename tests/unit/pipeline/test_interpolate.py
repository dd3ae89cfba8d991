"""`${...}`: what it can name, how values become text, and how a command quotes them for the shell.

The shell tests run the interpolated command in a real `sh`: a hostile value must come back as one
argument, byte for byte, whatever quoting the command put around it.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError
from mlxkit.formats.yamlio import load_yaml
from mlxkit.pipeline.interpolate import Context, Where, interpolate, render

DOCUMENT = load_yaml("stages:\n  train:\n    cmd: x\n    deps: [a]\n", "mlx.yaml")
CMD = Where.at(DOCUMENT, "stages", "train", "cmd")
DEPS = Where.at(DOCUMENT, "stages", "train", "deps")
HOSTILE = [
    "x; touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a'b",
    'a"b',
    "'; touch PWNED; '",
    '"; touch PWNED; "',
    "\\",
    "a\\",
    "$HOME",
    "${HOME}",
    "line\nbreak",
    "ünïcødé ✓ 😀",
    "",
    " spaced  out ",
    "-rf",
    "*",
    "a\tb",
    "!",
    "#not a comment",
]


def context(**values: object) -> Context:
    return Context(dict(values))


def shell(template: str, **values: object) -> str:
    return interpolate(template, context(**values), CMD, shell=True)


def text(template: str, **values: object) -> object:
    return interpolate(template, context(**values), DEPS)


def run(command: str) -> str:
    """What `sh -c command` prints; the test fails if the shell touched anything."""
    done = subprocess.run(["sh", "-c", command], capture_output=True, check=False)
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout.decode("utf-8")  # bytes: text mode would turn '\r' into '\n'


def error(template: str, *, shell_mode: bool = True, **values: object) -> InvalidFileError:
    with pytest.raises(InvalidFileError) as info:
        interpolate(template, context(**values), CMD if shell_mode else DEPS, shell=shell_mode)
    return info.value


# -- what ${} names ------------------------------------------------------------------------------


def test_a_whole_value_keeps_its_type():
    assert text("${files}", files=["a", "b"]) == ["a", "b"]
    assert text("${flag}", flag=True) is True
    assert text("${n}", n=3) == 3
    assert text("${m}", m={"a": 1}) == {"a": 1}


def test_dotted_keys_and_both_index_spellings_reach_into_mappings_and_lists():
    values = {"train": {"layers": [{"size": 8}, {"size": 16}]}}
    assert text("${train.layers.1.size}", **values) == 16
    assert text("${train.layers[1].size}", **values) == 16
    assert text("${ train.layers[0].size }", **values) == 8


def test_values_inside_a_string_become_text_as_yaml_writes_scalars():
    assert text("data/${name}-${n}-${lr}-${small}-${flag}-${none}.csv", name="x", n=3, lr=0.01, small=1e-05, flag=True, none=None) == (
        "data/x-3-0.01-1e-05-true-null.csv"
    )


@pytest.mark.parametrize(("value", "shown"), [(True, "true"), (False, "false"), (None, "null"), (0.5, "0.5"), (7, "7"), ("s", "s")])
def test_render_writes_scalars_the_way_a_command_line_reads_them(value, shown):
    assert render(value) == shown


def test_a_backslash_escapes_the_dollar_and_a_double_backslash_stays_one():
    assert text("\\${x}", x=1) == "${x}"
    assert text("\\\\${x}", x=1) == "\\1"
    assert text("\\\\\\${x}", x=1) == "\\${x}"
    assert text("a\\b ${x}", x=1) == "a\\b 1"


def test_strings_without_expressions_are_kept_as_they_are():
    assert text("plain $HOME {x} $") == "plain $HOME {x} $"


def test_interpolate_walks_lists_and_the_keys_of_mappings():
    value = [{"models/${name}.pkl": {"cache": "${flag}"}}, "${name}"]
    assert text_value(value, name="m", flag=False) == [{"models/m.pkl": {"cache": False}}, "m"]


def text_value(value: object, **values: object) -> object:
    return interpolate(value, context(**values), DEPS)


def test_a_missing_key_names_file_line_place_and_suggests_a_close_key():
    problem = error("python train.py --lr ${train.lrr}", train={"lr": 0.1})
    assert str(problem) == "invalid file 'mlx.yaml:3': at 'stages.train.cmd': '${train.lrr}' is not defined"
    assert problem.hint == "did you mean 'train.lr'?"


def test_a_missing_key_with_nothing_close_says_how_to_write_a_literal():
    problem = error("echo ${HOME}", train={"lr": 0.1})
    assert problem.problem == "at 'stages.train.cmd': '${HOME}' is not defined"
    assert problem.hint == "values come from params.yaml and vars; write '\\${HOME}' for a literal '${HOME}'"


@pytest.mark.parametrize("key", ["files.2", "files.x", "n.0", "files[9]"])
def test_an_index_or_key_that_is_not_there_is_not_defined(key):
    problem = error(f"${{{key}}}", shell_mode=False, files=["a", "b"], n=3)
    assert problem.problem == f"at 'stages.train.deps': '${{{key}}}' is not defined"


def test_an_unclosed_expression_is_an_error():
    problem = error("echo ${x", x=1)
    assert problem.problem == "at 'stages.train.cmd': '${' without a closing '}' in 'echo ${x'"
    assert problem.hint == "write '\\${' for a literal '${'"


@pytest.mark.parametrize("inner", ["", "a b", "HOME:-x", "a..b", "a.", "x[y]", "$x"])
def test_an_expression_that_is_not_a_key_is_an_error(inner):
    problem = error(f"echo ${{{inner}}}", x=1)
    assert problem.problem == f"at 'stages.train.cmd': '${{{inner}}}' is not a key mlx can look up"


def test_a_list_inside_a_longer_string_is_an_error():
    problem = error("data/${files}", shell_mode=False, files=["a"])
    assert problem.problem == "at 'stages.train.deps': the list '${files}' cannot be part of a string"
    assert problem.hint == "use it as the whole value (deps: ${files}), or pick one item (${files.0})"


def test_a_mapping_as_a_key_is_an_error():
    with pytest.raises(InvalidFileError, match="the mapping '\\$\\{m\\}' cannot be part of a string"):
        text_value({"${m}": None}, m={"a": 1})


def test_a_value_is_never_interpolated_again():
    assert text("${a}", a="${b}", b="no") == "${b}"
    assert shell("echo ${a}", a="${b}", b="no") == "echo '${b}'"


# -- the context ---------------------------------------------------------------------------------


def test_merged_sources_combine_mappings_key_by_key():
    ctx = Context()
    ctx.merge({"train": {"lr": 0.1}}, "params.yaml", DEPS)
    ctx.merge({"train": {"epochs": 3}, "seed": 1}, "conf.json", DEPS)
    assert ctx.data == {"train": {"lr": 0.1, "epochs": 3}, "seed": 1}


def test_merging_never_changes_the_sources():
    first = {"train": {"lr": 0.1}}
    ctx = Context()
    ctx.merge(first, "params.yaml", DEPS)
    ctx.merge({"train": {"epochs": 3}}, "vars.0", DEPS)
    assert first == {"train": {"lr": 0.1}}


def test_a_key_two_sources_define_is_an_error_naming_the_first():
    ctx = Context()
    ctx.merge({"train": {"lr": 0.1}}, "params.yaml", DEPS)
    with pytest.raises(InvalidFileError) as info:
        ctx.merge({"train": {"lr": 0.2}}, "vars.1", DEPS)
    assert info.value.problem == "at 'stages.train.deps': 'train.lr' is already defined by 'params.yaml'"
    assert info.value.hint == "a value may come from one source only: remove one of them"


def test_a_mapping_over_a_value_is_a_conflict_too():
    ctx = Context()
    ctx.merge({"train": 1}, "params.yaml", DEPS)
    with pytest.raises(InvalidFileError, match="'train' is already defined by 'params.yaml'"):
        ctx.merge({"train": {"lr": 1}}, "vars.0", DEPS)


def test_item_is_reserved_when_a_source_defines_it():
    ctx = Context()
    ctx.merge({"item": 1}, "params.yaml", DEPS)
    with pytest.raises(InvalidFileError) as info:
        ctx.with_item({"item": "a"}, DEPS)
    assert info.value.problem == "at 'stages.train.deps': 'item' is reserved in foreach and matrix stages, but 'params.yaml' defines it"


def test_with_item_adds_item_and_key_without_changing_the_context():
    ctx = Context()
    ctx.merge({"a": 1}, "params.yaml", DEPS)
    inner = ctx.with_item({"item": 2, "key": "k"}, DEPS)
    assert inner.data == {"a": 1, "item": 2, "key": "k"}
    assert ctx.data == {"a": 1}


# -- commands: quoting for the shell -------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    ("template", "printed"),
    [
        ("printf %s ${v}", "@"),
        ('printf %s "${v}"', "@"),
        ("printf %s '${v}'", "@"),
        ('printf %s "<${v}>"', "<@>"),
        ("printf %s pre${v}post", "pre@post"),
    ],
)
def test_a_hostile_value_reaches_the_command_as_exactly_one_argument(tmp_path, value, template, printed):
    assert run(shell(f"cd {tmp_path} && {template}", v=value)) == printed.replace("@", value)
    assert list(tmp_path.iterdir()) == []  # nothing was touched


@settings(deadline=None, max_examples=60)
@given(
    value=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")), quote=st.sampled_from(["", "'", '"'])
)
@example(value="'\"$(touch PWNED)`x`\\", quote="")
def test_any_text_survives_any_quoting_unchanged(value, quote):
    assert run(shell(f"printf %s {quote}${{v}}{quote}", v=value)) == value


def test_a_list_gives_one_argument_per_item():
    command = shell("printf '[%s]' ${files}", files=["a b", "c;d", 3, True])
    assert command == "printf '[%s]' 'a b' 'c;d' 3 true"
    assert run(command) == "[a b][c;d][3][true]"


def test_a_list_item_that_is_a_list_or_mapping_is_one_json_argument():
    assert run(shell("printf '[%s]' ${rows}", rows=[[1, "a b"], {"k": None}])) == '[[1, "a b"]][{"k": null}]'


def test_an_empty_list_gives_no_argument():
    assert run(shell("printf '[%s]' x ${files}", files=[])) == "[x]"


def test_a_mapping_gives_options_true_a_flag_false_nothing_nested_keys_dotted():
    flags = {"lr": 0.01, "verbose": True, "quiet": False, "opt": {"name": "a b"}, "sizes": [1, 2]}
    command = shell("train ${flags}", flags=flags)
    assert command == "train --lr 0.01 --verbose --opt.name 'a b' --sizes 1 2"


def test_values_in_double_quotes_are_one_string_with_the_shell_specials_escaped():
    assert shell('echo "${files}"', files=["a", "$b"]) == 'echo "a \\$b"'


def test_values_in_single_quotes_close_and_reopen_around_a_quote():
    assert shell("echo '${v}'", v="it's") == "echo 'it'\\''s'"


def test_a_value_inside_command_substitution_is_quoted_as_a_word(tmp_path):
    command = shell(f'cd {tmp_path} && printf %s "$(printf %s ${{v}})" $(printf %s "${{v}}")', v="a; touch PWNED")
    assert command.endswith("""printf %s "$(printf %s 'a; touch PWNED')" $(printf %s "a; touch PWNED")""")
    assert run(command) == "a; touch PWNED" + "a;touchPWNED"  # the unquoted $(...) splits words, as sh does
    assert list(tmp_path.iterdir()) == []


def test_a_simple_shell_variable_written_with_a_backslash_is_left_to_the_shell():
    command = shell('X=1; printf %s "\\${X}-${v}" \\${X:-d}', v="$X")
    assert command == 'X=1; printf %s "${X}-\\$X" ${X:-d}'
    assert run(command) == "1-$X1"


@pytest.mark.parametrize(
    ("template", "after"),
    [
        ("echo `echo ${v}`", "backquotes"),
        ("cat <<EOF\n${v}\nEOF", "a here-document"),
        ("echo hi # ${v}", "a comment"),
        ("echo $'a ${v}'", "$'...' quoting"),
        ("case x in x) echo ${v};; esac", "a 'case' statement"),
        ("echo a) ${v}", "an unmatched ')'"),
        ("echo \\\\${v}", "a backslash"),
        ("echo $${v}", "a '$'"),
        ('echo "$${v}"', "a '$'"),
        ('echo \\${X:-"a"} ${v}', "a '${...}' of the shell"),
        ("echo \\${X:-${v}}", "a '${...}' of the shell"),
    ],
)
def test_a_value_where_the_shell_may_read_it_differently_is_refused(template, after):
    problem = error(template, v="x")
    assert problem.problem == f"at 'stages.train.cmd': cannot put '${{v}}' in a command after {after}"
    assert problem.hint == "mlx quotes each value for the shell and cannot tell how the shell reads it there: pass it to a script instead"


@pytest.mark.parametrize(
    "template",
    [
        "echo a#b ${v}",
        "echo 'case' ${v}",
        "echo cases ${v}",
        "(cd . && echo ${v})",
        "echo $((1 + 2)) ${v}",
        "f() { echo ${v}; }; f",
        "echo ${v} `date` # after the value, none of its business",
    ],
)
def test_constructs_the_lexer_follows_do_not_stop_interpolation(template):
    assert shell(template, v="x y") == template.replace("${v}", "'x y'")


def test_a_hash_inside_a_word_after_an_escaped_space_is_not_a_comment(tmp_path):
    command = shell(f"cd {tmp_path} && printf %s a\\ #'\n'${{v}}", v="a; touch PWNED")
    assert run(command) == "a #\na; touch PWNED"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize("value", HOSTILE)
def test_bash_reads_the_quoting_the_same_way(tmp_path, value):
    for template in ["printf %s ${v}", 'printf %s "${v}"', "printf %s '${v}'"]:
        done = subprocess.run(["bash", "-c", shell(f"cd {tmp_path} && {template}", v=value)], capture_output=True, check=True)
        assert done.stdout.decode("utf-8") == value
    assert list(tmp_path.iterdir()) == []

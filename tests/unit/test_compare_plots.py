"""Plots data: how a plots file is read, which columns are drawn by default, how a confusion matrix
counts, and how plot options in mlx.yaml are checked (file, line, place)."""

from __future__ import annotations

import math
import textwrap

import pytest

from mlxkit.compare.plots import STEP, Table, build_plot, compared_revisions, read_table
from mlxkit.errors import InvalidFileError, MlxError
from mlxkit.pipeline.model import PlotOptions
from mlxkit.pipeline.spec import pipeline_from_text


def table(text: str, name: str = "p.csv") -> Table:
    return read_table(textwrap.dedent(text).encode(), name, name)


def plot(options: PlotOptions, *files: tuple[str, str], name: str = "p.csv"):
    """build_plot over (revision, file text) pairs; returns (plot, problem messages)."""
    problems: list[MlxError] = []
    tables = [(revision, f"{name}@{revision}", table(text, name)) for revision, text in files]
    return build_plot(name, options, tables, problems), [problem.message for problem in problems]


# -- reading files -------------------------------------------------------------------------------


def test_csv_cells_that_read_as_numbers_are_numbers_and_empty_cells_are_none():
    result = table("step,loss,note\n0,1.5,start\n1,,x\n2,-3e-2,\n")
    assert result == Table(("step", "loss", "note"), ((0, 1.5, "start"), (1, None, "x"), (2, -0.03, None)))


def test_tsv_is_split_on_tabs_and_a_short_row_is_padded():
    assert table("a\tb\n1\t2\n3\n", "p.tsv") == Table(("a", "b"), ((1, 2), (3, None)))


def test_csv_text_that_python_would_parse_is_not_taken_for_a_number():
    assert table("a,b\n1_000, 7 \n").rows == (("1_000", 7),)
    assert math.isnan(table("a\nnan\n").rows[0][0])


def test_a_csv_row_longer_than_the_header_is_an_error_naming_its_line():
    with pytest.raises(InvalidFileError) as info:
        table("a,b\n1,2\n1,2,3\n")
    assert info.value.message == "invalid file 'p.csv:3': 3 fields, but the header names 2 columns"


@pytest.mark.parametrize("text", ["", "a,,b\n1,2,3\n", "a,a\n1,2\n"])
def test_a_csv_file_needs_a_header_naming_each_column_once(text):
    with pytest.raises(InvalidFileError) as info:
        table(text)
    assert info.value.message == "invalid file 'p.csv:1': the first row must name every column, once"


def test_json_is_a_list_of_records_whose_keys_are_the_columns_in_order_of_appearance():
    result = table('[{"step": 0, "acc": 0.5}, {"step": 1, "acc": 0.7, "extra": true}]', "p.json")
    assert result == Table(("step", "acc", "extra"), ((0, 0.5, None), (1, 0.7, True)))


def test_json_may_hold_its_records_under_one_key_as_dvc_writes_them():
    result = table('{"roc": [{"fpr": 0, "tpr": 0}, {"fpr": 1, "tpr": 1}]}', "p.json")
    assert result == Table(("fpr", "tpr"), ((0, 0), (1, 1)))


def test_yaml_plots_files_are_read_like_json():
    assert table("- {x: 1, y: 2}\n- {x: 2, y: 3}\n", "p.yaml") == Table(("x", "y"), ((1, 2), (2, 3)))


@pytest.mark.parametrize("text", ['{"a": 1}', "[1, 2]", '"text"'])
def test_json_that_is_not_records_is_an_error(text):
    with pytest.raises(InvalidFileError) as info:
        table(text, "p.json")
    assert info.value.message == "invalid file 'p.json': not a table of records"


# -- defaults ------------------------------------------------------------------------------------


def test_by_default_x_is_the_row_number_called_step_and_y_the_last_column():
    result, problems = plot(PlotOptions(), ("HEAD", "loss,acc\n0.9,0.1\n0.5,0.6\n"))
    assert problems == []
    assert (result.x, result.y, result.template, result.title) == (STEP, ("acc",), "linear", "p.csv")
    assert result.series[0].x == (0, 1)
    assert result.series[0].y == {"acc": (0.1, 0.6)}


def test_a_step_column_is_x_by_default_and_y_is_the_last_other_column():
    result, _ = plot(PlotOptions(), ("HEAD", "loss,step\n0.9,10\n0.5,20\n"))
    assert (result.x, result.y, result.series[0].x) == ("step", ("loss",), (10, 20))


def test_the_default_y_comes_from_the_newest_revision_so_every_revision_draws_the_same_column():
    result, problems = plot(PlotOptions(), ("HEAD~1", "step,loss,acc\n0,1,0.1\n"), ("workspace", "step,acc,loss\n0,0.2,0.9\n"))
    assert result.y == ("loss",)
    assert [(series.revision, series.y) for series in result.series] == [("HEAD~1", {"loss": (1,)}), ("workspace", {"loss": (0.9,)})]
    assert problems == []


def test_options_name_the_columns_the_title_and_the_labels():
    options = PlotOptions(x="epoch", y=("loss", "val_loss"), title="Loss", x_label="epoch number", y_label="cross-entropy")
    result, _ = plot(options, ("HEAD", "epoch,loss,val_loss,acc\n1,0.9,1.0,0.2\n"))
    assert (result.title, result.x_label, result.y_label) == ("Loss", "epoch number", "cross-entropy")
    assert result.series[0].y == {"loss": (0.9,), "val_loss": (1.0,)}


def test_a_revision_without_a_column_is_a_problem_and_the_others_are_still_drawn():
    result, problems = plot(PlotOptions(x="step", y=("acc",)), ("HEAD~1", "step,loss\n0,1\n"), ("workspace", "step,acc\n0,0.5\n"))
    assert [series.revision for series in result.series] == ["workspace"]
    assert problems == ["invalid file 'p.csv@HEAD~1': no column 'acc' (its columns: step, loss)"]


def test_text_where_a_number_belongs_is_a_problem():
    result, problems = plot(PlotOptions(), ("HEAD", "step,loss\n0,high\n"))
    assert result is None
    assert problems == ["invalid file 'p.csv@HEAD': the column 'loss' holds 'high', not a number"]


def test_a_file_with_only_the_x_column_has_nothing_to_plot():
    result, problems = plot(PlotOptions(), ("HEAD", "step\n0\n"))
    assert result is None
    assert problems == ["invalid file 'p.csv@HEAD': no column to plot beside 'step'"]


# -- confusion matrices --------------------------------------------------------------------------


def test_a_confusion_matrix_counts_actual_and_predicted_pairs_over_every_revisions_classes():
    options = PlotOptions(x="actual", y=("predicted",), template="confusion")
    old = "actual,predicted\ncat,cat\ncat,dog\ndog,dog\ndog,dog\n"
    new = "actual,predicted\ncat,cat\nbird,cat\ndog,dog\n,dog\n"  # an empty cell is not counted
    result, problems = plot(options, ("HEAD", old), ("workspace", new))
    assert problems == []
    assert result.classes == ("bird", "cat", "dog")
    assert [(series.revision, series.counts) for series in result.series] == [
        ("HEAD", ((0, 0, 0), (0, 1, 1), (0, 0, 2))),
        ("workspace", ((0, 1, 0), (0, 1, 0), (0, 0, 1))),
    ]


def test_a_confusion_matrix_without_a_complete_row_is_a_problem():
    result, problems = plot(PlotOptions(x="a", y=("p",), template="confusion"), ("HEAD", "a,p\n,dog\ncat,\n"))
    assert result is None
    assert problems == ["invalid file 'p.csv@HEAD': no row has both an 'a' and a 'p' class to count"]


def test_confusion_classes_sort_as_numbers_or_in_natural_order():
    options = PlotOptions(x="a", y=("p",), template="confusion")
    numbers, _ = plot(options, ("HEAD", "a,p\n10,2\n2,10\n1,1\n"))
    names, _ = plot(options, ("HEAD", "a,p\nc10,c2\nc2,c1\n"))
    assert (numbers.classes, names.classes) == (("1", "2", "10"), ("c1", "c2", "c10"))


# -- revisions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "compared"),
    [(None, ["HEAD", "workspace"]), (["main"], ["main", "workspace"]), (["v1", "v2"], ["v1", "v2"]), (["v1", "v1"], ["v1", "workspace"])],
)
def test_diff_compares_head_or_one_revision_with_the_workspace_and_several_revisions_as_given(given, compared):
    assert compared_revisions(given) == compared


# -- options in mlx.yaml -------------------------------------------------------------------------


def outs(tmp_path, text: str):
    (stage,) = pipeline_from_text(textwrap.dedent(text), tmp_path).stages.values()
    return stage.outs


def invalid(tmp_path, text: str) -> InvalidFileError:
    with pytest.raises(InvalidFileError) as info:
        outs(tmp_path, text)
    return info.value


def test_plots_entries_take_plot_options_and_y_may_be_one_column_or_several(tmp_path):
    found = outs(tmp_path, """\
        stages:
          t:
            cmd: x
            plots:
              - loss.csv: {x: epoch, y: [loss, val_loss], title: Loss, x_label: epoch, y_label: loss, persist: true}
              - roc.json: {x: fpr, y: tpr, template: scatter}
              - plain.csv
        """)  # fmt: skip
    assert [out.plot for out in found] == [
        PlotOptions("epoch", ("loss", "val_loss"), "linear", "Loss", "epoch", "loss"),
        PlotOptions("fpr", ("tpr",), "scatter"),
        None,
    ]
    assert found[0].persist is True


def test_an_unknown_template_is_an_error_naming_the_line(tmp_path):
    error = invalid(tmp_path, "stages:\n  t:\n    cmd: x\n    plots:\n      - p.csv: {template: lines}\n")
    assert error.message == (
        "invalid file 'mlx.yaml:5': at 'stages.t.plots.0.p.csv.template': "
        "'lines' is not a plot template (linear, scatter, bar, confusion or confusion_normalized)"
    )


@pytest.mark.parametrize("field", ["outs", "metrics"])
def test_plot_options_outside_plots_entries_are_an_error_naming_the_line(tmp_path, field):
    error = invalid(tmp_path, f"stages:\n  t:\n    cmd: x\n    {field}:\n      - m.json: {{x: a}}\n")
    assert error.message == f"invalid file 'mlx.yaml:5': at 'stages.t.{field}.0.m.json': unknown key 'x'"


def test_a_confusion_matrix_needs_an_x_and_one_y_column(tmp_path):
    without_y = invalid(tmp_path, "stages:\n  t:\n    cmd: x\n    plots:\n      - c.csv: {template: confusion, x: a}\n")
    two_y = invalid(tmp_path, "stages:\n  t:\n    cmd: x\n    plots:\n      - c.csv: {template: confusion_normalized, x: a, y: [b, c]}\n")
    assert without_y.message == "invalid file 'mlx.yaml:5': at 'stages.t.plots.0.c.csv': 'y' is required"
    assert two_y.message == "invalid file 'mlx.yaml:5': at 'stages.t.plots.0.c.csv.y': a confusion matrix takes one 'y' column, the predicted class"

"""mlx plots show|diff: plots files of several revisions drawn overlaid, as PNG or SVG images and one
HTML report that opens offline; problems at one revision are warnings, not failures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PIPELINE = """\
stages:
  train:
    cmd: echo train
    plots:
      - plots/loss.csv: {title: Training loss}
      - plots/classes.csv: {template: confusion, x: actual, y: predicted}
"""
LOSS_OLD = "step,loss\n0,1.0\n1,0.6\n2,0.4\n"
LOSS_NEW = "step,loss\n0,0.9\n1,0.5\n2,0.2\n"
CLASSES_OLD = "actual,predicted\ncat,cat\ncat,dog\ndog,dog\n"
CLASSES_NEW = "actual,predicted\ncat,cat\ncat,cat\ndog,cat\ndog,dog\n"
BLUE, ORANGE = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)  # the colours of the first and second revision


@pytest.fixture
def history(repo):
    """Two commits of plots data, and the workspace as the second commit left it."""
    repo.gen({"mlx.yaml": PIPELINE, "plots": {"loss.csv": LOSS_OLD, "classes.csv": CLASSES_OLD}})
    repo.commit("first plots")
    repo.gen({"plots": {"loss.csv": LOSS_NEW, "classes.csv": CLASSES_NEW}})
    repo.commit("better model")
    return repo


def has_colour(image, rgb: tuple[int, int, int]) -> bool:
    return bool((abs(image[..., :3] * 255 - rgb) < 8).all(axis=-1).any())


def test_diff_with_a_revision_writes_index_html_and_an_image_per_plots_file(history, mlx):
    result = mlx("plots", "diff", "HEAD~1")

    assert (result.code, result.err) == (0, ""), result
    assert result.out == "mlx_plots/index.html\nmlx_plots/plots/loss.csv.png\nmlx_plots/plots/classes.csv.png\n"
    from matplotlib.image import imread

    loss = imread(history / "mlx_plots/plots/loss.csv.png")
    assert loss.shape == (450, 800, 4)
    assert has_colour(loss, BLUE) and has_colour(loss, ORANGE)  # HEAD~1's line and the workspace's
    confusion = imread(history / "mlx_plots/plots/classes.csv.png")
    assert confusion.shape[1] > confusion.shape[0]  # two matrices side by side
    assert confusion[..., :3].std() > 0.1


def test_the_report_names_the_revisions_and_each_plot_and_holds_its_data(history, mlx):
    assert mlx("plots", "diff", "HEAD~1").code == 0
    page = (history / "mlx_plots" / "index.html").read_text()

    commit = history.git("rev-parse", "HEAD~1").strip()
    assert f"HEAD~1 <code>{commit[:10]}</code></li>" in page
    assert "<h2>Training loss</h2>" in page and "<h2>plots/classes.csv</h2>" in page
    assert page.count("<svg") == 2
    assert "<tr><td>HEAD~1</td><td>2</td><td>0.4</td></tr>" in page
    assert "<tr><td>workspace</td><td>cat</td><td>cat</td><td>2</td></tr>" in page


def test_the_report_fetches_nothing_when_opened(history, mlx):
    assert mlx("plots", "diff", "HEAD~1").code == 0
    page = (history / "mlx_plots" / "index.html").read_text()

    assert "<script" not in page and "<link" not in page and "@import" not in page
    references = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page)
    assert references and all(reference.startswith("#") for reference in references)  # glyphs defined in the page
    assert "url(" not in page.replace("url(#", "")
    assert "http://" not in page and "https://" not in page  # not even a namespace or a DTD
    assert "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">" in page


def test_confusion_counts_are_those_of_each_revision(history, mlx):
    result = mlx("plots", "diff", "HEAD~1", "--json")

    assert result.code == 0, result
    (plot,) = [plot for plot in result.json["plots"] if plot["template"] == "confusion"]
    assert plot["classes"] == ["cat", "dog"]
    assert [(series["revision"], series["counts"]) for series in plot["series"]] == [
        ("HEAD~1", [[1, 1], [0, 1]]),
        ("workspace", [[2, 0], [1, 1]]),
    ]
    assert [revision["name"] for revision in result.json["revisions"]] == ["HEAD~1", "workspace"]


def test_diff_without_a_revision_compares_head_and_the_workspace(history, mlx):
    history.gen({"plots": {"loss.csv": "step,loss\n0,0.1\n"}})

    result = mlx("plots", "diff", "--json", "-t", "plots/loss.csv")

    (plot,) = result.json["plots"]
    assert [(series["revision"], series["y"]) for series in plot["series"]] == [
        ("HEAD", {"loss": [0.9, 0.5, 0.2]}),
        ("workspace", {"loss": [0.1]}),
    ]


def test_a_file_missing_at_a_revision_is_a_warning_and_the_others_are_drawn(history, mlx):
    history.gen({"mlx.yaml": PIPELINE + "      - plots/acc.json\n", "plots": {"acc.json": '[{"acc": 0.5}, {"acc": 0.7}]'}})

    result = mlx("plots", "diff", "HEAD", "--format", "svg")

    assert result.code == 0, result
    assert result.err == "warning: 'plots/acc.json' does not exist at HEAD\n"
    assert result.out.splitlines()[-1] == "mlx_plots/plots/acc.json.svg"
    svg = (history / "mlx_plots" / "plots" / "acc.json.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg and "<text" not in svg  # text drawn as paths
    assert "<li>&#x27;plots/acc.json&#x27; does not exist at HEAD</li>" in (history / "mlx_plots" / "index.html").read_text()


def test_drawing_again_writes_the_same_bytes(history, mlx):
    out = history / "mlx_plots"
    assert mlx("plots", "diff", "HEAD~1").code == 0
    first = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    assert mlx("plots", "diff", "HEAD~1", "--format", "svg").code == 0
    svgs = {path: path.read_bytes() for path in out.rglob("*.svg")}
    assert mlx("plots", "diff", "HEAD~1").code == 0
    assert mlx("plots", "diff", "HEAD~1", "--format", "svg").code == 0

    assert {path: path.read_bytes() for path in first} == first
    assert {path: path.read_bytes() for path in svgs} == svgs


def test_show_draws_files_that_mlx_yaml_does_not_declare_and_writes_where_asked(repo, mlx):
    repo.gen({"eval": {"roc.tsv": "fpr\ttpr\n0\t0\n0.5\t0.8\n1\t1\n"}})

    result = mlx("plots", "show", "eval/roc.tsv", "-o", "report", "--json")

    assert result.code == 0, result
    assert result.json["html"] == str(repo / "report" / "index.html")
    assert result.json["images"] == [str(repo / "report" / "eval" / "roc.tsv.png")]
    (plot,) = result.json["plots"]
    assert (plot["x"], plot["y"], plot["series"][0]["x"]) == ("step", ["tpr"], [0, 1, 2])


def test_a_plots_file_cached_as_a_stage_output_is_read_from_the_cache_at_a_revision(repo, mlx):
    repo.gen({"mlx.yaml": "stages:\n  eval:\n    cmd: printf 'step,acc\\n0,0.5\\n' > acc.csv\n    plots:\n      - acc.csv: {cache: true}\n"})
    assert mlx("run").code == 0
    repo.commit("ran")
    assert "acc.csv" not in repo.git("ls-files")
    repo.gen({"acc.csv": "step,acc\n0,0.75\n"})

    result = mlx("plots", "diff", "--json")

    assert result.code == 0, result
    assert [series["y"] for series in result.json["plots"][0]["series"]] == [{"acc": [0.5]}, {"acc": [0.75]}]


def test_a_bad_template_in_mlx_yaml_is_an_error_naming_the_line(history, mlx):
    history.gen({"mlx.yaml": PIPELINE.replace("template: confusion", "template: heatmap")})

    result = mlx("plots", "show")

    result.expect_error(
        12,
        "invalid file 'mlx.yaml:6': at 'stages.train.plots.1.plots/classes.csv.template': "
        "'heatmap' is not a plot template (linear, scatter, bar, confusion or confusion_normalized)",
    )


def test_nothing_to_draw_is_an_error(repo, mlx):
    mlx("plots", "show").expect_error(
        2, "no plots files: mlx.yaml declares none", "list files under a stage's 'plots:' in mlx.yaml, or name them: 'mlx plots show FILE'"
    )
    mlx("plots", "show", "nope.csv").expect_error(2, "'nope.csv' does not exist in the workspace")
    mlx("plots", "show", "--format", "gif").expect_error(2, "'gif' is not an image format mlx writes", "use png or svg")
    assert not Path(repo / "mlx_plots").exists()

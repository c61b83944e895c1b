"""minigpt.plots: the book's figure style and the pipeline's figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from minigpt import plots  # noqa: E402


def test_book_style_sets_a_readable_style_that_fits_the_column():
    matplotlib.rcdefaults()
    assert plots.book_style() is None  # nothing for a notebook cell to display
    assert matplotlib.rcParams["figure.dpi"] == plots.DPI
    assert matplotlib.rcParams["figure.facecolor"] == "white"  # readable in dark mode
    # the default figure fits the text column, so it is never shrunk
    assert matplotlib.rcParams["figure.figsize"][0] <= plots.COLUMN_INCHES
    assert plots.COLUMN_INCHES * plots.DPI <= 688
    # no text smaller than 9 px on the page: points * dpi / 72
    for key in ("font.size", "xtick.labelsize", "ytick.labelsize", "legend.fontsize"):
        assert matplotlib.rcParams[key] * plots.DPI / 72 >= 9, key
    assert matplotlib.rcParams["font.size"] == plots.STYLE["font.size"]
    matplotlib.rcdefaults()


def test_book_style_outside_ipython_draws_a_figure_of_the_stated_size(tmp_path):
    matplotlib.rcdefaults()
    plots.book_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = tmp_path / "f.png"
    fig.savefig(path)
    plt.close(fig)
    width = int.from_bytes(path.read_bytes()[16:20], "big")
    assert width == round(matplotlib.rcParams["figure.figsize"][0] * plots.DPI)
    matplotlib.rcdefaults()

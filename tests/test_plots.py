"""minigpt.plots: the book's figure style, and the diagrams script."""

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


def _diagrams_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "make_diagrams.py"
    spec = importlib.util.spec_from_file_location("make_diagrams", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_diagrams_are_what_the_script_draws(tmp_path, monkeypatch):
    diagrams = _diagrams_module()
    committed = diagrams.OUT
    monkeypatch.setattr(diagrams, "OUT", tmp_path)
    for make in diagrams.DIAGRAMS:
        fresh = make()
        assert fresh.read_text() == (committed / fresh.name).read_text(), (
            f"{fresh.name} is stale: run python scripts/make_diagrams.py")


def test_diagrams_read_on_a_phone_and_in_dark_mode():
    import re

    diagrams = _diagrams_module()
    for make in diagrams.DIAGRAMS:
        svg = (diagrams.OUT / f"{make.__name__}.svg").read_text()
        width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))
        sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
        # shown 342 px wide on a 390 px phone: every text at least 12 px there
        assert sizes and min(sizes) * 342 / width >= 12, make.__name__
        # an opaque white background, so dark text stays readable on a dark page
        assert re.search(r'<rect x="1" y="1" [^>]*fill="#ffffff"', svg), make.__name__
        assert "<title>" in svg and "<desc>" in svg


def test_every_committed_diagram_is_drawn_by_the_script_and_every_used_one_exists():
    import re
    from pathlib import Path

    diagrams = _diagrams_module()
    drawn = {f"{make.__name__}.svg" for make in diagrams.DIAGRAMS}
    committed = {path.name for path in diagrams.OUT.glob("*.svg")}
    assert committed == drawn, (committed ^ drawn)
    # the chapters of Parts I and II that have a conceptual diagram, and the ones they show
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    used = {name for path in notebooks.glob("*.ipynb")
            for name in re.findall(r"figures/diagrams/([\w.]+\.svg)", path.read_text())}
    assert used <= drawn, used - drawn
    for stem in ("03_", "04_", "05_", "08_", "09_", "10_", "11_", "12_", "13_", "14_"):
        (path,) = notebooks.glob(f"{stem}*.ipynb")
        assert "figures/diagrams/" in path.read_text(), f"{path.name} shows no diagram"

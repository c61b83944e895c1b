"""The book's figure style (chapters 1-14 and the appendix).

``book_style()`` is called once at the top of every chapter: one look for every
figure, and figures sized for the book's text column (688 px at 1280 px: 6.88
inches at 100 dpi), stored at twice the pixel density for high-density screens.
"""

from __future__ import annotations


#: Width of the book's text column in inches at ``DPI``: a figure no wider is shown
#: at its own size, so its text keeps the size set here (a wider one is shrunk).
COLUMN_INCHES = 6.8
DPI = 100
#: The style: text sizes in points; 8 pt is 11 px at 100 dpi.
STYLE = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.figsize": (6.0, 3.8),
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
}


def book_style(retina: bool = True) -> None:
    """Set the book's figure style; in Jupyter also store figures at 2x density.

    Outside IPython only the style is set (``STYLE``, in matplotlib's rcParams).
    """
    import matplotlib

    matplotlib.rcParams.update(STYLE)
    if retina:
        try:
            from IPython import get_ipython
        except ImportError:
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            # PNGs at twice the pixels, shown at the figure's size
            set_matplotlib_formats("retina")

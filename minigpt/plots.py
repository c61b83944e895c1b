"""The book's figure style, and the pipeline's figures drawn from ``report.json`` alone.

``book_style()`` is called once at the top of every chapter: one look for every
figure, and figures sized for the book's text column (688 px at 1280 px: 6.88
inches at 100 dpi), stored at twice the pixel density for high-density screens.
"""

from __future__ import annotations

import math
from pathlib import Path

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


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def pipeline_plots(report, out_dir) -> list[Path]:
    """Write the pipeline's PNG figures into ``out_dir``; returns their paths."""
    plt = _figure()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

    if "pretrain" in report and "sft" in report:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for ax, key, title in (
            (axes[0], "pretrain", "pre-training"),
            (axes[1], "sft", "SFT"),
        ):
            h = report[key]["history"]
            ax.plot(h["eval_step"], h["eval_train_loss"], "o-", label="train")
            ax.plot(h["eval_step"], h["val_loss"], "o-", label="validation / held-out")
            ax.set(title=title, xlabel="step", ylabel="loss")
            ax.legend()
        save(fig, "losses.png")

    rm = report.get("reward_model")
    if rm:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        pairs = [c["pairs"] for c in rm["accuracy_by_pairs"]]
        ax.plot(
            pairs,
            [c["accuracy_vs_labeler"] for c in rm["accuracy_by_pairs"]],
            "o-",
            label="vs labeller",
        )
        ax.plot(
            pairs,
            [c["accuracy_vs_gold"] for c in rm["accuracy_by_pairs"]],
            "s-",
            label="vs gold order",
        )
        ax.axhline(
            rm["labeler_ceiling"], color="gray", ls="--", label="labeller ceiling"
        )
        ax.set(
            xscale="log",
            xlabel="training pairs",
            ylabel="held-out accuracy",
            title="Reward model",
        )
        ax.legend()
        save(fig, "reward_model_accuracy.png")

    bon = report.get("best_of_n")
    runs = report.get("ppo", {}).get("runs", {})
    if bon or runs:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, which in ((axes[0], "gold"), (axes[1], "proxy")):
            for name, curve in (bon or {}).items():
                d = [math.sqrt(max(c["kl"], 0)) for c in curve]
                key = "gold" if which == "gold" else "proxy"
                ax.plot(
                    d,
                    [c[key] - curve[0][key] for c in curve],
                    "o--",
                    label=f"best-of-n, {name} RM",
                )
            for name, run in runs.items():
                if not name.endswith("_rm"):
                    continue
                curve = run["curve"]
                d = [math.sqrt(max(c["kl"], 0)) for c in curve]
                key = "gold" if which == "gold" else "reward_model_score"
                ax.plot(
                    d,
                    [c[key] - curve[0][key] for c in curve],
                    "o-",
                    label=f"PPO, {name.replace('_', ' ')}",
                )
            ax.axhline(0, color="gray", lw=0.8)
            ax.set(
                xlabel="d = sqrt(KL to SFT)",
                ylabel=f"{which} score - initial",
                title=f"{which.capitalize()} score against distance",
            )
            ax.legend(fontsize=8)
        save(fig, "overoptimisation.png")

    if runs:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for name, run in runs.items():
            if name == "weak_rm":
                continue
            curve = run["curve"]
            d = [math.sqrt(max(c["kl"], 0)) for c in curve]
            ax.plot(d, [c["gold"] for c in curve], "o-", label=f"beta={run['beta']}")
        ax.set(
            xlabel="d = sqrt(KL to SFT)",
            ylabel="held-out gold score",
            title="PPO: the KL penalty",
        )
        ax.legend()
        save(fig, "beta_sweep.png")

    table = report.get("evaluation", {}).get("table")
    if table:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        names = [n for n in ("sft", "ppo", "dpo") if n in table]
        ax.bar(
            names,
            [table[n]["gold"] for n in names],
            yerr=[table[n]["gold_se"] for n in names],
            capsize=4,
        )
        ax.set(ylabel="held-out gold score", title="Every stage on held-out prompts")
        save(fig, "stages.png")
    return written

"""One figure style for the suite; figures are saved as PNG and PDF, headless (agg)."""

from pathlib import Path

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from .paths import FIGURES_DIR  # noqa: E402

PAPER_STYLE = {"color": "black", "marker": "*", "s": 140, "zorder": 5, "label": "paper (claimed)"}


def use_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def save_figure(fig, name: str, profile: str, figures_dir: Path = FIGURES_DIR) -> Path:
    """Save `name`.png and `name`.pdf under figures/<profile>/ and return the PNG path."""
    folder = Path(figures_dir) / profile
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("png", "pdf"):
        fig.savefig(folder / f"{name}.{suffix}")
    return folder / f"{name}.png"

"""One figure style for the suite; figures are saved as PNG and PDF, headless (agg)."""

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from ..analysis import measures
from ..analysis.dataset_tables import LENGTH_MARKS
from ..analysis.paper_claims import load_claims
from ..analysis.stats import WITHIN_NOISE

PAPER_STYLE = {"color": "black", "marker": "*", "s": 140, "zorder": 5, "label": "paper (claimed)"}


def use_style() -> None:
    """The suite's style, drawn headless: a notebook shows the figures its cells return, once each."""
    matplotlib.use("agg")
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight", "axes.titleweight": "bold"})
    _show_returned_figures()


def _show_returned_figures() -> None:
    """Under agg nothing is shown by itself; in a notebook, let a figure that a cell returns render as PNG."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("png")


def save_figure(fig, name: str, folder: Path) -> Path:
    """Save `name`.png and `name`.pdf in `folder` (a plan's figures folder) and return the PNG path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("png", "pdf"):  # no creation date in the PDF: the same figure gives the same bytes
        fig.savefig(folder / f"{name}.{suffix}", metadata={"CreationDate": None} if suffix == "pdf" else None)
    return folder / f"{name}.png"


def mean_ci(summary, order, hue: str = "split", paper: dict | None = None, ax=None, ylabel: str | None = None,
            dodge: bool = True, legend_title: str | None = None):
    """Means with 95% CI error bars (a summarise_over_seeds frame) per experiment in `order`, one series per `hue`
    value; the paper's {experiment: value} as black stars."""
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.9 * len(order) + 2), 4))
    levels = list(dict.fromkeys(summary[hue]))
    width = 0.5 if dodge and len(levels) > 1 else 0
    for i, level in enumerate(levels):
        rows = summary[summary[hue] == level].set_index("experiment").reindex(order)
        x = np.arange(len(order)) + (width * (i / (len(levels) - 1) - 0.5) if width else 0)
        err = np.nan_to_num(np.array([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]]))
        ax.errorbar(x, rows["mean"], yerr=err, fmt="o", capsize=4, label=str(level))
    known = {e: v for e, v in (paper or {}).items() if e in order and v == v}
    if known:
        ax.scatter([order.index(e) for e in known], list(known.values()), **PAPER_STYLE)
    ax.set_xticks(range(len(order)), order, rotation=30, ha="right")
    ax.set_ylabel(ylabel or ", ".join(dict.fromkeys(summary["measure"])))
    ax.legend(fontsize="small", title=legend_title)
    return ax


def reference_lines(ax, references: dict[str, float], label: str = "") -> None:
    """Dashed horizontal lines, labelled at the right edge, for reference points such as a rule or a baseline."""
    for name, value in references.items():
        ax.axhline(value, color="grey", linestyle="--", linewidth=1, zorder=0)
        ax.annotate(f"{name}{label} {value:.2f}", (1, value), xycoords=("axes fraction", "data"), xytext=(-4, 2),
                    textcoords="offset points", ha="right", va="bottom", fontsize="x-small", color="grey")


def loss_facets(curves, paper_value: float | None = None, paper_experiment: str | None = None, col_wrap: int = 4):
    """Train and validation loss per epoch, one panel per experiment, one line per seed; the paper's final
    validation loss as a dashed black line in its experiment's panel."""
    grid = sns.relplot(data=curves, x="epoch", y="loss", hue="curve", units="seed", estimator=None, kind="line",
                       col="experiment", col_wrap=min(col_wrap, curves["experiment"].nunique()), height=2.6,
                       aspect=1.2, alpha=0.8, facet_kws={"sharey": True})
    grid.set_titles("{col_name}")
    if paper_value is not None and paper_experiment in grid.axes_dict:
        grid.axes_dict[paper_experiment].axhline(paper_value, color="black", linestyle="--",
                                                 label="paper: final val loss")
        grid.axes_dict[paper_experiment].legend(fontsize="x-small", loc="best")
    return grid.figure


def run_curves(history: dict):
    """One run: the loss at every optimizer step, and the train/validation loss per epoch."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    steps = history["steps"]
    left.plot([s["step"] for s in steps], [s["loss"] for s in steps], marker=".")
    left.set(xlabel="optimizer step", ylabel="training loss (mean over the accumulation window)",
             title="Loss per optimizer step")
    epochs = history["epochs"]
    for curve in ("train", "val"):
        right.plot([e["epoch"] for e in epochs], [e[f"{curve}_loss"] for e in epochs], marker="o", label=curve)
    if history.get("weights_from_epoch"):
        right.axvline(history["weights_from_epoch"], color="grey", linestyle=":", label="weights kept")
    right.set(xlabel="epoch", ylabel="loss", title="Loss per epoch")
    right.legend()
    return fig


def length_histogram(lengths, marks=LENGTH_MARKS, splits=("training", "validation")):
    """Token counts per case (log-scaled counts, so the few long cases show), with vertical lines at `marks`."""
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.histplot(lengths[lengths["split"].isin(splits)], x="n_tokens", hue="split", bins=50, element="step", ax=ax)
    ax.set_yscale("log")
    for mark in marks:
        ax.axvline(mark, color="black", linestyle=":", linewidth=1)
        ax.annotate(f"{mark}", (mark, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize="small")
    ax.set(xlabel="tokens per case (untruncated)", ylabel="cases (log scale)")
    return fig


def _bars_with_ci(ax, frame, x: str, hue: str, value: str) -> list:
    """Grouped bars of `value` (as %) per `x`, one per `hue`, with ci_low / ci_high error bars; the x order."""
    groups, hues = list(dict.fromkeys(frame[x])), list(dict.fromkeys(frame[hue]))
    width = 0.8 / len(hues)
    for i, name in enumerate(hues):
        rows = frame[frame[hue] == name].set_index(x).reindex(groups)
        positions = np.arange(len(groups)) + width * (i - (len(hues) - 1) / 2)
        err = np.array([rows[value] - rows["ci_low"], rows["ci_high"] - rows[value]]) * 100
        ax.bar(positions, rows[value] * 100, width, yerr=err, capsize=4, label=name)
    return groups


def relative_costs(costs, paper: dict[str, float]):
    """The relative cost of the longer max length per measure, one bar per way of batching with its 95% CI,
    and the paper's claim as a black star over each measure."""
    fig, ax = plt.subplots(figsize=(7, 4))
    measures = _bars_with_ci(ax, costs, "measure", "batching", "relative")
    ax.scatter([measures.index(m) for m in paper], [v * 100 for v in paper.values()], **PAPER_STYLE)
    ax.axhline(0, color="black", linewidth=0.8)
    short, long = costs["from_tokens"].iloc[0], costs["to_tokens"].iloc[0]
    ax.set_xticks(range(len(measures)), measures)
    ax.set(ylabel=f"increase at {long} over {short} tokens (%)", title=f"What {long} tokens cost")
    ax.legend(fontsize="small", title="batches padded")
    return fig


def transfer_effects(table):
    """Each claimed step's accuracy change on fresh cases per task, with its family-wise CI, and the paper's
    Task101 gain as a black star: does a step that the paper reports helping on Task101 help on Task102?"""
    fig, ax = plt.subplots(figsize=(8, 4))
    steps = _bars_with_ci(ax, table, "step", "task", "ours")
    paper = table.drop_duplicates("step").set_index("step").reindex(steps)["paper"]
    ax.scatter(range(len(steps)), paper * 100, **PAPER_STYLE | {"label": "paper (claimed, Task101)"})
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(steps)), steps, rotation=15, ha="right")
    ax.set(ylabel="accuracy change on fresh cases (points)", title="The paper's steps on Task101 and Task102")
    ax.legend(fontsize="small")
    return fig


def confusion_matrices(matrices: dict, classes, title: str = ""):
    """One heatmap per name: true class down, predicted class across, counts summed over seeds."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices.items()):
        sns.heatmap(matrix, annot=True, fmt="d", cbar=False, cmap="Blues", xticklabels=classes, yticklabels=classes,
                    ax=ax)
        ax.set(title=name, xlabel="predicted class", ylabel="true class")
    fig.suptitle(title, y=1.04)
    return fig


# What a forest row's colour says: the verdict's rule word, each its own colour (its text may go on: "(stand-in
# model)"); a word qualified "within the paper's noise" (stats.WITHIN_NOISE) is drawn as an open marker.
FOREST_COLOURS = {"supported": "#1b7837", "as claimed": "#00441b", "larger than claimed": "#5aae61",
                  "higher than claimed": "#35978f", "smaller than claimed": "#e08214", "lower than claimed": "#8c510a",
                  "claimed size ruled out": "#d6604d", "contradicted": "#b2182b", "inconclusive": "#b8860b",
                  "different model": "#4575b4", "different hardware": "#762a83"}


def verdict_forest(verdicts, title: str, claims: dict | None = None):
    """One row per judged-view claim: our estimate with its family interval (coloured by verdict) beside the paper's
    value with its implied interval (black), effects and costs as changes (each measure as a share of the cases,
    measures.Measure.share: false positives per 100 as a rate) on the left, levels on the right; `title` names the
    model and the hardware."""
    descriptive = set(measures.VIEWS) - {measures.JUDGED_VIEW}  # the other rows: judged view, benchmark
    rows = verdicts[~verdicts.view.isin(descriptive) & verdicts.ours.notna() & (verdicts.kind != "pvalue")]
    share = {claim: measure.share for claim, measure in measures.by_claim(claims or load_claims()).items()}
    panels = {"change (effects, costs)": rows[rows.kind != "level"], "level": rows[rows.kind == "level"]}
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.42 * max(len(p) for p in panels.values()) + 1.8),
                             gridspec_kw={"width_ratios": [3, 2]})
    for ax, (label, panel) in zip(axes, panels.items()):
        scale = panel.claim.map(share).to_numpy(float)
        y = np.arange(len(panel))[::-1]
        for column, style in (("ours", "o"), ("paper", "D")):
            low, high = (("ci_low", "ci_high") if column == "ours" else ("paper_low", "paper_high"))
            centre = panel[column].to_numpy(float) * scale
            spread = np.array([centre - panel[low].to_numpy(float) * scale, panel[high].to_numpy(float) * scale - centre])
            colours = ([_forest_colour(v) for v in panel.verdict] if column == "ours" else ["black"] * len(panel))
            faces = [("white" if column == "ours" and WITHIN_NOISE in str(v) else colour)
                     for v, colour in zip(panel.verdict, colours)]
            offset = 0.15 if column == "ours" else -0.15
            for yi, c, lo, hi, colour, face in zip(y + offset, centre, *np.nan_to_num(spread), colours, faces):
                ax.errorbar(c, yi, xerr=[[lo], [hi]], fmt=style, color=colour, markerfacecolor=face, capsize=3,
                            markersize=5)
        labels = [t.split(";")[0] + ("" if v == "fresh" else f" ({v})") for t, v in zip(panel.text, panel.view)]
        ax.set_yticks(y, labels, fontsize="small")
        ax.axvline(0 if label.startswith("change") else 0.5, color="grey", linewidth=0.8)
        ax.set(xlabel=label)
    handles = [plt.Line2D([], [], color=c, marker="o", linestyle="", label=v) for v, c in FOREST_COLOURS.items()]
    handles.append(plt.Line2D([], [], color="grey", marker="o", markerfacecolor="white", linestyle="",
                              label="open: within the paper's noise"))
    handles.append(plt.Line2D([], [], color="black", marker="D", linestyle="", label="paper, its implied 95% interval"))
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize="small", bbox_to_anchor=(0.5, -0.02 - 0.02 * 2))
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _forest_colour(verdict: str) -> str:
    return next((c for name, c in FOREST_COLOURS.items() if str(verdict).startswith(name)), "grey")

"""Tables for people: numbers as text ('mean ± sd [95% CI]'), styled for the notebooks with verdicts coloured, and
saved as CSV and Markdown."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd


VERDICT_COLOURS = {"supported": "#d4edda", "as claimed": "#d4edda", "larger than claimed": "#e2f0d9",
                   "higher than claimed": "#e2f0d9", "smaller than claimed": "#fde9d9",
                   "lower than claimed": "#fde9d9", "claimed size ruled out": "#f8d7da", "contradicted": "#f1b0b7",
                   "inconclusive": "#fff3cd", "too few seeds": "#e2e3e5", "not testable": "#e2e3e5",
                   "different model": "#dde7f3", "different hardware": "#e8dff5", "descriptive": "#f4f4f4",
                   "not run": "#e2e3e5"}


def verdict_colour(verdict) -> str:
    """A verdict's colour, whatever it says after its rule's word ("inconclusive (stand-in model)", "... fragile")."""
    return next((colour for name, colour in VERDICT_COLOURS.items() if str(verdict).startswith(name)), "")
VIEW_NAMES = {"fresh": "fresh (primary)", "validation": "validation (paper's view)"}


def save_table(frame: pd.DataFrame, name: str, folder: Path) -> Path:
    """Write `name`.csv (for code) and `name`.md (for people) in `folder` (a plan's tables folder)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{name}.csv", index=False)
    (folder / f"{name}.md").write_text(frame.to_markdown(index=False, floatfmt=".3f") + "\n")
    return folder / f"{name}.csv"


def _num(x, digits: int = 3) -> str:
    return "—" if x is None or pd.isna(x) else f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"


def mean_sd_ci(row, digits: int = 3) -> str:
    """'mean ± sd [low, high]' for a summarise_over_seeds row; what one seed cannot give is left out."""
    text = _num(row["mean"], digits)
    if pd.notna(row.get("sd")):
        text += f" ± {_num(row['sd'], digits)}"
    if pd.notna(row.get("ci_low")):
        text += f" [{_num(row['ci_low'], digits)}, {_num(row['ci_high'], digits)}]"
    return text if row.get("n_seeds", 2) != 1 else text + " (1 seed)"


def readable(summary: pd.DataFrame, index, columns: str = "measure", digits: int = 3) -> pd.DataFrame:
    """A summary as text cells 'mean ± sd [95% CI]', with ' · paper v' where the paper gives a value."""
    text = summary.apply(mean_sd_ci, axis=1, digits=digits)
    for column in [c for c in ("paper", "paper_ladder") if c in summary]:
        label = "paper" if column == "paper" else "paper (ladder)"
        text += summary[column].map(lambda v, label=label: "" if pd.isna(v) else f" · {label} {_num(v, digits)}")
    index = [index] if isinstance(index, str) else list(index)
    wide = summary.assign(_text=text).pivot(index=index, columns=columns, values="_text")
    order = summary[index].drop_duplicates()
    wide = wide.reindex(pd.MultiIndex.from_frame(order) if len(index) > 1 else order[index[0]])
    return wide[list(dict.fromkeys(summary[columns]))].rename_axis(columns=None)


def compact(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """For display: each column X that has X_low and X_high becomes one text column 'X [95% CI]'."""
    out = frame.copy()
    for column in [c for c in frame.columns if f"{c}_low" in frame and f"{c}_high" in frame]:
        ci = [f" [{_num(lo, digits)}, {_num(hi, digits)}]" if pd.notna(lo) else ""
              for lo, hi in zip(frame[f"{column}_low"], frame[f"{column}_high"])]
        out[column] = [_num(v, digits) + c for v, c in zip(frame[column], ci)]
        out = out.drop(columns=[f"{column}_low", f"{column}_high"]).rename(columns={column: f"{column} [95% CI]"})
    return out


def _is_pvalue(column) -> bool:
    return re.search(r"(^|_)p($|_)", str(column)) is not None


def styled(frame: pd.DataFrame, digits: int = 3, index: bool = False):
    """A frame for display: numbers to `digits` decimals (p-values to 3 significant digits), NaN as '—', verdict
    columns coloured."""
    # Table ids from the content, not random: a regenerated report has the same bytes, and tables stay distinct.
    uuid = hashlib.sha256(frame.to_csv().encode()).hexdigest()[:8]
    style = frame.style.set_uuid(uuid).format(precision=digits, na_rep="—")
    pvalues = [c for c in frame.columns if _is_pvalue(c) and pd.api.types.is_float_dtype(frame[c])]
    if pvalues:
        style = style.format("{:.3g}", subset=pvalues, na_rep="—")
    if not index:
        style = style.hide(axis="index")
    text = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    if text:
        style = style.set_properties(subset=text, **{"text-align": "left"})
    verdicts = [c for c in frame.columns if "verdict" in str(c)]
    if verdicts:
        style = style.map(lambda v: f"background-color: {verdict_colour(v)}", subset=verdicts)
    return style


def _evidence(row) -> str:
    """'3 seeds, 400 cases' for a run-based row; '5 timed steps per length' for a benchmark row."""
    if pd.notna(getattr(row, "n_steps", np.nan)):
        return f"{int(row.n_steps)} timed steps per length"

    if pd.isna(getattr(row, "n_seeds", np.nan)):
        return "—"
    cases = f", {int(row.n_cases)} cases" if pd.notna(getattr(row, "n_cases", np.nan)) else ""
    return f"{int(row.n_seeds)} seed{'' if row.n_seeds == 1 else 's'}" + cases


def verdict_overview(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: the paper's value [its implied interval], then per view our estimate [CI], the evidence,
    the power where the row was judged, and the verdict, as text; '†' marks a validation estimate of configs that
    chose their epoch on those cases, 'fragile' a verdict that a repeated experiment would give less than 80% of
    the time (claims.stability)."""
    rows = []
    for claim, group in verdicts.groupby("claim", sort=False):
        first = group.iloc[0]
        implied = (f" [{_num(first.paper_low)}, {_num(first.paper_high)}]"
                   if pd.notna(getattr(first, "paper_low", np.nan)) else "")
        row = {"claim": first["text"], "kind": first["kind"], "paper": _num(first["paper"]) + implied}
        for r in group.itertuples():
            view = VIEW_NAMES.get(r.view, r.view)
            ci = f" [{_num(r.ci_low)}, {_num(r.ci_high)}]" if pd.notna(r.ci_low) else ""
            mark = " †" if getattr(r, "selection_biased", False) and r.verdict != "not run" else ""
            fragile = ", fragile" if getattr(r, "fragile", False) is True else ""
            caveat = getattr(r, "caveat", "")
            row |= {f"{view}: ours": _num(r.ours) + ci + mark, f"{view}: evidence": _evidence(r) + _power(r),
                    **_facts(r, view),
                    f"{view}: verdict": r.verdict + fragile + (f"; {caveat}" if isinstance(caveat, str) and caveat
                                                               else "")}
        if "ci_method" in group:
            row["CI"] = "; ".join(m for m in dict.fromkeys(group["ci_method"].dropna()))
        rows.append(row)
    return pd.DataFrame(rows).fillna("—")


FACTS = {"direction": "direction", "ci_width": "CI width", "claimed_size": "claimed size",
         "paper_noise": "ours vs the replication interval"}


def _facts(row, view: str) -> dict:
    """The facts a judged row's verdict follows from (stats.verdict_facts), a column each; none for the others."""
    return {f"{view}: {label}": getattr(row, name) for name, label in FACTS.items()
            if isinstance(getattr(row, name, None), str) and getattr(row, name)}


def _power(row) -> str:
    """'; detects ≥ 0.05; the claimed size: 12 seeds; ours from 0: ...' for a judged row; nothing for the others."""
    if pd.isna(getattr(row, "detectable", np.nan)):
        return ""
    return (f"; detects ≥ {_num(row.detectable)}; to detect the claimed size: {row.to_detect_claim}; "
            f"to tell ours from 0: {row.to_tell_ours_from_0}")

"""Tables built from cached runs: metrics per run, summaries over seeds, curves, costs. Saved as CSV and Markdown."""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import data, stats
from .features import EncodingOptions, encode_cases
from .paths import RUNS_DIR, TABLES_DIR
from .runs import Run, experiment_config, load_experiments, load_or_run, profile_plan

METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc"]


def profile_runs(profile: str, model: str | None = None, seeds: list[int] | None = None,
                 runs_root: Path = RUNS_DIR, progress: bool = True) -> list[Run]:
    """Every run of a profile: loaded from the cache, or trained now if missing."""
    plan = [(name, seed) for name, seed in profile_plan(profile) if seeds is None or seed in seeds]
    return [load_or_run(experiment_config(name, seed, profile, model), runs_root, progress) for name, seed in plan]


def metrics_frame(runs: list[Run], long_bucket: str = ">400") -> pd.DataFrame:
    """One row per (experiment, seed, split): the headline metrics, confusion counts and long-case F1."""
    rows = []
    for run in runs:
        for split, m in run.metrics.items():
            rows.append({"experiment": run.config["experiment"], "seed": run.config["seed"], "split": split,
                         **{k: v for k, v in m.items() if k != "by_length"},
                         "long_case_f1": m["by_length"].get(long_bucket, {}).get("f1", np.nan),
                         "n_long": m["by_length"].get(long_bucket, {}).get("n", 0)})
    frame = pd.DataFrame(rows)
    frame["fp_per_100"] = 100 * frame["fp"] / frame["n"]
    frame["fn_per_100"] = 100 * frame["fn"] / frame["n"]
    return frame


def summarise_over_seeds(frame: pd.DataFrame, columns, by=("split", "experiment")) -> pd.DataFrame:
    """Mean, sd and t-based 95% CI over seeds of each column, per group (keeps the ladder order)."""
    rows = []
    for key, group in frame.groupby(list(by), sort=False):
        for column in columns:
            s = stats.seed_summary(group[column].dropna())
            rows.append(dict(zip(by, key)) | {"measure": column, "n_seeds": s.n, "mean": s.mean, "sd": s.sd,
                                              "ci_low": s.low, "ci_high": s.high})
    return pd.DataFrame(rows)


def seeds_of(runs: list[Run], experiment: str) -> list[int]:
    return sorted(r.config["seed"] for r in runs if r.config["experiment"] == experiment)


def prediction_matrix(runs: list[Run], experiment: str, split: str, seeds=None) -> pd.DataFrame:
    """Predictions of one experiment on one split: a row per case (uid order), a column per seed, plus
    `label` and `n_tokens`, so that runs of different configs line up case by case."""
    chosen = [r for r in runs if r.config["experiment"] == experiment and (seeds is None or r.config["seed"] in seeds)]
    if not chosen:
        raise ValueError(f"no runs of {experiment!r}" + (f" with seeds {list(seeds)}" if seeds else ""))
    tables = [r.predictions.loc[lambda p: p["split"] == split].set_index("uid").sort_index() for r in chosen]
    matrix = pd.DataFrame({r.config["seed"]: t["prediction"].astype(int) for r, t in zip(chosen, tables)})
    return matrix.assign(label=tables[0]["label"].astype(int), n_tokens=tables[0]["n_tokens"])


def paired_predictions(runs: list[Run], a: str, b: str, split: str):
    """Per shared seed: (seed, y_true, pred_a, pred_b) aligned by uid, for paired tests."""
    seeds = sorted(set(seeds_of(runs, a)) & set(seeds_of(runs, b)))
    if seeds:
        ma, mb = prediction_matrix(runs, a, split, seeds), prediction_matrix(runs, b, split, seeds)
        for seed in seeds:
            yield seed, ma["label"].to_numpy(), ma[seed].to_numpy(), mb[seed].to_numpy()


def per_seed(frame: pd.DataFrame, experiment: str, split: str, column: str) -> pd.Series:
    rows = frame[(frame.experiment == experiment) & (frame.split == split)]
    return rows.set_index("seed")[column].sort_index()


def efficiency_frame(runs: list[Run]) -> pd.DataFrame:
    """Training wall time and peak memory per run, with the sequence length that drives them."""
    return pd.DataFrame([{
        "experiment": r.config["experiment"], "seed": r.config["seed"], "max_seq_length": r.config["max_seq_length"],
        "epochs_run": len(r.history["epochs"]), "train_seconds": sum(e["seconds"] for e in r.history["epochs"]),
        "seconds_per_epoch": np.mean([e["seconds"] for e in r.history["epochs"]]),
        "run_wall_seconds": r.provenance["wall_seconds"], "peak_memory_mb": r.provenance["peak_memory_mb"],
        "device": r.provenance["device"]} for r in runs])


def loss_curves_frame(runs: list[Run]) -> pd.DataFrame:
    """Train and validation loss per epoch, long format, for every run."""
    rows = [{"experiment": r.config["experiment"], "seed": r.config["seed"], "epoch": e["epoch"], "curve": curve,
             "loss": e[f"{curve}_loss"]} for r in runs for e in r.history["epochs"] for curve in ("train", "val")]
    return pd.DataFrame(rows)


def save_table(frame: pd.DataFrame, name: str, profile: str, tables_dir: Path = TABLES_DIR) -> Path:
    """Write `name`.csv (for code) and `name`.md (for people) under tables/<profile>/."""
    folder = Path(tables_dir) / profile
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{name}.csv", index=False)
    (folder / f"{name}.md").write_text(frame.to_markdown(index=False, floatfmt=".3f") + "\n")
    return folder / f"{name}.csv"


# ---------------------------------------------------------------- helpers for the analysis notebooks

def experiments_in(groups=("ladder", "check"), runs: list[Run] | None = None, spec: dict | None = None) -> list[str]:
    """Experiments of the given groups in experiments.yaml order; with `runs`, only those that were run."""
    spec = spec or load_experiments()
    names = [name for name, e in spec["experiments"].items() if e.get("group") in groups]
    ran = None if runs is None else {r.config["experiment"] for r in runs}
    return [name for name in names if ran is None or name in ran]


def ladder_comparisons(runs: list[Run] | None = None, spec: dict | None = None) -> list[tuple[str, str]]:
    """Each ladder step against the step it builds on, then the first step against the last (baseline, optimized)."""
    spec = spec or load_experiments()
    ladder = experiments_in(("ladder",), runs, spec)
    pairs = [(spec["experiments"][name]["base"], name) for name in ladder
             if spec["experiments"][name].get("base") in ladder]
    return pairs + ([(ladder[0], ladder[-1])] if (ladder[0], ladder[-1]) not in pairs and len(ladder) > 1 else [])


def paper_levels(claims: dict) -> pd.DataFrame:
    """The paper's levels per (experiment, measure): `paper` from the claims, `paper_ladder` from its ladder figure."""
    levels = pd.DataFrame([{"experiment": c["config"], "measure": c["metric"], "paper": c["value"]}
                           for c in claims["claims"] if c["kind"] == "level" and c["measure"] == "metric"],
                          columns=["experiment", "measure", "paper"])
    ladder = pd.DataFrame([{"experiment": e, "measure": "accuracy", "paper_ladder": v}
                           for e, v in claims.get("ladder_accuracy", {}).items()],
                          columns=["experiment", "measure", "paper_ladder"])
    return levels.merge(ladder, on=["experiment", "measure"], how="outer")


def beside_paper(summary: pd.DataFrame, paper, measure: str | None = None) -> pd.DataFrame:
    """`summary` with the paper's value(s) merged in: `paper` is a frame keyed by (experiment, measure), or a
    {experiment: value} mapping for `measure`."""
    if isinstance(paper, dict):
        paper = pd.DataFrame({"experiment": list(paper), "measure": measure, "paper": list(paper.values())})
    return summary.merge(paper, on=["experiment", "measure"], how="left")


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


VERDICT_COLOURS = {"supported": "#d4edda", "contradicted": "#f8d7da", "inconclusive": "#fff3cd", "not run": "#e2e3e5"}


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
    style = frame.style.format(precision=digits, na_rep="—")
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
        style = style.map(lambda v: f"background-color: {VERDICT_COLOURS.get(v, '')}", subset=verdicts)
    return style


def verdict_overview(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: the paper's value, then per view our estimate [95% CI] and the verdict, as text."""
    rows = []
    for claim, group in verdicts.groupby("claim", sort=False):
        row = {"claim": group["text"].iloc[0], "kind": group["kind"].iloc[0], "paper": _num(group["paper"].iloc[0])}
        for r in group.itertuples():
            ci = f" [{_num(r.ci_low)}, {_num(r.ci_high)}]" if pd.notna(r.ci_low) else ""
            row |= {f"{r.view}: ours": _num(r.ours) + ci, f"{r.view}: seeds": r.n_seeds, f"{r.view}: verdict": r.verdict}
        if "ci_method" in group:
            row["CI"] = ", ".join(m for m in dict.fromkeys(group["ci_method"].dropna()))
        rows.append(row)
    frame = pd.DataFrame(rows)
    seeds = [c for c in frame.columns if c.endswith(": seeds")]
    return frame.astype({c: "Int64" for c in seeds}).fillna({c: "—" for c in frame.columns if c.endswith(": ours")
                                                              or c.endswith(": verdict")})


def paper_consistency(claims: dict) -> pd.DataFrame:
    """Whether the paper's own numbers agree: the accuracy (and F1) its precision, recall and false positives imply
    on 100 cases, beside the accuracy it states (in the text and in its ladder)."""
    from .claims import implied_accuracy  # claims imports this module
    values = {c["id"]: c["value"] for c in claims["claims"]}
    rows = []
    for config, fp in claims["false_positive_counts"].items():
        p, r = values[f"{config}_precision"], values[f"{config}_recall"]
        tp = fp * p / (1 - p)
        rows.append({"config": config, "precision": p, "recall": r, "false_positives": fp,
                     "implied_tp": tp, "implied_fn": tp * (1 - r) / r,
                     "stated_accuracy": values.get(f"{config}_accuracy", np.nan),
                     "ladder_accuracy": claims.get("ladder_accuracy", {}).get(config, np.nan),
                     "implied_accuracy": implied_accuracy(p, r, fp),
                     "stated_f1": values.get(f"{config}_f1", np.nan), "implied_f1": 2 * p * r / (p + r)})
    return pd.DataFrame(rows)


def power_table(claims: dict, ns=(100, 1000), alpha: float = 0.05, power: float = 0.8) -> pd.DataFrame:
    """For each claimed accuracy gain: the smallest gain detectable with n cases per arm from its starting accuracy."""
    starts = {c["config"]: c["value"] for c in claims["claims"]
              if c["kind"] == "level" and c.get("metric") == "accuracy"} | claims.get("ladder_accuracy", {})
    rows = []
    for c in claims["claims"]:
        if c["kind"] == "effect" and c.get("metric") == "accuracy":
            for n in ns:
                mdd = stats.minimum_detectable_difference(n, starts.get(c["from"], 0.72), alpha, power)
                rows.append({"claim": c.get("text", c["id"]), "from_accuracy": starts.get(c["from"], 0.72),
                             "claimed_gain": c["value"], "n_cases": n, "min_detectable_gain": mdd,
                             "claimed_gain_detectable": bool(c["value"] >= mdd)})
    return pd.DataFrame(rows)


def length_bucket_frame(runs: list[Run], splits=("validation", "long")) -> pd.DataFrame:
    """One row per (experiment, seed, split, length bucket): cases, F1 and accuracy of that bucket."""
    return pd.DataFrame([{"experiment": r.config["experiment"], "seed": r.config["seed"], "split": split,
                          "bucket": bucket, "n": m["n"], "f1": m["f1"], "accuracy": m["accuracy"]}
                         for r in runs for split in splits if split in r.metrics
                         for bucket, m in r.metrics[split]["by_length"].items()],
                        columns=["experiment", "seed", "split", "bucket", "n", "f1", "accuracy"])


def deltas_from(frame: pd.DataFrame, reference: str, column: str, by=("split",)) -> pd.DataFrame:
    """Per experiment and seed, `column` minus the reference experiment's value at the same seed (and `by` keys)."""
    keys = [*by, "seed"]
    ref = frame[frame.experiment == reference].set_index(keys)[column].rename("_ref")
    joined = frame.join(ref, on=keys, how="inner")
    return joined.assign(**{column: joined[column] - joined["_ref"]}).drop(columns="_ref")


def _holm(pvalues: pd.Series) -> pd.Series:
    """Holm-adjusted p-values, leaving missing ones missing."""
    out = pd.Series(np.nan, index=pvalues.index)
    known = pvalues.notna()
    if known.any():
        out[known] = stats.holm_adjust(pvalues[known].to_numpy())
    return out


def paired_tests(runs: list[Run], comparisons, splits=("validation", "fresh"), n_resamples: int = 2000,
                 n_permutations: int = 5000) -> pd.DataFrame:
    """Per comparison (a -> b), split and shared seed: exact McNemar, paired-bootstrap 95% CIs of Δaccuracy and ΔF1,
    and the approximate-randomisation p of ΔF1; McNemar p Holm-adjusted across the comparisons (per split, seed)."""
    rows = []
    for a, b in comparisons:
        for split in splits:
            for seed, y, pred_a, pred_b in paired_predictions(runs, a, b, split):
                m = stats.mcnemar_exact(y, pred_a, pred_b)
                acc, f1 = (stats.paired_bootstrap_ci(y, pred_a, pred_b, metric, n_resamples, seed=seed)
                           for metric in ("accuracy", "f1"))
                rows.append({"from": a, "to": b, "split": split, "seed": seed, "n": len(y),
                             "only_from_correct": m.a_only_correct, "only_to_correct": m.b_only_correct,
                             "mcnemar_p": m.pvalue, "delta_accuracy": acc.delta, "delta_accuracy_low": acc.low,
                             "delta_accuracy_high": acc.high, "delta_f1": f1.delta, "delta_f1_low": f1.low,
                             "delta_f1_high": f1.high, "randomisation_p_f1": stats.approximate_randomization_pvalue(
                                 y, pred_a, pred_b, "f1", n_permutations, seed=seed)})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame.insert(frame.columns.get_loc("mcnemar_p") + 1, "mcnemar_p_holm",
                     frame.groupby(["split", "seed"])["mcnemar_p"].transform(_holm))
    return frame


def seed_tests(metrics: pd.DataFrame, comparisons, splits=("validation", "fresh"),
               column: str = "accuracy") -> pd.DataFrame:
    """Per comparison and split: the paired t-test over shared seeds of `column` (stats.compare_over_seeds),
    Holm-adjusted across the comparisons per split; NaN where fewer than two seeds are shared."""
    rows = []
    for a, b in comparisons:
        for split in splits:
            va, vb = (per_seed(metrics, e, split, column) for e in (a, b))
            seeds = va.index.intersection(vb.index)
            row = {"from": a, "to": b, "split": split, "measure": column, "n_seeds": len(seeds),
                   "mean_from": va[seeds].mean(), "mean_to": vb[seeds].mean()}
            if len(seeds) >= 2:
                c = stats.compare_over_seeds(va[seeds].to_numpy(), vb[seeds].to_numpy())
                row |= {"delta_mean": c.delta_mean, "delta_mean_low": c.low, "delta_mean_high": c.high,
                        "test": c.test, "p": c.pvalue}
            else:
                row |= {"delta_mean": (vb[seeds] - va[seeds]).mean(), "delta_mean_low": np.nan,
                        "delta_mean_high": np.nan, "test": "none (fewer than 2 shared seeds)", "p": np.nan}
            rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["p_holm"] = frame.groupby("split")["p"].transform(_holm)
    return frame


def wilson_frame(metrics: pd.DataFrame, splits=("validation", "fresh")) -> pd.DataFrame:
    """Each single run's accuracy with its 95% Wilson interval over its n cases (accuracy_low, accuracy_high)."""
    rows = metrics[metrics.split.isin(splits)][["experiment", "seed", "split", "n", "accuracy"]].copy()
    rows["correct"] = (rows["accuracy"] * rows["n"]).round().astype(int)
    bounds = [stats.wilson_interval(k, n) for k, n in zip(rows["correct"], rows["n"])]
    rows["accuracy_low"], rows["accuracy_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return rows.reset_index(drop=True)


COST_MEASURES = {"train_seconds": "relative_wall_time", "peak_memory_mb": "relative_peak_memory"}


def relative_costs(costs: pd.DataFrame, pairs, claims: dict | None = None) -> pd.DataFrame:
    """Relative increase (to/from - 1) of training time and peak memory over shared seeds: the geometric mean with a
    t-based 95% CI on the log scale; beside it the paper's claimed increase for 512 -> 1024 tokens."""
    paper = {c["measure"]: c["value"] for c in (claims or {}).get("claims", []) if c["measure"] in COST_MEASURES.values()}
    rows = []
    for a, b in pairs:
        for column, measure in COST_MEASURES.items():
            va, vb = (costs[costs.experiment == e].set_index("seed")[column] for e in (a, b))
            seeds = va.index.intersection(vb.index)
            row = {"from": a, "to": b, "measure": column, "n_seeds": len(seeds), "mean_from": va[seeds].mean(),
                   "mean_to": vb[seeds].mean(), "relative_increase": np.nan, "relative_increase_low": np.nan,
                   "relative_increase_high": np.nan}
            if len(seeds):
                s = stats.relative_change(va[seeds], vb[seeds])
                row |= {"relative_increase": s.mean, "relative_increase_low": s.low, "relative_increase_high": s.high}
            rows.append(row | {"paper": paper.get(measure, np.nan)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- dataset tables (no runs needed)

# Task101's label is True iff the report has a "lesion of <size> cm" sentence (dragon-prep's generator).
LABEL_SENTENCE = re.compile(r"lesion of \d+(?:\.\d+)? cm\b")


def class_balance(task) -> pd.DataFrame:
    """Cases and the share labelled True per split (sets without labels show NaN)."""
    rows = []
    for split, frame in task.splits.items():
        labelled = frame["label"].notna()
        rows.append({"split": split, "n": len(frame), "n_true": int(frame["label"][labelled].astype(bool).sum()),
                     "n_false": int((~frame["label"][labelled].astype(bool)).sum()),
                     "share_true": frame["label"][labelled].astype(bool).mean() if labelled.any() else np.nan})
    return pd.DataFrame(rows)


def token_lengths(tokenizer, task, splits=None) -> pd.DataFrame:
    """Untruncated token count (special tokens included) of every case, per split."""
    frames = []
    for split in splits or task.splits:
        frame = task[split]
        lengths = [len(ids) for ids in tokenizer(list(frame["text"]))["input_ids"]]
        frames.append(pd.DataFrame({"split": split, "uid": frame["uid"].to_numpy(), "label": frame["label"].to_numpy(),
                                    "n_tokens": lengths}))
    return pd.concat(frames, ignore_index=True)


def length_summary(lengths: pd.DataFrame, marks=(400, 512, 1024)) -> pd.DataFrame:
    """Per split: cases, median and longest token count, and how many exceed each mark."""
    grouped = lengths.groupby("split", sort=False)["n_tokens"]
    summary = grouped.agg(n="size", median="median", max="max")
    for mark in marks:
        summary[f"over_{mark}"] = grouped.apply(lambda s, mark=mark: int((s > mark).sum()))
    return summary.reset_index()


def long_cases(task, splits=("training", "validation")) -> pd.DataFrame:
    """The cases dragon-prep made long (every 25th generator index), with their split."""
    frames = [task[s].assign(split=s) for s in splits]
    cases = pd.concat(frames, ignore_index=True)
    index = cases["uid"].str.extract(r"(\d+)$", expand=False).astype(int)
    return cases[index.map(data.is_long_case)].reset_index(drop=True)


def _kept_span(tokenizer, text: str, options: EncodingOptions) -> tuple[int, int]:
    """Character span of `text` that encode_cases keeps after truncation."""
    kept = len(encode_cases(tokenizer, [text], options)[0]["input_ids"]) - tokenizer.num_special_tokens_to_add()
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if kept >= len(offsets):
        return 0, len(text)
    if options.truncation_side == "left":
        return offsets[len(offsets) - kept][0], len(text)
    return 0, offsets[kept - 1][1]


def truncation_audit(tokenizer, cases: pd.DataFrame, max_lengths=(512, 1024), side: str = "left") -> pd.DataFrame:
    """Per case: its label-bearing sentences ("lesion of X cm") and how many of them survive truncation to each
    length; `evidence_kept_<L>` says whether any does (None for cases labelled False, which have none to lose)."""
    rows = []
    for case in cases.itertuples():
        sentences = [m.span() for m in LABEL_SENTENCE.finditer(case.text)]
        row = {"uid": case.uid, "split": getattr(case, "split", None), "label": case.label,
               "n_tokens": len(tokenizer(case.text)["input_ids"]), "label_sentences": len(sentences)}
        for length in max_lengths:
            start, end = _kept_span(tokenizer, case.text, EncodingOptions(max_length=length, truncation_side=side))
            kept = sum(start <= s and e <= end for s, e in sentences)
            row |= {f"kept_{length}": kept, f"evidence_kept_{length}": (kept > 0) if sentences else None}
        rows.append(row)
    return pd.DataFrame(rows)

"""The README's measured numbers, generated from the committed outputs into marked blocks.

A block is `<!-- generated: NAME -->` ... `<!-- end generated -->`; its text is `BLOCKS[NAME](outputs)`, a small
function from committed files (tables, figure bundles) to Markdown. `python -m dragon_repro readme` rewrites every
block (`./run_all.sh` does, for the profiles the README reads); `--check` names each block that differs. The prose
around the blocks is written by hand."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import paths
from ..analysis import claims, measures
from ..analysis.paper_claims import load_claims
from ..gitstate import git

README = paths.ROOT / "README.md"
PROFILES = ("cpu", "transfer")  # the profiles whose committed outputs the README reads
BLOCK = re.compile(r"(?P<open><!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(?P<close><!-- end generated -->)",
                   re.S)
REGENERATION_FILE = "regeneration.json"  # what `./run_all.sh` records of itself, beside a profile's tables
RETRAIN_FILE = "retrain.json"  # and `./run_all.sh --retrain`


@dataclass(frozen=True)
class Outputs:
    """Where the committed outputs are (the repository's by default; tests point elsewhere)."""
    tables: Path = paths.TABLES_DIR
    figures: Path = paths.FIGURES_DIR

    def table(self, profile: str, name: str, columns: list[str]) -> pd.DataFrame:
        """A committed table with the named columns; a missing file or column is a one-line error naming both."""
        path = self.tables / profile / f"{name}.csv"
        if not path.exists():
            raise ValueError(f"{path}: missing (the README's numbers are generated from it)")
        return _require(pd.read_csv(path), path, columns)

    def json(self, path: Path, keys: list[str]):
        """A committed JSON file (a record, or a list of records) with the named keys, or a one-line error."""
        if not path.exists():
            raise ValueError(f"{path}: missing (the README's numbers are generated from it)")
        data = json.loads(path.read_text())
        missing = [k for k in keys for record in (data if isinstance(data, list) else [data]) if k not in record]
        if missing:
            raise ValueError(f"{path}: no key {missing[0]!r} (the README's numbers are generated from it)")
        return data


def _require(frame: pd.DataFrame, path: Path, columns: list[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]!r} (the README's numbers are generated from it)")
    return frame


# ---------------------------------------------------------------- formatting

def _signed(x: float, scale: float = 1.0, digits: int = 1) -> str:
    return f"{x * scale:+.{digits}f}".replace("-", "−")


def _interval(row, scale: float = 1.0, digits: int = 1, signed: bool = True, percent: bool = False) -> str:
    unit = "%" if percent else ""
    if pd.isna(row["ours"]):  # nothing measured (a step not run): a blank cell
        return ""
    fmt = (lambda x: _signed(x, scale, digits) + unit) if signed else (lambda x: f"{x * scale:.{digits}f}{unit}")
    estimate = fmt(row["ours"])
    return estimate if pd.isna(row["ci_low"]) else f"{estimate} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return " ".join(f"{n} {unit}" for n, unit in ((h, "h"), (m, "min"), (s, "s")) if n or unit == "s")


def _markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)])


# ---------------------------------------------------------------- the blocks

VERDICT_COLUMNS = ["claim", "text", "kind", "paper", "view", "ours", "ci_low", "ci_high", "n_seeds", "direction",
                   "claimed_size", "paper_noise", "verdict", "detectable", "to_detect_claim", "to_tell_ours_from_0",
                   "stability", "fragile", "caveat"]


def _text(value) -> str:
    return "" if pd.isna(value) else str(value)


def verdicts(outputs: Outputs) -> str:
    """The default profile's judged rows: effects and the p-value, on fresh cases, with the three facts each verdict
    word follows from and what would decide it."""
    frame = outputs.table("cpu", "verdicts", VERDICT_COLUMNS)
    rows = frame[(frame.view == "fresh") & frame.kind.isin(["effect", "pvalue"])]
    written = {claim: m.written for claim, m in measures.by_claim(load_claims()).items()}  # accuracy in points
    table = pd.DataFrame({
        "claim (paper)": [f"{r.text} ({_signed(r.paper, *written[r.claim])})" if r.kind == "effect"
                          else r.text for r in rows.itertuples()],
        "ours [CI]": [_interval(r, *written[r["claim"]]) if r["kind"] == "effect" else f"p = {r['ours']:.4f}"
                      for _, r in rows.iterrows()],
        "seeds": rows.n_seeds.map("{:.0f}".format),
        "direction": rows.direction.map(_text),
        "claimed size": rows.claimed_size.map(_text),
        "ours vs replication interval": rows.paper_noise.map(_text),
        "verdict": [r.verdict + (", *fragile*" if pd.notna(r.fragile) and bool(r.fragile) else "")
                    + (f"; {r.caveat}" if pd.notna(r.caveat) else "") for r in rows.itertuples()],
        "detectable effect": [_signed(r.detectable, *written[r.claim]).lstrip("+")
                              if pd.notna(r.detectable) else "" for r in rows.itertuples()],
        "to detect the claim": rows.to_detect_claim.map(_text),
        "to tell ours from 0": rows.to_tell_ours_from_0.map(_text),
        "stability": rows.stability.map(lambda s: "" if pd.isna(s) else f"{s:.2f}")})
    return _markdown(table)


ANSWER_COLUMNS = ["claim", "text", "kind", "view", "paper", "ours", "ci_low", "ci_high", "n_seeds", "family",
                  "verdict", "paper_design", "paper_low", "paper_high", "claimed_size", "paper_noise",
                  "replication_low", "replication_high", "to_tell_ours_from_0", "to_detect_claim", "stability",
                  "fragile", "caveat"]


def answer(outputs: Outputs) -> str:
    """The answer in plain words that `00_verdicts` opens with, from the same committed table."""
    return "\n\n".join(claims.plain_answer(outputs.table("cpu", "verdicts", ANSWER_COLUMNS)))


STORE = {"runs": paths.RUNS_DIR, "benchmark cells": paths.BENCH_DIR, "reference points": paths.REFERENCES_DIR}


def store(outputs: Outputs) -> str:
    """What git carries of the store: records per kind (a folder with its seal, `provenance.json`), files, size."""
    tracked = _tracked(*STORE.values())
    counts = ", ".join(f"{sum(p.name == 'provenance.json' and folder in p.parents for p in tracked)} {kind}"
                       for kind, folder in STORE.items())
    sizes = [p.stat().st_size for p in tracked]
    return (f"{counts}: {len(tracked)} files, {sum(sizes) / 1e6:.1f} MB in all, the largest "
            f"{max(sizes) / 1e6:.2f} MB (weights are never committed)")


def _tracked(*folders: Path) -> list[Path]:
    """The files git tracks under `folders`, or a one-line error where git cannot list them."""
    listing = git("ls-files", "-z", "--", *map(str, folders))
    if listing is None:
        raise ValueError(f"{paths.ROOT}: git cannot list the committed store (the README counts it from git)")
    return [paths.ROOT / name for name in listing.split("\0") if name]


def levels(outputs: Outputs) -> str:
    """What the headline configs reach on fresh cases, beside the paper's value."""
    frame = outputs.table("cpu", "verdicts", VERDICT_COLUMNS)
    rows = frame[(frame.view == "fresh") & (frame.kind == "level")]
    return "\n".join(f"- {r['text']}: {_interval(r, digits=3, signed=False)} (the paper: {r['paper']:.3f}); "
                     f"{r['verdict']}" for _, r in rows.iterrows())


TRANSFER_COLUMNS = ["claim", "step", "paper", "ours", "ci_low", "ci_high", "verdict", "n_seeds", "dragon_change",
                    "dragon_low", "dragon_high", "replication_low", "replication_high", "detectable"]


def transfer(outputs: Outputs) -> str:
    """Each ladder step on Task102 (accuracy change, verdict, linear kappa change) beside the same step on Task101."""
    frame = outputs.table("transfer", "transfer_verdicts", TRANSFER_COLUMNS + ["task"])
    task102, task101 = frame[frame.task == "Task102"], frame[frame.task == "Task101"].set_index("claim")
    kappa = task102[["dragon_change", "dragon_low", "dragon_high"]].set_axis(["ours", "ci_low", "ci_high"], axis=1)
    return _markdown(pd.DataFrame({
        "step (paper)": [f"{r.step} ({_signed(r.paper, 100)})" for r in task102.itertuples()],
        "seeds": task102.n_seeds.map("{:.0f}".format),
        "Task102: accuracy": [_interval(r, 100) for _, r in task102.iterrows()],
        "verdict": task102.verdict,
        "replication interval": [f"[{_signed(r.replication_low, 100)}, {_signed(r.replication_high, 100)}]"
                                 for r in task102.itertuples()],
        "detectable": [_signed(d, 100).lstrip("+") for d in task102.detectable],
        "Task102: linear kappa": [_interval(r, digits=3) for _, r in kappa.iterrows()],
        "Task101: accuracy": [_interval(task101.loc[c], 100) for c in task102.claim],
        "Task101 verdict": [task101.loc[c, "verdict"] for c in task102.claim]}))


def transfer_levels(outputs: Outputs) -> str:
    """Task102's linear kappa and accuracy per step on the fresh and the long cases (mean over seeds, 95% t CI)."""
    frame = outputs.table("transfer", "transfer_summary", ["split", "experiment", "measure", "n_seeds", "mean",
                                                           "ci_low", "ci_high"])
    frame = frame[frame.split.isin(["fresh", "long"]) & frame.measure.isin(["dragon", "accuracy"])]
    level = lambda x: f"{x:.2f}".replace("-", "−")  # noqa: E731
    cell = frame.assign(text=[f"{level(r.mean)} [{level(r.ci_low)}, {level(r.ci_high)}]" for r in frame.itertuples()])
    wide = cell.pivot_table(index=["experiment", "n_seeds"], columns=["split", "measure"], values="text",
                            aggfunc="first", sort=False)
    wide.columns = [f"{split}: {'linear kappa' if measure == 'dragon' else measure}" for split, measure in wide.columns]
    return _markdown(wide.reset_index().rename(columns={"n_seeds": "seeds"}))


def reference_points(outputs: Outputs) -> str:
    """The reference points on Task102's fresh cases."""
    frame = outputs.table("transfer", "reference_points", ["experiment", "split", "dragon", "accuracy"])
    rows = frame[frame.split == "fresh"]
    return ", ".join(f"{r.experiment} {r.dragon:.2f}" for r in rows.itertuples())


PHASE_COLUMNS = ["experiment", "training steps", "per-epoch validation", "held-out scoring", "run wall"]


def run_phases(outputs: Outputs) -> str:
    """Mean seconds per run and phase, with how many runs each step has (from the figures' bundle)."""
    frame = outputs.table("cpu", "run_phases", PHASE_COLUMNS)
    bundle = outputs.json(outputs.figures / "cpu" / "provenance.json", ["experiment"])
    counts = pd.Series([entry["experiment"] for entry in bundle]).value_counts()
    return _markdown(pd.DataFrame({"step": frame.experiment.map("`{}`".format),
                                   "runs": frame.experiment.map(counts).fillna(0).astype(int)}
                                  | {c: frame[c].round().astype(int) for c in PHASE_COLUMNS[1:]}))


RECORD_KEYS = ["seconds", "finished", "commit", "dirty", "machine"]


def regeneration(outputs: Outputs) -> str:
    """What the last `./run_all.sh` and `./run_all.sh --retrain` of each profile took, as they recorded themselves,
    and the stored runs' own wall times."""
    return _markdown(pd.DataFrame([row for profile in PROFILES for row in _regeneration_rows(outputs, profile)]))


def _regeneration_rows(outputs: Outputs, profile: str) -> list[dict]:
    bundle = outputs.json(outputs.figures / profile / "provenance.json", ["provenance"])
    runs_seconds = _duration(sum(e["provenance"]["wall_seconds"] for e in bundle))
    rows = []
    for name, flags, what in ((REGENERATION_FILE, "", _what_ran), (RETRAIN_FILE, " --retrain", _what_retrained)):
        path = outputs.tables / profile / name
        row = {"`./run_all.sh`": f"`--profile {profile}{flags}`", "stored runs' own wall times, summed": runs_seconds}
        if not path.exists():  # outputs made before run-all recorded itself
            rows.append(row | {"what ran": f"not recorded yet (`{path.name}` beside the tables)", "wall time": "",
                               "at": "", "machine": ""})
            continue
        record = outputs.json(path, RECORD_KEYS)
        rows.append(row | {"what ran": what(record), "wall time": f"**{_duration(record['seconds'])}**",
                           "at": f"`{(record['commit'] or 'no git')[:7]}`{' (dirty)' if record['dirty'] else ''}, "
                                 f"{record['finished'][:10]}",
                           "machine": record["machine"]})
    return rows


def _what_ran(record: dict) -> str:
    return (f"{record['runs_trained']} runs trained, {record['runs_cached']} cached, {record['cells_measured']} "
            "benchmark cells measured")


def _what_retrained(record: dict) -> str:
    return (f"{record['runs_retrained']} stored runs re-trained: "
            + ("every one reproduced" if record["reproduced"] else "not every one reproduced (see its log)")
            + ("; moved into the store" if record["replaced"] else ""))


def efficiency(outputs: Outputs) -> str:
    """The benchmark: what 1024 tokens cost in time and memory, per way of batching (95% bootstrap CIs)."""
    frame = outputs.table("cpu", "efficiency", ["batching", "measure", "relative", "ci_low", "ci_high", "hardware"])
    frame = frame.rename(columns={"relative": "ours"})
    cells = frame.assign(text=[_interval(r, 100, percent=True) for _, r in frame.iterrows()])
    wide = cells.pivot_table(index="batching", columns="measure", values="text", aggfunc="first", sort=False)
    wide.index = wide.index.map(lambda b: BATCHING.get(b, b))
    wide.columns = [f"{measure}, 512 → 1024 tokens" for measure in wide.columns]
    return _markdown(wide.reset_index(names="batches")) + f"\n\n(on {frame.hardware.iloc[0]})"


BATCHING = {"padded": "padded to `max_seq_length` (DRAGON's `pad_to_max_length=True`)",
            "length-aware": "padded to their longest text, window multiple (transformers' attention)",
            "exact": "each at its own length, exact attention path (the default)"}


def epochs(outputs: Outputs) -> str:
    """One epoch of Task101's training cases composed from the benchmark's steps, per way of batching and length."""
    frame = outputs.table("cpu", "efficiency_epochs", ["batching", "max_seq_length", "epoch_seconds", "times_cheaper",
                                                       "model"])
    cells = frame.assign(text=[f"{r.epoch_seconds:,.0f} s ({r.times_cheaper:.1f}×)" for r in frame.itertuples()])
    wide = cells.pivot_table(index="batching", columns="max_seq_length", values="text", aggfunc="first", sort=False)
    wide.index = wide.index.map(lambda b: BATCHING.get(b, b))
    wide.columns = [f"{length} tokens" for length in wide.columns]
    return _markdown(wide.reset_index(names=f"one epoch of `{frame.model.iloc[0]}` (times cheaper than length-aware)"))


def loop_vs_trainer(outputs: Outputs) -> str:
    """One epoch of our loop and of the HF Trainer, per model and length: seconds, and times our exact-path loop."""
    frame = outputs.table("cpu", "loop_vs_trainer", ["model", "max_seq_length", "training", "epoch_seconds",
                                                     "relative_to_ours", "cases"])
    cells = frame.assign(text=[f"{r.epoch_seconds:.1f} s ({r.relative_to_ours:.1f}×)" for r in frame.itertuples()],
                         where=[f"`{r.model}`, {r.cases} cases, {r.max_seq_length} tokens" for r in frame.itertuples()])
    wide = cells.pivot_table(index="training", columns="where", values="text", aggfunc="first", sort=False)
    return _markdown(wide.reset_index(names="one epoch"))


def pins(outputs: Outputs) -> str:
    """What each way of pinning the CPU's kernels costs (`bench --pins`), and whether it changes the bytes."""
    path = outputs.figures / "cpu" / "pins.json"
    record = outputs.json(path, ["pins", "machine"])
    frame = _require(pd.DataFrame(record["pins"]), path,
                     ["setting", "median_step_seconds", "relative_to_default", "same_bytes_as_default"])
    cpu, libraries = record["machine"].get("cpu", {}), record["machine"].get("math_libraries", {})
    return _markdown(pd.DataFrame({
        "setting": frame.setting, "seconds per step": frame.median_step_seconds.map("{:.3f}".format),
        "relative": frame.relative_to_default.map("{:.2f}×".format),
        "bytes": ["the same" if same else "other" for same in frame.same_bytes_as_default]})) + (
        f"\n\n(on {cpu.get('model', '?')} with {', '.join(cpu.get('flags', []))}; {libraries.get('mkl', 'MKL ?')}, "
        f"{libraries.get('onednn', 'oneDNN ?')}; {record.get('rounds', '?')} rounds)")


BLOCKS = {"verdicts": verdicts, "answer": answer, "levels": levels, "transfer": transfer,
          "transfer-levels": transfer_levels, "reference-points": reference_points, "run-phases": run_phases,
          "regeneration": regeneration, "store": store, "efficiency": efficiency, "epochs": epochs,
          "loop-vs-trainer": loop_vs_trainer, "pins": pins}


# ---------------------------------------------------------------- the README

def render(text: str, outputs: Outputs = Outputs()) -> str:
    """`text` with every generated block rewritten from `outputs`; an unknown block name is an error."""
    def fill(match: re.Match) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise ValueError(f"README: unknown generated block {name!r} (known: {', '.join(BLOCKS)})")
        return match["open"] + BLOCKS[name](outputs).rstrip("\n") + "\n" + match["close"]
    return BLOCK.sub(fill, text)


def stale_blocks(text: str, outputs: Outputs = Outputs()) -> list[str]:
    """The names of the blocks whose text differs from what `outputs` give."""
    fresh = {m["name"]: m["body"] for m in BLOCK.finditer(render(text, outputs))}
    return [m["name"] for m in BLOCK.finditer(text) if fresh[m["name"]] != m["body"]]


def write_readme(path: Path = README, outputs: Outputs = Outputs()) -> list[str]:
    """Rewrite the README's generated blocks; returns the names of those that changed."""
    text = path.read_text()
    changed = stale_blocks(text, outputs)
    if changed:
        path.write_text(render(text, outputs))
    return changed

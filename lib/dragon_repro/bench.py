"""What 1024 tokens cost, measured side by side: time per optimizer step and peak memory, with every batch padded
to max_seq_length (DRAGON's way) or to its longest text (ours); and the suite's loop against the HF Trainer.

Two measurements, each cached like a run (by a hash of its config and code) and each in a fresh process:
- *step cells* train one padded length at a time: warm-up steps, then timed steps, each with its peak memory
  growth over the loaded model (process RSS on CPU, `max_memory_allocated` on a GPU). An epoch's cost under either
  way of batching then follows from the padded lengths its batches have (`batch_plan`): Longformer pads every
  batch to a multiple of its attention window, so with the real window of 512 a step costs one of two amounts.
- *epoch cells* time one full epoch three ways on the same cases: our loop (length-aware), our loop with every
  case padded to max_seq_length, and the HF Trainer fed as dragon-baseline feeds it (padded to max_seq_length).
"""

import hashlib
import json
import math
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import torch
from transformers import AutoConfig, AutoTokenizer

from . import data
from .atomic import write_json_atomic
from .features import EncodingOptions, encode_cases, length_grouped_batches, window_multiple
from .model import load_model_and_tokenizer, resolve_model
from .paths import RESULTS_DIR
from .runs import code_version, deterministic_torch, load_experiments
from .shapes import dragon_config, ensure_dragon_shaped
from .train import TrainingOptions, fine_tune

BENCH_DIR = RESULTS_DIR / "bench"
SHAPED = re.compile(r"^dragon-shaped-(?P<size>[a-z]+)$")
BATCHING = ("padded", "length-aware")  # DRAGON's way (to max_seq_length), and ours (to each batch's longest)
N_RESAMPLES = 10_000


@dataclass(frozen=True)
class StepCell:
    """Optimizer steps at one padded length."""
    model: str
    padded_length: int
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    warmup_steps: int = 1
    timed_steps: int = 5
    seed: int = 0


@dataclass(frozen=True)
class EpochCell:
    """One epoch on the first `train_subset` training cases, our loop against the HF Trainer."""
    model: str
    max_seq_length: int
    train_subset: int = 96
    batch_size: int = 4
    gradient_accumulation_steps: int = 2
    learning_rate: float = 1e-5
    seed: int = 0


# ---------------------------------------------------------------- the plan: which cells a profile measures

def profile_benchmark(profile: str, spec: dict | None = None) -> dict:
    """The profile's benchmark settings (experiments.yaml: benchmarks)."""
    benchmarks = (spec or load_experiments())["benchmarks"]
    if profile not in benchmarks:
        raise ValueError(f"profile {profile!r} has no benchmark in experiments.yaml; known: {', '.join(benchmarks)}")
    return benchmarks[profile]


def profile_cells(profile: str, spec: dict | None = None) -> list:
    """Every step and epoch cell of a profile's benchmark; none for a profile without one (transfer)."""
    benchmarks = (spec or load_experiments())["benchmarks"]
    settings = benchmarks.get(profile)
    return step_cells(settings) + epoch_cells(settings) if settings else []


def step_cells(settings: dict) -> list[StepCell]:
    """A cell per padded length that either way of batching gives the training set."""
    steps = settings["steps"]
    lengths = sorted({length for max_length in steps["lengths"] for mode in BATCHING
                      for length in batch_plan(steps["model"], max_length, mode, steps["batch_size"])})
    options = {k: v for k, v in steps.items() if k != "lengths"}
    return [StepCell(padded_length=length, **options) for length in lengths]


def epoch_cells(settings: dict) -> list[EpochCell]:
    epochs = settings["epochs"]
    return [EpochCell(max_seq_length=length, **{k: v for k, v in epochs.items() if k != "lengths"})
            for length in epochs["lengths"]]


def model_path(spec: str) -> str:
    """The folder or hub name of a model spec: `dragon-shaped-<size>` (Longformer-base's shape with random weights,
    built by `shapes`) or any spec `model.resolve_model` takes."""
    match = SHAPED.match(spec)
    return str(ensure_dragon_shaped(match["size"])) if match else resolve_model(spec)


def is_real_architecture(model: str) -> bool:
    """Whether a model has Longformer-base's shape as the paper's model has it (the weights aside)."""
    real, config = dragon_config("base"), AutoConfig.from_pretrained(model_path(model))
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "attention_window",
            "vocab_size", "max_position_embeddings")
    return all(getattr(config, k) == getattr(real, k) for k in keys)


def _training_texts() -> list[str]:
    return list(data.load_task_folder(data.ensure_task())["training"]["text"])


def batch_plan(model: str, max_length: int, mode: str, batch_size: int, seed: int = 0) -> list[int]:
    """The padded length of every batch of one training epoch: `padded` (all at max_length) or `length-aware`
    (each at its longest text, rounded up to the attention window, as our loop batches)."""
    path = model_path(model)
    tokenizer, config = AutoTokenizer.from_pretrained(path), AutoConfig.from_pretrained(path)
    window = max(config.attention_window) if isinstance(config.attention_window, list) else config.attention_window
    features = encode_cases(tokenizer, _training_texts(), EncodingOptions(max_length=max_length))
    lengths = [len(f["input_ids"]) for f in features]
    batches = length_grouped_batches(lengths, batch_size, torch.Generator().manual_seed(seed))
    if mode == "padded":
        return [math.ceil(max_length / window) * window] * len(batches)
    return [math.ceil(max(lengths[i] for i in batch) / window) * window for batch in batches]


# ---------------------------------------------------------------- the cache

def cell_hash(cell) -> str:
    keyed = {"kind": type(cell).__name__, **asdict(cell), "code": code_version(),
             "bench": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16],
             "packages": {p: version(p) for p in ("torch", "transformers")}}
    return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:12]


def cell_file(cell, root: Path = BENCH_DIR) -> Path:
    name = "steps" if isinstance(cell, StepCell) else "epoch"
    length = cell.padded_length if isinstance(cell, StepCell) else cell.max_seq_length
    return Path(root) / f"{name}-{Path(cell.model).name}-{length}-{cell_hash(cell)}.json"


def load_or_measure(cells: list, root: Path = BENCH_DIR, jobs: int = 1, progress: bool = True) -> list[dict]:
    """Each cell's cached result, measuring the missing ones `jobs` at a time, each in a fresh process."""
    missing = [c for c in cells if not cell_file(c, root).exists()]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_measure_in_child, cell, cell_file(cell, root)): cell for cell in missing}
        for future in as_completed(futures):
            future.result()
            if progress:
                print(f"[bench] {cell_file(futures[future], root).stem}: measured", flush=True)
    return [json.loads(cell_file(c, root).read_text()) for c in cells]


def _measure_in_child(cell, out: Path) -> None:
    """A fresh Python process measures the cell (its peak memory is its own) and writes `out` atomically."""
    code = "import sys; from dragon_repro import bench; bench.measure_into(sys.argv[1], sys.argv[2], sys.argv[3])"
    result = subprocess.run([sys.executable, "-c", code, type(cell).__name__, json.dumps(asdict(cell)), str(out)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"benchmark cell {out.stem} failed: {detail}")


def measure_into(kind: str, cell_json: str, out: str) -> None:
    cell = {"StepCell": StepCell, "EpochCell": EpochCell}[kind](**json.loads(cell_json))
    started = time.perf_counter()
    with deterministic_torch():  # the runs' own setting: one thread on CPU
        result = measure_steps(cell) if isinstance(cell, StepCell) else measure_epoch(cell)
        provenance = _provenance(time.perf_counter() - started)
    write_json_atomic(Path(out), {"cell": {"kind": kind, **asdict(cell)}, "result": result, "provenance": provenance})


def _provenance(wall_seconds: float) -> dict:
    cuda = torch.cuda.is_available()
    return {"device": torch.cuda.get_device_name() if cuda else f"cpu ({platform.processor() or platform.machine()})",
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads(),
            "memory_kind": "cuda_max_allocated" if cuda else "process_rss", "wall_seconds": wall_seconds,
            "packages": {p: version(p) for p in ("torch", "transformers", "accelerate")}}


# ---------------------------------------------------------------- measuring

class PeakMemory:
    """Peak memory growth over a baseline, per window between `lap()` calls: RSS sampled every 2 ms on CPU,
    the allocator's peak on a GPU."""

    def __init__(self):
        self.cuda = torch.cuda.is_available()
        self.process = psutil.Process()
        self.baseline = self._now()
        self.peak, self._stop = self.baseline, threading.Event()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            threading.Thread(target=self._sample, daemon=True).start()

    def _now(self) -> int:
        return torch.cuda.memory_allocated() if self.cuda else self.process.memory_info().rss

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._now())

    def lap(self) -> float:
        """MiB above the baseline at the peak since the last lap."""
        peak = torch.cuda.max_memory_allocated() if self.cuda else max(self.peak, self._now())
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        self.peak = self._now() if not self.cuda else self.peak
        return (peak - self.baseline) / 2**20

    def stop(self) -> None:
        self._stop.set()


def _padded_features(tokenizer, texts, length: int) -> list[dict]:
    """Cases truncated to `length` tokens, then padded to exactly `length` (pad tokens, masked out)."""
    features = encode_cases(tokenizer, texts, EncodingOptions(max_length=length))
    pad = tokenizer.pad_token_id
    for f in features:
        missing = length - len(f["input_ids"])
        f["input_ids"] = f["input_ids"] + [pad] * missing
        f["attention_mask"] = f["attention_mask"] + [0] * missing
        f["global_attention_mask"] = f["global_attention_mask"] + [0] * missing
    return features


def measure_steps(cell: StepCell) -> dict:
    """Seconds and peak memory growth (MiB) of each timed optimizer step at one padded length, through our loop."""
    model, tokenizer = load_model_and_tokenizer(model_path(cell.model), num_labels=2, seed=cell.seed)
    if cell.padded_length % window_multiple(model):
        raise ValueError(f"padded length {cell.padded_length} is not a multiple of the attention window")
    n_cases = (cell.warmup_steps + cell.timed_steps) * cell.batch_size * cell.gradient_accumulation_steps
    texts = _training_texts()
    features = _padded_features(tokenizer, [texts[i % len(texts)] for i in range(n_cases)], cell.padded_length)
    options = TrainingOptions(epochs=1, batch_size=cell.batch_size, restore_best_epoch=False,
                              gradient_accumulation_steps=cell.gradient_accumulation_steps)
    memory, seconds, peaks, last = PeakMemory(), [], [], [time.perf_counter()]

    def on_step(_state):
        now = time.perf_counter()
        seconds.append(now - last[0])
        peaks.append(memory.lap())
        last[0] = now
    try:
        fine_tune(model, features, [0] * n_cases, features[:1], [0], options, cell.seed, progress=False,
                  on_step=on_step)
    finally:
        memory.stop()
    return {"step_seconds": seconds[cell.warmup_steps:], "step_peak_mib": peaks[cell.warmup_steps:],
            "warmup_seconds": seconds[:cell.warmup_steps]}


def measure_epoch(cell: EpochCell) -> dict:
    """Training seconds of one epoch: our loop length-aware, our loop padded, the HF Trainer padded."""
    texts = _training_texts()[:cell.train_subset]
    labels = [i % 2 for i in range(len(texts))]  # the timing does not depend on the labels
    options = TrainingOptions(learning_rate=cell.learning_rate, epochs=1, batch_size=cell.batch_size,
                              gradient_accumulation_steps=cell.gradient_accumulation_steps, restore_best_epoch=False)
    result = {}
    for name, padded in (("ours, length-aware", False), ("ours, padded", True)):
        model, tokenizer = load_model_and_tokenizer(model_path(cell.model), num_labels=2, seed=cell.seed)
        features = (_padded_features(tokenizer, texts, cell.max_seq_length) if padded else
                    encode_cases(tokenizer, texts, EncodingOptions(max_length=cell.max_seq_length)))
        history, _ = fine_tune(model, features, labels, features[:1], labels[:1], options, cell.seed, progress=False)
        result[name] = history["epochs"][0]["train_seconds"]
    result["HF Trainer, padded (dragon-baseline)"] = _trainer_epoch_seconds(cell, texts, labels)
    return {"epoch_seconds": result, "n_cases": len(texts)}


def _trainer_epoch_seconds(cell: EpochCell, texts: list[str], labels: list[int]) -> float:
    """dragon-baseline's way: tokenized with padding to max_seq_length (`pad_to_max_length=True`), the default
    collator, the Trainer's own loop; global attention left to the model (on <s>, as ours)."""
    from transformers import Trainer, TrainingArguments, default_data_collator
    model, tokenizer = load_model_and_tokenizer(model_path(cell.model), num_labels=2, seed=cell.seed)
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=cell.max_seq_length)
    dataset = [{"input_ids": ids, "attention_mask": mask, "labels": y}
               for ids, mask, y in zip(encoded["input_ids"], encoded["attention_mask"], labels)]
    steps = math.ceil(len(dataset) / cell.batch_size / cell.gradient_accumulation_steps)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=cell.batch_size, num_train_epochs=1,
            gradient_accumulation_steps=cell.gradient_accumulation_steps, learning_rate=cell.learning_rate,
            warmup_steps=math.ceil(0.1 * steps), lr_scheduler_type="linear", seed=cell.seed, report_to=[],
            save_strategy="no", eval_strategy="no", logging_strategy="no", disable_tqdm=True,
            use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0)
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=default_data_collator)
        started = time.perf_counter()
        trainer.train()
        return time.perf_counter() - started


# ---------------------------------------------------------------- from cells to the cost of 1024 tokens

def cost_table(profile: str, jobs: int = 1) -> pd.DataFrame:
    """The relative cost of the longer max length, per way of batching, with the model and hardware named."""
    settings = profile_benchmark(profile)
    steps = settings["steps"]
    results = load_or_measure(step_cells(settings), jobs=jobs)
    plans = {mode: {n: batch_plan(steps["model"], n, mode, steps["batch_size"]) for n in steps["lengths"]}
             for mode in BATCHING}
    hardware = sorted({f"{r['provenance']['device']}, {r['provenance']['cpu_capability']}, "
                       f"{r['provenance']['torch_threads']} thread(s)" for r in results})
    return pd.DataFrame(relative_costs(results, plans)).assign(
        model=steps["model"], real_architecture=is_real_architecture(steps["model"]), hardware="; ".join(hardware))


def step_table(profile: str) -> pd.DataFrame:
    """Per padded length: the timed steps' median, fastest and slowest seconds, and median peak memory (MiB)."""
    rows = []
    for r in load_or_measure(step_cells(profile_benchmark(profile))):
        seconds, peaks = np.asarray(r["result"]["step_seconds"]), np.asarray(r["result"]["step_peak_mib"])
        rows.append({"padded_length": r["cell"]["padded_length"], "timed_steps": len(seconds),
                     "median_seconds": np.median(seconds), "fastest_seconds": seconds.min(),
                     "slowest_seconds": seconds.max(), "median_peak_mib": np.median(peaks),
                     "memory_kind": r["provenance"]["memory_kind"]})
    return pd.DataFrame(rows)


def epoch_table(profile: str, jobs: int = 1) -> pd.DataFrame:
    """One epoch's training seconds per way of training, and the HF Trainer's time over our loop's."""
    settings = profile_benchmark(profile)
    rows = []
    for r in load_or_measure(epoch_cells(settings), jobs=jobs):
        seconds = r["result"]["epoch_seconds"]
        ours = seconds["ours, length-aware"]
        rows += [{"max_seq_length": r["cell"]["max_seq_length"], "training": name, "epoch_seconds": value,
                  "relative_to_ours": value / ours, "model": r["cell"]["model"], "cases": r["result"]["n_cases"]}
                 for name, value in seconds.items()]
    return pd.DataFrame(rows)


def relative_costs(step_results: list[dict], plans: dict[str, dict[int, list[int]]], seed: int = 0) -> list[dict]:
    """Per way of batching, the relative cost of the longer max length over the shorter one in time per step (the
    mean over an epoch's batch plan) and in peak memory (the epoch's largest batch), with bootstrap CIs over the
    timed steps. `plans[mode][max_length]` is `batch_plan`'s list of padded lengths."""
    samples = {key: {r["cell"]["padded_length"]: np.asarray(r["result"][key]) for r in step_results}
               for key in ("step_seconds", "step_peak_mib")}
    rng = np.random.default_rng(seed)
    rows = []
    for mode, by_max in plans.items():
        short, long = sorted(by_max)
        for measure, key, summary in (("time per step", "step_seconds", _mean_over_plan),
                                      ("peak memory", "step_peak_mib", _peak_over_plan)):
            medians = {length: np.median(v) for length, v in samples[key].items()}
            point = {n: summary(by_max[n], medians) for n in (short, long)}
            draws = [_resampled(samples[key], rng) for _ in range(N_RESAMPLES)]
            ratios = np.array([summary(by_max[long], d) / summary(by_max[short], d) - 1 for d in draws])
            rows.append({"batching": mode, "measure": measure, "from_tokens": short, "to_tokens": long,
                         "at_from": point[short], "at_to": point[long], "relative": point[long] / point[short] - 1,
                         "ci_low": np.quantile(ratios, 0.025), "ci_high": np.quantile(ratios, 0.975),
                         "batches_over_short": sum(length > short for length in by_max[long]),
                         "batches": len(by_max[long]), "timed_steps": min(map(len, samples[key].values()))})
    return rows


def _resampled(samples: dict, rng) -> dict:
    return {k: np.median(rng.choice(v, size=len(v))) for k, v in samples.items()}


def _mean_over_plan(plan: list[int], per_length: dict) -> float:
    return float(np.mean([per_length[length] for length in plan]))


def _peak_over_plan(plan: list[int], per_length: dict) -> float:
    return float(per_length[max(plan)])

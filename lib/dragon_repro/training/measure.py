"""Measuring one benchmark cell, in the fresh process `bench` starts for it: seconds and peak memory of optimizer
steps at one padded length, and one epoch of our loop against the HF Trainer."""

import math
import tempfile
import threading
import time
from dataclasses import dataclass

import numpy as np
import psutil
import torch

from ..experiments.config import EncodingOptions, TrainingOptions
from ..modeling.batching import pad_features, window_multiple
from ..modeling.encoding import encode_cases
from ..modeling.exact_attention import windows
from ..modeling.model import load_model_and_tokenizer
from ..tasks import data
from .train import fine_tune


@dataclass(frozen=True, kw_only=True)
class Cell:
    """What every benchmark cell names: the model, the batches and the seed."""
    model: str
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class StepCell(Cell):
    """Optimizer steps at one padded length, through transformers' attention or the exact path; `process` numbers
    the repeats of the same cell in separate processes (they carry the drift between processes)."""
    padded_length: int
    exact_attention: bool = False
    process: int = 0
    warmup_steps: int = 1
    timed_steps: int = 5
    bf16: bool = False  # bf16 autocast where a GPU is, as the paper profile's runs train


@dataclass(frozen=True, kw_only=True)
class EpochCell(Cell):
    """One epoch on the first `train_subset` training cases, our loop against the HF Trainer."""
    max_seq_length: int
    train_subset: int = 96
    batch_size: int = 4
    gradient_accumulation_steps: int = 2
    learning_rate: float = 1e-5


OUR_LOOP = "ours, exact attention"  # the suite's default loop: length-aware batches through the exact path
EPOCH_WAYS = {  # our loop's ways of training an epoch: (the exact attention path, every case padded to max length)
    OUR_LOOP: (True, False),
    "ours, length-aware": (False, False),
    "ours, padded": (False, True),
}
TRAINER = "HF Trainer, padded (dragon-baseline)"


def load_model(cell: Cell, exact_attention: bool):
    """The cell's model, with the exact attention path or transformers' own attention."""
    return load_model_and_tokenizer(cell.model, num_labels=2, seed=cell.seed, fast_attention=exact_attention)


def training_texts() -> list[str]:
    """Task101's training texts: the benchmark measures on the task's own length distribution."""
    return list(data.load_task_folder(data.ensure_task())["training"]["text"])


def encoded(tokenizer, texts: list[str], max_seq_length: int) -> list[dict]:
    """The texts as a run encodes them (truncated on Task101's side, global attention on <s>)."""
    side = data.read_task_config(data.ensure_task()).recommended_truncation_side
    return encode_cases(tokenizer, texts, EncodingOptions(max_seq_length=max_seq_length, truncation_side=side))


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
    return pad_features(encoded(tokenizer, texts, length), tokenizer.pad_token_id, length)


def measure_steps(cell: StepCell) -> dict:
    """Seconds and peak memory growth (MiB) of each timed optimizer step at one padded length, through our loop, and
    the memory before training (the loaded model: RSS on CPU, nothing yet on a GPU)."""
    model, tokenizer = load_model(cell, cell.exact_attention)
    if cell.exact_attention and cell.padded_length > 2 * min(windows(model.config)):
        raise ValueError(f"padded length {cell.padded_length} is over twice the attention window: the exact path "
                         f"does not take it")
    if not cell.exact_attention and cell.padded_length % window_multiple(model.config):
        raise ValueError(f"padded length {cell.padded_length} is not a multiple of the attention window")
    n_cases = (cell.warmup_steps + cell.timed_steps) * cell.batch_size * cell.gradient_accumulation_steps
    texts = training_texts()
    features = _padded_features(tokenizer, [texts[i % len(texts)] for i in range(n_cases)], cell.padded_length)
    options = TrainingOptions(epochs=1, batch_size=cell.batch_size, restore_best_epoch=False, bf16=cell.bf16,
                              gradient_accumulation_steps=cell.gradient_accumulation_steps)
    memory, seconds, peaks, last = PeakMemory(), [], [], [time.perf_counter()]

    def on_step(_state):
        now = time.perf_counter()
        seconds.append(now - last[0])
        peaks.append(memory.lap())
        last[0] = now
    try:
        fine_tune(model, features, [0] * n_cases, features[:1], [0], options, cell.seed, progress=False,
                  on_step=on_step, digests=False)
    finally:
        memory.stop()
    return {"step_seconds": seconds[cell.warmup_steps:], "step_peak_mib": peaks[cell.warmup_steps:],
            "warmup_seconds": seconds[:cell.warmup_steps], "baseline_mib": memory.baseline / 2**20}


def measure_epoch(cell: EpochCell) -> dict:
    """Training seconds of one epoch: our loop each way (EPOCH_WAYS), the HF Trainer padded."""
    texts = training_texts()[:cell.train_subset]
    labels = [i % 2 for i in range(len(texts))]  # the timing does not depend on the labels
    options = TrainingOptions(learning_rate=cell.learning_rate, epochs=1, batch_size=cell.batch_size,
                              gradient_accumulation_steps=cell.gradient_accumulation_steps, restore_best_epoch=False)
    result = {}
    for name, (exact, padded) in EPOCH_WAYS.items():
        model, tokenizer = load_model(cell, exact)
        features = (_padded_features(tokenizer, texts, cell.max_seq_length) if padded else
                    encoded(tokenizer, texts, cell.max_seq_length))
        history, _ = fine_tune(model, features, labels, features[:1], labels[:1], options, cell.seed, progress=False,
                               digests=False)
        result[name] = history["epochs"][0]["train_seconds"]
    result[TRAINER] = _trainer_epoch_seconds(cell, texts, labels)
    return {"epoch_seconds": result, "n_cases": len(texts)}


def _trainer_epoch_seconds(cell: EpochCell, texts: list[str], labels: list[int]) -> float:
    """dragon-baseline's way: tokenized with padding to max_seq_length (`pad_to_max_length=True`), the default
    collator, the Trainer's own loop, transformers' attention; global attention left to the model (on <s>, as
    ours)."""
    from transformers import Trainer, TrainingArguments, default_data_collator
    model, tokenizer = load_model(cell, exact_attention=False)
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


def exact_attention_seconds(model: str = "dragon-shaped-base", length: int = 130, rounds: int = 5) -> dict:
    """Median seconds of forward and backward of one text of `length` tokens, transformers' attention (padded to the
    window) against the exact path on the same weights, alternating `rounds` times after a warm-up, one thread."""
    theirs, ours = (load_model_and_tokenizer(model, num_labels=2, seed=0, fast_attention=fast)[0]
                    for fast in (False, True))
    ours.load_state_dict(theirs.state_dict())
    batch = {"input_ids": torch.randint(5, 1000, (1, length), generator=torch.Generator().manual_seed(0)),
             "global_attention_mask": torch.nn.functional.one_hot(torch.tensor([0]), length), "labels": torch.tensor([1])}

    def seconds(net) -> float:
        net.zero_grad()
        started = time.perf_counter()
        net(**batch).loss.backward()
        return time.perf_counter() - started
    timed = {"transformers": [], "exact": []}
    for round_ in range(rounds + 1):
        for name, net in (("transformers", theirs), ("exact", ours)):
            elapsed = seconds(net)
            if round_:  # the first round warms up
                timed[name].append(elapsed)
    return {name: float(np.median(values)) for name, values in timed.items()}

"""Fine-tuning in the accelerate shape: Accelerator → prepare → backward → step, each optimizer step's micro-batches
computed together in few length-sorted forward passes (`accumulate_step`).

Beside the loop, small pieces: `BestEpoch` keeps the weights of the epoch with the lowest validation loss and
stops early, as the HF Trainer's load_best_model_at_end and EarlyStoppingCallback do; `TrainingLog` records every
optimizer step and epoch, the peak memory and the progress, and digests of the weights and the loss along the way
(`verify` names the first step at which two copies of a run part).
"""

import copy
import hashlib
import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext

import psutil
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm
from transformers import get_scheduler

from ..experiments.config import TrainingOptions
from ..modeling.batching import (PASS_COST_TOKENS, PASS_TOKENS, batch_multiple, length_grouped_batches,
                                 length_sorted_passes, pad_batch)
from .predict import predict_probabilities
from .provenance import memory_kind


DIGEST_STEPS = (1, 2, 5, 10, 50, 100)  # optimizer steps after which the history records a digest (and every epoch end)


def fine_tune(model, train_features, train_labels, val_features, val_labels, options: TrainingOptions,
              seed: int, progress: bool = True, on_step: Callable[[dict], None] | None = None, digests: bool = True):
    """Train in place, `batch_size` x `gradient_accumulation_steps` cases per optimizer step; returns the history and
    the kept weights' validation probabilities. `on_step` gets {epoch, epochs, step, steps} after each optimizer
    step; `digests` off leaves the digests out (the benchmark times steps without them).

    On P processes (torchrun, accelerate launch) every process builds the same batch list (the same seed) and
    `prepare` gives each every P-th micro-batch: the effective batch is batch_size x P x accumulation."""
    accelerator = Accelerator(mixed_precision="bf16" if options.bf16 and torch.cuda.is_available() else "no")
    loader = accelerator.prepare(training_loader([len(f["input_ids"]) for f in train_features], options.batch_size,
                                                 seed))
    # The fused kernel is ~10x faster on CPU as well as on GPU.
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.scaled_learning_rate,
                                  weight_decay=options.weight_decay, fused=True)
    total_steps = optimizer_steps(len(loader), options.gradient_accumulation_steps, options.epochs)
    # accelerate steps the scheduler once per process at each optimizer step: scaled alike, the learning rate at
    # each optimizer step is the one a single process would have
    processes = accelerator.num_processes
    scheduler = get_scheduler(options.scheduler, optimizer, num_training_steps=total_steps * processes,
                              num_warmup_steps=math.ceil(options.warmup_ratio * total_steps) * processes)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    torch.manual_seed(seed + accelerator.process_index)  # dropout: the run's seed (and rank), whatever ran before

    log = TrainingLog(total_steps, options.epochs, str(accelerator.device), progress, on_step,
                      digest=(lambda: parameters_digest(accelerator.unwrap_model(model))) if digests else None)
    best = BestEpoch(options.restore_best_epoch, options.early_stopping_patience)
    for epoch in range(1, options.epochs + 1):
        model.train()
        log.start_epoch(epoch)
        for window in accumulation_windows(loader, options.gradient_accumulation_steps):
            micro_batches = [[(train_features[i], train_labels[i]) for i in batch] for batch in window]
            losses, passes = accumulate_step(accelerator, model, micro_batches, options.gradient_accumulation_steps)
            accelerator.clip_grad_norm_(model.parameters(), options.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            log.step(accelerator.reduce(losses, "mean").tolist(), scheduler.get_last_lr()[0], passes)
        log.validating()
        val_probabilities, val_loss = predict_probabilities(accelerator.unwrap_model(model), val_features,
                                                            val_labels, options.eval_batch_size)
        log.end_epoch(val_loss)
        if best.update(epoch, val_loss, val_probabilities, accelerator.unwrap_model(model)):
            break
    best.restore(accelerator.unwrap_model(model))
    return log.close(best), best.probabilities


class LengthGroupedSampler(Sampler):
    """Yields length-grouped batches, reshuffled every epoch from a seeded generator."""

    def __init__(self, lengths, batch_size: int, seed: int):
        self.lengths, self.batch_size = lengths, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return iter(length_grouped_batches(self.lengths, self.batch_size, self.generator))

    def __len__(self):
        return math.ceil(len(self.lengths) / self.batch_size)


def training_loader(lengths: list[int], batch_size: int, seed: int) -> DataLoader:
    """The config's micro-batches of similar length, as lists of case positions (`accumulate_step` pads them)."""
    return DataLoader(range(len(lengths)), collate_fn=list,
                      batch_sampler=LengthGroupedSampler(lengths, batch_size, seed))


def accumulation_windows(micro_batches: Iterable, accumulation: int):
    """Each optimizer step's micro-batches: `accumulation` consecutive ones, and the epoch's last, shorter window."""
    window = []
    for batch in micro_batches:
        window.append(batch)
        if len(window) == accumulation:
            yield window
            window = []
    if window:
        yield window


def accumulate_step(accelerator, model, micro_batches: list[list[tuple[dict, int]]], accumulation: int,
                    max_tokens: int = PASS_TOKENS, pass_cost: int = PASS_COST_TOKENS):
    """Backpropagate one optimizer step: the cases of its micro-batches ((features, label) lists) sorted by length
    into forward passes (`length_sorted_passes`: padding traded against passes, within `max_tokens`), each case's
    loss weighted 1 / (accumulation x its micro-batch's size). The gradient is the one accumulating the
    micro-batches one by one gives: accelerate divides each one's mean loss by `accumulation`, in a last, shorter
    window too. Returns each micro-batch's mean loss (a tensor) and each pass's number of cases."""
    cases = [(features, label, m) for m, batch in enumerate(micro_batches) for features, label in batch]
    sizes = torch.tensor([len(batch) for batch in micro_batches], dtype=torch.float32)
    owner = torch.tensor([m for *_, m in cases])
    weights, case_losses = 1 / (accumulation * sizes[owner]), torch.zeros(len(cases))
    passes = length_sorted_passes([len(features["input_ids"]) for features, *_ in cases], max_tokens,
                                  pass_cost=pass_cost)
    unwrapped = accelerator.unwrap_model(model)
    for n, indices in enumerate(passes):
        features = [cases[i][0] for i in indices]
        batch = pad_batch(features, unwrapped.config.pad_token_id, batch_multiple(unwrapped, features),
                          labels=[cases[i][1] for i in indices])
        batch = {key: value.to(accelerator.device) for key, value in batch.items()}
        labels = batch.pop("labels")
        # gradients are all-reduced across processes once per step, after the last pass
        with nullcontext() if n == len(passes) - 1 else accelerator.no_sync(model):
            losses = F.cross_entropy(model(**batch).logits.float(), labels, reduction="none")
            accelerator.backward((losses * weights[indices].to(losses.device)).sum())
        case_losses[indices] = losses.detach().float().cpu()
    return torch.zeros(len(micro_batches)).index_add_(0, owner, case_losses) / sizes, [len(p) for p in passes]


def parameters_digest(model) -> str:
    """A hash of every parameter's bytes, in the model's order: equal digests mean bit-equal weights."""
    digest = hashlib.sha256()
    for parameter in model.parameters():
        digest.update(parameter.detach().cpu().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:16]


def optimizer_steps(batches_per_epoch: int, accumulation: int, epochs: int) -> int:
    """Scheduler length counted in optimizer steps: the last partial accumulation window still steps."""
    return math.ceil(batches_per_epoch / accumulation) * epochs


class BestEpoch:
    """The epoch with the lowest validation loss: its weights (restored at the end when `restore`) and its
    validation probabilities (those of the last epoch when not restoring); early stopping after `patience` epochs
    without a new lowest loss."""

    def __init__(self, restore: bool, patience: int | None):
        self.restore_weights, self.patience = restore, patience
        self.loss, self.epoch, self.state, self.probabilities = math.inf, None, None, None
        self.epochs_without_gain, self.stopped_early = 0, False

    def update(self, epoch: int, val_loss: float, val_probabilities, model) -> bool:
        """Take one epoch's validation result; True when training should stop early."""
        if val_loss < self.loss or not self.restore_weights:
            self.probabilities = val_probabilities
        if val_loss < self.loss:
            self.loss, self.epoch, self.epochs_without_gain = val_loss, epoch, 0
            if self.restore_weights:
                self.state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            return False
        self.epochs_without_gain += 1
        self.stopped_early = self.patience is not None and self.epochs_without_gain >= self.patience
        return self.stopped_early

    def restore(self, model) -> None:
        if self.state is not None:
            model.load_state_dict(self.state)


class TrainingLog:
    """Every optimizer step's loss (the mean of its micro-batches' mean losses), learning rate and forward passes,
    every epoch's losses and seconds, the peak memory, the progress (a tqdm bar when `progress`, and `on_step` after
    each optimizer step), and, when given `digest` (the weights' hash), the weights' and the loss's digests after
    DIGEST_STEPS and every epoch."""

    def __init__(self, total_steps: int, epochs: int, device: str, progress: bool, on_step=None, digest=None):
        self.steps, self.epochs, self.total_steps, self.n_epochs = [], [], total_steps, epochs
        self.device, self.on_step, self.process, self.peak_rss = device, on_step, psutil.Process(), 0
        self.digest, self.digests, self.passes = digest, [], []
        self.bar = tqdm(total=total_steps, desc="optimizer steps", disable=not progress, leave=False)

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.started, self.epoch_losses = epoch, time.perf_counter(), []

    def step(self, losses: list[float], lr: float, passes: list[int]) -> None:
        """One optimizer step: its micro-batches' mean losses, and the cases of each of its forward passes."""
        step_loss = sum(losses) / len(losses)
        self.steps.append({"step": len(self.steps) + 1, "epoch": self.epoch, "loss": step_loss, "lr": lr})
        self.epoch_losses += losses
        self.passes.append(passes)
        self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
        if len(self.steps) in DIGEST_STEPS:
            self._record_digest("step", step_loss)
        self.bar.update()
        self.bar.set_postfix(epoch=self.epoch, loss=f"{step_loss:.3f}")
        if self.on_step:
            self.on_step({"epoch": self.epoch, "epochs": self.n_epochs, "step": len(self.steps),
                          "steps": self.total_steps})

    def validating(self) -> None:
        self.trained = time.perf_counter()

    def end_epoch(self, val_loss: float) -> None:
        self.epochs.append({"epoch": self.epoch, "train_loss": sum(self.epoch_losses) / max(len(self.epoch_losses), 1),
                            "val_loss": val_loss, "train_seconds": self.trained - self.started,
                            "validation_seconds": time.perf_counter() - self.trained})
        self._record_digest("epoch", val_loss)

    def _record_digest(self, after: str, loss: float) -> None:
        """The weights' digest and the loss's exact value (float.hex) after a step or an epoch (its validation
        loss)."""
        if self.digest:
            self.digests.append({"after": after, "step": len(self.steps), "epoch": self.epoch,
                                 "parameters": self.digest(), "loss": float.hex(loss)})

    def close(self, best: BestEpoch) -> dict:
        self.bar.close()
        cuda = torch.cuda.is_available()
        return {"steps": self.steps, "epochs": self.epochs, "digests": self.digests, "best_epoch": best.epoch,
                "stopped_early": best.stopped_early, "optimizer_steps_planned": self.total_steps,
                "device": self.device,
                "weights_from_epoch": best.epoch if best.state is not None else self.epochs[-1]["epoch"],
                "peak_memory_mb": (torch.cuda.max_memory_allocated() if cuda else self.peak_rss) / 2**20,
                "peak_memory_kind": memory_kind(),
                "micro_batching": {"max_tokens_per_pass": PASS_TOKENS, "pass_cost_tokens": PASS_COST_TOKENS,
                                   "forward_passes": sum(map(len, self.passes)),
                                   "max_passes_per_step": max(map(len, self.passes), default=0),
                                   "max_cases_per_pass": max((max(p) for p in self.passes), default=0)}}

"""`python -m dragon_repro bench --pins`: what each way of pinning the CPU's kernels costs, and whether it changes
the bytes.

Each candidate setting trains the same optimizer steps of a profile's model (its first training cases, DRAGON's
batch 4 x 2, one thread) in a fresh process, since the settings take effect when torch first runs a kernel. The
rounds alternate the settings, so drift on a shared machine falls on all alike. Each gives its median seconds per
step, relative to the suite's default pin, and the digest of the weights it ends with: the same digest as the
default's means the same bytes here.
"""

import json
import os
import statistics
import sys

from pathlib import Path

from .. import CPU_PIN as AVX2_PIN
from ..atomic import write_json_atomic
from ..experiments.plan import Plan
from ..processes import run_checked
from .provenance import machine_provenance

NATIVE = {"DRAGON_REPRO_NATIVE_CPU": "1"}  # each library's own choice (--native-cpu)
CANDIDATES = {  # name: (environment, oneDNN on); the default is the suite's (dragon_repro.CPU_PIN, oneDNN off)
    "the suite's pins (the default)": (AVX2_PIN, False),
    "native CPU (no pin, --native-cpu)": (NATIVE, True),
    "MKL not strict (MKL_CBWR=AVX2)": (AVX2_PIN | {"MKL_CBWR": "AVX2"}, False),
    "MKL compatible (MKL_CBWR=COMPATIBLE,STRICT)": (AVX2_PIN | {"MKL_CBWR": "COMPATIBLE,STRICT"}, False),
    "oneDNN on (torch.backends.mkldnn)": (AVX2_PIN, True),
    "ATen reference kernels (ATEN_CPU_CAPABILITY=default)": (AVX2_PIN | {"ATEN_CPU_CAPABILITY": "default"}, False),
}
DEFAULT = next(iter(CANDIDATES))

STEPS_CODE = """
import json, sys, time
import torch
from dragon_repro.experiments.config import TrainingOptions
from dragon_repro.modeling.model import load_model_and_tokenizer
from dragon_repro.training.measure import encoded, training_texts
from dragon_repro.training.provenance import math_libraries
from dragon_repro.training.runs import deterministic_torch
from dragon_repro.training.train import fine_tune, parameters_digest
times = []
with deterministic_torch(), torch.backends.mkldnn.flags(enabled=sys.argv[2] == "1"):
    model, tokenizer = load_model_and_tokenizer(sys.argv[1], num_labels=2, seed=0)
    texts = training_texts()[:int(sys.argv[3])]
    features, labels = encoded(tokenizer, texts, 512), [i % 2 for i in range(len(texts))]
    last = [time.perf_counter()]
    def lap(_):
        times.append(time.perf_counter() - last[0]); last[0] = time.perf_counter()
    options = TrainingOptions(epochs=1, restore_best_epoch=False, learning_rate=3e-4)
    fine_tune(model, features, labels, features[:1], labels[:1], options, 0, progress=False, on_step=lap,
              digests=False)
    print(json.dumps({"step_seconds": times[1:], "digest": parameters_digest(model),
                      "capability": torch.backends.cpu.get_cpu_capability(),
                      "mkl_branch": math_libraries()["mkl_branch"]}))
"""


def train_steps(model: str, environment: dict, onednn: bool, cases: int) -> dict:
    """Seconds of each optimizer step but the first, and the final weights' digest, in a fresh process."""
    unpinned = {k: v for k, v in os.environ.items() if k not in AVX2_PIN and k != "DRAGON_REPRO_NATIVE_CPU"}
    output = run_checked([sys.executable, "-c", STEPS_CODE, model, "1" if onednn else "0", str(cases)],
                         env=unpinned | environment).stdout
    return json.loads(output.strip().splitlines()[-1])


def pin_costs(model: str = "embedded-w32-L2", rounds: int = 3, cases: int = 96) -> list[dict]:
    """Per candidate: median seconds per step over all rounds, relative to the default pin, and whether its weights
    end bit-equal to the default's."""
    measured = {name: [] for name in CANDIDATES}
    for round_ in range(rounds):
        for name, (environment, onednn) in CANDIDATES.items():
            measured[name].append(train_steps(model, environment, onednn, cases))
            print(f"[pins] round {round_ + 1}/{rounds}: {name}", file=sys.stderr, flush=True)
    median = {name: statistics.median(s for r in runs for s in r["step_seconds"]) for name, runs in measured.items()}
    default_digest = measured[DEFAULT][0]["digest"]
    return [{"setting": name, "median_step_seconds": median[name], "relative_to_default": median[name] / median[DEFAULT],
             "same_bytes_as_default": all(r["digest"] == default_digest for r in runs),
             "deterministic": len({r["digest"] for r in runs}) == 1, "cpu_capability": runs[0]["capability"],
             "mkl_branch": runs[0]["mkl_branch"]}
            for name, runs in measured.items()]


def record_pin_costs(plan: Plan, rounds: int = 3) -> tuple[Path, list[dict]]:
    """Price the pins on the plan's model and write the result, with the machine, beside the plan's bundle
    (`figures/<profile>/pins.json`)."""
    costs = pin_costs(plan.model, rounds)
    path = plan.folders.figures / "pins.json"
    write_json_atomic(path, {"model": plan.model, "rounds": rounds, "machine": machine_provenance(), "pins": costs})
    return path, costs

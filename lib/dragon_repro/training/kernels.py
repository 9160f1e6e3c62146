"""`python -m dragon_repro verify --kernels`: which kernel, if any, gives other bytes on this machine.

Each operation a run's training uses is run forward and backward on fixed inputs at the shapes of a profile's model
(hidden size, heads, window, vocabulary), one thread, and every output and gradient is hashed, with a fixed sample of
its values kept to size a difference. The pipeline writes the reference beside the committed bundle
(`figures/<profile>/kernels.json`); on any other machine the probe names the operations whose outputs differ, and
by how much. Inputs are drawn in a forked RNG: the probe moves no random state.
"""

import json
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoConfig, LongformerModel

from ..atomic import write_json_atomic
from ..experiments.plan import Plan
from ..hashing import sha256_hex
from ..modeling.exact_attention import install_exact_attention, windows
from ..modeling.model import resolve_model
from .provenance import machine_provenance
from .runs import deterministic_torch

BATCH, LENGTH = 4, 128  # a length-grouped batch of Task101's typical texts
SAMPLED_VALUES = 64  # per tensor, evenly spaced: enough to size a difference


def kernels_file(plan: Plan) -> Path:
    return plan.folders.figures / "kernels.json"


def probe(model: str) -> dict[str, list[dict]]:
    """Every operation's outputs and gradients: hash and sampled values, per tensor."""
    config = AutoConfig.from_pretrained(resolve_model(model))
    with deterministic_torch(), torch.random.fork_rng(devices=[]):
        return {name: [_fingerprint(t) for t in operation()] for name, operation in operations(config).items()}


def operations(config) -> dict[str, Callable[[], list[torch.Tensor]]]:
    """Each operation as a function of nothing giving its tensors; its inputs and weights come from fixed seeds."""
    hidden, heads, window = config.hidden_size, config.num_attention_heads, min(windows(config))
    x = lambda *shape: _seeded(lambda: torch.randn(*shape))  # noqa: E731
    module = lambda make: _seeded(make)  # noqa: E731
    return {
        "embedding": lambda: _backward(module(lambda: torch.nn.Embedding(config.vocab_size, hidden)),
                                       _seeded(lambda: torch.randint(0, config.vocab_size, (BATCH, LENGTH)))),
        "linear (MKL sgemm)": lambda: _backward(module(lambda: torch.nn.Linear(hidden, config.intermediate_size)),
                                                x(BATCH, LENGTH, hidden)),
        "batched matmul": lambda: _backward(torch.matmul, x(BATCH, heads, LENGTH, hidden // heads),
                                            x(BATCH, heads, hidden // heads, LENGTH)),
        "layer norm": lambda: _backward(module(lambda: torch.nn.LayerNorm(hidden, eps=config.layer_norm_eps)),
                                        x(BATCH, LENGTH, hidden)),
        "gelu": lambda: _backward(F.gelu, x(BATCH, LENGTH, config.intermediate_size)),
        "softmax": lambda: _backward(lambda t: t.softmax(-1), x(BATCH, heads, LENGTH, LENGTH)),
        "dropout (seeded)": lambda: _backward(_seeded_dropout(config.hidden_dropout_prob), x(BATCH, LENGTH, hidden)),
        "cross-entropy": lambda: _backward(lambda t: F.cross_entropy(t, torch.arange(BATCH) % 2), x(BATCH, 2)),
        "Longformer layer, transformers' attention (local and global)":
            lambda: _longformer_layer(config, exact=False, length=2 * window),
        "Longformer layer, exact attention path":
            lambda: _longformer_layer(config, exact=True, length=min(LENGTH, 2 * window)),
        "fused AdamW": lambda: _adamw_steps(x(hidden, hidden), x(hidden, hidden)),
    }


def _seeded(make):
    """A tensor or module drawn from a seed of its own: it does not depend on which operation ran before."""
    torch.manual_seed(0)
    return make()


def _backward(operation, *inputs) -> list[torch.Tensor]:
    """The output, and the gradients of a fixed weighted sum of it with respect to every float input and
    parameter."""
    leaves = [t.requires_grad_() for t in inputs if t.is_floating_point()]
    output = operation(*inputs)
    _weighted_sum(output).backward()
    parameters = list(operation.parameters()) if isinstance(operation, torch.nn.Module) else []
    return [output.detach()] + [t.grad for t in leaves + parameters]


def _weighted_sum(output: torch.Tensor) -> torch.Tensor:
    return (output * torch.linspace(-1, 1, output.numel()).reshape(output.shape)).sum()


def _seeded_dropout(p: float):
    def dropout(t):
        torch.manual_seed(1)
        return F.dropout(t, p, training=True)
    return dropout


def _longformer_layer(config, exact: bool, length: int) -> list[torch.Tensor]:
    """One Longformer layer (random weights from a fixed seed, dropout off) on a padded batch with global attention
    on <s>: its hidden states and every parameter's gradient."""
    one_layer = type(config)(**config.to_dict() | {"num_hidden_layers": 1, "attention_window": windows(config)[:1]})
    model = _seeded(lambda: LongformerModel(one_layer, add_pooling_layer=False)).eval()
    if exact:
        install_exact_attention(model)
    ids = _seeded(lambda: torch.randint(5, config.vocab_size, (BATCH, length)))
    mask = (torch.arange(length) < torch.tensor([length, length - 7, length // 2, 9])[:, None]).long()
    on_first = torch.zeros_like(mask).index_fill(1, torch.tensor([0]), 1)
    output = model(input_ids=ids, attention_mask=mask, global_attention_mask=on_first).last_hidden_state
    _weighted_sum(output).backward()
    return [output.detach()] + [p.grad for p in model.parameters() if p.grad is not None]


def _adamw_steps(weights: torch.Tensor, gradient: torch.Tensor) -> list[torch.Tensor]:
    """Two fused AdamW steps with weight decay, as a run takes them."""
    parameter = torch.nn.Parameter(weights.clone())
    optimizer = torch.optim.AdamW([parameter], lr=1e-3, weight_decay=0.01, fused=True)
    for scale in (1.0, -0.5):
        parameter.grad = gradient * scale
        optimizer.step()
    return [parameter.detach()]


def _fingerprint(tensor: torch.Tensor) -> dict:
    flat = tensor.detach().contiguous().reshape(-1)
    positions = torch.linspace(0, flat.numel() - 1, min(SAMPLED_VALUES, flat.numel())).long()
    return {"sha256": sha256_hex(flat.view(torch.uint8).numpy().tobytes())[:16],
            "sample": flat[positions].double().tolist()}


# ---------------------------------------------------------------- the reference and the comparison

def write_reference(plan: Plan) -> Path:
    """Probe the plan's model and write the result, with the machine, beside the plan's bundle."""
    path = kernels_file(plan)
    write_json_atomic(path, {"model": plan.model, "machine": machine_provenance(), "kernels": probe(plan.model)})
    return path


def differences(reference: dict[str, list[dict]], here: dict[str, list[dict]]) -> dict[str, str]:
    """Per operation whose outputs differ: by how much, over the sampled values."""
    found = {}
    for name, tensors in reference.items():
        if name not in here:
            found[name] = "not probed here"
            continue
        if [t["sha256"] for t in tensors] == [t["sha256"] for t in here[name]]:
            continue
        gaps = [max((abs(a - b) for a, b in zip(ref["sample"], ours["sample"])), default=0.0) /
                max(max(map(abs, ref["sample"]), default=0.0), 1e-30)
                for ref, ours in zip(tensors, here[name]) if ref["sha256"] != ours["sha256"]]
        worst = max(gaps)
        found[name] = (f"differs: largest relative difference {worst:.1e} over the sampled values" if worst else
                       "differs outside the sampled values")
    return found


def verify_kernels(plan: Plan) -> bool:
    """Probe here and compare with the committed reference; print each differing operation. True when none
    differs."""
    path = kernels_file(plan)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no committed kernel reference for profile {plan.profile!r}")
    reference = json.loads(path.read_text())
    found = differences(reference["kernels"], probe(reference["model"]))
    machine = reference["machine"].get("cpu", {}).get("model", "?")
    print(f"[kernels] {len(reference['kernels']) - len(found)} of {len(reference['kernels'])} operations give the "
          f"reference's bytes (made on {machine})", flush=True)
    for name, what in found.items():
        print(f"[kernels] {name}: {what}", flush=True)
    return not found

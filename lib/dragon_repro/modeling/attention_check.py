"""How far the exact attention path is from transformers' Longformer attention on the same weights: logits, loss and
every parameter's gradient, on batches with and without padding and with global attention on <s>, a few entity
tokens or many tokens. tests/test_exact_attention.py holds the path to TOLERANCES["fp32"] on CPU; `selftest`
measures the same gaps on any device, in fp32 and in a run's precision.
"""

import torch

# The largest gap each precision allows: logits (absolute), loss (absolute), gradients (relative to each gradient's
# norm, floored at 1e-3 of the largest norm for gradients that are zero in theory, such as the key biases).
TOLERANCES = {"fp32": {"logits": 1e-5, "loss": 1e-6, "gradient": 1e-4},
              "bf16": {"logits": 5e-2, "loss": 2e-2, "gradient": 5e-2}}


def attention_inputs(model, length: int, padding: str, global_tokens: str, seed: int = 0) -> dict:
    """Two texts of `length` tokens; the second padded (right or left) to half its length or not at all; global
    attention on <s> (the first attended token), on a few "entities" or on many tokens."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, (2, length), generator=generator)
    mask = torch.ones(2, length, dtype=torch.long)
    if padding != "none" and length > 3:
        pad = slice(length // 2, None) if padding == "right" else slice(0, length - length // 2)
        mask[1, pad] = 0
        ids[1, pad] = model.config.pad_token_id
    first = mask.argmax(1)
    glob = torch.zeros_like(mask)
    glob[torch.arange(2), first] = 1
    if global_tokens == "entities":
        glob[:, [p for p in (2, 5, 6) if p < length]] = 1
    elif global_tokens == "many":
        glob[:, ::2] = 1
    return {"input_ids": ids, "attention_mask": mask, "global_attention_mask": glob * mask,
            "labels": torch.tensor([0, 1])}


def outputs(model, batch: dict, precision: str = "fp32"):
    """Logits, loss and every parameter's gradient of one forward and backward pass, under bf16 autocast when asked
    (on the model's device)."""
    device = next(model.parameters()).device
    model.zero_grad()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = model(**{k: v.to(device) for k, v in batch.items()})
    out.loss.backward()
    return (out.logits.detach().float(), out.loss.item(),
            {n: p.grad.detach().float().clone() for n, p in model.named_parameters()})


def attention_gaps(theirs, ours, batch: dict, precision: str = "fp32") -> dict[str, float]:
    """The largest gaps between transformers' model and the exact path's on one batch, measured as TOLERANCES
    bounds them."""
    (logits_a, loss_a, grads_a), (logits_b, loss_b, grads_b) = (outputs(theirs, batch, precision),
                                                                outputs(ours, batch, precision))
    scale = max(g.norm() for g in grads_a.values())
    return {"logits": (logits_a - logits_b).abs().max().item(), "loss": abs(loss_a - loss_b),
            "gradient": max(((g - grads_b[n]).norm() / max(g.norm(), 1e-3 * scale)).item()
                            for n, g in grads_a.items())}


def within(gaps: dict[str, float], precision: str) -> bool:
    return all(gaps[key] <= bound for key, bound in TOLERANCES[precision].items())

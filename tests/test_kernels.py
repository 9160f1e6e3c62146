"""`verify --kernels`: every kernel training uses, hashed on fixed inputs, matches its own reference on the machine
that wrote it, and a differing one is named with the size of its difference."""

import json
import os
import subprocess
import sys

from dragon_repro.training import kernels

PROBE = "import json, sys; from dragon_repro.training import kernels; print(json.dumps(kernels.probe(sys.argv[1])))"


def probe_in_child(model: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, model], capture_output=True, text=True, timeout=300,
                            env=os.environ)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_probe_matches_its_own_reference_in_a_fresh_process_and_moves_no_random_state():
    import torch
    before = torch.random.get_rng_state()
    here = kernels.probe("tiny")
    assert torch.equal(torch.random.get_rng_state(), before)
    assert {"embedding", "linear (MKL sgemm)", "gelu", "fused AdamW", "dropout (seeded)",
            "Longformer layer, exact attention path"} <= set(here)
    assert kernels.differences(probe_in_child("tiny"), here) == {}


def test_a_differing_operation_is_named_with_the_size_of_its_difference():
    reference = kernels.probe("tiny")
    here = json.loads(json.dumps(reference))
    gelu = here["gelu"][0]
    gelu |= {"sha256": "0" * 16, "sample": [v * (1 + 2e-6) for v in gelu["sample"]]}
    here["softmax"][1]["sha256"] = "0" * 16  # a difference outside the sampled values
    assert kernels.differences(reference, here) == {
        "gelu": "differs: largest relative difference 2.0e-06 over the sampled values",
        "softmax": "differs outside the sampled values"}

"""Provenance names the machine: the CPU and its kernel flags, and the math libraries with the code paths they chose."""

import platform
import re

import torch

from dragon_repro.training import provenance


def test_the_math_libraries_and_their_code_paths_are_named():
    libraries = provenance.machine_provenance()["math_libraries"]
    config = torch.__config__.show()
    onednn = re.search(r"MKL-DNN (v[\d.]+)", config)
    if onednn:  # the version torch was built with is the one that reported its code path
        assert libraries["onednn"] == f"oneDNN {onednn.group(1)}" and libraries["onednn_isa"]
    if torch.backends.mkl.is_available():
        assert libraries["mkl"].startswith("oneMKL") and libraries["mkl_branch"]


def test_the_cpu_is_named_with_the_flags_that_choose_kernels():
    cpu = provenance.cpu_description()
    assert cpu["model"]
    if platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64"):
        assert cpu["vendor"] and set(cpu["flags"]) <= set(provenance.KERNEL_FLAGS)


def test_probing_the_libraries_moves_no_random_state():
    provenance.math_libraries.cache_clear()
    before = torch.get_rng_state()
    provenance.math_libraries()
    assert torch.equal(before, torch.get_rng_state())

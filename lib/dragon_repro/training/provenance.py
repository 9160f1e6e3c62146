"""Where and with what a result was made: the machine, its kernels and threads, and the package versions."""

import platform
from importlib.metadata import version

import psutil
import torch

PACKAGES = ("torch", "transformers", "accelerate", "dragon-prep", "spacy", "scikit-learn", "numpy")


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})"


def machine_provenance() -> dict:
    """The machine a result was made on: device, CPU kernels, threads and cores, package versions."""
    return {"packages": {p: version(p) for p in PACKAGES} | {"python": platform.python_version()},
            "device": device_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_threads": torch.get_num_threads(), "cpu_count": psutil.cpu_count()}


def memory_kind() -> str:
    """What a peak memory figure measures here."""
    return "cuda_max_allocated" if torch.cuda.is_available() else "process_rss"

"""Where and with what a result was made: the machine, its kernels and threads, and the package versions."""

import os
import platform
import re
import sys
import tempfile
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import psutil
import torch

from .. import CPU_PIN, NATIVE_CPU

PACKAGES = ("torch", "transformers", "accelerate", "dragon-prep", "spacy", "scikit-learn", "numpy")
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")  # what picks kernels


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})"


def machine_provenance() -> dict:
    """The machine a result was made on: device (and which GPUs this process was given), CPU and its
    kernel-choosing flags, the math libraries and the code paths they chose, threads and cores, package versions."""
    return {"packages": {p: version(p) for p in PACKAGES} | {"python": platform.python_version()},
            "device": device_name(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "cpu": cpu_description(), "math_libraries": math_libraries(),
            "cpu_kernels": cpu_kernels(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_threads": torch.get_num_threads(), "cpu_count": psutil.cpu_count()}


def cpu_kernels() -> dict:
    """How the CPU's kernels were chosen: pinned (the settings in effect) or native (--native-cpu)."""
    return {"pinned": not NATIVE_CPU, "mkldnn_enabled": torch.backends.mkldnn.enabled} | {
        key: os.environ.get(key) for key in CPU_PIN}


@lru_cache(maxsize=1)
def cpu_description() -> dict:
    """Vendor, model and the instruction sets that choose kernels (from /proc/cpuinfo, where there is one)."""
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return {"model": platform.processor() or platform.machine()}
    fields = dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in first.splitlines()))
    flags = set(fields.get("flags", "").split())
    return {"vendor": fields.get("vendor_id"), "model": fields.get("model name"),
            "flags": [f for f in KERNEL_FLAGS if f in flags]}


@lru_cache(maxsize=1)
def math_libraries() -> dict:
    """MKL's and oneDNN's versions and the code paths they choose in this process, from their own verbose lines for
    one small matrix product and one GELU (fixed inputs: no random state moves). oneDNN is probed even where runs
    turn it off (`cpu_kernels` says whether they use it)."""
    def probe():
        x = torch.arange(4096, dtype=torch.float32).reshape(64, 64) / 4096
        with torch.backends.mkl.verbose(torch.backends.mkl.VERBOSE_ON):
            x @ x
        with torch.backends.mkldnn.flags(enabled=True), torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
            torch.nn.functional.gelu(x)
    lines = _stdout_of(probe)

    def found(pattern: str) -> str | None:
        match = re.search(pattern, lines)
        return match.group(1).strip() if match else None
    return {"mkl": found(r"MKL_VERBOSE (oneMKL[^,]*?) Product"), "mkl_branch": found(r"CNR:(\S+)"),
            "onednn": found(r"info,(oneDNN v[\d.]+)"), "onednn_isa": found(r"cpu,isa:([^\n]+)"),
            "onednn_gelu": found(r"eltwise,(jit:[\w]+|ref[\w:]*)")}


def _stdout_of(probe) -> str:
    """What `probe` writes to file descriptor 1 (where C libraries print), taken from it."""
    sys.stdout.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(1)
        os.dup2(captured.fileno(), 1)
        try:
            probe()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        captured.seek(0)
        return captured.read().decode(errors="replace")


def memory_kind() -> str:
    """What a peak memory figure measures here."""
    return "cuda_max_allocated" if torch.cuda.is_available() else "process_rss"

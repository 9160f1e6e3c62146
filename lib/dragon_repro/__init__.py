"""dragon-repro: re-run, audit and extend arXiv 2507.09470 (DRAGON Longformer on Task101).

Layers, each importing only from those below it (tests/test_layers.py):
    pipeline, verify,       ./run_all.sh, re-training committed runs to compare them, what a profile will cost
      selftest, __main__    here, and the command line
    executors               where runs train: a process each here (a GPU per job), or a task each on a Ray cluster
    presentation            tables as text, figures, the report
    analysis                frames, statistics, claims and verdicts over finished runs (no torch)
    training                fine-tuning, the run cache, the benchmark, the kernel probe
    modeling                models, tokenization and global attention
    experiments             the config schema and the resolved plan (no torch)
    tasks                   DRAGON task folders, preprocessing, metrics (no torch)
    paths, atomic, hashing, processes, gitstate      the ground

This is the one place with a side effect at import: the environment every run is reproduced under.
"""

import os
import platform

# Offline unless the user says otherwise: model hubs are unreachable where this suite is meant to run.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # lets cuBLAS be deterministic on a GPU
# CPU kernels pinned to AVX2 (torch's own, MKL's and oneDNN's): without this, the same run gives different bytes on
# CPUs with and without AVX-512. Set any of them beforehand to choose otherwise; provenance records what was used.
# They must be set before torch runs its first kernel, so import dragon_repro first. DRAGON_REPRO_NATIVE_CPU=1 (the
# command line's --native-cpu) leaves every library its own choice: faster, and bytes of this machine only.
# MKL's STRICT mode makes its results independent of memory alignment too, at no cost (bench --pins; README).
CPU_PIN = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2"}
NATIVE_CPU = os.environ.get("DRAGON_REPRO_NATIVE_CPU") == "1"
if platform.machine().lower() in ("x86_64", "amd64") and not NATIVE_CPU:
    for _key, _value in CPU_PIN.items():
        os.environ.setdefault(_key, _value)

__version__ = "0.1.0"

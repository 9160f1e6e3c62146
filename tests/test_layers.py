"""The package's shape: layers as folders, every import pointing down, analysis without torch, no side effects at
import beyond the reproducibility environment that dragon_repro/__init__.py documents."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import dragon_repro

PACKAGE = Path(dragon_repro.__file__).parent
GROUND = ("__init__", "paths", "atomic", "hashing", "processes", "gitstate")
LAYERS = ["ground", "tasks", "experiments", "modeling", "training", "analysis", "presentation", "top"]
TORCH_FREE = ("tasks", "experiments", "analysis")
# What dragon_repro/__init__.py sets, and nothing else may set at import.
REPRODUCIBILITY_ENV = {"HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM", "CUBLAS_WORKSPACE_CONFIG", "ATEN_CPU_CAPABILITY",
                       "MKL_CBWR", "ONEDNN_MAX_CPU_ISA"}


def modules() -> list[str]:
    return sorted(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
                  for p in PACKAGE.rglob("*.py"))


def layer_of(module: str) -> int:
    parts = module.split(".")[1:]
    if not parts or parts[0] in GROUND:
        return LAYERS.index("ground")
    return LAYERS.index(parts[0]) if parts[0] in LAYERS else LAYERS.index("top")


def imports_of(module: str) -> set[str]:
    """The package modules that `module` imports (relative imports resolved; `from x import name` counts x.name when
    it is a module)."""
    path = PACKAGE.parent / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found, known = set(), set(modules())
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found |= {m for m in (f"{base}.{alias.name}", base) if m in known}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
    return found - {module, "dragon_repro"}


def test_every_module_sits_in_a_known_layer_folder():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")} - {"resources"}
    assert folders == {"tasks", "experiments", "modeling", "training", "analysis", "presentation"}
    loose = {p.stem for p in PACKAGE.glob("*.py")}
    assert loose == set(GROUND) | {"pipeline", "verify", "selftest", "executors", "__main__"}


def test_every_import_points_down_the_layers():
    upward = [(m, i) for m in modules() for i in imports_of(m) if layer_of(i) > layer_of(m)]
    assert not upward, upward


def test_the_imports_form_no_cycle():
    graph = {m: imports_of(m) for m in modules()}
    visiting, done = set(), set()

    def visit(module, trail):
        assert module not in visiting, " -> ".join(trail + [module])
        if module not in done:
            visiting.add(module)
            for imported in graph[module]:
                visit(imported, trail + [module])
            visiting.discard(module)
            done.add(module)
    for module in graph:
        visit(module, [])


def test_the_layer_check_sees_imports():
    """The two checks above must see relative imports, or they would pass on anything."""
    assert "dragon_repro.experiments.plan" in imports_of("dragon_repro.training.runs")
    assert "dragon_repro.tasks.data" in imports_of("dragon_repro.experiments.plan")
    assert layer_of("dragon_repro.analysis.claims") > layer_of("dragon_repro.training.runs")


def _in_fresh_python(code: str, env: dict | None = None) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env=env or os.environ)
    return json.loads(result.stdout.splitlines()[-1])


def test_the_torch_free_layers_load_neither_torch_nor_transformers():
    torch_free = [m for m in modules() if m.split(".")[1:2] and m.split(".")[1] in TORCH_FREE]
    assert len(torch_free) >= 12
    loaded = _in_fresh_python("import importlib, json, sys\n"
                              f"for m in {torch_free!r}: importlib.import_module(m)\n"
                              "print(json.dumps(sorted({'torch', 'transformers'} & set(sys.modules))))")
    assert loaded == []


def test_importing_everything_sets_only_the_documented_environment():
    env = {k: v for k, v in os.environ.items() if k not in REPRODUCIBILITY_ENV}
    third_party = ("torch", "transformers", "transformers.models.longformer.modeling_longformer", "accelerate",
                   "accelerate.utils", "torch._dynamo", "matplotlib.pyplot", "seaborn", "sklearn", "nbconvert",
                   "papermill", "psutil", "safetensors", "tokenizers", "scipy", "statsmodels.api")
    added = _in_fresh_python("import importlib, json, os\n"
                             f"for m in {third_party!r}: importlib.import_module(m)\n"  # what they set is theirs
                             "before = dict(os.environ)\n"
                             f"for m in {[m for m in modules() if not m.endswith('__main__')]!r}: "
                             "importlib.import_module(m)\n"
                             "print(json.dumps(sorted(set(os.environ) - set(before))))", env)
    assert set(added) == REPRODUCIBILITY_ENV & set(added)
    assert "HF_HUB_OFFLINE" in added  # dragon_repro/__init__.py is where they are set, once

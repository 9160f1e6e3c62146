"""The resolved plan: read once per process, handed down, and the same for every caller."""

import ast
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from dragon_repro import hashing
from dragon_repro.experiments.plan import PACKAGE_DIR, RESULT_CODE, PlannedRun, code_files, resolve_plan
from dragon_repro.hashing import code_hash
from dragon_repro.paths import ROOT

# Counts the files opened whose name ends with each of sys.argv[1:] (an audit hook sees every open()), then runs
# the code piped in, and prints the counts last.
COUNTING = """
import json, sys
names, counts = sys.argv[1:], {}
def hook(event, args):
    if event == "open" and isinstance(args[0], str):
        for name in names:
            if args[0].endswith(name):
                counts[name] = counts.get(name, 0) + 1
sys.addaudithook(hook)
exec(sys.stdin.read())
print(json.dumps(counts))
"""


def opened(code: str, *names: str, output: Path) -> dict:
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(output)}
    result = subprocess.run([sys.executable, "-c", COUNTING, *names], input=code, capture_output=True, text=True,
                            env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_experiments_yaml_is_read_once_per_process(tmp_path):
    code = ("import importlib, pkgutil, dragon_repro\n"
            "for m in pkgutil.walk_packages(dragon_repro.__path__, 'dragon_repro.'):\n"
            "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
            "from dragon_repro.experiments.plan import resolve_plan\n"
            "first = resolve_plan('smoke')\nassert resolve_plan('smoke') is first\n"
            "resolve_plan('smoke', seeds=[0]); resolve_plan('cpu')\n")
    counts = opened(code, "experiments.yaml", "nlp-training-dataset.json", output=tmp_path)
    assert counts["experiments.yaml"] == 1
    # generating the data writes the file; the fingerprint reads it once for all plans on the task
    assert counts["nlp-training-dataset.json"] <= 2


def test_the_counting_sees_a_second_read(tmp_path):
    code = "from dragon_repro.experiments import config\nconfig.load_experiments.cache_clear()\n" \
           "config.load_experiments(); config.load_experiments.cache_clear(); config.load_experiments()\n"
    assert opened(code, "experiments.yaml", output=tmp_path)["experiments.yaml"] == 2


def test_a_plan_holds_its_runs_folders_and_jobs():
    plan = resolve_plan("smoke")
    assert [(r.config.experiment, r.config.seed) for r in plan.runs][:4] == [
        ("baseline", 0), ("baseline", 1), ("baseline", 2), ("+lr5e-6", 0)]
    assert all(r.path == PlannedRun.of(r.config, plan.folders.runs).path for r in plan.runs)
    assert plan.folders.tables.name == "smoke" and plan.task.name == "Task101_Example_sl_bin_clf-repro"
    assert all(r.config.encoding.truncation_side == "left" for r in plan.runs)  # Task101's recommended side
    assert resolve_plan("paper").jobs == 1 and resolve_plan("smoke", jobs=3).jobs == 3
    assert "26_transfer" in resolve_plan("smoke-transfer").analysis
    assert resolve_plan("smoke-transfer").task.name.startswith("Task102")


def test_seed_k_is_planned_on_split_k_and_the_headline_on_ten_seeds():
    plan = resolve_plan("cpu")
    assert {r.config.seed: r.config.split for r in plan.runs} == {k: k for k in range(10)}
    seeds = {name: sorted(r.config.seed for r in plan.runs if r.config.experiment == name) for name in plan.steps}
    assert seeds["baseline"] == seeds["optimized"] == list(range(10))
    assert all(len(s) >= 3 for s in seeds.values())
    assert plan.planned("baseline", 1, split=0).config.split == 0  # a user may train any seed on the folder's split


def test_other_seeds_or_models_write_beside_the_profiles_outputs():
    plan = resolve_plan("smoke", model="embedded-w32-L2", seeds="0,1")
    assert plan.label == "smoke-model-embedded-w32-L2-seeds0-1" and plan.folders.figures.name == plan.label
    assert plan.seeds == [0, 1] and plan.model == "embedded-w32-L2"
    with pytest.raises(ValueError, match="plans no run with seed"):
        resolve_plan("smoke", seeds=[7])


def test_the_ladder_and_its_comparisons_come_from_the_plan():
    plan = resolve_plan("smoke")
    assert plan.ladder == ["baseline", "+lr5e-6", "+len1024", "+epochs8", "optimized"]
    assert plan.ladder_comparisons()[-1] == ("baseline", "optimized")
    assert plan.steps[-2:] == ["context_ablation", "overfit_stress"]
    only_two = replace(plan, runs=tuple(r for r in plan.runs if r.config.experiment in ("baseline", "optimized")))
    assert only_two.ladder_comparisons() == [("baseline", "optimized")]


def cli(*args, output: Path, check: bool = True):
    env = os.environ | {"DRAGON_REPRO_OUTPUT": str(output)}
    result = subprocess.run([sys.executable, "-m", "dragon_repro", *args], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=600)
    assert not check or result.returncode == 0, result.stderr[-3000:]
    return result


def test_train_takes_a_dragon_shaped_model_by_name(tmp_path):
    result = cli("train", "--experiment", "baseline", "--profile", "smoke", "--model", "dragon-shaped-tiny",
                 output=tmp_path)
    (run,) = (tmp_path / "results" / "runs" / "baseline").glob("0-*")
    assert json.loads((run / "config.json").read_text())["model"] == "dragon-shaped-tiny"
    assert "trained: " in result.stdout and (run / "provenance.json").exists()


def test_verify_retrains_a_task102_run_on_a_clone_without_data(tmp_path):
    cli("train", "--experiment", "baseline", "--profile", "smoke-transfer", output=tmp_path)
    (run,) = (tmp_path / "results" / "runs" / "baseline").glob("0-*")
    bundle = tmp_path / "figures" / "smoke-transfer" / "provenance.json"
    bundle.parent.mkdir(parents=True)
    entry = ("import json, sys; from dragon_repro.experiments.records import load_run; "
             "from dragon_repro.verify import bundle_entry; "
             "print(json.dumps([bundle_entry(load_run(sys.argv[1]))], default=str))")
    bundle.write_text(subprocess.run([sys.executable, "-c", entry, str(run)], capture_output=True, text=True,
                                     check=True).stdout)
    subprocess.run(["rm", "-rf", str(tmp_path / "data")], check=True)  # a fresh clone has no data
    result = cli("verify", "--profile", "smoke-transfer", output=tmp_path)
    assert "baseline seed 0: identical" in result.stdout
    assert (tmp_path / "data" / "Task102_Example_sl_mc_clf-repro").is_dir()


def code_keys(root: Path) -> dict[str, str]:
    """Every kind of result's code key (runs, reference points, benchmark cells) over a copy of the package."""
    return {kind: code_hash(code_files(kind, root)) for kind in RESULT_CODE}


@pytest.fixture
def package_copy(tmp_path) -> Path:
    """A copy of the package to edit: the tests never touch the real one."""
    return Path(shutil.copytree(PACKAGE_DIR, tmp_path / "dragon_repro",
                                ignore=shutil.ignore_patterns("__pycache__")))


def edited(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer holds {old!r}: pick another edit"
    path.write_text(text.replace(old, new))


def test_every_module_in_the_result_code_table_exists():
    for kind, names in RESULT_CODE.items():
        assert all(list(PACKAGE_DIR.glob(name)) for name in names), kind
    assert PACKAGE_DIR / "tasks" / "metrics.py" in code_files("run")  # the module the tests below edit


def test_docstrings_comments_and_layout_change_no_key(package_copy):
    before = code_keys(package_copy)
    metrics = package_copy / "tasks" / "metrics.py"
    edited(metrics, '"""Per-case predictions', '"""Per-case (reworded) predictions')  # the module's docstring
    edited(metrics, '"""The name of the long-case', '"""The (reworded) name of the long-case')  # a function's
    edited(metrics, "LONG_CASE_TOKENS = 400  #", "LONG_CASE_TOKENS = 400  # a comment edited;")
    metrics.write_text(metrics.read_text() + "\n# a trailing comment\n")
    for module in code_files("run", package_copy) + code_files("bench", package_copy):
        if module.suffix == ".py":  # every hashed module reflowed: the same code, every line laid out anew
            module.write_text(ast.unparse(ast.parse(module.read_text())))
    lexicon = next((package_copy / "resources").glob("*.yaml"))
    lexicon.write_text("# a comment in a resource\n" + lexicon.read_text())
    assert code_keys(package_copy) == before


def test_a_changed_constant_changes_every_key_that_hashes_its_module(package_copy):
    before = code_keys(package_copy)
    edited(package_copy / "tasks" / "metrics.py", "LONG_CASE_TOKENS = 400", "LONG_CASE_TOKENS = 401")
    after = code_keys(package_copy)
    assert after["run"] != before["run"] and after["reference"] != before["reference"]  # a cell's key holds the run's
    edited(package_copy / "training" / "measure.py", "OUR_LOOP = ", "OUR_LOOP = '-' + ")
    assert code_keys(package_copy)["bench"] != after["bench"]


def test_the_code_hash_reads_code_not_the_dump_format():
    canonical = hashing._canonical(ast.parse("def f(x):\n    return x + 1\n"))
    assert "lineno" not in json.dumps(canonical) and "type_params" not in json.dumps(canonical)
    assert canonical == ["Module", {"body": [["FunctionDef", {
        "name": "'f'", "args": ["arguments", {"args": [["arg", {"arg": "'x'"}]]}],
        "body": [["Return", {"value": ["BinOp", {"left": ["Name", {"id": "'x'", "ctx": ["Load", {}]}],
                                                  "op": ["Add", {}], "right": ["Constant", {"value": "1"}]}]}]]}]]}]

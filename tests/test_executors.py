"""Where runs train: a GPU of its own for each local job (the GPU count faked), and runs on a local Ray cluster of 2
CPU workers: the same bytes as local runs, a killed worker retried once and then reported while the other runs
finish, and Ctrl-C on the driver cancelling the cluster's tasks with nothing partial kept."""

import dataclasses
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import torch

from dragon_repro import executors, pipeline
from dragon_repro.atomic import staging_dirs
from dragon_repro.experiments.records import load_run
from dragon_repro.modeling.local_models import ensure_tiny_model
from dragon_repro.training.provenance import machine_provenance

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="ray is not installed (the optional extra: pip install -e .[cluster])")


def fake_gpus(monkeypatch, count: int, visible: str | None = None):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)


def test_each_concurrent_job_gets_a_gpu_of_its_own(smoke_plan, monkeypatch):
    fake_gpus(monkeypatch, 4)
    lock, held, given, most = threading.Lock(), set(), [], [0]

    def child(command, timeout, env):  # a run's process, as the executor starts it
        device = env["CUDA_VISIBLE_DEVICES"]
        with lock:
            assert device not in held, f"GPU {device} given to two jobs at once"
            held.add(device)
            given.append(device)
            most[0] = max(most[0], len(held))
        time.sleep(0.1)
        with lock:
            held.discard(device)
    monkeypatch.setattr(executors, "run_checked", child)
    with executors.LocalExecutor(dataclasses.replace(smoke_plan, jobs=2), timeout=60) as local:
        for future in [local.submit(planned) for planned in smoke_plan.runs[:6]]:
            future.result()
    assert len(given) == 6 and set(given) == {"0", "1"} and most[0] == 2  # two jobs at a time, each on its GPU


def test_without_jobs_there_is_one_job_per_visible_gpu_and_cpu_is_as_before(smoke_plan, monkeypatch):
    fake_gpus(monkeypatch, 2, visible="3,5")  # this process was given GPUs 3 and 5
    assert executors.visible_gpus() == ["3", "5"]
    assert executors.default_jobs(None) == 2 and executors.default_jobs(3) == 3
    with executors.LocalExecutor(dataclasses.replace(smoke_plan, jobs=3), timeout=60) as local:
        assert [local.devices.get() for _ in range(3)] == ["3", "5", "3"]  # more jobs than GPUs: they take turns
    fake_gpus(monkeypatch, 0)
    assert executors.default_jobs(None) is None  # the profile's jobs, or one per core
    with executors.LocalExecutor(dataclasses.replace(smoke_plan, jobs=2), timeout=60) as local:
        assert [local.devices.get() for _ in range(2)] == [None, None]  # a child gets no CUDA_VISIBLE_DEVICES


def test_a_runs_process_checks_the_key_its_driver_planned(smoke_plan, tmp_path, monkeypatch, capsys):
    from dragon_repro import __main__, paths
    planned, sent = smoke_plan.runs[0], []
    monkeypatch.setattr(executors, "run_checked", lambda command, *a, **k: sent.append(command))
    executors.train_in_process(planned, smoke_plan, timeout=60)
    config = json.loads(sent[0][sent[0].index("--config") + 1])
    assert config["config_hash"] == planned.hash  # the driver hands the child the key it planned
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path)
    monkeypatch.setattr(__main__, "install_interrupts", lambda: None)  # pytest's own handlers stay
    assert __main__.main(["train", "--config", json.dumps(config | {"config_hash": "0123456789ab"})]) == 2
    error = capsys.readouterr().err.strip()
    assert "0123456789ab" in error and planned.hash in error and "\n" not in error  # both keys, one line
    assert not any(tmp_path.iterdir())  # nothing trained


def test_provenance_names_the_gpus_a_run_was_given(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert machine_provenance()["cuda_visible_devices"] == "3"


# ---------------------------------------------------------------- a local Ray cluster

CLUSTER = """
import sys, ray
ray.init(num_cpus=2, include_dashboard=False, _temp_dir=sys.argv[1])
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes it
ray.shutdown()
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray cluster of 2 CPUs in a process of its own, which drivers join and leave; its workers' temporary
    folder is `workers`, where a run's scratch folder shows which worker process trains it."""
    workers, temp = tmp_path_factory.mktemp("workers"), tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short paths
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "token")  # the local cluster's token (Ray's default there), for every driver
        process = subprocess.Popen([sys.executable, "-c", CLUSTER, temp], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True, env=os.environ | {"TMPDIR": str(workers)})
        try:
            yield process.stdout.readline().strip(), workers
        finally:
            process.stdin.close()
            process.wait(timeout=60)
            shutil.rmtree(temp, ignore_errors=True)


def finish(executor, runs):
    for future in [executor.submit(planned) for planned in runs]:
        future.result()


@needs_ray
def test_runs_made_on_ray_are_byte_identical_to_local_ones(cluster, smoke_plan, tmp_path, monkeypatch):
    address, _ = cluster
    # the second run's model is a local folder: it travels to the worker, as the task folder does
    runs = [smoke_plan.planned("baseline", 0), smoke_plan.planned("optimized", 1, model=str(ensure_tiny_model()))]
    monkeypatch.setenv("DRAGON_REPRO_OUTPUT", str(tmp_path / "local"))  # the local runs' processes cache there
    local = [planned.under(tmp_path / "local" / "results" / "runs") for planned in runs]
    on_ray = [planned.under(tmp_path / "ray") for planned in runs]
    with executors.LocalExecutor(dataclasses.replace(smoke_plan, jobs=2), timeout=300) as executor:
        finish(executor, local)
    with executors.RayExecutor(smoke_plan, address) as executor:
        finish(executor, on_ray)
    for here, there in zip(local, on_ray):
        assert {p.name for p in there.path.iterdir()} == {p.name for p in here.path.iterdir()} >= {"model"}
        for name in ("predictions.csv", "metrics.json", "config.json"):  # config.json names the driver's folders
            assert (there.path / name).read_bytes() == (here.path / name).read_bytes(), (there.path, name)
        provenance = load_run(there.path).provenance  # sealed as a local run is, its config.json as sent back
        assert provenance["device"].startswith("cpu") and "cuda_visible_devices" in provenance


@needs_ray
def test_a_killed_worker_is_retried_once_then_reported_while_the_other_runs_finish(cluster, smoke_plan, tmp_path):
    address, workers = cluster
    doomed = smoke_plan.planned("overfit_stress", 0, epochs=30).under(tmp_path)  # long enough to be killed twice
    other = smoke_plan.planned("baseline", 0).under(tmp_path)
    plan = dataclasses.replace(smoke_plan, runs=(doomed, other), benchmark=None)
    killed, reported, over = [], [], threading.Event()

    def kill_each_worker_training_the_doomed_run(executor):
        while len(killed) < 2 and not over.is_set():  # however long a loaded machine takes to start each attempt
            for staging in workers.glob(f"dragon-repro-*/runs/*/.{doomed.path.name}.tmp-*"):
                pid, progress = int(staging.name.rsplit("-", 1)[1]), executor.progress(doomed)
                if pid not in killed and (staging / "progress.json").exists() and progress:  # mid-run, reported
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    reported.append(progress)
            time.sleep(0.2)
    with executors.RayExecutor(plan, address) as executor:
        killer = threading.Thread(target=kill_each_worker_training_the_doomed_run, args=(executor,))
        killer.start()
        try:
            with pytest.raises(executors.RunFailed, match=r"overfit_stress seed 0 failed: WorkerCrashedError: .*died"):
                pipeline.run_experiments(plan, executor, time.time())
        finally:
            over.set()
            killer.join()
    assert len(killed) == 2  # the first attempt and its one retry, each on a worker of its own
    assert not doomed.path.exists() and not staging_dirs(doomed.path)  # nothing of it in the cache
    assert (other.path / "provenance.json").exists()
    assert reported[0]["experiment"] == "overfit_stress" and reported[0]["step"] >= 1  # its progress came back


@needs_ray
def test_ctrl_c_on_the_driver_cancels_the_clusters_tasks_and_keeps_nothing_partial(cluster, tmp_path):
    address, workers = cluster
    before = set(workers.glob("dragon-repro-*"))  # scratch folders of killed workers (the test above)
    driver = subprocess.Popen([sys.executable, "-m", "dragon_repro", "run-all", "--profile", "smoke-transfer",
                               "--seeds", "0", "--executor", "ray", "--address", address],
                              env=os.environ | {"DRAGON_REPRO_OUTPUT": str(tmp_path)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600  # the data, then Ray's workers: minutes on a loaded machine
    training = "dragon-repro-*/runs/*/.*.tmp-*/config.json"  # a run's staging folder in a worker's scratch folder
    while not [s for s in workers.glob(training) if s.parents[3] not in before]:  # until a run trains on a worker
        assert driver.poll() is None and time.time() < deadline, driver.communicate()[1][-3000:]
        time.sleep(0.1)
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr[-3000:]
    assert "interrupted: nothing partial was kept" in stderr and "Traceback" not in stderr
    runs = tmp_path / "results" / "runs"
    assert not list(runs.glob("*/.*"))  # no staging folder
    assert all((run / "provenance.json").exists() for run in runs.glob("*/*"))  # only complete runs
    assert len(list(runs.glob("*/*"))) < 5  # it stopped before the end (5 runs planned)
    # cancelled, not left running: each interrupted task unwound and removed its scratch folder, and none started
    deadline = time.time() + 30
    while set(workers.glob("dragon-repro-*")) - before and time.time() < deadline:
        time.sleep(0.2)
    assert not set(workers.glob("dragon-repro-*")) - before

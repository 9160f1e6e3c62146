"""Command line: `python -m dragon_repro {data,validate,train,predict,score,shaped,bench,verify,selftest,run-all,
readme}`."""

import argparse
import json
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

import yaml

from . import CPU_PIN, NATIVE_CPU
from .tasks import data


def cmd_data(args) -> None:
    folder = data.write_task(args.task, args.out)
    print(f"wrote {folder}")


def cmd_validate(args) -> None:
    task = data.load_task_folder(args.folder)
    sizes = ", ".join(f"{split} {len(frame)}" for split, frame in task.splits.items())
    print(f"{args.folder}: {task.config.task_name} ({task.config.label_name}) OK: {sizes}")


def cmd_train(args) -> None:
    from .experiments.config import ExperimentConfig
    from .experiments.plan import PlannedRun, check_key, resolve_plan
    from .paths import RUNS_DIR
    from .training.runs import load_or_run
    if args.config:  # a whole config and its key, as the pipeline hands it to a run's process, or a config.json
        settings = json.loads(args.config if args.config.lstrip().startswith("{") else Path(args.config).read_text())
        key, config = settings.pop("config_hash", None), ExperimentConfig.from_settings(settings)
        config = replace(config, task=_task_here(config.task))
        if key is not None:
            check_key(config, key)
        planned = PlannedRun.of(config, Path(args.runs_root) if args.runs_root else RUNS_DIR)
    elif args.experiment:
        plan = resolve_plan(args.profile, args.model, task=args.task)
        planned = plan.planned(args.experiment, args.seed, **dict(_setting(item) for item in args.set))
    else:
        raise ValueError("train needs --experiment (a name from config/experiments.yaml) or --config")
    # started by torchrun or accelerate launch: one of WORLD_SIZE processes training the run data-parallel
    run = load_or_run(planned.on_processes(int(os.environ.get("WORLD_SIZE", 1))), weights=args.weights)
    if int(os.environ.get("RANK", 0)) == 0:  # every process returns the run; one prints it
        print(("cached: " if run.cached else "trained: ") + str(run.path))
        print(json.dumps({split: {k: v for k, v in m.items() if k not in ("by_length", "confusion")}
                          for split, m in run.metrics.items()}, indent=2))


def _task_here(task: str) -> str:
    """A config's task folder on this machine. A stored run's config names the folder it was made in; for a generated
    task missing there, this checkout's own folder stands in (written on first use): the key check confirms that it
    holds the same data."""
    generated = [name for name in data.GENERATED_TASKS if Path(task).name == data.default_folder(name).name]
    return str(data.ensure_task(generated[0])) if generated and not Path(task).is_dir() else task


def _setting(item: str) -> tuple[str, object]:
    """`key=value` with a YAML value: epochs=3, learning_rate=2e-5, global_attention=cls+entities."""
    from .experiments.config import SETTING_NAMES
    key, sep, value = item.partition("=")
    known = sorted(set(SETTING_NAMES) - {"experiment", "seed", "task"})
    if not sep or key.strip() not in known:
        raise ValueError(f"--set expects KEY=VALUE with KEY one of {', '.join(known)}; got {item!r}")
    return key.strip(), yaml.safe_load(value)


def cmd_predict(args) -> None:
    from .training.predict import predict_with_run
    out = predict_with_run(Path(args.run), Path(args.data), Path(args.out) if args.out else None)
    print(f"wrote {out}")


def cmd_score(args) -> None:
    from .tasks.scoring import score
    print(json.dumps(score(Path(args.predictions), Path(args.ground_truth), args.task)))


def cmd_run_all(args) -> None:
    from .experiments.plan import parse_seeds
    from .pipeline import run_all
    if args.replace and not args.retrain:
        raise ValueError("--replace goes with --retrain: it moves the re-trained runs into the store")
    if not run_all(args.profile, args.model, parse_seeds(args.seeds), args.jobs, args.cell_timeout, args.executor,
                   args.address, args.retrain, args.replace):
        raise SystemExit(1)


def cmd_shaped(args) -> None:
    from .modeling.shapes import ensure_dragon_shaped
    print(ensure_dragon_shaped(args.size, args.weights))


def cmd_bench(args) -> None:
    from .experiments.plan import resolve_plan
    from .training.bench import composed_epochs, cost_table, epoch_table
    if args.attention:
        _attention_speed()
        return
    plan = resolve_plan(args.profile)
    if args.pins:
        _pin_costs(plan)
        return
    costs = cost_table(plan)
    print(f"[bench] {costs.model.iloc[0]} on {costs.hardware.iloc[0]}")
    for r in costs.itertuples():
        print(f"[bench] {r.batching:>12} {r.measure}: {r.from_tokens} -> {r.to_tokens} tokens "
              f"{100 * r.relative:+.1f}% [{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]")
    for r in composed_epochs(plan).itertuples():
        print(f"[bench] {r.batching:>12} epoch of {r.batches} steps at {r.max_seq_length} tokens: "
              f"{r.epoch_seconds:.0f} s ({r.times_cheaper:.1f}x cheaper than length-aware)")
    for r in epoch_table(plan).itertuples():
        print(f"[bench] one epoch of {r.model} at {r.max_seq_length} tokens, {r.training}: {r.epoch_seconds:.1f} s "
              f"({r.relative_to_ours:.1f} x our loop)")


def _attention_speed() -> None:
    from .training.measure import exact_attention_seconds
    from .training.runs import deterministic_torch
    with deterministic_torch():  # one thread, as the runs
        seconds = exact_attention_seconds()
    print(f"[bench] one 130-token text, forward and backward on dragon-shaped-base, one thread: transformers' "
          f"attention {seconds['transformers']:.2f} s, exact path {seconds['exact']:.2f} s "
          f"({seconds['transformers'] / seconds['exact']:.1f}x)")


def _pin_costs(plan) -> None:
    from .training.pins import record_pin_costs
    path, costs = record_pin_costs(plan)
    for r in costs:
        print(f"[pins] {r['setting']}: {r['median_step_seconds']:.3f} s per step ({r['relative_to_default']:.2f} x the "
              f"default), {'the same bytes as' if r['same_bytes_as_default'] else 'other bytes than'} the default; "
              f"ATen {r['cpu_capability']}, MKL branch {r['mkl_branch']}")
    print(f"[pins] recorded in {path}")


def cmd_verify(args) -> None:
    from .executors import default_jobs
    from .experiments.plan import resolve_plan
    plan = resolve_plan(args.profile, jobs=default_jobs(args.jobs))
    if args.kernels:
        from .training.kernels import verify_kernels
        reproduced = verify_kernels(plan)
    else:
        from .pipeline import train_runs
        from .verify import verify
        reproduced = verify(plan, train_runs, args.runs, every_run=args.all)
    if not reproduced:
        raise SystemExit(1)


def cmd_selftest(args) -> None:
    from .selftest import selftest
    _, ok = selftest(args.profile, args.model, Path(args.out) if args.out else None)
    if not ok:
        raise SystemExit(1)


def cmd_readme(args) -> None:
    from .presentation import readme
    if args.check:
        stale = readme.stale_blocks(readme.README.read_text())
        if stale:
            raise ValueError(f"{readme.README}: generated blocks differ from the committed outputs: {', '.join(stale)} "
                             "(python -m dragon_repro readme rewrites them)")
        print(f"{readme.README}: every generated block matches the committed outputs")
        return
    changed = readme.write_readme()
    print(f"{readme.README}: " + (f"rewrote {', '.join(changed)}" if changed else "every generated block current"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dragon_repro", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cpu = argparse.ArgumentParser(add_help=False)
    cpu.add_argument("--native-cpu", action="store_true",
                     help="leave the CPU's kernels unpinned (faster where AVX-512 is there): runs and outputs of this "
                          "machine's own bytes, kept apart from the pinned ones")

    p = commands.add_parser("data", help="generate an example task with dragon-prep and write the 400/100 task folder")
    p.add_argument("--task", default=data.TASK101, choices=list(data.GENERATED_TASKS), help="default: %(default)s")
    p.add_argument("--out", help="task folder to write (default: data/<task>-repro)")
    p.set_defaults(handler=cmd_data)

    p = commands.add_parser("validate", help="check that a folder is a well-formed DRAGON task folder")
    p.add_argument("folder")
    p.set_defaults(handler=cmd_validate)

    p = commands.add_parser("train", parents=[cpu],
                            help="train (or load from the cache) one experiment for one seed")
    p.add_argument("--experiment", help="a name from config/experiments.yaml")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", default="cpu", help="smoke, cpu (default) or paper")
    p.add_argument("--model", help="override the profile's model: embedded[-w..-L..], tiny, a hub name or a folder")
    p.add_argument("--task", help="DRAGON task folder (default: the profile's, data/<task>-repro)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any experiment setting, e.g. --set epochs=3 (repeatable)")
    p.add_argument("--config", help="instead of the above: a run's whole config, as JSON or a run's config.json (with "
                                    "its config_hash, checked here)")
    p.add_argument("--runs-root", help="with --config: the run cache to train into (default results/runs; the "
                                       "executors name verify's scratch cache)")
    p.add_argument("--weights", action="store_true",
                   help="keep the weights: a cached run without them (a stored run) is trained again, same folder")
    p.set_defaults(handler=cmd_train)

    p = commands.add_parser("predict", help="write DRAGON-format predictions with a trained run's model")
    p.add_argument("--run", required=True, help="a run folder under results/runs/")
    p.add_argument("--data", required=True, help="a task folder (its test set is used) or a dataset JSON file")
    p.add_argument("--out", help="output JSON (default: RUN/nlp-predictions-dataset.json)")
    p.set_defaults(handler=cmd_predict)

    p = commands.add_parser("score", help="score anyone's DRAGON predictions against a ground-truth file as dragon-eval "
                                          "does; prints one JSON object (task, metric, value, ...)")
    p.add_argument("predictions", help="a predictions JSON file (DRAGON's nlp-predictions-dataset.json format)")
    p.add_argument("ground_truth", help="the ground-truth JSON file: each case's uid and its <label>_target")
    p.add_argument("--task", help="dragon-eval's task, or a part of exactly one task's name (default: the ground "
                                  "truth's file name, as dragon-eval names it)")
    p.set_defaults(handler=cmd_score)

    p = commands.add_parser("shaped", help="build (once) a DRAGON-shaped checkpoint with random weights; prints its folder")
    p.add_argument("--size", default="tiny", choices=["tiny", "base"], help="tiny (tests) or base (the real architecture)")
    p.add_argument("--weights", default="safetensors", choices=["safetensors", "bin"],
                   help="model.safetensors, or only pytorch_model.bin")
    p.set_defaults(handler=cmd_shaped)

    p = commands.add_parser("bench", parents=[cpu], help="measure (or load) the efficiency benchmark: what 1024 "
                            "tokens cost, three ways of batching, and our loop against the HF Trainer")
    p.add_argument("--profile", default="cpu", help="the profile whose benchmark settings to use (default cpu)")
    p.add_argument("--attention", action="store_true",
                   help="instead: time the exact attention path against transformers' on one 130-token text")
    p.add_argument("--pins", action="store_true",
                   help="instead: price each way of pinning the CPU's kernels, and say whether it changes the bytes")
    p.set_defaults(handler=cmd_bench)

    p = commands.add_parser("verify", parents=[cpu], help="re-train committed runs into a scratch cache: identical, "
                            "machine noise, or where they part")
    p.add_argument("--runs", type=int, default=1, help="how many committed runs, cheapest first (default 1)")
    p.add_argument("--all", action="store_true", help="every committed run, then whether any verdict would change")
    p.add_argument("--kernels", action="store_true", help="instead: run every kernel training uses on fixed inputs and "
                                                          "name those that differ from the committed reference")
    p.add_argument("--profile", default="cpu", help="the profile whose committed runs to verify (default cpu)")
    p.add_argument("--jobs", type=int, help="runs re-trained in parallel, as run-all's --jobs")
    p.set_defaults(handler=cmd_verify)

    p = commands.add_parser("selftest", help="before a long run: this device, whether the exact attention path and "
                            "the same bytes hold here, and what the profile will cost in time and memory")
    p.add_argument("--profile", help="the profile to estimate (default: paper on a GPU, cpu otherwise)")
    p.add_argument("--model", help="override the profile's model (a hub name this machine cannot load is timed as "
                                   "dragon-shaped-base, its architecture)")
    p.add_argument("--out", help="JSON file to write (default: results/selftest/<device>-<profile>.json)")
    p.set_defaults(handler=cmd_selftest)

    p = commands.add_parser("run-all", parents=[cpu],
                            help="what ./run_all.sh runs: data, all runs, analysis notebooks, report")
    p.add_argument("--profile", default="cpu", help="smoke, cpu (default) or paper")
    p.add_argument("--model", help="override the profile's model")
    p.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2 (default: the profile's)")
    p.add_argument("--jobs", type=int, help="runs in parallel, each on one core, or on one GPU of its own where there "
                                            "are GPUs (default: one per GPU; on CPU one per core, 1 for paper)")
    p.add_argument("--cell-timeout", type=int, default=7200,
                   help="seconds any one notebook cell (and, locally, any one run) may take")
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="local: each run in a process here (default); ray: each run a task on a Ray cluster")
    p.add_argument("--address", help="with --executor ray: the cluster's address (default: start a local cluster of "
                                     "--jobs CPUs)")
    p.add_argument("--retrain", action="store_true",
                   help="re-train every stored run from scratch into a scratch cache, say how each compares with the "
                        "stored one and which verdicts would change; the store is left as it is")
    p.add_argument("--replace", action="store_true",
                   help="with --retrain: move the re-trained runs into the store, then rebuild the outputs from them")
    p.set_defaults(handler=cmd_run_all)

    p = commands.add_parser("readme", help="rewrite the README's generated blocks from the committed tables and "
                                           "figures (./run_all.sh does, for the profiles the README reads)")
    p.add_argument("--check", action="store_true", help="instead: name the blocks that differ, and fail if any does")
    p.set_defaults(handler=cmd_readme)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _interrupt_again(unraisable) -> None:
    """An interrupt that landed in a finalizer (`__del__`, where Python ignores exceptions) is sent again from another
    thread, to land outside it: otherwise the run would go on as if never interrupted."""
    name = str(unraisable.exc_value)
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and name in signal.Signals.__members__:
        threading.Timer(0.05, os.kill, args=(os.getpid(), signal.Signals[name])).start()  # after the finalizer
    else:
        sys.__unraisablehook__(unraisable)


def _restart_with_native_cpu(argv: list[str]) -> None:
    """Start this command again with the CPU kernels left unpinned: the pins take effect when torch loads, and
    dragon_repro reads DRAGON_REPRO_NATIVE_CPU once, at import."""
    env = {k: v for k, v in os.environ.items() if CPU_PIN.get(k) != v} | {"DRAGON_REPRO_NATIVE_CPU": "1"}
    os.execve(sys.executable, [sys.executable, "-m", "dragon_repro", *argv], env)


def install_interrupts() -> None:
    """SIGTERM unwinds like Ctrl-C, so half-written results are removed on the way out. SIGINT is set too: a process
    started in the background by a shell inherits it ignored."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    sys.unraisablehook = _interrupt_again


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if getattr(args, "native_cpu", False) and not NATIVE_CPU:
        _restart_with_native_cpu(argv)
    install_interrupts()
    try:
        args.handler(args)
    except KeyboardInterrupt:
        print("interrupted: nothing partial was kept", file=sys.stderr)
        return 130
    except (data.DataError, OSError, ValueError, RuntimeError) as err:
        # Bad input is the user's to fix: one clear line, no traceback.
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `python -m dragon_repro {data,validate,train,predict}`."""

import argparse
import sys

from . import data


def cmd_data(args) -> None:
    folder = data.write_task101(args.out)
    print(f"wrote {folder}")


def cmd_validate(args) -> None:
    task = data.load_task_folder(args.folder)
    sizes = ", ".join(f"{split} {len(frame)}" for split, frame in task.splits.items())
    print(f"{args.folder}: {task.config.task_name} ({task.config.label_name}) OK: {sizes}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dragon_repro", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("data", help="generate Task101 with dragon-prep and write the 400/100 task folder")
    p.add_argument("--out", help="task folder to write (default: data/Task101_Example_sl_bin_clf-repro)")
    p.set_defaults(run=cmd_data)

    p = commands.add_parser("validate", help="check that a folder is a well-formed DRAGON task folder")
    p.add_argument("folder")
    p.set_defaults(run=cmd_validate)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (data.DataError, OSError, ValueError) as err:
        # Bad input is the user's to fix: one clear line, no traceback.
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

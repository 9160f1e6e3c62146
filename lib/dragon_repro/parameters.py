"""Notebook parameters as users type them, and where the outputs of non-default parameters go.

A notebook (or `./run_all.sh --seeds/--model`) run with other seeds or another model than its profile's writes
its tables, figures, executed notebooks and report under `<profile>-<what changed>`, never over the profile's
committed outputs.
"""

import re

import yaml

from .runs import profile_plan


def parse_seeds(seeds) -> list[int] | None:
    """None (the profile's seeds), a list of ints, or what a user types: 1, "1", "0,1", "[0, 1]"."""
    values = seeds
    if isinstance(seeds, str):
        text = seeds.strip()
        try:
            values = yaml.safe_load(text if text.startswith("[") else f"[{text}]")
        except yaml.YAMLError:
            values = text
    if values is None:
        return None
    values = [values] if isinstance(values, int) and not isinstance(values, bool) else values
    if not isinstance(values, (list, tuple)) or not values or \
            not all(isinstance(s, int) and not isinstance(s, bool) for s in values):
        raise ValueError(f"parameter 'seeds': expected a list of integers such as [0, 1] (or None), got {seeds!r}")
    return sorted(set(values))


def planned_runs(profile: str, seeds=None) -> list[tuple[str, int]]:
    """The (experiment, seed) pairs a profile plans, kept to `seeds` (any form parse_seeds takes) if given."""
    seeds = parse_seeds(seeds)
    plan = profile_plan(profile)
    unplanned = sorted(set(seeds or []) - {seed for _, seed in plan})
    if unplanned:
        raise ValueError(f"parameter 'seeds': profile {profile!r} plans no run with seed(s) {unplanned}")
    return [(name, seed) for name, seed in plan if seeds is None or seed in seeds]


def output_label(profile: str, model: str | None = None, seeds=None) -> str:
    """The folder name for a profile's outputs: the profile itself, or the profile and what was changed."""
    seeds = parse_seeds(seeds)
    label = profile
    if model:
        label += "-model-" + re.sub(r"[^A-Za-z0-9.]+", "-", model.rstrip("/").rsplit("/", 1)[-1])
    if seeds is not None:
        label += "-seeds" + "-".join(map(str, seeds))
    return label

"""One config schema: every setting and its default written once, experiments.yaml filling it."""

import pytest

from dragon_repro.experiments.config import (SECTIONS, SETTING_NAMES, EncodingOptions, ExperimentConfig,
                                             TrainingOptions, load_experiments)


def schema_defaults() -> dict:
    return ExperimentConfig(experiment="").settings()


def test_every_setting_has_one_name_in_one_section():
    assert len(SETTING_NAMES) == len(set(SETTING_NAMES))
    assert {"max_seq_length", "global_attention"} <= set(EncodingOptions.__dataclass_fields__)
    assert {"learning_rate", "epochs", "batch_size"} <= set(TrainingOptions.__dataclass_fields__)
    assert set(SECTIONS) == {"encoding", "training"}


def test_a_default_lives_in_the_schema_or_in_experiments_yaml_never_both_apart():
    spec, defaults = load_experiments(), schema_defaults()
    disagreeing = {k: (v, defaults.get(k, "not a setting")) for k, v in spec.get("defaults", {}).items()
                   if defaults.get(k, object()) != v}
    assert not disagreeing


def test_the_schema_defaults_are_dragon_baselines_settings():
    spec, defaults = load_experiments(), schema_defaults()
    shared = {k: ref["value"] for k, ref in spec["dragon_baseline"].items()
              if k in defaults and "ours" not in ref and k not in ("seed", "truncation_side")}
    assert len(shared) >= 9
    assert {k: defaults[k] for k in shared} == shared
    assert defaults["truncation_side"] is None  # the task's side, filled in by the plan


def test_flat_settings_route_to_their_sections_and_back():
    config = ExperimentConfig.from_settings({"experiment": "x", "seed": 3, "max_seq_length": 1024,
                                             "learning_rate": 5e-6, "evaluation_sets": ["fresh"]})
    assert config.encoding.max_seq_length == 1024 and config.training.learning_rate == 5e-6
    assert config.evaluation_sets == ("fresh",)
    assert ExperimentConfig.from_settings(config.settings()) == config
    assert ExperimentConfig.from_settings(config.settings() | {"epochs": 8}).training.epochs == 8


def test_an_unknown_setting_is_named():
    with pytest.raises(ValueError, match="unknown setting.*max_length"):
        ExperimentConfig.from_settings({"experiment": "x", "max_length": 1024})


def test_the_learning_rate_scale_multiplies_the_learning_rate():
    assert TrainingOptions(learning_rate=1e-5, learning_rate_scale=30).scaled_learning_rate == pytest.approx(3e-4)

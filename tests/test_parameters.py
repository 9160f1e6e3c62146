"""Notebook parameters in the forms users type them, and outputs of non-default parameters kept apart."""

import pytest

from dragon_repro.experiments.plan import output_label, parse_seeds


@pytest.mark.parametrize("typed, seeds", [(None, None), (1, [1]), ("1", [1]), ("0,1", [0, 1]), ("[0, 1]", [0, 1]),
                                          ([0, 1], [0, 1]), ((2, 3), [2, 3])])
def test_seeds_are_read_in_every_form_a_user_types(typed, seeds):
    assert parse_seeds(typed) == seeds


@pytest.mark.parametrize("typed", ["a", "[0.5]", [True], {"a": 1}, "0;1", "[]", []])
def test_other_seeds_get_one_line_naming_the_parameter(typed):
    with pytest.raises(ValueError, match=r"^parameter 'seeds': expected a list of integers .* got "):
        parse_seeds(typed)


def test_only_the_profiles_own_parameters_write_to_its_folder():
    assert output_label("cpu") == "cpu"
    assert output_label("cpu", None, "[0, 1]") == output_label("cpu", None, [0, 1]) == "cpu-seeds0-1"
    assert output_label("cpu", native_cpu=True) == "cpu-native-cpu"
    assert output_label("paper", "/models/dragon-longformer-base-mixed-domain/") == \
        "paper-model-dragon-longformer-base-mixed-domain"

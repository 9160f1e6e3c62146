"""Hygiene of the committed notebooks: stripped of outputs, one papermill parameters cell, the expected parameters,
the suite's kernel. Fast: nothing is executed."""

import nbformat
import papermill
import pytest

from dragon_repro.paths import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPERIMENT = "10_experiment.ipynb"
EXPECTED = {"00_verdicts.ipynb", "01_dataset.ipynb", EXPERIMENT, "20_main_table.ipynb", "21_confusion.ipynb",
            "22_long_cases.ipynb", "23_loss_curves.ipynb", "24_significance.ipynb", "25_efficiency.ipynb",
            "26_transfer.ipynb"}
ANALYSIS_PARAMETERS = {"profile", "model", "seeds"}
# The other profile whose cached runs a notebook shows beside its own (it never trains them).
OTHER_PROFILE = {"00_verdicts.ipynb": {"transfer_profile"}, "26_transfer.ipynb": {"compare_with"}}
EXPERIMENT_PARAMETERS = {"experiment", "seed", "profile", "model"}


def read(path):
    return nbformat.read(path, as_version=4)


def test_the_suite_has_every_notebook():
    assert EXPECTED <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_or_execution_counts(path):
    nb = read(path)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exactly_one_parameters_cell(path):
    tagged = [cell for cell in read(path).cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_sees_exactly_the_expected_parameters(path):
    expected = EXPERIMENT_PARAMETERS if path.name == EXPERIMENT else ANALYSIS_PARAMETERS | OTHER_PROFILE.get(path.name, set())
    assert set(papermill.inspect_notebook(str(path))) == expected


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernel_is_the_suites(path):
    assert read(path).metadata["kernelspec"]["name"] == "dragon-repro"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_a_markdown_title(path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")

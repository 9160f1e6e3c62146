"""The README's measured numbers are generated from the committed outputs: they must agree, and a changed table or a
missing column is caught."""

import json
import shutil

import pandas as pd
import pytest

from dragon_repro import paths
from dragon_repro.presentation import readme


def test_the_readme_agrees_with_the_committed_outputs():
    text = readme.README.read_text()
    assert {m["name"] for m in readme.BLOCK.finditer(text)} == set(readme.BLOCKS), "every block is in the README"
    assert readme.stale_blocks(text) == [], "run `python -m dragon_repro readme` and commit the README"


@pytest.fixture
def outputs(tmp_path):
    """A copy of the committed tables and figures' JSON that the README reads."""
    for profile in readme.PROFILES:
        shutil.copytree(paths.TABLES_DIR / profile, tmp_path / "tables" / profile)
        (tmp_path / "figures" / profile).mkdir(parents=True)
        for bundle in (paths.FIGURES_DIR / profile).glob("*.json"):
            shutil.copy(bundle, tmp_path / "figures" / profile)
    return readme.Outputs(tmp_path / "tables", tmp_path / "figures")


def edit_table(outputs, profile, name, change):
    path = outputs.tables / profile / f"{name}.csv"
    change(pd.read_csv(path)).to_csv(path, index=False)


def test_a_changed_table_is_named_and_rewritten_with_the_prose_kept(outputs, tmp_path):
    def headline_gain(frame):
        frame.loc[frame.claim == "overall_accuracy_gain", "ours"] = 0.123
        return frame
    edit_table(outputs, "cpu", "verdicts", headline_gain)
    text = readme.README.read_text()
    assert readme.stale_blocks(text, outputs) == ["verdicts", "answer"]  # the table and the plain answer
    copy = tmp_path / "README.md"
    copy.write_text(text)
    assert readme.write_readme(copy, outputs) == ["verdicts", "answer"]
    rewritten = copy.read_text()
    assert "+12.3 [" in rewritten and "by +0.123 [" in rewritten and readme.stale_blocks(rewritten, outputs) == []
    prose = lambda t: readme.BLOCK.sub("", t)  # noqa: E731
    assert prose(rewritten) == prose(text)


def test_a_missing_column_is_one_line_naming_the_file_and_the_column(outputs):
    edit_table(outputs, "transfer", "transfer_verdicts", lambda f: f.drop(columns="dragon_change"))
    with pytest.raises(ValueError, match=r"transfer_verdicts\.csv: no column 'dragon_change'") as err:
        readme.render(readme.README.read_text(), outputs)
    assert "\n" not in str(err.value)


def test_the_regeneration_record_fills_its_row(outputs):
    record = {"seconds": 3725.4, "finished": "2026-12-07T18:00:00+00:00", "commit": "abcdef1234", "dirty": False,
              "runs_trained": 0, "runs_cached": 35, "cells_measured": 0, "machine": "cpu (x86_64), 2 cores"}
    (outputs.tables / "cpu" / readme.REGENERATION_FILE).write_text(json.dumps(record))
    retrained = {"seconds": 7322, "finished": "2026-12-08T01:00:00+00:00", "commit": "abcdef1234", "dirty": True,
                 "runs_retrained": 35, "reproduced": True, "replaced": False, "machine": "cpu (x86_64), 2 cores"}
    (outputs.tables / "cpu" / readme.RETRAIN_FILE).write_text(json.dumps(retrained))
    block = readme.regeneration(outputs)
    assert "**1 h 2 min 5 s**" in block and "`abcdef1`, 2026-12-07" in block and "0 runs trained, 35 cached" in block
    assert "| `--profile cpu --retrain` | " in block and "35 stored runs re-trained: every one reproduced" in block
    assert "**2 h 2 min 2 s**" in block and "`abcdef1` (dirty), 2026-12-08" in block

"""`score` gives dragon-eval's own value on every fold it publishes, and bad input one line naming the file, the case
and the field."""

import json
import re
from pathlib import Path

import pytest

from dragon_repro.__main__ import main
from dragon_repro.tasks.data import DataError
from dragon_repro.tasks.scoring import TASK_TYPES, score

# dragon-eval's published fixtures, carried by the repository (tests/fixtures/dragon_eval/README.md)
FIXTURES = Path(__file__).parent / "fixtures" / "dragon_eval"
EXPECTED = json.loads((FIXTURES / "test-output-expected" / "metrics.json").read_text())["case"]
FOLDS = [(task, job) for task, jobs in EXPECTED.items() for job in jobs]


def _predictions(job: str) -> Path:
    return FIXTURES / "test-predictions" / job / "nlp-predictions-dataset.json"


def _ground_truth(task: str) -> Path:
    return FIXTURES / "ground-truth" / f"{task}.json"


def test_the_fixtures_hold_nine_tasks_of_five_folds():
    assert len(EXPECTED) == 9 and len(FOLDS) == 45


@pytest.mark.parametrize("task, job", FOLDS, ids=[job for _, job in FOLDS])
def test_score_equals_dragon_evals_published_score(task, job):
    result = score(_predictions(job), _ground_truth(task))
    assert result["task"] == task
    assert result["value"] == pytest.approx(EXPECTED[task][job], abs=1e-9)
    assert result["n_cases"] == len(json.loads(_ground_truth(task).read_text()))


def test_every_task_type_dragon_eval_lists_has_an_entry():
    from dragon_eval.evaluation import TASK_TYPE
    assert set(TASK_TYPE.values()) <= set(TASK_TYPES)


def test_the_command_prints_one_json_object(capsys):
    job = "Task104_Example_ml_bin_clf-fold2"
    assert main(["score", str(_predictions(job)), str(_ground_truth("Task104_Example_ml_bin_clf"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["task"] == "Task104_Example_ml_bin_clf" and result["metric"] == "auc"
    assert result["value"] == pytest.approx(EXPECTED["Task104_Example_ml_bin_clf"][job], abs=1e-9)


def test_task_names_the_task_of_a_ground_truth_file_named_otherwise(tmp_path, capsys):
    truth = tmp_path / "test-ground-truth.json"
    truth.write_text(_ground_truth("Task102_Example_sl_mc_clf").read_text())
    job = "Task102_Example_sl_mc_clf-fold1"
    assert main(["score", str(_predictions(job)), str(truth)]) == 2
    error = capsys.readouterr().err
    assert "'test-ground-truth'" in error and "Task109_Example_ml_ner" in error and len(error.splitlines()) == 1
    assert main(["score", str(_predictions(job)), str(truth), "--task", "Task102"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metric"] == "linear_kappa" and result["value"] == EXPECTED["Task102_Example_sl_mc_clf"][job]


def _edited(tmp_path, job: str, edit) -> Path:
    """A copy of fold `job`'s predictions after `edit(records)`."""
    records = json.loads(_predictions(job).read_text())
    edit(records)
    path = tmp_path / "nlp-predictions-dataset.json"
    path.write_text(json.dumps(records))
    return path


def _fails(predictions: Path, task: str, *parts: str):
    with pytest.raises(DataError) as err:
        score(predictions, _ground_truth(task))
    message = str(err.value)
    assert message.startswith(f"{predictions}: ") and "\n" not in message
    for part in parts:
        assert part in message, message
    return message


def test_a_missing_case_is_named(tmp_path):
    path = _edited(tmp_path, "Task101_Example_sl_bin_clf-fold0", lambda records: records.pop(3))
    uid = json.loads(_predictions("Task101_Example_sl_bin_clf-fold0").read_text())[3]["uid"]
    _fails(path, "Task101_Example_sl_bin_clf", f"case {uid!r}", "field 'single_label_binary_classification'",
           "no prediction")


def test_an_unknown_case_is_named(tmp_path):
    path = _edited(tmp_path, "Task101_Example_sl_bin_clf-fold0",
                   lambda records: records.append({"uid": "Task101_case9999", "single_label_binary_classification": 0.5}))
    _fails(path, "Task101_Example_sl_bin_clf", "case 'Task101_case9999'", "field 'uid'", "not a case")


def test_a_list_where_a_number_belongs_is_named(tmp_path):
    def edit(records):
        records[5]["single_label_regression"] = [1.0, 2.0]
    path = _edited(tmp_path, "Task106_Example_sl_reg-fold0", edit)
    uid = json.loads(path.read_text())[5]["uid"]
    _fails(path, "Task106_Example_sl_reg", f"case {uid!r}", "field 'single_label_regression'",
           "a list where a number or null belongs")


def test_a_number_where_a_list_of_labels_belongs_is_named(tmp_path):
    def edit(records):
        records[0]["multi_label_multi_class_classification"] = "Unknown"
    path = _edited(tmp_path, "Task105_Example_ml_mc_clf-fold0", edit)
    _fails(path, "Task105_Example_ml_mc_clf", f"case {json.loads(path.read_text())[0]['uid']!r}",
           "field 'multi_label_multi_class_classification'", "expected a list")


@pytest.mark.parametrize("task, field", [("Task108_Example_sl_ner", "named_entity_recognition"),
                                         ("Task109_Example_ml_ner", "multi_label_named_entity_recognition")])
def test_an_ner_label_count_that_does_not_match_the_words_is_named(tmp_path, task, field):
    def edit(records):
        records[2][field].pop()
    path = _edited(tmp_path, f"{task}-fold0", edit)
    record = json.loads(path.read_text())[2]
    words = len(record[field]) + 1
    _fails(path, task, f"case {record['uid']!r}", f"field {field!r}",
           f"{words - 1} values where the ground truth has {words} (one per word)")


def test_a_token_without_its_list_of_tags_is_named(tmp_path):
    def edit(records):
        records[1]["multi_label_named_entity_recognition"][4] = "O"
    path = _edited(tmp_path, "Task109_Example_ml_ner-fold0", edit)
    _fails(path, "Task109_Example_ml_ner", "field 'multi_label_named_entity_recognition'", "expected a list, got 'O'")


def test_malformed_json_is_named_and_nothing_printed(tmp_path, capsys):
    path = tmp_path / "nlp-predictions-dataset.json"
    path.write_text(_predictions("Task103_Example_mednli-fold0").read_text()[:-5])
    assert main(["score", str(path), str(_ground_truth("Task103_Example_mednli"))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.fullmatch(rf"error: {re.escape(str(path))}: malformed JSON at line \d+, column \d+: .+\n", captured.err)

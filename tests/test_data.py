import json
import subprocess
import sys

import pytest

from dragon_repro.tasks import data


@pytest.fixture(scope="module")
def task101_cases():
    return data.generate_cases(range(500))


def test_generated_cases_equal_the_published_dragon_files(task101_cases, shared_dragon):
    folder = shared_dragon / "Task101_Example_sl_bin_clf-fold0"
    config = data.read_task_config(folder)
    published = [data.read_dataset(folder / f"nlp-{s}-dataset.json", config) for s in ("training", "validation")]
    published.append(data.read_dataset(shared_dragon / "Task101_Example_sl_bin_clf-ground-truth.json", config))
    expected = {r.uid: (r.text, r.label) for frame in published for r in frame.itertuples()}
    generated = {r.uid: (r.text, r.label) for r in task101_cases.itertuples()}
    assert len(expected) == 500
    assert generated == expected


def test_generated_task102_equals_the_published_dragon_files(shared_dragon):
    folder = shared_dragon / "Task102_Example_sl_mc_clf-fold0"
    config = data.read_task_config(folder)
    published = [data.read_dataset(folder / f"nlp-{s}-dataset.json", config) for s in ("training", "validation")]
    published.append(data.read_dataset(shared_dragon / "Task102_Example_sl_mc_clf-ground-truth.json", config))
    expected = {r.uid: (r.text, r.label) for frame in published for r in frame.itertuples()}
    generated = data.generate_cases(range(len(expected)), task_name=data.TASK102)
    assert len(expected) == 1000
    assert {r.uid: (r.text, r.label) for r in generated.itertuples()} == expected
    assert data.class_order(generated.label) == ["0", "1", "2", "3", "4"]


def test_task102_folder_splits_400_100_with_every_long_case_stratum_kept(tmp_path):
    folder = data.write_task(data.TASK102, tmp_path / "task102", evaluation_sizes={"fresh": 5, "long": 3})
    task = data.load_task_folder(folder)
    assert task.config.jobid == 1020 and not task.config.is_binary
    assert (len(task["training"]), len(task["validation"])) == (400, 100)
    assert task.classes() == ["0", "1", "2", "3", "4"]
    long_validation = task["validation"].uid.str.extract(r"(\d+)$")[0].astype(int).mod(25).eq(0).sum()
    assert long_validation == 4


def test_classes_follow_the_task_order_not_the_string_order():
    assert data.class_order(["10", "2", "0", "1"]) == ["0", "1", "2", "10"]
    assert data.class_order(["b", "a", "c"]) == ["a", "b", "c"]


def test_a_default_folder_generated_with_other_settings_is_rewritten(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    folder = data.write_task(data.TASK101, data.default_folder(data.TASK101), evaluation_sizes={"fresh": 2})
    assert not (folder / "nlp-long-dataset.json").exists()
    monkeypatch.setattr(data, "EVALUATION_SIZES", {"fresh": 3, "long": 2})
    assert data.ensure_folder(folder) == folder
    assert len(data.load_task_folder(folder)["long"]) == 2
    assert data.ensure_folder(tmp_path / "elsewhere") == tmp_path / "elsewhere"  # a user's folder is left alone


def test_long_cases_are_the_twenty_longest(task101_cases):
    longest = task101_cases.assign(n=task101_cases.text.str.len()).nlargest(20, "n")
    assert set(longest["index"]) == set(task101_cases.loc[task101_cases.long_case, "index"])
    assert task101_cases.long_case.sum() == 20


def test_split_is_400_100_stratified_and_fixed(task101_cases):
    train, validation = data.split_train_validation(task101_cases)
    assert (len(train), len(validation)) == (400, 100)
    assert set(train.uid).isdisjoint(validation.uid)
    assert validation.long_case.sum() == 4 and train.long_case.sum() == 16
    assert abs(validation.label.mean() - task101_cases.label.mean()) < 0.01
    again = data.split_train_validation(data.generate_cases(range(500)))[1]
    assert list(again.uid) == list(validation.uid)


def test_seed_k_trains_on_its_own_stratified_split_k_of_the_same_cases(small_task):
    task = data.load_task_folder(small_task)
    own = data.training_split(task, 0)
    assert own[0] is task["training"] and own[1] is task["validation"]  # split 0: the folder's own
    splits = [data.training_split(task, k) for k in (1, 2)]
    cases = set(task["training"].uid) | set(task["validation"].uid)
    for training, validation in splits:
        assert (len(training), len(validation)) == (400, 100) and set(training.uid).isdisjoint(validation.uid)
        assert set(training.uid) | set(validation.uid) == cases
        assert abs(validation.label.mean() - task["training"].label.mean()) < 0.02  # stratified on the label
    assert len({frozenset(v.uid) for v in (own[1], splits[0][1], splits[1][1])}) == 3
    again = data.training_split(data.load_task_folder(small_task), 1)[1]
    assert list(again.uid) == list(splits[0][1].uid)  # the same split every time


def test_written_task_folder_round_trips(tmp_path):
    folder = data.write_task(folder=tmp_path / "task", evaluation_sizes={"fresh": 5, "long": 3, "noisy": 5})
    config = json.loads((folder / "nlp-task-configuration.json").read_text())
    assert config["recommended_truncation_side"] == "left"
    assert config["label_name"] == "single_label_binary_classification_target"
    task = data.load_task_folder(folder)
    assert {k: len(v) for k, v in task.splits.items()} == {
        "training": 400, "validation": 100, "fresh": 5, "long": 3, "noisy": 5}
    assert task.classes() == [False, True]
    assert task["long"].uid.str.extract(r"(\d+)$")[0].astype(int).mod(25).eq(0).all()
    assert not list(tmp_path.glob(".task*")), "staging folder left behind"


def test_noisy_set_differs_from_fresh_only_by_noise():
    fresh, noisy = data.evaluation_set("fresh", 20), data.evaluation_set("noisy", 20)
    assert list(fresh.uid) == list(noisy.uid) and list(fresh.label) == list(noisy.label)
    assert (fresh.text != noisy.text).sum() >= 15


def test_loader_reads_multiclass_task102(shared_dragon):
    task = data.load_task_folder(shared_dragon / "Task102_Example_sl_mc_clf-fold0")
    assert not task.config.is_binary
    assert (len(task["training"]), len(task["validation"]), len(task["test"])) == (560, 140, 300)
    assert task["test"].label.isna().all()
    assert task.classes() == ["0", "1", "2", "3", "4"]


def _folder_with(tmp_path, records, label_name="single_label_binary_classification_target", raw=None):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "nlp-task-configuration.json").write_text(json.dumps(
        {"task_name": "T", "label_name": label_name, "input_name": "text", "recommended_truncation_side": "left"}))
    (folder / "nlp-training-dataset.json").write_text(raw if raw is not None else json.dumps(records))
    (folder / "nlp-validation-dataset.json").write_text(json.dumps([{"uid": "v", "text": "t", label_name: True}]))
    return folder


GOOD = {"uid": "a", "text": "lesion of 2 cm", "single_label_binary_classification_target": True}
BAD_INPUTS = {
    "malformed json": (None, '[{"uid": "a",', "malformed JSON at line 1"),
    "missing text": ([GOOD, {"uid": "b", "single_label_binary_classification_target": False}], None,
                     "record 1, field 'text': missing or empty"),
    "empty text": ([{**GOOD, "text": "  "}], None, "record 0, field 'text'"),
    "label of wrong type": ([GOOD, {**GOOD, "uid": "b", "single_label_binary_classification_target": "yes"}], None,
                            "record 1, field 'single_label_binary_classification_target': expected bool, got str"),
    "duplicate uid": ([GOOD, GOOD], None, "record 1, field 'uid': duplicate 'a' (first at record 0)"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_gives_one_line_error_naming_file_record_and_field(tmp_path, case):
    records, raw, expected = BAD_INPUTS[case]
    folder = _folder_with(tmp_path, records, raw=raw)
    with pytest.raises(data.DataError) as err:
        data.load_task_folder(folder)
    message = str(err.value)
    assert str(folder / "nlp-training-dataset.json") in message and expected in message
    assert "\n" not in message


def test_unknown_label_name_is_rejected(tmp_path):
    folder = _folder_with(tmp_path, [GOOD], label_name="multi_label_regression_target")
    with pytest.raises(data.DataError, match=r"nlp-task-configuration.json: field 'label_name': unsupported"):
        data.load_task_folder(folder)


def test_cli_reports_bad_input_without_traceback(tmp_path):
    folder = _folder_with(tmp_path, [GOOD, GOOD])
    result = subprocess.run([sys.executable, "-m", "dragon_repro", "validate", str(folder)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "duplicate 'a'" in result.stderr and result.stdout == ""


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    folder = _folder_with(tmp_path, [GOOD])
    (folder / "nlp-training-dataset.json").write_bytes('[{"uid": "a", "text": "lésion"}]'.encode("latin-1"))
    with pytest.raises(data.DataError, match=r"nlp-training-dataset.json: not UTF-8 text \(byte 0xe9 at offset 24\)"):
        data.load_task_folder(folder)


def test_a_validation_class_missing_from_training_is_named(tmp_path):
    label = "single_label_multi_class_classification_target"
    folder = _folder_with(tmp_path, [{"uid": "a", "text": "t", label: "0"}, {"uid": "b", "text": "t", label: "1"}],
                          label_name=label)
    (folder / "nlp-validation-dataset.json").write_text(json.dumps(
        [{"uid": "v", "text": "t", label: "1"}, {"uid": "w", "text": "t", label: "7"}]))
    with pytest.raises(data.DataError, match=rf"nlp-validation-dataset.json: record 1, field '{label}': class '7' does "
                                             r"not occur in the training set"):
        data.load_task_folder(folder)

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from dragon_repro.tasks import data
from dragon_repro.tasks.metrics import classification_metrics, dragon_metric, prediction_table

TASKS = {data.TASK101: "auc", data.TASK102: "linear_kappa"}


def _scored_by_dragon_eval(tmp_path, task_name: str, ground_truth, predictions: list[dict]) -> float:
    """dragon-eval's own score of `predictions`, through its file layout (fold 0 of one task)."""
    from dragon_eval import DragonEval
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / f"{task_name}.json").write_text(ground_truth.read_text())
    fold = tmp_path / "pred" / f"{task_name}-fold0"
    fold.mkdir(parents=True)
    (fold / "nlp-predictions-dataset.json").write_text(json.dumps(predictions))
    evaluator = DragonEval(ground_truth_path=tmp_path / "gt", predictions_path=tmp_path / "pred",
                           output_file=tmp_path / "metrics.json", folds=[0], tasks=[task_name])
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
    return json.loads((tmp_path / "metrics.json").read_text())["aggregates"][task_name]["mean"]


@pytest.mark.parametrize("task_name", list(TASKS))
def test_our_dragon_metric_equals_dragon_evals_score(task_name, shared_dragon, tmp_path):
    folder = shared_dragon / f"{task_name}-fold0"
    config = data.read_task_config(folder)
    truth_file = shared_dragon / f"{task_name}-ground-truth.json"
    cases = data.read_dataset(truth_file, config)
    classes = [False, True] if config.is_binary else data.class_order(cases["label"])
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(len(classes)), size=len(cases))
    if not config.is_binary:  # a class nobody predicts: kappa is then taken over the classes that occur
        probabilities[:, -1] = 0
    features = [{"n_tokens": 1, "truncated": False}] * len(cases)
    table = prediction_table(cases, features, probabilities, classes)
    metric = dragon_metric(config.task_name, config.is_binary)
    ours = classification_metrics(table, classes, metric)["dragon"]

    key = config.label_name.removesuffix("_target")
    values = table["probability"] if config.is_binary else table["prediction"]
    theirs = _scored_by_dragon_eval(tmp_path, task_name, truth_file,
                                    [{"uid": u, key: v} for u, v in zip(table["uid"], values.tolist())])
    assert metric == TASKS[task_name]
    assert 0.0 < abs(ours) < 1.0
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_multiclass_metrics_keep_the_task_order_and_the_ordinal_error():
    classes = ["0", "1", "2", "10"]
    table = pd.DataFrame({"label": ["0", "1", "2", "10", "10"], "prediction": ["0", "2", "2", "2", "10"]})
    metrics = classification_metrics(table, classes, "linear_kappa")
    assert metrics["confusion"] == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 1, 1]]
    assert metrics["accuracy"] == pytest.approx(0.6)
    assert metrics["class_mae"] == pytest.approx((0 + 1 + 0 + 1 + 0) / 5)  # "10" is one class above "2"
    assert "tp" not in metrics and 0 < metrics["dragon"] < 1


def test_prediction_table_keeps_every_class_probability():
    cases = pd.DataFrame({"uid": ["a", "b"], "label": ["0", "2"]})
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    table = prediction_table(cases, [{"n_tokens": 3, "truncated": False}] * 2, probabilities, ["0", "1", "2"])
    assert list(table["prediction"]) == ["0", "2"]
    assert table[["p_0", "p_1", "p_2"]].to_numpy().tolist() == probabilities.tolist()
    assert list(table["probability"]) == [0.7, 0.6]


def test_a_task_dragon_eval_does_not_list_is_scored_by_its_label_type():
    assert dragon_metric("Task999_mine", is_binary=True) == "auc"
    assert dragon_metric("Task999_mine", is_binary=False) == "kappa"

import numpy as np
import pytest
import transformers

from dragon_repro.analysis.reference import REFERENCES, reference_runs
from dragon_repro.analysis.run_frames import metrics_frame
from dragon_repro.experiments.config import EncodingOptions
from dragon_repro.modeling.encoding import encode_cases
from dragon_repro.modeling.local_models import minilm_dir
from dragon_repro.tasks import data
from dragon_repro.tasks.labels import rule_class, rule_says_true

# The columns of a trained run's predictions.csv: tasks.metrics.prediction_table's, plus the split score_splits adds.
PREDICTION_COLUMNS = ["uid", "label", "probability", "prediction", "n_tokens", "truncated", "split"]


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    folder = data.write_task(folder=tmp_path_factory.mktemp("reference") / "task", n_cases=100, n_validation=25,
                                evaluation_sizes={"fresh": 40, "long": 8, "noisy": 40})
    return data.load_task_folder(folder)


@pytest.fixture(scope="module")
def tokenizer():
    return transformers.AutoTokenizer.from_pretrained(minilm_dir())


@pytest.fixture(scope="module")
def runs(task, tokenizer):
    return {run.config["experiment"]: run for run in reference_runs(task, tokenizer)}


def test_rule_reads_lesion_and_cm_within_one_sentence():
    assert rule_says_true("Case involves lesion of 3.8 cm. Advise rest.")
    assert not rule_says_true("Case involves lesion of 3.8 mm. Patient presents with normal of 2 cm.")
    assert not rule_says_true("Case involves other structure of size 4 cm.")


def test_rule_scores_perfectly_on_clean_splits(runs):
    metrics = runs["rule"].metrics
    assert {split: metrics[split]["accuracy"] for split in ("validation", "fresh", "long")} == {
        "validation": 1.0, "fresh": 1.0, "long": 1.0}
    assert set(runs["rule"].predictions.probability) <= {0.0, 1.0}


def test_majority_predicts_one_class_and_scores_its_share(runs, task):
    run = runs["majority"]
    share_true = task["training"]["label"].mean()
    assert (run.predictions.probability == share_true).all()
    for split, table in run.predictions.groupby("split"):
        assert table.prediction.nunique() == 1
        majority = table.prediction.iloc[0]
        assert majority == (share_true > 0.5)
        assert run.metrics[split]["accuracy"] == pytest.approx((table.label == majority).mean())


def test_tfidf_logreg_is_deterministic_and_beats_majority(runs, task, tokenizer):
    again = {run.config["experiment"]: run for run in reference_runs(task, tokenizer)}["tfidf_logreg"]
    np.testing.assert_array_equal(again.predictions.probability, runs["tfidf_logreg"].predictions.probability)
    assert runs["tfidf_logreg"].metrics["fresh"]["accuracy"] > runs["majority"].metrics["fresh"]["accuracy"]


def test_runs_look_like_trained_runs(runs, task, tokenizer):
    assert list(runs) == list(REFERENCES)
    for run in runs.values():
        assert list(run.predictions.columns) == PREDICTION_COLUMNS
        assert list(run.predictions.split.unique()) == ["validation", "fresh", "long", "noisy"]
        assert list(run.metrics) == ["validation", "fresh", "long", "noisy"]
        assert all("by_length" in m for m in run.metrics.values())
        assert run.config["group"] == "reference" and run.config["seed"] == 0 and run.config["model"]
    frame = metrics_frame(list(runs.values()))  # the table code that consumes trained runs accepts them
    assert set(frame.experiment) == set(REFERENCES)


def test_token_counts_match_a_trained_runs_encoding(runs, task, tokenizer):
    long = runs["rule"].predictions.query("split == 'long'")
    options = EncodingOptions(max_seq_length=512, truncation_side="left")  # Task101's side, as a run's plan fills in
    features = encode_cases(tokenizer, list(task["long"]["text"]), options)
    assert list(long.n_tokens) == [f["n_tokens"] for f in features]
    assert list(long.truncated) == [f["truncated"] for f in features]
    assert long.truncated.all()  # long cases exceed 512 tokens: the check above is not vacuous


def test_evaluation_subset_keeps_the_first_cases(task, tokenizer):
    run = reference_runs(task, tokenizer, evaluation_subset=5)[0]
    fresh = run.predictions.query("split == 'fresh'")
    assert list(fresh.uid) == list(task["fresh"]["uid"][:5])
    assert run.metrics["fresh"]["n"] == 5
    assert run.metrics["validation"]["n"] == len(task["validation"])


def test_rule_counts_lesions_in_cm_for_task102_and_scores_perfectly(tmp_path, tokenizer):
    assert rule_class("A lesion of 2 cm. A lesion of 3 mm. Another lesion of 1.5 cm.") == "2"
    assert rule_class(" ".join(["Seen lesion of 2 cm."] * 6)) == "4"
    folder = data.write_task(data.TASK102, tmp_path / "task102", n_cases=100, n_validation=25,
                             evaluation_sizes={"fresh": 40, "long": 8})
    task = data.load_task_folder(folder)
    references = {run.config["experiment"]: run for run in reference_runs(task, tokenizer)}
    rule = references["rule"].metrics
    assert [rule[split]["dragon"] for split in ("validation", "fresh", "long")] == [1.0, 1.0, 1.0]
    assert rule["fresh"]["class_mae"] == 0.0
    majority = references["majority"].predictions
    assert majority.prediction.nunique() == 1 and {f"p_{c}" for c in task.classes()} <= set(majority.columns)
    tfidf = references["tfidf_logreg"].predictions[[f"p_{c}" for c in task.classes()]]
    assert np.allclose(tfidf.sum(axis=1), 1.0) and tfidf.gt(0).all().all()


def test_stored_reference_points_are_sealed_like_runs(runs, tmp_path):
    from dragon_repro.analysis.reference import _write_run
    from dragon_repro.experiments.records import load_run
    _write_run(tmp_path / "rule", runs["rule"])  # as plan_references stores each reference point
    assert load_run(tmp_path / "rule").config == runs["rule"].config
    predictions = tmp_path / "rule" / "predictions.csv"
    predictions.write_text(predictions.read_text()[:100])
    with pytest.raises(ValueError, match=f"{predictions}: missing or changed"):
        load_run(tmp_path / "rule")

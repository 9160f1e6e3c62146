"""Reference points for the example tasks, scored like trained runs so tables can show them side by side.

rule: the task's definition as a regex (Task101: some sentence has a lesion in cm; Task102: how many do, capped
at 4); tfidf_logreg: word 1-2-gram TF-IDF + logistic regression fitted on the training split; majority: the
training split's majority class. None of them sees validation or evaluation labels.
"""

from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from ..atomic import staged_dir, write_json_atomic
from ..experiments.plan import Plan, code_version, data_fingerprint
from ..experiments.records import Run, load_run, seal
from ..hashing import value_hash
from ..tasks import data
from ..tasks.labels import rule_class, rule_says_true
from ..tasks.metrics import LONG_CASE_TOKENS, dragon_metric, score_splits

REFERENCES = ("rule", "tfidf_logreg", "majority")
DESCRIPTIONS = {
    "rule": "rule: sentences with 'lesion' ... 'cm' (any for Task101, how many up to 4 for Task102)",
    "tfidf_logreg": "TF-IDF word 1-2-grams + logistic regression",
    "majority": "majority class of the training split",
}


# Each builds, from the training split only, a function from texts to class probabilities (columns: `classes`).
def _rule(train: pd.DataFrame, classes: list):
    if classes == [False, True]:
        return lambda texts: np.array([[0.0, 1.0] if rule_says_true(t) else [1.0, 0.0] for t in texts])
    return lambda texts: np.array([[float(c == rule_class(t)) for c in classes] for t in texts])


def _tfidf_logreg(train: pd.DataFrame, classes: list):
    solver = "liblinear" if len(classes) == 2 else "lbfgs"  # liblinear fits two classes only
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)),
                          LogisticRegression(solver=solver, max_iter=1000, random_state=0))
    model.fit(list(train["text"]), list(train["label"]))
    columns = [list(model.classes_).index(c) if c in model.classes_ else None for c in classes]
    return lambda texts: _in_class_order(model.predict_proba(list(texts)), columns)


def _in_class_order(probabilities: np.ndarray, columns: list) -> np.ndarray:
    """A fitted model's probabilities rearranged to the task's classes; 0 for a class it never saw."""
    return np.column_stack([probabilities[:, i] if i is not None else np.zeros(len(probabilities)) for i in columns])


def _majority(train: pd.DataFrame, classes: list):
    shares = np.array([float((train["label"] == c).mean()) for c in classes])
    return lambda texts: np.tile(shares, (len(texts), 1))


_FITTERS = {"rule": _rule, "tfidf_logreg": _tfidf_logreg, "majority": _majority}


def plan_references(plan: Plan, tokenizer) -> list[Run]:
    """The reference points on a plan's cases (its training and validation subsets, its evaluation subset), with
    the plan's tokenizer counting tokens, scored like its runs: fitted once per plan and cached like a run, by a
    hash of what decides them."""
    config = plan.planned("baseline", 0).config
    settings = {k: config.settings()[k] for k in ("model", "train_subset", "validation_subset", "evaluation_subset",
                                                  "long_case_threshold", "max_seq_length")}
    key = value_hash(settings | {"task": data_fingerprint(str(plan.task)), "code": code_version("reference"),
                                 "scikit-learn": version("scikit-learn")})
    folder = plan.folders.references / f"{plan.task.name}-{key}"
    if not folder.is_dir():
        task = data.load_task_folder(plan.task)
        task.splits |= {"training": task["training"].iloc[:config.train_subset],
                        "validation": task["validation"].iloc[:config.validation_subset]}
        runs = reference_runs(task, tokenizer, config.evaluation_subset, config.long_case_threshold,
                              config.encoding.max_seq_length)
        with staged_dir(folder) as staging:
            for run in runs:
                _write_run(staging / run.config["experiment"], run)
    return [load_run(folder / name) for name in REFERENCES]


def _write_run(folder: Path, run: Run) -> None:
    for name, value in (("config", run.config), ("metrics", run.metrics), ("history", run.history)):
        write_json_atomic(folder / f"{name}.json", value)
    run.predictions.to_csv(folder / "predictions.csv", index=False)
    seal(folder, run.provenance)


def reference_runs(task: data.Task, tokenizer, evaluation_subset: int | None = None,
                   long_case_threshold: int = LONG_CASE_TOKENS, max_length: int = 512) -> list[Run]:
    """One Run per reference, with predictions and metrics on validation and each evaluation split present.

    `tokenizer` is the profile's, so n_tokens and truncated match a trained run's; `evaluation_subset` keeps
    the first N cases of each evaluation split, as a run's config does. Nothing is written: `path` is a label.
    """
    if task.config.task_name not in data.GENERATED_TASKS:
        raise ValueError(f"{task.config.task_name}: references are defined for {', '.join(data.GENERATED_TASKS)}")
    splits = {"validation": task["validation"]} | {
        name: task[name] if evaluation_subset is None else task[name].iloc[:evaluation_subset]
        for name in data.EVALUATION_SETS if name in task.splits}
    features = {split: [{"n_tokens": n, "truncated": n > max_length}
                        for n in map(len, tokenizer(list(frame["text"]))["input_ids"])]
                for split, frame in splits.items()}
    settings = {"seed": 0, "group": "reference", "task": task.config.task_name,
                "evaluation_subset": evaluation_subset, "long_case_threshold": long_case_threshold,
                "max_seq_length": max_length}
    provenance = {"packages": {"scikit-learn": version("scikit-learn")}}
    classes, metric = task.classes(), dragon_metric(task.config.task_name, task.config.is_binary)
    runs = []
    for name in REFERENCES:
        predict = _FITTERS[name](task["training"], classes)
        probabilities = {split: predict(frame["text"]) for split, frame in splits.items()}
        metrics, predictions = score_splits(splits, features, probabilities, classes, metric, long_case_threshold)
        config = {"experiment": name, "model": DESCRIPTIONS[name]} | settings
        runs.append(Run(Path("reference") / name, config, metrics, {}, provenance, predictions))
    return runs

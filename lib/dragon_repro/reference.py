"""Reference points for the Task101 binary task, scored like trained runs so tables can show them side by side.

rule: the task's definition as a regex; tfidf_logreg: word 1-2-gram TF-IDF + logistic regression fitted on the
training split; majority: the training split's majority class. None of them sees validation or evaluation labels.
"""

import re
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from . import data
from .evaluate import classification_metrics, metrics_by_length, prediction_table
from .runs import Run

REFERENCES = ("rule", "tfidf_logreg", "majority")
DESCRIPTIONS = {
    "rule": "rule: 'lesion' ... 'cm' in one sentence",
    "tfidf_logreg": "TF-IDF word 1-2-grams + logistic regression",
    "majority": "majority class of the training split",
}
SENTENCE_END = re.compile(r"(?<=\.)\s+")  # a full stop followed by space: decimals such as "3.8 cm" stay whole
LESION_IN_CM = re.compile(r"\blesion\b.*\bcm\b")


def rule_says_true(text: str) -> bool:
    """Task101's definition: some sentence describes a lesion measured in centimetres."""
    return any(LESION_IN_CM.search(sentence) for sentence in SENTENCE_END.split(text))


def _rule(train: pd.DataFrame):
    return lambda texts: np.array([float(rule_says_true(t)) for t in texts])


def _tfidf_logreg(train: pd.DataFrame):
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(solver="liblinear", random_state=0))
    model.fit(list(train["text"]), train["label"].astype(bool))
    return lambda texts: model.predict_proba(list(texts))[:, list(model.classes_).index(True)]


def _majority(train: pd.DataFrame):
    share = float(train["label"].astype(bool).mean())
    return lambda texts: np.full(len(texts), share)


# Each builds, from the training split only, a function from texts to the probability of True.
_FITTERS = {"rule": _rule, "tfidf_logreg": _tfidf_logreg, "majority": _majority}


def reference_runs(task: data.Task, tokenizer, evaluation_subset: int | None = None,
                   long_case_threshold: int = 400, max_length: int = 512) -> list[Run]:
    """One Run per reference, with predictions and metrics on validation and each evaluation split present.

    `tokenizer` is the profile's, so n_tokens and truncated match a trained run's; `evaluation_subset` keeps
    the first N cases of each evaluation split, as a run's config does. Nothing is written: `path` is a label.
    """
    if not task.config.is_binary:
        raise ValueError(f"{task.config.task_name}: references are defined for binary tasks only")
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
    runs = []
    for name in REFERENCES:
        metrics, predictions = _score(_FITTERS[name](task["training"]), splits, features, long_case_threshold)
        config = {"experiment": name, "model": DESCRIPTIONS[name]} | settings
        runs.append(Run(Path("reference") / name, config, metrics, {}, provenance, predictions))
    return runs


def _score(predict, splits: dict, features: dict, long_case_threshold: int) -> tuple[dict, pd.DataFrame]:
    """Metrics per split exactly as runs.py computes them, and the predictions of all splits in one table."""
    tables, metrics = [], {}
    for split, frame in splits.items():
        p_true = predict(frame["text"])
        table = prediction_table(frame, features[split], np.column_stack([1 - p_true, p_true]),
                                 [False, True]).assign(split=split)
        tables.append(table)
        metrics[split] = classification_metrics(table) | {"by_length": metrics_by_length(table, long_case_threshold)}
    return metrics, pd.concat(tables, ignore_index=True)

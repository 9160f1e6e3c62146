"""Per-case predictions of any single-label task and the metrics computed from them, for trained runs and
reference points alike (`score_splits`)."""

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, cohen_kappa_score, confusion_matrix, f1_score, log_loss,
                             precision_recall_fscore_support, roc_auc_score)

LONG_CASE_TOKENS = 400  # the paper's long-case bucket: texts of more than 400 tokens


def long_bucket(threshold: int = LONG_CASE_TOKENS) -> str:
    """The name of the long-case bucket in `metrics_by_length`."""
    return f">{threshold}"


def score_splits(splits: dict[str, pd.DataFrame], features: dict[str, list], probabilities: dict,
                 classes: list, metric: str, long_case_threshold: int = LONG_CASE_TOKENS) -> tuple[dict, pd.DataFrame]:
    """Per split: the metrics of its predictions (with those per length bucket), and every split's predictions in
    one table. `features[split]` gives each case's n_tokens and truncated; `probabilities[split]` its class
    probabilities in `classes` order."""
    tables, metrics = [], {}
    for split, frame in splits.items():
        table = prediction_table(frame, features[split], probabilities[split], classes).assign(split=split)
        tables.append(table)
        metrics[split] = classification_metrics(table, classes, metric) | {
            "by_length": metrics_by_length(table, long_case_threshold, classes, metric)}
    return metrics, pd.concat(tables, ignore_index=True)


def prediction_table(cases: pd.DataFrame, features, probabilities, classes) -> pd.DataFrame:
    """uid, label, probability (of True for a binary task, else of the predicted class), prediction, length,
    truncation; a multi-class task adds every class's probability as p_<class>, in the task's class order."""
    predicted = probabilities.argmax(1)
    binary = len(classes) == 2 and list(classes) == [False, True]
    table = pd.DataFrame({
        "uid": cases["uid"].to_numpy(),
        "label": cases["label"].to_numpy(),
        "probability": probabilities[:, 1] if binary else probabilities.max(1),
        "prediction": [classes[i] for i in predicted],
        "n_tokens": [f["n_tokens"] for f in features],
        "truncated": [f["truncated"] for f in features],
    })
    return table if binary else table.assign(**{f"p_{c}": probabilities[:, i] for i, c in enumerate(classes)})


def dragon_metric(task_name: str, is_binary: bool) -> str:
    """The metric the DRAGON benchmark scores a task with (dragon-eval's own table of task types): "auc",
    "linear_kappa" (ordinal multi-class) or "kappa"; a task it does not list: AUC if binary, else unweighted kappa."""
    from dragon_eval.evaluation import TASK_TYPE, EvalType
    kind = TASK_TYPE.get(task_name)
    if kind == EvalType.ORDINAL_MULTI_CLASS_CLASSIFICATION:
        return "linear_kappa"
    if kind == EvalType.BINARY_CLASSIFICATION or (kind is None and is_binary):
        return "auc"
    return "kappa"


def classification_metrics(predictions: pd.DataFrame, classes=(False, True), metric: str = "auc") -> dict:
    """For any single-label task: n, accuracy, macro-F1, the confusion matrix (rows true, columns predicted, in the
    task's class order) and `dragon`, the task's DRAGON metric (`dragon_metric`). Binary tasks add precision,
    recall and F1 of True, ROC-AUC, log loss and the four counts; multi-class ones macro precision, recall and F1,
    and ordinal ones (linear kappa) the mean absolute class error."""
    names = [str(c) for c in classes]
    y_true, y_pred = predictions["label"].astype(str), predictions["prediction"].astype(str)
    binary = names == ["False", "True"]
    kwargs = {"average": "binary", "pos_label": "True"} if binary else {"average": "macro", "labels": names}
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, zero_division=0, **kwargs)
    metrics = {"n": len(predictions), "accuracy": accuracy_score(y_true, y_pred),
               "precision": precision, "recall": recall, "f1": f1, "roc_auc": float("nan"),
               "macro_f1": f1_score(y_true, y_pred, average="macro", labels=names, zero_division=0)}
    if binary:
        if y_true.nunique() == 2:
            metrics["roc_auc"] = roc_auc_score(y_true == "True", predictions["probability"])
        metrics["log_loss"] = log_loss(y_true == "True", predictions["probability"], labels=[False, True])
        tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=names).ravel()
        metrics |= {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}
    if metric == "linear_kappa":
        index = {name: i for i, name in enumerate(names)}
        metrics["class_mae"] = float(np.mean(np.abs(y_true.map(index) - y_pred.map(index))))
    metrics["dragon"] = metrics["roc_auc"] if metric == "auc" else _kappa(y_true, y_pred, names, metric)
    metrics["confusion"] = confusion_matrix(y_true, y_pred, labels=names).tolist()
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in metrics.items()}


def _kappa(y_true: pd.Series, y_pred: pd.Series, names: list[str], metric: str) -> float:
    """Cohen's kappa as dragon-eval computes it, over the classes that occur (in the task's order); undefined (NaN)
    when only one class occurs."""
    present = [name for name in names if name in set(y_true) | set(y_pred)]
    if len(present) < 2:
        return float("nan")
    return cohen_kappa_score(y_true, y_pred, labels=present, weights="linear" if metric == "linear_kappa" else None)


def metrics_by_length(predictions: pd.DataFrame, threshold: int = LONG_CASE_TOKENS, classes=(False, True),
                      metric: str = "auc") -> dict[str, dict]:
    """Metrics for texts of at most / more than `threshold` tokens (the paper's long-case bucket)."""
    long = predictions["n_tokens"] > threshold
    buckets = {f"<={threshold}": predictions[~long], long_bucket(threshold): predictions[long]}
    return {name: classification_metrics(frame, classes, metric) for name, frame in buckets.items() if len(frame)}

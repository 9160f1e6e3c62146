"""Per-example predictions and the metrics computed from them."""

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import (accuracy_score, cohen_kappa_score, confusion_matrix, f1_score, log_loss,
                             precision_recall_fscore_support, roc_auc_score)

from .features import length_grouped_batches, pad_batch, window_multiple


@torch.no_grad()
def predict_probabilities(model, features, labels=None, batch_size: int = 8, pad_to: int | None = None):
    """Class probabilities in input order, and the mean loss when labels are given; batches grouped by length."""
    model.eval()
    device = next(model.parameters()).device
    multiple = window_multiple(model)
    probabilities = np.zeros((len(features), model.config.num_labels), dtype=np.float64)
    total_loss = 0.0
    for batch_indices in length_grouped_batches([len(f["input_ids"]) for f in features], batch_size):
        batch_labels = None if labels is None else [labels[i] for i in batch_indices]
        batch = pad_batch([features[i] for i in batch_indices], model.config.pad_token_id, multiple, pad_to,
                          batch_labels)
        output = model(**{k: v.to(device) for k, v in batch.items()})
        probabilities[batch_indices] = output.logits.float().softmax(-1).cpu().numpy()
        if labels is not None:
            total_loss += output.loss.item() * len(batch_indices)
    return probabilities, (total_loss / len(features) if labels is not None else None)


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


def metrics_by_length(predictions: pd.DataFrame, threshold: int = 400, classes=(False, True),
                      metric: str = "auc") -> dict[str, dict]:
    """Metrics for texts of at most / more than `threshold` tokens (the paper's long-case bucket is > 400)."""
    long = predictions["n_tokens"] > threshold
    buckets = {f"<={threshold}": predictions[~long], f">{threshold}": predictions[long]}
    return {name: classification_metrics(frame, classes, metric) for name, frame in buckets.items() if len(frame)}

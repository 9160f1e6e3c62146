"""Per-example predictions and the metrics computed from them."""

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import (accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support,
                             roc_auc_score)

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
    """uid, label, probability (of the positive class, or of the predicted one), prediction, length, truncation."""
    predicted = probabilities.argmax(1)
    binary = len(classes) == 2
    return pd.DataFrame({
        "uid": cases["uid"].to_numpy(),
        "label": cases["label"].to_numpy(),
        "probability": probabilities[:, 1] if binary else probabilities.max(1),
        "prediction": [classes[i] for i in predicted],
        "n_tokens": [f["n_tokens"] for f in features],
        "truncated": [f["truncated"] for f in features],
    })


def classification_metrics(predictions: pd.DataFrame) -> dict:
    """Accuracy, precision, recall, F1 (binary; macro for multi-class), ROC-AUC, log loss and the confusion matrix."""
    y_true, y_pred = predictions["label"].astype(str), predictions["prediction"].astype(str)
    labels = sorted(set(y_true) | set(y_pred))
    binary = set(labels) <= {"False", "True"}
    kwargs = {"average": "binary", "pos_label": "True"} if binary else {"average": "macro"}
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, zero_division=0, **kwargs)
    metrics = {"n": len(predictions), "accuracy": accuracy_score(y_true, y_pred),
               "precision": precision, "recall": recall, "f1": f1, "roc_auc": float("nan")}
    if binary and y_true.nunique() == 2:
        metrics["roc_auc"] = roc_auc_score(y_true == "True", predictions["probability"])
    if binary:
        metrics["log_loss"] = log_loss(y_true == "True", predictions["probability"], labels=[False, True])
        tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=["False", "True"]).ravel()
        metrics |= {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in metrics.items()}


def metrics_by_length(predictions: pd.DataFrame, threshold: int = 400) -> dict[str, dict]:
    """Metrics for texts of at most / more than `threshold` tokens (the paper's long-case bucket is > 400)."""
    long = predictions["n_tokens"] > threshold
    buckets = {f"<={threshold}": predictions[~long], f">{threshold}": predictions[long]}
    return {name: classification_metrics(frame) for name, frame in buckets.items() if len(frame)}

"""Class probabilities from a model, and DRAGON-format predictions from a trained run's saved model."""

import json
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import gather_object

from ..atomic import write_json_atomic
from ..experiments.config import ExperimentConfig
from ..experiments.records import weights_of
from ..modeling.batching import batch_multiple, length_sorted_passes, pad_batch
from ..modeling.encoding import encode_cases
from ..modeling.model import load_model_and_tokenizer
from ..tasks import data


@torch.inference_mode()
def predict_probabilities(model, features, labels=None, batch_size: int = 8, pad_to: int | None = None):
    """Class probabilities in input order, and the mean loss when labels are given; the cases sorted by length into
    batches of at most `batch_size` cases and PASS_TOKENS tokens (`length_sorted_passes`). On several processes each
    computes every P-th batch and every process gets all of them: each case is predicted once, in the same batch
    whatever P is."""
    model.eval()
    device = next(model.parameters()).device
    state = PartialState()
    batches = length_sorted_passes([len(f["input_ids"]) for f in features], max_cases=batch_size)
    mine = []
    for position in range(state.process_index, len(batches), state.num_processes):
        batch_indices = batches[position]
        batch_labels = None if labels is None else [labels[i] for i in batch_indices]
        cases = [features[i] for i in batch_indices]
        batch = pad_batch(cases, model.config.pad_token_id, batch_multiple(model, cases), pad_to, batch_labels)
        output = model(**{k: v.to(device) for k, v in batch.items()})
        mine.append((position, output.logits.float().softmax(-1).cpu().numpy(),
                     None if labels is None else output.loss.item() * len(batch_indices)))
    probabilities = np.zeros((len(features), model.config.num_labels), dtype=np.float64)
    total_loss = 0.0
    for position, batch_probabilities, batch_loss in sorted(gather_object(mine), key=lambda b: b[0]):
        probabilities[batches[position]] = batch_probabilities
        if labels is not None:
            total_loss += batch_loss  # in batch order, as on one process
    return probabilities, (total_loss / len(features) if labels is not None else None)


def predict_with_run(run: Path, source: Path, out: Path | None = None) -> Path:
    """DRAGON-format predictions (uid + probability of True, or the class) from a run's saved model, keyed by the
    task's label name without `_target`."""
    settings = {k: v for k, v in json.loads((run / "config.json").read_text()).items() if k != "config_hash"}
    config = ExperimentConfig.from_settings(settings)
    weights = weights_of(run)
    task = data.load_task_folder(Path(config.task)) if Path(config.task).is_dir() else None
    task_config = data.read_task_config(source) if source.is_dir() else task.config
    cases = data.read_dataset(source / "nlp-test-dataset.json" if source.is_dir() else source, task_config,
                              require_labels=False)
    classes = task.classes() if task else [False, True]
    model, tokenizer = load_model_and_tokenizer(str(weights), num_labels=len(classes),
                                                fast_attention=config.fast_attention)
    probabilities, _ = predict_probabilities(model, encode_cases(tokenizer, list(cases["text"]), config.encoding))
    values = probabilities[:, 1].tolist() if task_config.is_binary else [classes[i] for i in probabilities.argmax(1)]
    out = out or run / "nlp-predictions-dataset.json"
    key = task_config.label_name.removesuffix("_target")  # DRAGON's submission format, as dragon-eval reads it
    write_json_atomic(out, [{"uid": uid, key: value} for uid, value in zip(cases["uid"], values)])
    return out

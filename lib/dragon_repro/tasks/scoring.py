"""Anyone's DRAGON predictions scored as the benchmark scores them (`score`): one prediction file against one
ground-truth file, through dragon-eval's own task table and scoring. Every case is checked first, so that bad input
fails with one line naming the file, the case and the field, and nothing is scored from half a file."""

import contextlib
import io
import math
import reprlib
from dataclasses import dataclass
from pathlib import Path

from dragon_eval.evaluation import TASK_TYPE, DragonEval, EvalType, JSONLoader

from .data import DataError, _read_json


@dataclass(frozen=True)
class Scored:
    """What a dragon-eval task type's metric is called here, what each predicted value must be, and what a list of
    them holds one value per."""
    metric: str
    value: str  # a key of IS_VALUE
    per: str  # "label" (one per sub-task of a multi-label task) or "word" (NER)


TASK_TYPES = {
    EvalType.BINARY_CLASSIFICATION: Scored("auc", "number", "label"),
    EvalType.BINARY_CLASSIFICATION_NON_SHARED_TASK: Scored("mean_auc", "number", "label"),
    EvalType.ORDINAL_MULTI_CLASS_CLASSIFICATION: Scored("linear_kappa", "label", "label"),
    EvalType.NONORDINAL_MULTI_CLASS_CLASSIFICATION: Scored("kappa", "label", "label"),
    EvalType.REGRESSION: Scored("r_smape", "number or null", "label"),  # dragon-eval scores a null as 0
    EvalType.SINGLE_LABEL_NER: Scored("macro_f1", "tag", "word"),
    EvalType.MULTI_LABEL_NER: Scored("weighted_f1", "tag", "word"),
}
IS_VALUE = {
    "number": lambda v: isinstance(v, (int, float)) and math.isfinite(v),
    "number or null": lambda v: v is None or isinstance(v, (int, float)),
    "label": lambda v: isinstance(v, (str, int)),
    "tag": lambda v: isinstance(v, str),
}


def score(predictions: Path, ground_truth: Path, task: str | None = None) -> dict:
    """`predictions` scored against `ground_truth` as dragon-eval scores them: task, task_type, metric, value (null
    where the metric is undefined) and n_cases. The task is `task`, else (as in dragon-eval) the ground truth's file
    name: a task of dragon-eval's table, or a part of exactly one task's name."""
    task = resolve_task(task or Path(ground_truth).stem)
    scored = TASK_TYPES[TASK_TYPE[task]]
    truth = _cases(ground_truth)
    target = _label_field(ground_truth, truth)
    _check_predictions(predictions, _cases(predictions), truth, target, scored)
    value = _dragon_eval_score(predictions, ground_truth, task)
    return {"task": task, "task_type": TASK_TYPE[task].value, "metric": scored.metric,
            "value": value if math.isfinite(value) else None, "n_cases": len(truth)}


def resolve_task(name: str) -> str:
    """dragon-eval's task `name`, or the one task whose name contains it (as dragon-eval resolves its --tasks)."""
    matches = [name] if name in TASK_TYPE else [task for task in TASK_TYPE if name in task]
    if len(matches) != 1:
        problem = "matches several of dragon-eval's tasks" if matches else "is not a task dragon-eval knows"
        raise DataError(f"task {name!r} (--task, else the ground truth's file name) {problem}: "
                        f"{', '.join(matches or TASK_TYPE)}")
    return matches[0]


def _cases(path: Path) -> dict[str, dict]:
    """A prediction or ground-truth file's records by uid."""
    records = _read_json(path)
    if not isinstance(records, list) or not records:
        raise DataError(f"{path}: expected a non-empty JSON list of cases")
    cases = {}
    for i, record in enumerate(records):
        uid = record.get("uid") if isinstance(record, dict) else None
        if not isinstance(uid, str) or not uid:
            raise DataError(f"{path}: record {i}, field 'uid': missing, or the record is not a JSON object")
        if uid in cases:
            raise DataError(f"{path}: case {uid!r}, field 'uid': a second case of this uid")
        cases[uid] = record
    return cases


def _label_field(path: Path, truth: dict[str, dict]) -> str:
    """The ground truth's label: its first field ending in `_target`, as dragon-eval takes it, in every case."""
    uid, first = next(iter(truth.items()))
    target = next((field for field in first if field.endswith("_target")), None)
    missing = uid if target is None else next((uid for uid, record in truth.items() if target not in record), None)
    if missing is not None:
        raise DataError(f"{path}: case {missing!r}, field {target or '*_target'!r}: missing (the label)")
    return target


def _check_predictions(path: Path, predicted: dict[str, dict], truth: dict[str, dict], target: str,
                       scored: Scored) -> None:
    """One prediction per case of the ground truth, none for another, each of its label's shape."""
    field = target.removesuffix("_target")
    unknown = next((uid for uid in predicted if uid not in truth), None)
    if unknown is not None:
        raise DataError(f"{path}: case {unknown!r}, field 'uid': not a case of the ground truth")
    for uid, record in truth.items():
        if uid not in predicted:
            problem = "no prediction for this case of the ground truth"
        elif field not in predicted[uid]:
            problem = "missing"
        else:
            problem = _shape_problem(predicted[uid][field], record[target], scored)
        if problem:
            raise DataError(f"{path}: case {uid!r}, field {field!r}: {problem}")


def _shape_problem(value, label, scored: Scored) -> str | None:
    """Why a predicted `value` does not have the shape of the ground truth's `label`, or None: as many entries, one
    per label or word, each nested as deep, down to values of the task's kind."""
    if isinstance(value, list) and isinstance(label, list) and len(value) != len(label):
        return f"{len(value)} values where the ground truth has {len(label)} (one per {scored.per})"
    return _nesting_problem(value, _depth(label), scored.value)


def _depth(label) -> int:
    return 1 + _depth(label[0]) if isinstance(label, list) and label else int(isinstance(label, list))


def _nesting_problem(value, depth: int, kind: str) -> str | None:
    if depth == 0:
        if isinstance(value, list):
            return f"a list where a {kind} belongs: {reprlib.repr(value)}"
        return None if IS_VALUE[kind](value) else f"expected a {kind}, got {reprlib.repr(value)}"
    if not isinstance(value, list):
        return f"expected a list, got {reprlib.repr(value)}"
    return next(filter(None, (_nesting_problem(v, depth - 1, kind) for v in value)), None)


def _dragon_eval_score(predictions: Path, ground_truth: Path, task: str) -> float:
    """dragon-eval's own `DragonEval.score` of one job, on the frames its loader reads and its merge joins. Its
    constructor wants its folder layout, which a single pair of files lacks, so the evaluation is given only what
    scoring reads; its progress prints are dropped, to keep the caller's output one line."""
    evaluation = object.__new__(DragonEval)
    evaluation._join_key, evaluation._scores = "uid", {}
    evaluation._ground_truth_cases = JSONLoader().load(Path(ground_truth))
    evaluation._predictions_cases = JSONLoader().load(Path(predictions))
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation.merge_ground_truth_and_predictions()
        evaluation.score(task_name=task, job_name=task)
    return float(evaluation._scores[task][task])

"""Tables of the dataset alone, no runs needed: class balance, token lengths, the long cases, and which
label-bearing sentences survive truncation."""

import pandas as pd

from ..experiments.config import EncodingOptions
from ..modeling.encoding import encode_cases
from ..tasks import data
from ..tasks.labels import label_evidence
from ..tasks.metrics import LONG_CASE_TOKENS

LENGTH_MARKS = (LONG_CASE_TOKENS, 512, 1024)  # the paper's long-case mark and its two context lengths


def class_balance(task) -> pd.DataFrame:
    """Cases per split and class, in the task's class order (sets without labels count only their cases)."""
    classes = task.classes()
    return pd.DataFrame([{"split": split, "n": len(frame)} | {
        str(c): int((frame["label"] == c).sum()) for c in classes} for split, frame in task.splits.items()])


def token_lengths(tokenizer, task, splits=None) -> pd.DataFrame:
    """Untruncated token count (special tokens included) of every case, per split."""
    frames = []
    for split in splits or task.splits:
        frame = task[split]
        lengths = [len(ids) for ids in tokenizer(list(frame["text"]))["input_ids"]]
        frames.append(pd.DataFrame({"split": split, "uid": frame["uid"].to_numpy(), "label": frame["label"].to_numpy(),
                                    "n_tokens": lengths}))
    return pd.concat(frames, ignore_index=True)


def length_summary(lengths: pd.DataFrame, marks=LENGTH_MARKS) -> pd.DataFrame:
    """Per split: cases, median and longest token count, and how many exceed each mark."""
    grouped = lengths.groupby("split", sort=False)["n_tokens"]
    summary = grouped.agg(n="size", median="median", max="max")
    for mark in marks:
        summary[f"over_{mark}"] = grouped.apply(lambda s, mark=mark: int((s > mark).sum()))
    return summary.reset_index()


def long_cases(task, splits=("training", "validation")) -> pd.DataFrame:
    """The cases dragon-prep made long (every 25th generator index), with their split."""
    frames = [task[s].assign(split=s) for s in splits]
    cases = pd.concat(frames, ignore_index=True)
    index = cases["uid"].str.extract(r"(\d+)$", expand=False).astype(int)
    return cases[index.map(data.is_long_case)].reset_index(drop=True)


def _kept_span(tokenizer, text: str, options: EncodingOptions) -> tuple[int, int]:
    """Character span of `text` that encode_cases keeps after truncation."""
    kept = len(encode_cases(tokenizer, [text], options)[0]["input_ids"]) - tokenizer.num_special_tokens_to_add()
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if kept >= len(offsets):
        return 0, len(text)
    if options.truncation_side == "left":
        return offsets[len(offsets) - kept][0], len(text)
    return 0, offsets[kept - 1][1]


def truncation_audit(tokenizer, cases: pd.DataFrame, max_lengths=(512, 1024), side: str = "left") -> pd.DataFrame:
    """Per case: its label-bearing sentences ("lesion of X cm") and how many of them survive truncation to each
    length; `evidence_kept_<L>` says whether any does (None for cases labelled False, which have none to lose)."""
    rows = []
    for case in cases.itertuples():
        sentences = label_evidence(case.text)
        row = {"uid": case.uid, "split": getattr(case, "split", None), "label": case.label,
               "n_tokens": len(tokenizer(case.text)["input_ids"]), "label_sentences": len(sentences)}
        for length in max_lengths:
            start, end = _kept_span(tokenizer, case.text, EncodingOptions(max_seq_length=length, truncation_side=side))
            kept = sum(start <= s and e <= end for s, e in sentences)
            row |= {f"kept_{length}": kept, f"evidence_kept_{length}": (kept > 0) if sentences else None}
        rows.append(row)
    return pd.DataFrame(rows)

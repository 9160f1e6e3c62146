"""DRAGON-shaped checkpoints: the real model's tokenizer and config, offline; masks and padding on byte-level BPE."""

import pytest
import torch
from transformers import LongformerForMaskedLM

from dragon_repro.experiments.config import EncodingOptions
from dragon_repro.modeling import shapes
from dragon_repro.modeling.batching import pad_batch
from dragon_repro.modeling.encoding import encode_cases
from dragon_repro.modeling.model import load_model_and_tokenizer
from dragon_repro.tasks import data
from dragon_repro.tasks.preprocess import medical_entity_spans


@pytest.fixture(scope="module")
def texts():
    return list(data.generate_cases(range(60))["text"])


@pytest.fixture(scope="module")
def tokenizer(texts):
    return shapes.dragon_tokenizer(texts)


@pytest.fixture(scope="module")
def checkpoints(texts, tmp_path_factory):
    """The tiny DRAGON-shaped model saved in both weight formats, from the same random weights."""
    root = tmp_path_factory.mktemp("shaped")
    folders = {}
    for weights in shapes.WEIGHT_FORMATS:
        torch.manual_seed(0)
        folders[weights] = shapes.build_dragon_shaped(root / weights, "tiny", weights, texts)
    return folders


def test_the_tokenizer_is_shaped_like_robertas(tokenizer):
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    encoded = tokenizer("lesion of 2.7 cm", return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and "Ġcm" in tokens  # leading-space tokens
    assert encoded["offset_mapping"][tokens.index("Ġcm")] == (14, 16)  # offsets without the space


def test_the_config_has_the_real_models_settings():
    config = shapes.dragon_config("base")
    assert {k: getattr(config, k) for k in shapes.REAL_SETTINGS} == shapes.REAL_SETTINGS
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (768, 12, 3072)
    assert config.attention_window == [512] * 12
    with torch.device("meta"):
        parameters = sum(p.numel() for p in LongformerForMaskedLM(config).longformer.parameters())
    assert 148e6 < parameters < 150e6


@pytest.mark.parametrize("mode, labels", [("cls+entities", None), ("cls+measurements", {"MEASUREMENT"})])
def test_global_attention_marks_exactly_the_tokens_of_the_spans(tokenizer, texts, mode, labels):
    text = texts[1]  # a short case: nothing is truncated away
    options = EncodingOptions(max_seq_length=512, truncation_side="left", global_attention=mode)
    feature = encode_cases(tokenizer, [text], options)[0]
    marked_runs, run = [], []
    for position, (token, marked) in enumerate(zip(feature["input_ids"], feature["global_attention_mask"])):
        if marked and position > 0:  # position 0: <s>, always global
            run.append(token)
        elif run:
            marked_runs.append(tokenizer.decode(run).strip())
            run = []
    spans = [text[s.start:s.end] for s in medical_entity_spans(text) if labels is None or s.label in labels]
    assert len(spans) >= 10 and marked_runs == spans
    assert feature["global_attention_mask"][0] == 1


def test_left_truncation_keeps_the_special_tokens_and_padding_uses_pad_id_1(tokenizer, texts):
    long_text = max(texts, key=len)
    assert len(tokenizer(long_text)["input_ids"]) > 512
    long, short = encode_cases(tokenizer, [long_text, texts[1]],
                               EncodingOptions(max_seq_length=512, truncation_side="left"))
    assert len(long["input_ids"]) == 512 and long["input_ids"][0] == 0 and long["input_ids"][-1] == 2
    batch = pad_batch([long, short], pad_token_id=tokenizer.pad_token_id, multiple=32)
    padding = batch["attention_mask"][1] == 0
    assert padding.any() and (batch["input_ids"][1][padding] == 1).all()


def test_both_weight_formats_load_the_same_model_with_a_new_head_from_the_seed(checkpoints):
    loaded = {w: load_model_and_tokenizer(str(folder), num_labels=2, seed=3)[0] for w, folder in checkpoints.items()}
    states = [m.state_dict() for m in loaded.values()]
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])  # the head too: drawn from seed 3
    other_seed, _ = load_model_and_tokenizer(str(checkpoints["safetensors"]), num_labels=2, seed=4)
    assert not torch.equal(other_seed.classifier.out_proj.weight, loaded["safetensors"].classifier.out_proj.weight)
    assert loaded["bin"].config.pad_token_id == 1 and loaded["bin"].config.type_vocab_size == 1

import re
import shutil
import time

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer, LongformerModel

from dragon_repro.modeling import local_models, model


def test_embedded_longformer_matches_minilm_on_short_text():
    window = 64
    folder = local_models.ensure_embedded_model(window=window, layers=6, max_length=1024)
    tokenizer = AutoTokenizer.from_pretrained(local_models.minilm_dir())
    text = "Patient presents with lesion of 2.8 cm. Case involves normal of 13 mm."
    encoded = tokenizer(text, return_tensors="pt")
    assert encoded["input_ids"].shape[1] < window // 2
    minilm = AutoModel.from_pretrained(local_models.minilm_dir()).eval()
    longformer = LongformerModel.from_pretrained(folder).eval()
    with torch.no_grad():
        expected = minilm(**encoded).last_hidden_state
        got = longformer(**encoded).last_hidden_state
    cosine = torch.nn.functional.cosine_similarity(expected, got, dim=-1)
    assert cosine.min().item() >= 0.9999


def test_embedded_positions_are_tiled_past_512():
    folder = local_models.ensure_embedded_model(window=64, layers=6, max_length=1024)
    positions = LongformerModel.from_pretrained(folder).embeddings.position_embeddings.weight
    learned = AutoModel.from_pretrained(local_models.minilm_dir()).embeddings.position_embeddings.weight
    assert positions.shape[0] == 1024 + 1
    assert torch.equal(positions[1:513], learned) and torch.equal(positions[513:1025], learned)


def test_every_model_loads_through_one_from_pretrained_path():
    classifier, tokenizer = model.load_model_and_tokenizer("tiny", num_labels=2)
    assert type(classifier).__name__ == "LongformerForSequenceClassification"
    assert classifier.config.num_hidden_layers == 2 and tokenizer.is_fast
    logits = classifier(**tokenizer("lesion of 2 cm", return_tensors="pt")).logits
    assert logits.shape == (1, 2)


def test_unavailable_hub_name_fails_fast_with_a_hint():
    start = time.perf_counter()
    with pytest.raises(model.ModelNotAvailable, match="pass that folder with --model"):
        model.load_model_and_tokenizer("joeranbosma/not-a-real-dragon-model")
    assert time.perf_counter() - start < 1.0


def test_embedded_spec_rejects_an_odd_window():
    with pytest.raises(ValueError, match="even"):
        model.resolve_model("embedded-w63")


def _folder_with_weights_as(kind: str, tmp_path):
    """A copy of the tiny model whose weights are only in `model.safetensors` or only in `pytorch_model.bin`."""
    folder = tmp_path / kind
    shutil.copytree(local_models.ensure_tiny_model(), folder)
    if kind == "bin":
        torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    return folder


def test_a_pytorch_bin_folder_loads_the_same_weights_as_safetensors(tmp_path, capsys):
    safetensors_model, _ = model.load_model_and_tokenizer(str(_folder_with_weights_as("safetensors", tmp_path)))
    bin_model, _ = model.load_model_and_tokenizer(str(_folder_with_weights_as("bin", tmp_path)))
    assert "weights from pytorch_model.bin" in capsys.readouterr().err
    expected = safetensors_model.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in bin_model.state_dict().items())


class NotATensor:
    """Anything but tensors in a checkpoint: torch's weights_only unpickler must refuse it."""


def test_a_pickle_that_weights_only_refuses_gets_one_line_naming_the_file(tmp_path):
    folder = _folder_with_weights_as("bin", tmp_path)
    torch.save({"payload": NotATensor()}, folder / "pytorch_model.bin")
    with pytest.raises(model.ModelNotAvailable, match=r"pytorch_model.bin: refused by torch's weights_only unpickler"):
        model.load_model_and_tokenizer(str(folder))


def test_a_folder_without_weights_is_named(tmp_path):
    folder = _folder_with_weights_as("safetensors", tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(model.ModelNotAvailable, match=re.escape(f"{folder}: no model.safetensors or ")):
        model.load_model_and_tokenizer(str(folder))

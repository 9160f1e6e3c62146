"""Loading models by name or path: every model, the real DRAGON Longformer included, goes through
`from_pretrained(name_or_path)`; the names of the models built here resolve to their local folders."""

import os
import pickle
import re
import sys
from pathlib import Path

from accelerate.utils import set_seed
from transformers import AutoTokenizer, LongformerForSequenceClassification

from ..paths import MODELS_DIR
from .exact_attention import install_exact_attention
from .local_models import ensure_embedded_model, ensure_tiny_model
from .shapes import ensure_dragon_shaped

EMBEDDED_PATTERN = re.compile(r"^embedded(?:-w(?P<window>\d+))?(?:-L(?P<layers>\d+))?(?:-len(?P<max_length>\d+))?$")
SHAPED_PATTERN = re.compile(r"^dragon-shaped-(?P<size>[a-z]+)$")
TINY = "tiny"
# Weight files a local model folder may hold, in order of preference (sharded checkpoints: their index files).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


class ModelNotAvailable(OSError):
    """A model name that is neither a local folder nor loadable from the hub (offline by default)."""


def resolve_model(spec: str) -> str:
    """Turn a model spec into what `from_pretrained` takes: a local folder or a hub name.

    "embedded[-w<window>][-L<layers>][-len<max_length>]" builds the converted MiniLM once, "tiny" the test model,
    "dragon-shaped-<size>" Longformer-base's shape with random weights (`shapes`).
    """
    if spec == TINY:
        return str(ensure_tiny_model())
    if match := EMBEDDED_PATTERN.match(spec):
        return str(ensure_embedded_model(**{k: int(v) for k, v in match.groupdict().items() if v}))
    if match := SHAPED_PATTERN.match(spec):
        return str(ensure_dragon_shaped(match["size"]))
    return spec


def load_tokenizer(spec: str):
    return AutoTokenizer.from_pretrained(resolve_model(spec), trust_remote_code=False)


def load_model_and_tokenizer(spec: str, num_labels: int = 2, seed: int | None = None, fast_attention: bool = True):
    """Tokenizer and LongformerForSequenceClassification, for every model through one from_pretrained path, with
    the exact attention path (`exact_attention`) unless `fast_attention` is off.

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
    return (install_exact_attention(model) if fast_attention else model), tokenizer


def weights_file(folder: Path) -> str:
    """The weights file of a local model folder: safetensors if present, else PyTorch's pickle format."""
    for name in WEIGHT_FILES:
        if (folder / name).exists():
            return name
    raise ModelNotAvailable(f"{folder}: no {' or '.join(WEIGHT_FILES)} in this model folder")



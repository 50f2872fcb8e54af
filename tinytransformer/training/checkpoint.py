"""Checkpoints: everything needed to resume a run exactly, in one .npz file, without pickle.

Inside the .npz (a zip of .npy arrays, read with allow_pickle=False):
    "param/<name>"   the model's parameters, GPT-2's names
    "optim/<key>"    the optimizer's moments and step count (AdamW.state_dict)
    "__meta__"       UTF-8 JSON as a uint8 array: model class and config, dtype, step, the
                     states of the random generators, the tokenizer, the training arguments

Files are written atomically: to a temporary file beside the target, then renamed over it, so a
crash or Ctrl-C mid-write leaves the previous checkpoint intact.
"""

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinytransformer.files import write_atomic
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.transformer import MaskedLM
from tinytransformer.text.tokenizers import tokenizer_from_dict

FORMAT = "tinytransformer-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not match what it is loaded into."""


MODEL_CLASSES = {"GPT": GPT, "MaskedLM": MaskedLM}  # class name -> class, to rebuild a model


@dataclass
class Checkpoint:
    """What load_checkpoint returns."""

    path: Path
    model: object
    tokenizer: object
    step: int
    optim_state: dict = field(default_factory=dict)
    rng_states: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def save_checkpoint(path, model, tokenizer=None, optimizer=None, step=0, rngs=None, extra=None):
    """Write model (+ optimizer, step, generator states, tokenizer, extra JSON) to path.

    rngs: name -> numpy Generator whose state is saved (the model's dropout generator is always
    saved as "model"); extra: any JSON-able dict, e.g. the training arguments.
    """
    rng_states = {"model": model.rng.bit_generator.state}
    rng_states.update({n: g.bit_generator.state for n, g in (rngs or {}).items()})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model_class": type(model).__name__,
        "config": model.config.to_dict(),
        "dtype": model.dtype.name,
        "step": int(step),
        "rng": rng_states,
        "tokenizer": None if tokenizer is None else tokenizer.to_dict(),
        "extra": extra or {},
    }
    arrays = {f"param/{n}": p for n, p in model.params.items()}
    if optimizer is not None:
        arrays.update({f"optim/{k}": v for k, v in optimizer.state_dict().items()})
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buf.getvalue())


def read_checkpoint(path):
    """path -> (meta dict, params dict, optimizer state dict), with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):  # a lone .npy array, not an archive
                raise ValueError("it is a single array, not an .npz archive")
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, TypeError, AttributeError) as e:
        raise CheckpointError(
            f"{path}: not a readable checkpoint (corrupt or truncated?): {e}"
        ) from None
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path}: not a tinytransformer checkpoint (no __meta__ entry)")
    try:
        meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: its __meta__ entry is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        meta = meta if isinstance(meta, dict) else {}
        raise CheckpointError(
            f"{path}: expected format {FORMAT!r} version {VERSION}, got "
            f"{meta.get('format')!r} version {meta.get('version')!r}"
        )
    params = {k[len("param/") :]: v for k, v in arrays.items() if k.startswith("param/")}
    optim = {k[len("optim/") :]: v for k, v in arrays.items() if k.startswith("optim/")}
    return meta, params, optim


def load_checkpoint(path, dtype=None):
    """Rebuild the model (and tokenizer) a checkpoint describes -> Checkpoint."""
    path = Path(path)
    meta, params, optim = read_checkpoint(path)
    cls = MODEL_CLASSES.get(meta.get("model_class"))
    if cls is None:
        raise CheckpointError(
            f"{path}: model_class {meta.get('model_class')!r} is not one of {sorted(MODEL_CLASSES)}"
        )
    try:
        config = GPTConfig.from_dict(meta["config"])
        model = cls(config, dtype=dtype or meta["dtype"])
        model.load_state_dict(params)
        model.rng.bit_generator.state = meta["rng"]["model"]
        tokenizer = None
        if meta.get("tokenizer") is not None:
            tokenizer = tokenizer_from_dict(meta["tokenizer"], source="its tokenizer")
        step = int(meta["step"])
    except KeyError as e:
        raise CheckpointError(f"{path}: its __meta__ has no entry {e}") from None
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    return Checkpoint(path, model, tokenizer, step, optim, meta["rng"], meta)


def load_generator(path):
    """load_checkpoint for sampling and evaluation: the model must be a GPT (a masked LM does
    not generate text) and the checkpoint must carry its tokenizer."""
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt.model, GPT):
        raise CheckpointError(
            f"{path}: holds a {type(ckpt.model).__name__}; generating text needs a GPT "
            "(train one with --objective clm)"
        )
    if ckpt.tokenizer is None:
        raise CheckpointError(f"{path}: has no tokenizer, so text cannot be encoded for it")
    return ckpt


def find_checkpoint(out_dir):
    """The checkpoint to sample or evaluate from: best.npz (best validation loss), else ckpt.npz."""
    out_dir = Path(out_dir)
    for name in ("best.npz", "ckpt.npz"):
        if (out_dir / name).is_file():
            return out_dir / name
    raise CheckpointError(
        f"{out_dir}: no checkpoint (best.npz or ckpt.npz) found; train first with "
        f"`python -m tinytransformer train --out {out_dir}`"
    )

"""Checkpoints: everything needed to resume a run exactly, in one .npz file, without pickle.

Inside the .npz (a zip of .npy arrays, read with allow_pickle=False):
    "param/<name>"   the model's parameters, GPT-2's names
    "optim/<key>"    the optimizer's moments and step count (AdamW.state_dict)
    "__meta__"       UTF-8 JSON as a uint8 array: the model's kind (models/kinds.py) and
                     config, dtype, step, the states of the random generators, the tokenizer,
                     and `extra` (a run's settings, training/config.py, and its best val loss)

Files are written atomically: to a temporary file beside the target, then renamed over it, so a
crash or Ctrl-C mid-write leaves the previous checkpoint intact. Only finite weights are ever
written, and a file whose weights are not finite floats is refused on loading: a checkpoint is
always a model that can be trained on, sampled from and evaluated.
"""

import dataclasses
import io
import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinytransformer.files import describe_os_error, write_atomic
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.kinds import MODEL_KINDS, kind_of
from tinytransformer.models.transformer import param_shapes
from tinytransformer.text.tokenizers import tokenizer_from_dict
from tinytransformer.training.config import ConfigError

FORMAT = "tinytransformer-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not match what it is loaded into."""


# checkpoints written before models/kinds.py named the kinds "model_class": their class names
OLD_CLASS_NAMES = {cls.__name__: kind for kind, cls in MODEL_KINDS.items()}


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
    bad = [n for n, p in model.params.items() if not np.isfinite(p).all()]
    if bad:
        raise CheckpointError(
            f"{path}: refusing to save weights that are not finite ({bad[0]} holds nan or inf); "
            "the checkpoint already there, if any, is kept"
        )
    rng_states = {"model": model.rng.bit_generator.state}
    rng_states.update({n: g.bit_generator.state for n, g in (rngs or {}).items()})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model": kind_of(model),
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
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buf.getvalue())
    except OSError as e:
        raise CheckpointError(
            describe_os_error(e, f"{path}: could not write the checkpoint")
        ) from None


def read_checkpoint(path):
    """path -> (meta dict, params dict, optimizer state dict), with clear errors.

    The archive is checked before any array is decompressed: only the entries a checkpoint
    holds (__meta__, param/*, optim/*), each a .npy whose header declares a plain dtype and a
    size that the entry really has, and parameters shaped as the config in __meta__ says. So
    an extra entry, or a header claiming 10^11 floats, is refused in a line, not unpacked.
    """
    path = Path(path)
    _check_is_an_archive(path)
    declared = _declared_entries(path)
    if declared["__meta__"][0] > MAX_META_BYTES:
        raise CheckpointError(f"{path}: its __meta__ entry is {declared['__meta__'][0]:,} bytes")
    meta = _read_meta(path)
    _check_shapes_against_meta(path, declared, meta)
    arrays = _read_arrays(path)
    params = {k[len("param/") :]: v for k, v in arrays.items() if k.startswith("param/")}
    optim = {k[len("optim/") :]: v for k, v in arrays.items() if k.startswith("optim/")}
    for name, p in params.items():
        if not np.isfinite(p).all():
            raise CheckpointError(
                f"{path}: parameter {name} holds nan or inf; these weights cannot be used"
            )
    return meta, params, optim


MAX_META_BYTES = 64 * 2**20  # a checkpoint's JSON: its config, tokenizer and settings
ENTRY_PREFIXES = ("param/", "optim/")


def _check_is_an_archive(path):
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, expected a checkpoint file (.npz)")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise CheckpointError(describe_os_error(e, f"{path}: cannot read it")) from None
    if head.startswith(b"\x93NUMPY"):
        raise CheckpointError(f"{path}: is a single .npy array, expected an .npz checkpoint")
    if not head.startswith(b"PK"):
        raise CheckpointError(
            f"{path}: not a checkpoint (an .npz archive starts with 'PK', this file with "
            f"{head[:4]!r}); is it the right file?"
        )


def _declared_entries(path):
    """entry name -> (bytes of its data, shape, dtype), read from the zip directory and each
    .npy header only: nothing is decompressed beyond the headers."""
    declared = {}
    try:
        with zipfile.ZipFile(path) as archive:
            if "__meta__.npy" not in archive.namelist():
                raise CheckpointError(
                    f"{path}: not a tinytransformer checkpoint (no __meta__ entry)"
                )
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                known = key == "__meta__" or key.startswith(ENTRY_PREFIXES)
                if key == info.filename or not known:
                    raise CheckpointError(
                        f"{path}: holds an entry {info.filename!r} that no checkpoint has; it "
                        "was not written by save_checkpoint (nothing of it was read)"
                    )
                with archive.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    header_bytes = f.tell()
                if dtype.hasobject:  # an object array: never unpickled, it could run code
                    raise CheckpointError(
                        f"{path}: holds an object (pickled) array, which tinytransformer never "
                        "loads; it was not written by save_checkpoint"
                    )
                size = math.prod(shape) * dtype.itemsize
                if header_bytes + size != info.file_size:
                    raise CheckpointError(
                        f"{path}: entry {key}'s header declares {shape} {dtype} ({size:,} bytes) "
                        f"but the entry holds {info.file_size - header_bytes:,}; it is damaged"
                    )
                declared[key] = (size, shape, dtype)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, zlib.error) as e:
        raise CheckpointError(
            f"{path}: not a readable checkpoint (corrupt or truncated?): {e}"
        ) from None
    return declared


def read_meta(path):
    """A checkpoint's __meta__ (its kind, config, step, settings) without reading its arrays."""
    path = Path(path)
    _check_is_an_archive(path)
    _declared_entries(path)
    return _read_meta(path)


def _read_meta(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = z["__meta__"]
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: its __meta__ entry is not valid JSON: {e}") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, zlib.error) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt?): {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        meta = meta if isinstance(meta, dict) else {}
        raise CheckpointError(
            f"{path}: expected format {FORMAT!r} version {VERSION}, got "
            f"{meta.get('format')!r} version {meta.get('version')!r}"
        )
    return meta


def _check_shapes_against_meta(path, declared, meta):
    """No entry declares more values than the config in __meta__ gives its parameter (or, for
    any other entry, than all the parameters together), and parameters are floats: so a header
    that claims 10^11 floats is refused before a byte of it is read. Names and shapes are then
    checked one by one by the model's load_state_dict, which lists every mismatch."""
    try:
        shapes = param_shapes(GPTConfig.from_dict(meta["config"]))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{path}: its __meta__ has no usable config: {e}") from None
    total = sum(math.prod(s) for s in shapes.values())
    for key, (_, shape, dtype) in declared.items():
        name = key.removeprefix("param/")
        if key.startswith("param/") and dtype.kind != "f":
            raise CheckpointError(f"{path}: parameter {name} has dtype {dtype}, expected floats")
        most = math.prod(shapes[name]) if name in shapes else total
        if key != "__meta__" and math.prod(shape) > most:
            raise CheckpointError(
                f"{path}: entry {key} declares {math.prod(shape):,} values, more than the "
                f"{most:,} the checkpoint's config has room for; it was not read"
            )


def _read_arrays(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files if k != "__meta__"}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, TypeError, KeyError) as e:
        raise CheckpointError(
            f"{path}: not a readable checkpoint (corrupt or truncated?): {e}"
        ) from None
    except (RuntimeError, NotImplementedError, zlib.error) as e:  # damaged compressed data
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt?): {e}") from None


def load_checkpoint(path, dtype=None):
    """Rebuild the model (and tokenizer) a checkpoint describes -> Checkpoint."""
    path = Path(path)
    meta, params, optim = read_checkpoint(path)
    kind = meta.get("model", OLD_CLASS_NAMES.get(str(meta.get("model_class"))))
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        raise CheckpointError(
            f"{path}: its model kind {kind!r} is not one of {', '.join(MODEL_KINDS)}"
        )
    cls = MODEL_KINDS[kind]
    try:
        if not isinstance(meta["config"], dict) or not isinstance(meta["rng"], dict):
            raise TypeError("its config and rng entries must be JSON objects")
        config = GPTConfig.from_dict(meta["config"])
        model = cls(config, dtype=dtype or meta["dtype"], params=params)
        model.rng.bit_generator.state = meta["rng"]["model"]
        tokenizer = None
        if meta.get("tokenizer") is not None:
            tokenizer = tokenizer_from_dict(meta["tokenizer"], source="its tokenizer")
        step = int(meta["step"])
    except KeyError as e:
        raise CheckpointError(f"{path}: its __meta__ has no entry {e}") from None
    except (TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    return Checkpoint(path, model, tokenizer, step, optim, meta["rng"], meta)


def load_backbone(path, kind=None, dropout=None, sizes=None):
    """A checkpoint's model and tokenizer, to start a new run from (pretraining's and
    fine-tuning's init_from) -> Checkpoint. kind: the model kind the run expects (None: any);
    dropout: the new run's (None: the checkpoint's); sizes: the sizes the run asks for, each
    checked against the checkpoint's model (None: not asked)."""
    ckpt = load_checkpoint(path)
    if ckpt.tokenizer is None:
        raise CheckpointError(f"{path}: has no tokenizer to encode text with")
    if kind is not None and kind != kind_of(ckpt.model):
        raise ConfigError(
            "model", f"{kind} does not match {path}, which holds a {kind_of(ckpt.model)} model"
        )
    check_sizes(sizes or {}, ckpt.model.config, path)
    if dropout is not None:  # re-checked by the config
        ckpt.model.config = dataclasses.replace(ckpt.model.config, dropout=dropout)
    return ckpt


def check_sizes(sizes, config, path):
    """Every size asked for (name -> value, None: not asked) equals the checkpoint's config."""
    for name, value in sizes.items():
        if value is not None and value != getattr(config, name):
            raise ConfigError(
                name, f"{value} does not match {path}, whose model has {getattr(config, name)}"
            )


def load_generator(path):
    """load_checkpoint for sampling and evaluation: the model must be a GPT (a masked LM does
    not generate text) and the checkpoint must carry its tokenizer."""
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt.model, GPT):
        raise CheckpointError(
            f"{path}: holds a model of kind {kind_of(ckpt.model)}; generating text needs a gpt "
            "(pretrain one with model gpt)"
        )
    if ckpt.tokenizer is None:
        raise CheckpointError(f"{path}: has no tokenizer, so text cannot be encoded for it")
    return ckpt


def saved_setting(ckpt, name, default=None):
    """One setting the checkpoint's run was trained with: from its saved config (older
    checkpoints saved their command-line flags, "args", which hold the same names)."""
    extra = ckpt.meta.get("extra", {})
    settings = extra.get("config") or extra.get("args") or {}
    return settings.get(name, default) if isinstance(settings, dict) else default


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

"""Hugging Face GPT-2 directories, both ways, with no torch: a `config.json` and a
`model.safetensors` of NumPy arrays (read and written with the safetensors package's NumPy API).

    model = GPT.from_pretrained("path/to/gpt2")     # or "gpt2": looked up in the local HF cache
    model.save_pretrained("out-hf", tokenizer=tok)  # GPT2LMHeadModel.from_pretrained reads it

Our parameter names are GPT-2's state-dict names, and GPT-2's Conv1D stores a weight as
(in, out) like our linear layers, so nothing is renamed or transposed: a file's "h.0.attn..."
or "transformer.h.0.attn..." is our "transformer.h.0.attn...". What is skipped: the causal-mask
buffers old checkpoints carry (attn.bias, attn.masked_bias) and lm_head.weight, which is the
token embedding itself (tied). What is checked: every config field that would make the model
compute something else than ours (the activation, the inner width, the layer-norm epsilon, the
tied head, the attention's scaling variants); a field we cannot honour is an error naming it.

Weights are read with read_safetensors, a reader of the format's header and offsets (the file
is mapped, not read whole): float16, float32, float64 and bfloat16 (many published checkpoints
are bfloat16; NumPy has no such type, so each is widened to the float32 it is the top half of).
Integer, boolean and non-finite weights are refused by name.

Nothing is downloaded, ever. A name that is not a folder holding a config.json is looked up in
the Hugging Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`); with
internet, `hf download gpt2 config.json model.safetensors vocab.json merges.txt` fills it
(huggingface_hub's command: the five files a GPT-2 needs, not the whole repository).
"""

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
from safetensors.numpy import save

from tinytransformer.checks import check_count
from tinytransformer.files import FileFault, read_json, write_atomic
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.transformer import param_shapes
from tinytransformer.ops.layernorm import EPS

WEIGHTS, CONFIG = "model.safetensors", "config.json"
MAX_CONFIG_BYTES = 2**20  # a config.json is a few hundred bytes
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit for a header
SKIPPED = (".attn.bias", ".attn.masked_bias")  # old causal-mask buffers, not parameters
# config field -> the value our model computes with (what any other value would change)
REQUIRED = {
    "activation_function": "gelu_new",  # GELU's tanh form
    "scale_attn_weights": True,  # divide the scores by sqrt(hs)
    "scale_attn_by_inverse_layer_idx": False,
    "reorder_and_upcast_attn": False,
    "tie_word_embeddings": True,  # the head is the token embedding
    "add_cross_attention": False,
    "layer_norm_epsilon": EPS,  # ours, 1e-5
}


class PretrainedError(ValueError):
    """A Hugging Face directory that is missing, unreadable, or describes another model."""


def resolve(path):
    """A folder holding config.json and model.safetensors: `path` itself, or, for a name like
    "gpt2", the snapshot the local Hugging Face cache's refs/main names (without refs/main, its
    only or newest snapshot). The cache is $HF_HUB_CACHE, else $HF_HOME/hub, else
    ~/.cache/huggingface/hub, as in huggingface_hub. A local folder of that name without a
    config.json (a download folder other tutorials make) does not hide the cache: the cache's
    model is used, and a warning says so."""
    folder = Path(path)
    if folder.is_dir() and (folder / CONFIG).exists():
        return folder
    if folder.is_dir():
        cached = _in_the_cache(path)
        if cached is None:
            return folder  # its missing config.json is read_pretrained's to report
        warnings.warn(
            f"{path}: the folder {folder.resolve()} holds no {CONFIG}; using the Hugging Face "
            f"cache's {cached} instead",
            stacklevel=3,
        )
        return cached
    cached = _in_the_cache(path)
    if cached is not None:
        return cached
    raise PretrainedError(
        f"{path}: no such folder, and not in the Hugging Face cache ({_cache_repo(path)}); "
        f"nothing is downloaded: with internet, `hf download {path} {CONFIG} {WEIGHTS} "
        "vocab.json merges.txt` puts it there"
    )


def _cache_repo(name):
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    hub = Path(os.environ.get("HF_HUB_CACHE", home / "hub"))
    return hub / f"models--{str(name).replace('/', '--')}"


def _in_the_cache(name):
    """The cache's snapshot of a model name (refs/main's, else the newest), or None."""
    repo = _cache_repo(name)
    snapshots = repo / "snapshots"
    main = repo / "refs" / "main"
    if main.is_file() and (snapshots / main.read_text().strip() / CONFIG).is_file():
        return snapshots / main.read_text().strip()
    found = sorted(snapshots.glob("*/" + CONFIG), key=lambda p: p.parent.stat().st_mtime)
    return found[-1].parent if found else None


def config_from_hf(d, where):
    """A Hugging Face GPT2Config (as a dict) -> GPTConfig, or an error naming the field."""
    if d.get("model_type", "gpt2") != "gpt2":
        raise PretrainedError(f"{where}: model_type: expected 'gpt2', got {d.get('model_type')!r}")
    for field, wanted in REQUIRED.items():
        got = d.get(field, wanted)
        if got != wanted:
            raise PretrainedError(f"{where}: {field}: expected {wanted!r}, got {got!r}")
    try:
        sizes = {
            "vocab_size": d.get("vocab_size", 50257),
            "block_size": d.get("n_positions", d.get("n_ctx", 1024)),
            "n_layer": d.get("n_layer", 12),
            "n_head": d.get("n_head", 12),
            "n_embd": d.get("n_embd", 768),
        }
        for name, value in sizes.items():  # (null, a string, 1.5: refused by name)
            check_count(name, value, low=1)
        n_embd = sizes["n_embd"]
        if d.get("n_inner") not in (None, 4 * n_embd):
            raise PretrainedError(
                f"{where}: n_inner: expected null or 4 * n_embd = {4 * n_embd}, got "
                f"{d['n_inner']!r}"
            )
        # inference: dropout 0 (set config.dropout to fine-tune with dropout)
        config = GPTConfig(**sizes, dropout=0.0, bias=True)
    except (TypeError, ValueError) as e:
        if isinstance(e, PretrainedError):
            raise
        raise PretrainedError(f"{where}: {e}") from None
    dropouts = {k: d[k] for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop") if d.get(k)}
    if dropouts:
        listed = ", ".join(f"{k} {v}" for k, v in dropouts.items())
        warnings.warn(
            f"{where}: its dropout ({listed}) is not used: the model loads for inference, with "
            "dropout 0; set model.config = dataclasses.replace(model.config, dropout=...) to "
            "fine-tune with dropout",
            stacklevel=4,
        )
    return config


def config_to_hf(config, eot_id=None):
    """GPTConfig -> the fields of a Hugging Face GPT2Config that describe the same model.

    eot_id: the tokenizer's <|endoftext|> id, written as GPT-2's bos/eos token (50256 in GPT-2's
    vocabulary, vocab_size - 5 in ours); None writes them as null (without the fields,
    transformers would take GPT-2's 50256, which a small vocabulary does not have)."""
    if not config.bias:
        raise PretrainedError("config.bias: GPT-2's layers all have biases; got a bias-free model")
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": None,
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "initializer_range": 0.02,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
        **REQUIRED,
    }


def read_safetensors_header(path):
    """The tensors a .safetensors file holds, from its header alone -> {name: (dtype, shape)}.

    The format: 8 bytes, a little-endian unsigned integer n; then n bytes of UTF-8 JSON mapping
    each tensor's name to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} (and
    "__metadata__" to a dict of strings); then the tensors' bytes.
    """
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n).decode("utf-8"))
    return {
        name: (entry["dtype"], tuple(entry["shape"]))
        for name, entry in header.items()
        if name != "__metadata__"
    }


# safetensors' dtype names -> NumPy's; BF16 has no NumPy type: its 16-bit words are read as such
DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": "<u2", "BOOL": "?"}
DTYPES.update({f"I{b}": f"<i{b // 8}" for b in (8, 16, 32, 64)})
DTYPES.update({f"U{b}": f"<u{b // 8}" for b in (8, 16, 32, 64)})


def bfloat16_to_float32(words):
    """bfloat16 (uint16 words) -> float32: a bfloat16 is the top 16 bits of a float32, so each
    word shifted into the high half of a 32-bit word is exactly that float32.

    >>> bfloat16_to_float32(np.array([0x3F80, 0xC040], dtype=np.uint16)).tolist()
    [1.0, -3.0]
    """
    return (words.astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path):
    """A .safetensors file -> {name: array}, each array a view of the file mapped into memory
    (bfloat16 widened to float32, a copy). The header is checked before any data is touched:
    its size, each tensor's dtype, shape and offsets within the file."""
    path = Path(path)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file"
        raise PretrainedError(f"{path}: expected a safetensors file, got {what}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
            raise PretrainedError(f"{path}: not a safetensors file (a header of {n:,} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise PretrainedError(f"{path}: its header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise PretrainedError(f"{path}: its header is not a JSON object")
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n) if size > 8 + n else b""
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            kind, shape = entry["dtype"], tuple(int(s) for s in entry["shape"])
            begin, end = (int(o) for o in entry["data_offsets"])
        except (TypeError, KeyError, ValueError):
            raise PretrainedError(f"{path}: tensor {name}: a malformed header entry") from None
        if kind not in DTYPES:
            raise PretrainedError(f"{path}: tensor {name}: dtype {kind} is not one we read")
        dtype = np.dtype(DTYPES[kind])
        if (
            not 0 <= begin <= end <= size - 8 - n
            or end - begin != math.prod(shape) * dtype.itemsize
        ):
            raise PretrainedError(
                f"{path}: tensor {name}: offsets {begin}..{end} do not hold {kind} {shape}"
            )
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape)
        tensors[name] = bfloat16_to_float32(array) if kind == "BF16" else array
    return tensors


def read_pretrained(path):
    """A Hugging Face GPT-2 directory -> (GPTConfig, state dict with our names)."""
    folder = resolve(path)
    try:
        hf_config = read_json(folder / CONFIG, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise PretrainedError(f"{folder}: no {CONFIG}") from None
    except FileFault as e:  # a FIFO, a link to /dev/zero, not JSON, nested too deeply, ...
        raise PretrainedError(str(e)) from None
    if not isinstance(hf_config, dict):
        raise PretrainedError(f"{folder / CONFIG}: expected a JSON object")
    config = config_from_hf(hf_config, folder / CONFIG)
    if not (folder / WEIGHTS).exists():
        raise PretrainedError(f"{folder}: no {WEIGHTS} (only safetensors files are read)")
    try:
        tensors = read_safetensors(folder / WEIGHTS)
    except OSError as e:
        raise PretrainedError(f"{folder / WEIGHTS}: not readable ({e.strerror or e})") from None
    state = {}
    for name, array in tensors.items():
        if name.endswith(SKIPPED):
            continue
        ours = name if name.startswith(("transformer.", "lm_head.")) else f"transformer.{name}"
        state[ours] = array
    head = state.pop("lm_head.weight", None)
    wte = state.get("transformer.wte.weight")
    if head is not None and wte is not None and not np.array_equal(head, wte):
        raise PretrainedError(
            f"{folder / WEIGHTS}: lm_head.weight differs from wte.weight; this model's head is "
            "not tied to its embedding, which ours always is"
        )
    shapes = param_shapes(config)
    missing = [n for n in shapes if n not in state]
    unexpected = [n for n in state if n not in shapes]
    misshapen = [n for n in shapes if n in state and tuple(state[n].shape) != shapes[n]]
    wrong = [f"{n} {tuple(state[n].shape)} (expected {shapes[n]})" for n in misshapen]
    not_float = [
        f"{n} ({state[n].dtype})" for n in shapes if n in state and state[n].dtype.kind != "f"
    ]
    floats = [n for n in shapes if n in state and state[n].dtype.kind == "f"]
    not_finite = [n for n in floats if not np.isfinite(state[n]).all()]
    for problem, names in (
        (f"missing for {CONFIG}'s model", missing),
        (f"unexpected for {CONFIG}'s model", unexpected),
        (f"wrongly shaped for {CONFIG}'s model", wrong),
        ("not floating-point weights", not_float),
        ("nan or inf in", not_finite),
    ):
        if names:
            listed = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
            raise PretrainedError(f"{folder / WEIGHTS}: {problem}: {listed}")
    return config, state


def write_pretrained(model, path, eot_id=None):
    """Write the model as config.json + model.safetensors (the GPT2LMHeadModel layout).

    eot_id: see config_to_hf. The weights are written first, so that a failure leaves no new
    config.json describing old weights."""
    folder = Path(path)
    hf = config_to_hf(model.config, eot_id)  # refuses a model GPT-2 cannot hold, before writing
    folder.mkdir(parents=True, exist_ok=True)
    # safetensors writes an array's raw memory; a non-contiguous one (a transposed view) would
    # load permuted, so every array goes out contiguous (a copy only where it is not already)
    tensors = {name: np.ascontiguousarray(p) for name, p in model.params.items()}
    weights = save(tensors, metadata={"format": "pt"})  # "pt": what transformers expects
    write_atomic(folder / WEIGHTS, weights)
    write_atomic(folder / CONFIG, (json.dumps(hf, indent=2) + "\n").encode())
    return folder

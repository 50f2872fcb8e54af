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

Nothing is downloaded, ever. A name that is not a folder is looked up in the Hugging Face cache
(`$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`); with internet,
`huggingface-cli download gpt2` fills it.
"""

import json
import os
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

from tinytransformer.files import write_atomic
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.transformer import param_shapes
from tinytransformer.ops.layernorm import EPS

WEIGHTS, CONFIG = "model.safetensors", "config.json"
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
    ~/.cache/huggingface/hub, as in huggingface_hub."""
    folder = Path(path)
    if folder.is_dir():
        return folder
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    repo = (
        Path(os.environ.get("HF_HUB_CACHE", home / "hub"))
        / f"models--{str(path).replace('/', '--')}"
    )
    snapshots = repo / "snapshots"
    main = repo / "refs" / "main"
    if main.is_file() and (snapshots / main.read_text().strip() / CONFIG).is_file():
        return snapshots / main.read_text().strip()
    found = sorted(snapshots.glob("*/" + CONFIG), key=lambda p: p.parent.stat().st_mtime)
    if found:
        return found[-1].parent
    raise PretrainedError(
        f"{path}: no such folder, and not in the Hugging Face cache ({snapshots}); nothing is "
        f"downloaded: with internet, `huggingface-cli download {path}` puts it there"
    )


def config_from_hf(d, where):
    """A Hugging Face GPT2Config (as a dict) -> GPTConfig, or an error naming the field."""
    if d.get("model_type", "gpt2") != "gpt2":
        raise PretrainedError(f"{where}: model_type: expected 'gpt2', got {d.get('model_type')!r}")
    for field, wanted in REQUIRED.items():
        got = d.get(field, wanted)
        if got != wanted:
            raise PretrainedError(f"{where}: {field}: expected {wanted!r}, got {got!r}")
    n_embd = d.get("n_embd", 768)
    if d.get("n_inner") not in (None, 4 * n_embd):
        raise PretrainedError(
            f"{where}: n_inner: expected null or 4 * n_embd = {4 * n_embd}, got {d['n_inner']!r}"
        )
    try:
        return GPTConfig(
            vocab_size=d.get("vocab_size", 50257),
            block_size=d.get("n_positions", d.get("n_ctx", 1024)),
            n_layer=d.get("n_layer", 12),
            n_head=d.get("n_head", 12),
            n_embd=n_embd,
            dropout=0.0,  # inference; set config.dropout to fine-tune with dropout
            bias=True,
        )
    except (TypeError, ValueError) as e:
        raise PretrainedError(f"{where}: {e}") from None


def config_to_hf(config, eot_id=None):
    """GPTConfig -> the fields of a Hugging Face GPT2Config that describe the same model.

    eot_id: the tokenizer's <|endoftext|> id, written as GPT-2's bos/eos token (50256 in GPT-2's
    vocabulary, vocab_size - 5 in ours); None leaves the two fields out."""
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
        **({} if eot_id is None else {"bos_token_id": eot_id, "eos_token_id": eot_id}),
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


def read_pretrained(path):
    """A Hugging Face GPT-2 directory -> (GPTConfig, state dict with our names)."""
    folder = resolve(path)
    try:
        hf_config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PretrainedError(f"{folder}: no {CONFIG}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PretrainedError(f"{folder / CONFIG}: not readable JSON ({e})") from None
    if not isinstance(hf_config, dict):
        raise PretrainedError(f"{folder / CONFIG}: expected a JSON object")
    config = config_from_hf(hf_config, folder / CONFIG)
    try:
        tensors = load_file(folder / WEIGHTS)
    except FileNotFoundError:
        raise PretrainedError(f"{folder}: no {WEIGHTS} (only safetensors files are read)") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise PretrainedError(
            f"{folder / WEIGHTS}: not a readable safetensors file ({e})"
        ) from None
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
    for problem, names in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("wrongly shaped", wrong),
    ):
        if names:
            listed = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
            raise PretrainedError(f"{folder / WEIGHTS}: {problem} for {CONFIG}'s model: {listed}")
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

"""The exercises of chapter 7 (工具和资源推荐, tools and where to go next): moving a weight between
GPT-2's Conv1D layout (in, out) and PyTorch's nn.Linear layout (out, in), and reading a
safetensors file's header by hand.

References: the transpose itself, and models.hf.read_safetensors_header.
"""

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from tinytransformer.exercises.spec import Case, Exercise, Mistake
from tinytransformer.models.hf import read_safetensors_header

# --- 7.1 Conv1D (in, out) -> nn.Linear (out, in) --------------------------------------------------


def _conv1d_to_linear(weight):
    return np.ascontiguousarray(weight.T)


def _contiguous(outputs):
    (w,) = outputs
    if isinstance(w, np.ndarray) and not w.flags.c_contiguous:
        return (
            "  the values are right, but the array is a transposed view (not C-contiguous); "
            "safetensors writes an array's memory as it lies, so the file would hold it permuted: "
            "return np.ascontiguousarray(...)"
        )
    return None


def _conv_cases():
    rng = np.random.default_rng(71)
    return [
        Case("c_attn of a 16-wide model: (16, 48)", {"weight": rng.standard_normal((16, 48))}),
        Case("the MLP's c_proj: (64, 16)", {"weight": rng.standard_normal((64, 16))}),
        Case("a square c_proj: (8, 8)", {"weight": rng.standard_normal((8, 8))}),
    ]


CONV1D = Exercise(
    id="7.1",
    title="a GPT-2 Conv1D weight (in, out) as a PyTorch nn.Linear weight (out, in)",
    signature="conv1d_to_linear(weight)",
    outputs=("weight",),
    reference=_conv1d_to_linear,
    cases=_conv_cases,
    verify=_contiguous,
    mistakes=[
        Mistake(
            "reshaped instead of transposed",
            lambda weight: weight.reshape(weight.shape[1], weight.shape[0]),
            "A reshape keeps the numbers in memory order and only relabels the axes; the layouts "
            "differ by a transpose: linear.weight[o, i] == conv1d.weight[i, o].",
        ),
        Mistake(
            "returned unchanged",
            lambda weight: weight,
            "nn.Linear computes x @ W^T with W (out, in); Conv1D computes x @ W with W (in, out).",
        ),
    ],
    hint="np.ascontiguousarray(weight.T): the transpose, as an array of its own.",
)


# --- 7.2 a safetensors header read by hand --------------------------------------------------------


@functools.cache  # the files are written once per process
def _header_cases():
    folder = Path(tempfile.mkdtemp(prefix="tinytransformer-7.2-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # removed when the process ends
    rng = np.random.default_rng(72)
    files = {
        "two float32 tensors": {
            "a.weight": rng.standard_normal((3, 4)).astype(np.float32),
            "a.bias": np.zeros(4, np.float32),
        },  # fmt: skip
        "dtypes and a scalar": {
            "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
            "half": np.ones((2, 2), np.float16),
            "step": np.array(7, dtype=np.int32),
        },  # fmt: skip
        "GPT-2's names": {
            "transformer.wte.weight": np.zeros((11, 8), np.float32),
            "transformer.h.0.attn.c_attn.weight": np.zeros((8, 24), np.float32),
        },  # fmt: skip
    }
    cases = []
    for k, (name, tensors) in enumerate(files.items()):
        path = folder / f"case{k}.safetensors"
        save_file(tensors, path, metadata={"format": "pt", "note": "metadata is not a tensor"})
        cases.append(Case(name, {"path": str(path)}))
    return cases


def _header_variant(path, skip_metadata=True, as_tuple=True):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    shape = tuple if as_tuple else list
    return {k: (v["dtype"], shape(v["shape"])) if k != "__metadata__" else v
            for k, v in header.items() if not (skip_metadata and k == "__metadata__")}  # fmt: skip


HEADER = Exercise(
    id="7.2",
    title="list a safetensors file's tensors from its header: 8-byte length, then JSON",
    signature="safetensors_header(path)",
    outputs=("tensors",),
    reference=read_safetensors_header,
    cases=_header_cases,
    mistakes=[
        Mistake(
            "__metadata__ listed as a tensor",
            lambda path: _header_variant(path, skip_metadata=False),
            'The header\'s "__metadata__" entry holds strings about the file, not a tensor: '
            "leave it out.",
        ),
        Mistake(
            "shapes as lists",
            lambda path: _header_variant(path, as_tuple=False),
            "Give each shape as a tuple, (3, 4), like a NumPy array's .shape.",
        ),
    ],
    hint="n = int.from_bytes(f.read(8), 'little'); header = json.loads(f.read(n)); then "
    "{name: (entry['dtype'], tuple(entry['shape']))} for every name but '__metadata__'.",
)

EXERCISES = [CONV1D, HEADER]

"""The exercises of chapter 7 (工具和资源推荐, tools and where to go next): moving a weight between
GPT-2's Conv1D layout (in, out) and PyTorch's nn.Linear layout (out, in), and reading a
safetensors file's header by hand.

References: the transpose itself, and models.hf.read_safetensors_header. The safetensors files
are made in memory and cross into a graded notebook as bytes (wire.FileBytes): the function gets
the path of a copy.
"""

import json

import numpy as np

from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.exercises.wire import FileBytes
from tinytransformer.models.hf import read_safetensors_header

# --- 7.1 Conv1D (in, out) -> nn.Linear (out, in) --------------------------------------------------


def _conv1d_to_linear(weight):
    return np.ascontiguousarray(weight.T)


def _contiguous(outputs):
    (w,) = outputs
    if not isinstance(w, np.ndarray) or w.flags.c_contiguous:
        return None
    if w.flags.f_contiguous and not w.flags.owndata:
        layout = "a transposed view of the input (not C-contiguous)"
    elif w.flags.f_contiguous:
        layout = "a copy in Fortran (column-major) order, not C order"
    else:
        layout = "a strided view (not C-contiguous)"
    return (
        f"  the values are right, but the array is {layout}; safetensors writes an array's "
        "memory as it lies, so the file would hold it permuted: return np.ascontiguousarray(...)"
    )


def _conv_edge_cases():
    rng = np.random.default_rng(71)
    return [
        Case("c_attn of a 16-wide model: (16, 48)", {"weight": rng.standard_normal((16, 48))}),
        Case("the MLP's c_proj: (64, 16)", {"weight": rng.standard_normal((64, 16))}),
        Case("a square c_proj: (8, 8)", {"weight": rng.standard_normal((8, 8))}),
    ]


def _conv_random_cases(rng):
    cases = []
    for _ in range(2):
        n_in, n_out = (int(n) for n in rng.integers(1, 40, size=2))
        name = f"random ({n_in}, {n_out})"
        cases.append(Case(name, {"weight": rng.standard_normal((n_in, n_out))}))
    return cases


def _transposed_shape(inputs, got):
    want = inputs["weight"].shape[::-1]
    shape = np.shape(got[0])
    return None if shape == want else f"it is {shape}, not (out, in) = {want}"


CONV1D = Exercise(
    id="7.1",
    title="a GPT-2 Conv1D weight (in, out) as a PyTorch nn.Linear weight (out, in)",
    signature="conv1d_to_linear(weight)",
    outputs=("weight",),
    reference=_conv1d_to_linear,
    edge_cases=_conv_edge_cases,
    random_cases=_conv_random_cases,
    verify=_contiguous,
    mistakes=(
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
    ),
    properties=(Property("the result has shape (out, in)", _transposed_shape),),
    formula="np.ascontiguousarray(weight.T): the transpose, as an array of its own in C order.",
)


# --- 7.2 a safetensors header read by hand --------------------------------------------------------

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def safetensors_bytes(tensors, metadata=None):
    """A .safetensors file's bytes, written by hand (and the same bytes for the same tensors:
    the safetensors library orders a header's entries differently from run to run)."""
    names = {np.dtype(t): name for name, t in DTYPES.items()}
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for name, a in tensors.items():
        data = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False)
        header[name] = {
            "dtype": names[a.dtype],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + data.nbytes],
        }
        offset += data.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    blob = b"".join(np.ascontiguousarray(a).tobytes() for a in tensors.values())
    return len(text).to_bytes(8, "little") + text + blob


def _file(name, tensors, metadata=None):
    return FileBytes(f"{name}.safetensors", safetensors_bytes(tensors, metadata))


def _header_edge_cases():
    rng = np.random.default_rng(72)
    note = {"format": "pt", "note": "metadata is not a tensor"}
    files = {
        "two float32 tensors": {
            "a.weight": rng.standard_normal((3, 4)).astype(np.float32),
            "a.bias": np.zeros(4, np.float32),
        },
        "dtypes and a scalar": {
            "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
            "half": np.ones((2, 2), np.float16),
            "step": np.array(7, dtype=np.int32),
        },
        "GPT-2's names": {
            "transformer.wte.weight": np.zeros((11, 8), np.float32),
            "transformer.h.0.attn.c_attn.weight": np.zeros((8, 24), np.float32),
        },
    }
    return [
        Case(name, {"path": _file(f"case{k}", t, note)})
        for k, (name, t) in enumerate(files.items())
    ]


def _header_random_cases(rng):
    cases = []
    for k in range(2):
        tensors = {}
        for i in range(int(rng.integers(1, 5))):
            dtype = DTYPES[str(rng.choice(list(DTYPES)))]
            shape = tuple(int(n) for n in rng.integers(1, 6, size=int(rng.integers(0, 4))))
            tensors[f"layer{i}.{rng.choice(['weight', 'bias', 'scale'])}"] = np.zeros(shape, dtype)
        metadata = {"seed": str(int(rng.integers(1000)))} if rng.integers(2) else None
        name = f"random: {len(tensors)} tensor(s), {'with' if metadata else 'no'} metadata"
        cases.append(Case(name, {"path": _file(f"random{k}", tensors, metadata)}))
    return cases


def _header_variant(path, skip_metadata=True, as_tuple=True):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    shape = tuple if as_tuple else list
    return {
        k: (v["dtype"], shape(v["shape"])) if k != "__metadata__" else v
        for k, v in header.items()
        if not (skip_metadata and k == "__metadata__")
    }


def _no_metadata(inputs, got):
    table = got[0]
    return "__metadata__ is a key" if isinstance(table, dict) and "__metadata__" in table else None


def _entries_are_pairs(inputs, got):
    table = got[0]
    if not isinstance(table, dict):
        return f"it is a {type(table).__name__}"
    for name, entry in table.items():
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], tuple)):
            return f"{name!r} maps to {entry!r}"
    return None


HEADER = Exercise(
    id="7.2",
    title="list a safetensors file's tensors from its header: 8-byte length, then JSON",
    signature="safetensors_header(path)",
    outputs=("tensors",),
    reference=read_safetensors_header,
    edge_cases=_header_edge_cases,
    random_cases=_header_random_cases,
    library=("tinytransformer.models.hf.read_safetensors_header",),
    mistakes=(
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
    ),
    properties=(
        Property("no '__metadata__' entry (it is not a tensor)", _no_metadata),
        Property("every entry is (dtype, shape) with the shape a tuple", _entries_are_pairs),
    ),
    formula="n = int.from_bytes(f.read(8), 'little'); header = json.loads(f.read(n)); then "
    "{name: (entry['dtype'], tuple(entry['shape']))} for every name but '__metadata__'.",
)

EXERCISES = [CONV1D, HEADER]

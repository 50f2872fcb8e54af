"""How a case's inputs and an answer's outputs cross between processes: plain arrays and JSON,
never pickle (unpickling runs code; these bytes come from a student's process).

    data = CODEC.encode(value)            -> bytes
    value = CODEC.decode(data, limit)     -> the value, arrays rebuilt with their memory layout
    value = CODEC.build(value, folder)    -> specs replaced by the objects they describe

A value is None, a bool, int, float, str or bytes, a list, tuple or dict of values (keys of those
kinds), a NumPy array of booleans, integers, floats or complex numbers, a NumPy scalar, or one of
the specs below: plain data that each side rebuilds into the object an exercise takes.

    GPTWeights(config, weights)   a GPT (config fields and weights), built float64, eval mode
    CharVocab(chars)              a CharTokenizer
    FileBytes(name, data)         a file, written into the folder given to build(): its path
    SublayerWeights(kind, weights, n_head)
                                  a block's layer norm, attention or MLP as weights: the
                                  function (B, T, C) -> (B, T, C) of evaluation.anatomy.sublayer

The bytes are: 8 bytes (little-endian length n), n bytes of JSON, then the arrays' bytes. In the
JSON every list, tuple, dict, array and spec is a tagged object ({"tuple": [...]}, {"array":
{"dtype": "<f8", "shape": [2, 3], "at": 0, "n": 48, "layout": "C", "owner": true}}), so a tuple
comes back a tuple and an int-keyed dict an int-keyed dict. An array's layout ("C", "F" or
"strided") and whether it owned its memory come back too: exercise 7.1 asks for a C-contiguous
array, and the grader must see what the answer returned.

Every function made by codec() and sealing() uses only names bound when the factory ran. The
graded notebook's process makes its copies before any of the notebook's code runs (sandbox.arm),
so a notebook that later replaces numpy's or Python's functions cannot reach into them.
"""

import _hashlib
import _json
import builtins
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinytransformer.evaluation.anatomy import sublayer
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.text.tokenizers import CharTokenizer


class WireError(ValueError):
    """Bytes that are not a value this module writes, or a value it cannot write."""


@dataclass(frozen=True, eq=False)
class GPTWeights:
    """A GPT as plain data: its GPTConfig fields and its weights (GPT-2's names -> arrays)."""

    config: dict
    weights: dict

    @classmethod
    def of(cls, model):
        return cls(model.config.to_dict(), model.state_dict())

    def describe(self):
        c = self.config
        return (
            f"GPT(vocab {c['vocab_size']}, block_size {c['block_size']}, {c['n_layer']} layer, "
            f"{c['n_head']} heads, n_embd {c['n_embd']})"
        )


@dataclass(frozen=True)
class CharVocab:
    """A CharTokenizer as plain data: its characters, in id order."""

    chars: str

    def describe(self):
        return f"CharTokenizer({self.chars!r})"


@dataclass(frozen=True)
class FileBytes:
    """A file as plain data; the function receives the path of a copy written for it."""

    name: str
    data: bytes

    def describe(self):
        return f"the path of {self.name} ({len(self.data)} bytes)"


@dataclass(frozen=True, eq=False)
class SublayerWeights:
    """One sublayer of a block as plain data: its kind ("layer norm", "attention" or "mlp"),
    its weights (local names without the prefix: "weight", "c_attn.weight", ... -> arrays) and,
    for attention, n_head (else None). Built into the function evaluation.anatomy.sublayer
    makes, so that an exercise can take a layer norm or an MLP as an argument (2.1.5)."""

    kind: str
    weights: dict
    n_head: object = None

    def __eq__(self, other):
        return (
            type(other) is SublayerWeights
            and (self.kind, self.n_head) == (other.kind, other.n_head)
            and list(self.weights) == list(other.weights)
            and all(np.array_equal(w, other.weights[n]) for n, w in self.weights.items())
        )

    __hash__ = None

    def describe(self):
        C = self.weights[sorted(self.weights)[-1]].shape[-1] if self.weights else "?"
        heads = f", {self.n_head} heads" if self.n_head is not None else ""
        return f"({self.kind}, width {C}{heads})"


SPECS = {"gpt": GPTWeights, "chars": CharVocab, "file": FileBytes, "sublayer": SublayerWeights}


@dataclass(frozen=True)
class Codec:
    encode: object
    decode: object
    build: object


def codec():
    """-> Codec(encode, decode, build), each using only the names bound below (module docstring)."""
    # Bound now, as locals the functions below close over: a later change to builtins, numpy
    # or this module does not reach them.
    bool, bytes, dict, float, int, list, str, tuple = (
        builtins.bool,
        builtins.bytes,
        builtins.dict,
        builtins.float,
        builtins.int,
        builtins.list,
        builtins.str,
        builtins.tuple,
    )
    type, len, getattr, sorted, reversed, all = (
        builtins.type,
        builtins.len,
        builtins.getattr,
        builtins.sorted,
        builtins.reversed,
        builtins.all,
    )
    NoneType, WireError_, Path_ = type(None), WireError, Path
    RecursionError, StopIteration, TypeError, UnicodeDecodeError, ValueError = (
        builtins.RecursionError,
        builtins.StopIteration,
        builtins.TypeError,
        builtins.UnicodeDecodeError,
        builtins.ValueError,
    )
    specs = dict(SPECS)
    fields = {
        "gpt": ("config", "weights"),
        "chars": ("chars",),
        "file": ("name", "data"),
        "sublayer": ("kind", "weights", "n_head"),
    }
    kind_of = {cls: kind for kind, cls in specs.items()}
    GPT_, GPTConfig_, CharTokenizer_, sublayer_ = GPT, GPTConfig, CharTokenizer, sublayer
    ndarray, generic, frombuffer, asarray = np.ndarray, np.generic, np.frombuffer, np.asarray
    dtype_of, float64, uint8 = np.dtype, np.float64, np.uint8
    encode_json = _json.make_encoder(
        None, _unencodable, _json.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    scan_json = _json.make_scanner(_ScanContext(float, int, _json_constant))
    kinds = "biufc"  # booleans, signed and unsigned integers, floats, complex numbers
    depth_limit = 32
    array_keys = ["at", "dtype", "layout", "n", "owner", "shape"]

    # --- encoding -------------------------------------------------------------------------------

    def encode(value):
        blob = []  # the arrays' bytes, in order
        tagged = tag(value, blob, 0)
        header = "".join(encode_json(tagged, 0)).encode("utf-8")
        return b"".join([len(header).to_bytes(8, "little"), header, *blob])

    def tag(value, blob, depth):
        if depth > depth_limit:
            raise WireError_(f"nested more than {depth_limit} levels deep")
        t = type(value)  # exact types: a subclass could run code of its own while written
        if t is NoneType or t is bool or t is int or t is float or t is str:
            return value
        if t is list or t is tuple:
            return {t.__name__: [tag(v, blob, depth + 1) for v in value]}
        if t is dict:
            pairs = [[tag(k, blob, depth + 1), tag(v, blob, depth + 1)] for k, v in value.items()]
            return {"dict": pairs}
        if t is bytes:
            return {"bytes": buffer(frombuffer(value, uint8), blob)}
        if t is ndarray:
            return {"array": buffer(value, blob)}
        if isinstance_(value, generic) and t.__module__ == "numpy":  # np.float32(1.5), ...
            return {"scalar": buffer(asarray(value), blob)}
        if t in kind_of:
            kind = kind_of[t]
            body = {f: tag(getattr(value, f), blob, depth + 1) for f in fields[kind]}
            return {"spec": [kind, body]}
        raise WireError_(
            f"a {t.__name__} cannot be sent (expected arrays, numbers, strings, lists, tuples "
            "or dicts of them)"
        )

    isinstance_ = builtins.isinstance

    def buffer(a, blob):
        if a.dtype.kind not in kinds or a.dtype.hasobject:
            raise WireError_(f"an array of dtype {a.dtype} cannot be sent")
        layout = "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else "strided"
        data = a.tobytes(order="F" if layout == "F" else "C")
        at = 0
        for b in blob:
            at += len(b)
        blob.append(data)
        owner = bool(a.flags.owndata)
        shape = list(a.shape)
        return {
            "dtype": a.dtype.str,
            "shape": shape,
            "at": at,
            "n": len(data),
            "layout": layout,
            "owner": owner,
        }

    # --- decoding -------------------------------------------------------------------------------

    def decode(data, limit=1 << 30):
        if type(data) is not bytes or len(data) < 8:
            raise WireError_("expected the bytes of a value, got too few")
        if len(data) > limit:
            raise WireError_(f"{len(data)} bytes, more than the {limit} allowed")
        n = int.from_bytes(data[:8], "little")
        if n > len(data) - 8:
            raise WireError_("the header is longer than the data")
        try:
            text = data[8 : 8 + n].decode("utf-8")
            tagged, end = scan_json(text, 0)
        except (UnicodeDecodeError, StopIteration, ValueError, RecursionError) as e:
            raise WireError_(f"the header is not JSON ({type(e).__name__})") from None
        if end != len(text):
            raise WireError_("the header has trailing bytes")
        return untag(tagged, data[8 + n :], 0)

    def untag(t, blob, depth):
        if depth > depth_limit:
            raise WireError_(f"nested more than {depth_limit} levels deep")
        kind = type(t)
        if kind is NoneType or kind is bool or kind is int or kind is float or kind is str:
            return t
        if kind is not dict or len(t) != 1:
            raise WireError_("expected a tagged value")
        ((name, body),) = t.items()
        if name == "list" or name == "tuple":
            items = [untag(v, blob, depth + 1) for v in checked(body, list, name)]
            return items if name == "list" else tuple(items)
        if name == "dict":
            out = {}
            for pair in checked(body, list, name):
                if type(pair) is not list or len(pair) != 2:
                    raise WireError_("a dict entry that is not a [key, value] pair")
                key = untag(pair[0], blob, depth + 1)
                if type(key) not in (NoneType, bool, int, float, str, tuple):
                    raise WireError_(f"a dict key of type {type(key).__name__}")
                out[key] = untag(pair[1], blob, depth + 1)
            return out
        if name == "array":
            return array(checked(body, dict, name), blob)
        if name == "scalar":
            a = array(checked(body, dict, name), blob)
            if a.shape != ():
                raise WireError_("a scalar with a shape")
            return a[()]
        if name == "bytes":
            a = array(checked(body, dict, name), blob)
            if a.dtype != uint8 or a.ndim != 1:
                raise WireError_("bytes that are not a 1-D uint8 array")
            return a.tobytes()
        if name == "spec":
            if type(body) is not list or len(body) != 2 or body[0] not in specs:
                raise WireError_("an unknown spec")
            given = checked(body[1], dict, name)
            if sorted(given) != sorted(fields[body[0]]):
                raise WireError_(f"a {body[0]} spec with the wrong fields")
            values = {f: untag(given[f], blob, depth + 1) for f in fields[body[0]]}
            return specs[body[0]](**values)
        raise WireError_(f"an unknown tag {name!r}")

    def checked(body, kind, name):
        if type(body) is not kind:
            raise WireError_(f"a {name} whose body is not a {kind.__name__}")
        return body

    def array(a, blob):
        if sorted(a) != array_keys:
            raise WireError_("an array without exactly the fields " + ", ".join(array_keys))
        dt = None
        if type(a["dtype"]) is str:
            try:
                dt = dtype_of(a["dtype"])
            except TypeError:
                pass
        if dt is None or dt.kind not in kinds or dt.hasobject or dt.itemsize > 16:
            raise WireError_(f"an array of dtype {a['dtype']!r}")
        shape = a["shape"]
        if type(shape) is not list or not all(type(s) is int and s >= 0 for s in shape):
            raise WireError_("an array shape that is not a list of sizes")
        count = 1
        for s in shape:
            count *= s
        at, n = a["at"], a["n"]
        if type(at) is not int or type(n) is not int or at < 0 or n != count * dt.itemsize:
            raise WireError_("an array whose size does not match its shape")
        if at + n > len(blob):
            raise WireError_("an array that runs past the end of the data")
        layout, owner = a["layout"], a["owner"]
        if layout not in ("C", "F", "strided") or type(owner) is not bool:
            raise WireError_("an array layout that is not C, F or strided")
        flat = frombuffer(blob, dt, count, at)  # read-only, shares the bytes: copied below
        if layout == "F":  # written in Fortran order: the reversed shape, transposed
            mirrored = flat.reshape(tuple(reversed(shape))).copy()
            return mirrored.T.copy(order="F") if owner else mirrored.T  # a copy, or a view
        out = flat.reshape(tuple(shape)).copy()
        if layout == "strided" and out.size > 1:  # the same values, every other element
            wide = ndarray((2 * out.size,), out.dtype)
            view = wide[::2].reshape(out.shape)
            view[...] = out
            return view
        return out if owner else out[...]

    # --- building -------------------------------------------------------------------------------

    def build(value, folder):
        """Specs -> objects (recursively through lists, tuples and dicts); files into `folder`."""
        t = type(value)
        if t is GPTWeights:
            model = GPT_(GPTConfig_.from_dict(dict(value.config)), dtype=float64)
            model.load_state_dict(value.weights)
            return model.eval()
        if t is CharVocab:
            return CharTokenizer_(value.chars)
        if t is SublayerWeights:
            return sublayer_(value.kind, dict(value.weights), n_head=value.n_head)
        if t is FileBytes:
            path = Path_(folder) / Path_(value.name).name
            path.write_bytes(value.data)
            return str(path)
        if t is list or t is tuple:
            return t(build(v, folder) for v in value)
        if t is dict:
            return {k: build(v, folder) for k, v in value.items()}
        return value

    GPTWeights, CharVocab, FileBytes = specs["gpt"], specs["chars"], specs["file"]
    SublayerWeights = specs["sublayer"]
    return Codec(encode, decode, build)


class _ScanContext:
    """What _json's scanner reads from its context (json.JSONDecoder's attributes)."""

    def __init__(self, parse_float, parse_int, parse_constant):
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = parse_float
        self.parse_int = parse_int
        self.parse_constant = parse_constant
        self.memo = {}


def _json_constant(name):
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


def _unencodable(value):
    raise WireError(f"a {type(value).__name__} cannot be sent")


def sealing(key):
    """-> (seal, unseal, cipher) for a secret key (bytes): seal(data) appends an HMAC-SHA256 tag,
    unseal(blob) checks it and returns the data (WireError if it does not match), and
    cipher(data, nonce) XORs data with a SHAKE-256 keystream (the same call decrypts). Only the
    grader's driver and the sandbox it armed hold the key, so a notebook can neither read what
    the grader asks before it is asked nor forge an answer. Built like codec()."""
    bytes, int, len, type = builtins.bytes, builtins.int, builtins.len, builtins.type
    hmac_digest, same = _hashlib.hmac_digest, _hashlib.compare_digest
    shake, WireError_, tag_size = _hashlib.openssl_shake_256, WireError, 32

    def seal(data):
        return data + hmac_digest(key, data, "sha256")

    def unseal(blob):
        if type(blob) is not bytes or len(blob) < tag_size:
            raise WireError_("too short to be sealed")
        data, tag = blob[:-tag_size], blob[-tag_size:]
        if not same(tag, hmac_digest(key, data, "sha256")):
            raise WireError_("the seal does not match: not written by the grader's sandbox")
        return data

    def cipher(data, nonce):
        stream = shake(key + nonce).digest(len(data))
        x = int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")
        return x.to_bytes(len(data), "little")

    return seal, unseal, cipher


CODEC = codec()

"""Every op's hand-written backward against finite differences, in float64, with a random
upstream gradient, on several small shapes (T = 1, odd sizes, B > 1).

Tolerance: worst relative error (tinytransformer.gradcheck.rel_error) below 1e-6 for every input
and parameter of every op. Centred differences with h = 1e-5 have a truncation error of order
h^2 = 1e-10 relative to the gradient's scale, so 1e-6 leaves room only for rounding, not bugs.
"""

import ast
import zlib
from pathlib import Path

import numpy as np
import pytest

import tinytransformer.ops
from tinytransformer.gradcheck import check_gradients
from tinytransformer.op_cases import CASES, SHAPES

TOL = 1e-6


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}C{}".format(*s))
@pytest.mark.parametrize("op", CASES)
def test_gradient_matches_finite_differences(op, shape):
    rng = np.random.default_rng(zlib.crc32(f"{op}{shape}".encode()))
    forward, backward, inputs = CASES[op](rng, *shape, np.float64)
    errors = check_gradients(forward, backward, inputs, rng=rng)
    assert errors, "nothing was checked"
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{op} {shape}: {worst} has relative error {errors[worst]:.2e}"


def op_pairs():
    """The op pairs of ops/, by name: every NAME_forward with a NAME_backward in its file."""
    pairs = set()
    for path in sorted(Path(tinytransformer.ops.__file__).parent.glob("*.py")):
        names = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        forwards = [n for n in names if n.endswith("_forward")]
        pairs |= {n.removesuffix("_forward") for n in forwards if n[:-8] + "_backward" in names}
    return pairs


def test_every_op_pair_has_a_finite_difference_case():
    """A new op (say RMSNorm) cannot arrive without its gradient check: each pair of ops/ has a
    case in op_cases.CASES whose name is the op's or starts with it ("attention_causal")."""
    pairs = op_pairs()
    assert {"linear", "layernorm", "attention", "self_attention", "cross_entropy"} <= pairs
    unchecked = sorted(p for p in pairs if not any(c == p or c.startswith(p + "_") for c in CASES))
    assert unchecked == [], f"op pairs with no case in tinytransformer/op_cases.py: {unchecked}"

"""Every op's hand-written backward against finite differences, in float64, with a random
upstream gradient, on several small shapes (T = 1, odd sizes, B > 1).

Tolerance: worst relative error (tinytransformer.gradcheck.rel_error) below 1e-6 for every input
and parameter of every op. Centred differences with h = 1e-5 have a truncation error of order
h^2 = 1e-10 relative to the gradient's scale, so 1e-6 leaves room only for rounding, not bugs.
"""

import zlib

import numpy as np
import pytest

from tests.ops import CASES, SHAPES
from tinytransformer.gradcheck import check_gradients

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

"""Chapter 9's exercise references are the library's: 9.3's inverted_dropout is
ops.dropout.dropout_forward with its uniform draws given, bit for bit."""

import numpy as np
import pytest

from tinytransformer.exercises.evaluating import inverted_dropout
from tinytransformer.ops.dropout import dropout_forward


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_inverted_dropout_is_dropout_forward_with_its_draws_given(p, dtype):
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(dtype)  # (B, T, C)
    u = np.random.default_rng(1).random(x.shape, dtype=dtype)  # what dropout_forward draws
    y, _ = dropout_forward(x, p, np.random.default_rng(1))
    ours = inverted_dropout(x, p, u)
    assert ours.dtype == dtype
    assert np.array_equal(ours, y)


def test_inverted_dropout_keeps_the_mean_and_drops_the_share_p():
    x = np.ones(200_000)
    u = np.random.default_rng(2).random(x.shape)
    y = inverted_dropout(x, 0.3, u)
    assert (y == 0).mean() == pytest.approx(0.3, abs=0.005)  # std of the share ~0.001
    assert y.mean() == pytest.approx(1.0, abs=0.01)


def test_a_draw_equal_to_p_is_kept():
    # dropout_forward keeps where u >= p: a draw of exactly p (or of 0 with p = 0) survives
    x = np.arange(1.0, 5.0)
    assert np.array_equal(inverted_dropout(x, 0.5, np.array([0.5, 0.2, 0.7, 0.5])), [2, 0, 6, 8])
    assert np.array_equal(inverted_dropout(x, 0.0, np.zeros(4)), x)

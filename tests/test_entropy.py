"""evaluation/entropy.py: sampling_entropy against worked examples, a direct float64 formula,
PyTorch's Categorical where installed, and the logits that overflow a naive version."""

import math

import numpy as np
import pytest

from tinytransformer.evaluation.entropy import sampling_entropy
from tinytransformer.models.sampling import top_p_filter


def direct(logits, t):
    p = np.exp(logits / t)
    p /= p.sum(axis=-1, keepdims=True)
    return -(p * np.log(p)).sum(axis=-1)


def test_worked_examples():
    V = 7
    np.testing.assert_allclose(sampling_entropy(np.zeros((3, V)), 0.5), [math.log(V)] * 3)
    two = np.log(np.array([[0.25, 0.75]]))
    want = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert sampling_entropy(two, 1.0)[0] == pytest.approx(want, rel=1e-14)


def test_it_is_the_formula_for_moderate_logits_at_every_temperature():
    logits = np.random.default_rng(0).standard_normal((5, 11)) * 3
    for t in (0.3, 1.0, 2.5):
        np.testing.assert_allclose(sampling_entropy(logits, t), direct(logits, t), rtol=1e-12)


def test_large_logits_and_small_temperatures_stay_finite():
    logits = np.array([[1000.0, 999.0, 0.0], [-1e300, 1e300, 0.0], [5.0, 5.0, 5.0]])
    h = sampling_entropy(logits, 1e-3)
    assert np.isfinite(h).all() and h[0] == pytest.approx(0.0, abs=1e-12) and h[1] == 0.0
    assert h[2] == pytest.approx(math.log(3))
    # shifting every logit of a row changes nothing
    row = np.array([[1000.0, 999.0, 998.0]])
    np.testing.assert_allclose(sampling_entropy(row, 1.0), direct(row - 1000, 1.0), rtol=1e-12)


def test_temperature_raises_the_entropy_towards_log_v():
    logits = np.random.default_rng(1).standard_normal((4, 9)) * 2
    hs = np.stack([sampling_entropy(logits, t) for t in (0.25, 0.5, 1.0, 2.0, 8.0, 1e6)])
    assert (np.diff(hs, axis=0) > 0).all() and np.allclose(hs[-1], math.log(9), rtol=1e-6)


def test_the_nucleus_entropy_is_that_of_the_renormalised_kept_tokens():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    kept = top_p_filter(logits, 0.8)  # keeps 0.5 and 0.3, -inf for the rest
    p = np.array([0.5, 0.3]) / 0.8
    assert sampling_entropy(kept, 1.0)[0] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-12)


@pytest.mark.parametrize("bad", [np.array([[np.nan, 0.0]]), np.array([[np.inf, 0.0]])])
def test_nan_and_plus_inf_are_refused(bad):
    with pytest.raises(ValueError, match="logits"):
        sampling_entropy(bad, 1.0)


def test_against_torch():
    torch = pytest.importorskip("torch")
    logits = np.random.default_rng(2).standard_normal((6, 13)) * 4
    for t in (0.5, 1.7):
        want = torch.distributions.Categorical(logits=torch.tensor(logits / t)).entropy().numpy()
        np.testing.assert_allclose(sampling_entropy(logits, t), want, rtol=1e-10)

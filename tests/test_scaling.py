"""evaluation/scaling.py: the power-law fit recovers known laws and is numpy's line on log-log
axes; the compute and parameter counts are worked examples."""

import numpy as np
import pytest

from tinytransformer.evaluation.scaling import fit_power_law, non_embedding_parameters
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.memory import count_parameters


def test_a_power_law_is_recovered_exactly():
    n = np.array([1e3, 3e3, 1e4, 3e4, 1e5])
    a, b = fit_power_law(n, 7.5 * n**-0.076)  # Kaplan et al.'s alpha_N
    assert a == pytest.approx(7.5, rel=1e-12) and b == pytest.approx(0.076, rel=1e-12)
    assert isinstance(a, float) and isinstance(b, float)


def test_the_fit_is_least_squares_of_log_loss_on_log_n():
    rng = np.random.default_rng(0)
    n = np.exp(rng.uniform(5, 12, size=9))
    loss = 3.0 * n**-0.3 * np.exp(0.05 * rng.standard_normal(9))  # noisy: no exact line
    a, b = fit_power_law(n, loss)
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    assert b == pytest.approx(-slope, rel=1e-10) and a == pytest.approx(np.exp(intercept))

    # least squares: moving either coefficient makes the squared residual larger
    def sse(a_, b_):
        return float(((np.log(loss) - np.log(a_) + b_ * np.log(n)) ** 2).sum())

    assert sse(a, b) < min(sse(a * 1.01, b), sse(a, b + 1e-3), sse(a, b - 1e-3))


def test_a_loss_rising_with_size_gives_a_negative_exponent():
    a, b = fit_power_law([1.0, 2.0, 4.0], [1.0, 2.0, 4.0])
    assert (a, b) == (pytest.approx(1.0), pytest.approx(-1.0))


@pytest.mark.parametrize(
    "n, loss",
    [([10.0], [1.0]), ([10.0, 10.0], [1.0, 2.0]), ([1.0, 0.0], [1.0, 1.0]), ([1, 2], [1, -1])],
)
def test_what_cannot_be_fitted_is_refused(n, loss):
    with pytest.raises(ValueError):
        fit_power_law(np.asarray(n, float), np.asarray(loss, float))


def test_the_non_embedding_count():
    gpt2 = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
    assert non_embedding_parameters(gpt2) == 12 * (12 * 768**2 + 13 * 768) + 2 * 768
    assert count_parameters(gpt2) - non_embedding_parameters(gpt2) == (50257 + 1024) * 768

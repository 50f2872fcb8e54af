"""The gradient-checking toolkit itself: it must pass right gradients and catch wrong ones."""

import numpy as np
import pytest

from tinytransformer.gradcheck import check_gradients, numerical_gradient, rel_error
from tinytransformer.ops.layernorm import layernorm_backward, layernorm_forward
from tinytransformer.ops.softmax import softmax_backward, softmax_forward


def test_numerical_gradient_of_a_known_function():
    x = np.array([0.5, -1.0, 2.0])
    dout = np.array([1.0, 2.0, -3.0])
    # d/dx sum(sin(x) * dout) = cos(x) * dout
    grad = numerical_gradient(lambda: np.sin(x), x, dout)
    np.testing.assert_allclose(grad, np.cos(x) * dout, rtol=1e-9)
    np.testing.assert_array_equal(x, [0.5, -1.0, 2.0])  # restored


def test_numerical_gradient_refuses_float32():
    x = np.ones(2, dtype=np.float32)
    with pytest.raises(TypeError, match="x: finite differences need float64, got float32"):
        numerical_gradient(lambda: x, x, np.ones(2))


def test_rel_error_worked_examples():
    assert rel_error(np.array([1.0, -2.0]), np.array([1.0, -2.0])) == 0.0
    assert rel_error(np.array([0.0, 4.0]), np.array([0.0, 3.0])) == pytest.approx(0.25)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0  # the floor: no 0 / 0
    assert rel_error(np.zeros(2), np.array([1.0, 0.0])) == 1.0  # zeros never pass
    with pytest.raises(ValueError, match="a, b: expected equal shapes"):
        rel_error(np.zeros(2), np.zeros(3))


def test_check_gradients_catches_a_wrong_backward():
    rng = np.random.default_rng(0)
    inputs = {
        "x": rng.standard_normal((3, 5)),
        "w": rng.standard_normal(5),
        "b": rng.standard_normal(5),
    }

    def forgot_the_mean_terms(dout, cache):
        norm, w, rstd, _ = cache
        dx, dw, db = layernorm_backward(dout, cache)
        return dout * w * rstd, dw, db  # treats mean and rstd as constants: wrong

    right = check_gradients(layernorm_forward, layernorm_backward, inputs)
    wrong = check_gradients(layernorm_forward, forgot_the_mean_terms, inputs)
    assert max(right.values()) < 1e-8
    assert wrong["x"] > 1e-2 and wrong["w"] < 1e-8


def test_random_upstream_gradient_catches_a_zero_backward():
    """With dout = 1 the true softmax input gradient is 0; the check's random dout is not."""
    x = np.random.default_rng(1).standard_normal((2, 4))
    p, cache = softmax_forward(x)
    np.testing.assert_allclose(softmax_backward(np.ones_like(x), cache), 0.0, atol=1e-15)

    def zeros_backward(dout, cache):
        return (np.zeros_like(dout),)

    assert check_gradients(softmax_forward, zeros_backward, {"x": x})["x"] == 1.0


def test_check_gradients_handles_parameter_dicts():
    rng = np.random.default_rng(2)

    def forward(x, params):
        return x * params["a"] + params["b"], (x, params)

    def backward(dout, cache):
        x, params = cache
        return dout * params["a"], {"a": (dout * x).sum(0), "b": dout.sum(0)}

    inputs = {
        "x": rng.standard_normal((4, 3)),
        "params": {"a": rng.standard_normal(3), "b": rng.standard_normal(3)},
    }
    errors = check_gradients(forward, backward, inputs)
    assert set(errors) == {"x", "params.a", "params.b"}
    assert max(errors.values()) < 1e-8

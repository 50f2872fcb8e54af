"""Gradient checking: compare a hand-written backward pass with finite differences.

For an op y = f(x) and a random upstream gradient dout, backward should return
d/dx sum(f(x) * dout). Centred differences estimate the same number one element at a time:

    (sum(f(x + h e_i) * dout) - sum(f(x - h e_i) * dout)) / (2h)

with an error of order h^2. Run it in float64: in float32 the rounding error of f swamps the
difference. Use a random dout, never all ones: with dout = 1 the true input gradient of softmax
(and of layer norm with weight 1) is exactly zero, so a backward that returns zeros would pass.

Public on purpose: use it on your own layers.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> def square_forward(x):
...     return x * x, x
>>> def square_backward(dout, x):
...     return (2 * x * dout,)
>>> errors = check_gradients(square_forward, square_backward, {"x": rng.standard_normal(5)})
>>> errors["x"] < 1e-8
True
"""

import numpy as np


def numerical_gradient(f, x, dout, h=1e-5):
    """Centred-difference estimate of d/dx sum(f(x) * dout).

    f() takes no arguments and reads x, which is perturbed in place one element at a time and
    restored afterwards, so f must use this very array (a closure over it).

    >>> import numpy as np
    >>> x = np.array([1.0, 2.0])
    >>> np.round(numerical_gradient(lambda: x**2, x, np.ones(2)), 6).tolist()
    [2.0, 4.0]
    """
    if x.dtype != np.float64:
        raise TypeError(f"x: finite differences need float64, got {x.dtype}")
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.sum(f() * dout)
        x[i] = old - h
        minus = np.sum(f() * dout)
        x[i] = old  # restore before the next element
        grad[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b, floor=1e-12):
    """max |a - b| / max(max |a|, max |b|, floor): the worst deviation relative to the scale.

    Relative to the largest entry rather than element by element, so entries that happen to be
    near zero (where finite differences are all noise) do not dominate; the floor keeps two
    all-zero gradients from dividing 0 by 0.

    >>> rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.002]))
    0.000999...
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a, b: expected equal shapes, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(np.abs(a).max(), np.abs(b).max(), floor)
    return float(np.abs(a - b).max() / scale)


def check_gradients(forward, backward, inputs, kwargs=None, rng=None, h=1e-5):
    """Check every input of a forward/backward pair; return {name: worst relative error}.

    forward(**inputs, **kwargs) -> (out, cache); backward(dout, cache) -> the gradients of the
    inputs, in the order of `inputs` (a tuple), or a dict keyed like `inputs`. An input may itself
    be a dict of arrays (a parameter dict); its gradient is then a dict too, and its entries are
    reported as "input.key". A gradient of None means the input is not differentiable (an id
    array, a mask) and is skipped. forward must be deterministic: give it a fresh seeded
    Generator on each call if it uses dropout.
    """
    kwargs = kwargs or {}
    rng = rng if rng is not None else np.random.default_rng(0)
    out, cache = forward(**inputs, **kwargs)
    dout = rng.standard_normal(np.shape(out))  # random upstream gradient, never all ones
    grads = backward(dout, cache)
    if not isinstance(grads, dict):
        grads = dict(zip(inputs, grads if isinstance(grads, tuple) else (grads,)))

    def f():
        return forward(**inputs, **kwargs)[0]

    errors = {}
    for name, value in inputs.items():
        grad = grads.get(name)
        if isinstance(value, dict):
            for key, x in value.items():
                if grad is None or key not in grad:
                    raise KeyError(f"backward returned no gradient for {name}.{key}")
                errors[f"{name}.{key}"] = rel_error(grad[key], numerical_gradient(f, x, dout, h))
        elif grad is not None:
            errors[name] = rel_error(grad, numerical_gradient(f, value, dout, h))
    return errors

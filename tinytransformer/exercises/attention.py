"""The exercises of chapter 4.1 (注意力机制公式, the attention formula): softmax and its backward
pass, attention and its backward pass, and the backward pass of layer norm.

Each reference answer is the library's op (tinytransformer.ops); the cases are float64, with
random shapes and the edge cases a correct answer must survive (logits of 1000, one position, a
row whose values all but coincide). The mistakes are the wrong answers students write most.
"""

import math

import numpy as np

from tinytransformer.exercises.spec import Case, Exercise, Mistake
from tinytransformer.gradcheck import numerical_gradient
from tinytransformer.ops.attention import attention_backward, attention_forward
from tinytransformer.ops.layernorm import layernorm_backward, layernorm_forward
from tinytransformer.ops.softmax import softmax_backward, softmax_forward

# --- 4.1.1 softmax --------------------------------------------------------------------------------


def _softmax(x):
    return softmax_forward(x)[0]


def _softmax_cases():
    rng = np.random.default_rng(411)
    rows_apart = np.stack([rng.standard_normal(5), 1000.0 + rng.standard_normal(5)])
    return [
        Case("a row of 5", {"x": rng.standard_normal((1, 5))}),
        Case("a batch (3, 4)", {"x": rng.standard_normal((3, 4))}),
        Case("three axes (2, 3, 6)", {"x": 3.0 * rng.standard_normal((2, 3, 6))}),
        Case("one element (1, 1)", {"x": rng.standard_normal((1, 1))}),
        Case("logits near 1000: x + 1000", {"x": 1000.0 + rng.standard_normal((2, 5))}),
        Case("rows on different scales (0 and 1000)", {"x": rows_apart}),
        Case("very spread logits (x 60)", {"x": 60.0 * rng.standard_normal((4, 7))}),
    ]


def _exp(x):
    return np.exp(x)


SOFTMAX = Exercise(
    id="4.1.1",
    title="softmax along the last axis, stable for large logits",
    signature="softmax(x)",
    outputs=("p",),
    reference=_softmax,
    cases=_softmax_cases,
    mistakes=[
        Mistake(
            "no max subtraction",
            lambda x: _exp(x) / _exp(x).sum(axis=-1, keepdims=True),
            "exp(1000) overflows to inf and inf / inf is NaN. Subtract each row's maximum "
            "first: softmax(x) = softmax(x - max(x)), and the largest exponent is then exp(0).",
        ),
        Mistake(
            "the maximum of the whole array subtracted, not each row's",
            lambda x: _exp(x - x.max()) / _exp(x - x.max()).sum(axis=-1, keepdims=True),
            "A row far below the global maximum underflows to exp(-1000) = 0 everywhere, and "
            "0 / 0 is NaN. Use x.max(axis=-1, keepdims=True).",
        ),
        Mistake(
            "normalised over the whole array",
            lambda x: _exp(x - x.max()) / _exp(x - x.max()).sum(),
            "Each row is its own distribution: sum over the last axis only (axis=-1, "
            "keepdims=True), so every row sums to 1.",
        ),
        Mistake(
            "normalised along the first axis",
            lambda x: _exp(x - x.max(axis=0)) / _exp(x - x.max(axis=0)).sum(axis=0),
            "The probabilities run along the LAST axis (the keys, the vocabulary): axis=-1.",
        ),
        Mistake(
            "not normalised",
            lambda x: _exp(x - x.max(axis=-1, keepdims=True)),
            "After the exponentials, divide by their sum over the row.",
        ),
    ],
    hint="p = exp(x - m) / sum(exp(x - m)) with m = x.max(axis=-1, keepdims=True); every row of "
    "p is positive and sums to 1.",
)


# --- 4.1.2 softmax backward -----------------------------------------------------------------------


def _softmax_backward_cases():
    rng = np.random.default_rng(412)
    cases = []
    for name, shape, scale in [
        ("a row of 5", (1, 5), 1.0),
        ("a batch (3, 4)", (3, 4), 1.0),
        ("three axes (2, 3, 6)", (2, 3, 6), 2.0),
        ("one element (1, 1)", (1, 1), 1.0),
        ("peaked rows (x 5)", (2, 6), 5.0),
    ]:
        x = scale * rng.standard_normal(shape)
        dout = rng.standard_normal(shape)  # a random upstream gradient, never all ones
        cases.append(Case(name, {"dout": dout, "p": _softmax(x)}, source={"x": x}))
    return cases


def _softmax_backward_numerical(case):
    x = case.source["x"].copy()
    return (numerical_gradient(lambda: _softmax(x), x, case.inputs["dout"]),)


SOFTMAX_BACKWARD = Exercise(
    id="4.1.2",
    title="the backward pass of softmax: d loss / d x from d loss / d p",
    signature="softmax_backward(dout, p)",
    outputs=("dx",),
    reference=softmax_backward,
    cases=_softmax_backward_cases,
    numerical=_softmax_backward_numerical,
    mistakes=[
        Mistake(
            "the sum term of the softmax Jacobian dropped",
            lambda dout, p: p * dout,
            "Every p_j depends on every x_i through the denominator: dp_j/dx_i = "
            "p_j (delta_ij - p_i), so dx = p * (dout - sum(dout * p)) over the row.",
        ),
        Mistake(
            "only the diagonal of the Jacobian kept",
            lambda dout, p: p * (1 - p) * dout,
            "p (1 - p) is the diagonal dp_i/dx_i; the off-diagonal entries -p_i p_j add up to "
            "the term -p * sum(dout * p).",
        ),
        Mistake(
            "the result not multiplied by p",
            lambda dout, p: dout - (dout * p).sum(axis=-1, keepdims=True),
            "The Jacobian-vector product is p * (dout - sum(dout * p)): multiply by p.",
        ),
        Mistake(
            "the sum taken over the wrong axis",
            lambda dout, p: p * (dout - (dout * p).sum(axis=0, keepdims=True)),
            "The sum runs over each row (axis=-1, keepdims=True), like the softmax itself.",
        ),
    ],
    hint="dx = p * (dout - (dout * p).sum(axis=-1, keepdims=True)).",
)


# --- 4.1.3 attention ------------------------------------------------------------------------------


def _attention(q, k, v, causal):
    return attention_forward(q, k, v, causal=causal)[0]


def _attention_cases():
    rng = np.random.default_rng(413)
    cases = []
    for name, (B, nh, T, hs), causal, scale in [
        ("causal, one head (1, 1, 4, 8)", (1, 1, 4, 8), True, 1.0),
        ("causal, (2, 3, 5, 4)", (2, 3, 5, 4), True, 1.0),
        ("not causal, (2, 2, 6, 3)", (2, 2, 6, 3), False, 1.0),
        ("one position, causal (1, 2, 1, 4)", (1, 2, 1, 4), True, 1.0),
        ("causal, large scores (1, 2, 7, 16)", (1, 2, 7, 16), True, 3.0),
        ("not causal, T = hs (1, 1, 4, 4)", (1, 1, 4, 4), False, 1.0),
    ]:
        q, k, v = (scale * rng.standard_normal((B, nh, T, hs)) for _ in range(3))
        cases.append(Case(name, {"q": q, "k": k, "v": v, "causal": causal}))
    return cases


def _attend(scores, v, causal, mask_offset=0, after=False, axis=-1):
    """A configurable attention core for the wrong answers below: scores (B, nh, T, T)."""
    T = scores.shape[-1]
    allowed = np.tril(np.ones((T, T), dtype=bool), mask_offset) if causal else np.ones((T, T), bool)
    if not after:
        scores = np.where(allowed, scores, -np.inf)
    m = scores.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(scores - m)
    att = e / np.where(e.sum(axis=axis, keepdims=True) == 0, 1.0, e.sum(axis=axis, keepdims=True))
    if after:
        att = att * allowed
    return att @ v


def _scores(q, k, scale):
    return q @ k.swapaxes(-1, -2) * scale


ATTENTION = Exercise(
    id="4.1.3",
    title="multi-head scaled dot-product attention with an optional causal mask",
    signature="attention(q, k, v, causal)",
    outputs=("out",),
    reference=_attention,
    cases=_attention_cases,
    mistakes=[
        Mistake(
            "V left out (the article's formula)",
            lambda q, k, v, causal: _attend(
                _scores(q, k, 1 / math.sqrt(q.shape[-1])), np.eye(q.shape[-2]), causal
            ),
            "softmax(q @ k^T / sqrt(hs) + M) is only the attention weights, (B, nh, T, T); the "
            "output is those weights applied to the values: weights @ v, shaped like v.",
        ),
        Mistake(
            "no 1/sqrt(hs) scaling",
            lambda q, k, v, causal: _attend(_scores(q, k, 1.0), v, causal),
            "Divide the scores q @ k^T by sqrt(hs), hs = q.shape[-1]: without it their spread "
            "grows like sqrt(hs) and the softmax saturates.",
        ),
        Mistake(
            "scaled by 1/hs instead of 1/sqrt(hs)",
            lambda q, k, v, causal: _attend(_scores(q, k, 1.0 / q.shape[-1]), v, causal),
            "The scale is 1 / sqrt(hs): a sum of hs products of unit-variance numbers has "
            "variance hs, so its standard deviation is sqrt(hs).",
        ),
        Mistake(
            "mask off by one: a position cannot see itself",
            lambda q, k, v, causal: _attend(
                _scores(q, k, 1 / math.sqrt(q.shape[-1])), v, causal, -1
            ),
            "Query i may attend keys 0..i, itself included: block only the keys j > i "
            "(np.triu(..., k=1)).",
        ),
        Mistake(
            "mask off by one: a position sees the next one",
            lambda q, k, v, causal: _attend(
                _scores(q, k, 1 / math.sqrt(q.shape[-1])), v, causal, 1
            ),
            "Query i may attend keys 0..i and no later: block every j > i.",
        ),
        Mistake(
            "the mask applied after the softmax",
            lambda q, k, v, causal: _attend(
                _scores(q, k, 1 / math.sqrt(q.shape[-1])), v, causal, after=True
            ),
            "Zeroing probabilities after the softmax leaves rows that no longer sum to 1. Add "
            "-inf to the blocked scores BEFORE the softmax (the + M of the formula).",
        ),
        Mistake(
            "softmax over the queries instead of the keys",
            lambda q, k, v, causal: _attend(
                _scores(q, k, 1 / math.sqrt(q.shape[-1])), v, causal, axis=-2
            ),
            "Each query's weights over the keys sum to 1: the softmax runs along the last axis "
            "of the (B, nh, Tq, Tk) scores.",
        ),
        Mistake(
            "the causal flag ignored (never masked)",
            lambda q, k, v, causal: _attend(_scores(q, k, 1 / math.sqrt(q.shape[-1])), v, False),
            "With causal=True, query i must not see keys j > i.",
        ),
        Mistake(
            "the causal mask applied even with causal=False",
            lambda q, k, v, causal: _attend(_scores(q, k, 1 / math.sqrt(q.shape[-1])), v, True),
            "With causal=False every query sees every key.",
        ),
    ],
    hint="out = softmax(q @ k^T / sqrt(hs) + M) @ v, with M = -inf above the diagonal when "
    "causal (np.triu(np.ones((T, T), bool), k=1)) and 0 elsewhere. The output has v's shape; "
    "the weights alone (the article's formula, without V) have shape (B, nh, T, T).",
)


# --- 4.1.4 attention backward ---------------------------------------------------------------------


def _attention_backward(dout, q, k, v, causal):
    _, cache = attention_forward(q, k, v, causal=causal)
    return attention_backward(dout, cache)


def _attention_backward_cases():
    rng = np.random.default_rng(414)
    cases = []
    for name, (B, nh, T, hs), causal in [
        ("causal, one head (1, 1, 4, 3)", (1, 1, 4, 3), True),
        ("causal, (2, 2, 5, 4)", (2, 2, 5, 4), True),
        ("not causal, (1, 2, 4, 3)", (1, 2, 4, 3), False),
        ("one position (1, 1, 1, 2)", (1, 1, 1, 2), True),
    ]:
        q, k, v, dout = (rng.standard_normal((B, nh, T, hs)) for _ in range(4))
        cases.append(Case(name, {"dout": dout, "q": q, "k": k, "v": v, "causal": causal}))
    return cases


def _attention_backward_numerical(case):
    inputs = {n: case.inputs[n].copy() for n in ("q", "k", "v")}
    causal, dout = case.inputs["causal"], case.inputs["dout"]

    def f():
        return _attention(inputs["q"], inputs["k"], inputs["v"], causal)

    return tuple(numerical_gradient(f, inputs[n], dout) for n in ("q", "k", "v"))


def _backward_variant(dout, q, k, v, causal, scale=True, sum_term=True, dv_t=True, dk_t=True):
    """The attention backward with one step changed, for the wrong answers below."""
    s = 1 / math.sqrt(q.shape[-1])
    _, cache = attention_forward(q, k, v, causal=causal)
    att = cache["att"]  # (B, nh, T, T)
    datt = dout @ v.swapaxes(-1, -2)
    dv = (att.swapaxes(-1, -2) if dv_t else att) @ dout
    if sum_term:
        dscores = att * (datt - (datt * att).sum(axis=-1, keepdims=True))
    else:
        dscores = att * datt
    if scale:
        dscores = dscores * s
    dq = dscores @ k
    dk = (dscores.swapaxes(-1, -2) if dk_t else dscores) @ q
    return dq, dk, dv


ATTENTION_BACKWARD = Exercise(
    id="4.1.4",
    title="the backward pass of attention: dq, dk, dv",
    signature="attention_backward(dout, q, k, v, causal)",
    outputs=("dq", "dk", "dv"),
    reference=_attention_backward,
    cases=_attention_backward_cases,
    numerical=_attention_backward_numerical,
    mistakes=[
        Mistake(
            "the 1/sqrt(hs) scale left out of dq and dk",
            lambda dout, q, k, v, causal: _backward_variant(dout, q, k, v, causal, scale=False),
            "scores = q @ k^T / sqrt(hs): the factor 1/sqrt(hs) multiplies dscores too.",
        ),
        Mistake(
            "the sum term of the softmax Jacobian dropped",
            lambda dout, q, k, v, causal: _backward_variant(dout, q, k, v, causal, sum_term=False),
            "dscores = att * (datt - sum(datt * att)) over each row: exercise 4.1.2.",
        ),
        Mistake(
            "dv = att @ dout (the transpose of att forgotten)",
            lambda dout, q, k, v, causal: _backward_variant(dout, q, k, v, causal, dv_t=False),
            "out = att @ v, so dv = att^T @ dout: (B, nh, Tk, Tq) @ (B, nh, Tq, hs).",
        ),
        Mistake(
            "dk = dscores @ q (the transpose of dscores forgotten)",
            lambda dout, q, k, v, causal: _backward_variant(dout, q, k, v, causal, dk_t=False),
            "scores = q @ k^T, so dk = dscores^T @ q. With Tq = Tk the shapes agree either way, "
            "so only the values tell.",
        ),
    ],
    hint="Recompute att = softmax(q @ k^T / sqrt(hs) + M); then, reading the forward "
    "backwards: datt = dout @ v^T, dv = att^T @ dout, dscores = att * (datt - sum(datt * att)) "
    "/ sqrt(hs), dq = dscores @ k, dk = dscores^T @ q.",
)


# --- 4.1.5 layer norm backward --------------------------------------------------------------------


def _layernorm_backward(dout, x, w, eps=1e-5):
    _, cache = layernorm_forward(x, w, np.zeros_like(w), eps)
    return layernorm_backward(dout, cache)


def _layernorm_cases():
    rng = np.random.default_rng(415)
    near_constant = lambda s: 1.0 + 1e-2 * rng.standard_normal(s)  # noqa: E731
    cases = []
    for name, shape, make_x, eps in [
        ("a row of 8", (1, 8), lambda s: rng.standard_normal(s), 1e-5),
        ("a batch (3, 5)", (3, 5), lambda s: rng.standard_normal(s), 1e-5),
        ("three axes (2, 3, 6)", (2, 3, 6), lambda s: 2.0 + 3.0 * rng.standard_normal(s), 1e-5),
        ("rows far from 0 (x + 100)", (2, 4), lambda s: 100.0 + rng.standard_normal(s), 1e-5),
        ("nearly constant rows (spread 1e-2, where eps matters)", (2, 6), near_constant, 1e-5),
        ("the same kind of rows with eps = 1e-3 (eps is an argument)", (2, 6), near_constant, 1e-3),
    ]:
        x = make_x(shape)
        w = 1.0 + 0.5 * rng.standard_normal(shape[-1])
        dout = rng.standard_normal(shape)
        cases.append(Case(name, {"dout": dout, "x": x, "w": w, "eps": eps}))
    return cases


def _layernorm_numerical(case):
    x, w, dout, eps = (case.inputs[n] for n in ("x", "w", "dout", "eps"))
    x, w = x.copy(), w.copy()
    b = np.zeros_like(w)

    def f():
        return layernorm_forward(x, w, b, eps)[0]

    return tuple(numerical_gradient(f, a, dout) for a in (x, w, b))


def _ln_variant(dout, x, w, eps=1e-5, ddof=0, constant=False, drop=None, dw_of_x=False,
                no_eps=False):  # fmt: skip
    """The layer-norm backward with one step changed, for the wrong answers below."""
    C = x.shape[-1]
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).sum(axis=-1, keepdims=True) / (C - ddof)
    rstd = 1 / np.sqrt(var + (0.0 if no_eps else eps))
    norm = (x - mean) * rstd
    dnorm = dout * w
    lead = tuple(range(x.ndim - 1))
    dw = (dout * (x if dw_of_x else norm)).sum(axis=lead)
    db = dout.sum(axis=lead)
    if constant:
        return dnorm * rstd, dw, db
    mean_term = 0 if drop == "mean" else dnorm.mean(axis=-1, keepdims=True)
    norm_term = 0 if drop == "norm" else norm * (dnorm * norm).mean(axis=-1, keepdims=True)
    return (dnorm - mean_term - norm_term) * rstd, dw, db


LAYERNORM_BACKWARD = Exercise(
    id="4.1.5",
    title="the backward pass of layer norm: dx, dw, db",
    signature="layernorm_backward(dout, x, w, eps=1e-5)",
    outputs=("dx", "dw", "db"),
    reference=_layernorm_backward,
    cases=_layernorm_cases,
    numerical=_layernorm_numerical,
    mistakes=[
        Mistake(
            "unbiased variance (divided by C - 1)",
            lambda dout, x, w, eps=1e-5: _ln_variant(dout, x, w, eps, ddof=1),
            "GPT-2's layer norm divides by C (np.var's default, ddof=0), not C - 1.",
        ),
        Mistake(
            "the mean and the variance treated as constants",
            lambda dout, x, w, eps=1e-5: _ln_variant(dout, x, w, eps, constant=True),
            "Both depend on every x of the row, so dx has two more terms: "
            "dx = (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) * rstd.",
        ),
        Mistake(
            "the mean(dnorm) term dropped",
            lambda dout, x, w, eps=1e-5: _ln_variant(dout, x, w, eps, drop="mean"),
            "Subtracting the mean moves with every x of the row: its term is -mean(dnorm).",
        ),
        Mistake(
            "the norm * mean(dnorm * norm) term dropped",
            lambda dout, x, w, eps=1e-5: _ln_variant(dout, x, w, eps, drop="norm"),
            "Dividing by the standard deviation moves with every x of the row: its term is "
            "-norm * mean(dnorm * norm).",
        ),
        Mistake(
            "eps left out",
            lambda dout, x, w, eps=1e-5: _ln_variant(dout, x, w, eps, no_eps=True),
            "rstd = 1 / sqrt(var + eps): eps is part of the forward (it keeps a constant row "
            "finite), so the backward uses the same rstd.",
        ),
        Mistake(
            "dw computed from x instead of the normalised x",
            lambda dout, x, w, eps=1e-5: _ln_variant(dout, x, w, eps, dw_of_x=True),
            "y = norm * w + b, so dw = sum over rows of dout * norm.",
        ),
    ],
    hint="With norm = (x - mean) * rstd and dnorm = dout * w: dx = (dnorm - mean(dnorm) - "
    "norm * mean(dnorm * norm)) * rstd (means over the last axis), dw = sum(dout * norm) and "
    "db = sum(dout) over every axis but the last.",
)

EXERCISES = [SOFTMAX, SOFTMAX_BACKWARD, ATTENTION, ATTENTION_BACKWARD, LAYERNORM_BACKWARD]

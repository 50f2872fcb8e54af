"""The exercises of chapter 4.1 (注意力机制公式, the attention formula): softmax and its backward
pass, attention and its backward pass, and the backward pass of layer norm.

Each reference answer is the library's op (tinytransformer.ops); the cases are float64, with
random shapes and the edge cases a correct answer must survive: rows that span more than exp's
range (709) so that only subtracting the row's maximum keeps them finite, attention scores near
1000, one position, a row whose values all but coincide. The mistakes are the wrong answers
students write most.
"""

import math

import numpy as np

from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.gradcheck import numerical_gradient
from tinytransformer.ops.attention import attention_backward, attention_forward
from tinytransformer.ops.layernorm import layernorm_backward, layernorm_forward
from tinytransformer.ops.softmax import softmax_backward, softmax_forward

# --- shared helpers: random shapes and the properties every answer's outputs have ----------------


def random_shape(rng, last_low=1, last_high=9):
    """(1 to 3 leading axes of 1..4, then a last axis of last_low..last_high)."""
    lead = tuple(int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 4))))
    return (*lead, int(rng.integers(last_low, last_high + 1)))


def shaped_like(output, name, like):
    """A Property: output number `output` has the shape of input `like`."""

    def broken(inputs, got):
        shape = np.shape(got[output])
        return (
            f"its shape is {shape}, not {like}'s {inputs[like].shape}"
            if shape != np.shape(inputs[like])
            else None
        )

    return Property(f"{name} has the shape of {like}", broken)


def rows_sum_to(total, name):
    """A Property: every row (last axis) of the first output sums to `total`."""

    def broken(inputs, got):
        return worst_row(np.asarray(got[0], dtype=float).sum(axis=-1), total, "sums to")

    return Property(name, broken)


def worst_row(values, target, what):
    """'row (1,) sums to 0.83' for the row of `values` farthest from `target`, or None."""
    gap = np.abs(values - target)
    if not np.all(np.isfinite(gap)):
        i = tuple(int(j) for j in np.argwhere(~np.isfinite(gap))[0])
        return f"row {i} {what} {values[i]}"
    if gap.size == 0 or gap.max() < 1e-6 * max(1.0, np.abs(target).max(initial=0)):
        return None
    i = tuple(int(j) for j in np.unravel_index(np.argmax(gap), gap.shape))
    return f"row {i} {what} {values[i]:.6g}"


# --- 4.1.1 softmax --------------------------------------------------------------------------------


def _softmax(x):
    return softmax_forward(x)[0]


def _softmax_edge_cases():
    rng = np.random.default_rng(411)
    apart = np.stack([rng.standard_normal(5), 1000.0 + rng.standard_normal(5)])
    far_above = np.stack([[0.0, 0.0, 0.0, 0.0, 1500.0], 3.0 * rng.standard_normal(5)])
    masked = rng.standard_normal((2, 4))
    masked[0, 1] = -np.inf
    return [
        Case("a row of 5", {"x": rng.standard_normal((1, 5))}),
        Case("one element (1, 1)", {"x": rng.standard_normal((1, 1))}),
        Case("logits near 1000: x + 1000", {"x": 1000.0 + rng.standard_normal((2, 5))}),
        Case("rows on different scales (0 and 1000)", {"x": apart}),
        Case("a row spanning 1500: one logit far above the rest", {"x": far_above}),
        Case("a row spanning 720 (0 to 720)", {"x": np.array([[0.0, 720.0, 700.0, 360.0]])}),
        Case("a row spanning 1600 both ways: -800 and +800", {"x": np.array([[-800.0, 0, 800]])}),
        Case("a masked entry (-inf) in a row", {"x": masked}),
    ]


def _softmax_random_cases(rng):
    cases = []
    for scale, offset in [(1.0, 0.0), (60.0, 0.0), (400.0, 0.0), (3.0, rng.choice([-1e3, 1e3]))]:
        shape = random_shape(rng)
        x = offset + scale * rng.standard_normal(shape)
        cases.append(Case(f"random {shape}, x {scale:g} + {offset:g}", {"x": x}))
    return cases


def _exp(x):
    return np.exp(x)


def _softmax_shifted_by(x, m):
    e = _exp(x - m)
    return e / e.sum(axis=-1, keepdims=True)


def _probabilities(inputs, got):
    p = np.asarray(got[0], dtype=float)
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        return f"the entry at {i} is {p[i]}"
    return None


SOFTMAX = Exercise(
    id="4.1.1",
    title="softmax along the last axis, stable for large logits",
    signature="softmax(x)",
    outputs=("p",),
    reference=_softmax,
    edge_cases=_softmax_edge_cases,
    random_cases=_softmax_random_cases,
    library=("tinytransformer.ops.softmax.softmax_forward",),
    mistakes=(
        Mistake(
            "no max subtraction",
            lambda x: _softmax_shifted_by(x, 0.0),
            "exp(1000) overflows to inf and inf / inf is NaN. Subtract each row's maximum "
            "first: softmax(x) = softmax(x - max(x)), and the largest exponent is then exp(0).",
        ),
        Mistake(
            "the row's minimum subtracted instead of its maximum",
            lambda x: _softmax_shifted_by(x, x.min(axis=-1, keepdims=True)),
            "Subtracting a constant is right, but it must be the row's MAXIMUM: then every "
            "exponent is <= 0 and exp cannot overflow. With the minimum, a row spanning more "
            "than 709 overflows.",
        ),
        Mistake(
            "the row's mean subtracted instead of its maximum",
            lambda x: _softmax_shifted_by(x, x.mean(axis=-1, keepdims=True)),
            "The mean keeps exponents small only while the row is narrow: a logit more than 709 "
            "above the mean still overflows. Subtract the maximum.",
        ),
        Mistake(
            "the maximum of the whole array subtracted, not each row's",
            lambda x: _softmax_shifted_by(x, x.max()),
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
    ),
    properties=(
        shaped_like(0, "p", "x"),
        Property("every probability is a number in [0, 1]", _probabilities),
        rows_sum_to(1.0, "every row sums to 1"),
    ),
    formula="p = exp(x - m) / sum(exp(x - m)) with m = x.max(axis=-1, keepdims=True): "
    "subtracting each row's maximum changes nothing mathematically and keeps every exponent "
    "<= 0.",
)


# --- 4.1.2 softmax backward -----------------------------------------------------------------------


def _softmax_backward(dout, p):
    return softmax_backward(dout, p)


def _softmax_backward_case(rng, name, shape, scale):
    x = scale * rng.standard_normal(shape)
    dout = rng.standard_normal(shape)  # a random upstream gradient, never all ones
    return Case(name, {"dout": dout, "p": _softmax(x)}, source={"x": x})


def _softmax_backward_edge_cases():
    rng = np.random.default_rng(412)
    return [
        _softmax_backward_case(rng, name, shape, scale)
        for name, shape, scale in [
            ("a row of 5", (1, 5), 1.0),
            ("a batch (3, 4)", (3, 4), 1.0),
            ("three axes (2, 3, 6)", (2, 3, 6), 2.0),
            ("one element (1, 1)", (1, 1), 1.0),
            ("peaked rows (x 5)", (2, 6), 5.0),
            ("nearly one-hot rows (x 30)", (2, 5), 30.0),
        ]
    ]


def _softmax_backward_random_cases(rng):
    cases = []
    for scale in (1.0, rng.choice([3.0, 10.0])):
        shape = random_shape(rng, 2, 8)
        cases.append(_softmax_backward_case(rng, f"random {shape}, x {scale:g}", shape, scale))
    return cases


def _softmax_backward_numerical(case):
    x = case.source["x"].copy()
    return (numerical_gradient(lambda: _softmax(x), x, case.inputs["dout"]),)


SOFTMAX_BACKWARD = Exercise(
    id="4.1.2",
    title="the backward pass of softmax: d loss / d x from d loss / d p",
    signature="softmax_backward(dout, p)",
    outputs=("dx",),
    reference=_softmax_backward,
    edge_cases=_softmax_backward_edge_cases,
    random_cases=_softmax_backward_random_cases,
    numerical=_softmax_backward_numerical,
    # a peaked row's dx is ~0 by cancellation: its rounding is measured against dout * p
    floor=lambda inputs: float(np.abs(inputs["dout"]).max() * inputs["p"].max()),
    library=("tinytransformer.ops.softmax.softmax_backward",),
    mistakes=(
        Mistake(
            "the sum term of the softmax Jacobian dropped",
            lambda dout, p: p * dout,
            "Every p_j depends on every x_i through the denominator: dp_j/dx_i = "
            "p_j (delta_ij - p_i), so the row's sum of dout * p enters each dx.",
        ),
        Mistake(
            "only the diagonal of the Jacobian kept",
            lambda dout, p: p * (1 - p) * dout,
            "p (1 - p) is the diagonal dp_i/dx_i; the off-diagonal entries -p_i p_j add up to "
            "one more term per row.",
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
        Mistake(
            "the sum taken over the whole array",
            lambda dout, p: p * (dout - (dout * p).sum()),
            "Each row is its own softmax: sum dout * p over the last axis only.",
        ),
    ),
    properties=(
        shaped_like(0, "dx", "dout"),
        rows_sum_to(0.0, "every row of dx sums to 0 (shifting x by a constant changes no p)"),
    ),
    formula="dx = p * (dout - (dout * p).sum(axis=-1, keepdims=True)), from dp_j/dx_i = "
    "p_j (delta_ij - p_i).",
)


# --- 4.1.3 attention ------------------------------------------------------------------------------


def _attention(q, k, v, causal):
    return attention_forward(q, k, v, causal=causal)[0]


def near_1000(rng, shape, level=1000.0):
    """q, k, v (B, nh, T, hs) whose scores q . k / sqrt(hs) sit near `level` and differ from
    each other by a few units: past exp's range (709) for level 1000, and still far from a
    one-hot softmax, so an answer without the max subtraction overflows while a right one gets
    every weight right."""
    B, nh, T, hs = shape
    u = rng.standard_normal((B, nh, 1, hs))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)  # one unit direction per head
    q = level * math.sqrt(hs) * (u + 0.002 * rng.standard_normal(shape))
    k = u + 0.002 * rng.standard_normal(shape)
    return q, k, rng.standard_normal(shape)


def _attention_case(rng, name, shape, causal, scale=1.0, large=False):
    if large:
        q, k, v = near_1000(rng, shape)
    else:
        q, k, v = (scale * rng.standard_normal(shape) for _ in range(3))
    return Case(f"{name} {shape}", {"q": q, "k": k, "v": v, "causal": causal})


def _attention_edge_cases():
    rng = np.random.default_rng(413)
    return [
        _attention_case(rng, "causal, one head", (1, 1, 4, 8), True),
        _attention_case(rng, "causal", (2, 3, 5, 4), True),
        _attention_case(rng, "not causal", (2, 2, 6, 3), False),
        _attention_case(rng, "one position, causal", (1, 2, 1, 4), True),
        _attention_case(rng, "not causal, T = hs", (1, 1, 4, 4), False),
        _attention_case(
            rng, "causal, scores near 1000 (past exp's range)", (1, 2, 6, 4), True, large=True
        ),
        _attention_case(rng, "not causal, scores near 1000", (2, 1, 5, 4), False, large=True),
    ]


def _attention_random_cases(rng):
    cases = []
    for k in range(3):
        shape = tuple(
            int(n)
            for n in (
                rng.integers(1, 3),
                rng.integers(1, 4),
                rng.integers(1, 8),
                rng.integers(2, 9),
            )
        )
        causal = bool(rng.integers(2))
        cases.append(
            _attention_case(
                rng,
                f"random, causal={causal},",
                shape,
                causal,
                scale=float(rng.choice([1.0, 3.0])),
                large=k == 2,
            )
        )
    return cases


def _attend(scores, v, causal, mask_offset=0, after=False, axis=-1, stable=True):
    """A configurable attention core for the wrong answers below: scores (B, nh, T, T)."""
    T = scores.shape[-1]
    allowed = np.tril(np.ones((T, T), dtype=bool), mask_offset) if causal else np.ones((T, T), bool)
    if not after:
        scores = np.where(allowed, scores, -np.inf)
    m = scores.max(axis=axis, keepdims=True) if stable else 0.0
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(scores - m)
    total = e.sum(axis=axis, keepdims=True)
    att = e / np.where(total == 0, 1.0, total)
    if after:
        att = att * allowed
    return att @ v


def _scores(q, k, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    return q @ k.swapaxes(-1, -2) * scale


def _convex(inputs, got):
    """Each output row is a weighted average of v's rows: within their range, per channel."""
    out, v = np.asarray(got[0], dtype=float), inputs["v"]
    low, high = v.min(axis=-2, keepdims=True), v.max(axis=-2, keepdims=True)
    slack = 1e-9 * (1 + np.abs(v).max())
    bad = ~np.isfinite(out) | (out < low - slack) | (out > high + slack)
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        return f"out{list(i)} = {out[i]:.6g} is outside the values of v in that channel"
    return None


def _first_query(inputs, got):
    if not inputs["causal"]:
        return None
    out, v = np.asarray(got[0], dtype=float), inputs["v"]
    gap = np.abs(out[..., 0, :] - v[..., 0, :]).max()
    return None if gap < 1e-9 * (1 + np.abs(v).max()) else f"they differ by {gap:.3g}"


ATTENTION = Exercise(
    id="4.1.3",
    title="multi-head scaled dot-product attention with an optional causal mask",
    signature="attention(q, k, v, causal)",
    outputs=("out",),
    reference=_attention,
    edge_cases=_attention_edge_cases,
    random_cases=_attention_random_cases,
    floor=lambda inputs: float(np.abs(inputs["v"]).max()),  # out averages v's rows
    library=("tinytransformer.ops.attention.attention_forward",),
    may_use=("tinytransformer.ops.softmax.softmax_forward",),
    mistakes=(
        Mistake(
            "V left out (the article's formula)",
            lambda q, k, v, causal: _attend(_scores(q, k), np.eye(q.shape[-2]), causal),
            "softmax(q @ k^T / sqrt(hs) + M) is only the attention weights, (B, nh, T, T); the "
            "output is those weights applied to the values: weights @ v, shaped like v.",
        ),
        Mistake(
            "no max subtraction in the softmax",
            lambda q, k, v, causal: _attend(_scores(q, k), v, causal, stable=False),
            "Scores of 1000 overflow exp. Subtract each row's maximum before exp, as in 4.1.1 "
            "(a masked -inf entry stays -inf).",
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
            lambda q, k, v, causal: _attend(_scores(q, k), v, causal, -1),
            "Query i may attend keys 0..i, itself included: block only the keys j > i "
            "(np.triu(..., k=1)).",
        ),
        Mistake(
            "mask off by one: a position sees the next one",
            lambda q, k, v, causal: _attend(_scores(q, k), v, causal, 1),
            "Query i may attend keys 0..i and no later: block every j > i.",
        ),
        Mistake(
            "the mask applied after the softmax",
            lambda q, k, v, causal: _attend(_scores(q, k), v, causal, after=True),
            "Zeroing probabilities after the softmax leaves rows that no longer sum to 1. Add "
            "-inf to the blocked scores BEFORE the softmax (the + M of the formula).",
        ),
        Mistake(
            "softmax over the queries instead of the keys",
            lambda q, k, v, causal: _attend(_scores(q, k), v, causal, axis=-2),
            "Each query's weights over the keys sum to 1: the softmax runs along the last axis "
            "of the (B, nh, Tq, Tk) scores.",
        ),
        Mistake(
            "the causal flag ignored (never masked)",
            lambda q, k, v, causal: _attend(_scores(q, k), v, False),
            "With causal=True, query i must not see keys j > i.",
        ),
        Mistake(
            "the causal mask applied even with causal=False",
            lambda q, k, v, causal: _attend(_scores(q, k), v, True),
            "With causal=False every query sees every key.",
        ),
    ),
    properties=(
        shaped_like(0, "out", "v"),
        Property(
            "with causal=True the first query sees only the first key, so out[..., 0, :] "
            "equals v[..., 0, :]",
            _first_query,
        ),
        Property(
            "each output row is a weighted average of v's rows (weights >= 0, sum 1)", _convex
        ),
    ),
    formula="out = softmax(q @ k^T / sqrt(hs) + M) @ v, the softmax over the keys (the last axis) "
    "with each row's maximum subtracted; M = -inf above the diagonal when causal "
    "(np.triu(np.ones((T, T), bool), k=1)), 0 elsewhere. The output has v's shape.",
)


# --- 4.1.4 attention backward ---------------------------------------------------------------------


def _attention_backward(dout, q, k, v, causal):
    _, cache = attention_forward(q, k, v, causal=causal)
    return attention_backward(dout, cache)


def _attention_backward_case(rng, name, shape, causal, large=False):
    q, k, v = near_1000(rng, shape) if large else (rng.standard_normal(shape) for _ in range(3))
    inputs = {"dout": rng.standard_normal(shape), "q": q, "k": k, "v": v, "causal": causal}
    # finite differences cannot resolve scores near 1000 (a step of 1e-5 in k moves a score
    # by 1e-2): those cases are checked against the library only
    return Case(f"{name} {shape}", inputs, source={"finite differences": not large})


def _attention_backward_edge_cases():
    rng = np.random.default_rng(414)
    return [
        _attention_backward_case(rng, "causal, one head", (1, 1, 4, 3), True),
        _attention_backward_case(rng, "causal", (2, 2, 5, 4), True),
        _attention_backward_case(rng, "not causal", (1, 2, 4, 3), False),
        _attention_backward_case(rng, "one position", (1, 1, 1, 2), True),
        _attention_backward_case(rng, "causal, scores near 1000", (1, 2, 5, 4), True, True),
        _attention_backward_case(rng, "not causal, scores near 1000", (1, 1, 4, 3), False, True),
    ]


def _attention_backward_random_cases(rng):
    cases = []
    for large in (False, True):
        shape = tuple(
            int(n) for n in (1, rng.integers(1, 3), rng.integers(2, 6), rng.integers(2, 5))
        )
        causal = bool(rng.integers(2))
        name = f"random, causal={causal}{', scores near 1000' if large else ''},"
        cases.append(_attention_backward_case(rng, name, shape, causal, large))
    return cases


def _attention_backward_numerical(case):
    if not case.source.get("finite differences", True):
        return None
    inputs = {n: case.inputs[n].copy() for n in ("q", "k", "v")}
    causal, dout = case.inputs["causal"], case.inputs["dout"]

    def f():
        return _attention(inputs["q"], inputs["k"], inputs["v"], causal)

    return tuple(numerical_gradient(f, inputs[n], dout) for n in ("q", "k", "v"))


def _backward_variant(
    dout, q, k, v, causal, scale=True, sum_term=True, dv_t=True, dk_t=True, stable=True
):
    """The attention backward with one step changed, for the wrong answers below."""
    s = 1 / math.sqrt(q.shape[-1])
    T = q.shape[-2]
    scores = _scores(q, k)
    if causal:
        scores = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, scores)
    m = scores.max(axis=-1, keepdims=True) if stable else 0.0
    e = np.exp(scores - m)
    att = e / e.sum(axis=-1, keepdims=True)  # (B, nh, T, T)
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


def _backward_floors(inputs):
    """The magnitudes dq, dk and dv are built from (one position, or a saturated softmax, makes
    dq and dk ~0 by cancellation, and their rounding no difference)."""
    dout, v = (float(np.abs(inputs[n]).max()) for n in ("dout", "v"))
    q, k = (float(np.abs(inputs[n]).max()) for n in ("q", "k"))
    return dout * v * k, dout * v * q, dout


def _dv_sums(inputs, got):
    """Each query's weights sum to 1, so dv summed over the keys is dout summed over queries."""
    dv, dout = np.asarray(got[2], dtype=float), inputs["dout"]
    gap = np.abs(dv.sum(axis=-2) - dout.sum(axis=-2)).max()
    return None if gap < 1e-8 * (1 + np.abs(dout).sum()) else f"they differ by {gap:.3g}"


def _backward_shapes(inputs, got):
    for name, like, g in zip(("dq", "dk", "dv"), ("q", "k", "v"), got):
        if np.shape(g) != inputs[like].shape:
            return f"{name} has shape {np.shape(g)}, {like} {inputs[like].shape}"
    return None


ATTENTION_BACKWARD = Exercise(
    id="4.1.4",
    title="the backward pass of attention: dq, dk, dv",
    signature="attention_backward(dout, q, k, v, causal)",
    outputs=("dq", "dk", "dv"),
    reference=_attention_backward,
    edge_cases=_attention_backward_edge_cases,
    random_cases=_attention_backward_random_cases,
    numerical=_attention_backward_numerical,
    floor=_backward_floors,
    library=(
        "tinytransformer.ops.attention.attention_backward",
        "tinytransformer.ops.attention.attention_forward",
    ),
    may_use=(
        "tinytransformer.ops.softmax.softmax_forward",
        "tinytransformer.ops.softmax.softmax_backward",
    ),
    mistakes=(
        Mistake(
            "the 1/sqrt(hs) scale left out of dq and dk",
            lambda dout, q, k, v, causal: _backward_variant(dout, q, k, v, causal, scale=False),
            "scores = q @ k^T / sqrt(hs): the factor 1/sqrt(hs) multiplies dscores too.",
        ),
        Mistake(
            "no max subtraction when recomputing the weights",
            lambda dout, q, k, v, causal: _backward_variant(dout, q, k, v, causal, stable=False),
            "Scores near 1000 overflow exp: recompute the weights with each row's maximum "
            "subtracted, exactly as the forward pass does.",
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
    ),
    properties=(
        Property("dq, dk and dv have the shapes of q, k and v", _backward_shapes),
        Property(
            "dv summed over the keys equals dout summed over the queries (each query's weights "
            "sum to 1)",
            _dv_sums,
        ),
    ),
    formula="Recompute att = softmax(q @ k^T / sqrt(hs) + M) (each row's maximum subtracted); "
    "then, reading the forward backwards: datt = dout @ v^T, dv = att^T @ dout, "
    "dscores = att * (datt - sum(datt * att, last axis)) / sqrt(hs), dq = dscores @ k, "
    "dk = dscores^T @ q; return (dq, dk, dv).",
)


# --- 4.1.5 layer norm backward --------------------------------------------------------------------


def _layernorm_backward(dout, x, w, eps=1e-5):
    _, cache = layernorm_forward(x, w, np.zeros_like(w), eps)
    return layernorm_backward(dout, cache)


def _layernorm_case(rng, name, shape, x, eps=1e-5, finite_differences=True):
    w = 1.0 + 0.5 * rng.standard_normal(shape[-1])
    dout = rng.standard_normal(shape)
    inputs = {"dout": dout, "x": x, "w": w, "eps": eps}
    return Case(name, inputs, source={"finite differences": finite_differences})


def _layernorm_edge_cases():
    rng = np.random.default_rng(415)

    def near_constant(shape):
        return 1.0 + 1e-2 * rng.standard_normal(shape)

    return [
        _layernorm_case(rng, "a row of 8", (1, 8), rng.standard_normal((1, 8))),
        _layernorm_case(rng, "a batch (3, 5)", (3, 5), rng.standard_normal((3, 5))),
        _layernorm_case(
            rng, "three axes (2, 3, 6)", (2, 3, 6), 2.0 + 3.0 * rng.standard_normal((2, 3, 6))
        ),
        _layernorm_case(
            rng, "rows far from 0 (x + 100)", (2, 4), 100 + rng.standard_normal((2, 4))
        ),
        # the variance as E[x^2] - E[x]^2 loses all its digits here: 1e10 - 1e10 + 1
        _layernorm_case(
            rng,
            "rows very far from 0 (x + 1e5)",
            (2, 5),
            1e5 + rng.standard_normal((2, 5)),
            finite_differences=False,
        ),
        _layernorm_case(
            rng,
            "nearly constant rows (spread 1e-2, where eps matters)",
            (2, 6),
            near_constant((2, 6)),
        ),
        _layernorm_case(
            rng,
            "the same kind of rows with eps = 1e-3 (eps is an argument)",
            (2, 6),
            near_constant((2, 6)),
            eps=1e-3,
        ),
    ]


def _layernorm_random_cases(rng):
    cases = []
    for spread in (1.0, 0.2):  # 4 channels at least: with 2, a row of two close values has
        shape = random_shape(rng, 4, 8)  # a tiny variance, where finite differences fail
        x = rng.normal(0, 5) + spread * rng.standard_normal(shape)
        cases.append(_layernorm_case(rng, f"random {shape}, spread {spread:g}", shape, x))
    return cases


def _layernorm_numerical(case):
    if not case.source.get("finite differences", True):
        return None
    x, w, dout, eps = (case.inputs[n] for n in ("x", "w", "dout", "eps"))
    x, w = x.copy(), w.copy()
    b = np.zeros_like(w)

    def f():
        return layernorm_forward(x, w, b, eps)[0]

    return tuple(numerical_gradient(f, a, dout) for a in (x, w, b))


def _ln_variant(
    dout, x, w, eps=1e-5, ddof=0, constant=False, drop=None, dw_of_x=False, no_eps=False
):
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


def _db_is_summed_dout(inputs, got):
    dout = inputs["dout"]
    want = dout.sum(axis=tuple(range(dout.ndim - 1)))
    db = np.asarray(got[2], dtype=float)
    if db.shape != want.shape:
        return f"db has shape {db.shape}, not ({dout.shape[-1]},)"
    gap = np.abs(db - want).max()
    return None if gap < 1e-9 * (1 + np.abs(want).max()) else f"they differ by {gap:.3g}"


LAYERNORM_BACKWARD = Exercise(
    id="4.1.5",
    title="the backward pass of layer norm: dx, dw, db",
    signature="layernorm_backward(dout, x, w, eps=1e-5)",
    outputs=("dx", "dw", "db"),
    reference=_layernorm_backward,
    edge_cases=_layernorm_edge_cases,
    random_cases=_layernorm_random_cases,
    numerical=_layernorm_numerical,
    library=(
        "tinytransformer.ops.layernorm.layernorm_backward",
        "tinytransformer.ops.layernorm.layernorm_forward",
    ),
    mistakes=(
        Mistake(
            "unbiased variance (divided by C - 1)",
            lambda dout, x, w, eps=1e-5: _ln_variant(dout, x, w, eps, ddof=1),
            "GPT-2's layer norm divides by C (np.var's default, ddof=0), not C - 1.",
        ),
        Mistake(
            "the mean and the variance treated as constants",
            lambda dout, x, w, eps=1e-5: _ln_variant(dout, x, w, eps, constant=True),
            "Both depend on every x of the row, so dx has two more terms, one from each.",
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
    ),
    properties=(
        Property("db is dout summed over every axis but the last", _db_is_summed_dout),
        rows_sum_to(
            0.0, "every row of dx sums to 0 (a row's normalised values have mean 0 whatever x is)"
        ),
    ),
    formula="With mean and var over the last axis (var divided by C), rstd = 1 / sqrt(var + eps), "
    "norm = (x - mean) * rstd and dnorm = dout * w: dx = (dnorm - mean(dnorm) - "
    "norm * mean(dnorm * norm)) * rstd, dw = sum(dout * norm) and db = sum(dout) over every "
    "axis but the last.",
)

EXERCISES = [SOFTMAX, SOFTMAX_BACKWARD, ATTENTION, ATTENTION_BACKWARD, LAYERNORM_BACKWARD]

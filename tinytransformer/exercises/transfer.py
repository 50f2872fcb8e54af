"""The exercises of chapter 2.3 (微调与迁移学习, fine-tuning and transfer): mean pooling over a
sequence's real tokens and its backward pass (what a probe and the classifier's "mean" pooling
read), and the summary of a result over seeds.

The references are the library's: evaluation.probe.mean_pool and mean_pool_backward (the
classifier's pooling op pair, models/classifier.py) and evaluation.statistics.seed_summary.
"""

import math

import numpy as np

from tinytransformer.evaluation.probe import mean_pool, mean_pool_backward
from tinytransformer.evaluation.statistics import seed_summary
from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.gradcheck import numerical_gradient

# --- 2.3.1 mean_pool ------------------------------------------------------------------------------


def _mask(rng, B, T, kind="right"):
    """(B, T) of 0/1 with at least one 1 per row: right padding (the task's), or holes."""
    if kind == "holes":
        m = (rng.random((B, T)) < 0.5).astype(np.int64)
        m[np.arange(B), rng.integers(0, T, B)] = 1
        return m
    lengths = rng.integers(1, T + 1, B)  # (B,) real tokens per row
    return (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)


def _pool_case(name, h, mask):
    return Case(name, {"h": h, "attention_mask": mask})


def _padded(rng, B, T, C, mask, pad_value=100.0):
    """h with its padding positions set far from the real ones (padding must not count)."""
    h = rng.standard_normal((B, T, C))  # (B, T, C)
    return np.where(mask[:, :, None] == 1, h, pad_value + rng.standard_normal((B, T, C)))


def _pool_edge_cases():
    rng = np.random.default_rng(231)
    full = np.ones((2, 4), np.int64)
    one = np.array([[1, 0, 0, 0, 0], [0, 0, 1, 0, 0]])  # one real token, not always first
    lengths = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0], [1, 0, 0, 0, 0, 0]])
    left = np.array([[0, 0, 1, 1], [0, 1, 1, 1]])  # left padding: the real tokens at the end
    return [
        _pool_case(
            "right padding (3, 6, 4), padding ~100", _padded(rng, 3, 6, 4, lengths), lengths
        ),
        _pool_case("no padding (2, 4, 3)", rng.standard_normal((2, 4, 3)), full),
        _pool_case("one real token per row (2, 5, 2)", _padded(rng, 2, 5, 2, one), one),
        _pool_case("left padding (2, 4, 3)", _padded(rng, 2, 4, 3, left, -50.0), left),
        _pool_case("one position (1, 1, 5)", rng.standard_normal((1, 1, 5)), full[:1, :1]),
    ]


def _pool_random_cases(rng):
    cases = []
    for kind in ("right", "holes", "right"):
        B, T, C = (int(n) for n in rng.integers([1, 2, 1], [5, 9, 7]))
        mask = _mask(rng, B, T, kind)
        cases.append(
            _pool_case(f"random ({B}, {T}, {C}), {kind}", _padded(rng, B, T, C, mask), mask)
        )
    return cases


def _pool_shape(inputs, got):
    B, _, C = inputs["h"].shape
    shape = np.shape(got[0])
    return None if shape == (B, C) else f"its shape is {shape}, not (B, C) = {(B, C)}"


def _within_real_range(inputs, got):
    """A mean of a row's real tokens lies between their smallest and largest value."""
    h, m, out = inputs["h"], inputs["attention_mask"].astype(bool), np.asarray(got[0])
    if out.shape != (h.shape[0], h.shape[2]):
        return None  # said by the shape property
    for b in range(h.shape[0]):
        real = h[b][m[b]]  # (n_b, C)
        low, high = real.min(axis=0) - 1e-9, real.max(axis=0) + 1e-9
        bad = np.flatnonzero((out[b] < low) | (out[b] > high))
        if bad.size:
            c = bad[0]
            return (
                f"row {b}, channel {c}: {out[b, c]:.4g} is outside the real tokens' range "
                f"[{low[c]:.4g}, {high[c]:.4g}]"
            )
    return None


MEAN_POOL = Exercise(
    id="2.3.1",
    title="mean pooling: the average of each row's real tokens",
    signature="mean_pool(h, attention_mask)",
    outputs=("pooled",),
    reference=mean_pool,
    edge_cases=_pool_edge_cases,
    random_cases=_pool_random_cases,
    library=(
        "tinytransformer.evaluation.probe.mean_pool",
        "tinytransformer.models.classifier.pool_forward",
    ),
    mistakes=(
        Mistake(
            "averaged over all T positions, padding included",
            lambda h, attention_mask: h.mean(axis=1),
            "Padding positions hold whatever the model computed there; they are not part of "
            "the text. Weight each position by its mask and divide by the row's real tokens.",
        ),
        Mistake(
            "the masked sum divided by T instead of the row's real tokens",
            lambda h, attention_mask: (h * attention_mask[:, :, None]).sum(axis=1) / h.shape[1],
            "Dividing by T shrinks every padded row towards zero: divide by "
            "attention_mask.sum(axis=1), one count per row.",
        ),
        Mistake(
            "the masked sum, not divided",
            lambda h, attention_mask: (h * attention_mask[:, :, None]).sum(axis=1),
            "A sum grows with the length of the text; the mean divides by the row's real "
            "tokens, so a long and a short paragraph give vectors of the same scale.",
        ),
        Mistake(
            "divided by the total of the whole mask",
            lambda h, attention_mask: (
                (h * attention_mask[:, :, None]).sum(axis=1) / attention_mask.sum()
            ),
            "Each row is its own average: attention_mask.sum(axis=1, keepdims=True), not the "
            "count over the whole batch.",
        ),
    ),
    properties=(
        Property("pooled has shape (B, C)", _pool_shape),
        Property(
            "each entry lies between the smallest and largest value of its row's real tokens",
            _within_real_range,
        ),
    ),
    formula="pooled = (h * m[:, :, None]).sum(axis=1) / m.sum(axis=1, keepdims=True), with "
    "m = attention_mask: padding weighs 0, each real token 1 / n_b.",
)


# --- 2.3.2 mean_pool_backward ---------------------------------------------------------------------


def _pool_backward_case(rng, name, mask, C):
    B, T = mask.shape
    dpooled = rng.standard_normal((B, C))  # a random upstream gradient, never all ones
    h = rng.standard_normal((B, T, C))  # what the pooling was applied to: for finite differences
    return Case(name, {"dpooled": dpooled, "attention_mask": mask}, source={"h": h})


def _pool_backward_edge_cases():
    rng = np.random.default_rng(232)
    return [
        _pool_backward_case(rng, name, np.array(mask), C)
        for name, mask, C in [
            ("right padding (3, 6), C = 4", [[1, 1, 1, 0, 0, 0], [1] * 5 + [0], [1] + [0] * 5], 4),
            ("no padding (2, 4), C = 3", [[1] * 4, [1] * 4], 3),
            ("one real token per row (2, 5), C = 2", [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0]], 2),
            ("left padding (2, 4), C = 3", [[0, 0, 1, 1], [0, 1, 1, 1]], 3),
            ("one position (1, 1), C = 5", [[1]], 5),
        ]
    ]


def _pool_backward_random_cases(rng):
    cases = []
    for kind in ("right", "holes"):
        B, T, C = (int(n) for n in rng.integers([1, 2, 1], [5, 9, 7]))
        mask = _mask(rng, B, T, kind)
        cases.append(_pool_backward_case(rng, f"random ({B}, {T}), C = {C}, {kind}", mask, C))
    return cases


def _pool_backward_numerical(case):
    h, mask = case.source["h"].copy(), case.inputs["attention_mask"]
    return (numerical_gradient(lambda: mean_pool(h, mask), h, case.inputs["dpooled"]),)


def _dh_shape(inputs, got):
    B, T = inputs["attention_mask"].shape
    want = (B, T, inputs["dpooled"].shape[1])
    shape = np.shape(got[0])
    return None if shape == want else f"its shape is {shape}, not (B, T, C) = {want}"


def _no_gradient_to_padding(inputs, got):
    dh, m = np.asarray(got[0]), inputs["attention_mask"]
    if dh.ndim != 3 or dh.shape[:2] != m.shape:
        return None
    leaks = np.argwhere((m == 0) & (np.abs(dh).max(axis=-1) > 0))  # (k, 2): (row, position)
    return (
        None
        if not len(leaks)
        else f"padding position {leaks[0][1]} of row {leaks[0][0]} gets a gradient"
    )


def _sums_back_to_dpooled(inputs, got):
    """Summed over a row's positions, dh gives dpooled back: the weights 1/n_b sum to 1."""
    dh, dp = np.asarray(got[0]), inputs["dpooled"]
    if dh.ndim != 3 or dh.shape[0] != dp.shape[0] or dh.shape[2] != dp.shape[1]:
        return None
    err = np.abs(dh.sum(axis=1) - dp).max(axis=1)  # (B,)
    b = int(err.argmax())
    return (
        None if err[b] < 1e-9 else f"row {b}: dh summed over T differs from dpooled by {err[b]:.3g}"
    )


MEAN_POOL_BACKWARD = Exercise(
    id="2.3.2",
    title="the backward pass of mean pooling: dh from dpooled",
    signature="mean_pool_backward(dpooled, attention_mask)",
    outputs=("dh",),
    reference=mean_pool_backward,
    edge_cases=_pool_backward_edge_cases,
    random_cases=_pool_backward_random_cases,
    numerical=_pool_backward_numerical,
    library=(
        "tinytransformer.evaluation.probe.mean_pool_backward",
        "tinytransformer.models.classifier.pool_backward",
        "tinytransformer.models.classifier.pool_forward",
    ),
    mistakes=(
        Mistake(
            "dpooled copied to every position, padding included, without the 1/n",
            lambda dpooled, attention_mask: np.repeat(
                dpooled[:, None, :], attention_mask.shape[1], axis=1
            ),
            "pooled = sum_t m_t h_t / n: each h_t enters with weight m_t / n, so its gradient is "
            "m_t / n times dpooled.",
        ),
        Mistake(
            "masked but not divided by the row's real tokens",
            lambda dpooled, attention_mask: attention_mask[:, :, None] * dpooled[:, None, :],
            "The forward pass divides by n_b, the row's real tokens: so does its gradient.",
        ),
        Mistake(
            "divided by T instead of the row's real tokens",
            lambda dpooled, attention_mask: (
                attention_mask[:, :, None] * dpooled[:, None, :] / attention_mask.shape[1]
            ),
            "The mean divides by n_b = attention_mask[b].sum(), not by T.",
        ),
        Mistake(
            "1/n on every position: padding gets a gradient too",
            lambda dpooled, attention_mask: (
                np.repeat(dpooled[:, None, :], attention_mask.shape[1], axis=1)
                / attention_mask.sum(axis=1)[:, None, None]
            ),
            "Padding was multiplied by 0 in the forward pass, so its gradient is 0.",
        ),
    ),
    properties=(
        Property("dh has shape (B, T, C)", _dh_shape),
        Property("padding positions get no gradient", _no_gradient_to_padding),
        Property("summed over a row's positions, dh gives back dpooled", _sums_back_to_dpooled),
    ),
    formula="dh = m[:, :, None] * dpooled[:, None, :] / m.sum(axis=1)[:, None, None], with "
    "m = attention_mask: the forward weights m_t / n_b, times dpooled.",
)


# --- 2.3.3 seed_summary ---------------------------------------------------------------------------


def _summary_case(name, values):
    return Case(name, {"values": np.asarray(values, dtype=np.float64)})


def _summary_edge_cases():
    rng = np.random.default_rng(233)
    return [
        _summary_case("three seeds [0.40, 0.45, 0.36]", [0.40, 0.45, 0.36]),
        _summary_case("two seeds (the fewest)", [0.3, 0.5]),
        _summary_case("all equal: no spread", [0.25, 0.25, 0.25, 0.25]),
        _summary_case("far from zero: 1e6 + N(0, 1), 5 seeds", 1e6 + rng.standard_normal(5)),
        _summary_case("ten seeds", rng.uniform(0.2, 0.5, 10)),
    ]


def _summary_random_cases(rng):
    return [
        _summary_case(f"random, {n} seeds", rng.uniform(0.0, 1.0, n))
        for n in (int(rng.integers(2, 6)), int(rng.integers(6, 30)))
    ]


def _summary_floor(inputs):
    scale = float(np.abs(inputs["values"]).max())
    return (scale, 1e-6 * scale, 1e-6 * scale)  # an sd of 0 holds rounding of the values' size


def _sd_nonnegative(inputs, got):
    return None if float(got[1]) >= 0 else f"sd is {got[1]}"


def _mean_in_range(inputs, got):
    x = inputs["values"]
    return None if x.min() - 1e-9 <= float(got[0]) <= x.max() + 1e-9 else f"mean is {got[0]}"


def _stderr_smaller(inputs, got):
    n = len(inputs["values"])
    want = float(got[1]) / math.sqrt(n)
    ok = math.isclose(float(got[2]), want, rel_tol=1e-9, abs_tol=1e-15)
    return None if ok else f"stderr is {got[2]}, not your sd / sqrt({n}) = {want:.6g}"


def _two_pass(values, ddof=1, se="sqrt n"):
    x = np.asarray(values, dtype=np.float64)
    n, mean = len(x), float(np.mean(x))
    sd = math.sqrt(float(np.sum((x - mean) ** 2)) / (n - ddof))
    return (
        mean,
        sd,
        {"sqrt n": sd / math.sqrt(n), "n": sd / n, "sqrt n-1": sd / math.sqrt(n - 1)}[se],
    )


def _one_pass(values):
    """The variance as mean of squares minus squared mean: right in exact arithmetic."""
    x = np.asarray(values, dtype=np.float64)
    n, mean = len(x), float(np.mean(x))
    var = max(float(np.mean(x * x)) - mean * mean, 0.0) * n / (n - 1)
    return mean, math.sqrt(var), math.sqrt(var) / math.sqrt(n)


SEED_SUMMARY = Exercise(
    id="2.3.3",
    title="a result over seeds: mean, sd (ddof=1) and standard error",
    signature="seed_summary(values)",
    outputs=("mean", "sd", "stderr"),
    reference=seed_summary,
    edge_cases=_summary_edge_cases,
    random_cases=_summary_random_cases,
    library=("tinytransformer.evaluation.statistics.seed_summary",),
    floor=_summary_floor,
    mistakes=(
        Mistake(
            "sd with ddof=0 (divided by n)",
            lambda values: _two_pass(values, ddof=0),
            "The deviations are measured from the sample's own mean, which sits closer to the "
            "values than the true mean: divide the sum of squares by n - 1 (ddof=1).",
        ),
        Mistake(
            "stderr = sd / n",
            lambda values: _two_pass(values, se="n"),
            "The variance of a mean of n independent values is sd^2 / n: its sd is sd / sqrt(n).",
        ),
        Mistake(
            "stderr = sd / sqrt(n - 1)",
            lambda values: _two_pass(values, se="sqrt n-1"),
            "The n - 1 belongs to the variance estimate; the standard error divides by sqrt(n).",
        ),
        Mistake(
            "the variance as mean(x^2) - mean(x)^2 (cancels catastrophically)",
            _one_pass,
            "For values far from zero, x^2 and mean^2 agree in most of their digits and their "
            "difference is rounding: subtract the mean first, then square.",
        ),
    ),
    properties=(
        Property("the mean lies between the smallest and largest value", _mean_in_range),
        Property("sd is not negative", _sd_nonnegative),
        Property("stderr is sd / sqrt(n)", _stderr_smaller),
    ),
    formula="mean = x.sum() / n; sd = sqrt(((x - mean)**2).sum() / (n - 1)); "
    "stderr = sd / sqrt(n).",
)

EXERCISES = [MEAN_POOL, MEAN_POOL_BACKWARD, SEED_SUMMARY]

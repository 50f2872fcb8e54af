"""The exercises of chapter 4.2 (预训练损失函数, the pretraining loss): the cross-entropy of a
language model and its fused backward pass.

The reference answers are tinytransformer.ops.cross_entropy; targets equal to -100 are ignored,
as in PyTorch and Hugging Face. The cases are float64, with ignored targets, a single counted
target, logits near 1000, a row spanning more than exp's range (709) so that only the row's
maximum keeps log-sum-exp finite, and a correct-token probability that underflows to 0.
"""

import numpy as np

from tinytransformer.exercises.attention import shaped_like
from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.gradcheck import numerical_gradient
from tinytransformer.ops.cross_entropy import (
    IGNORE_INDEX,
    cross_entropy_backward,
    cross_entropy_forward,
)


def _cross_entropy(logits, targets):
    return cross_entropy_forward(logits, targets)[0]


def _cross_entropy_backward(logits, targets):
    _, cache = cross_entropy_forward(logits, targets)
    return cross_entropy_backward(1.0, cache)


def _targets(rng, N, V, ignored=0):
    t = rng.integers(0, V, size=N)
    t[rng.permutation(N)[:ignored]] = IGNORE_INDEX
    return t


def _edge_cases():
    rng = np.random.default_rng(42)
    far_above = rng.standard_normal((4, 6))
    far_above[:, 2] += 1000.0  # one class 1000 above the rest: a span > 709 in every row
    return [
        Case(
            "4 positions, 5 classes",
            {"logits": rng.standard_normal((4, 5)), "targets": _targets(rng, 4, 5)},
        ),
        Case(
            "one position (1, 3)",
            {"logits": rng.standard_normal((1, 3)), "targets": _targets(rng, 1, 3)},
        ),
        Case(
            "3 of 8 targets ignored (-100)",
            {"logits": 2 * rng.standard_normal((8, 6)), "targets": _targets(rng, 8, 6, 3)},
        ),
        Case(
            "only one target counted",
            {
                "logits": rng.standard_normal((5, 4)),
                "targets": np.array([-100, -100, 2, -100, -100]),
            },
        ),
        Case(
            "logits near 1000",
            {"logits": 1000 + rng.standard_normal((3, 7)), "targets": _targets(rng, 3, 7)},
        ),
        Case(
            "very spread logits (x 100)",
            {"logits": 100 * rng.standard_normal((6, 5)), "targets": _targets(rng, 6, 5, 1)},
        ),
        Case(
            "a row spanning 720, its target the largest logit",
            {"logits": np.array([[0.0, 720.0], [1.0, -1.0]]), "targets": np.array([1, 0])},
        ),
        Case(
            "one class 1000 above the rest (rows spanning more than 709)",
            {"logits": far_above, "targets": np.array([2, 0, 2, 5])},
        ),
        Case(
            "a confident wrong guess: p[target] = exp(-800) underflows to 0",
            {"logits": np.array([[0.0, 800.0, 0.0], [2.0, 1.0, 0.5]]), "targets": np.array([0, 1])},
        ),
    ]


def _random_cases(rng):
    cases = []
    for scale, offset in [(1.0, 0.0), (30.0, 0.0), (300.0, rng.choice([0.0, 1000.0]))]:
        N, V = int(rng.integers(1, 9)), int(rng.integers(2, 10))
        ignored = int(rng.integers(0, N))  # at least one target counted
        logits = offset + scale * rng.standard_normal((N, V))
        name = f"random ({N}, {V}), x {scale:g} + {offset:g}, {ignored} ignored"
        cases.append(Case(name, {"logits": logits, "targets": _targets(rng, N, V, ignored)}))
    return cases


def _log_softmax(z, shift="max"):
    m = {"max": z.max, "min": z.min, "mean": z.mean}[shift](axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _picked(logp, targets):
    """log p[target] of each row, 0 where the target is ignored."""
    valid = targets != IGNORE_INDEX
    safe = np.where(valid, targets, 0)
    return np.where(valid, logp[np.arange(len(targets)), safe], 0.0), valid


def _loss_variant(logits, targets, reduce="mean", stable=True, logsumexp=True, shift="max"):
    if not stable:
        e = np.exp(logits)
        logp = np.log(e / e.sum(axis=-1, keepdims=True))
    elif not logsumexp:
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        logp = np.log(e / e.sum(axis=-1, keepdims=True))  # log(0) = -inf where p underflows
    else:
        logp = _log_softmax(logits, shift)
    picked, valid = _picked(logp, targets)
    if reduce == "sum":
        return -picked.sum()
    if reduce == "all rows":
        return -picked.sum() / len(targets)
    return -picked.sum() / valid.sum()


def _scalar(inputs, got):
    shape = np.shape(got[0])
    return None if shape == () else f"it has shape {shape}"


def _nonnegative(inputs, got):
    loss = got[0]
    if np.shape(loss) != ():
        return None  # said by the property before
    value = float(np.asarray(loss).real)
    return None if np.isfinite(value) and value >= 0 else f"it is {value}"


CROSS_ENTROPY = Exercise(
    id="4.2.1",
    title="the mean negative log-likelihood of the targets, computed stably",
    signature="cross_entropy(logits, targets)",
    outputs=("loss",),
    reference=_cross_entropy,
    edge_cases=_edge_cases,
    random_cases=_random_cases,
    library=("tinytransformer.ops.cross_entropy.cross_entropy_forward",),
    mistakes=(
        Mistake(
            "summed instead of averaged",
            lambda logits, targets: _loss_variant(logits, targets, reduce="sum"),
            "The loss is the MEAN over the counted targets, so that it does not grow with the "
            "batch size and the learning rate means the same for any batch.",
        ),
        Mistake(
            "averaged over every row, ignored targets included",
            lambda logits, targets: _loss_variant(logits, targets, reduce="all rows"),
            "Divide by the number of targets that are not -100, not by N.",
        ),
        Mistake(
            "no max subtraction",
            lambda logits, targets: _loss_variant(logits, targets, stable=False),
            "exp(1000) overflows. Use log-sum-exp: log sum_j exp(z_j) = m + log sum_j exp(z_j - m) "
            "with m the row's maximum.",
        ),
        Mistake(
            "the row's minimum subtracted in log-sum-exp instead of its maximum",
            lambda logits, targets: _loss_variant(logits, targets, shift="min"),
            "Any constant cancels mathematically, but only the MAXIMUM keeps every exponent <= 0; "
            "with the minimum, a row spanning more than 709 overflows.",
        ),
        Mistake(
            "the row's mean subtracted in log-sum-exp instead of its maximum",
            lambda logits, targets: _loss_variant(logits, targets, shift="mean"),
            "A logit more than 709 above the row's mean still overflows: subtract the maximum.",
        ),
        Mistake(
            "log of the softmax instead of log-sum-exp",
            lambda logits, targets: _loss_variant(logits, targets, logsumexp=False),
            "A probability that underflows to 0 gives log(0) = -inf. Compute -log p[t] = "
            "log sum_j exp(z_j - m) - (z_t - m) directly, without forming p.",
        ),
    ),
    properties=(
        Property("the loss is one number (shape ())", _scalar),
        Property("the loss is finite and >= 0 (every probability is <= 1)", _nonnegative),
    ),
    floor=lambda inputs: 1.0,  # a loss of 1e-16 nats is 0: errors in nats, at least
    formula="Per row: nll = log(sum(exp(z - m))) - (z[t] - m), m = z.max(); then the mean over "
    "the rows whose target is not -100. Indexing with -100 reads a class from the end: skip "
    "those rows before you index.",
    tolerance=1e-9,
)


def _cross_entropy_backward_numerical(case):
    logits, targets = case.inputs["logits"].copy(), case.inputs["targets"]
    return (numerical_gradient(lambda: _cross_entropy(logits, targets), logits, np.ones(())),)


def _grad_variant(
    logits, targets, divide="counted", zero_ignored=True, onehot=True, sign=1, stable=True
):
    z = logits - logits.max(axis=-1, keepdims=True) if stable else logits
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    valid = targets != IGNORE_INDEX
    hot = np.zeros_like(p)
    hot[np.arange(len(targets))[valid], targets[valid]] = 1.0
    d = sign * (p - hot) if onehot else p.copy()
    if zero_ignored:
        d[~valid] = 0.0
    n = {"counted": valid.sum(), "all rows": len(targets), "none": 1}[divide]
    return d / n


def _ignored_rows_zero(inputs, got):
    g, ignored = np.asarray(got[0]), inputs["targets"] == IGNORE_INDEX
    if g.shape != inputs["logits"].shape or not ignored.any():
        return None
    rows = np.flatnonzero(np.any(g[ignored] != 0, axis=-1))
    return None if rows.size == 0 else f"row {int(np.flatnonzero(ignored)[rows[0]])} is not"


def _counted_rows_sum_to_zero(inputs, got):
    g, counted = np.asarray(got[0], dtype=float), inputs["targets"] != IGNORE_INDEX
    if g.shape != inputs["logits"].shape:
        return None
    sums = g[counted].sum(axis=-1)
    gap = np.abs(sums)
    if gap.size and not np.all(gap < 1e-9 * (1 + np.abs(g).max())):
        k = int(np.argmax(np.where(np.isfinite(gap), gap, np.inf)))
        return f"row {int(np.flatnonzero(counted)[k])} sums to {sums[k]:.6g}"
    return None


CROSS_ENTROPY_BACKWARD = Exercise(
    id="4.2.2",
    title="the gradient of the mean cross-entropy with respect to the logits",
    signature="cross_entropy_backward(logits, targets)",
    outputs=("dlogits",),
    reference=_cross_entropy_backward,
    edge_cases=_edge_cases,
    random_cases=_random_cases,
    numerical=_cross_entropy_backward_numerical,
    # rows predicted confidently right are ~0 by cancellation: errors against 1 / n at least
    floor=lambda inputs: 1.0 / max(1, int((inputs["targets"] != IGNORE_INDEX).sum())),
    library=(
        "tinytransformer.ops.cross_entropy.cross_entropy_backward",
        "tinytransformer.ops.cross_entropy.cross_entropy_forward",
    ),
    mistakes=(
        Mistake(
            "not divided by the number of counted targets (the gradient of the summed loss)",
            lambda logits, targets: _grad_variant(logits, targets, divide="none"),
            "The loss is a mean over n counted targets, so its gradient is divided by n too.",
        ),
        Mistake(
            "divided by every row, ignored targets included",
            lambda logits, targets: _grad_variant(logits, targets, divide="all rows"),
            "n counts only the targets that are not -100.",
        ),
        Mistake(
            "ignored rows not zeroed",
            lambda logits, targets: _grad_variant(logits, targets, zero_ignored=False),
            "A row whose target is -100 does not enter the loss: its gradient is all zeros.",
        ),
        Mistake(
            "the one-hot not subtracted",
            lambda logits, targets: _grad_variant(logits, targets, onehot=False),
            "d(-log p_t)/dz = p - onehot(t): the target's entry is p_t - 1.",
        ),
        Mistake(
            "the sign flipped",
            lambda logits, targets: _grad_variant(logits, targets, sign=-1),
            "The gradient points uphill: p - onehot, not onehot - p (the update then "
            "subtracts it).",
        ),
        Mistake(
            "no max subtraction in the softmax",
            lambda logits, targets: _grad_variant(logits, targets, stable=False),
            "exp(1000) overflows: subtract each row's maximum before exp.",
        ),
    ),
    properties=(
        shaped_like(0, "dlogits", "logits"),
        Property("rows whose target is -100 are all zero", _ignored_rows_zero),
        Property(
            "every counted row sums to 0 (softmax and the one-hot both sum to 1)",
            _counted_rows_sum_to_zero,
        ),
    ),
    formula="dlogits = (softmax(logits) - onehot(targets)) / n, n the number of targets that are "
    "not -100, the softmax with each row's maximum subtracted, and rows with target -100 all "
    "zero.",
    tolerance=1e-9,
)

EXERCISES = [CROSS_ENTROPY, CROSS_ENTROPY_BACKWARD]

"""The exercises of chapter 4.2 (预训练损失函数, the pretraining loss): the cross-entropy of a
language model and its fused backward pass.

The reference answers are tinytransformer.ops.cross_entropy; targets equal to -100 are ignored,
as in PyTorch and Hugging Face. The cases are float64, with ignored targets, a single counted
target, and logits large or spread enough to break an unstable answer.
"""

import numpy as np

from tinytransformer.exercises.spec import Case, Exercise, Mistake
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


def _cases():
    rng = np.random.default_rng(42)

    def targets(N, V, ignored=0):
        t = rng.integers(0, V, size=N)
        t[rng.permutation(N)[:ignored]] = IGNORE_INDEX
        return t

    return [
        Case(
            "4 positions, 5 classes",
            {"logits": rng.standard_normal((4, 5)), "targets": targets(4, 5)},
        ),  # fmt: skip
        Case(
            "one position (1, 3)", {"logits": rng.standard_normal((1, 3)), "targets": targets(1, 3)}
        ),  # fmt: skip
        Case(
            "3 of 8 targets ignored (-100)",
            {"logits": 2 * rng.standard_normal((8, 6)), "targets": targets(8, 6, ignored=3)},
        ),  # fmt: skip
        Case(
            "only one target counted",
            {
                "logits": rng.standard_normal((5, 4)),
                "targets": np.array([-100, -100, 2, -100, -100]),
            },
        ),  # fmt: skip
        Case(
            "logits near 1000",
            {"logits": 1000 + rng.standard_normal((3, 7)), "targets": targets(3, 7)},
        ),  # fmt: skip
        Case(
            "very spread logits (x 100)",
            {"logits": 100 * rng.standard_normal((6, 5)), "targets": targets(6, 5, ignored=1)},
        ),  # fmt: skip
        Case(
            "a confident wrong guess: p[target] = exp(-800) underflows to 0",
            {"logits": np.array([[0.0, 800.0, 0.0], [2.0, 1.0, 0.5]]), "targets": np.array([0, 1])},
        ),  # fmt: skip
    ]


def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _picked(logp, targets):
    """log p[target] of each row, 0 where the target is ignored."""
    valid = targets != IGNORE_INDEX
    safe = np.where(valid, targets, 0)
    return np.where(valid, logp[np.arange(len(targets)), safe], 0.0), valid


def _loss_variant(logits, targets, reduce="mean", stable=True, logsumexp=True):
    if not stable:
        e = np.exp(logits)
        logp = np.log(e / e.sum(axis=-1, keepdims=True))
    elif not logsumexp:
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        logp = np.log(e / e.sum(axis=-1, keepdims=True))  # log(0) = -inf where p underflows
    else:
        logp = _log_softmax(logits)
    picked, valid = _picked(logp, targets)
    if reduce == "sum":
        return -picked.sum()
    if reduce == "all rows":
        return -picked.sum() / len(targets)
    return -picked.sum() / valid.sum()


CROSS_ENTROPY = Exercise(
    id="4.2.1",
    title="the mean negative log-likelihood of the targets, computed stably",
    signature="cross_entropy(logits, targets)",
    outputs=("loss",),
    reference=_cross_entropy,
    cases=_cases,
    mistakes=[
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
            "log of the softmax instead of log-sum-exp",
            lambda logits, targets: _loss_variant(logits, targets, logsumexp=False),
            "A probability that underflows to 0 gives log(0) = -inf. Compute -log p[t] = "
            "log sum_j exp(z_j - m) - (z_t - m) directly, without forming p.",
        ),
    ],
    hint="Per row: nll = log(sum(exp(z - m))) - (z[t] - m), m = z.max(); then the mean over "
    "the rows whose target is not -100. Indexing with -100 reads a class from the end: skip "
    "those rows before you index.",
    tolerance=1e-9,
)


def _cross_entropy_backward_numerical(case):
    logits, targets = case.inputs["logits"].copy(), case.inputs["targets"]
    return (numerical_gradient(lambda: _cross_entropy(logits, targets), logits, np.ones(())),)


def _grad_variant(logits, targets, divide="counted", zero_ignored=True, onehot=True, sign=1):
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    valid = targets != IGNORE_INDEX
    hot = np.zeros_like(p)
    hot[np.arange(len(targets))[valid], targets[valid]] = 1.0
    d = sign * (p - hot) if onehot else p.copy()
    if zero_ignored:
        d[~valid] = 0.0
    n = {"counted": valid.sum(), "all rows": len(targets), "none": 1}[divide]
    return d / n


CROSS_ENTROPY_BACKWARD = Exercise(
    id="4.2.2",
    title="the gradient of the mean cross-entropy with respect to the logits",
    signature="cross_entropy_backward(logits, targets)",
    outputs=("dlogits",),
    reference=_cross_entropy_backward,
    cases=_cases,
    numerical=_cross_entropy_backward_numerical,
    mistakes=[
        Mistake(
            "not divided by the number of counted targets (the gradient of the summed loss)",
            lambda logits, targets: _grad_variant(logits, targets, divide="none"),
            "The loss is a mean over n counted targets, so its gradient is (p - onehot) / n.",
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
    ],
    hint="dlogits = (softmax(logits) - onehot(targets)) / n, n the number of targets that are "
    "not -100, and rows with target -100 all zero.",
    tolerance=1e-9,
)

EXERCISES = [CROSS_ENTROPY, CROSS_ENTROPY_BACKWARD]

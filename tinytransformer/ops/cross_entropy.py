"""The loss of a language model: softmax and negative log-likelihood fused into one op.

    loss = mean over counted targets of  -log softmax(z)[t]
         = mean of  log(sum_j exp(z_j - m)) - (z_t - m),     m = max_j z_j

Fusing the two makes the backward pass one line, d loss / dz = (softmax(z) - onehot(t)) / n,
and avoids log(softmax(z)), which is -inf where a probability underflows to 0.
Targets equal to IGNORE_INDEX (-100, as in PyTorch and Hugging Face) are skipped: padding, or
positions a masked LM does not predict.
"""

import numpy as np

from tinytransformer.checks import check_float, check_ids

IGNORE_INDEX = -100


def cross_entropy_forward(logits, targets, ignore_index=IGNORE_INDEX, *, check=True):
    """Mean negative log-likelihood of the targets under softmax(logits).

    logits (..., V) float, targets (...) int in [0, V) or ignore_index (skipped, not counted).
    Returns (loss, cache); loss is a 0-d array of logits' dtype. If every target is ignored
    the loss is 0 and so is its gradient: there is nothing to learn from.

    Checks (check=True): logits float, targets an integer array shaped like logits without its
    last axis, every counted target in [0, V); the model's own calls pass check=False: it
    checked its inputs once, at its entry (its forward checks the targets).

    >>> import numpy as np
    >>> loss, _ = cross_entropy_forward(np.zeros((1, 4)), np.array([2]))
    >>> round(float(loss), 6) == round(float(np.log(4)), 6)
    True
    """
    if check:
        _check_targets(logits, targets, ignore_index)
    valid = targets != ignore_index  # (...)
    safe_t = np.where(valid, targets, 0)  # ignored rows point at class 0, then get weight 0
    m = logits.max(axis=-1, keepdims=True)  # (..., 1)
    e = logits - m  # (..., V)
    np.exp(e, out=e)  # e = exp(logits - m), in place
    s = e.sum(axis=-1, keepdims=True)  # (..., 1)
    probs = np.divide(e, s, out=e)  # (..., V) = e / s, over e; cached: backward is probs - onehot
    z_t = np.take_along_axis(logits, safe_t[..., None], axis=-1)[..., 0]  # (...) the target logit
    nll = np.log(s[..., 0]) - (z_t - m[..., 0])  # (...) -log p[target], without log(probs)
    count = int(valid.sum())
    loss = (nll * valid).sum() / max(count, 1)
    return np.asarray(loss, dtype=logits.dtype), (probs, safe_t, valid, count)


def cross_entropy_backward(dloss, cache):
    """dloss scalar -> dlogits (..., V).

    loss = mean(-log softmax(z)[t])  ->  dz = (softmax(z) - onehot(t)) / n, n the counted targets.
    Checks: none.
    """
    probs, safe_t, valid, count = cache
    V = probs.shape[-1]
    # probs - onehot: a copy of probs with 1 taken off at each target (the one entry of its row
    # where onehot is not 0), instead of a (N, V) onehot array and a subtraction
    d = probs.copy().reshape(-1, V)  # (N, V)
    d[np.arange(d.shape[0]), safe_t.reshape(-1)] -= 1.0
    d = d.reshape(probs.shape)  # (..., V)
    # ignored targets contribute nothing; the mean divides by the number of counted targets
    weight = valid[..., None] * (float(dloss) / max(count, 1))  # (..., 1)
    d *= weight.astype(probs.dtype, copy=False)  # (..., V) in place: d is our copy
    return d


def _check_targets(logits, targets, ignore_index):
    check_float("logits", logits)
    if not isinstance(targets, np.ndarray) or targets.shape != logits.shape[:-1]:
        got = getattr(targets, "shape", type(targets).__name__)
        raise ValueError(f"targets: expected shape {logits.shape[:-1]}, got {got}")
    check_ids("targets", targets[targets != ignore_index], high=logits.shape[-1])

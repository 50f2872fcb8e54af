"""Linear probes: how much of a labelled task can be read off a frozen model's hidden states?

Fine-tuning mixes two questions: do the pretrained features hold what the task needs, and does
a few hundred steps of training find it? A probe answers the first alone. The hidden state after
the embedding and after each block is averaged over a sequence's real tokens (mean pooling),

    pooled[b] = sum_t mask[b, t] h[b, t] / sum_t mask[b, t]          (B, T, C) -> (B, C)

standardised with the training split's mean and sd, and a ridge classifier (least squares onto
one-hot labels, closed form) is fitted on the training split; its strength is the one of
LAMBDAS with the best validation accuracy. Nothing in the model changes: the probe reads it.

mean_pool is the classifier's mean pooling (models/classifier.py's pool_forward), and
mean_pool_backward its gradient, dh[b, t] = mask[b, t] dpooled[b] / n_b: each real token gets an
equal share, padding none.

Left out: logistic-regression probes (ridge is closed form, so a probe takes no training run and
no seed), probes of attention maps, and probes of single positions.
"""

import numpy as np

from tinytransformer.models.classifier import pool_backward, pool_forward
from tinytransformer.models.transformer import evaluating

LAMBDAS = (0.1, 1.0, 10.0, 100.0, 1000.0)  # ridge strengths tried, on standardised features


def _check_mask(attention_mask, shape):
    m = np.asarray(attention_mask)
    if m.shape != shape:
        raise ValueError(f"attention_mask: expected shape {shape}, got {m.shape}")
    if not np.isin(m, (0, 1)).all():
        raise ValueError("attention_mask: expected only 0 (padding) and 1 (real token)")
    empty = np.flatnonzero(m.sum(axis=1) == 0)
    if empty.size:
        raise ValueError(f"attention_mask: row {empty[0]} has no real token (all zeros)")
    return m


def mean_pool(h, attention_mask):
    """h (B, T, C), attention_mask (B, T) of 0/1, every row with a 1 -> pooled (B, C): the mean
    of each row's real tokens.

    >>> h = np.arange(6.0).reshape(1, 3, 2)  # positions [0, 1], [2, 3], [4, 5]
    >>> mean_pool(h, np.array([[1, 1, 0]])).tolist()  # the third position is padding
    [[1.0, 2.0]]
    """
    mask = _check_mask(attention_mask, np.shape(h)[:2])
    pooled, _ = pool_forward(h, mask, "mean")  # (B, C)
    return pooled


def mean_pool_backward(dpooled, attention_mask):
    """dpooled (B, C), attention_mask (B, T) -> dh (B, T, C): dh[b, t] = mask[b, t] dpooled[b]
    / n_b, n_b the real tokens of row b.

    >>> mean_pool_backward(np.array([[3.0]]), np.array([[1, 1, 1, 0]]))[0, :, 0].tolist()
    [1.0, 1.0, 1.0, 0.0]
    """
    B, C = np.shape(dpooled)
    mask = _check_mask(attention_mask, (B, np.shape(attention_mask)[-1]))
    # the classifier's op pair, run on zeros for its cache: the weights mask / n (B, T)
    _, cache = pool_forward(np.zeros((B, mask.shape[1], C), dpooled.dtype), mask, "mean")
    return pool_backward(dpooled, cache)  # (B, T, C)


def layer_features(model, ids, mask, chunk=50):
    """ids, mask (N, T) -> (L + 1, N, C) float64: the mean-pooled hidden state after the
    embedding and after each of the model's L blocks (eval mode: no dropout)."""
    out = []
    with evaluating(model):
        for i in range(0, len(ids), chunk):
            idx, am = ids[i : i + chunk], mask[i : i + chunk]  # (B, T) each
            states = model.hidden_states(idx, am)  # L + 1 arrays (B, T, C)
            out.append(np.stack([mean_pool(x, am) for x in states]))  # (L + 1, B, C)
    return np.concatenate(out, axis=1).astype(np.float64)  # (L + 1, N, C)


def ridge_probe(train, val, test, n_classes):
    """Each split is (X (N, C), y (N,)). -> (val accuracy, test accuracy) of the ridge
    classifier whose strength has the best val accuracy (ties: the stronger one)."""
    (Xtr, ytr), (Xva, yva), (Xte, yte) = train, val, test
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-8  # (C,) each

    def design(X):  # standardised features and a constant column for the bias
        Z = (X - mu) / sd  # (N, C)
        return np.hstack([Z, np.ones((len(Z), 1))])  # (N, C + 1)

    A, Y = design(Xtr), np.eye(n_classes)[ytr]  # (N, C + 1), (N, K) one-hot
    A_va, A_te = design(Xva), design(Xte)  # the same for every lambda
    best = None
    for lam in sorted(LAMBDAS, reverse=True):
        reg = lam * np.eye(A.shape[1])
        reg[-1, -1] = 0.0  # the bias is not shrunk
        W = np.linalg.solve(A.T @ A + reg, A.T @ Y)  # (C + 1, K)
        acc_va = float(np.mean((A_va @ W).argmax(1) == yva))
        acc_te = float(np.mean((A_te @ W).argmax(1) == yte))
        if best is None or acc_va > best[0]:
            best = (acc_va, acc_te)
    return best


def probe_layers(model, task, n_classes):
    """task: split -> (ids, mask, labels) as text.topic_task.load_task gives it -> test accuracy
    of a ridge probe on each of the L + 1 layers (a list of floats, 0 = the embedding)."""
    feats = {s: (layer_features(model, *task[s][:2]), task[s][2]) for s in ("train", "val", "test")}
    return [
        ridge_probe(*((feats[s][0][layer], feats[s][1]) for s in feats), n_classes)[1]
        for layer in range(model.config.n_layer + 1)
    ]

"""Token + position embedding: the first layer of the model.

    x[b, t] = wte[idx[b, t]] + wpe[pos0 + t]

Left out: dropout (the model applies it to x right after this op, GPT-2's embd_pdrop) and
any positional scheme other than a learned table.
"""

import numpy as np

from tinytransformer.checks import check_float, check_ids, check_same_dtype


def embedding_forward(idx, wte, wpe, pos0=0, *, check=True):
    """Look up token and position vectors and add them.

    idx (B, T) int ids in [0, V), wte (V, C), wpe (P, C) with pos0 + T <= P.
    pos0 is the position of idx[:, 0]: 0 in training, the number of cached tokens when
    generating with a KV cache.
    Returns x (B, T, C) and the cache for embedding_backward.

    Checks (check=True): the tables are float 2-d of one dtype and width, every id is in [0, V),
    the positions fit in wpe; the model's own calls pass check=False: it checked its inputs
    once, at its entry.

    >>> import numpy as np
    >>> x, _ = embedding_forward(np.array([[0, 1]]), np.eye(2), np.zeros((4, 2)))
    >>> x.tolist()
    [[[1.0, 0.0], [0.0, 1.0]]]
    """
    if check:
        _check_embedding(idx, wte, wpe, pos0)
    T = idx.shape[1]
    x = wte[idx] + wpe[pos0 : pos0 + T]  # (B, T, C) = (B, T, C) + (T, C) broadcast over B
    cache = (idx, wte.shape, wpe.shape, pos0)
    return x, cache


def embedding_backward(dout, cache):
    """dout (B, T, C) -> (dwte (V, C), dwpe (P, C)). Checks: none."""
    idx, wte_shape, wpe_shape, pos0 = cache
    T = idx.shape[1]
    # x = wte[idx] + ...: a scatter-add. A token id that occurs n times receives the sum of its n
    # gradients; np.add.at accumulates repeated indices, where `dwte[idx] += dout` would keep
    # only one of them.
    dwte = np.zeros(wte_shape, dtype=dout.dtype)  # (V, C)
    np.add.at(dwte, idx, dout)  # dwte[idx[b, t]] += dout[b, t] for every (b, t)
    # x = ... + wpe[pos0 : pos0 + T]: every sequence in the batch uses the same positions.
    dwpe = np.zeros(wpe_shape, dtype=dout.dtype)  # (P, C)
    dwpe[pos0 : pos0 + T] = dout.sum(axis=0)  # (T, C)
    return dwte, dwpe


def _check_embedding(idx, wte, wpe, pos0):
    check_float("wte", wte, ndim=2)
    check_float("wpe", wpe, ndim=2)
    check_same_dtype(wte=wte, wpe=wpe)
    check_ids("idx", idx, high=wte.shape[0], ndim=2)
    if wpe.shape[1] != wte.shape[1]:
        raise ValueError(f"wpe: expected {wte.shape[1]} columns like wte, got shape {wpe.shape}")
    T = idx.shape[1]
    if pos0 + T > wpe.shape[0]:
        raise ValueError(
            f"idx: positions {pos0}..{pos0 + T - 1} need a position table of {pos0 + T} rows, "
            f"wpe has {wpe.shape[0]} (the model's block_size)"
        )

"""Batching: token ids -> a train/validation split -> batches of windows; variable-length
examples -> one padded array with its attention mask.

    train_ids, val_ids = split_ids(ids)               # contiguous, no shuffle: no leakage
    x, y = next_token_windows(ids, T, starts)         # the windows at given starts, (N, T) each
    data = TokenData(train_ids, val_ids)
    batch = data.get_batch("train", B, T, rng)        # a Batch: idx, targets (B, T) int64 each
    ids, attention_mask = pad_batch(sequences, pad_id, block_size)   # (N, T) each

Every batch function of the package returns a Batch, and the training loop takes one:
`model(*batch)` is `model(idx, targets, attention_mask)`.

Left out: shuffled epochs (batches are independent random windows, as in nanoGPT), packing of
several examples into one window, and sorting examples by length before padding.
"""

from typing import NamedTuple

import numpy as np

from tinytransformer.checks import check_count, check_ids

SPLITS = ("train", "val")


class Batch(NamedTuple):
    """One batch of the training loop: the model reads `idx`, predicts `targets`, and attends
    only to the positions where `attention_mask` is 1.

    idx:            (B, T) int64 token ids
    targets:        (B, T) int64, the id each position should predict (-100: nothing), or (B,)
                    labels for a classifier
    attention_mask: (B, T), 1 for a real token and 0 for padding; None when nothing is padded
                    (windows cut from a token stream)
    """

    idx: np.ndarray
    targets: np.ndarray
    attention_mask: np.ndarray = None


def train_size(n, val_fraction):
    """How many of `n` items go to train: the first n - round(n * val_fraction)."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction: expected a number in [0, 1), got {val_fraction!r}")
    return n - round(n * val_fraction)


def split_ids(ids, val_fraction=0.1):
    """Contiguous split: the first (1 - val_fraction) of `ids` for training, the rest to validate.

    Contiguous, not shuffled, so no training window overlaps a validation window except at the
    one seam. Returns two int64 arrays. split_ids(range(10)) -> ([0..8], [9]).
    """
    ids = _as_id_array("ids", ids)
    n_train = train_size(len(ids), val_fraction)
    return ids[:n_train], ids[n_train:]


def next_token_windows(ids, block_size, starts):
    """Next-token targets from raw text: the window of `block_size` ids at each start, and the
    same window moved one id on, its targets -> (x, y), (N, T) int64 each, N = len(starts).

    x[i] = ids[s : s + T] and y[i] = ids[s + 1 : s + T + 1] for s = starts[i], so y[i, t] is the
    id that follows x[i, t]: every position of a window is one training example, and no label
    comes from anywhere but the text itself. A start must leave room for the window's last
    target: 0 <= s <= len(ids) - T - 1.

    >>> x, y = next_token_windows(np.array([5, 6, 7, 8, 9]), 3, [0, 1])
    >>> x.tolist(), y.tolist()
    ([[5, 6, 7], [6, 7, 8]], [[6, 7, 8], [7, 8, 9]])
    """
    ids = _checked_ids("ids", ids)  # not copied
    check_count("block_size", block_size, low=1)
    starts = np.asarray(starts)
    if starts.ndim != 1 or (starts.size and not np.issubdtype(starts.dtype, np.integer)):
        raise ValueError(
            f"starts: expected a 1-d sequence of integer offsets, got dtype {starts.dtype} "
            f"shape {starts.shape}"
        )
    last = len(ids) - block_size - 1  # the largest start whose targets still fit
    if starts.size and (starts.min() < 0 or starts.max() > last):
        bad = starts[(starts < 0) | (starts > last)][0]
        raise ValueError(
            f"starts: expected offsets in [0, {last}] (len(ids) {len(ids)} - block_size "
            f"{block_size} - 1), got {bad}"
        )
    return _windows(ids, block_size, starts)


def _windows(ids, block_size, starts):
    """next_token_windows without its checks, for get_batch, whose ids were checked once when
    TokenData was made and whose starts it draws itself: every batch would otherwise scan the
    whole token stream again."""
    index = starts.astype(np.int64)[:, None] + np.arange(block_size)  # (N, T)
    x = ids[index].astype(np.int64, copy=False)  # (N, T): fancy indexing made a new array
    return x, ids[index + 1].astype(np.int64, copy=False)  # (N, T)


class TokenData:
    """Train and validation token streams, and random (x, y) windows drawn from them.

    >>> data = TokenData(np.arange(100), np.arange(100, 120))
    >>> x, y, _ = data.get_batch("val", 2, 4, np.random.default_rng(0))
    >>> x.shape, bool((y[:, :-1] == x[:, 1:]).all())
    ((2, 4), True)
    """

    def __init__(self, train_ids, val_ids):
        self.train_ids = _as_id_array("train_ids", train_ids)  # (N_train,) int64
        self.val_ids = _as_id_array("val_ids", val_ids)  # (N_val,) int64

    def get_batch(self, split, batch_size, block_size, rng):
        """Draw `batch_size` random windows of `block_size` + 1 tokens from `split`.

        Returns Batch(idx, targets): (B, T) int64 each, with targets[b, t] = idx[b, t + 1] (the
        next token is the target) and no attention mask (a window has no padding). The offsets
        come from `rng` only, so the same generator state gives the same batch.
        """
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        check_count("batch_size", batch_size, low=1)
        check_count("block_size", block_size, low=1)
        ids = self.train_ids if split == "train" else self.val_ids
        if len(ids) < block_size + 1:
            raise ValueError(
                f"split {split!r} has {len(ids)} tokens, but block_size={block_size} needs at "
                f"least {block_size + 1} (a window plus its next token); use a smaller "
                "block_size, a larger corpus or a larger val_fraction"
            )
        # Offsets o in [0, N - T - 1], so the target window o+1 .. o+T still fits.
        offsets = rng.integers(0, len(ids) - block_size, size=batch_size)  # (B,)
        return Batch(*_windows(ids, block_size, offsets))  # (B, T), (B, T)

    def __repr__(self):
        return f"TokenData(train={len(self.train_ids)} tokens, val={len(self.val_ids)} tokens)"


def _as_id_array(name, ids):
    return _checked_ids(name, ids).astype(np.int64)  # a copy: the caller's array is not kept


def _checked_ids(name, ids):
    """ids as an array, checked to be 1-d integers >= 0 (no copy)."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(
            f"{name}: expected a 1-d sequence of integer ids, got dtype {ids.dtype} shape "
            f"{ids.shape}"
        )
    if ids.size and ids.min() < 0:
        raise ValueError(f"{name}: expected ids >= 0, got {ids.min()}")
    return ids


def pad_batch(sequences, pad_id, block_size):
    """Variable-length id lists -> (ids (N, T), attention_mask (N, T)), both int64.

    Each sequence is truncated to its first block_size ids, then right-padded with pad_id to
    T = the longest truncated length (at most block_size). attention_mask is 1 at real tokens
    and 0 at padding, so the real tokens of row n are ids[n, :attention_mask[n].sum()].

    >>> ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0, block_size=2)
    >>> ids.tolist(), mask.tolist()
    ([[5, 6], [8, 0]], [[1, 1], [1, 0]])
    """
    check_count("block_size", block_size, low=1)
    rows = []
    for n, s in enumerate(sequences):
        s = np.asarray(s)
        if s.size == 0:
            raise ValueError(f"sequences: expected non-empty sequences, got an empty one at {n}")
        check_ids(f"sequences[{n}]", s, high=np.iinfo(np.int64).max, ndim=1)
        rows.append(s[:block_size])
    if not rows:
        raise ValueError("sequences: expected at least one sequence, got none")
    T = max(len(s) for s in rows)
    ids = np.full((len(rows), T), pad_id, dtype=np.int64)  # (N, T)
    mask = np.zeros((len(rows), T), dtype=np.int64)  # (N, T)
    for n, s in enumerate(rows):
        ids[n, : len(s)] = s
        mask[n, : len(s)] = 1
    return ids, mask

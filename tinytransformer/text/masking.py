"""Masked-language-model targets (BERT's pretraining objective): hide some tokens, so that the
model (models.MaskedLM, bidirectional) learns to predict them from the tokens on BOTH sides.

    ids (B, T) -> mask_tokens -> inputs, targets -> MaskedLM -> loss at the selected positions only

BERT's rule in three readable parts, each with its draws given, and mask_tokens built from them:

- `choose_positions`: which tokens are predicted. Each ordinary token is selected with
  probability mask_prob (an independent Bernoulli draw per token, so the count varies from
  batch to batch); special tokens are never selected.
- `targets_at`: the original id at the chosen positions, -100 (nothing to predict) elsewhere.
- `mask_at`: the chosen positions replaced by [MASK] (the simplest corruption, and what a model
  meets only in pretraining); `corrupt_at`: BERT's 80/10/10 rule, the k-th chosen position
  becoming [MASK], a random ordinary id or itself as its draw u[k] says.
- `mask_tokens`: the three together, every random number drawn from one generator.
- `mlm_batch`: a masked batch of fixed windows from a token stream.

Positions are flat indices into ids (for a (B, T) batch, b * T + t), so every part works on ids
of any shape. Left out: whole-word masking, span masking (SpanBERT, T5), next-sentence
prediction, and dynamic padding of the token stream (stream windows are always full: no
attention mask).
"""

import numpy as np

from tinytransformer.checks import check_ids, check_number
from tinytransformer.ops.cross_entropy import IGNORE_INDEX
from tinytransformer.text.batching import Batch

# BERT's split of the selected tokens: [MASK], a random ordinary token, unchanged.
MASK_FRACTION, RANDOM_FRACTION = 0.8, 0.1


def targets_at(ids, positions):
    """-> targets like ids (int64): ids at the chosen positions, -100 everywhere else.

    positions: flat indices into ids (any order, no repeats); -100 is the cross-entropy's
    IGNORE_INDEX, so the loss is the mean over the chosen positions only.

    >>> targets_at(np.array([7, 8, 9, 6]), [2, 0]).tolist()
    [7, -100, 9, -100]
    """
    return _targets(*_check_positions(ids, positions))


def _targets(ids, positions):
    targets = np.full(ids.shape, IGNORE_INDEX, dtype=np.int64)  # like ids
    targets.flat[positions] = ids.flat[positions]
    return targets


def mask_at(ids, positions, mask_id):
    """-> (inputs, targets), both like ids (int64): every chosen position of ids replaced by
    mask_id in inputs; targets as targets_at. ids is not modified.

    >>> inputs, targets = mask_at(np.array([7, 8, 9, 6]), [2, 0], mask_id=10)
    >>> inputs.tolist(), targets.tolist()
    ([10, 8, 10, 6], [7, -100, 9, -100])
    """
    u = np.zeros(len(positions))  # every draw below 1.0: every chosen position [MASK]
    return corrupt_at(ids, positions, u, None, mask_id, mask_fraction=1.0, random_fraction=0.0)


def corrupt_at(
    ids,
    positions,
    u,
    random_ids,
    mask_id,
    *,
    mask_fraction=MASK_FRACTION,
    random_fraction=RANDOM_FRACTION,
):
    """BERT's 80/10/10 corruption of the chosen positions, with its draws given -> (inputs,
    targets), both like ids (int64). ids is not modified.

    For the k-th chosen position p = positions[k] (in the order given; they need not be sorted):
    u[k] < 0.8 -> inputs[p] = mask_id; 0.8 <= u[k] < 0.9 -> inputs[p] = random_ids[k];
    u[k] >= 0.9 -> the original id stays. targets as targets_at: the original id at every
    chosen position, so the model must predict it whatever its input shows.

    u: (K,) numbers in [0, 1), one per position; random_ids: (K,) ids (None when no position
    can take one, random_fraction 0). mask_fraction and random_fraction set the split (0.8 and
    0.1 in BERT; 1.0 and 0.0 is mask_at, every chosen position [MASK]).

    >>> inputs, targets = corrupt_at(np.array([7, 8, 9, 6]), [3, 1, 2], [0.5, 0.85, 0.95],
    ...                              [4, 5, 4], mask_id=10)
    >>> inputs.tolist(), targets.tolist()
    ([7, 5, 9, 10], [-100, 8, 9, 6])
    """
    ids, positions = _check_positions(ids, positions)
    _check_fractions(mask_fraction, random_fraction)
    u = np.asarray(u, dtype=np.float64)  # (K,)
    if u.shape != positions.shape:
        raise ValueError(
            f"u: expected one draw per position, shape {positions.shape}, got {u.shape}"
        )
    if random_fraction > 0 and random_ids is not None:
        random_ids = np.asarray(random_ids)
        if random_ids.shape != positions.shape:
            raise ValueError(
                f"random_ids: expected one id per position, shape {positions.shape}, "
                f"got {random_ids.shape}"
            )
    return _corrupt(ids, positions, u, random_ids, mask_id, mask_fraction, random_fraction)


def _corrupt(ids, positions, u, random_ids, mask_id, mask_fraction, random_fraction):
    """corrupt_at without its checks, for mask_tokens, whose positions and draws are its own."""
    to_mask = positions[u < mask_fraction]  # (K_mask,)
    to_random = (u >= mask_fraction) & (u < mask_fraction + random_fraction)  # (K,) bool
    inputs = ids.astype(np.int64)  # a copy: the caller's array stays as it was
    inputs.flat[to_mask] = mask_id
    if to_random.any():
        if random_ids is None:
            raise ValueError("random_ids: expected one id per position, got None")
        inputs.flat[positions[to_random]] = random_ids[to_random]
    return inputs, _targets(ids, positions)


def _check_fractions(mask_fraction, random_fraction):
    check_number("mask_fraction", mask_fraction, low=0.0, high=1.0)
    check_number("random_fraction", random_fraction, low=0.0, high=1.0)
    if mask_fraction + random_fraction > 1.0:  # the sum, not 1 - mask_fraction: 0.8 + 0.2 is 1.0
        raise ValueError(
            f"random_fraction: expected at most 1 - mask_fraction, got {random_fraction} with "
            f"mask_fraction {mask_fraction}"
        )


def choose_positions(ids, rng, special_ids, mask_prob=0.15):
    """Which tokens a masked LM predicts -> (select like ids (bool), positions (K,) int64, the
    flat indices of select, in increasing order).

    Each token is selected with probability mask_prob, one draw rng.random(ids.shape) for every
    token (special or not, so the draws depend only on the shape); special ids are never
    selected.
    """
    select = rng.random(ids.shape) < mask_prob  # like ids: the Bernoulli selection
    select &= ~np.isin(ids, special_ids)  # special tokens are never predicted
    return select, np.flatnonzero(select)


def mask_tokens(
    ids,
    rng,
    tokenizer,
    mask_prob=0.15,
    *,
    mask_fraction=MASK_FRACTION,
    random_fraction=RANDOM_FRACTION,
):
    """BERT's masking of a batch of token ids -> (inputs, targets), both like ids (int64).

    ids: integer array of any shape, e.g. (B, T); it is not modified.
    rng: numpy.random.Generator, the only source of randomness (same state -> same result).
    tokenizer: anything with `vocab_size`, `mask_id` and `special_ids` (every tokenizer in
        text/tokenizers.py). Special ids ([PAD] [MASK] [CLS] [SEP] <|endoftext|>) are never
        selected, and the random replacement is drawn from the ordinary ids only.
    mask_prob: the probability that an ordinary token is selected (independently per token).
    mask_fraction, random_fraction: of the selected, the share that becomes [MASK] (0.8) and
        the share that becomes a random ordinary token (0.1); the rest keep their id.
        mask_fraction=1.0, random_fraction=0.0 masks every selected token.

    Of the selected tokens 80% become [MASK], 10% a uniformly drawn ordinary token (which may
    happen to be the original one, as in BERT), and 10% keep their id; the model must predict
    the original at all of them, so it cannot learn to trust only [MASK] positions.

    The draws, in this order, all of the shape of ids: the selection (choose_positions), the
    action u of each token, and a random ordinary id for each token; corrupt_at then applies
    the rule to the selected positions with their own u and random id.

    A worked example: "abcdefgh" has ids 0..7 and [MASK] is 10. With mask_prob 0.5, five of
    the eight tokens were selected (the targets that are not -100); of those, "d" and "e"
    became [MASK], "f" is unchanged, and "g" and "h" were replaced by a random "f" and "a":

    >>> from tinytransformer.text.tokenizers import CharTokenizer
    >>> tok = CharTokenizer("abcdefgh")
    >>> ids = np.arange(8).reshape(2, 4)  # "abcd", "efgh"
    >>> inputs, targets = mask_tokens(ids, np.random.default_rng(5), tok, mask_prob=0.5)
    >>> inputs.tolist()
    [[0, 1, 2, 10], [10, 5, 5, 0]]
    >>> targets.tolist()
    [[-100, -100, -100, 3], [4, 5, 6, 7]]
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    check_number("mask_prob", mask_prob, low=0.0, high=1.0)
    _check_fractions(mask_fraction, random_fraction)
    V = tokenizer.vocab_size
    check_ids("ids", ids, high=V)
    special = np.asarray(tokenizer.special_ids)
    ordinary = np.setdiff1d(np.arange(V), special)  # (V_ord,) the ids a random token comes from
    # Draw every random number for every position, in a fixed order, so that the result depends
    # only on the generator state and the shape, not on which tokens happen to be special.
    _, positions = choose_positions(ids, rng, special, mask_prob)  # (K,) flat indices
    action = rng.random(ids.shape)  # like ids: < 0.8 -> [MASK], < 0.9 -> random, else keep
    random_ids = ordinary[rng.integers(0, len(ordinary), size=ids.shape)]  # like ids
    # corrupt_at's rule, unchecked: the positions and draws are this function's own
    return _corrupt(
        np.asarray(ids),
        positions,
        action.flat[positions],  # (K,) the draws of the chosen positions
        random_ids.flat[positions],  # (K,)
        tokenizer.mask_id,
        mask_fraction,
        random_fraction,
    )


def _check_positions(ids, positions):
    """ids as an integer array, positions as distinct (K,) int64 flat indices into it."""
    ids = np.asarray(ids)
    if ids.size and ids.dtype.kind not in "iu":
        raise TypeError(f"ids: expected integer token ids, got dtype {ids.dtype}")
    positions = np.asarray(positions)
    if positions.ndim != 1 or (positions.size and positions.dtype.kind not in "iu"):
        raise ValueError(
            f"positions: expected a 1-d sequence of integer indices, got dtype "
            f"{positions.dtype} shape {positions.shape}"
        )
    positions = positions.astype(np.int64)
    if positions.size and (positions.min() < 0 or positions.max() >= ids.size):
        bad = positions[(positions < 0) | (positions >= ids.size)][0]
        raise ValueError(f"positions: expected indices in [0, {ids.size}), got {bad}")
    if len(np.unique(positions)) != len(positions):
        raise ValueError("positions: expected distinct indices, got a repeated one")
    return ids, positions


def mlm_batch(
    data,
    split,
    batch_size,
    block_size,
    rng,
    tokenizer,
    mask_prob=0.15,
    *,
    mask_fraction=MASK_FRACTION,
    random_fraction=RANDOM_FRACTION,
):
    """A masked-LM batch of random windows from a token stream (a batching.TokenData).

    Returns Batch(inputs, targets): (B, T) int64 each, with no attention mask (windows cut from
    a stream have no padding). The window offsets and the masking both draw from rng, in that
    order. mask_fraction and random_fraction are mask_tokens' (BERT's 0.8 and 0.1).
    """
    x, _, _ = data.get_batch(split, batch_size, block_size, rng)  # (B, T); next-token y unused
    inputs, targets = mask_tokens(
        x, rng, tokenizer, mask_prob, mask_fraction=mask_fraction, random_fraction=random_fraction
    )
    return Batch(inputs, targets)

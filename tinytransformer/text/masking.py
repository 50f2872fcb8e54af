"""Masked-language-model targets (BERT's pretraining objective): hide some tokens, so that the
model (models.MaskedLM, bidirectional) learns to predict them from the tokens on BOTH sides.

    ids (B, T) -> mask_tokens -> inputs, targets -> MaskedLM -> loss at the selected positions only

- `mask_tokens`: BERT's corruption rule. Each ordinary token is selected with probability
  mask_prob (an independent Bernoulli draw per token, so the count varies from batch to batch);
  special tokens are never selected. Of the selected, 80% become [MASK], 10% a random ordinary
  token, 10% stay as they are. targets hold the original id at selected positions, -100 elsewhere.
- `mlm_batch`: a masked batch of fixed windows from a token stream.

Left out: whole-word masking, span masking (SpanBERT, T5), next-sentence prediction, and
dynamic padding of the token stream (stream windows are always full: no attention mask).
"""

import numpy as np

from tinytransformer.checks import check_ids, check_number
from tinytransformer.ops.cross_entropy import IGNORE_INDEX
from tinytransformer.text.batching import Batch

# BERT's split of the selected tokens: [MASK], a random ordinary token, unchanged.
MASK_FRACTION, RANDOM_FRACTION = 0.8, 0.1


def mask_tokens(ids, rng, tokenizer, mask_prob=0.15):
    """BERT's masking of a batch of token ids -> (inputs, targets), both like ids (int64).

    ids: integer array of any shape, e.g. (B, T); it is not modified.
    rng: numpy.random.Generator, the only source of randomness (same state -> same result).
    tokenizer: anything with `vocab_size`, `mask_id` and `special_ids` (every tokenizer in
        text/tokenizers.py). Special ids ([PAD] [MASK] [CLS] [SEP] <|endoftext|>) are never
        selected, and the random replacement is drawn from the ordinary ids only.
    mask_prob: the probability that an ordinary token is selected (independently per token).

    Of the selected tokens 80% become [MASK], 10% a uniformly drawn ordinary token (which may
    happen to be the original one, as in BERT), and 10% keep their id; the model must predict
    the original at all of them, so it cannot learn to trust only [MASK] positions.

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
    V = tokenizer.vocab_size
    check_ids("ids", ids, high=V)
    special = np.asarray(tokenizer.special_ids)
    ordinary = np.setdiff1d(np.arange(V), special)  # (V_ord,) the ids a random token comes from
    # Draw every random number for every position, in a fixed order, so that the result depends
    # only on the generator state and the shape, not on which tokens happen to be special.
    select = rng.random(ids.shape) < mask_prob  # like ids: the Bernoulli selection
    action = rng.random(ids.shape)  # like ids: < 0.8 -> [MASK], < 0.9 -> random, else keep
    random_ids = ordinary[rng.integers(0, len(ordinary), size=ids.shape)]  # like ids
    select &= ~np.isin(ids, special)  # special tokens are never predicted
    inputs = ids.astype(np.int64)  # a copy: the caller's array stays as it was
    to_mask = select & (action < MASK_FRACTION)
    to_random = select & (action >= MASK_FRACTION) & (action < MASK_FRACTION + RANDOM_FRACTION)
    inputs[to_mask] = tokenizer.mask_id
    inputs[to_random] = random_ids[to_random]
    targets = np.where(select, ids, IGNORE_INDEX).astype(np.int64)  # -100: not predicted
    return inputs, targets


def mlm_batch(data, split, batch_size, block_size, rng, tokenizer, mask_prob=0.15):
    """A masked-LM batch of random windows from a token stream (a batching.TokenData).

    Returns Batch(inputs, targets): (B, T) int64 each, with no attention mask (windows cut from
    a stream have no padding). The window offsets and the masking both draw from rng, in that
    order.
    """
    x, _, _ = data.get_batch(split, batch_size, block_size, rng)  # (B, T); next-token y unused
    inputs, targets = mask_tokens(x, rng, tokenizer, mask_prob)
    return Batch(inputs, targets)

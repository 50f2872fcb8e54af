"""Masked language modelling (BERT's pretraining objective): hide some tokens, predict them from
the tokens on BOTH sides.

    ids (B, T) -> mask_tokens -> inputs, targets -> MaskedLM (bidirectional) -> loss at the
    selected positions only

Three pieces:
- `MaskedLM`: the GPT's trunk with attention that is not causal, so every position sees the
  whole (unpadded) sequence. Everything else is inherited from `model.Transformer`: the same
  blocks, GPT-2's parameter names, the key-padding `attention_mask`, backward, freeze, state.
- `mask_tokens`: BERT's corruption rule. Each ordinary token is selected with probability
  mask_prob (an independent Bernoulli draw per token, so the count varies from batch to batch);
  special tokens are never selected. Of the selected, 80% become [MASK], 10% a random ordinary
  token, 10% stay as they are. targets hold the original id at selected positions, -100 elsewhere.
- `mlm_batch` and `pad_batch`: batches of fixed windows from a token stream, and of padded
  variable-length examples (the classifier's task data uses `pad_batch` too).

The MLM head is the tied output projection the base class already has: logits = ln_f(x) @ wte^T.
BERT puts one more dense + GELU + layer norm transform (and an output bias) between the trunk and
the tied projection; we leave it out, so the encoder has exactly the GPT's parameters and a
checkpoint of either loads into the other.

Also left out: whole-word masking, span masking (SpanBERT, T5), next-sentence prediction, and
dynamic padding of the token stream (stream windows are always full, so their mask is all ones).
"""

import numpy as np

from tinytransformer.checks import check_ids
from tinytransformer.model import Transformer
from tinytransformer.softmax import IGNORE_INDEX

# BERT's split of the selected tokens: [MASK], a random ordinary token, unchanged.
MASK_FRACTION, RANDOM_FRACTION = 0.8, 0.1


class MaskedLM(Transformer):
    """A bidirectional encoder trained to fill in masked tokens (BERT's objective on GPT-2's trunk).

    Takes a `GPTConfig` (alias `TransformerConfig`); `model(idx, targets, attention_mask)` returns
    (logits (B, T, V), loss), the loss averaged over positions whose target is not -100.

    >>> import numpy as np
    >>> from tinytransformer.model import GPTConfig, PRESETS
    >>> model = MaskedLM(GPTConfig(vocab_size=10, **PRESETS["tiny"]))
    >>> logits, loss = model(np.array([[1, 8, 3]]), targets=np.array([[-100, 2, -100]]))
    >>> logits.shape, bool(abs(float(loss) - np.log(10)) < 0.1)
    ((1, 3, 10), True)
    """

    causal = False  # every query may attend every real key, before and after it


def mask_tokens(ids, rng, tokenizer, mask_prob=0.15):
    """BERT's masking of a batch of token ids -> (inputs, targets), both like ids (int64).

    ids: integer array of any shape, e.g. (B, T); it is not modified.
    rng: numpy.random.Generator, the only source of randomness (same state -> same result).
    tokenizer: anything with `vocab_size`, `mask_id` and `special_ids` (every tokenizer in
        tokenizer.py). Special ids ([PAD] [MASK] [CLS] [SEP] <|endoftext|>) are never selected,
        and the random replacement is drawn from the ordinary ids only.
    mask_prob: the probability that an ordinary token is selected (independently per token).

    Of the selected tokens 80% become [MASK], 10% a uniformly drawn ordinary token (which may
    happen to be the original one, as in BERT), and 10% keep their id; the model must predict
    the original at all of them, so it cannot learn to trust only [MASK] positions.

    >>> from tinytransformer.tokenizer import CharTokenizer
    >>> tok = CharTokenizer("abcdefgh")
    >>> inputs, targets = mask_tokens(np.arange(8).reshape(2, 4), np.random.default_rng(0), tok)
    >>> bool(((targets == -100) | (targets == np.arange(8).reshape(2, 4))).all())
    True
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob: expected a probability in [0, 1], got {mask_prob!r}")
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
    """A masked-LM batch of random windows from a token stream (a data.TokenData).

    Returns inputs, targets, attention_mask: (B, T) int64 each. Windows cut from a stream have
    no padding, so attention_mask is all ones; it is returned so that the training loop passes
    the same three arrays for stream batches and for padded ones (pad_batch + mask_tokens).
    The window offsets and the masking both draw from rng, in that order.
    """
    x, _ = data.get_batch(split, batch_size, block_size, rng)  # (B, T); next-token y unused
    inputs, targets = mask_tokens(x, rng, tokenizer, mask_prob)
    return inputs, targets, np.ones(x.shape, dtype=np.int64)


def pad_batch(sequences, pad_id, block_size):
    """Variable-length id lists -> (ids (N, T), attention_mask (N, T)), both int64.

    Each sequence is truncated to its first block_size ids, then right-padded with pad_id to
    T = the longest truncated length (at most block_size). attention_mask is 1 at real tokens
    and 0 at padding, so the real tokens of row n are ids[n, :attention_mask[n].sum()].

    >>> ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0, block_size=2)
    >>> ids.tolist(), mask.tolist()
    ([[5, 6], [8, 0]], [[1, 1], [1, 0]])
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer):
        raise TypeError(f"block_size: expected an int, got {type(block_size).__name__}")
    if block_size < 1:
        raise ValueError(f"block_size: expected a positive int, got {block_size}")
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

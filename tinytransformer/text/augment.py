"""Data augmentation for text: the same training windows, each read with some of its input
tokens replaced by random ones, so a model cannot simply memorise every window it sees.

    next_batch = noised(batch_source(data, "train", B, T, seed=3), p=0.1, vocab_size=V, seed=5)

Only the inputs are noised; the targets stay the true next tokens, so the model must predict
the real continuation from a corrupted context (as a denoising objective does). The other
cheap augmentation of a token stream, a random crop of a window out of the text, is what
TokenData.get_batch already does: every batch is windows at random offsets.

Left out: synonym replacement, back-translation and other augmentations that need a model or
a dictionary of the language.
"""

import numpy as np

from tinytransformer.checks import check_count, check_number
from tinytransformer.text.batching import Batch


def noise_tokens(batch, p, vocab_size, rng):
    """A copy of `batch` with each input token replaced, with probability p, by an id drawn
    uniformly from [0, vocab_size) (which may by chance be the same id). idx (B, T) changes;
    targets and attention_mask are kept. Positions where attention_mask is 0 (padding) are
    never noised. p = 0 returns the batch unchanged.

    >>> b = Batch(np.zeros((2, 5), dtype=np.int64), np.ones((2, 5), dtype=np.int64))
    >>> noisy = noise_tokens(b, 1.0, 7, np.random.default_rng(0))
    >>> noisy.idx.shape, bool((noisy.targets == b.targets).all())
    ((2, 5), True)
    """
    p = check_number("p", p, low=0.0, high=1.0)
    check_count("vocab_size", vocab_size, low=1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    if p == 0.0:
        return batch
    idx = batch.idx  # (B, T)
    replace = rng.random(idx.shape) < p  # (B, T) bool
    if batch.attention_mask is not None:
        replace &= batch.attention_mask.astype(bool)  # padding stays padding
    random_ids = rng.integers(0, vocab_size, size=idx.shape, dtype=idx.dtype)  # (B, T)
    return Batch(np.where(replace, random_ids, idx), batch.targets, batch.attention_mask)


def noised(next_batch, p, vocab_size, seed):
    """Wrap a batch source (a function of no arguments returning a Batch): the same batches,
    noised by noise_tokens with a generator of its own seeded by `seed`."""
    rng = np.random.default_rng(seed)
    return lambda: noise_tokens(next_batch(), p, vocab_size, rng)

"""The KV cache of generation: the keys and values of every position seen so far, kept so that
each new token goes through the model alone.

    one KVCache per block:  k, v (B, nh, max_len, hs), positions 0 .. length - 1 filled

The arrays are allocated once, for the whole generation (max_len = prompt + new tokens, at most
block_size). A step writes its positions' keys and values in place and attends to the filled
part, a view: no array grows, nothing is copied, and a step at the 500th token allocates what
one at the 10th does. Attention itself still reads every filled position: that part of a step
grows with the context.
Left out: paged or shared caches, and caches for prompts of different lengths.
"""

import numpy as np


class KVCache:
    """The keys and values of one attention layer, for max_len positions of a batch.

    >>> cache = KVCache(batch_size=1, n_head=2, max_len=4, head_size=3)
    >>> k, v = cache.append(np.ones((1, 2, 3, 3)), np.zeros((1, 2, 3, 3)))  # a 3-token prompt
    >>> k, v = cache.append(np.ones((1, 2, 1, 3)), np.zeros((1, 2, 1, 3)))  # one more token
    >>> k.shape, cache.length
    ((1, 2, 4, 3), 4)
    """

    def __init__(self, batch_size, n_head, max_len, head_size, dtype=np.float32):
        shape = (batch_size, n_head, max_len, head_size)
        self.k = np.empty(shape, dtype)  # (B, nh, max_len, hs)
        self.v = np.empty(shape, dtype)  # (B, nh, max_len, hs)
        self.length = 0  # positions filled so far

    @property
    def max_len(self):
        return self.k.shape[2]

    def append(self, k, v):
        """k, v (B, nh, T, hs) of the next T positions -> the keys and values of every position
        so far, (B, nh, length, hs) each: views of the cache, valid until the next append."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(
                f"k: {k.shape[2]} more positions after {start} exceed the cache's {self.max_len}"
            )
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def clear(self):
        """Forget every position (the arrays stay allocated): for a window that has slid."""
        self.length = 0


def make_kv_cache(config, batch_size, max_len, dtype=np.float32):
    """One empty KVCache per block of a model with this config, for max_len positions."""
    hs = config.n_embd // config.n_head
    return [KVCache(batch_size, config.n_head, max_len, hs, dtype) for _ in range(config.n_layer)]

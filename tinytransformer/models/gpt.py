"""The GPT: the transformer trunk with causal attention, and text generation with a KV cache.

    idx (B, T) -> trunk (causal) -> x (B, T, C) -> @ wte^T -> logits (B, T, V)

Generation repeats: run the model on the context, turn the last position's logits into the
next token (models/sampling.py), append it. With the KV cache, only the newest token goes
through the model: the keys and values of every earlier position are kept from the step before.
Left out: beam search, batched prompts of different lengths, stop sequences.
"""

import warnings

import numpy as np

from tinytransformer.checks import check_count, check_ids
from tinytransformer.models.hf import read_pretrained, write_pretrained
from tinytransformer.models.kv_cache import make_kv_cache
from tinytransformer.models.sampling import DEFAULT_SAMPLING, Sampling, sample_next
from tinytransformer.models.transformer import WTE, Transformer, evaluating


class GPT(Transformer):
    """A causal language model: position t sees tokens 0..t and predicts token t + 1.

    >>> from tinytransformer.models.config import PRESETS, GPTConfig
    >>> model = GPT(GPTConfig(vocab_size=10, **PRESETS["tiny"]))
    >>> idx = np.random.default_rng(0).integers(0, 10, size=(4, 16))  # (B, T)
    >>> logits, loss = model(idx, targets=np.roll(idx, -1, axis=1))
    >>> logits.shape, round(float(loss), 1)  # at initialisation, about ln(10) = 2.3
    ((4, 16, 10), 2.3)
    """

    causal = True

    @classmethod
    def from_pretrained(cls, path, dtype=np.float32):
        """A GPT holding a Hugging Face GPT-2 directory's weights (config.json and
        model.safetensors; a name like "gpt2" is looked up in the local Hugging Face cache,
        nothing is downloaded). See models/hf.py for what is checked."""
        config, state = read_pretrained(path)
        return cls(config, dtype=dtype, params=state)

    def save_pretrained(self, path, tokenizer=None):
        """Write this model (and, if given, its tokenizer) as a Hugging Face directory that
        GPT2LMHeadModel.from_pretrained and AutoTokenizer.from_pretrained load."""
        folder = write_pretrained(self, path, getattr(tokenizer, "eot_id", None))
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
        return folder

    def generate(
        self,
        idx,
        max_new_tokens,
        *,
        temperature=1.0,
        top_k=None,
        top_p=None,
        rng=None,
        use_cache=True,
        suppress=None,
    ):
        """Continue idx (B, T) by max_new_tokens sampled tokens -> (B, T + max_new_tokens).

        temperature=0 picks the most likely token (greedy). See sampling.Sampling for top_k
        and top_p. suppress: ids never to sample (generate_text passes the tokenizer's special
        tokens). A prompt longer than block_size is cropped from the left, with a warning.
        """
        sampling = Sampling(temperature, top_k, top_p)
        steps = self.generate_iter(
            idx, max_new_tokens, sampling, rng=rng, use_cache=use_cache, suppress=suppress
        )
        return np.concatenate([idx.astype(np.int64, copy=False), *steps], axis=1)  # (B, T + n)

    def generate_iter(
        self,
        idx,
        max_new_tokens,
        sampling=DEFAULT_SAMPLING,
        *,
        rng=None,
        use_cache=True,
        suppress=None,
    ):
        """Like generate, with the settings as one Sampling, yielding each new token (B, 1) as
        soon as it is sampled. The arguments are checked here, when it is called, not at the
        first token."""
        check_ids("idx", idx, high=self.config.vocab_size, ndim=2)
        idx = idx.astype(np.int64, copy=False)  # uint64 and int64 would concatenate to float64
        check_count("max_new_tokens", max_new_tokens)
        if not isinstance(sampling, Sampling):
            raise TypeError(f"sampling: expected a Sampling, got {type(sampling).__name__}")
        blocked = np.zeros(self.config.vocab_size, dtype=bool)  # (V,) ids never sampled
        if suppress is not None:
            ids = np.asarray(suppress)  # not cast: check_ids refuses float ids
            ids = ids.astype(np.int64) if ids.size == 0 else ids  # [] has no integer dtype
            blocked[check_ids("suppress", ids, high=self.config.vocab_size, ndim=1)] = True
            if blocked.all():
                raise ValueError("suppress: expected some ids left to sample, got every id")
        if idx.shape[1] == 0:
            raise ValueError("idx: expected at least one prompt token, got an empty prompt")
        if rng is None:
            rng = np.random.default_rng()
        bs = self.config.block_size
        if idx.shape[1] > bs:
            warnings.warn(
                f"prompt of {idx.shape[1]} tokens is longer than block_size {bs}: "
                f"keeping its last {bs} tokens",
                stacklevel=2,
            )
            idx = idx[:, -bs:]
        blocked = blocked if blocked.any() else None
        return self._sample_steps(idx, max_new_tokens, sampling, rng, use_cache, blocked)

    def _sample_steps(self, idx, max_new_tokens, sampling, rng, use_cache, blocked):
        """The generator behind generate_iter, on checked arguments; blocked: (V,) bool or None.

        With the cache, the first step runs the prompt through the model, filling the KV cache
        (allocated here, once, for the prompt and every new token, at most block_size
        positions); each later step is the forward pass of one position, the newest token,
        attending to the cache. Once the context outgrows block_size the window slides, every
        position shifts, and the whole window is recomputed into the emptied cache. The
        arguments were checked by generate_iter, so the steps pass check=False.
        """
        bs, wte = self.config.block_size, self.params[WTE]
        kv = None  # the KV cache: one KVCache per block, or None without a cache
        if use_cache:
            # the positions the cache will hold: the prompt and every new token but the last,
            # which is sampled and never fed back
            max_len = min(idx.shape[1] + max_new_tokens - 1, bs)
            kv = make_kv_cache(self.config, idx.shape[0], max_len, self.dtype)
        with evaluating(self):
            context = idx  # (B, t): what the model sees, at most block_size tokens
            for _ in range(max_new_tokens):
                if kv is not None and kv[0].length and context.shape[1] <= bs:
                    # only the newest token goes through the model; the cache holds the keys
                    # and values of every earlier position, and receives this one's
                    x, _ = self.trunk_forward(context[:, -1:], kv_cache=kv, check=False)
                else:
                    # the first step, generation without a cache, or a full window: positions
                    # shift when the window slides, so everything is recomputed
                    context = context[:, -bs:]
                    for cache in kv or ():
                        cache.clear()
                    x, _ = self.trunk_forward(context, kv_cache=kv, check=False)  # (B, t, C)
                # the head on the last position only: its logits are the ones sampled from
                logits = x[:, -1] @ wte.T  # (B, V) = (B, C) @ (C, V)
                if blocked is not None:
                    logits[:, blocked] = -np.inf  # suppressed ids: probability 0
                nxt = sample_next(logits, sampling, rng)[:, None]  # (B, 1)
                context = np.concatenate([context, nxt], axis=1)
                yield nxt


def generate_text(
    model,
    tokenizer,
    prompt,
    max_new_tokens,
    *,
    temperature=0.8,
    top_k=None,
    top_p=None,
    seed=None,
    use_cache=True,
    allow_special=False,
):
    """Encode prompt, generate, decode -> the whole text (prompt + continuation).

    An empty prompt starts from a newline. tokenizer: anything with encode and decode (and
    special_ids: [PAD], [MASK], ... are never sampled unless allow_special).
    """
    check_count("seed", seed, allow_none=True)
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.encode("\n")[0]]
    idx = np.array([ids], dtype=np.int64)  # (1, T)
    special = getattr(tokenizer, "special_ids", None)
    suppress = None if allow_special or special is None else special
    out = model.generate(
        idx,
        max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        rng=np.random.default_rng(seed),
        use_cache=use_cache,
        suppress=suppress,
    )
    return tokenizer.decode(out[0].tolist())

"""Sampling: turn the model's last logits into the next token, and the `sample` command.

    logits (B, V) -> / temperature -> keep top_k -> keep the top_p nucleus -> softmax -> draw

temperature=0 means greedy (the most likely token). Generation itself, with its KV cache, is
GPT.generate in model.py; this module decides which token to take.
Left out: beam search, repetition penalties, stop sequences.
"""

import argparse
import sys

import numpy as np

from tinytransformer.checks import non_negative_int, positive_int
from tinytransformer.softmax import softmax_forward


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, rng=None):
    """logits (B, V) -> next ids (B,).

    temperature: divides the logits; < 1 sharpens, > 1 flattens, 0 is greedy.
    top_k:       keep only the k most likely tokens.
    top_p:       keep the smallest set of most likely tokens whose probability reaches top_p
                 (nucleus sampling); the most likely token is always kept.

    >>> import numpy as np
    >>> sample_next(np.array([[0.0, 3.0, 1.0]]), temperature=0).tolist()
    [1]
    """
    if logits.ndim != 2:
        raise ValueError(f"logits: expected shape (B, V), got {logits.shape}")
    if not (isinstance(temperature, int | float | np.floating) and temperature >= 0):
        raise ValueError(f"temperature: expected a number >= 0, got {temperature!r}")
    is_int = isinstance(top_k, int | np.integer) and not isinstance(top_k, bool)
    if top_k is not None and not (is_int and top_k >= 1):
        raise ValueError(f"top_k: expected a positive integer, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, int | float) and 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p: expected a probability in (0, 1], got {top_p!r}")
    if temperature == 0:
        return logits.argmax(axis=-1)
    if not hasattr(rng, "random"):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    V = logits.shape[-1]
    z = logits / temperature  # (B, V)
    if top_k is not None and top_k < V:
        kth = np.partition(z, V - top_k, axis=-1)[:, V - top_k : V - top_k + 1]  # (B, 1)
        z = np.where(z < kth, -np.inf, z)  # ties with the k-th value are kept
    probs, _ = softmax_forward(z)  # (B, V)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")  # (B, V) most likely first
        sorted_p = np.take_along_axis(probs, order, axis=-1).astype(np.float64)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p  # probability of the tokens ahead
        # a token is kept while the mass ahead of it is below top_p; the tolerance makes a mass
        # that reaches top_p up to rounding (0.5 + 0.3 against 0.8) count as reached
        keep_sorted = before < top_p - 4 * np.finfo(probs.dtype).eps
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs, _ = softmax_forward(np.where(keep, z, -np.inf))
    # inverse-CDF draw, one uniform number per row
    u = rng.random((probs.shape[0], 1))  # (B, 1)
    cdf = np.cumsum(probs, axis=-1, dtype=np.float64)  # (B, V)
    cdf /= cdf[:, -1:]
    # the first id whose cdf exceeds u; `<=` skips leading ids of probability 0 even when u = 0
    return np.minimum((cdf <= u).sum(axis=-1), V - 1)


def add_sampling_args(parser):
    """The sampling flags, shared by `sample` and the end of `train`."""
    parser.add_argument("--temperature", type=float, default=0.8, help="0 means greedy")
    parser.add_argument("--top-k", type=positive_int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--max-new-tokens", type=non_negative_int, default=300)


def generate_text(model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, seed,
                  use_cache=True):  # fmt: skip
    """Encode prompt, generate, decode -> the whole text (prompt + continuation)."""
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.encode("\n")[0]]
    idx = np.array([ids], dtype=np.int64)  # (1, T)
    out = model.generate(idx, max_new_tokens, temperature, top_k, top_p,
                         np.random.default_rng(seed), use_cache)  # fmt: skip
    return tokenizer.decode(out[0].tolist())


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tinytransformer sample", description="Sample text from a trained model."
    )
    parser.add_argument("--out", default="out", help="the training run's directory")
    parser.add_argument("--checkpoint", default=None, help="a checkpoint file (default: best)")
    parser.add_argument("--prompt", default="", help="text to continue (default: a newline)")
    parser.add_argument("--num-samples", type=positive_int, default=1)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--no-cache", action="store_true", help="generate without the KV cache")
    add_sampling_args(parser)
    args = parser.parse_args(argv)

    from tinytransformer.checkpoint import CheckpointError, find_checkpoint, load_generator

    try:
        path = args.checkpoint or find_checkpoint(args.out)
        ckpt = load_generator(path)
    except CheckpointError as e:
        sys.exit(f"error: {e}")
    model, tokenizer = ckpt.model, ckpt.tokenizer
    try:
        for i in range(args.num_samples):
            text = generate_text(model, tokenizer, args.prompt, args.max_new_tokens,
                                 args.temperature, args.top_k, args.top_p, args.seed + i,
                                 use_cache=not args.no_cache)  # fmt: skip
            print(text)
            print("-" * 40)
    except ValueError as e:
        sys.exit(f"error: {e}")

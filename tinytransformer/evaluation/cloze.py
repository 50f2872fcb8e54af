"""Fill in the blank (a cloze test): how well a model recovers a token hidden in held-out text,
from what its attention lets it see, and the GPT's next-token accuracy.

    left_fill_in(gpt, windows)                 # (N, T-1): blanks at 1..T-1, left context only
    masked_fill_in(mlm, windows, mask_id)      # (N, T): one [MASK] at a time, both sides seen
    scored_fill_in(gpt, windows, t)            # (N,): a GPT using the right side, V passes
    target_accuracy(logits, targets)           # argmax == target where target != -100

A GPT's attention is causal, so its one forward pass predicts position t from positions < t
only: filling a blank that way is next-token prediction. A masked LM sees both sides of a
[MASK] in one pass. A GPT can use the right side too, but only by trying every candidate c in
the blank and scoring the whole window, log p(c | left) + log p(right | left, c): one forward
pass per candidate (scored_fill_in), the price of a causal mask.

Every function runs the model in eval mode (no dropout) and returns booleans (correct or not)
per blank, so a caller can average them over windows, positions, or both. Left out: blanks of
more than one token (spans), and sampling instead of the argmax.
"""

import numpy as np

from tinytransformer.checks import check_count, check_ids
from tinytransformer.evaluation.perplexity import token_logprobs
from tinytransformer.models.transformer import evaluating
from tinytransformer.ops.cross_entropy import IGNORE_INDEX


def target_accuracy(logits, targets):
    """logits (..., V), targets (...) ints with -100 where nothing is predicted -> the fraction
    of predicted positions whose argmax is the target (nan when none is predicted).

    >>> logits = np.array([[[0.1, 2.0], [3.0, 0.0], [1.0, 0.0]]])   # (1, 3, 2)
    >>> float(target_accuracy(logits, np.array([[1, 1, -100]])))
    0.5
    """
    targets = np.asarray(targets)
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"targets: expected the logits' shape without V, {logits.shape[:-1]}, got "
            f"{targets.shape}"
        )
    scored = targets != IGNORE_INDEX  # (...)
    if not scored.any():
        return np.nan
    return float((logits.argmax(axis=-1)[scored] == targets[scored]).mean())


def left_fill_in(model, windows):
    """A causal model (GPT) filling each position t = 1..T-1 of each window from the positions
    before it -> correct (N, T-1) bool, correct[n, t-1] = argmax logits[n, t-1] == windows[n, t].

    One forward pass: the causal mask already hides every position from those before it, so
    position t-1's prediction of the next token is the fill-in of blank t with its left
    context, t tokens of it. This is the next-token accuracy at each position.
    """
    windows = _check_windows(model, windows)
    with evaluating(model):
        logits, _ = model(windows)  # (N, T, V)
    return logits[:, :-1].argmax(axis=-1) == windows[:, 1:]  # (N, T-1)


def masked_fill_in(model, windows, mask_id, positions=None):
    """A bidirectional model (MaskedLM) filling one blank at a time -> correct (N, P) bool.

    For each t in `positions` (default: every position 0..T-1), column t of the windows becomes
    mask_id and nothing else changes; correct[n, i] says whether the argmax at t = positions[i]
    is windows[n, t]. One forward pass per position, each with a single [MASK] per window, so a
    blank is filled with everything else in its window visible on both sides.
    """
    windows = _check_windows(model, windows)
    T = windows.shape[1]
    positions = np.arange(T) if positions is None else np.asarray(positions)
    check_ids("positions", positions, high=T, ndim=1)
    check_count("mask_id", mask_id, high=model.config.vocab_size - 1)
    correct = np.zeros((len(windows), len(positions)), dtype=bool)  # (N, P)
    with evaluating(model):
        for i, t in enumerate(positions):
            blanked = windows.copy()  # (N, T)
            blanked[:, t] = mask_id
            logits, _ = model(blanked)  # (N, T, V)
            correct[:, i] = logits[:, t].argmax(axis=-1) == windows[:, t]
    return correct


def scored_fill_in(model, windows, t, candidates=None):
    """A causal model (GPT) filling blank t of each window from BOTH sides, by scoring ->
    correct (N,) bool.

    Each candidate id c is put in the blank and the window's log-likelihood from position t on
    is summed: score(c) = log p(c | x_<t) + sum_{s > t} log p(x_s | x_<s with x_t = c). The
    positions before t do not depend on c, so this is log p(window with c) up to a constant,
    and its argmax is the most likely fill-in given both sides. One forward pass per candidate
    (default: every id of the vocabulary, V passes). t >= 1: the model needs something to its
    left to predict position t from.
    """
    windows = _check_windows(model, windows)
    N, T = windows.shape
    check_count("t", t, low=1, high=T - 1)
    V = model.config.vocab_size
    candidates = np.arange(V) if candidates is None else np.asarray(candidates)
    check_ids("candidates", candidates, high=V, ndim=1)
    scores = np.empty((N, len(candidates)))  # (N, K)
    with evaluating(model):
        for k, c in enumerate(candidates):
            filled = windows.copy()  # (N, T)
            filled[:, t] = c
            logits, _ = model(filled)  # (N, T, V)
            # positions t-1 .. T-2 predict the ids at t .. T-1: (N, T-t) log-probabilities
            logp = token_logprobs(logits[:, t - 1 : T - 1], filled[:, t:])
            scores[:, k] = logp.sum(axis=1)
    return candidates[scores.argmax(axis=1)] == windows[:, t]  # (N,)


def _check_windows(model, windows):
    check_ids("windows", windows, high=model.config.vocab_size, ndim=2)
    if windows.shape[1] < 2:
        raise ValueError(f"windows: expected at least 2 positions, got shape {windows.shape}")
    return windows

"""evaluation/cloze.py: fill-in-the-blank accuracy of a causal and a bidirectional model.

Worked examples with known answers, on hand-made models whose predictions are a rule (the next
id, the right neighbour's id minus one), so that every expected boolean is worked out by hand;
then the package's GPT and MaskedLM through the same functions, against target_accuracy.
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from tinytransformer.evaluation.cloze import (
    left_fill_in,
    masked_fill_in,
    scored_fill_in,
    target_accuracy,
)
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.transformer import MaskedLM

V, MASK = 6, 5  # ids 0..4 are text, 5 plays [MASK]


class RuleModel:
    """A model whose logits at (n, t) are `sharpness` at the id `rule(x, n, t)` and 0 elsewhere;
    it records every input it is given, and the mode it was called in."""

    def __init__(self, rule, sharpness=lambda x, n, t: 10.0):
        self.rule, self.sharpness = rule, sharpness
        self.config = SimpleNamespace(vocab_size=V)
        self.training, self.calls, self.modes = True, [], []

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, idx, targets=None, attention_mask=None):
        self.calls.append(idx.copy())
        self.modes.append(self.training)
        logits = np.zeros((*idx.shape, V))  # (N, T, V)
        for n, t in np.ndindex(idx.shape):
            logits[n, t, self.rule(idx, n, t)] = self.sharpness(idx, n, t)
        return logits, None


def successor(x, n, t):
    return (x[n, t] + 1) % MASK  # a causal rule: the next id after this one


def right_minus_one(x, n, t):
    """At a [MASK]: the right neighbour's id minus one (the left one's plus one at the end)."""
    T = x.shape[1]
    return (x[n, t + 1] - 1) % MASK if t < T - 1 else (x[n, t - 1] + 1) % MASK


def test_target_accuracy_counts_only_the_scored_positions():
    logits = np.zeros((2, 3, V))
    logits[0, :, 1] = 1.0  # row 0 predicts 1 everywhere
    logits[1, :, 2] = 1.0  # row 1 predicts 2
    targets = np.array([[1, 3, -100], [2, -100, -100]])
    assert target_accuracy(logits, targets) == pytest.approx(2 / 3)
    assert math.isnan(target_accuracy(logits, np.full((2, 3), -100)))
    with pytest.raises(ValueError, match="targets: expected the logits' shape"):
        target_accuracy(logits, targets[:, :2])


def test_left_fill_in_is_the_next_token_prediction_at_each_blank():
    model = RuleModel(successor)
    windows = np.array([[0, 1, 2, 4], [3, 4, 0, 1]])
    correct = left_fill_in(model, windows)
    # row 0 predicts 1, 2, 3 for blanks 1..3 (truth 1, 2, 4); row 1 predicts 4, 0, 1
    assert correct.tolist() == [[True, True, False], [True, True, True]]
    assert len(model.calls) == 1 and model.modes == [False] and model.training  # eval, restored


def test_masked_fill_in_hides_one_position_at_a_time_and_sees_the_right_side():
    model = RuleModel(right_minus_one)
    windows = np.array([[0, 1, 2, 4]])
    correct = masked_fill_in(model, windows, MASK)
    # blank 0: 1 - 1 = 0 yes; 1: 2 - 1 = 1 yes; 2: 4 - 1 = 3, truth 2, no; 3 (the end): 2 + 1 = 3,
    # truth 4, no
    assert correct.tolist() == [[True, True, False, False]]
    for t, seen in enumerate(model.calls):  # one pass per blank, one [MASK] in it, at t
        assert np.flatnonzero(seen[0] == MASK).tolist() == [t]
        assert np.array_equal(np.delete(seen[0], t), np.delete(windows[0], t))
    assert masked_fill_in(model, windows, MASK, positions=[2, 0]).tolist() == [[False, True]]
    assert windows.tolist() == [[0, 1, 2, 4]]  # not modified


def test_scored_fill_in_uses_the_right_side_where_the_left_one_misleads():
    # successor with a confidence that grows with the id: p(next = x + 1 | x) is sharper for a
    # larger x, so the right side's evidence can outweigh the left side's
    model = RuleModel(successor, sharpness=lambda x, n, t: 1.0 + x[n, t])
    windows = np.array([[0, 1, 3, 4], [0, 1, 2, 3]])
    left = left_fill_in(model, windows)[:, 1]  # blank t = 2
    assert left.tolist() == [False, True]  # after 1, the rule says 2
    assert scored_fill_in(model, windows, 2).tolist() == [True, True]
    assert len(model.calls) == 1 + V  # the left pass, then one pass per candidate

    # the same score by hand for row 0, candidate by candidate: log p(c | 1) + log p(4 | c)
    def logp(prev, nxt):
        a = 1.0 + prev
        z = np.where(np.arange(V) == (prev + 1) % MASK, a, 0.0)
        return z[nxt] - math.log(np.exp(z).sum())

    by_hand = [logp(1, c) + logp(c, 4) for c in range(V)]
    assert int(np.argmax(by_hand)) == 3
    with pytest.raises(ValueError, match="t: expected"):
        scored_fill_in(model, windows, 0)


def test_the_packages_models_through_the_same_functions():
    config = GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=8)
    windows = np.random.default_rng(0).integers(0, MASK, size=(5, 8))
    gpt = GPT(config, seed=1, dtype=np.float64)
    logits, _ = gpt(windows)
    targets = np.concatenate([windows[:, 1:], np.full((5, 1), -100)], axis=1)  # next tokens
    assert left_fill_in(gpt, windows).mean() == pytest.approx(target_accuracy(logits, targets))
    mlm = MaskedLM(config, seed=2, dtype=np.float64)
    blanked = windows.copy()
    blanked[:, 3] = MASK
    logits, _ = mlm(blanked)
    want = logits[:, 3].argmax(axis=-1) == windows[:, 3]
    assert np.array_equal(masked_fill_in(mlm, windows, MASK, positions=[3])[:, 0], want)
    assert scored_fill_in(gpt, windows, 4, candidates=np.arange(MASK)).shape == (5,)

"""Mean pooling, its backward pass, and the linear probe (evaluation/probe.py)."""

import numpy as np
import pytest

from tinytransformer.evaluation.probe import (
    layer_features,
    mean_pool,
    mean_pool_backward,
    probe_layers,
    ridge_probe,
)
from tinytransformer.gradcheck import numerical_gradient, rel_error
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT


def test_mean_pool_worked_example():
    h = np.array([[[1.0, 10.0], [3.0, 20.0], [100.0, 100.0]], [[2.0, 4.0], [6.0, 8.0], [7.0, 9.0]]])
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    assert mean_pool(h, mask).tolist() == [[2.0, 15.0], [5.0, 7.0]]


def test_mean_pool_backward_matches_finite_differences_in_float64():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((3, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]])
    dpooled = rng.standard_normal((3, 4))  # random upstream: all ones could hide a bug
    dh = mean_pool_backward(dpooled, mask)
    numerical = numerical_gradient(lambda: mean_pool(h, mask), h, dpooled)
    assert dh.shape == h.shape
    assert rel_error(dh, numerical) < 1e-8
    assert (dh[mask == 0] == 0).all()  # padding gets no gradient


def test_mean_pool_refuses_a_row_without_real_tokens_and_non_binary_masks():
    h = np.zeros((2, 3, 1))
    with pytest.raises(ValueError, match="row 1 has no real token"):
        mean_pool(h, np.array([[1, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="only 0"):
        mean_pool(h, np.array([[1, 2, 0], [1, 0, 0]]))
    with pytest.raises(ValueError, match="expected shape"):
        mean_pool(h, np.ones((2, 4)))


def test_ridge_probe_reads_a_class_written_in_the_features():
    rng = np.random.default_rng(1)

    def split(n):
        y = rng.integers(0, 3, n)
        X = rng.standard_normal((n, 6))
        X[np.arange(n), y] += 4.0  # class k raises feature k, far above the noise
        return X, y

    val_acc, test_acc = ridge_probe(split(90), split(30), split(60), 3)
    assert val_acc > 0.9 and test_acc > 0.9
    noise = [(rng.standard_normal((n, 6)), rng.integers(0, 3, n)) for n in (90, 30, 600)]
    assert ridge_probe(*noise, 3)[1] < 0.45  # no signal: about chance, 1/3


def test_layer_features_are_the_mean_pooled_hidden_states():
    config = GPTConfig(vocab_size=11, block_size=6, n_layer=2, n_head=2, n_embd=8)
    model = GPT(config, seed=0, dtype=np.float64)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 11, (5, 6))
    mask = np.ones((5, 6), np.int64)
    mask[0, 3:] = 0
    feats = layer_features(model, ids, mask, chunk=2)  # (L + 1, N, C)
    assert feats.shape == (3, 5, 8)
    states = model.hidden_states(ids[:1], mask[:1])
    assert np.allclose(feats[2, 0], states[2][0, :3].mean(axis=0), atol=1e-12)
    task = {s: (ids, mask, np.array([0, 1, 0, 1, 0])) for s in ("train", "val", "test")}
    scores = probe_layers(model, task, 2)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)

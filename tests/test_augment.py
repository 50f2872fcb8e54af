"""Token noising: only the inputs change, at the rate asked, never the targets or padding."""

import numpy as np
import pytest

from tinytransformer.text.augment import noise_tokens, noised
from tinytransformer.text.batching import Batch


def _batch(B=64, T=32, V=50, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, V, size=(B, T))  # (B, T)
    return Batch(idx, np.roll(idx, -1, axis=1))


def test_the_rate_of_replaced_tokens_is_p():
    # a replaced token keeps its id with probability 1/V, so the changed share is p (1 - 1/V)
    b, V, p = _batch(V=50), 50, 0.2
    noisy = noise_tokens(b, p, V, np.random.default_rng(1))
    changed = (noisy.idx != b.idx).mean()
    assert changed == pytest.approx(p * (1 - 1 / V), abs=0.02)  # 2048 draws: std ~0.009
    assert noisy.idx.dtype == b.idx.dtype and noisy.idx.min() >= 0 and noisy.idx.max() < V


def test_targets_and_input_are_left_alone():
    b = _batch()
    before = b.idx.copy()
    noisy = noise_tokens(b, 0.5, 50, np.random.default_rng(2))
    assert noisy.targets is b.targets
    assert np.array_equal(b.idx, before)  # the input batch is not modified
    assert noise_tokens(b, 0.0, 50, np.random.default_rng(2)) is b
    assert (noise_tokens(b, 1.0, 50, np.random.default_rng(3)).idx != b.idx).mean() > 0.9


def test_padding_is_never_noised():
    b = _batch(B=4, T=6)
    mask = np.ones((4, 6), dtype=np.int64)
    mask[:, 4:] = 0  # the last two positions are padding
    noisy = noise_tokens(Batch(b.idx, b.targets, mask), 1.0, 50, np.random.default_rng(4))
    assert np.array_equal(noisy.idx[:, 4:], b.idx[:, 4:])
    assert noisy.attention_mask is mask


def test_the_wrapper_follows_its_seed():
    source = iter([_batch(seed=s) for s in range(3)] * 2)
    one = noised(lambda: next(source), 0.3, 50, seed=7)
    first = [one().idx for _ in range(3)]
    two = noised(lambda: next(source), 0.3, 50, seed=7)
    assert all(np.array_equal(a, two().idx) for a in first)


@pytest.mark.parametrize(
    "p, V, rng, error, words",
    [
        (1.5, 10, np.random.default_rng(0), ValueError, "p"),
        (0.1, 0, np.random.default_rng(0), ValueError, "vocab_size"),
        (0.1, 10, 0, TypeError, "rng"),
    ],
)
def test_bad_arguments_are_named(p, V, rng, error, words):
    with pytest.raises(error, match=words):
        noise_tokens(_batch(), p, V, rng)

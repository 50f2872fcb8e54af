"""corpus_perplexity: the token-weighted mean of batch losses, then exp. Worked examples, the
two wrong averages it must not be, overflow, bad input, and perplexity() built on it."""

import math

import numpy as np
import pytest

from tinytransformer.evaluation.perplexity import corpus_perplexity, perplexity, token_logprobs
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT


def test_worked_example_weights_by_tokens():
    # 3 tokens at 1 nat and 1 token at 2 nats: (3 + 2) / 4 = 1.25 nats per token
    assert corpus_perplexity([1.0, 2.0], [3, 1]) == pytest.approx(math.exp(1.25), rel=1e-15)
    # not the mean of the two means (1.5 nats) ...
    assert corpus_perplexity([1.0, 2.0], [3, 1]) != pytest.approx(math.exp(1.5))
    # ... nor the mean of the batches' perplexities (exp is convex: that is larger)
    assert corpus_perplexity([1.0, 2.0], [1, 1]) < (math.e + math.e**2) / 2


def test_one_batch_equal_batches_and_empty_batches():
    assert corpus_perplexity(np.array([0.5]), np.array([7])) == pytest.approx(math.exp(0.5))
    assert corpus_perplexity([0.1, 0.3], [5, 5]) == pytest.approx(math.exp(0.2), rel=1e-15)
    assert corpus_perplexity([9.0, 0.3], [0, 5]) == pytest.approx(math.exp(0.3), rel=1e-15)


def test_large_losses_overflow_to_inf_not_an_error():
    assert corpus_perplexity([700.0, 710.0], [1, 1]) == pytest.approx(math.exp(705.0))
    assert corpus_perplexity([800.0], [3]) == math.inf


@pytest.mark.parametrize(
    "nll, counts, words",
    [
        ([1.0, 2.0], [3], "same non-zero length"),
        ([], [], "same non-zero length"),
        ([1.0], [0], "not all 0"),
        ([1.0], [-1], "integers >= 0"),
        ([1.0], [2.5], "integers >= 0"),
        ([math.nan], [1], "finite losses"),
    ],
)
def test_bad_input_names_the_argument(nll, counts, words):
    with pytest.raises(ValueError, match="batch_") as info:
        corpus_perplexity(nll, counts)
    assert words in str(info.value)


def test_perplexity_of_a_split_is_the_weighted_mean_of_its_windows():
    # 21 tokens, windows of 8: 20 predictions = two full windows of 8 and a short one of 4.
    # perplexity() must weight the short window by 4, not as much as a full one.
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=8), seed=0)
    ids = np.random.default_rng(0).integers(0, 11, size=21)
    losses = [float(model(ids[s : s + w][None], ids[s + 1 : s + 1 + w][None])[1]) for s, w in
              [(0, 8), (8, 8), (16, 4)]]  # fmt: skip
    r = perplexity(model, ids, batch_size=1)
    assert r.n_tokens == 20
    assert r.perplexity == pytest.approx(corpus_perplexity(losses, [8, 8, 4]), rel=1e-6)
    assert r.perplexity != pytest.approx(math.exp(np.mean(losses)), rel=1e-6)


def test_token_logprobs_equal_torch_log_softmax_picked_at_the_ids():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((3, 5, 11)) * 4).astype(np.float32)  # (B, S, V)
    ids = rng.integers(0, 11, size=(3, 5))  # (B, S)
    want = torch.log_softmax(torch.from_numpy(logits).double(), dim=-1)
    want = want.gather(-1, torch.from_numpy(ids)[..., None])[..., 0].numpy()
    got = token_logprobs(logits, ids)
    assert got.dtype == np.float64 and got.shape == (3, 5)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_token_logprobs_of_huge_logits_are_finite_and_sum_to_one_in_probability():
    logits = np.array([[1e4, 1e4 - 1.0, -1e4]])  # exp(1e4) overflows without the shift
    logp = token_logprobs(np.repeat(logits, 3, axis=0), np.array([0, 1, 2]))  # (3,)
    assert np.isfinite(logp[:2]).all() and np.exp(logp).sum() == pytest.approx(1.0)

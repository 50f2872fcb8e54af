"""Sampling: sample_next's rules (greedy, temperature, top_k, top_p) checked on known
distributions, and GPT.generate: KV cache against no cache, the sliding window, cropping,
reproducibility.

Statistical tolerance: with N draws, an empirical frequency has standard error
sqrt(p (1 - p) / N) <= 0.5 / sqrt(N); we allow 5 standard errors (a false failure once in ~2
million runs, and never for a fixed seed). The draws are seeded, so each test is deterministic.
"""

import numpy as np
import pytest

import tinytransformer.models.gpt as gpt_module
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.sampling import GREEDY, Sampling, sample_next
from tinytransformer.training.optimizer import AdamW

N = 20_000  # draws per distribution


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def draw(logits, rng=None, **settings):
    """sample_next with the settings as keyword arguments, made into one Sampling."""
    return sample_next(logits, Sampling(**settings), rng)


def frequencies(logits, seed=0, **kwargs):
    """Draw N samples from the single row `logits` (V,) in one call -> frequencies (V,)."""
    ids = draw(np.tile(logits, (N, 1)), rng=np.random.default_rng(seed), **kwargs)
    assert ids.shape == (N,)
    return np.bincount(ids, minlength=logits.shape[-1]) / N


def assert_matches(freq, probs):
    """Every frequency within 5 standard errors of its probability (zeros exactly zero)."""
    bound = 5 * np.sqrt(probs * (1 - probs) / N)
    assert np.all(np.abs(freq - probs) <= bound), (freq.round(4), probs.round(4))


# --- sample_next ----------------------------------------------------------------------------------


def test_greedy_is_argmax():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 9))
    np.testing.assert_array_equal(draw(logits, temperature=0), logits.argmax(axis=-1))
    assert draw(np.array([[0.0, 3.0, 1.0]]), temperature=0).tolist() == [1]


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_temperature_draws_follow_softmax_of_scaled_logits(temperature):
    logits = np.array([1.0, 0.0, -1.0, 2.0, 0.5])
    probs = softmax(logits / temperature)
    assert_matches(frequencies(logits, temperature=temperature), probs)


def test_low_temperature_sharpens_and_high_flattens():
    logits = np.array([1.0, 0.0, -1.0, 2.0, 0.5])
    cold = frequencies(logits, temperature=0.05)
    assert cold[3] == 1.0  # exp(-1 / 0.05) = 2e-9: the runner-up never shows up in 20000
    hot = frequencies(logits, temperature=100.0)
    assert_matches(hot, softmax(logits / 100.0))
    assert hot.max() - hot.min() < 0.05  # nearly uniform


def test_float32_logits_sample_like_float64():
    logits = np.array([1.0, 0.0, -1.0, 2.0, 0.5])
    assert_matches(frequencies(logits.astype(np.float32), temperature=0.7), softmax(logits / 0.7))


def test_top_k_keeps_only_the_k_best():
    logits = np.array([0.3, 2.0, -1.0, 1.5, 0.0, 1.0])
    freq = frequencies(logits, top_k=2)
    assert set(np.flatnonzero(freq)) == {1, 3}  # never outside the two best
    expected = np.zeros(6)
    expected[[1, 3]] = softmax(logits[[1, 3]])  # renormalised over the survivors
    assert_matches(freq, expected)
    # k >= V keeps everything; k = 1 is greedy
    assert_matches(frequencies(logits, top_k=6), softmax(logits))
    assert_matches(frequencies(logits, top_k=99), softmax(logits))
    assert set(np.flatnonzero(frequencies(logits, top_k=1))) == {1}


def test_top_k_per_row():
    """Each row keeps its own k best."""
    logits = np.array([[5.0, 4.0, 0.0, 0.0], [0.0, 0.0, 4.0, 5.0]])
    ids = draw(np.repeat(logits, 500, axis=0), top_k=2, rng=np.random.default_rng(0))
    assert set(ids[:500]) == {0, 1} and set(ids[500:]) == {2, 3}


# probabilities 0.5, 0.3, 0.15, 0.05 as logits; the nucleus is the smallest most-likely-first
# prefix whose probability reaches top_p
NUCLEUS_LOGITS = np.log(np.array([0.5, 0.3, 0.15, 0.05]))


@pytest.mark.parametrize(
    "top_p, kept",
    [
        (0.3, [0]),  # the most likely token is always kept
        (0.5, [0]),  # 0.5 reaches 0.5
        (0.51, [0, 1]),
        (0.7, [0, 1]),  # 0.5 falls short, 0.5 + 0.3 reaches
        (0.81, [0, 1, 2]),
        (0.96, [0, 1, 2, 3]),
        (1.0, [0, 1, 2, 3]),
    ],
)
def test_top_p_keeps_the_smallest_nucleus(top_p, kept):
    freq = frequencies(NUCLEUS_LOGITS, top_p=top_p)
    assert np.flatnonzero(freq).tolist() == kept
    expected = np.zeros(4)
    p = np.exp(NUCLEUS_LOGITS[kept])
    expected[kept] = p / p.sum()  # renormalised over the nucleus
    assert_matches(freq, expected)


def test_top_p_exact_boundary_in_float32():
    """0.5 + 0.3 = 0.8 reaches top_p = 0.8: token 2 (0.15) is outside the nucleus."""
    freq = frequencies(NUCLEUS_LOGITS.astype(np.float32), top_p=0.8)
    assert np.flatnonzero(freq).tolist() == [0, 1]


def test_top_p_exact_boundary_in_float64():
    """The same worked example in float64: softmax(log p) gives 0.29999999999999993 for 0.3."""
    freq = frequencies(NUCLEUS_LOGITS, top_p=0.8)
    assert np.flatnonzero(freq).tolist() == [0, 1]


def test_top_k_then_top_p():
    """top_k first, then the nucleus of the renormalised survivors: with top_k = 3 the
    probabilities become 0.5/0.95, 0.3/0.95, 0.15/0.95 = 0.526, 0.316, 0.158, and top_p = 0.8
    needs 0.526 + 0.316 = 0.842 >= 0.8: tokens 0 and 1."""
    freq = frequencies(NUCLEUS_LOGITS, top_k=3, top_p=0.8)
    assert np.flatnonzero(freq).tolist() == [0, 1]
    assert_matches(freq, np.array([0.625, 0.375, 0.0, 0.0]))


def test_sampling_is_reproducible_from_the_seed():
    logits = np.random.default_rng(0).standard_normal((50, 7))
    a = sample_next(logits, Sampling(0.9, 4, 0.9), np.random.default_rng(3))
    b = sample_next(logits, Sampling(0.9, 4, 0.9), np.random.default_rng(3))
    c = sample_next(logits, Sampling(0.9, 4, 0.9), np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


class ZeroRNG:
    """A generator stand-in whose uniform draws are all exactly 0.0 (probability 2^-53 each)."""

    def random(self, shape, dtype=np.float64):
        return np.zeros(shape, dtype)


def test_a_zero_uniform_draw_never_picks_a_filtered_token():
    logits = np.array([[0.0, 5.0, 4.0]])  # top_k=2 removes id 0
    assert draw(logits, top_k=2, rng=ZeroRNG()).tolist() == [1]


class FixedRNG:
    """A generator stand-in whose uniform draws all equal `u`: the inverse-CDF draw is then a
    known answer (the first id whose cumulative probability exceeds u)."""

    def __init__(self, u):
        self.u = u

    def random(self, shape, dtype=np.float64):
        return np.full(shape, self.u, dtype)


def test_inverse_cdf_draw_is_exact_for_a_large_float32_vocabulary():
    """100,000 equal float32 logits: id k covers [k / V, (k + 1) / V), so u = 0.500005 must give
    id 50000. The cumulative sum is taken in float64: in float32, 50,000 rounded additions drift
    by 18 ids here, enough to move a token's probability mass onto its neighbours."""
    V = 100_000
    logits = np.zeros((1, V), np.float32)
    assert draw(logits, rng=FixedRNG(0.500005)).tolist() == [50000]
    assert draw(logits, rng=FixedRNG(0.7500025)).tolist() == [75000]


def test_inverse_cdf_is_normalised_to_end_at_one():
    """Three equal float32 probabilities 0.33333334 sum to 1 + 3e-8 in float64. Divided by that
    sum, the boundary between ids 0 and 1 sits at 1/3 (to 1e-16), so u = 1/3 + 1e-9 gives id 1
    (without normalising, the boundary would be at 1/3 + 1e-8 and the draw id 0)."""
    logits = np.zeros((1, 3), np.float32)
    assert draw(logits, rng=FixedRNG(1 / 3 + 1e-9)).tolist() == [1]
    assert draw(logits, rng=FixedRNG(1 / 3 - 1e-9)).tolist() == [0]


def test_top_p_one_keeps_even_a_token_of_probability_2e_9():
    """top_p = 1 filters nothing: logits [0, -20] give id 1 probability e^-20 = 2e-9, and a
    uniform draw above 1 - 2e-9 must still reach it (float32, where 4 eps = 4.8e-7 is much
    larger than 2e-9, so a nucleus cut at 1 - 4 eps would drop it)."""
    logits = np.array([[0.0, -20.0]], np.float32)
    assert draw(logits, top_p=1.0, rng=FixedRNG(1 - 1e-10)).tolist() == [1]


def test_top_p_on_logits_that_are_not_sorted():
    """The nucleus is taken in order of probability, not of id: probabilities 0.15, 0.5, 0.05,
    0.3 with top_p = 0.7 keep ids 1 and 3 (0.5 + 0.3 = 0.8 reaches 0.7)."""
    logits = np.log(np.array([0.15, 0.5, 0.05, 0.3]))
    freq = frequencies(logits, top_p=0.7)
    assert np.flatnonzero(freq).tolist() == [1, 3]
    assert_matches(freq, np.array([0.0, 0.625, 0.0, 0.375]))


@pytest.mark.parametrize(
    "top_p, kept",
    [
        (0.5 + 4 * 2.0**-52, [0]),  # 0.5 is within 4 eps of top_p: it counts as reached
        (0.5 + 5 * 2.0**-52, [0, 1]),  # 5 eps short: not reached, the next token is needed
    ],
)
def test_top_p_tolerance_is_four_float64_eps(top_p, kept):
    """Two tokens of probability exactly 0.5 (a third is -inf): the mass ahead of token 1 is
    0.5, which counts as reaching top_p when it falls short by at most 4 eps (2^-52 each)."""
    logits = np.array([0.0, 0.0, -np.inf])
    assert np.flatnonzero(frequencies(logits, top_p=top_p)).tolist() == kept


def test_top_p_tolerance_follows_float32():
    """In float32 the rounding tolerance is float32's, 4 eps = 4.8e-7: a mass of 0.5 reaches
    top_p = 0.5 + 2e-7 (which a float64 tolerance, 8.9e-16, would not allow)."""
    logits = np.array([0.0, 0.0], np.float32)
    assert np.flatnonzero(frequencies(logits, top_p=0.5 + 2e-7)).tolist() == [0]


def test_top_p_breaks_ties_towards_the_lower_id():
    """32 of 64 tokens share the top logit; top_p = 16.5 of their shares keeps 17 of them, and
    which 17 is decided by id (a stable sort), not by the sorting algorithm's whims."""
    top = np.zeros(64)
    top[np.random.default_rng(0).permutation(64)[:32]] = 1.0
    share = np.e / (32 * np.e + 32)  # the probability of one top token
    # 2000 draws over 17 kept tokens: each one is missed with probability (16/17)^2000 < 1e-52
    ids = draw(np.tile(top, (2000, 1)), top_p=16.5 * share, rng=np.random.default_rng(0))
    assert np.unique(ids).tolist() == np.flatnonzero(top)[:17].tolist()


def test_bad_arguments_raise_with_messages():
    logits = np.zeros((2, 5))
    rng = np.random.default_rng(0)
    with pytest.raises(
        ValueError, match=r"logits: expected a float array of shape \(B, V\), got \(5,\)"
    ):
        draw(np.zeros(5), rng=rng)
    with pytest.raises(ValueError, match="temperature: expected a finite number >= 0.0, got -1"):
        draw(logits, temperature=-1, rng=rng)
    with pytest.raises(ValueError, match="top_k: expected a whole number >= 1, got 0"):
        draw(logits, top_k=0, rng=rng)
    with pytest.raises(
        ValueError, match=r"top_p: expected a finite number > 0.0 and <= 1.0, got 0.0"
    ):
        draw(logits, top_p=0.0, rng=rng)
    with pytest.raises(
        ValueError, match=r"top_p: expected a finite number > 0.0 and <= 1.0, got 1.5"
    ):
        draw(logits, top_p=1.5, rng=rng)
    with pytest.raises(TypeError, match="rng: expected a numpy.random.Generator"):
        draw(logits)
    with pytest.raises(TypeError, match="^rng: expected a numpy.random.Generator, got int$"):
        draw(logits, rng=42)


def test_non_integer_top_k_is_rejected_by_name():
    with pytest.raises(TypeError, match="top_k: expected a whole number >= 1, got 2.5"):
        draw(np.zeros((1, 5)), top_k=2.5, rng=np.random.default_rng(0))


def test_greedy_still_validates_its_arguments():
    with pytest.raises(ValueError, match="top_p"):
        draw(np.zeros((1, 5)), temperature=0, top_p=5.0)


def test_nan_temperature_is_rejected():
    with pytest.raises(ValueError, match="temperature"):
        draw(np.zeros((1, 5)), temperature=float("nan"), rng=np.random.default_rng(0))


# --- GPT.generate ---------------------------------------------------------------------------------

CFG = dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16)


def make_model(dtype=np.float32, **overrides):
    """A small GPT with weights scaled up from GPT-2's init, so its logits are far from uniform
    and greedy decoding has clear winners."""
    model = GPT(GPTConfig(**{**CFG, **overrides}), seed=0, dtype=dtype)
    rng = np.random.default_rng(1)
    for p in model.params.values():
        p += (0.5 * rng.standard_normal(p.shape)).astype(dtype)
    return model


def record_logits(monkeypatch):
    """Make generate hand every logits array it samples from to a list, and return the list."""
    seen = []
    real = gpt_module.sample_next

    def spy(logits, *args, **kwargs):
        seen.append(logits.copy())
        return real(logits, *args, **kwargs)

    monkeypatch.setattr(gpt_module, "sample_next", spy)  # the name generate_iter calls
    return seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kv_cache_and_no_cache_give_the_same_greedy_tokens(dtype):
    """3 prompt tokens + 20 new ones: the window slides past block_size = 8 after 5 steps."""
    model = make_model(dtype)
    prompt = np.array([[1, 2, 3], [4, 0, 12]])
    cached = model.generate(prompt, 20, temperature=0, use_cache=True)
    uncached = model.generate(prompt, 20, temperature=0, use_cache=False)
    assert cached.shape == (2, 23)
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_array_equal(cached[:, :3], prompt)
    assert len(np.unique(cached[:, 3:])) > 3  # not a degenerate run of one token


@pytest.mark.parametrize("dtype, atol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_cached_logits_equal_the_full_forward(monkeypatch, dtype, atol):
    """Each step's logits, cached or not, equal model(context)[0][:, -1] of the whole (at most
    block_size long) context; float32 to 1e-5, float64 to 1e-12."""
    model = make_model(dtype)
    prompt = np.array([[5, 6], [7, 8]])
    seen = record_logits(monkeypatch)
    out = model.generate(prompt, 12, temperature=0, use_cache=True)
    assert len(seen) == 12
    worst = 0.0
    for step, logits in enumerate(seen):
        context = out[:, : 2 + step][:, -8:]  # what the model saw, cropped to block_size
        full = model(context)[0][:, -1]  # (B, V)
        assert logits.dtype == full.dtype == dtype
        worst = max(worst, float(np.abs(logits - full).max()))
    assert worst < atol


def test_long_prompts_are_cropped_from_the_left_with_a_warning():
    model = make_model()
    prompt = np.random.default_rng(0).integers(0, 13, size=(2, 11))  # 11 > block_size 8
    with pytest.warns(UserWarning, match="prompt of 11 tokens is longer than block_size 8"):
        out = model.generate(prompt, 4, temperature=0)
    assert out.shape == (2, 15)  # (B, T + max_new_tokens): the whole prompt is returned
    np.testing.assert_array_equal(out[:, :11], prompt)
    cropped = model.generate(prompt[:, -8:], 4, temperature=0)  # what the model really saw
    np.testing.assert_array_equal(out[:, 11:], cropped[:, 8:])


def test_generate_rejects_bad_prompts():
    model = make_model()
    with pytest.raises(ValueError, match=r"idx: ids must lie in \[0, 13\), got 13"):
        model.generate(np.array([[1, 13]]), 2, temperature=0)
    with pytest.raises(ValueError, match=r"idx: ids must lie in \[0, 13\), got -2"):
        model.generate(np.array([[-2]]), 2, temperature=0)
    with pytest.raises(TypeError, match="idx: expected integer token ids"):
        model.generate(np.array([[1.0]]), 2, temperature=0)
    with pytest.raises(ValueError, match="idx: expected at least one prompt token"):
        model.generate(np.zeros((1, 0), dtype=np.int64), 2, temperature=0)


def test_generate_restores_the_training_mode():
    model = make_model(dropout=0.5).train()
    prompt = np.array([[1, 2]])
    # dropout is off while generating: greedy tokens equal those of the model in eval mode
    a = model.generate(prompt, 6, temperature=0)
    assert model.training
    b = model.eval().generate(prompt, 6, temperature=0)
    assert not model.training
    np.testing.assert_array_equal(a, b)
    # also when sampling fails half-way (a bad top_p is found at the first draw)
    model.train()
    with pytest.raises(ValueError, match="top_p"):
        model.generate(prompt, 3, top_p=2.0, rng=np.random.default_rng(0))
    assert model.training


def test_same_seed_same_samples():
    model = make_model()
    prompt = np.array([[1, 2], [3, 4]])
    a = model.generate(prompt, 15, temperature=1.0, top_k=5, rng=np.random.default_rng(7))
    b = model.generate(prompt, 15, temperature=1.0, top_k=5, rng=np.random.default_rng(7))
    c = model.generate(prompt, 15, temperature=1.0, top_k=5, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # the cache changes nothing but speed, sampling included (float64: no near-ties to flip)
    m64 = make_model(np.float64)
    s1 = m64.generate(prompt, 15, temperature=1.0, rng=np.random.default_rng(7), use_cache=True)
    s2 = m64.generate(prompt, 15, temperature=1.0, rng=np.random.default_rng(7), use_cache=False)
    np.testing.assert_array_equal(s1, s2)


def test_generate_iter_yields_one_column_per_step():
    model = make_model()
    prompt = np.array([[1, 2, 3], [3, 2, 1], [0, 0, 0]])
    steps = list(model.generate_iter(prompt, 5, GREEDY))
    assert len(steps) == 5
    for s in steps:
        assert isinstance(s, np.ndarray) and s.shape == (3, 1)
        assert np.issubdtype(s.dtype, np.integer)
    full = model.generate(prompt, 5, temperature=0)
    np.testing.assert_array_equal(np.concatenate([prompt, *steps], axis=1), full)
    assert model.generate(prompt, 0).shape == (3, 3)  # nothing to generate
    assert list(model.generate_iter(prompt, 0)) == []


def test_greedy_continuation_of_a_learned_cycle():
    """A worked example end to end: train on the cycle 0 1 2 ... 12 0 1 ..., then greedy
    generation from [3, 4] must continue 5 6 7 ... 12 0 1 ... for 20 tokens, past block_size."""

    model = GPT(GPTConfig(**CFG), seed=0)
    seq = np.arange(40) % 13
    idx = np.stack([seq[i : i + 8] for i in range(13)])  # (13, 8) every phase of the cycle
    targets = np.stack([seq[i + 1 : i + 9] for i in range(13)])
    opt = AdamW(model, lr=1e-2)
    for _ in range(60):
        model(idx, targets)
        model.backward()
        opt.step()
    out = model.generate(np.array([[3, 4]]), 20, temperature=0)
    np.testing.assert_array_equal(out[0], (np.arange(22) + 3) % 13)


def test_generate_uses_the_kv_cache_by_default(monkeypatch):
    """With the cache (the default) only the newest token goes through the trunk, until the
    context fills block_size = 8 (a cached step may then use position 7); once the window
    slides, every step recomputes the whole window of 8. Prompt 2, 10 new tokens."""
    model = make_model()
    lengths = []  # positions per trunk_forward call
    real = model.trunk_forward

    def spy(idx, *args, **kwargs):
        lengths.append(idx.shape[1])
        return real(idx, *args, **kwargs)

    monkeypatch.setattr(model, "trunk_forward", spy)
    model.generate(np.array([[1, 2]]), 10, temperature=0)
    # contexts 2 (full), 3..8 (cached, 1 new position each), then 9.. cropped to 8 (full)
    assert lengths == [2, 1, 1, 1, 1, 1, 1, 8, 8, 8]
    lengths.clear()
    list(model.generate_iter(np.array([[1, 2]]), 3, GREEDY))
    assert lengths == [2, 1, 1]
    lengths.clear()
    model.generate(np.array([[1, 2]]), 3, temperature=0, use_cache=False)
    assert lengths == [2, 3, 4]


def test_generate_defaults_sample_at_temperature_1():
    """The default temperature is 1: the model's own distribution."""
    model = make_model(np.float64)
    prompt = np.array([[1, 2], [3, 4]])
    default = model.generate(prompt, 10, rng=np.random.default_rng(5))
    explicit = model.generate(prompt, 10, temperature=1.0, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(default, explicit)
    steps = model.generate_iter(prompt, 10, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(np.concatenate([prompt, *steps], axis=1), explicit)


def test_generate_passes_top_k_on():
    """top_k = 1 keeps only the most likely token: sampling at temperature 1 is then greedy."""
    model = make_model(np.float64)
    prompt = np.array([[1, 2], [3, 4]])
    greedy = model.generate(prompt, 12, temperature=0)
    top1 = model.generate(prompt, 12, temperature=1.0, top_k=1, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(top1, greedy)
    steps = model.generate_iter(prompt, 12, Sampling(top_k=1), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(np.concatenate([prompt, *steps], axis=1), greedy)


def test_generate_without_an_rng_draws_from_a_fresh_generator():
    model = make_model()
    out = model.generate(np.array([[1, 2]]), 6)  # temperature 1, no rng given
    assert out.shape == (1, 8) and out.min() >= 0 and out.max() < 13


def test_a_prompt_of_exactly_block_size_is_not_cropped(recwarn):
    model = make_model()
    prompt = np.arange(8)[None] % 13  # (1, 8): block_size tokens, nothing to crop
    out = model.generate(prompt, 2, temperature=0)
    assert out.shape == (1, 10)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_the_cropping_warning_points_at_the_callers_line():
    """stacklevel: the warning names the code that iterated generate_iter (here this file), not
    the line inside gpt.py that warns."""
    model = make_model()
    prompt = np.zeros((1, 9), dtype=np.int64)
    with pytest.warns(UserWarning, match="keeping its last 8 tokens") as record:
        list(model.generate_iter(prompt, 1, GREEDY))
    assert record[0].filename != gpt_module.__file__


def test_generate_rejects_a_prompt_that_is_not_2_d():
    model = make_model()
    with pytest.raises(ValueError, match=r"^idx: expected a 2-d array, got shape \(2,\)$"):
        model.generate(np.array([1, 2]), 2, temperature=0)
    with pytest.raises(
        ValueError, match="^idx: expected at least one prompt token, got an empty prompt$"
    ):
        model.generate(np.zeros((1, 0), dtype=np.int64), 2, temperature=0)


class Letters:
    """A 13-symbol character tokenizer for the 13-token test model: newline, then a..l."""

    chars = "\nabcdefghijkl"

    def encode(self, text):
        return [self.chars.index(c) for c in text]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


def test_generate_text_encodes_generates_and_decodes():
    model, tok = make_model(np.float64), Letters()
    greedy = model.generate(np.array([tok.encode("abc")]), 6, temperature=0)
    assert gpt_module.generate_text(model, tok, "abc", 6, temperature=0) == tok.decode(greedy[0])
    # an empty prompt starts from a newline
    text = gpt_module.generate_text(model, tok, "", 4, temperature=0)
    assert text == tok.decode(model.generate(np.array([[0]]), 4, temperature=0)[0])
    assert text[0] == "\n" and len(text) == 5
    # the defaults: temperature 0.8, no top_k / top_p, the KV cache, a generator seeded by seed
    idx = np.array([tok.encode("ab")])
    drawn = model.generate(idx, 8, temperature=0.8, rng=np.random.default_rng(3), use_cache=True)
    assert gpt_module.generate_text(model, tok, "ab", 8, seed=3) == tok.decode(drawn[0])
    # every argument reaches generate
    settings = dict(temperature=1.3, top_k=4, top_p=0.9)
    drawn = model.generate(idx, 8, **settings, rng=np.random.default_rng(4), use_cache=False)
    assert gpt_module.generate_text(
        model, tok, "ab", 8, **settings, seed=4, use_cache=False
    ) == tok.decode(drawn[0])


def test_generate_text_passes_use_cache_on(monkeypatch):
    model, tok = make_model(), Letters()
    lengths = []
    real = model.trunk_forward

    def spy(idx, *args, **kwargs):
        lengths.append(idx.shape[1])
        return real(idx, *args, **kwargs)

    monkeypatch.setattr(model, "trunk_forward", spy)
    gpt_module.generate_text(model, tok, "ab", 3, temperature=0)
    gpt_module.generate_text(model, tok, "ab", 3, temperature=0, use_cache=False)
    assert lengths == [2, 1, 1, 2, 3, 4]


# --- suppressed ids and max_new_tokens ------------------------------------------------------------


def test_suppressed_ids_are_never_sampled_and_greedy_takes_the_best_of_the_rest():
    """Greedy with the model's favourite first tokens suppressed picks, per row, the most likely
    id that is left; sampling 40 tokens at temperature 1 with ids 0..5 suppressed never draws
    one of them (drawn without suppress, the same seed does). generate and generate_iter
    agree."""
    model = make_model(np.float64)
    prompt = np.array([[1, 2], [3, 4]])
    logits = model(prompt)[0][:, -1]  # (B, V) the first step's logits
    favourites = np.unique(logits.argmax(axis=-1))
    blocked = np.zeros(13, dtype=bool)
    blocked[favourites] = True
    want = np.where(blocked, -np.inf, logits).argmax(axis=-1)  # the best id left, per row
    first = model.generate(prompt, 1, temperature=0, suppress=favourites)[:, -1]
    np.testing.assert_array_equal(first, want)
    assert not np.isin(first, favourites).any()

    low = list(range(6))
    drawn = model.generate(prompt, 40, temperature=1.0, rng=np.random.default_rng(0), suppress=low)
    assert not np.isin(drawn[:, 2:], low).any()
    free = model.generate(prompt, 40, temperature=1.0, rng=np.random.default_rng(0))
    assert np.isin(free[:, 2:], low).any()  # the model does like them
    steps = model.generate_iter(
        prompt, 40, Sampling(1.0), rng=np.random.default_rng(0), suppress=low
    )
    np.testing.assert_array_equal(np.concatenate([prompt, *steps], axis=1), drawn)


def test_an_empty_suppress_list_suppresses_nothing():
    """What generate_text passes for a tokenizer without special tokens: the same tokens as no
    suppress at all."""
    model = make_model(np.float64)
    prompt = np.array([[1, 2]])
    plain = model.generate(prompt, 12, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(
        model.generate(prompt, 12, rng=np.random.default_rng(2), suppress=[]), plain
    )


@pytest.mark.parametrize(
    "suppress, message",
    [
        ([3, 13], r"^suppress: ids must lie in \[0, 13\), got 13$"),
        ([-1], r"^suppress: ids must lie in \[0, 13\), got -1$"),
        ([[1, 2]], r"^suppress: expected a 1-d array, got shape \(1, 2\)$"),
        (list(range(13)), r"^suppress: expected some ids left to sample, got every id$"),
    ],
)
def test_bad_suppress_lists_are_refused_by_name(suppress, message):
    model = make_model()
    with pytest.raises(ValueError, match=message):
        model.generate(np.array([[1, 2]]), 3, temperature=0, suppress=suppress)


@pytest.mark.parametrize(
    "count, error, message",
    [
        (True, TypeError, r"^max_new_tokens: expected a whole number >= 0, got True$"),
        (2.0, TypeError, r"^max_new_tokens: expected a whole number >= 0, got 2\.0$"),
        ("3", TypeError, r"^max_new_tokens: expected a whole number >= 0, got '3'$"),
        (-1, ValueError, r"^max_new_tokens: expected a whole number >= 0, got -1$"),
    ],
)
def test_max_new_tokens_must_be_a_count(count, error, message):
    """An int >= 0 (a NumPy integer too); True is not 1 and 2.0 is not 2."""
    model = make_model()
    with pytest.raises(error, match=message):
        model.generate(np.array([[1, 2]]), count, temperature=0)
    assert model.generate(np.array([[1, 2]]), np.int64(2), temperature=0).shape == (1, 4)


class LettersWithSpecials(Letters):
    """Letters whose tokenizer declares some ids special (as [PAD] and [MASK] are)."""

    def __init__(self, special_ids):
        self.special_ids = special_ids


def test_generate_text_never_samples_special_tokens_unless_asked():
    """Declare special the very ids greedy decoding picks: by default generate_text then
    continues as generate with those ids suppressed; allow_special=True gives them back."""
    model = make_model(np.float64)
    idx = np.array([Letters().encode("ab")])
    greedy = model.generate(idx, 10, temperature=0)
    special = sorted(set(greedy[0, 2:].tolist()))
    assert 0 < len(special) < 13
    tok = LettersWithSpecials(special_ids=tuple(special))
    text = gpt_module.generate_text(model, tok, "ab", 10, temperature=0)
    avoided = model.generate(idx, 10, temperature=0, suppress=special)
    assert text == tok.decode(avoided[0])
    assert not set(text[2:]) & {tok.chars[i] for i in special}
    asked = gpt_module.generate_text(model, tok, "ab", 10, temperature=0, allow_special=True)
    assert asked == tok.decode(greedy[0])
    # no special tokens declared (an empty list): plain greedy
    assert gpt_module.generate_text(model, LettersWithSpecials([]), "ab", 10, temperature=0) == (
        tok.decode(greedy[0])
    )


class SkipsUnknown(Letters):
    """A tokenizer that drops characters it does not know, as some byte-less tokenizers do."""

    def encode(self, text):
        return [self.chars.index(c) for c in text if c in self.chars]


def test_generate_text_names_a_prompt_that_encodes_to_no_tokens():
    with pytest.raises(
        ValueError, match="^idx: expected at least one prompt token, got an empty prompt$"
    ):
        gpt_module.generate_text(make_model(), SkipsUnknown(), "XYZ", 3, temperature=0)


def test_generate_iter_checks_its_arguments_when_called_not_at_the_first_token():
    """A generator's body runs only at next(): the checks must not wait for it."""
    model = make_model()
    with pytest.raises(ValueError, match="^max_new_tokens: expected a whole number >= 0, got -1$"):
        model.generate_iter(np.array([[1, 2]]), -1)
    with pytest.raises(ValueError, match=r"^suppress: ids must lie in \[0, 13\), got 20$"):
        model.generate_iter(np.array([[1, 2]]), 3, suppress=[20])


def test_float_suppress_ids_are_refused_not_truncated():
    """[0.9, 1.5] must not quietly block ids 0 and 1."""
    model = make_model()
    with pytest.raises(TypeError, match="^suppress: expected integer token ids, got dtype float64"):
        model.generate(np.array([[1, 2]]), 3, temperature=0, suppress=[0.9, 1.5])

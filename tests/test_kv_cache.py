"""The KV cache of generation (models/kv_cache.py): allocated once, appended to in place, read as
views; and generation with it: one allocation per generation, no input checks inside the loop."""

import numpy as np
import pytest

from tinytransformer.models import gpt as gpt_module
from tinytransformer.models import transformer as transformer_module
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.kv_cache import KVCache, make_kv_cache
from tinytransformer.ops.attention import (
    attention_forward,
    merge_heads,
    self_attention_backward,
    self_attention_forward,
    split_heads,
)
from tinytransformer.ops.linear import linear_forward


def test_append_writes_in_place_and_returns_views_of_every_position_so_far():
    rng = np.random.default_rng(0)
    cache = KVCache(batch_size=2, n_head=3, max_len=5, head_size=4, dtype=np.float64)
    k1, v1 = rng.standard_normal((2, 2, 3, 5, 4))[:, :, :, :3]  # (B, nh, 3, hs) each
    k, v = cache.append(k1, v1)
    assert cache.length == 3 and k.shape == v.shape == (2, 3, 3, 4)
    np.testing.assert_array_equal(k, k1)
    k2, v2 = rng.standard_normal((2, 2, 3, 1, 4))
    k, v = cache.append(k2, v2)
    assert cache.length == 4 and k.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(k, np.concatenate([k1, k2], axis=2))
    np.testing.assert_array_equal(v, np.concatenate([v1, v2], axis=2))
    assert np.shares_memory(k, cache.k) and np.shares_memory(v, cache.v)  # views, no copies


def test_a_full_cache_refuses_more_positions_and_clear_empties_it():
    cache = KVCache(1, 1, 2, 2)
    cache.append(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="^k: 1 more positions after 2 exceed the cache's 2$"):
        cache.append(np.zeros((1, 1, 1, 2), np.float32), np.zeros((1, 1, 1, 2), np.float32))
    buffer = cache.k
    cache.clear()
    assert cache.length == 0 and cache.k is buffer  # nothing reallocated


def test_self_attention_with_a_kv_cache_equals_the_concatenated_past():
    """The preallocated cache gives the same bits as attending to the earlier positions' keys
    and values joined to the new ones by concatenation, and is allowed no backward pass."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 8))
    w_attn, w_proj = rng.standard_normal((8, 24)), rng.standard_normal((8, 8))
    _, full = self_attention_forward(x[:, :5], w_attn, None, w_proj, None, 2)
    qkv, _ = linear_forward(x[:, 5:], w_attn)  # (B, 1, 3C): the new position's q, k and v
    q, k, v = (split_heads(a, 2) for a in np.split(qkv, 3, axis=-1))
    k = np.concatenate([full["core"]["k"], k], axis=2)  # (B, nh, 6, hs): the past, then the new
    v = np.concatenate([full["core"]["v"], v], axis=2)
    y, _ = attention_forward(q, k, v, causal=True)  # (B, nh, 1, hs)
    with_past, _ = linear_forward(merge_heads(y), w_proj)  # (B, 1, C)
    cache = KVCache(2, 2, 6, 4, np.float64)
    self_attention_forward(x[:, :5], w_attn, None, w_proj, None, 2, kv_cache=cache)
    with_cache, c = self_attention_forward(x[:, 5:], w_attn, None, w_proj, None, 2, kv_cache=cache)
    assert with_cache.tobytes() == with_past.tobytes()
    with pytest.raises(
        ValueError,
        match="^kv_cache: a forward pass with a KV cache is for inference, not backward$",
    ):
        self_attention_backward(np.ones_like(with_cache), c)


def test_make_kv_cache_makes_one_per_block():
    config = GPTConfig(vocab_size=7, block_size=8, n_layer=3, n_head=2, n_embd=8)
    kv = make_kv_cache(config, batch_size=4, max_len=6, dtype=np.float64)
    assert len(kv) == 3 and len({id(c) for c in kv}) == 3
    assert all(c.k.shape == (4, 2, 6, 4) and c.k.dtype == np.float64 for c in kv)


def _model(block_size=8):
    config = GPTConfig(vocab_size=13, block_size=block_size, n_layer=2, n_head=2, n_embd=16)
    return GPT(config, seed=0)


def test_generation_allocates_its_cache_once_for_prompt_plus_new_tokens(monkeypatch):
    """Prompt 3 + 4 new tokens: one cache of 6 positions (the last new token is never fed back); a
    generation longer than block_size 8
    gets a cache of 8, reused (cleared) each time the window slides."""
    made = []
    real = gpt_module.make_kv_cache

    def spy(config, batch_size, max_len, dtype):
        made.append((batch_size, max_len))
        kv = real(config, batch_size, max_len, dtype)
        made.append(kv)
        return kv

    monkeypatch.setattr(gpt_module, "make_kv_cache", spy)
    model = _model()
    model.generate(np.zeros((2, 3), dtype=np.int64), 4, temperature=0)
    assert made[0] == (2, 6) and len(made) == 2
    assert all(c.length == 6 for c in made[1])  # filled to the last position
    made.clear()
    model.generate(np.zeros((1, 3), dtype=np.int64), 12, temperature=0)
    assert made[0] == (1, 8) and len(made) == 2
    model.generate(np.zeros((1, 3), dtype=np.int64), 4, temperature=0, use_cache=False)
    assert len(made) == 2  # no cache without use_cache


def test_the_decode_steps_check_nothing_generate_checked_once(monkeypatch):
    """generate checks the prompt at its entry; the trunk's own check of idx does not run at
    any step (a call to the model does run it)."""
    calls = []
    real = transformer_module.check_ids

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(transformer_module, "check_ids", spy)
    model = _model()
    for use_cache in (True, False):
        model.generate(np.zeros((1, 3), dtype=np.int64), 10, temperature=0, use_cache=use_cache)
    assert calls == []
    model(np.zeros((1, 3), dtype=np.int64))
    assert calls == ["idx"]  # the spy sees the trunk's check where there is one
    with pytest.raises(ValueError, match=r"^idx: ids must lie in \[0, 13\), got 13$"):
        model.generate(np.full((1, 3), 13), 2, temperature=0)  # generate's own check


def test_the_trunk_checks_its_kv_cache_against_the_model():
    model = _model()
    idx = np.zeros((1, 2), dtype=np.int64)
    with pytest.raises(
        ValueError, match=r"^kv_cache: expected one KVCache per block \(2\), got 1$"
    ):
        model.trunk_forward(idx, kv_cache=make_kv_cache(model.config, 1, 4)[:1])
    kv = make_kv_cache(model.config, 1, 8)
    model.trunk_forward(np.zeros((1, 7), dtype=np.int64), kv_cache=kv)
    with pytest.raises(ValueError, match="^idx: sequence length 9 exceeds block_size 8$"):
        model.trunk_forward(idx, kv_cache=kv)

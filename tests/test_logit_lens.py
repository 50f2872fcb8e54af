"""evaluation/logit_lens.py: the last lens is the model's logits, every lens is ln_f and the
tied head applied to that layer's stream, and the model is left as it was."""

import numpy as np

from tinytransformer.evaluation.logit_lens import lens_losses, logit_lens
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.text.batching import Batch
from tinytransformer.training.loop import mean_loss


def model_and_batches(seed=0):
    config = GPTConfig(vocab_size=13, block_size=8, n_layer=3, n_head=2, n_embd=8, dropout=0.1)
    model = GPT(config, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed)
    for p in model.params.values():
        p += 0.3 * rng.standard_normal(p.shape)  # far from the initial weights
    batches = [Batch(rng.integers(0, 13, (2, 6)), rng.integers(0, 13, (2, 6))) for _ in range(2)]
    return model, batches


def test_the_last_lens_is_the_models_logits_and_each_lens_reads_its_own_layer():
    model, batches = model_and_batches()
    idx = batches[0].idx
    lenses = logit_lens(model, idx)
    assert len(lenses) == 4 and lenses[0].shape == (2, 6, 13)
    model.eval()
    np.testing.assert_allclose(lenses[-1], model(idx)[0], rtol=1e-12, atol=1e-12)
    P = model.params
    for x, lens in zip(model.hidden_states(idx), lenses):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        h = (x - mu) / np.sqrt(var + 1e-5) * P["transformer.ln_f.weight"]
        h = h + P["transformer.ln_f.bias"]
        np.testing.assert_allclose(lens, h @ P["transformer.wte.weight"].T, rtol=1e-10, atol=1e-10)
    # the layers' lenses differ: each is its own layer's reading
    assert not np.allclose(lenses[0], lenses[1]) and not np.allclose(lenses[1], lenses[2])


def test_lens_losses_end_with_the_models_loss_and_change_nothing():
    model, batches = model_and_batches(1)
    before = {n: p.copy() for n, p in model.params.items()}
    model.train()
    losses = lens_losses(model, batches)
    assert model.training  # given back in the mode it was in
    assert losses.shape == (4,)
    model.eval()
    assert abs(losses[-1] - mean_loss(model, batches)) < 1e-12
    assert all(np.array_equal(before[n], p) for n, p in model.params.items())

"""The whole GPT: its gradient against finite differences, its loss at initialisation, its
parameter names and initial statistics, its errors, freezing, and (when torch and transformers
are installed) Hugging Face's GPT-2 as an oracle for logits, loss and every gradient.

Tolerances, stated once:
- finite differences (float64, h = 1e-5): worst relative error (gradcheck.rel_error) < 1e-6 per
  parameter tensor. The truncation error is of order h^2 = 1e-10 of the gradient's scale, so
  1e-6 leaves room for rounding only, not for a missing term.
- against Hugging Face: logits and loss to atol 1e-5 in float32 and 1e-10 in float64; gradients
  to a relative error of 1e-5 in float32 (two implementations round float32, eps 1.2e-7, in
  different orders; measured 6.5e-7) and 1e-10 in float64 (measured 1.7e-15).
"""

import dataclasses
import math

import numpy as np
import pytest

from tinytransformer.gradcheck import numerical_gradient, rel_error
from tinytransformer.models.block import block_forward
from tinytransformer.models.config import PRESETS, GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.transformer import param_shapes
from tinytransformer.ops.layernorm import layernorm_forward
from tinytransformer.training.optimizer import AdamW

GRAD_TOL = 1e-6

# the gradient-check model: every path of the real model, few enough parameters (1912) for
# finite differences over each of them
SMALL = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)


def small_model(dtype=np.float64, seed=0, **overrides):
    return GPT(GPTConfig(**{**SMALL, **overrides}), seed=seed, dtype=dtype)


def random_batch(rng, V, B, T):
    """idx (B, T) and targets (B, T) with one ignored (-100) target, so the mean counts right."""
    idx = rng.integers(0, V, size=(B, T))
    targets = rng.integers(0, V, size=(B, T))
    targets[0, 1] = -100
    return idx, targets


def perturb(model, rng, scale=0.3):
    """Move every parameter away from GPT-2's init (biases 0, gains 1 would hide bias and gain
    mistakes, and weights of 0.02 keep every nonlinearity in its linear range)."""
    for p in model.params.values():
        p += (scale * rng.standard_normal(p.shape)).astype(p.dtype)


def gradcheck_loss(model, idx, targets, dropout_seed=None):
    """{name: worst relative error} of model.grads against finite differences of the loss.

    With dropout_seed, model.rng is reset before every forward so each draws the same mask.
    """

    def loss():
        if dropout_seed is not None:
            model.rng = np.random.default_rng(dropout_seed)
        return model(idx, targets)[1]

    loss()
    grads = model.backward()
    assert set(grads) == set(model.params), "backward must give every parameter a gradient"
    one = np.ones(())  # d loss / d loss: the loss is a scalar
    return {
        name: rel_error(grads[name], numerical_gradient(loss, p, one))
        for name, p in model.params.items()
    }


def assert_all_below(errors, tol):
    worst = max(errors, key=errors.get)
    assert errors[worst] < tol, f"{worst}: relative error {errors[worst]:.2e} >= {tol:g}"


# --- gradients against finite differences --------------------------------------------------------


def test_gradcheck_every_parameter():
    rng = np.random.default_rng(0)
    model = small_model()
    perturb(model, rng)
    idx, targets = random_batch(rng, 11, B=2, T=8)
    errors = gradcheck_loss(model, idx, targets)
    assert len(errors) == 28  # 2 embeddings + 2 x 12 block tensors + ln_f weight and bias
    assert_all_below(errors, GRAD_TOL)


def test_gradcheck_every_parameter_without_biases():
    rng = np.random.default_rng(1)
    model = small_model(bias=False, n_embd=4)  # C = 4: the variants run in a third of the time
    perturb(model, rng)
    idx, targets = random_batch(rng, 11, B=2, T=8)
    errors = gradcheck_loss(model, idx, targets)
    assert len(errors) == 15 and not any(n.endswith(".bias") for n in errors)
    assert_all_below(errors, GRAD_TOL)


def test_gradcheck_every_parameter_with_dropout_in_training():
    rng = np.random.default_rng(2)
    model = small_model(dropout=0.25, n_embd=4).train()
    perturb(model, rng)
    idx, targets = random_batch(rng, 11, B=2, T=8)
    # the masks are really there: two different seeds give two different losses
    model.rng = np.random.default_rng(0)
    a = float(model(idx, targets)[1])
    model.rng = np.random.default_rng(1)
    assert abs(a - float(model(idx, targets)[1])) > 1e-3
    assert_all_below(gradcheck_loss(model, idx, targets, dropout_seed=5), GRAD_TOL)


def test_backward_with_a_random_upstream_gradient_of_the_logits():
    """backward(dlogits): the gradient of sum(logits * dlogits) for a random dlogits."""
    rng = np.random.default_rng(3)
    model = small_model()
    perturb(model, rng)
    idx = rng.integers(0, 11, size=(2, 5))
    logits, _ = model(idx)
    dlogits = rng.standard_normal(logits.shape)  # (B, T, V), never all ones
    grads = model.backward(dlogits)
    names = [
        "transformer.wte.weight",
        "transformer.wpe.weight",
        "transformer.h.0.ln_1.weight",
        "transformer.h.0.attn.c_attn.bias",
        "transformer.h.1.mlp.c_proj.bias",
        "transformer.ln_f.bias",
    ]
    errors = {
        n: rel_error(grads[n], numerical_gradient(lambda: model(idx)[0], model.params[n], dlogits))
        for n in names
    }
    assert_all_below(errors, GRAD_TOL)


def test_tied_embedding_gradient_is_the_sum_of_its_two_uses():
    """wte is used at the input (x = wte[idx] + wpe) and as the head (logits = x @ wte^T).

    With B = 1 and 8 distinct tokens, the input use of row idx[t] receives exactly the gradient
    wpe's row t receives, and the head use is dlogits^T @ x: the two must add up to grads[wte].
    The 3 tokens not in idx get the head's share only, which is not zero.
    """
    rng = np.random.default_rng(4)
    model = small_model()
    perturb(model, rng)
    idx = rng.permutation(11)[:8][None]  # (1, 8) distinct ids
    targets = rng.integers(0, 11, size=(1, 8))
    logits, _ = model(idx, targets)
    grads = model.backward()
    x = model.trunk_forward(idx)[0][0]  # (T, C) the final hidden states
    z = logits[0] - logits[0].max(-1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(-1, keepdims=True)  # (T, V)
    dlogits = (probs - np.eye(11)[targets[0]]) / 8  # (T, V), the mean over 8 targets
    head = dlogits.T @ x  # (V, C)
    emb = np.zeros_like(head)
    emb[idx[0]] = grads["transformer.wpe.weight"]  # row t of wpe <-> row idx[t] of wte
    np.testing.assert_allclose(grads["transformer.wte.weight"], head + emb, rtol=1e-10, atol=1e-14)
    unused = np.setdiff1d(np.arange(11), idx[0])
    assert np.abs(head[unused]).min(axis=1).max() > 0 and np.abs(emb[unused]).max() == 0
    assert np.abs(emb[idx[0]]).max() > 1e-3 * np.abs(head).max()  # both shares matter


# --- loss, learning, initialisation --------------------------------------------------------------


def test_initial_loss_is_log_vocab_size():
    """GPT-2's 0.02 init makes the logits nearly equal: the loss starts at ln V = ln 65 = 4.174."""
    model = GPT(GPTConfig(vocab_size=65, **PRESETS["tiny"]), seed=0)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 65, size=(8, 16))
    targets = rng.integers(0, 65, size=(8, 16))
    _, loss = model(idx, targets)
    assert abs(float(loss) - math.log(65)) < 0.1


def test_a_tiny_batch_is_memorised():
    """Two random sequences of 16 tokens: AdamW (lr 3e-3) drives the loss below 0.05 within 300
    steps (it gets there in about 180 from seed 0)."""
    model = GPT(GPTConfig(vocab_size=65, **PRESETS["tiny"]), seed=0)
    data = np.random.default_rng(0).integers(0, 65, size=(2, 17))
    idx, targets = data[:, :-1], data[:, 1:]
    opt = AdamW(model, lr=3e-3)
    losses = []
    for _ in range(300):
        _, loss = model(idx, targets)
        losses.append(float(loss))
        model.backward()
        opt.step()
    assert losses[0] > 4.0 and min(losses) < 0.05
    assert model.params["transformer.wte.weight"].dtype == np.float32  # trained in float32


def test_gpt2_initialisation_statistics():
    """Weights ~ N(0, 0.02), the residual projections ~ N(0, 0.02 / sqrt(2 n_layer)), biases 0,
    layer-norm gains 1. Sampling tolerance: 5 standard errors, i.e. the sample std within
    5 / sqrt(2n) of the true std relative, the mean within 5 std / sqrt(n)."""
    cfg = GPTConfig(vocab_size=65, **PRESETS["small"])  # 4 layers: c_proj std 0.02 / sqrt(8)
    model = GPT(cfg, seed=0)
    weights = []
    for name, p in model.params.items():
        if name.endswith(".bias"):
            assert np.array_equal(p, np.zeros_like(p)), name
        elif ".ln_" in name:
            assert np.array_equal(p, np.ones_like(p)), name
        else:
            std = 0.02 / math.sqrt(2 * 4) if name.endswith("c_proj.weight") else 0.02
            n = p.size
            assert abs(p.std() / std - 1) < 5 / math.sqrt(2 * n), (name, p.std(), std)
            assert abs(p.mean()) < 5 * std / math.sqrt(n), (name, p.mean())
            weights.append(name)
    assert len(weights) == 2 + 4 * 4  # wte, wpe, and c_attn, c_proj, c_fc, c_proj per block
    # different seeds, different weights; the same seed, the same weights
    other = GPT(cfg, seed=1).params["transformer.wte.weight"]
    assert not np.array_equal(other, model.params["transformer.wte.weight"])
    same = GPT(cfg, seed=0).params["transformer.wte.weight"]
    assert np.array_equal(same, model.params["transformer.wte.weight"])


# --- names, counts, state ------------------------------------------------------------------------

# Hugging Face GPT-2's state-dict names and shapes for V = 11, block 8, C = 8, 2 layers (its
# GPT2LMHeadModel adds lm_head.weight, which is wte itself). Conv1D weights are (in, out).
HF_NAMES_AND_SHAPES = [
    ("transformer.wte.weight", (11, 8)),
    ("transformer.wpe.weight", (8, 8)),
    ("transformer.h.0.ln_1.weight", (8,)),
    ("transformer.h.0.ln_1.bias", (8,)),
    ("transformer.h.0.attn.c_attn.weight", (8, 24)),
    ("transformer.h.0.attn.c_attn.bias", (24,)),
    ("transformer.h.0.attn.c_proj.weight", (8, 8)),
    ("transformer.h.0.attn.c_proj.bias", (8,)),
    ("transformer.h.0.ln_2.weight", (8,)),
    ("transformer.h.0.ln_2.bias", (8,)),
    ("transformer.h.0.mlp.c_fc.weight", (8, 32)),
    ("transformer.h.0.mlp.c_fc.bias", (32,)),
    ("transformer.h.0.mlp.c_proj.weight", (32, 8)),
    ("transformer.h.0.mlp.c_proj.bias", (8,)),
    ("transformer.h.1.ln_1.weight", (8,)),
    ("transformer.h.1.ln_1.bias", (8,)),
    ("transformer.h.1.attn.c_attn.weight", (8, 24)),
    ("transformer.h.1.attn.c_attn.bias", (24,)),
    ("transformer.h.1.attn.c_proj.weight", (8, 8)),
    ("transformer.h.1.attn.c_proj.bias", (8,)),
    ("transformer.h.1.ln_2.weight", (8,)),
    ("transformer.h.1.ln_2.bias", (8,)),
    ("transformer.h.1.mlp.c_fc.weight", (8, 32)),
    ("transformer.h.1.mlp.c_fc.bias", (32,)),
    ("transformer.h.1.mlp.c_proj.weight", (32, 8)),
    ("transformer.h.1.mlp.c_proj.bias", (8,)),
    ("transformer.ln_f.weight", (8,)),
    ("transformer.ln_f.bias", (8,)),
]


def test_parameter_names_and_shapes_are_hugging_face_gpt2s():
    model = small_model(np.float32)
    assert [(n, p.shape) for n, p in model.params.items()] == HF_NAMES_AND_SHAPES
    assert list(param_shapes(model.config).items()) == HF_NAMES_AND_SHAPES
    no_bias = small_model(np.float32, bias=False)
    assert list(no_bias.params) == [n for n, _ in HF_NAMES_AND_SHAPES if not n.endswith(".bias")]


def test_num_parameters():
    # V*C + P*C + n_layer * (12 C^2 + 13 C) + 2C: 88 + 64 + 2 * 872 + 16
    assert small_model(np.float32).num_parameters() == 1912
    # without biases each block keeps only its two gains (2C), ln_f its weight (C)
    assert small_model(np.float32, bias=False).num_parameters() == 88 + 64 + 2 * (12 * 64 + 16) + 8
    # GPT-2 small (124M, the tied head counted once), from the shapes alone: no 500 MB init
    shapes = param_shapes(GPTConfig(**PRESETS["gpt2"]))
    assert sum(math.prod(s) for s in shapes.values()) == 124_439_808


def test_state_dict_round_trip():
    a, b = small_model(np.float32, seed=0), small_model(np.float32, seed=1)
    idx = np.random.default_rng(0).integers(0, 11, size=(2, 8))
    sd = a.state_dict()
    assert list(sd) == list(a.params)
    sd["transformer.wpe.weight"] += 1.0  # a copy: the model is untouched
    assert not np.array_equal(sd["transformer.wpe.weight"], a.params["transformer.wpe.weight"])
    b.load_state_dict(a.state_dict())
    for name, p in a.params.items():
        assert np.array_equal(b.params[name], p) and b.params[name].dtype == np.float32, name
    np.testing.assert_array_equal(a(idx)[0], b(idx)[0])
    # float64 arrays load into a float32 model as float32, as copies
    sd64 = {n: p.astype(np.float64) for n, p in a.params.items()}
    b.load_state_dict(sd64)
    sd64["transformer.ln_f.bias"] += 1.0
    assert all(p.dtype == np.float32 for p in b.params.values())
    assert np.array_equal(b.params["transformer.ln_f.bias"], a.params["transformer.ln_f.bias"])


def test_load_state_dict_names_every_problem_and_changes_nothing():
    model = small_model(np.float32)
    before = model.state_dict()
    missing = model.state_dict()
    del missing["transformer.ln_f.bias"]
    with pytest.raises(ValueError, match=r"missing \['transformer\.ln_f\.bias'\]"):
        model.load_state_dict(missing)
    extra = {**model.state_dict(), "lm_head.weight": np.zeros((11, 8), np.float32)}
    with pytest.raises(ValueError, match=r"unexpected \['lm_head\.weight'\]"):
        model.load_state_dict(extra)
    misshaped = {**model.state_dict(), "transformer.wpe.weight": np.zeros((9, 8), np.float32)}
    with pytest.raises(
        ValueError, match=r"wrong shape: transformer\.wpe\.weight: expected \(8, 8\), got \(9, 8\)"
    ):
        model.load_state_dict(misshaped)
    all_three = {**misshaped, "lm_head.weight": np.zeros(1)}
    del all_three["transformer.ln_f.bias"]
    with pytest.raises(ValueError, match=r"missing .*, unexpected .*, wrong shape"):
        model.load_state_dict(all_three)
    for name, p in before.items():
        assert np.array_equal(model.params[name], p), f"{name} changed by a failed load"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_flows_from_the_parameters(dtype):
    model = small_model(dtype)
    rng = np.random.default_rng(0)
    idx, targets = random_batch(rng, 11, B=2, T=8)
    logits, loss = model(idx, targets)
    assert logits.dtype == dtype and loss.dtype == dtype and loss.shape == ()
    grads = model.backward()
    assert {g.dtype for g in grads.values()} == {np.dtype(dtype)}
    for name, g in grads.items():
        assert g.shape == model.params[name].shape, name


def test_bad_idx_and_targets_raise_clear_errors():
    model = small_model(np.float32)
    ok = np.zeros((2, 4), dtype=np.int64)
    with pytest.raises(ValueError, match=r"idx: ids must lie in \[0, 11\), got 11"):
        model(np.array([[1, 11]]))
    with pytest.raises(ValueError, match=r"idx: ids must lie in \[0, 11\), got -1"):
        model(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="idx: sequence length 9 exceeds block_size 8"):
        model(np.zeros((1, 9), dtype=np.int64))
    with pytest.raises(TypeError, match="idx: expected integer token ids, got dtype float64"):
        model(np.zeros((1, 3)))
    with pytest.raises(TypeError, match="idx: expected a numpy array of token ids, got list"):
        model([[1, 2]])
    with pytest.raises(ValueError, match=r"idx: expected a 2-d array, got shape \(4,\)"):
        model(np.zeros(4, dtype=np.int64))
    with pytest.raises(
        ValueError, match=r"targets: expected shape \(2, 4\) like idx, got \(2, 3\)"
    ):
        model(ok, np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"targets: ids must lie in \[0, 11\), got 12"):
        model(ok, np.full((2, 4), 12))
    model(ok)  # no targets, no loss
    with pytest.raises(RuntimeError, match="no targets"):
        model.backward()


def test_a_non_float_dtype_is_rejected_at_construction():
    with pytest.raises(
        TypeError, match="dtype: expected a floating-point dtype .* got <class 'numpy.int64'>"
    ):
        GPT(GPTConfig(**SMALL), dtype=np.int64)


# --- freezing ------------------------------------------------------------------------------------


def test_freeze_all_but_the_last_block():
    """freeze(1) on 2 layers: grads only for block 1 and ln_f, equal to those of a full backward."""
    rng = np.random.default_rng(5)
    model = small_model()
    perturb(model, rng)
    idx, targets = random_batch(rng, 11, B=2, T=8)
    model(idx, targets)
    full = {n: g.copy() for n, g in model.backward().items()}
    model.freeze(1)
    model(idx, targets)
    grads = model.backward()
    expected = {n for n in model.params if n.startswith(("transformer.h.1.", "transformer.ln_f."))}
    assert set(grads) == expected and len(expected) == 14
    assert model.frozen == set(model.params) - expected
    for name in expected:
        np.testing.assert_allclose(grads[name], full[name], rtol=1e-12, atol=0, err_msg=name)
    # the optimizer leaves the frozen parameters alone
    before = model.state_dict()
    AdamW(model, lr=0.1).step()
    for name, p in model.params.items():
        assert np.array_equal(p, before[name]) == (name in model.frozen), name


def test_freeze_extremes_and_errors():
    model = small_model(np.float32)
    idx, targets = random_batch(np.random.default_rng(0), 11, B=1, T=4)
    model.freeze(0)  # only the final layer norm trains
    model(idx, targets)
    assert set(model.backward()) == {"transformer.ln_f.weight", "transformer.ln_f.bias"}
    model.freeze(2)  # every block trains; the embeddings (and so the tied head) do not
    model(idx, targets)
    assert set(model.backward()) == set(model.params) - {
        "transformer.wte.weight",
        "transformer.wpe.weight",
    }
    with pytest.raises(ValueError, match="trainable_blocks: expected 0..2, got 3"):
        model.freeze(3)
    with pytest.raises(ValueError, match="trainable_blocks: expected 0..2, got -1"):
        model.freeze(-1)


# --- Hugging Face GPT-2 as the oracle ------------------------------------------------------------


def hf_and_ours(dtype):
    """A randomly initialised Hugging Face GPT2LMHeadModel (built offline, nothing downloaded)
    and our GPT holding the same weights. Returns (torch, hf_model, our_model)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(
        vocab_size=SMALL["vocab_size"],
        n_positions=SMALL["block_size"],
        n_embd=SMALL["n_embd"],
        n_layer=SMALL["n_layer"],
        n_head=SMALL["n_head"],
        activation_function="gelu_new",  # the tanh approximation, as ours
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(cfg)
    if dtype == np.float64:
        hf = hf.double()
    hf.eval()
    with torch.no_grad():  # off GPT-2's init, so biases and gains matter (see perturb)
        for p in hf.parameters():
            p.add_(0.3 * torch.randn(p.shape, dtype=p.dtype))
    sd = hf.state_dict()
    assert hf.lm_head.weight is hf.transformer.wte.weight  # tied, like ours
    ours = small_model(dtype, seed=1)
    assert set(sd) - set(ours.params) == {"lm_head.weight"}  # no other buffers to skip
    # Conv1D stores (in, out) like our linear layers: nothing is transposed
    ours.load_state_dict({n: sd[n].detach().numpy() for n in ours.params})
    return torch, hf, ours


@pytest.mark.parametrize(
    "dtype, atol, grad_tol", [(np.float32, 1e-5, 1e-5), (np.float64, 1e-10, 1e-10)]
)
def test_matches_hugging_face_gpt2(dtype, atol, grad_tol):
    torch, hf, ours = hf_and_ours(dtype)
    rng = np.random.default_rng(0)
    idx, targets = random_batch(rng, 11, B=3, T=8)
    logits, loss = ours(idx, targets)
    grads = ours.backward()
    out = hf(input_ids=torch.from_numpy(idx))
    # the loss on OUR targets (HF's labels= would shift them); -100 is ignored by both
    hf_loss = torch.nn.functional.cross_entropy(
        out.logits.reshape(-1, 11), torch.from_numpy(targets).reshape(-1), ignore_index=-100
    )
    hf_loss.backward()
    hf_logits = out.logits.detach().numpy()
    assert hf_logits.dtype == logits.dtype == dtype
    np.testing.assert_allclose(logits, hf_logits, rtol=0, atol=atol)
    assert abs(float(loss) - hf_loss.item()) < atol
    hf_grads = {n: p.grad.numpy() for n, p in hf.named_parameters()}  # wte: both uses summed
    assert set(hf_grads) == set(grads)
    errors = {n: rel_error(grads[n], hf_grads[n]) for n in grads}
    assert_all_below(errors, grad_tol)


def test_matches_hugging_face_gpt2_with_left_padding():
    """attention_mask: padded keys are never attended. Compared at the real positions only (a
    query that is itself padding sees no key; we give it zeros, HF a uniform average)."""
    torch, hf, ours = hf_and_ours(np.float64)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 11, size=(2, 8))
    mask = np.ones((2, 8), dtype=np.int64)
    mask[1, :3] = 0  # the second row starts with 3 pads
    logits, _ = ours(idx, attention_mask=mask)
    position_ids = torch.arange(8).expand(2, 8)  # the same positions as ours (no re-numbering)
    out = hf(
        input_ids=torch.from_numpy(idx),
        attention_mask=torch.from_numpy(mask),
        position_ids=position_ids,
    )
    real = mask.astype(bool)
    np.testing.assert_allclose(logits[real], out.logits.detach().numpy()[real], rtol=0, atol=1e-10)


def test_backward_checks_its_upstream_gradient():
    model = GPT(GPTConfig(**SMALL))
    idx = np.zeros((2, 3), dtype=np.int64)
    logits, _ = model(idx)
    with pytest.raises(ValueError, match=r"dlogits: expected shape \(2, 3, 11\), got \(3, 2, 11\)"):
        model.backward(np.zeros((3, 2, 11), np.float32))
    with pytest.raises(TypeError, match="float64"):
        model.backward(np.zeros(logits.shape, np.float64))  # a float32 model
    with pytest.raises(
        ValueError, match=r"idx: expected at least one position, got shape \(1, 0\)"
    ):
        model(np.zeros((1, 0), dtype=np.int64))


def test_hidden_states_are_the_residual_stream_layer_by_layer():
    """Embedding first, then each block's output; ln_f of the last one is the trunk's output."""
    rng = np.random.default_rng(5)
    model = small_model()
    perturb(model, rng)
    model.eval()
    idx = random_batch(rng, model.config.vocab_size, 2, 6)[0]  # (2, 6)
    states = model.hidden_states(idx)
    assert len(states) == model.config.n_layer + 1
    P = model.params
    x = P["transformer.wte.weight"][idx] + P["transformer.wpe.weight"][:6]  # (B, T, C)
    np.testing.assert_array_equal(states[0], x)
    for i in range(model.config.n_layer):  # each state is the previous one through block i
        x, _ = block_forward(states[i], model.block_params(i), model.config.n_head)
        np.testing.assert_array_equal(states[i + 1], x)
    final, _ = layernorm_forward(
        states[-1], P["transformer.ln_f.weight"], P.get("transformer.ln_f.bias")
    )
    np.testing.assert_array_equal(model.trunk_forward(idx)[0], final)


# --- modes, bookkeeping and error messages -------------------------------------------------------


def test_modes_and_zero_grad():
    model = small_model(np.float32)
    assert model.training is True
    assert model.eval() is model and model.training is False
    assert model.train() is model and model.training is True
    idx, targets = random_batch(np.random.default_rng(0), 11, B=1, T=4)
    model(idx, targets)
    assert model.backward() and model.grads
    model.zero_grad()
    assert model.grads == {}


def test_backward_and_attention_maps_need_a_forward_pass_first():
    model = small_model(np.float32)
    with pytest.raises(RuntimeError, match="^backward: run a forward pass first$"):
        model.backward()
    with pytest.raises(RuntimeError, match="^attention_maps: run a forward pass first$"):
        model.attention_maps()


def test_targets_that_are_not_an_array_are_named():
    model = small_model(np.float32)
    with pytest.raises(ValueError, match=r"^targets: expected shape \(1, 2\) like idx, got list$"):
        model(np.array([[1, 2]]), [[2, 3]])


def test_float32_backward_accepts_a_float32_upstream_gradient():
    model = small_model(np.float32)
    idx = np.random.default_rng(0).integers(0, 11, size=(2, 5))
    logits, _ = model(idx)
    dlogits = np.random.default_rng(1).standard_normal(logits.shape).astype(np.float32)
    grads = model.backward(dlogits)
    assert set(grads) == set(model.params)
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}


def test_freeze_none_unfreezes_everything():
    model = small_model(np.float32)
    idx, targets = random_batch(np.random.default_rng(0), 11, B=1, T=4)
    model.freeze(1)
    assert model.freeze(None) is model and model.frozen == set()
    model(idx, targets)
    assert set(model.backward()) == set(model.params)


def test_load_state_dict_lists_every_misshaped_array_and_resets_the_caches():
    model = small_model(np.float32)
    bad = {
        **model.state_dict(),
        "transformer.wpe.weight": np.zeros((9, 8), np.float32),
        "transformer.ln_f.bias": np.zeros(3, np.float32),
    }
    with pytest.raises(ValueError) as err:
        model.load_state_dict(bad)
    assert str(err.value) == (
        "load_state_dict: wrong shape: transformer.wpe.weight: expected (8, 8), got (9, 8); "
        "transformer.ln_f.bias: expected (8,), got (3,)"
    )
    idx, targets = random_batch(np.random.default_rng(0), 11, B=1, T=4)
    model(idx, targets)
    model.backward()
    model.load_state_dict(small_model(np.float32, seed=3).state_dict())
    assert model.grads == {}  # the gradients of the old weights are gone
    with pytest.raises(RuntimeError, match="run a forward pass first"):
        model.backward()  # and so is the forward pass they came from


def test_config_from_dict_round_trip_and_unknown_fields():
    cfg = GPTConfig(**SMALL)
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"^config: unknown fields \['colour', 'size'\]$"):
        GPTConfig.from_dict({**cfg.to_dict(), "size": 1, "colour": "red"})


def test_construction_defaults_and_errors():
    """seed 0 by default; dropout draws from its own generator, default_rng([seed, 1])."""
    cfg = GPTConfig(**SMALL)
    default, zero = GPT(cfg), GPT(cfg, seed=0)
    for name, p in default.params.items():
        np.testing.assert_array_equal(p, zero.params[name])
    assert default.grads == {}
    np.testing.assert_array_equal(
        GPT(cfg, seed=4).rng.random(5), np.random.default_rng([4, 1]).random(5)
    )
    with pytest.raises(TypeError, match="^config: expected a GPTConfig, got dict$"):
        GPT(dict(SMALL))


def test_trunk_dropout_applies_to_the_embedding_and_the_blocks_in_training():
    model = small_model(dropout=0.5).train()
    idx = np.random.default_rng(0).integers(0, 11, size=(2, 6))
    states = model.hidden_states(idx)
    P = model.params
    emb = P["transformer.wte.weight"][idx] + P["transformer.wpe.weight"][:6]  # (B, T, C)
    ratio = states[0] / emb  # 0 where dropped, 1 / (1 - 0.5) = 2 where kept
    assert set(np.round(np.unique(ratio), 12).tolist()) == {0.0, 2.0}
    without, _ = block_forward(states[0], model.block_params(0), model.config.n_head)
    assert np.abs(states[1] - without).max() > 1e-3  # the block drops too
    model.eval()
    np.testing.assert_array_equal(model.hidden_states(idx)[0], emb)  # no dropout in eval


def test_backward_stops_below_the_lowest_trainable_block(monkeypatch):
    """Frozen embeddings and block 0: one block backward, no embedding backward. Frozen
    embeddings only: both blocks, still no embedding backward."""
    import tinytransformer.models.transformer as transformer_module

    calls = []
    for name in ("block_backward", "embedding_backward"):
        real = getattr(transformer_module, name)
        monkeypatch.setattr(
            transformer_module,
            name,
            lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a),
        )
    model = small_model(np.float32)
    idx, targets = random_batch(np.random.default_rng(0), 11, B=1, T=4)
    model.freeze(1)
    model(idx, targets)
    model.backward()
    assert calls == ["block_backward"]
    calls.clear()
    model.frozen = {"transformer.wte.weight", "transformer.wpe.weight"}
    model(idx, targets)
    assert set(model.backward()) == set(model.params) - model.frozen
    assert calls == ["block_backward", "block_backward"]
    calls.clear()
    model.freeze(None)
    model(idx, targets)
    model.backward()
    assert calls == ["block_backward", "block_backward", "embedding_backward"]


def test_backward_errors_name_the_upstream_gradient():
    model = small_model(np.float32)
    idx = np.zeros((1, 3), dtype=np.int64)
    logits, _ = model(idx)
    with pytest.raises(TypeError, match="^dlogits: expected a floating-point array, got dtype"):
        model.backward(np.zeros(logits.shape, dtype=np.int64))
    x, cache = model.trunk_forward(idx)
    with pytest.raises(TypeError, match="^dx: expected a floating-point array, got dtype int64$"):
        model.trunk_backward(np.zeros(x.shape, dtype=np.int64), cache)
    with pytest.raises(ValueError, match=r"^dx: expected shape \(1, 3, 8\), got \(1, 3, 4\)$"):
        model.trunk_backward(np.zeros((1, 3, 4), np.float32), cache)
    with pytest.raises(
        TypeError, match="^expected one floating dtype .*dx=float64, params=float32"
    ):
        model.trunk_backward(np.zeros(x.shape), cache)


DROPOUT = r"dropout: expected a finite number >= 0\.0 and < 1\.0, got "


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(n_layer=0), ValueError, "n_layer: expected a whole number >= 1, got 0"),
        (dict(n_head=-2), ValueError, "n_head: expected a whole number >= 1, got -2"),
        (dict(vocab_size=True), TypeError, "vocab_size: expected a whole number >= 1, got True"),
        (dict(block_size=8.0), TypeError, r"block_size: expected a whole number >= 1, got 8\.0"),
        (dict(n_embd=10, n_head=4), ValueError, "n_embd: expected a multiple of n_head=4, got 10"),
        (
            dict(dropout=True),
            TypeError,
            DROPOUT + r"True",
        ),
        (
            dict(dropout="0.1"),
            TypeError,
            DROPOUT + r"'0\.1'",
        ),
        (
            dict(dropout=1.0),
            ValueError,
            DROPOUT + r"1\.0",
        ),
        (
            dict(dropout=1.5),
            ValueError,
            DROPOUT + r"1\.5",
        ),
        (
            dict(dropout=-0.1),
            ValueError,
            DROPOUT + r"-0\.1",
        ),
        (dict(bias="no"), TypeError, "bias: expected True or False, got 'no'"),
    ],
)
def test_config_refuses_what_no_model_can_be_built_from(kwargs, error, message):
    """Sizes are positive ints (not bools, not floats), heads divide the width, dropout is a
    probability below 1 (1 would drop everything), bias a bool; the error names the field."""
    with pytest.raises(error, match=f"^{message}$"):
        GPTConfig(**kwargs)


def test_a_config_is_frozen_so_two_models_never_share_a_change():
    config = GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8)
    m1, m2 = GPT(config), GPT(config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m1.config.n_head = 4
    assert m2.config.n_head == 2
    assert GPTConfig(n_layer=np.int64(3), dropout=np.float32(0.5)).to_dict()["n_layer"] == 3


def test_config_accepts_numpy_integers_a_zero_dropout_and_numpy_bools():
    cfg = GPTConfig(vocab_size=np.int64(11), n_layer=np.int32(1), dropout=0, bias=np.bool_(False))
    assert (cfg.vocab_size, cfg.n_layer, cfg.dropout, cfg.bias) == (11, 1, 0, False)
    assert GPTConfig(dropout=0.99).dropout == 0.99  # just below 1
    assert type(GPTConfig(dropout=np.float32(0.5)).dropout) is float  # a NumPy float is a number

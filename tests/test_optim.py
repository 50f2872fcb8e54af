"""Worked examples for the optimizer step: AdamW by hand and against torch.optim.AdamW, gradient
clipping by hand and against torch.nn.utils.clip_grad_norm_, and the learning-rate schedule."""

import io

import numpy as np
import pytest

from tinytransformer.plots import plot_lr_schedule
from tinytransformer.training.optimizer import AdamW, clip_grad_norm
from tinytransformer.training.schedule import Schedule, get_lr


class FakeModel:
    """The smallest thing with the model contract: `params`, `grads` and an optional `frozen`."""

    def __init__(self, params, frozen=()):
        self.params = params
        self.grads = {name: np.zeros_like(p) for name, p in params.items()}
        self.frozen = set(frozen)


def tiny_gpt_params(rng, dtype=np.float32):
    """A few GPT-2-named parameters of both kinds: matrices (decayed) and vectors (not)."""
    shapes = {
        "transformer.wte.weight": (7, 4),  # embedding: decayed
        "transformer.h.0.ln_1.weight": (4,),  # layer-norm gain: not decayed
        "transformer.h.0.attn.c_attn.weight": (4, 12),  # matrix: decayed
        "transformer.h.0.attn.c_attn.bias": (12,),  # bias: not decayed
    }
    return {name: rng.standard_normal(s).astype(dtype) for name, s in shapes.items()}


def fill_grads(model, rng):
    for name, p in model.params.items():
        model.grads[name] = rng.standard_normal(p.shape).astype(p.dtype)


# ---------------------------------------------------------------------------- AdamW by hand


def test_first_two_steps_by_hand_float64():
    # lr=0.1, wd=0.1, betas=(0.9, 0.999), eps=1e-8. At t=1, m = 0.1 g and v = 0.001 g**2, so after
    # bias correction m_hat = g and sqrt(v_hat) = |g|: the step is lr * g / (|g| + eps), i.e.
    # lr * sign(g) up to eps. The matrix W is first decayed by 1 - lr * wd = 0.99; the vector b
    # is not decayed.
    W = np.array([[1.0, -2.0]])
    b = np.array([0.5, -0.5])
    model = FakeModel({"W": W, "b": b})
    model.grads = {"W": np.array([[0.1, -0.3]]), "b": np.array([2.0, -4.0])}
    opt = AdamW(model, lr=0.1, weight_decay=0.1)
    opt.step()
    # W[0,0] = 0.99 * 1  - 0.1 * 0.1 / (0.1 + 1e-8) = 0.99 - 0.0999999900... = 0.89000001
    # W[0,1] = 0.99 * -2 + 0.1 * 0.3 / (0.3 + 1e-8) = -1.98 + 0.0999999966... = -1.8800000033333332
    # b[0]   = 0.5  - 0.1 * 2 / (2 + 1e-8) = 0.5 - 0.0999999995 = 0.4000000005
    # b[1]   = -0.5 + 0.1 * 4 / (4 + 1e-8) = -0.5 + 0.09999999975 = -0.40000000025
    np.testing.assert_allclose(W, [[0.89000001, -1.8800000033333332]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(b, [0.4000000005, -0.40000000025], rtol=0, atol=1e-12)
    assert model.params["W"] is W and model.params["b"] is b  # updated in place
    assert opt.t == 1
    # m = (1 - beta1) g and v = (1 - beta2) g**2 after one step.
    np.testing.assert_allclose(opt.m["b"], [0.2, -0.4], rtol=0, atol=1e-15)
    np.testing.assert_allclose(opt.v["b"], [0.004, 0.016], rtol=0, atol=1e-15)

    # The same gradient again: m = 0.19 g, 1 - beta1**2 = 0.19; v = 0.001999 g**2,
    # 1 - beta2**2 = 0.001999. The bias-corrected step is again lr * g / (|g| + eps).
    opt.step()
    np.testing.assert_allclose(b, [0.300000001, -0.3000000005], rtol=0, atol=1e-12)
    # W[0,0] = 0.99 * 0.89000001 - 0.0999999900... = 0.7811000199
    np.testing.assert_allclose(W[0, 0], 0.99 * 0.89000001 - 0.01 / 0.10000001, rtol=0, atol=1e-12)
    np.testing.assert_allclose(W[0, 0], 0.7811000199, rtol=0, atol=1e-9)


def test_zero_gradient_and_zero_lr_leave_params_alone():
    rng = np.random.default_rng(0)
    model = FakeModel(tiny_gpt_params(rng))
    before = {n: p.copy() for n, p in model.params.items()}
    opt = AdamW(model, lr=1e-2, weight_decay=0.1)
    opt.step()  # grads are all zero: m = v = 0, and m / (0 + eps) = 0; only decay moves W
    for name, p in model.params.items():
        if p.ndim == 1:
            np.testing.assert_array_equal(p, before[name])
        else:
            np.testing.assert_allclose(p, before[name] * (1 - 1e-2 * 0.1), rtol=1e-7, atol=0)
    opt.lr = 0.0
    fill_grads(model, rng)
    frozen_now = {n: p.copy() for n, p in model.params.items()}
    opt.step()
    for name, p in model.params.items():
        np.testing.assert_array_equal(p, frozen_now[name])


# ---------------------------------------------------------------------------- AdamW vs torch


@pytest.mark.parametrize(("dtype", "atol"), [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_ten_steps_match_torch_adamw(dtype, atol):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    model = FakeModel(tiny_gpt_params(rng, dtype))
    tparams = {n: torch.tensor(p.copy(), requires_grad=True) for n, p in model.params.items()}
    # nanoGPT's configure_optimizers: decay only tensors with dim >= 2.
    groups = [
        {"params": [t for t in tparams.values() if t.dim() >= 2], "weight_decay": 0.1},
        {"params": [t for t in tparams.values() if t.dim() < 2], "weight_decay": 0.0},
    ]
    lrs = [get_lr(it, 3e-2, 3, 8, 3e-3) for it in range(10)]  # warmup, cosine, floor
    topt = torch.optim.AdamW(groups, lr=lrs[0], betas=(0.9, 0.99), eps=1e-8, foreach=False)
    opt = AdamW(model, lr=lrs[0], betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    for lr in lrs:
        fill_grads(model, rng)
        for name, t in tparams.items():
            t.grad = torch.tensor(model.grads[name].copy())
        for group in topt.param_groups:
            group["lr"] = lr
        opt.lr = lr
        topt.step()
        opt.step()
    assert opt.t == 10
    for name, t in tparams.items():
        p = model.params[name]
        assert p.dtype == dtype
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=0, atol=atol, err_msg=name)
        state = topt.state[t]
        np.testing.assert_allclose(opt.m[name], state["exp_avg"].numpy(), rtol=0, atol=atol)
        np.testing.assert_allclose(opt.v[name], state["exp_avg_sq"].numpy(), rtol=0, atol=atol)


# ---------------------------------------------------------------------------- frozen, dtype


def test_frozen_and_untrainable_params_are_never_touched():
    rng = np.random.default_rng(2)
    params = tiny_gpt_params(rng)
    wte = params["transformer.wte.weight"]
    model = FakeModel(params, frozen={"transformer.wte.weight"})
    del model.grads["transformer.wte.weight"]  # a frozen parameter needs no gradient
    before = {n: p.copy() for n, p in params.items()}
    opt = AdamW(model, lr=0.1, weight_decay=0.5)
    assert "transformer.wte.weight" not in opt.names
    for _ in range(3):
        fill_grads(model, rng)
        opt.step()
    assert params["transformer.wte.weight"] is wte
    np.testing.assert_array_equal(wte, before["transformer.wte.weight"])  # not even decayed
    for name in opt.names:
        assert not np.array_equal(params[name], before[name]), name

    # An explicit `trainable` picks a subset; the rest stay bit for bit as they were.
    model2 = FakeModel({n: p.copy() for n, p in before.items()})
    only = ["transformer.h.0.attn.c_attn.bias"]
    opt2 = AdamW(model2, lr=0.1, weight_decay=0.5, trainable=only)
    fill_grads(model2, rng)
    opt2.step()
    assert opt2.names == only
    for name, p in model2.params.items():
        assert np.array_equal(p, before[name]) == (name not in only), name


def test_float32_stays_float32():
    rng = np.random.default_rng(3)
    model = FakeModel(tiny_gpt_params(rng, np.float32))
    arrays = dict(model.params)
    opt = AdamW(model, lr=1e-3, weight_decay=0.1)
    for it in range(3):
        opt.lr = np.float64(1e-3 / (it + 1))  # a float64 scalar from a schedule must not upcast
        fill_grads(model, rng)
        opt.step()
    for name, p in model.params.items():
        assert p is arrays[name]
        assert p.dtype == np.float32
        assert opt.m[name].dtype == np.float32 and opt.v[name].dtype == np.float32
    assert all(a.dtype == np.float32 for k, a in opt.state_dict().items() if k[:2] in ("m.", "v."))


# ---------------------------------------------------------------------------- state dict


def test_state_dict_round_trip_is_bit_identical():
    def grads_at(step, model):
        rng = np.random.default_rng(100 + step)  # the same gradients in both runs
        fill_grads(model, rng)

    start = tiny_gpt_params(np.random.default_rng(4))
    kwargs = dict(betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)

    straight = FakeModel({n: p.copy() for n, p in start.items()})
    opt = AdamW(straight, lr=0.0, **kwargs)
    for step in range(6):
        opt.lr = get_lr(step, 1e-2, 2, 6, 1e-3)
        grads_at(step, straight)
        opt.step()

    resumed = FakeModel({n: p.copy() for n, p in start.items()})
    first = AdamW(resumed, lr=0.0, **kwargs)
    for step in range(3):
        first.lr = get_lr(step, 1e-2, 2, 6, 1e-3)
        grads_at(step, resumed)
        first.step()
    buf = io.BytesIO()
    np.savez(buf, **first.state_dict())  # through an .npz file, as a checkpoint would be
    buf.seek(0)
    with np.load(buf) as npz:
        sd = dict(npz)
    # A NEW optimizer with the run's hyperparameters (they are the run's settings, not part of
    # the optimizer's state): loading restores the step count and the moments.
    second = AdamW(resumed, lr=0.5, **kwargs)
    second.load_state_dict(sd)
    assert second.t == 3
    for step in range(3, 6):
        second.lr = get_lr(step, 1e-2, 2, 6, 1e-3)
        grads_at(step, resumed)
        second.step()

    assert second.t == opt.t == 6
    for name in start:
        np.testing.assert_array_equal(resumed.params[name], straight.params[name], err_msg=name)
        np.testing.assert_array_equal(second.m[name], opt.m[name])
        np.testing.assert_array_equal(second.v[name], opt.v[name])


def test_state_dict_keys_and_copies():
    model = FakeModel({"W": np.ones((2, 2), np.float32), "b": np.ones(2, np.float32)})
    opt = AdamW(model, lr=1e-3)
    sd = opt.state_dict()
    assert set(sd) == {"t", "m.W", "v.W", "m.b", "v.b"}  # the step count and the moments
    assert sd["t"].shape == () and sd["t"].dtype == np.int64
    sd["m.W"][...] = 7.0  # a copy: editing it does not reach the optimizer
    assert not opt.m["W"].any()


def test_load_state_dict_errors_list_every_problem_and_change_nothing():
    model = FakeModel({"W": np.ones((2, 3)), "b": np.ones(3)})
    opt = AdamW(model, lr=1e-3)
    sd = opt.state_dict()
    del sd["v.b"]
    sd["m.W"] = np.zeros((3, 2))
    sd["m.extra"] = np.zeros(1)
    sd["t"] = np.array(5)
    with pytest.raises(ValueError) as err:
        opt.load_state_dict(sd)
    msg = str(err.value)
    assert "missing keys: ['v.b']" in msg
    assert "unexpected keys: ['m.extra']" in msg
    assert "m.W: expected shape (2, 3) float64, got shape (3, 2) float64" in msg
    assert opt.t == 0  # nothing was written

    sd = opt.state_dict()
    sd["v.W"] = sd["v.W"].astype(np.float32)
    with pytest.raises(ValueError, match=r"v\.W: expected shape \(2, 3\) float64, got .* float32"):
        opt.load_state_dict(sd)
    sd = opt.state_dict()
    sd["t"] = np.array(2.5)
    with pytest.raises(ValueError, match=r"t: expected a 0-d integer array, got float64 \(\)"):
        opt.load_state_dict(sd)


# ---------------------------------------------------------------------------- errors


def test_bad_gradients_raise_naming_the_parameter_and_change_nothing():
    model = FakeModel({"W": np.ones((2, 3), np.float32), "b": np.ones(3, np.float32)})
    opt = AdamW(model, lr=1e-3, weight_decay=0.1)
    del model.grads["b"]
    with pytest.raises(KeyError, match="gradient for trainable parameter 'b'"):
        opt.step()
    model.grads["b"] = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"model.grads\['b'\]: expected shape \(3,\).* \(4,\)"):
        opt.step()
    model.grads["b"] = np.ones(3, np.float64)
    with pytest.raises(TypeError, match=r"model.grads\['b'\]: expected dtype float32"):
        opt.step()
    opt.lr = -1.0
    model.grads["b"] = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="opt.lr"):
        opt.step()
    # The matrix comes first and would have been decayed had anything been written.
    assert opt.t == 0
    np.testing.assert_array_equal(model.params["W"], 1.0)


def test_bad_constructor_arguments():
    model = FakeModel({"W": np.ones((2, 3)), "b": np.ones(3)}, frozen={"b"})
    with pytest.raises(ValueError, match="lr"):
        AdamW(model, lr=-1e-3)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        AdamW(model, lr=1e-3, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas"):
        AdamW(model, lr=1e-3, betas=(0.9,))
    with pytest.raises(ValueError, match="weight_decay"):
        AdamW(model, lr=1e-3, weight_decay=float("nan"))
    with pytest.raises(KeyError, match="unknown.*'nope'"):
        AdamW(model, lr=1e-3, trainable=["W", "nope"])
    with pytest.raises(ValueError, match=r"model.frozen.*\['b'\]"):
        AdamW(model, lr=1e-3, trainable=["W", "b"])
    with pytest.raises(TypeError, match="trainable"):
        AdamW(model, lr=1e-3, trainable="W")
    model.params["W"] = np.ones((2, 3), dtype=np.int64)
    with pytest.raises(TypeError, match=r"model.params\['W'\].*floating"):
        AdamW(model, lr=1e-3)


# ---------------------------------------------------------------------------- clip_grad_norm


def test_clip_grad_norm_by_hand():
    # Gradients [3, 0] and [[0], [4]]: global norm sqrt(9 + 16) = 5.
    model = FakeModel({"a": np.zeros(2), "b": np.zeros((2, 1))})
    model.grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0], [4.0]])}
    a = model.grads["a"]
    assert clip_grad_norm(model, max_norm=10.0) == 5.0  # below max_norm: nothing changes
    np.testing.assert_array_equal(a, [3.0, 0.0])
    norm = clip_grad_norm(model, max_norm=1.0)
    assert isinstance(norm, float) and norm == 5.0
    coef = 1.0 / (5.0 + 1e-6)  # ~0.2, so [3, 4] -> [0.6, 0.8]
    np.testing.assert_allclose(a, [3.0 * coef, 0.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(model.grads["b"], [[0.0], [4.0 * coef]], rtol=0, atol=1e-15)
    assert model.grads["a"] is a  # scaled in place
    np.testing.assert_allclose(clip_grad_norm(model, 10.0), 1.0, rtol=0, atol=1e-6)

    # `names` restricts both the norm and the scaling.
    model.grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0], [4.0]])}
    assert clip_grad_norm(model, max_norm=1.5, names=["a"]) == 3.0
    np.testing.assert_allclose(model.grads["a"], [3.0 * 1.5 / (3.0 + 1e-6), 0.0], atol=1e-15)
    np.testing.assert_array_equal(model.grads["b"], [[0.0], [4.0]])
    with pytest.raises(KeyError, match="'c'"):
        clip_grad_norm(model, 1.0, names=["a", "c"])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(model, -1.0)


@pytest.mark.parametrize("bad", [np.inf, np.nan, 1e30])
def test_clip_grad_norm_non_finite_is_returned_unscaled(bad):
    # 1e30 squared overflows float32 to inf: the norm is reported as inf, no warning is raised.
    model = FakeModel({"a": np.zeros(3, np.float32)})
    model.grads["a"] = np.array([1.0, bad, 2.0], np.float32)
    before = model.grads["a"].copy()
    norm = clip_grad_norm(model, max_norm=1.0)
    assert not np.isfinite(norm)
    assert np.isnan(norm) == np.isnan(bad)
    np.testing.assert_array_equal(model.grads["a"], before)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    model = FakeModel(tiny_gpt_params(rng))
    fill_grads(model, rng)
    tensors = []
    for g in model.grads.values():
        t = torch.zeros(g.shape, requires_grad=True)
        t.grad = torch.tensor(g.copy())
        tensors.append(t)
    want = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm=0.5))
    got = clip_grad_norm(model, max_norm=0.5)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    for g, t in zip(model.grads.values(), tensors, strict=True):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------- get_lr


def test_get_lr_worked_example():
    # learning_rate=1e-3, warmup 10 iterations, cosine decay to min_lr=1e-4 at iteration 110.
    def lr(it):
        return get_lr(it, 1e-3, 10, 110, 1e-4)

    assert lr(0) == pytest.approx(1e-3 / 11, abs=1e-18)  # 9.0909e-5: warmup starts above zero
    assert lr(9) == pytest.approx(1e-3 * 10 / 11, abs=1e-18)  # last warmup step
    assert lr(10) == pytest.approx(1e-3, abs=1e-18)  # end of warmup: cos(0) = 1
    # A quarter of the way: 1e-4 + 0.5 * (1 + cos(pi / 4)) * 9e-4 = 8.68198052e-4.
    assert lr(35) == pytest.approx(8.681980515339464e-4, abs=1e-15)
    assert lr(60) == pytest.approx(5.5e-4, abs=1e-15)  # midpoint: 1e-4 + 0.5 * 9e-4
    assert lr(110) == pytest.approx(1e-4, abs=1e-18)  # end of decay: cos(pi) = -1
    assert lr(111) == lr(10_000) == 1e-4  # beyond: the floor
    lrs = [lr(it) for it in range(10, 120)]
    assert all(a >= b for a, b in zip(lrs[:-1], lrs[1:], strict=True))  # never rises after warmup


def test_get_lr_edges_and_errors():
    assert get_lr(0, 1e-3, 0, 100, 0.0) == 1e-3  # no warmup: start at the top
    assert get_lr(5, 1e-3, 5, 5, 1e-5) == 1e-5  # warmup straight into the floor, no 0/0
    with pytest.raises(ValueError, match="lr_decay_iters"):
        get_lr(0, 1e-3, 10, 5, 1e-4)
    with pytest.raises(ValueError, match="it"):
        get_lr(-1, 1e-3, 10, 100, 1e-4)
    with pytest.raises(TypeError, match="warmup_iters"):
        get_lr(0, 1e-3, 2.5, 100, 1e-4)


def test_schedule_is_get_lr_with_one_warm_up_rule():
    s = Schedule(1e-3, 1e-4, warmup_iters=10, max_iters=150, lr_decay_iters=110)
    assert [s(i) for i in range(150)] == [get_lr(i, 1e-3, 10, 110, 1e-4) for i in range(150)]
    assert s.note is None
    # a warm-up longer than the decay is shortened to it, with a note saying so
    short = Schedule(1e-3, 1e-4, warmup_iters=100, max_iters=30)
    assert (short.warmup_iters, short.decay_iters) == (30, 30)
    assert "shortened to 30" in short.note
    assert [short(i) for i in range(31)] == [get_lr(i, 1e-3, 30, 30, 1e-4) for i in range(31)]


def test_plot_lr_schedule_draws_the_schedule(tmp_path):
    s = Schedule(1e-3, 1e-4, warmup_iters=10, max_iters=150, lr_decay_iters=110)
    fig = plot_lr_schedule(s, 150)
    line = fig.axes[0].get_lines()[0]
    assert line.get_ydata().tolist() == [s(i) for i in range(150)]
    fig.savefig(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- messages, edges


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=-1e-3), r"^lr: expected a finite number >= 0\.0, got -0\.001$"),
        (dict(betas=(1.0, 0.999)), r"^betas\[0\]: expected .* >= 0\.0 and < 1\.0, got 1\.0$"),
        (dict(betas=(-0.1, 0.999)), r"^betas\[0\]: expected .* >= 0\.0 and < 1\.0, got -0\.1$"),
        (dict(betas=(0.9, -0.5)), r"^betas\[1\]: expected .* >= 0\.0 and < 1\.0, got -0\.5$"),
        (dict(eps=-1.0), r"^eps: expected a finite number >= 0\.0, got -1\.0$"),
        (dict(weight_decay=-0.1), r"^weight_decay: expected a finite number >= 0\.0, got -0\.1$"),
    ],
)
def test_constructor_errors_name_the_argument_and_its_range(kwargs, message):
    model = FakeModel({"W": np.ones((2, 3))})
    with pytest.raises(ValueError, match=message):
        AdamW(model, **{"lr": 1e-3, **kwargs})


def test_a_read_only_parameter_is_refused():
    w = np.ones((2, 2))
    w.flags.writeable = False
    with pytest.raises(
        ValueError,
        match=r"^model\.params\['w'\]: expected a writeable array \(AdamW updates parameters "
        r"in place\), got a read-only one$",
    ):
        AdamW(FakeModel({"w": w}), lr=1e-3)


def test_step_errors_name_the_parameter_and_change_nothing():
    model = FakeModel({"W": np.ones((2, 3)), "b": np.ones(3)})
    opt = AdamW(model, lr=1e-3)
    opt.lr = -1.0
    with pytest.raises(ValueError, match=r"^opt\.lr: expected a finite number >= 0\.0"):
        opt.step()
    opt.lr = 1e-3
    model.grads["b"] = np.ones(3, dtype=np.int64)
    with pytest.raises(TypeError, match=r"^model\.grads\['b'\]: expected a floating-point array"):
        opt.step()
    del model.grads["b"]
    with pytest.raises(KeyError, match=r"got none \(did model\.backward\(\) run\?\)[\"']$"):
        opt.step()
    del model.params["b"]
    with pytest.raises(
        KeyError, match=r"model\.params: expected trainable parameter 'b', it is gone"
    ):
        opt.step()
    assert opt.t == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_gradient_is_refused_naming_the_step_and_the_parameter(bad):
    """Two good steps, then a gradient holding nan or inf: the third step names itself (step 3,
    the one that would have been taken) and the parameter, and neither the weights, the
    moments nor t move (one nan would spread into every moment)."""
    model = FakeModel({"W": np.ones((2, 3)), "b": np.ones(3)})
    opt = AdamW(model, lr=1e-3, weight_decay=0.1)
    model.grads = {"W": np.full((2, 3), 0.5), "b": np.full(3, -0.5)}
    opt.step()
    opt.step()
    state, weights = opt.state_dict(), model.params["W"].copy()  # copies
    model.grads["b"] = np.array([0.5, bad, 0.5])
    with pytest.raises(
        FloatingPointError,
        match=r"^AdamW step 3: model\.grads\['b'\] holds nan or inf; nothing was updated$",
    ):
        opt.step()
    assert opt.t == 2
    np.testing.assert_array_equal(model.params["W"], weights)  # W comes first: not decayed
    for key, value in opt.state_dict().items():
        np.testing.assert_array_equal(value, state[key])


def test_load_state_dict_message_lists_exactly_the_problems_found():
    model = FakeModel({"W": np.ones((2, 3)), "b": np.ones(3)})
    opt = AdamW(model, lr=1e-3)
    sd = opt.state_dict()
    del sd["v.b"]
    sd["t"] = np.array([1, 2])
    with pytest.raises(ValueError) as err:
        opt.load_state_dict(sd)
    assert str(err.value) == (
        "load_state_dict: state dict does not match this optimizer:\n"
        "  missing keys: ['v.b']\n"
        "  t: expected a 0-d integer array, got int64 (2,)"
    )
    sd = {**opt.state_dict(), "m.extra": np.zeros(1)}  # only an unexpected key
    with pytest.raises(ValueError) as err:
        opt.load_state_dict(sd)
    assert str(err.value).endswith(":\n  unexpected keys: ['m.extra']")
    sd = opt.state_dict()
    del sd["m.W"]  # only a missing key
    with pytest.raises(ValueError, match=r"missing keys: \['m\.W'\]"):
        opt.load_state_dict(sd)


def test_load_state_dict_checks_t_and_ignores_the_hyperparameters_of_older_checkpoints():
    model = FakeModel({"W": np.ones((2, 3))})
    opt = AdamW(model, lr=1e-3)
    sd = opt.state_dict()
    sd["t"] = np.array(-1)
    with pytest.raises(
        ValueError, match="^load_state_dict: t: expected a step count >= 0, got -1$"
    ):
        opt.load_state_dict(sd)
    # a checkpoint written before the run's settings held them saved "hp.*" entries: they load,
    # and the optimizer keeps the hyperparameters it was made with (the run's settings)
    old = {**opt.state_dict(), "t": np.array(4), "hp.lr": np.array(2.0), "hp.beta1": np.array(0.5)}
    opt.load_state_dict(old)
    assert (opt.t, opt.lr, opt.beta1) == (4, 1e-3, 0.9)


def test_clip_grad_norm_errors_name_the_argument():
    model = FakeModel({"a": np.zeros(2)})
    model.grads = {"a": np.array([3.0, 4.0])}
    with pytest.raises(ValueError, match=r"^max_norm: expected a finite number >= 0\.0"):
        clip_grad_norm(model, -1.0)
    with pytest.raises(
        KeyError, match=r"names: expected names present in model\.grads, got absent \['c'\]"
    ):
        clip_grad_norm(model, 1.0, names=["a", "c"])
    model.grads = {"a": np.array([3, 4])}
    with pytest.raises(
        TypeError, match=r"^model\.grads\['a'\]: expected a floating-point array, got dtype int64$"
    ):
        clip_grad_norm(model, 1.0)


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((2.5, 1e-3, 10, 100, 1e-4), TypeError, r"^it: expected a whole number >= 0, got 2\.5$"),
        ((True, 1e-3, 10, 100, 1e-4), TypeError, r"^it: expected a whole number >= 0, got True$"),
        (
            (0, -1e-3, 10, 100, 1e-4),
            ValueError,
            r"^learning_rate: expected a finite number >= 0\.0",
        ),
        (
            (0, 1e-3, 10, 100, -1e-4),
            ValueError,
            r"^min_lr: expected a finite number >= 0\.0, got -",
        ),
        (
            (0, 1e-3, 2.5, 100, 1e-4),
            TypeError,
            r"^warmup_iters: expected a whole number >= 0, got 2",
        ),
        (
            (0, 1e-3, 10, -1, 1e-4),
            ValueError,
            r"^lr_decay_iters: expected a whole number >= 0, got -1",
        ),
    ],
)
def test_get_lr_errors_name_the_argument(args, error, message):
    with pytest.raises(error, match=message):
        get_lr(*args)

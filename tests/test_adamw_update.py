"""adamw_update: one AdamW step of one array, the function AdamW.step applies to each."""

import numpy as np
import pytest

from tinytransformer.training.optimizer import AdamW, adamw_update

HP = dict(lr=0.01, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)


def test_first_step_by_hand():
    p, g = np.array([2.0, -1.0]), np.array([0.5, -4.0])
    new_p, m, v = adamw_update(p, g, np.zeros(2), np.zeros(2), 1, **HP)
    decayed = p * (1 - 0.01 * 0.1)
    # first step: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps)
    assert np.allclose(new_p, decayed - 0.01 * g / (np.abs(g) + 1e-8), atol=1e-15)
    assert np.allclose(m, 0.1 * g) and np.allclose(v, 0.05 * g * g)
    assert p.tolist() == [2.0, -1.0]  # inputs untouched


def test_adamw_step_is_adamw_update_bit_for_bit():
    rng = np.random.default_rng(0)

    class Model:
        params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
        grads = {}

    model = Model()
    opt = AdamW(model, lr=0.02, betas=(0.9, 0.95), weight_decay=0.1)
    mine = {n: (p.copy(), np.zeros_like(p), np.zeros_like(p)) for n, p in model.params.items()}
    for t in range(1, 6):
        model.grads = {n: rng.standard_normal(p.shape) for n, p in model.params.items()}
        opt.step()
        for n, (p, m, v) in mine.items():
            wd = 0.1 if p.ndim >= 2 else 0.0  # AdamW decays matrices only
            mine[n] = adamw_update(p, model.grads[n], m, v, t, 0.02, 0.9, 0.95, 1e-8, wd)
            assert np.array_equal(mine[n][0], model.params[n]), (n, t)
            assert np.array_equal(mine[n][1], opt.m[n]) and np.array_equal(mine[n][2], opt.v[n])


def test_matches_torch_adamw_on_any_array():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(5)  # one-dimensional: torch decays whatever it is given
    w = torch.tensor(p0.copy(), requires_grad=True)
    opt = torch.optim.AdamW([w], lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.3)
    p, m, v = p0.copy(), np.zeros(5), np.zeros(5)
    for t in range(1, 8):
        g = rng.standard_normal(5)
        w.grad = torch.tensor(g.copy())
        opt.step()
        p, m, v = adamw_update(p, g, m, v, t, 0.05, 0.8, 0.9, 1e-6, 0.3)
    assert np.allclose(p, w.detach().numpy(), rtol=0, atol=1e-13)


def test_exercise_3_2_2s_cases_are_steps_torch_takes():
    """Every case the check of exercise 3.2.2 uses (its edge cases and a draw of random ones),
    continued by torch.optim.AdamW from the same moments and step count, gives the reference's
    answer: the exercise asks for torch's step, not only the package's."""
    torch = pytest.importorskip("torch")
    from tinytransformer.exercises.catalog import EXERCISES

    ex = EXERCISES["3.2.2"]
    for case in ex.cases(np.random.default_rng(0)):
        a = case.inputs
        w = torch.tensor(a["p"].copy(), requires_grad=True)
        opt = torch.optim.AdamW(
            [w], lr=a["lr"], betas=(a["beta1"], a["beta2"]), eps=a["eps"],
            weight_decay=a["weight_decay"], foreach=False,
        )  # fmt: skip
        opt.state[w] = {
            "step": torch.tensor(float(a["t"] - 1)),
            "exp_avg": torch.tensor(a["m"].copy()),
            "exp_avg_sq": torch.tensor(a["v"].copy()),
        }
        w.grad = torch.tensor(a["g"].copy())
        opt.step()
        p, m, v = ex.reference(**a)
        scale = np.abs(a["p"]).max()
        assert np.allclose(p, w.detach().numpy(), rtol=1e-12, atol=1e-14 * scale), case.name
        assert np.allclose(m, opt.state[w]["exp_avg"].numpy(), rtol=1e-12, atol=1e-300), case.name
        assert np.allclose(v, opt.state[w]["exp_avg_sq"].numpy(), rtol=1e-12, atol=1e-300)

"""The exercises of chapter 3.2 (微调流程, fine-tuning step by step): the early-stopping rule the
training loop stops by, and one step of AdamW, the optimizer every run trains with.

The references are the library's: training.stopping.early_stopping (loop.py's fit stops by
the same rule) and training.optimizer.adamw_update (the per-array step AdamW.step applies;
torch.optim.AdamW takes the same step, tests/test_adamw_update.py).
"""

import numpy as np

from tinytransformer.exercises.attention import shaped_like
from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.training.optimizer import adamw_update
from tinytransformer.training.stopping import early_stopping

# --- 3.2.1 early_stopping -------------------------------------------------------------------------


def _stop_case(name, losses, patience):
    return Case(name, {"val_losses": [float(x) for x in losses], "patience": int(patience)})


def _stop_edge_cases():
    return [
        _stop_case(
            "falls, then rises: [3, 2, 2.5, 2.6, 2.7], patience 2", [3, 2, 2.5, 2.6, 2.7], 2
        ),
        _stop_case("an equal loss is no improvement", [3.0, 2.0, 2.5, 2.0, 2.1, 1.0], 3),
        _stop_case("a plateau runs patience out", [3.0, 2.0, 2.0, 2.0, 1.0], 2),
        _stop_case("a lower loss after the stop is not seen", [1.0, 2.0, 3.0, 0.5], 2),
        _stop_case("never stops: always falling", [4.0, 3.0, 2.0, 1.0], 1),
        _stop_case("one evaluation", [5.0], 3),
        _stop_case("patience 1: the first rise stops", [2.0, 1.5, 1.6, 1.0], 1),
        _stop_case(
            "bumpy: not below the best, though below the last", [3, 1, 2.5, 2.0, 1.5, 1.2, 0.9], 3
        ),
        _stop_case(
            "a tie with the best, then the lowest after it",
            [2.0, 1.0, 1.5, 1.0, 0.8, 0.9, 1.1, 1.2],
            3,
        ),
    ]


def _stop_random_cases(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(3, 30))
        # a noisy curve that falls then rises, rounded so that ties occur
        trend = 2.0 - np.linspace(0, 1.5, n) + 3.0 * np.linspace(0, 1, n) ** 3
        losses = np.round(trend + 0.08 * rng.standard_normal(n), 1)
        patience = int(rng.integers(1, 6))
        cases.append(_stop_case(f"random curve of {n}, patience {patience}", losses, patience))
    return cases


def _stop_previous(val_losses, patience):
    """Patience counted against the previous evaluation, not the best."""
    bad = 0
    for i in range(1, len(val_losses)):
        bad = 0 if val_losses[i] < val_losses[i - 1] else bad + 1
        if bad >= patience:
            return _best_up_to(val_losses, i), i
    return _best_up_to(val_losses, len(val_losses) - 1), len(val_losses) - 1


def _best_up_to(val_losses, stop):
    seen = list(val_losses[: stop + 1])
    return seen.index(min(seen))


def _stop_variant(val_losses, patience, improves="<", extra=0, best="first"):
    best_loss, best_i, bad, stop = float("inf"), 0, 0, len(val_losses) - 1
    for i, loss in enumerate(val_losses):
        better = loss < best_loss if improves == "<" else loss <= best_loss
        if i == 0 or better:
            best_loss, best_i, bad = loss, i, 0
        else:
            bad += 1
            if bad >= patience + extra:
                stop = i
                break
    if best == "whole list":
        return int(np.argmin(val_losses)), stop
    seen = list(val_losses[: stop + 1])
    if best == "last":
        return len(seen) - 1 - seen[::-1].index(min(seen)), stop
    return best_i, stop  # the last improvement: the first lowest loss when only "<" improves


def _stop_in_range(inputs, got):
    n = len(inputs["val_losses"])
    try:
        best, stop = int(got[0]), int(got[1])
    except (TypeError, ValueError):
        return f"best and stop must be whole numbers, got {got!r}"
    if not 0 <= best <= stop < n:
        return f"expected 0 <= best <= stop < {n}, got best {best}, stop {stop}"
    return None


def _best_is_lowest_seen(inputs, got):
    losses = inputs["val_losses"]
    try:
        best, stop = int(got[0]), int(got[1])
    except (TypeError, ValueError):
        return None
    if not 0 <= best <= stop < len(losses):
        return None  # said by the range property
    lowest = min(losses[: stop + 1])
    if losses[best] != lowest:
        return f"val_losses[{best}] = {losses[best]}, but {lowest} was seen by stop = {stop}"
    return None


EARLY_STOPPING = Exercise(
    id="3.2.1",
    title="early stopping: the best evaluation, and where patience ran out",
    signature="early_stopping(val_losses, patience)",
    outputs=("best", "stop"),
    reference=early_stopping,
    edge_cases=_stop_edge_cases,
    random_cases=_stop_random_cases,
    library=(
        "tinytransformer.training.stopping.early_stopping",
        "tinytransformer.training.stopping.patience_ran_out",
        "tinytransformer.training.stopping.Patience",
        "tinytransformer.training.loop.fit",
        "tinytransformer.training.loop.BestWeights",
    ),
    mistakes=(
        Mistake(
            "patience counted against the previous evaluation, not the best",
            _stop_previous,
            "A loss that is lower than the one before it but not lower than the best is no "
            "improvement: compare every evaluation with the best loss so far.",
        ),
        Mistake(
            "an equal loss counted as an improvement",
            lambda val_losses, patience: _stop_variant(val_losses, patience, improves="<="),
            "Only a strictly lower loss improves: on a plateau the run should stop, and the "
            "best weights are the first ones that reached it.",
        ),
        Mistake(
            "one evaluation too many before stopping (patience + 1)",
            lambda val_losses, patience: _stop_variant(val_losses, patience, extra=1),
            "Stop at the evaluation that makes `patience` non-improvements in a row, not one "
            "later.",
        ),
        Mistake(
            "the best looked for in the whole list, past the stop",
            lambda val_losses, patience: _stop_variant(val_losses, patience, best="whole list"),
            "A run that stopped never saw the evaluations after it: the best is the lowest of "
            "val_losses[:stop + 1].",
        ),
        Mistake(
            "the last index of the lowest loss, not the first",
            lambda val_losses, patience: _stop_variant(val_losses, patience, best="last"),
            "A later equal loss is no improvement, so the best weights are those of the first "
            "evaluation that reached the lowest loss.",
        ),
    ),
    properties=(
        Property("0 <= best <= stop < len(val_losses), whole numbers", _stop_in_range),
        Property(
            "val_losses[best] is the lowest loss of val_losses[:stop + 1]", _best_is_lowest_seen
        ),
    ),
    formula="Walk the list keeping the best loss so far and a count of evaluations since it: "
    "index 0, or a loss strictly below the best, resets the count; otherwise count += 1, and "
    "when count == patience, stop there. best = the first index of min(val_losses[:stop + 1]).",
    tolerance=0.0,  # indices are exact
)


# --- 3.2.2 adamw_step -----------------------------------------------------------------------------

_HP = ("lr", "beta1", "beta2", "eps", "weight_decay")


def _adamw_case(
    rng,
    name,
    shape,
    t,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    wd=0.01,
    g_scale=1.0,
    fresh=False,
    zero_grad=False,
):
    p = rng.standard_normal(shape)
    g = np.zeros(shape) if zero_grad else g_scale * rng.standard_normal(shape)
    if fresh:  # before the first step the moments are zero
        m, v = np.zeros(shape), np.zeros(shape)
    else:  # moments of an earlier history of gradients of about g's size
        m = 0.3 * g_scale * rng.standard_normal(shape)
        v = (g_scale * rng.standard_normal(shape)) ** 2 + 0.1 * g_scale**2
    inputs = {"p": p, "g": g, "m": m, "v": v, "t": int(t)}
    inputs.update(zip(_HP, (float(lr), float(betas[0]), float(betas[1]), float(eps), float(wd))))
    return Case(name, inputs)


def _adamw_edge_cases():
    rng = np.random.default_rng(322)
    return [
        _adamw_case(rng, "the first step (t = 1, zero moments)", (3, 4), 1, fresh=True),
        _adamw_case(rng, "step 2, lr 0.1, weight decay 0.1", (2, 3), 2, lr=0.1, wd=0.1),
        _adamw_case(rng, "step 1000: the corrections are ~1", (5,), 1000, lr=0.01, wd=0.1),
        _adamw_case(rng, "no weight decay", (4,), 7, lr=0.05, wd=0.0),
        _adamw_case(
            rng, "a zero gradient after a history", (3,), 5, lr=0.1, wd=0.2, zero_grad=True
        ),
        _adamw_case(
            rng, "tiny gradients (1e-6): eps matters", (2, 2), 3, lr=0.1, eps=1e-6, g_scale=1e-6
        ),
        _adamw_case(
            rng, "betas (0.8, 0.95), strong decay 0.5", (6,), 4, lr=0.05, betas=(0.8, 0.95), wd=0.5
        ),
    ]


def _adamw_random_cases(rng):
    cases = []
    for _ in range(3):
        shape = tuple(int(n) for n in rng.integers(1, 6, int(rng.integers(1, 3))))
        t = int(rng.integers(1, 50))
        lr, wd = float(10 ** rng.uniform(-3, -1)), float(rng.choice([0.0, 0.01, 0.1, 0.3]))
        betas = (float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.9, 0.999)))
        name = f"random {shape}, t = {t}, lr {lr:.2g}, wd {wd:g}"
        cases.append(_adamw_case(rng, name, shape, t, lr=lr, betas=betas, wd=wd, fresh=t == 1))
    return cases


def _adam_l2(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """Adam with an L2 term: weight_decay * p added to the gradient, then normalised with it."""
    return adamw_update(p, g + weight_decay * p, m, v, t, lr, beta1, beta2, eps, 0.0)


def _adamw_variant(
    p,
    g,
    m,
    v,
    t,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    *,
    correct=True,
    eps_inside=False,
    decay="before",
    decay_lr=True,
):
    wd = lr * weight_decay if decay_lr else weight_decay
    if decay == "before":
        p = p - wd * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t) if correct else m
    v_hat = v / (1 - beta2**t) if correct else v
    denom = np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps
    new = p - lr * m_hat / denom
    if decay == "after":
        new = new - wd * new
    return new, m, v


def _adamw_mistake(name, advice, **variant):
    def answer(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
        return _adamw_variant(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay, **variant)

    return Mistake(name, answer, advice)


def _v_nonnegative(inputs, got):
    v = np.asarray(got[2])
    return None if v.shape != inputs["v"].shape or (v >= 0).all() else "v has a negative entry"


def _adamw_floor(inputs):
    """Each output's error is measured against at least the size of what it is made from."""
    g, m, v, p = (np.abs(inputs[n]).max() for n in ("g", "m", "v", "p"))
    return (float(p), float(max(g, m)), float(max(g * g, v)))


ADAMW_STEP = Exercise(
    id="3.2.2",
    title="one step of AdamW, as torch.optim.AdamW takes it",
    signature="adamw_step(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay)",
    outputs=("p", "m", "v"),
    reference=adamw_update,
    edge_cases=_adamw_edge_cases,
    random_cases=_adamw_random_cases,
    library=(
        "tinytransformer.training.optimizer.adamw_update",
        "tinytransformer.training.optimizer.AdamW",
    ),
    floor=_adamw_floor,
    mistakes=(
        Mistake(
            "an L2 term: weight_decay * p added to the gradient (Adam, not AdamW)",
            _adam_l2,
            "AdamW decays the weights directly, p <- p - lr * weight_decay * p, outside the "
            "moments: added to g, the decay would be divided by sqrt(v_hat) with it, so weights "
            "with large gradients would hardly decay.",
        ),
        _adamw_mistake(
            "no bias corrections",
            "m and v start at zero, so early on they are too small by the factors "
            "1 - beta1**t and 1 - beta2**t: divide by them.",
            correct=False,
        ),
        _adamw_mistake(
            "eps inside the square root",
            "torch adds eps to the square root: m_hat / (sqrt(v_hat) + eps).",
            eps_inside=True,
        ),
        _adamw_mistake(
            "the decay applied after the Adam update",
            "torch.optim.AdamW decays first, from the weights before the step: "
            "p <- p - lr * weight_decay * p, then the Adam update.",
            decay="after",
        ),
        _adamw_mistake(
            "the decay not multiplied by lr",
            "The decay is scaled by the learning rate: p <- p - lr * weight_decay * p (so a "
            "schedule that lowers lr lowers the decay with it).",
            decay_lr=False,
        ),
    ),
    properties=(
        shaped_like(0, "p", "p"),
        shaped_like(1, "m", "m"),
        shaped_like(2, "v", "v"),
        Property("v is not negative (a running mean of squares)", _v_nonnegative),
    ),
    formula="p = p - lr * weight_decay * p; m = beta1 m + (1 - beta1) g; "
    "v = beta2 v + (1 - beta2) g^2; m_hat = m / (1 - beta1**t); v_hat = v / (1 - beta2**t); "
    "p = p - lr * m_hat / (sqrt(v_hat) + eps).",
)

EXERCISES = [EARLY_STOPPING, ADAMW_STEP]

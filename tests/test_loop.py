"""The training loop through its Python API (tinytransformer/training/loop.py): train_step,
BestWeights, fit, StopFlag and SilentProgress.

Most tests use a tiny quadratic "model", loss = sum((w - target)^2) / 2, trained by plain SGD,
w <- w - lr * (w - target), so every loss of a run is a known answer: from w = [3, -4] and
target 0 with lr = 0.5, w halves each step and the loss is 12.5 / 4^t. These are compared
exactly (the arithmetic is exact in float64: halvings of small integers). One test runs the real
tiny GPT with AdamW, where the contract between the loop and a real model matters.
"""

import signal
import threading
import warnings

import numpy as np
import pytest

from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.text.batching import Batch
from tinytransformer.training.loop import (
    BestWeights,
    LoopResult,
    SilentProgress,
    StopFlag,
    TrainingError,
    fit,
    train_step,
)
from tinytransformer.training.optimizer import AdamW
from tinytransformer.training.schedule import Schedule


class Quadratic:
    """The smallest model with the loop's contract: loss = sum((w - target)^2) / 2 over one
    parameter w (1, 2), so d loss / d w = w - target (times grad_scale, to fake a blow-up).
    extra_grads are added to grads by backward (gradients of parameters nobody trains).
    idx, targets and the mask are not used, only recorded with the mode of each forward."""

    def __init__(self, w=(3.0, -4.0), target=(0.0, 0.0), grad_scale=1.0, extra_grads=None):
        self.params = {"w": np.array([w], dtype=np.float64)}  # (1, 2)
        self.target = np.array([target], dtype=np.float64)
        self.grad_scale = grad_scale
        self.extra_grads = extra_grads or {}
        self.grads = {}
        self.training = False
        self.calls = []  # (idx, targets, attention_mask, training) of every forward

    def __call__(self, idx, targets, attention_mask=None):
        self.calls.append((idx, targets, attention_mask, self.training))
        d = self.params["w"] - self.target
        return None, np.asarray(0.5 * (d * d).sum())

    def backward(self):
        self.grads = {"w": self.grad_scale * (self.params["w"] - self.target), **self.extra_grads}
        return self.grads

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def state_dict(self):
        return {n: p.copy() for n, p in self.params.items()}

    def load_state_dict(self, sd):
        for n, p in sd.items():
            self.params[n][...] = p


class SGD:
    """Plain gradient descent over model.params["w"], recording the lr of every step."""

    names = ("w",)

    def __init__(self, model, lr=0.5):
        self.model, self.lr, self.lrs = model, lr, []

    def step(self, grads_checked=False):
        self.lrs.append(self.lr)
        self.model.params["w"] -= self.lr * self.model.grads["w"]


BATCH = Batch("idx", "targets", "mask")  # the quadratic model only records them


def constant(lr):
    return lambda step: lr


def run_fit(model=None, val_losses=None, **kwargs):
    """fit on the quadratic model with SGD at lr 0.5; evaluate returns the next of val_losses
    (default: the model's own loss), and every evaluation is recorded as (step, val_loss)."""
    model = model or Quadratic()
    opt = kwargs.pop("optimizer", None) or SGD(model)
    evals = []
    scripted = iter(val_losses) if val_losses is not None else None

    def evaluate(step):
        assert not model.training or step == 0 or evals  # fit leaves the mode to evaluate
        val = next(scripted) if scripted is not None else float(model(*BATCH)[1])
        evals.append((step, val))
        return {"val_loss": val, "extra": step}

    kwargs.setdefault("schedule", constant(0.5))
    kwargs.setdefault("grad_clip", None)
    result = fit(model, opt, lambda: BATCH, evaluate, **kwargs)
    return result, evals, model, opt


# --- train_step ----------------------------------------------------------------------------------


def test_train_step_returns_the_loss_before_the_step_and_the_gradient_norm():
    """w = [3, -4]: loss = 25 / 2 = 12.5, gradient [3, -4] of norm 5. AdamW's first step moves
    each entry by lr against the sign of its gradient (up to eps): w -> [2.9, -3.9]."""
    model = Quadratic()
    opt = AdamW(model, lr=0.1)
    loss, norm = train_step(model, opt, BATCH, grad_clip=None, step=0)
    assert loss == 12.5 and isinstance(loss, float)
    assert norm == 5.0
    np.testing.assert_allclose(model.params["w"], [[2.9, -3.9]], rtol=0, atol=1e-8)
    assert model.calls == [("idx", "targets", "mask", True)]  # in training mode, mask passed on


def test_train_step_clips_the_gradient_before_the_optimizer_step():
    """grad_clip = 1: the gradient [3, -4] (norm 5) is scaled by 1 / (5 + 1e-6) in place before
    SGD uses it; the returned norm is the one before clipping. grad_clip 0 or None: no clip."""
    model = Quadratic()
    loss, norm = train_step(model, SGD(model, lr=1.0), BATCH, grad_clip=1.0, step=0)
    coef = 1.0 / (5.0 + 1e-6)
    assert (loss, norm) == (12.5, 5.0)
    np.testing.assert_allclose(model.grads["w"], [[3 * coef, -4 * coef]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(model.params["w"], [[3 - 3 * coef, -4 + 4 * coef]], atol=1e-15)
    for off in (0, 0.0, None):
        model = Quadratic()
        assert train_step(model, SGD(model, lr=1.0), BATCH, grad_clip=off, step=0)[1] == 5.0
        np.testing.assert_array_equal(model.params["w"], [[0.0, 0.0]])  # the full step


def test_train_step_measures_only_the_optimizers_parameters():
    """A gradient of a parameter the optimizer does not train (a frozen one) is neither in the
    norm nor clipped: the norm stays 5, not sqrt(25 + 144) = 13."""
    frozen = np.array([12.0])
    model = Quadratic(extra_grads={"frozen": frozen})
    _, norm = train_step(model, SGD(model), BATCH, grad_clip=1.0, step=0)
    assert norm == 5.0
    np.testing.assert_array_equal(model.grads["frozen"], [12.0])


@pytest.mark.parametrize(
    "w, message",
    [
        ((1e200, 0.0), "^step 3: loss inf is not finite$"),  # (1e200)^2 overflows
        ((np.inf, 0.0), "^step 3: loss nan is not finite$"),  # inf - inf is invalid
    ],
)
def test_a_non_finite_loss_stops_before_the_weights_change(w, message):
    """No NumPy warning escapes (the loop reports the blow-up itself), and the weights stay."""
    model = Quadratic(w=w, target=(np.inf, 0.0) if np.isinf(w[0]) else (0.0, 0.0))
    before = model.params["w"].copy()
    opt = SGD(model)
    with pytest.raises(TrainingError, match=message):
        train_step(model, opt, BATCH, grad_clip=1.0, step=3)
    np.testing.assert_array_equal(model.params["w"], before)
    assert opt.lrs == []


def test_a_non_finite_gradient_norm_stops_before_the_weights_change():
    model = Quadratic(grad_scale=np.inf)  # finite loss 12.5, gradient [inf, -inf]
    opt = SGD(model)
    with pytest.raises(TrainingError, match="^step 7: gradient norm inf is not finite$"):
        train_step(model, opt, BATCH, grad_clip=None, step=7)
    assert opt.lrs == [] and model.params["w"].tolist() == [[3.0, -4.0]]


def test_train_step_drives_the_tiny_gpt():
    """The real contract: the tiny GPT learns a fixed batch with AdamW, one train_step at a time
    (from ln 11 = 2.40 to below 1.0 in 30 steps; measured 0.27)."""
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 11, size=(2, 8))
    mask = np.ones((2, 8), dtype=np.int64)
    opt = AdamW(model, lr=3e-2)
    model.eval()
    losses = [
        train_step(model, opt, Batch(idx, np.roll(idx, -1, 1), mask), 1.0, s)[0] for s in range(30)
    ]
    assert model.training
    assert abs(losses[0] - np.log(11)) < 0.1 and losses[-1] < 1.0


# --- BestWeights ---------------------------------------------------------------------------------


def test_best_weights_starts_empty():
    best = BestWeights()
    assert (best.val_loss, best.step, best.metrics, best.state) == (np.inf, None, {}, None)
    resumed = BestWeights(1.5, 40)
    assert (resumed.val_loss, resumed.step) == (1.5, 40)
    with pytest.raises(
        RuntimeError,
        match=r"^restore: no best weights were kept \(BestWeights\.update keep=False\)$",
    ):
        best.restore(Quadratic())


def test_best_weights_keeps_only_a_strictly_lower_loss():
    model = Quadratic()
    best = BestWeights()
    assert best.update(10, 2.0, model, {"val_loss": 2.0, "acc": 0.5}) is True
    assert (best.val_loss, best.step, best.metrics) == (2.0, 10, {"val_loss": 2.0, "acc": 0.5})
    np.testing.assert_array_equal(best.state["w"], [[3.0, -4.0]])
    assert best.state["w"] is not model.params["w"]  # a copy
    model.params["w"][...] = 7.0
    assert best.update(20, 2.0, model) is False  # equal is not better
    assert best.update(30, 2.5, model) is False
    assert (best.val_loss, best.step) == (2.0, 10)
    best.restore(model)
    np.testing.assert_array_equal(model.params["w"], [[3.0, -4.0]])  # the weights of step 10
    model.params["w"][...] = 7.0
    assert best.update(40, 1.0, model) is True  # keep by default
    assert best.metrics == {} and best.step == 40
    np.testing.assert_array_equal(best.state["w"], [[7.0, 7.0]])


def test_best_weights_without_keeping_records_the_loss_only():
    best = BestWeights()
    metrics = {"val_loss": 3.0}
    assert best.update(0, 3.0, None, metrics, keep=False) is True
    metrics["val_loss"] = 99.0  # the caller's dict is copied, not kept
    assert best.metrics == {"val_loss": 3.0} and best.state is None


# --- fit -----------------------------------------------------------------------------------------


def test_fit_trains_to_max_iters_and_evaluates_every_interval_and_at_the_end():
    result, evals, model, opt = run_fit(max_iters=5, eval_interval=2)
    assert isinstance(result, LoopResult)
    assert (result.ended, result.step) == ("done", 5)
    assert result.losses == {0: 12.5, 1: 12.5 / 4, 2: 12.5 / 16, 3: 12.5 / 64, 4: 12.5 / 256}
    assert evals == [(0, 12.5), (2, 12.5 / 16), (4, 12.5 / 256), (5, 12.5 / 1024)]
    assert opt.lrs == [0.5] * 5
    np.testing.assert_array_equal(model.params["w"], [[3 / 32, -4 / 32]])
    # the best is the last evaluation, with its metrics and weights
    assert (result.best.val_loss, result.best.step) == (12.5 / 1024, 5)
    assert result.best.metrics == {"val_loss": 12.5 / 1024, "extra": 5}
    np.testing.assert_array_equal(result.best.state["w"], [[3 / 32, -4 / 32]])


def test_fit_sets_the_schedules_learning_rate_before_each_step():
    result, _, _, opt = run_fit(max_iters=4, eval_interval=10, schedule=lambda s: 0.1 * (s + 1))
    assert opt.lrs == [0.1, 0.2, 0.1 * 3, 0.4] and result.ended == "done"
    sched = Schedule(1e-3, 1e-4, warmup_iters=2, max_iters=4)
    _, _, _, opt = run_fit(max_iters=4, eval_interval=10, schedule=sched)
    assert opt.lrs == [sched(s) for s in range(4)]


def test_fit_callbacks_see_every_step_and_evaluation():
    seen_steps, seen_evals = [], []

    def on_step(step, loss, lr, seconds):
        seen_steps.append((step, loss, lr))
        assert 0.0 <= seconds < 5.0

    result, _, _, _ = run_fit(
        val_losses=[3.0, 2.0, 2.5],
        max_iters=4,
        eval_interval=2,
        on_step=on_step,
        on_eval=lambda step, metrics, improved: seen_evals.append((step, metrics, improved)),
    )
    # on_step's step is the number of steps done; its loss is that step's training loss
    assert seen_steps == [(1, 12.5, 0.5), (2, 12.5 / 4, 0.5), (3, 12.5 / 16, 0.5),
                          (4, 12.5 / 64, 0.5)]  # fmt: skip
    assert seen_evals == [
        (0, {"val_loss": 3.0, "extra": 0}, True),
        (2, {"val_loss": 2.0, "extra": 2}, True),
        (4, {"val_loss": 2.5, "extra": 4}, False),
    ]
    assert (result.best.val_loss, result.best.step) == (2.0, 2)


def test_fit_stops_early_after_patience_evaluations_without_improvement():
    """Evaluations at 0, 1, 2, ...: 3.0 (best), 2.0 (best), 2.5, 2.0 (equal: not better) -> two
    bad evaluations in a row reach patience 2 at step 3, before step 3 is trained."""
    result, evals, _, _ = run_fit(
        val_losses=[3.0, 2.0, 2.5, 2.0, 1.0], max_iters=10, eval_interval=1, patience=2
    )
    assert (result.ended, result.step) == ("early stop", 3)
    assert [s for s, _ in evals] == [0, 1, 2, 3]
    assert sorted(result.losses) == [0, 1, 2]
    assert (result.best.val_loss, result.best.step) == (2.0, 1)


def test_a_better_evaluation_resets_the_patience_count():
    """bad, better, bad: never two bad in a row, so patience 2 never stops the run."""
    result, evals, _, _ = run_fit(
        val_losses=[3.0, 3.5, 2.0, 2.5, 1.0, 1.5], max_iters=5, eval_interval=1, patience=2
    )
    assert (result.ended, result.step) == ("done", 5) and len(evals) == 6
    assert (result.best.val_loss, result.best.step) == (1.0, 4)


def test_patience_1_stops_at_the_first_evaluation_that_is_not_better():
    result, _, _, _ = run_fit(val_losses=[3.0, 2.0, 2.0], max_iters=10, eval_interval=1, patience=1)
    assert (result.ended, result.step) == ("early stop", 2)
    result, _, _, _ = run_fit(val_losses=[3.0] * 11, max_iters=10, eval_interval=1, patience=None)
    assert result.ended == "done"  # no patience, no early stop


def test_an_early_stop_wins_over_done_at_the_last_evaluation():
    result, _, _, _ = run_fit(val_losses=[1.0, 2.0], max_iters=2, eval_interval=2, patience=1)
    assert (result.ended, result.step) == ("early stop", 2)


def test_should_stop_is_asked_before_each_step():
    asked = []

    def should_stop(step):
        asked.append(step)
        return step == 2

    result, evals, _, opt = run_fit(max_iters=10, eval_interval=5, should_stop=should_stop)
    assert (result.ended, result.step) == ("stopped", 2)
    assert asked == [0, 1, 2] and len(opt.lrs) == 2 and sorted(result.losses) == [0, 1]
    assert [s for s, _ in evals] == [0]


def test_before_step_is_called_before_each_step():
    """Fine-tuning's head warm-up ends in before_step (it unfreezes the blocks there): it hears
    each step's number before that step is taken, and only then."""
    model = Quadratic()
    opt = SGD(model, lr=0.5)
    called = []

    def before_step(step):
        called.append((step, len(opt.lrs)))  # the steps taken so far

    result, _, _, _ = run_fit(
        model=model, optimizer=opt, max_iters=4, eval_interval=10, before_step=before_step
    )
    assert called == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert result.losses[3] == 12.5 / 64  # the descent itself is untouched


def test_a_batch_that_is_not_a_batch_is_refused_before_the_model_runs():
    model = Quadratic()
    with pytest.raises(TypeError, match="batch: expected a text.batching.Batch, got tuple"):
        train_step(model, SGD(model), ("idx", "targets"), grad_clip=None, step=0)
    assert model.calls == []


def test_a_resumed_fit_starts_at_its_step_with_its_best_so_far():
    """Resuming at step 4 with a best of 0.5 at step 2: no evaluation at 4 is better (1.0), so
    the best stays; steps 4 and 5 are trained and numbered as such."""
    best = BestWeights(0.5, 2)
    result, evals, _, _ = run_fit(
        val_losses=[1.0, 0.25], max_iters=6, eval_interval=4, step=4, best=best
    )
    assert result.best is best
    assert evals == [(4, 1.0), (6, 0.25)]
    assert sorted(result.losses) == [4, 5] and result.losses[4] == 12.5
    assert (best.val_loss, best.step) == (0.25, 6)


def test_fit_at_max_iters_only_evaluates():
    result, evals, _, opt = run_fit(max_iters=3, eval_interval=2, step=3)
    assert (result.ended, result.step, result.losses) == ("done", 3, {})
    assert evals == [(3, 12.5)] and opt.lrs == []


def test_fit_keeps_the_best_weights_only_when_asked():
    result, _, _, _ = run_fit(max_iters=2, eval_interval=1, keep_best_weights=False)
    assert result.best.state is None and result.best.step == 2
    result, _, model, _ = run_fit(val_losses=[2.0, 1.0, 3.0], max_iters=2, eval_interval=1)
    np.testing.assert_array_equal(result.best.state["w"], [[1.5, -2.0]])  # after one step
    result.best.restore(model)
    np.testing.assert_array_equal(model.params["w"], [[1.5, -2.0]])


def test_fit_clips_each_step_at_grad_clip():
    """grad_clip 1: the gradient w (norm 5 at w = [3, -4]) is scaled to norm 5 / (5 + 1e-6) ~ 1
    before SGD's step of lr 0.5, so w shrinks by 1 - 0.5 / (5 + 1e-6) ~ 0.9, not by half."""
    result, _, model, _ = run_fit(max_iters=2, eval_interval=10, grad_clip=1.0)
    shrink = 1 - 0.5 / (5.0 + 1e-6)
    assert result.losses[0] == 12.5
    np.testing.assert_allclose(result.losses[1], 12.5 * shrink**2, rtol=1e-12, atol=0)


def test_a_non_finite_training_loss_in_fit_names_its_step():
    """w = [1e150, 0] and a learning rate of 1e10: step 0 (loss 5e299, gradient norm 1e150)
    throws w to about -1e160, whose square overflows, so step 1's loss is inf and the run stops
    there, naming step 1."""
    model = Quadratic(w=(1e150, 0.0))
    with pytest.raises(TrainingError, match="^step 1: loss inf is not finite$"):
        run_fit(model=model, max_iters=5, eval_interval=10, schedule=constant(1e10))


@pytest.mark.parametrize(
    "blow_up, message",
    [
        (lambda: np.exp(np.float64(1000.0)), "^step 2: validation loss inf is not finite$"),
        (lambda: np.float64(np.inf) - np.float64(np.inf), "^step 2: validation loss nan is"),
    ],
)
def test_a_non_finite_validation_loss_stops_the_run_naming_its_step(blow_up, message):
    """An evaluation that overflows (exp(1000)) or is invalid (inf - inf) at step 2 stops the
    run with a TrainingError, and NumPy's overflow or invalid-value warning does not escape:
    the loop reports the blow-up itself. The best so far stays that of step 1."""
    best = BestWeights()

    def evaluate(step):
        return {"val_loss": float(blow_up()) if step == 2 else 3.0 - step}

    model = Quadratic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail the run differently
        with pytest.raises(TrainingError, match=message):
            fit(model, SGD(model), lambda: BATCH, evaluate, constant(0.5), max_iters=5,
                eval_interval=1, grad_clip=None, best=best)  # fmt: skip
    assert (best.val_loss, best.step) == (2.0, 1)


def test_a_resumed_fit_counts_patience_from_its_own_first_evaluation():
    """Resumed at step 4 with a best of 0.5: neither 1.0 (step 4) nor 0.9 (step 5) is better,
    so patience 2 stops the run at step 5, after two bad evaluations of this run, not at 4."""
    result, evals, _, _ = run_fit(
        val_losses=[1.0, 0.9, 0.8], max_iters=10, eval_interval=1, step=4,
        best=BestWeights(0.5, 2), patience=2,
    )  # fmt: skip
    assert (result.ended, result.step) == ("early stop", 5)
    assert [s for s, _ in evals] == [4, 5] and sorted(result.losses) == [4]


def test_on_step_hears_the_count_of_steps_done_as_each_step_ends():
    done = []

    def on_step(step, loss, lr, seconds):
        done.append(step)
        assert done == list(range(1, len(done) + 1)), done  # 1, 2, 3, ... as it happens

    result, _, _, _ = run_fit(max_iters=4, eval_interval=10, on_step=on_step)
    assert done == [1, 2, 3, 4] and result.step == 4


def test_a_stopped_fit_returns_the_best_weights_so_far():
    best = BestWeights(9.0, None)
    result, _, _, _ = run_fit(
        val_losses=[2.0], max_iters=10, eval_interval=5, best=best, should_stop=lambda s: s == 2
    )
    assert (result.ended, result.step) == ("stopped", 2)
    assert result.best is best and (best.val_loss, best.step) == (2.0, 0)
    np.testing.assert_array_equal(best.state["w"], [[3.0, -4.0]])  # the weights of step 0


# --- StopFlag and SilentProgress -----------------------------------------------------------------


def test_stop_flag_turns_the_first_ctrl_c_into_a_flag_and_the_second_into_an_interrupt():
    heard = []
    before = signal.getsignal(signal.SIGINT)
    with StopFlag(log=heard.append) as flag:
        assert flag.is_set() is False and flag.is_set(3) is False
        assert signal.getsignal(signal.SIGINT) == flag._handle
        signal.raise_signal(signal.SIGINT)
        assert flag.is_set(4) is True
        assert heard == ["\nCtrl-C: saving a checkpoint after this step (again to quit at once)"]
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before  # the old handler is back


def test_stop_flag_without_a_log_is_silent():
    with StopFlag() as flag:
        # checked first: a flag that is already set or installed nothing would turn this
        # SIGINT into a KeyboardInterrupt that ends the whole test session
        assert flag.is_set() is False and signal.getsignal(signal.SIGINT) == flag._handle
        signal.raise_signal(signal.SIGINT)
    assert flag.stop is True and flag.log is None


def test_a_new_stop_flag_is_unset_and_names_no_signal():
    flag = StopFlag()
    assert flag.is_set() is False and flag.signum is None and flag.log is None


@pytest.mark.parametrize(
    "sig, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")], ids=["term", "int"]
)
def test_sigterm_stops_like_ctrl_c_and_the_flag_remembers_the_signal(sig, name):
    """SIGTERM (what a scheduler or `kill` sends) sets the flag as Ctrl-C does; signum says
    which signal it was (the command exits with 128 + signum), and the log names it."""
    heard = []
    before = {s: signal.getsignal(s) for s in StopFlag.SIGNALS}
    with StopFlag(log=heard.append) as flag:
        # checked before raising: without the handler, SIGTERM would end the test process
        assert all(signal.getsignal(s) == flag._handle for s in StopFlag.SIGNALS)
        assert flag.is_set() is False and flag.signum is None
        signal.raise_signal(sig)
        assert flag.is_set() is True and flag.signum == sig
    assert heard == [f"\n{name}: saving a checkpoint after this step (again to quit at once)"]
    assert {s: signal.getsignal(s) for s in StopFlag.SIGNALS} == before


def test_stop_flag_off_the_main_thread_installs_nothing():
    """signal.signal works only in the main thread: elsewhere the flag is a plain flag."""
    before = signal.getsignal(signal.SIGINT)
    errors, flags = [], []

    def worker():
        try:
            with StopFlag() as flag:
                flags.append(flag)
        except Exception as e:  # noqa: BLE001 - reported to the main thread below
            errors.append(e)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors == [] and flags[0].is_set() is False
    assert signal.getsignal(signal.SIGINT) is before


def test_silent_progress_accepts_what_tqdm_is_given_and_shows_nothing(capsys):
    bar = SilentProgress(total=10, initial=2, desc="train", leave=False)
    bar.update()
    bar.update(3)
    bar.set_postfix(loss=1.0)
    bar.write("a line")
    bar.close()
    assert capsys.readouterr() == ("", "")

"""The one training loop, shared by pretraining (pretrain.py) and fine-tuning (finetune.py).

One step reads like the data flow:

    batch = next_batch()                         # tokenize -> batch (text.batching.Batch)
    logits, loss = model(*batch)                 # forward -> loss
    model.backward()                             # backward
    clip_grad_norm(model, grad_clip)             # one bad batch must not throw the weights far
    optimizer.step()                             # AdamW, at the schedule's learning rate

and every eval_interval steps (and after the last) the loop evaluates, keeps the best weights by
validation loss, and stops early after `patience` evaluations without a better one. What a run
does around that (checkpoints, metrics files, a progress bar) it passes in as callbacks, so that
this file holds the loop and nothing else.

A model is anything with `model(idx, targets, attention_mask) -> (logits, loss)`, `backward()`,
`params`/`grads`, `train()`/`eval()`, and `state_dict()`/`load_state_dict()`: the GPT, the masked
LM and the sequence classifier all are.
"""

import math
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from tinytransformer.checks import check_count, check_number
from tinytransformer.models.transformer import evaluating
from tinytransformer.text.batching import Batch
from tinytransformer.training.optimizer import clip_grad_norm
from tinytransformer.training.stopping import Patience


class TrainingError(RuntimeError):
    """The run cannot go on (a non-finite loss or gradient); the message names the step."""


def train_step(model, optimizer, batch, grad_clip, step):
    """One step on one batch: forward, backward, clip, AdamW -> (loss, gradient norm).

    batch: a text.batching.Batch (idx, targets, attention_mask). grad_clip: the largest gradient
    norm, or 0 / None for no clipping (the norm is then only measured). A non-finite loss or
    gradient norm raises TrainingError before the optimizer touches the weights.
    """
    if not isinstance(batch, Batch):
        raise TypeError(f"batch: expected a text.batching.Batch, got {type(batch).__name__}")
    if np.size(batch.idx) == 0:  # nothing to learn from: the loss would be 0, not a signal
        raise ValueError(
            f"batch: expected at least one token, got idx of shape {np.shape(batch.idx)}"
        )
    model.train()
    with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported just below
        # forward -> loss
        _, loss = model(batch.idx, batch.targets, attention_mask=batch.attention_mask)
        loss = float(loss)
        if not math.isfinite(loss):
            raise TrainingError(f"step {step}: loss {loss} is not finite")
        # backward
        model.backward()
        # clip the gradient norm
        norm = clip_grad_norm(model, grad_clip or None, names=optimizer.names)
    if not math.isfinite(norm):
        raise TrainingError(f"step {step}: gradient norm {norm} is not finite")
    # AdamW; a finite norm vouches that every gradient is finite, so step need not scan them again
    optimizer.step(grads_checked=True)
    return loss, norm


def mean_loss(model, batches):
    """The mean loss of the model over some batches (text.batching.Batch), in eval mode (no
    dropout): an evaluation. Give the same batches at every evaluation and the points of a
    learning curve compare with each other."""
    with evaluating(model):
        return float(np.mean([float(model(*batch)[1]) for batch in batches]))


class BestWeights:
    """The lowest validation loss seen so far, the step it was reached at, and a copy of the
    weights of that moment (in memory), to give back to the model at the end of a run.

    >>> best = BestWeights()
    >>> best.update(0, 2.0, None, keep=False), best.update(20, 2.5, None, keep=False)
    (True, False)
    >>> best.val_loss, best.step
    (2.0, 0)
    """

    def __init__(self, val_loss=math.inf, step=None):
        self.val_loss = val_loss
        self.step = step
        self.metrics = {}
        self.state = None

    def update(self, step, val_loss, model, metrics=None, keep=True):
        """Record val_loss if it is the best so far (keeping the model's weights when `keep`);
        -> whether it was."""
        if not val_loss < self.val_loss:
            return False
        self.val_loss, self.step, self.metrics = val_loss, step, dict(metrics or {})
        if keep:
            self.state = model.state_dict()  # copies
        return True

    def restore(self, model):
        """Load the best weights back into the model."""
        if self.state is None:
            raise RuntimeError("restore: no best weights were kept (BestWeights.update keep=False)")
        model.load_state_dict(self.state)


@dataclass
class LoopResult:
    """How the loop ended: "done" (max_iters), "early stop" (patience), or "stopped" (asked to);
    the step it ended at, the training loss of every step it took, and the best weights."""

    ended: str
    step: int
    losses: dict = field(default_factory=dict)
    best: BestWeights = field(default_factory=BestWeights)


def fit(
    model,
    optimizer,
    next_batch,
    evaluate,
    schedule,
    *,
    max_iters,
    eval_interval,
    grad_clip,
    patience=None,
    step=0,
    best=None,
    keep_best_weights=True,
    on_eval=None,
    on_step=None,
    before_step=None,
    should_stop=None,
):
    """Train from `step` to `max_iters` -> LoopResult.

    next_batch():           the next training batch, a text.batching.Batch.
    evaluate(step):         a dict of metrics with at least "val_loss"; the loop calls it with
                            the model in eval mode (no dropout) and puts it back after.
    schedule(step):         the learning rate of a step (a schedule.Schedule).
    patience:               stop after this many evaluations in a row without a better val loss
                            (stopping.Patience, the rule of stopping.early_stopping);
                            None never stops early.
    step, best:             where a resumed run starts: its step and its BestWeights so far.
    keep_best_weights:      copy the weights at each new best (for BestWeights.restore).
    on_eval(step, metrics, improved): called after each evaluation.
    on_step(step, loss, lr, seconds): called after each step; step is then the number of steps
                            done, seconds the time the step took (batch, forward, backward, AdamW).
    before_step(step):      called before each step (fine-tuning's head_warmup unfreezes the
                            blocks there).
    should_stop(step) -> bool: asked before each step; True ends the loop ("stopped").
    """
    check_count("max_iters", max_iters)
    check_count("eval_interval", eval_interval, low=1)
    check_count("patience", patience, low=1, allow_none=True)
    check_count("step", step)
    check_number("grad_clip", grad_clip, low=0.0, allow_none=True)
    best = BestWeights() if best is None else best
    # early stopping's count (stopping.py); a resumed run starts from the best it had, so
    # patience counts this run's evaluations that do not beat it
    waiting = None if patience is None else Patience(patience)
    if waiting is not None and best.val_loss != math.inf:
        waiting.update(best.val_loss)
    losses = {}
    while True:
        if step % eval_interval == 0 or step == max_iters:
            # in eval mode (no dropout); a blow-up is reported just below
            with evaluating(model), np.errstate(over="ignore", invalid="ignore"):
                metrics = evaluate(step)
            if not math.isfinite(metrics["val_loss"]):  # the last update broke the weights
                raise TrainingError(
                    f"step {step}: validation loss {metrics['val_loss']} is not finite"
                )
            improved = best.update(step, metrics["val_loss"], model, metrics, keep_best_weights)
            if on_eval is not None:
                on_eval(step, metrics, improved)
            if waiting is not None and waiting.update(metrics["val_loss"]):
                return LoopResult("early stop", step, losses, best)
        if step >= max_iters:
            return LoopResult("done", step, losses, best)
        if should_stop is not None and should_stop(step):
            return LoopResult("stopped", step, losses, best)
        if before_step is not None:
            before_step(step)
        t0 = time.perf_counter()
        optimizer.lr = schedule(step)
        losses[step], _ = train_step(model, optimizer, next_batch(), grad_clip, step)
        step += 1
        if on_step is not None:
            on_step(step, losses[step - 1], optimizer.lr, time.perf_counter() - t0)


class StopFlag:
    """Ctrl-C (SIGINT) or SIGTERM sets a flag that the loop checks between steps (pass
    `flag.is_set` as should_stop), so a checkpoint is saved from consistent weights, never from a
    half-applied optimizer step. A second signal stops at once. `flag.signum` is the signal that
    stopped the run (None if none did), so the command can exit with 128 + signum, as a shell
    expects of a process stopped by a signal. `log` (a function of one str) hears about it."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, log=None):
        self.stop = False
        self.signum = None
        self.log = log
        self._old = {}

    def is_set(self, step=None):
        return self.stop

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.stop:
            raise KeyboardInterrupt
        self.stop, self.signum = True, signum
        if self.log is not None:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            self.log(f"\n{name}: saving a checkpoint after this step (again to quit at once)")

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)


class SilentProgress:
    """A progress bar that shows nothing: what a run uses when its caller passes no tqdm."""

    def __init__(self, total=None, initial=0, **kwargs):
        pass

    def update(self, n=1):
        pass

    def set_postfix(self, **kwargs):
        pass

    def write(self, text):
        pass

    def close(self):
        pass

"""Checking a run's settings before anything is written: each bad value is one error that names
the flag as the user typed it (`--learning-rate`, not `lr`), what was expected and what was given.

`args` is any object with the settings as attributes named like the flags (`args.learning_rate`
for `--learning-rate`): the parsed command line, or a SimpleNamespace from Python.
"""

import math


def flag(name):
    """ "learning_rate" -> "--learning-rate": how the user typed the setting."""
    return "--" + name.replace("_", "-")


def _number(args, name, low=None, below=None, above=None, allow_none=False):
    value = getattr(args, name)
    if value is None and allow_none:
        return
    bounds = []
    if low is not None:
        bounds.append(f">= {low}")
    if above is not None:
        bounds.append(f"> {above}")
    if below is not None:
        bounds.append(f"< {below}")
    wanted = f"a finite number {' and '.join(bounds)}" if bounds else "a finite number"
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low is None or value >= low) and (below is None or value < below)
    ok = ok and (above is None or value > above)
    if not ok:
        raise ValueError(f"{flag(name)}: expected {wanted}, got {value!r}")


def _count(args, name, low, allow_none=False):
    value = getattr(args, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{flag(name)}: expected a whole number >= {low}, got {value!r}")


def check_training_settings(args):
    """The training loop's settings, shared by pretraining and fine-tuning."""
    _count(args, "batch_size", 1)
    _count(args, "max_iters", 0)
    _count(args, "warmup_iters", 0)
    _count(args, "lr_decay_iters", 1, allow_none=True)
    _count(args, "eval_interval", 1)
    _count(args, "patience", 1, allow_none=True)
    _number(args, "learning_rate", above=0.0)
    _number(args, "min_lr", low=0.0, allow_none=True)
    if args.min_lr is not None and args.min_lr > args.learning_rate:
        raise ValueError(
            f"--min-lr: expected at most --learning-rate ({args.learning_rate}), the rate it "
            f"decays from, got {args.min_lr}"
        )
    _number(args, "weight_decay", low=0.0)
    _number(args, "beta1", low=0.0, below=1.0)
    _number(args, "beta2", low=0.0, below=1.0)
    _number(args, "grad_clip", low=0.0)
    _number(args, "dropout", low=0.0, below=1.0)

"""The learning-rate schedule: a linear warm-up, then a cosine decay to a floor (nanoGPT's).

    lr
    ^     ____
    |    /    `--.__
    |   /           `--.___ min_lr
    +--|--------------------|------> step
       warmup_iters         lr_decay_iters

The warm-up keeps the first updates small while AdamW's second-moment estimates are still noisy;
the decay lets the weights settle at the end. One rule serves pretraining and fine-tuning: when
the decay ends before the warm-up would (a short run), the warm-up is shortened to it.
"""

import math

from tinytransformer.checks import check_count, check_number


def get_lr(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    """The learning rate at iteration `it`.

    1. it < warmup_iters: linear warmup, learning_rate * (it + 1) / (warmup_iters + 1), so the
       first step already has a small nonzero rate.
    2. warmup_iters <= it <= lr_decay_iters: cosine decay from learning_rate to min_lr.
    3. it > lr_decay_iters: min_lr.

    >>> get_lr(60, 1e-3, 10, 110, 1e-4)  # halfway through the decay
    0.00055
    """
    check_count("it", it)
    learning_rate = check_number("learning_rate", learning_rate, low=0.0)
    min_lr = check_number("min_lr", min_lr, low=0.0)
    check_count("warmup_iters", warmup_iters)
    check_count("lr_decay_iters", lr_decay_iters)
    if lr_decay_iters < warmup_iters:
        raise ValueError(
            f"lr_decay_iters: expected >= warmup_iters ({warmup_iters}), got {lr_decay_iters}"
        )
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    # At it == lr_decay_iters the cosine has reached min_lr already; testing >= here also spares
    # the division below from lr_decay_iters == warmup_iters.
    if it >= lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)  # in [0, 1)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # from 1 down towards 0
    return min_lr + coeff * (learning_rate - min_lr)


class Schedule:
    """get_lr with its settings fixed: `schedule(step)` is the learning rate of that step.

    min_lr None means no decay (one constant rate after the warm-up: --min-lr left out);
    lr_decay_iters None means the decay ends at max_iters. A warm-up longer than the decay is
    shortened to it; `schedule.note` then says so (None otherwise).

    >>> Schedule(1e-3, 1e-4, warmup_iters=100, max_iters=50).warmup_iters
    50
    """

    def __init__(self, learning_rate, min_lr, warmup_iters, max_iters, lr_decay_iters=None):
        self.learning_rate = learning_rate
        self.min_lr = learning_rate if min_lr is None else min_lr
        self.decay_iters = max_iters if lr_decay_iters is None else lr_decay_iters
        self.warmup_iters = min(warmup_iters, self.decay_iters)
        self.note = None
        if self.warmup_iters < warmup_iters:
            self.note = (
                f"warm-up shortened to {self.warmup_iters} steps, the length of the lr decay"
            )
        get_lr(0, learning_rate, self.warmup_iters, self.decay_iters, self.min_lr)  # the checks
        if self.min_lr > learning_rate:
            raise ValueError(
                f"min_lr: expected at most learning_rate ({learning_rate}), the rate it decays "
                f"from, got {min_lr}"
            )

    def __call__(self, step):
        return get_lr(step, self.learning_rate, self.warmup_iters, self.decay_iters, self.min_lr)

"""Flags more than one command shares, defined once: argument types with messages that say what
was expected, the training loop's flags (train and finetune), and the sampling flags (sample).
"""

import argparse

# The training loop's flags and their defaults (the `train` command's, nanoGPT's names). A
# command may change a default (fine-tuning uses a smaller, constant learning rate), never a
# flag's meaning.
TRAINING_DEFAULTS = dict(
    batch_size=12,
    max_iters=2000,
    learning_rate=1e-3,
    min_lr=1e-4,
    warmup_iters=100,
    lr_decay_iters=None,
    weight_decay=0.1,
    beta1=0.9,
    beta2=0.99,
    grad_clip=1.0,
    eval_interval=250,
    patience=None,
)


def whole_number(low):
    """An argparse type for a count flag: a whole number >= low, with a message that says so."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text}")
        return value

    return parse


positive_int = whole_number(1)  # --batch-size, --eval-interval, ...
non_negative_int = whole_number(0)  # --max-iters 0 evaluates without training


def boolean(text):
    """An argparse type for true/false flags such as --bias."""
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_training_args(parser, suppress_defaults=False, **defaults):
    """The training loop's flags, in one group: batch, length, AdamW, schedule, clipping,
    evaluation and early stopping. `defaults` overrides TRAINING_DEFAULTS by flag name (say
    learning_rate=3e-4). With suppress_defaults, parsing returns only the flags given."""
    unknown = set(defaults) - set(TRAINING_DEFAULTS)
    if unknown:
        raise ValueError(f"defaults: unknown training flags {sorted(unknown)}")
    defaults = {**TRAINING_DEFAULTS, **defaults}
    group = parser.add_argument_group("training loop and optimizer")

    def add(flag, help, **kw):  # the parser's ArgumentDefaultsHelpFormatter shows the default
        if suppress_defaults:
            group.add_argument(flag, help=help, **kw)
        else:
            group.add_argument(flag, help=help, default=defaults[flag[2:].replace("-", "_")], **kw)

    add("--batch-size", type=positive_int, help="sequences per step")
    add("--max-iters", type=non_negative_int, help="training steps (0: only evaluate)")
    add("--learning-rate", type=float, help="AdamW's peak learning rate")
    add("--min-lr", type=float,
        help="the floor of the cosine decay, reached at --lr-decay-iters "
        "(none: --learning-rate, i.e. one constant rate)")  # fmt: skip
    add("--warmup-iters", type=non_negative_int, help="steps of linear warm-up of the rate")
    add(
        "--lr-decay-iters", type=positive_int, help="the step the decay ends at (none: --max-iters)"
    )
    add("--weight-decay", type=float, help="AdamW's decoupled decay, on matrices only")
    add("--beta1", type=float, help="AdamW's decay rate of the mean of the gradient")
    add("--beta2", type=float, help="AdamW's decay rate of the mean of its square")
    add("--grad-clip", type=float, help="the largest global gradient norm (0: no clipping)")
    add("--eval-interval", type=positive_int, help="steps between evaluations")
    add("--patience", type=positive_int,
        help="stop after this many evaluations without a better val loss "
        "(none: never)")  # fmt: skip


def add_sampling_args(parser):
    """The sampling flags of `sample`."""
    parser.add_argument("--temperature", type=float, default=0.8, help="0 means greedy")
    parser.add_argument("--top-k", type=positive_int, default=None,
                        help="sample among the k most likely tokens (none: all)")  # fmt: skip
    parser.add_argument("--top-p", type=float, default=None,
                        help="sample from the smallest set of tokens whose probability reaches "
                        "p (none: all)")  # fmt: skip
    parser.add_argument("--max-new-tokens", type=non_negative_int, default=300,
                        help="tokens to generate")  # fmt: skip

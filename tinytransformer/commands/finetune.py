"""`python -m tinytransformer finetune`: the topic-classification task, from a pretrained
checkpoint or from scratch; the run itself is training/finetune.py.
"""

import argparse
import sys

from tqdm.auto import tqdm

from tinytransformer.commands.args import add_training_args, non_negative_int, positive_int
from tinytransformer.files import describe_os_error
from tinytransformer.models.classifier import POOLINGS
from tinytransformer.models.config import PRESETS
from tinytransformer.training.checkpoint import CheckpointError
from tinytransformer.training.finetune import ARCHS, finetune
from tinytransformer.training.loop import TrainingError


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m tinytransformer finetune",
        description="Fine-tune a pretrained model (or train from scratch) on the Python-docs "
        "topic classification task; write results.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # --help shows every default
    )
    p.add_argument("--init-from", default=None, help="pretrained checkpoint (none: from scratch)")
    p.add_argument(
        "--arch",
        default=None,
        choices=sorted(ARCHS),
        help="from scratch: the backbone (none: mlm); with --init-from, must match",
    )
    p.add_argument(
        "--scratch",
        action="store_true",
        help="with --init-from: take the checkpoint's config and tokenizer but not its weights "
        "(the from-scratch baseline that differs from fine-tuning only in the weights)",
    )
    p.add_argument("--preset", default="small", choices=sorted(PRESETS), help="from scratch only")
    p.add_argument("--block-size", type=positive_int, default=None, help="from scratch only")
    p.add_argument("--trainable-blocks", type=non_negative_int, default=None,
                   help="train only the last k blocks and the head (0: the head alone; "
                   "none: everything)")  # fmt: skip
    p.add_argument("--head-warmup", type=non_negative_int, default=0,
                   help="train the head alone for this many steps first, then the blocks too "
                   "(linear probing, then fine-tuning)")  # fmt: skip
    p.add_argument("--pooling", default=None, choices=POOLINGS,
                   help="the hidden state the head reads (none: last for a GPT, cls for an "
                   "encoder)")  # fmt: skip
    p.add_argument(
        "--train-per-class",
        type=positive_int,
        default=None,
        help="labelled training paragraphs per class (none: the task's 75)",
    )
    p.add_argument("--dropout", type=float, default=0.1, help="dropout in training")
    # the training loop's flags, with fine-tuning's defaults: a smaller rate, constant (no
    # warm-up, no decay), lighter weight decay, frequent evaluation and early stopping
    add_training_args(
        p,
        batch_size=16,
        max_iters=600,
        learning_rate=3e-4,
        min_lr=None,
        warmup_iters=0,
        weight_decay=0.01,
        eval_interval=20,
        patience=8,
    )
    p.add_argument("--seed", type=int, default=0, help="initialisation, batches and dropout")
    p.add_argument("--out", default="out-finetune", help="where results.json is written")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results already in --out")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)

    def progress(**kw):
        # --quiet hides the bar, and so does a log that is not a terminal (a bar there is a
        # flood of lines); the evaluation lines it writes still print
        quiet = args.quiet or not sys.stderr.isatty()
        return tqdm(unit="step", dynamic_ncols=True, disable=quiet, **kw)

    try:
        finetune(args, log=print, progress=progress)
    except (CheckpointError, TrainingError, ValueError, MemoryError) as e:
        sys.exit(f"error: {e}")
    except OSError as e:
        sys.exit(f"error: {describe_os_error(e, 'finetune')}")
    except KeyboardInterrupt:  # results are only written at the end: nothing is half-written
        print("interrupted: no results written", file=sys.stderr)
        sys.exit(130)

"""`python -m tinytransformer finetune`: the topic-classification task, from a pretrained
checkpoint or from scratch. The flags are FinetuneConfig's settings (training/config.py), with
fine-tuning's defaults; the run itself is training/finetune.py.
"""

import sys

from tinytransformer.commands.args import (
    LOOP,
    add_setting_flags,
    command_parser,
    in_flags,
    progress_bar,
    settings_given,
)
from tinytransformer.files import describe_os_error
from tinytransformer.training.checkpoint import CheckpointError
from tinytransformer.training.config import FinetuneConfig
from tinytransformer.training.finetune import finetune
from tinytransformer.training.loop import TrainingError

GROUPS = {  # the flags' groups in --help
    "the backbone and what trains": (
        "init_from",
        "model",
        "scratch",
        "preset",
        "block_size",
        "trainable_blocks",
        "head_warmup",
        "pooling",
        "train_per_class",
    ),
    "training loop and optimizer (fine-tuning's defaults)": LOOP,
}


def build_parser():
    p = command_parser(
        "finetune",
        "Fine-tune a pretrained model (or train from scratch) on the Python-docs topic "
        "classification task; write results.json.",
    )
    for title, names in GROUPS.items():
        add_setting_flags(p, FinetuneConfig, names, title)
    p.add_argument("--out", default="out-finetune", help="where results.json is written")
    p.add_argument("--overwrite", action="store_true", help="replace the results in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        config = FinetuneConfig(**settings_given(args, FinetuneConfig))
        progress = progress_bar(args.quiet)
        finetune(config, args.out, overwrite=args.overwrite, log=print, progress=progress)
    except (CheckpointError, TrainingError, ValueError, MemoryError) as e:
        sys.exit(f"error: {in_flags(str(e), FinetuneConfig)}")
    except OSError as e:
        sys.exit(f"error: {describe_os_error(e, 'finetune')}")
    except KeyboardInterrupt:  # results are only written at the end: nothing is half-written
        print("interrupted: no results written", file=sys.stderr)
        sys.exit(130)

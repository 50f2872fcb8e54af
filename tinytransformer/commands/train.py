"""`python -m tinytransformer train`: pretrain a model on a corpus, then print a sample.

The flags are PretrainConfig's settings (training/config.py, nanoGPT's names), plus what only
the command line does (where the run goes, resuming it, a progress bar, the sample at the end);
the run itself is training/pretrain.py.
"""

import sys

from tinytransformer.commands.args import (
    LOOP,
    add_setting_flags,
    command_parser,
    in_flags,
    non_negative_int,
    progress_bar,
    settings_given,
)
from tinytransformer.files import describe_os_error
from tinytransformer.models.gpt import generate_text
from tinytransformer.training.checkpoint import CheckpointError
from tinytransformer.training.config import PretrainConfig
from tinytransformer.training.loop import TrainingError
from tinytransformer.training.pretrain import pretrain, resume

GROUPS = {  # the flags' groups in --help, in the order of the data flow
    "data": ("data", "tokenizer", "vocab_size", "model"),
    "model": ("preset", "n_layer", "n_head", "n_embd", "block_size", "dropout", "bias"),
    "training loop and optimizer": tuple(n for n in LOOP if n != "dropout"),
    "evaluation and start": ("eval_iters", "init_from"),
}


def build_parser():
    p = command_parser("train", "Train a small transformer on a text corpus, then print a sample.")
    for title, names in GROUPS.items():
        add_setting_flags(p, PretrainConfig, names, title)
    g = p.add_argument_group("the run's folder and output")
    g.add_argument("--out", default="out", help="folder for checkpoints, metrics.jsonl, loss.png")
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (its checkpoints and metrics are deleted)",
    )
    g.add_argument(
        "--sample-tokens", type=non_negative_int, default=300, help="tokens to sample at the end"
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    given = settings_given(args, PretrainConfig)  # only the settings typed
    progress = progress_bar(args.quiet)
    if args.resume and args.overwrite:
        sys.exit("error: --resume, --overwrite: expected at most one of them, got both")
    if args.resume and "init_from" in given:
        sys.exit(
            "error: --resume, --init-from: expected one of them (continue this run, or start a "
            "new one from another's weights), got both"
        )
    try:
        if args.resume:
            run, _ = resume(args.out, given, log=print, progress=progress)
        else:
            config = PretrainConfig(**given)
            run, _ = pretrain(
                config, args.out, overwrite=args.overwrite, log=print, progress=progress
            )
    except (CheckpointError, TrainingError, ValueError, ConnectionError, MemoryError) as e:
        sys.exit(f"error: {in_flags(str(e), PretrainConfig)}")
    except OSError as e:  # FileNotFoundError of --data, a disk fault, ...
        sys.exit(
            f"error: {e if isinstance(e, FileNotFoundError) else describe_os_error(e, 'train')}"
        )
    if run.signum is not None:  # stopped by Ctrl-C or SIGTERM: saved, but not finished
        sys.exit(128 + run.signum)
    if run.ended != "stopped" and args.sample_tokens > 0 and run.config.model == "gpt":
        print("--- sample (temperature 0.8, top-k 40) ---")
        sampling = dict(temperature=0.8, top_k=40, seed=run.config.seed)
        print(generate_text(run.model, run.tokenizer, "", args.sample_tokens, **sampling))

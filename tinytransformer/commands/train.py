"""`python -m tinytransformer train`: pretrain a model on a corpus, then print a sample.

Flags are named after nanoGPT's config keys; the run itself is training/pretrain.py.
"""

import argparse
import sys

from tqdm.auto import tqdm

from tinytransformer.commands.args import (
    add_training_args,
    boolean,
    non_negative_int,
    positive_int,
)
from tinytransformer.files import describe_os_error
from tinytransformer.models.config import PRESETS
from tinytransformer.models.gpt import generate_text
from tinytransformer.training.checkpoint import CheckpointError
from tinytransformer.training.loop import TrainingError
from tinytransformer.training.pretrain import pretrain


def build_parser(suppress_defaults=False):
    """The train flags. With suppress_defaults, parsing returns only the flags actually given."""
    p = argparse.ArgumentParser(
        prog="python -m tinytransformer train",
        description="Train a small transformer on a text corpus, then print a sample.",
        argument_default=argparse.SUPPRESS if suppress_defaults else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # --help shows every default
    )

    def add(group, flag, default, **kw):
        group.add_argument(flag, **kw, **({} if suppress_defaults else {"default": default}))

    g = p.add_argument_group("data")
    add(g, "--data", "python-docs",
        help="python-docs (embedded), python-docs-pretrain (without the fine-tuning task's "
        "val/test text), python-docs-stdlib-pretrain (that + the stdlib's docstrings), "
        "shakespeare (downloaded once), or a text file path")  # fmt: skip
    add(g, "--tokenizer", "char", choices=("char", "bpe"), help="characters, or byte-level BPE")
    add(g, "--vocab-size", None, type=positive_int, help="BPE vocabulary size (none: 512)")
    add(g, "--objective", "clm", choices=("clm", "mlm"), help="causal LM (GPT) or masked LM")
    g = p.add_argument_group("model")
    add(g, "--preset", "small", choices=sorted(PRESETS), help="sizes; the flags below override")
    sizes = [("--n-layer", "blocks"), ("--n-head", "attention heads per block"),
             ("--n-embd", "channels C"), ("--block-size", "the longest sequence T")]  # fmt: skip
    for flag, what in sizes:
        add(g, flag, None, type=positive_int, help=f"{what} (none: the preset's)")
    add(g, "--dropout", 0.0, type=float, help="dropout probability in training")
    add(g, "--bias", True, type=boolean, help="biases in linear layers and layer norms")
    add_training_args(p, suppress_defaults)
    g = p.add_argument_group("evaluation and output")
    add(g, "--eval-iters", 50, type=positive_int, help="batches per split in each evaluation")
    add(g, "--seed", 1337, type=int, help="initialisation, batches and dropout")
    add(g, "--out", "out", help="directory for checkpoints, metrics.jsonl and loss.png")
    add(g, "--resume", False, action="store_true", help="continue the run in --out")
    add(g, "--overwrite", False, action="store_true",
        help="replace the run already in --out (its checkpoints and metrics are "
        "deleted)")  # fmt: skip
    add(g, "--init-from", None, help="start from this checkpoint's weights (a new run)")
    add(g, "--sample-tokens", 300, type=non_negative_int, help="tokens to sample at the end")
    add(g, "--quiet", False, action="store_true", help="no progress bar")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    given = vars(build_parser(suppress_defaults=True).parse_args(argv))

    def progress(**kw):
        # --quiet hides the bar, and so does a log that is not a terminal (a bar there is a
        # flood of lines); the evaluation lines it writes still print
        quiet = args.quiet or not sys.stderr.isatty()
        return tqdm(unit="step", dynamic_ncols=True, disable=quiet, **kw)

    try:
        run, _ = pretrain(args, given, log=print, progress=progress)
    except (CheckpointError, TrainingError, ValueError, ConnectionError, MemoryError) as e:
        sys.exit(f"error: {e}")
    except OSError as e:  # FileNotFoundError of --data, a disk fault, ...
        sys.exit(
            f"error: {e if isinstance(e, FileNotFoundError) else describe_os_error(e, 'train')}"
        )
    if run.signum is not None:  # stopped by Ctrl-C or SIGTERM: saved, but not finished
        sys.exit(128 + run.signum)
    if run.ended != "stopped" and run.args.sample_tokens > 0 and run.args.objective == "clm":
        print("--- sample (temperature 0.8, top-k 40) ---")
        text = generate_text(
            run.model, run.tokenizer, "", run.args.sample_tokens, 0.8, 40, None, run.args.seed
        )
        print(text)

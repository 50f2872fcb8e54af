"""`python -m tinytransformer export --out RUN --to DIR`: a run's GPT as a Hugging Face directory
(config.json, model.safetensors and the tokenizer's files), which `GPT2LMHeadModel.from_pretrained`
and `AutoTokenizer.from_pretrained` load, and `sample --hf DIR` samples from."""

import sys
from pathlib import Path

from tinytransformer.commands.args import add_run_flags, command_parser
from tinytransformer.models.hf import PretrainedError
from tinytransformer.training.checkpoint import CheckpointError, find_checkpoint, load_generator

WRITTEN = ("config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt")


def build_parser():
    p = command_parser("export", "Write a run's GPT as a Hugging Face directory.")
    add_run_flags(p)
    p.add_argument("--to", required=True, metavar="DIR", help="the directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --to")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    to = Path(args.to)
    if to.exists() and not to.is_dir():
        sys.exit(f"error: --to {to}: expected a directory, got a file")
    present = [n for n in WRITTEN if (to / n).exists()]
    if present and not args.overwrite:
        sys.exit(f"error: --to {to} already holds {', '.join(present)}; pass --overwrite")
    try:
        ckpt = load_generator(args.checkpoint or find_checkpoint(args.out))
        folder = ckpt.model.save_pretrained(to, tokenizer=ckpt.tokenizer)
    except (CheckpointError, PretrainedError) as e:
        sys.exit(f"error: {e}")
    except OSError as e:
        sys.exit(f"error: --to {to}: {e.strerror or e}")
    print(f"wrote {folder} (step {ckpt.step} of {ckpt.path})")

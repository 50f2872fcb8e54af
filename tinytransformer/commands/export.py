"""`python -m tinytransformer export --out RUN --to DIR`: a run's GPT as a Hugging Face directory
(config.json, model.safetensors and the tokenizer's files), which `GPT2LMHeadModel.from_pretrained`
and `AutoTokenizer.from_pretrained` load, and `sample --hf DIR` samples from.

DIR is written as a whole (files.replace_folder): a folder that holds anything is refused
without --overwrite, and with it the folder is replaced by the new model's files as a set, so
no file of another model (a stale vocab.json) is left beside them, and a killed export leaves
the old folder or the new one.
"""

import sys
from pathlib import Path

from tinytransformer.commands.args import add_run_flags, command_parser
from tinytransformer.files import describe_os_error, replace_folder
from tinytransformer.models.hf import PretrainedError
from tinytransformer.training.checkpoint import CheckpointError, find_checkpoint, load_generator
from tinytransformer.training.rundir import RunDirError, check_folder_path


def build_parser():
    p = command_parser("export", "Write a run's GPT as a Hugging Face directory.")
    add_run_flags(p)
    p.add_argument("--to", required=True, metavar="DIR", help="the directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace --to and everything it holds")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    to = Path(args.to)
    try:
        check_folder_path(args.to, "--to")
    except RunDirError as e:
        sys.exit(f"error: {e}")
    if to.exists() and not to.is_dir():
        sys.exit(f"error: --to {to}: expected a directory, got a file")
    held = sorted(p.name for p in to.iterdir()) if to.is_dir() else []
    if held and not args.overwrite:
        listed = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        sys.exit(f"error: --to {to} already holds {listed}; pass --overwrite to replace it")
    try:
        ckpt = load_generator(args.checkpoint or find_checkpoint(args.out))

        def write(folder):
            ckpt.model.save_pretrained(folder, tokenizer=ckpt.tokenizer)

        replace_folder(to, write)
    except (CheckpointError, PretrainedError) as e:
        sys.exit(f"error: {e}")
    except OSError as e:
        sys.exit(f"error: {describe_os_error(e, f'--to {to}')}")
    print(f"wrote {to} (step {ckpt.step} of {ckpt.path})")

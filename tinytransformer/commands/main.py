"""`python -m tinytransformer COMMAND ...`: dispatch to the command's module.

Only the command that runs is imported: `sample` does not pay for what `train` or `grade` need
(importlib, here and only here; nothing imports this module back, so no cycle can hide in it).
"""

import argparse
import importlib
import sys

COMMANDS = {  # name -> (its module in tinytransformer.commands, what it does), in data-flow order
    "train": ("train", "train a model (default: a GPT on the embedded corpus)"),
    "sample": ("sample", "sample text from a trained model"),
    "eval": ("evaluate", "perplexity and latency of a run, or BLEU/ROUGE of files"),
    "finetune": ("finetune", "fine-tune a model on the topic classification task"),
    "export": ("export", "write a run's GPT as a Hugging Face directory"),
    "exercises": ("exercises", "build the student notebooks, or list the exercises"),
    "grade": ("grade", "run submitted notebooks and tabulate every exercise's status"),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m tinytransformer",
        description="A small transformer language model in pure NumPy.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.parse_args(argv or ["--help"])
        return
    module = importlib.import_module(f"tinytransformer.commands.{COMMANDS[argv[0]][0]}")
    module.main(argv[1:])

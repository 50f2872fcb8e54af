"""What the commands share: flags made from a run config's fields (training/config.py), so that a
setting's name, default, help and check are written once, there; a setting's error turned back
into the flag the user typed; argument types whose messages say what was expected; and the
progress bar of a run.
"""

import argparse
import re
import sys

from tqdm.auto import tqdm

from tinytransformer.training.config import Choice, Count, Flag, Number, RunConfig

LOOP = tuple(RunConfig.__dataclass_fields__)  # the training loop's settings, shared by commands
NONE = "none"  # what a user types for a setting that may be left out


def command_parser(command, description):
    """The parser of `python -m tinytransformer COMMAND`, whose --help shows every default."""
    return argparse.ArgumentParser(
        prog=f"python -m tinytransformer {command}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def add_run_flags(parser):
    """--out and --checkpoint: which trained run, and which of its checkpoints, to read."""
    parser.add_argument("--out", default="out", help="the training run's directory")
    parser.add_argument("--checkpoint", default=None, help="a checkpoint file (none: best)")


def flag(name):
    """ "learning_rate" -> "--learning-rate": a setting as the user types it."""
    return "--" + name.replace("_", "-")


def in_flags(text, config_class):
    """A message about settings, as the command line says it: the setting it opens with and
    every setting named with an underscore (learning_rate) become flags (--learning-rate)."""
    names = sorted(config_class.__dataclass_fields__, key=len, reverse=True)
    head, sep, rest = text.partition(": ")
    if sep and head in names:
        text = f"{flag(head)}: {rest}"
    for name in (n for n in names if "_" in n):
        text = re.sub(rf"(?<![\w-]){name}\b", flag(name), text)
    return text


def whole_number(low=None):
    """An argparse type for a count: a whole number (>= low when given)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or (low is not None and value < low):
            at_least = "" if low is None else f" >= {low}"
            raise argparse.ArgumentTypeError(f"expected a whole number{at_least}, got {text}")
        return value

    return parse


positive_int = whole_number(1)  # --num-samples, --prompts, ...
non_negative_int = whole_number(0)  # --sample-tokens 0 samples nothing


def number(text):
    """An argparse type for a real number."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text}") from None


def boolean(text):
    """An argparse type for true/false flags such as --bias."""
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _or_none(parse):
    """The type `parse`, or None for the word "none" (a setting that may be left out)."""

    def parse_or_none(text):
        return None if text.lower() == NONE else parse(text)

    return parse_or_none


def _argument(check):
    """The argparse keywords (type, choices) for a setting with this check."""
    if isinstance(check, Choice):
        options = list(check.options) + ([NONE] if check.optional else [])
        return {"type": _or_none(str) if check.optional else str, "choices": options + [None]}
    parse = {Count: whole_number(), Number: number, Flag: boolean}.get(type(check), str)
    return {"type": _or_none(parse) if getattr(check, "optional", False) else parse}


def add_setting_flags(parser, config_class, names, title=None):
    """A flag for each named setting of config_class: --name-with-dashes, typed by the setting's
    check, with its help and default. The flags default to argparse.SUPPRESS, so parsing gives
    only the settings the user typed (a resumed run changes just those; a new config takes
    its own defaults for the rest); their range is the config's to check."""
    group = parser.add_argument_group(title) if title else parser
    fields = config_class.__dataclass_fields__
    for name in names:
        field = fields[name]
        shown = NONE if field.default is None else field.default
        help_text = in_flags(f"{field.metadata['help']} (default: {shown})", config_class)
        check = field.metadata["check"]
        if isinstance(check, Flag) and field.default is False:  # a switch: --scratch
            group.add_argument(
                flag(name),
                dest=name,
                default=argparse.SUPPRESS,
                action="store_true",
                help=in_flags(field.metadata["help"], config_class),
            )
            continue
        kw = _argument(check)
        if "choices" in kw:  # argparse lists them in the usage line; none is a choice too
            kw["metavar"] = "{" + ",".join(str(c) for c in kw["choices"] if c is not None) + "}"
        group.add_argument(flag(name), dest=name, default=argparse.SUPPRESS, help=help_text, **kw)


def settings_given(args, config_class):
    """The settings of config_class among the parsed flags (those the user typed)."""
    return {k: v for k, v in vars(args).items() if k in config_class.__dataclass_fields__}


def progress_bar(quiet):
    """A run's progress bar factory: tqdm, hidden by --quiet and when stderr is not a terminal
    (a bar there is a flood of lines; the evaluation lines it writes still print)."""
    hidden = quiet or not sys.stderr.isatty()

    def progress(**kw):
        return tqdm(unit="step", dynamic_ncols=True, disable=hidden, **kw)

    return progress


def add_sampling_args(parser):
    """The sampling flags of `sample`: models.sampling.Sampling checks their values."""
    parser.add_argument("--temperature", type=number, default=0.8, help="0 means greedy")
    parser.add_argument(
        "--top-k", type=positive_int, default=None, help="sample among the k most likely tokens"
    )
    parser.add_argument(
        "--top-p",
        type=number,
        default=None,
        help="sample from the smallest set of tokens whose probability reaches p",
    )
    parser.add_argument(
        "--max-new-tokens", type=non_negative_int, default=300, help="tokens to generate"
    )

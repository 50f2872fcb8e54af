"""`python -m tinytransformer sample`: continue a prompt with a trained GPT.

The sampling rule is models/sampling.py, generation with its KV cache models/gpt.py.
"""

import sys

from tinytransformer.commands.args import (
    add_run_flags,
    add_sampling_args,
    command_parser,
    in_flags,
    positive_int,
)
from tinytransformer.models.gpt import GPT, generate_text
from tinytransformer.models.hf import resolve
from tinytransformer.models.sampling import Sampling
from tinytransformer.text.pretrained import load_pretrained_tokenizer
from tinytransformer.training.checkpoint import CheckpointError, find_checkpoint, load_generator


def build_parser():
    parser = command_parser("sample", "Sample text from a trained model.")
    add_run_flags(parser)
    parser.add_argument(
        "--hf",
        default=None,
        metavar="DIR",
        help="a Hugging Face GPT-2 directory (or a name in the local HF cache, e.g. gpt2) "
        "instead of a run",
    )
    parser.add_argument("--prompt", default="", help="text to continue (empty: a newline)")
    parser.add_argument("--num-samples", type=positive_int, default=1, help="texts to sample")
    parser.add_argument("--seed", type=int, default=1337, help="the first sample's seed")
    parser.add_argument("--no-cache", action="store_true", help="generate without the KV cache")
    parser.add_argument(
        "--allow-special",
        action="store_true",
        help="let the model sample special tokens ([PAD], ...)",
    )
    add_sampling_args(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:  # the sampling flags, checked before the checkpoint is even read
        sampling = Sampling(args.temperature, args.top_k, args.top_p)
    except (TypeError, ValueError) as e:
        sys.exit(f"error: {in_flags(str(e), Sampling)}")
    try:
        if args.hf is not None:
            model = GPT.from_pretrained(args.hf)
            tokenizer = load_pretrained_tokenizer(resolve(args.hf), model.config.vocab_size)
        else:
            ckpt = load_generator(args.checkpoint or find_checkpoint(args.out))
            model, tokenizer = ckpt.model, ckpt.tokenizer
    except (CheckpointError, ValueError, FileNotFoundError) as e:  # PretrainedError included
        where = (
            ""
            if args.hf is None
            else "--hf "
            if str(e).startswith(args.hf)
            else f"--hf {args.hf}: "
        )
        sys.exit(f"error: {where}{e}")  # (an error that names the folder already is not repeated)
    try:
        tokenizer.encode(args.prompt)
    except ValueError as e:  # a character the char tokenizer never saw
        sys.exit(f"error: --prompt {args.prompt!r}: {str(e).removeprefix('text: ')}")
    try:
        for i in range(args.num_samples):
            text = generate_text(
                model,
                tokenizer,
                args.prompt,
                args.max_new_tokens,
                **vars(sampling),
                seed=args.seed + i,
                use_cache=not args.no_cache,
                allow_special=args.allow_special,
            )
            print(text)
            print("-" * 40)
    except ValueError as e:
        sys.exit(f"error: {e}")

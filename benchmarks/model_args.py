"""The flags that shape the model in the timing benchmarks (generate.py, train_step.py), and the
GPTConfig they describe: one place, so that both scripts take the same names and defaults."""

from tinytransformer import GPTConfig


def add_model_args(parser, block_size):
    """Add --block-size (default `block_size`), --n-layer, --n-head, --n-embd, --vocab-size and
    --dtype to an argparse parser. The defaults are the small preset with a 65-character vocab."""
    parser.add_argument("--block-size", type=int, default=block_size)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=65)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")


def model_config(args):
    """The GPTConfig of parsed flags, without dropout (timing does not depend on it)."""
    return GPTConfig(
        vocab_size=args.vocab_size,
        block_size=args.block_size,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=0.0,
    )

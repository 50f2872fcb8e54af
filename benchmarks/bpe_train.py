"""How fast is our BPE? Train on the first 500 kB of a text, then encode it, and print a table.

    pip install -e .                                     # once, so tinytransformer imports
    python benchmarks/bpe_train.py                       # the embedded python-docs corpus
    python benchmarks/bpe_train.py path/to/text.txt --vocab-size 1024 --repeats 5

Columns: training time (median of --repeats runs, and the fastest), encode throughput of a fresh
tokenizer (cold: every chunk encoded by merging) and of the same tokenizer again (warm: every
chunk found in the per-chunk cache), the time to encode one word of 100,000 random letters (a
single chunk: the merge engine alone, which grows about linearly with the word), and the
compression ratio (UTF-8 bytes per token).
"""

import argparse
import random
import statistics
import string
import time

from tinytransformer import BPETokenizer, load_corpus


def first_bytes(text, n_bytes):
    """The longest prefix of `text` whose UTF-8 form has at most `n_bytes` bytes."""
    # errors="ignore" drops a multi-byte character cut in half at the end.
    return text.encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore")


def timed(f, *args):
    start = time.perf_counter()
    result = f(*args)
    return result, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "corpus", nargs="?", default="python-docs", help="a UTF-8 text file, or python-docs"
    )
    parser.add_argument("--bytes", type=int, default=500_000, help="train on this many bytes")
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="training runs to take a median")
    args = parser.parse_args(argv)

    text = first_bytes(load_corpus(args.corpus), args.bytes)
    n_bytes = len(text.encode("utf-8"))
    times = []
    for _ in range(args.repeats):
        tok, seconds = timed(BPETokenizer.train, text, args.vocab_size)
        times.append(seconds)
    fresh = BPETokenizer(tok.merges)  # same merges, empty chunk cache
    ids, cold = timed(fresh.encode, text)
    _, warm = timed(fresh.encode, text)
    assert fresh.decode(ids) == text, "round trip failed"
    word = "".join(random.Random(0).choices(string.ascii_lowercase, k=100_000))
    word_ids, word_seconds = timed(BPETokenizer(tok.merges).encode, word)
    assert fresh.decode(word_ids) == word, "round trip failed"

    mb = n_bytes / 1e6
    rows = [
        ("corpus", f"{args.corpus} (first {n_bytes:,} bytes)"),
        ("vocab size", f"{tok.vocab_size} ({len(tok.merges)} merges)"),
        ("train time, median", f"{statistics.median(times):.2f} s over {args.repeats} runs"),
        ("train time, fastest", f"{min(times):.2f} s"),
        ("encode, cold cache", f"{mb / cold:.2f} MB/s ({cold:.2f} s)"),
        ("encode, warm cache", f"{mb / warm:.2f} MB/s ({warm:.2f} s)"),
        ("encode, a 100,000-letter word", f"{word_seconds:.3f} s ({len(word_ids):,} tokens)"),
        ("compression", f"{n_bytes / len(ids):.2f} bytes/token ({len(ids):,} tokens)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()

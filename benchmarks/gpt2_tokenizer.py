"""Encoding speed of our GPT-2 tokenizer (pure Python) against tiktoken (Rust), in the same run,
on the same texts, with the same two vocabulary files; and their agreement.

    pip install -r requirements-reference.txt      # tiktoken
    python benchmarks/gpt2_tokenizer.py            # every text below
    python benchmarks/gpt2_tokenizer.py word-16k python-docs path/to/text.txt --repeats 5

Texts: a corpus name or a file, or one of the generated texts, made from a seeded random
generator so that every run times the same text:

    word-1k, word-16k, word-100k   one word of 1,000 / 16,000 / 100,000 random lowercase letters:
                                   a single piece for the pre-tokenizer, so its time is the merge
                                   loop's alone (a quadratic merge loop shows here)
    random-words-1MB               1 MB of random lowercase words of 1 to 12 letters, one space
                                   apart: almost every word is new, so the cache does not help

Rows: ours with a cold cache (a fresh tokenizer: every distinct piece goes through BPE), ours
with a warm cache (the second pass over the same text: each piece is one dict lookup), and
tiktoken. Medians over --repeats alternating rounds; MB/s of UTF-8 input; the ids of both are
asserted to be identical.
"""

import argparse
import json
import random
import statistics
import string
import time

from tinytransformer import load_corpus, load_gpt2_tokenizer
from tinytransformer.text.gpt2_tokenizer import PATTERN, GPT2Tokenizer, bytes_to_unicode

SHAKESPEARE = "/work/shared/data/tinyshakespeare.txt"  # on the development machine
DEFAULT_TEXTS = ["word-1k", "word-16k", "word-100k", "random-words-1MB", "python-docs", SHAKESPEARE]


def random_word(n_letters, seed=0):
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_lowercase, k=n_letters))


def random_words(n_bytes, seed=0):
    rng = random.Random(seed)
    words, size = [], 0
    while size < n_bytes:
        words.append("".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 12))))
        size += len(words[-1]) + 1
    return " ".join(words)


GENERATED = {
    "word-1k": lambda: random_word(1_000),
    "word-16k": lambda: random_word(16_000),
    "word-100k": lambda: random_word(100_000),
    "random-words-1MB": lambda: random_words(1_000_000),
}


def tiktoken_encoding(tok):
    import tiktoken

    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    ranks = {bytes(to_byte[c] for c in s): i for s, i in tok.encoder.items() if i != tok.eot_id}
    return tiktoken.Encoding(
        "gpt2-files",
        pat_str=PATTERN,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": tok.eot_id},
    )


def timed(fn, text):
    start = time.perf_counter()
    ids = fn(text)
    return time.perf_counter() - start, ids


def measure(name, base, enc, repeats):
    """Time the three rows on one text; print them and return their medians."""
    text = GENERATED[name]() if name in GENERATED else load_corpus(name)
    mb = len(text.encode("utf-8")) / 1e6
    seconds = {"ours, cold cache": [], "ours, warm cache": [], "tiktoken": []}
    for _ in range(repeats):
        fresh = GPT2Tokenizer(base.encoder, sorted(base.ranks, key=base.ranks.get))
        t, ours = timed(fresh.encode, text)
        seconds["ours, cold cache"].append(t)
        seconds["ours, warm cache"].append(timed(fresh.encode, text)[0])
        t, theirs = timed(enc.encode_ordinary, text)
        seconds["tiktoken"].append(t)
        assert ours == theirs, f"{name}: the two tokenizers disagree"
    print(f"\n{name}: {len(text):,} characters, {mb:.2f} MB, {len(ours):,} tokens (identical ids)")
    print(f"{'':18s}{'median s':>10s}{'MB/s':>9s}{'vs tiktoken':>13s}")
    ref = statistics.median(seconds["tiktoken"])
    for row, ts in seconds.items():
        med = statistics.median(ts)
        print(f"{row:18s}{med:10.4f}{mb / med:9.2f}{med / ref:12.1f}x")
    return {row: statistics.median(ts) for row, ts in seconds.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "texts",
        nargs="*",
        default=DEFAULT_TEXTS,
        help=f"corpus names, files or generated texts ({', '.join(GENERATED)})",
    )
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    base = load_gpt2_tokenizer()
    enc = tiktoken_encoding(base)
    medians = {name: measure(name, base, enc, args.repeats) for name in args.texts}
    print(json.dumps(medians))


if __name__ == "__main__":
    main()

"""Encoding speed of our GPT-2 tokenizer (pure Python) against tiktoken (Rust), in the same run,
on the same text, with the same two vocabulary files; and their agreement.

    pip install -r requirements-reference.txt      # tiktoken
    python benchmarks/gpt2_tokenizer.py            # the embedded python-docs corpus
    python benchmarks/gpt2_tokenizer.py path/to/text.txt --repeats 5

Rows: ours with a cold cache (a fresh tokenizer: every distinct piece goes through BPE), ours
with a warm cache (the second pass over the same text: each piece is one dict lookup), and
tiktoken. Medians over --repeats alternating rounds; MB/s of UTF-8 input.
"""

import argparse
import json
import statistics
import time

from tinytransformer import load_corpus, load_gpt2_tokenizer
from tinytransformer.text.gpt2_tokenizer import PATTERN, GPT2Tokenizer, bytes_to_unicode


def tiktoken_encoding(tok):
    import tiktoken

    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    ranks = {bytes(to_byte[c] for c in s): i for s, i in tok.encoder.items() if i != tok.eot_id}
    return tiktoken.Encoding("gpt2-files", pat_str=PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": tok.eot_id})  # fmt: skip


def timed(fn, text):
    start = time.perf_counter()
    ids = fn(text)
    return time.perf_counter() - start, ids


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("text", nargs="?", default="python-docs", help="a corpus name or a file")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    text = load_corpus(args.text)
    mb = len(text.encode("utf-8")) / 1e6
    base = load_gpt2_tokenizer()
    enc = tiktoken_encoding(base)
    seconds = {"ours, cold cache": [], "ours, warm cache": [], "tiktoken": []}
    for _ in range(args.repeats):
        fresh = GPT2Tokenizer(base.encoder, sorted(base.ranks, key=base.ranks.get))
        t, ours = timed(fresh.encode, text)
        seconds["ours, cold cache"].append(t)
        seconds["ours, warm cache"].append(timed(fresh.encode, text)[0])
        t, theirs = timed(enc.encode_ordinary, text)
        seconds["tiktoken"].append(t)
    assert ours == theirs, "the two tokenizers disagree"
    print(f"{args.text}: {len(text):,} characters, {mb:.2f} MB, {len(ours):,} tokens "
          f"(identical ids from both)")  # fmt: skip
    print(f"{'':18s}{'median s':>10s}{'MB/s':>9s}{'vs tiktoken':>13s}")
    ref = statistics.median(seconds["tiktoken"])
    for name, ts in seconds.items():
        med = statistics.median(ts)
        print(f"{name:18s}{med:10.3f}{mb / med:9.2f}{med / ref:12.1f}x")
    print(json.dumps({k: statistics.median(v) for k, v in seconds.items()}))


if __name__ == "__main__":
    main()

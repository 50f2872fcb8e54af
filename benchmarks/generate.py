"""How much does the KV cache speed up generation? Greedy decoding with and without it.

    pip install -e .                           # once, so tinytransformer imports
    python benchmarks/generate.py              # 4 layers, 128 wide, block_size 256
    python benchmarks/generate.py --new-tokens 100 --runs 5 --dtype float64

Without the cache every new token runs the whole context (up to block_size tokens) through the
model again; with it, only the newest token goes through, attending to the keys and values kept
from earlier steps. Both decode greedily (temperature 0) from the same prompt, so their outputs
must agree token for token; the script checks that and exits with an error if they do not.
The model is randomly initialised: speed does not depend on what the weights have learnt.

Columns: median seconds over --runs runs, tokens per second (new tokens / median seconds), and
the fastest run; then the speedup of the cache (ratio of the medians).
"""

import argparse
import statistics
import sys
import time

import numpy as np
from model_args import add_model_args, model_config

from tinytransformer import GPT


def timed_generate(model, prompt, new_tokens, use_cache):
    start = time.perf_counter()
    out = model.generate(prompt, new_tokens, temperature=0, use_cache=use_cache)
    return out, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser, block_size=256)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="runs per mode; the median is shown")
    args = parser.parse_args(argv)

    config = model_config(args)
    model = GPT(config, seed=0, dtype=args.dtype).eval()
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, config.vocab_size, size=(1, args.prompt_tokens))

    model.generate(prompt, 4, temperature=0)  # warm-up: first calls pay for imports and caches
    outputs, seconds = {}, {True: [], False: []}
    for _ in range(args.runs):  # alternate the two modes, so that machine load hits both alike
        for use_cache in (True, False):
            outputs[use_cache], s = timed_generate(model, prompt, args.new_tokens, use_cache)
            seconds[use_cache].append(s)

    print(
        f"config: n_layer={args.n_layer} n_head={args.n_head} n_embd={args.n_embd} "
        f"block_size={args.block_size} V={args.vocab_size} {args.dtype}; prompt "
        f"{args.prompt_tokens} tokens, {args.new_tokens} new tokens, greedy, {args.runs} runs"
    )
    print(f"{'':14} {'median s':>9} {'tokens/s':>9} {'fastest s':>10}")
    for use_cache, name in ((True, "KV cache"), (False, "no cache")):
        med = statistics.median(seconds[use_cache])
        print(f"{name:14} {med:9.3f} {args.new_tokens / med:9.0f} {min(seconds[use_cache]):10.3f}")
    speedup = statistics.median(seconds[False]) / statistics.median(seconds[True])
    print(f"speedup of the KV cache (median no cache / median cache): {speedup:.1f}x")

    same = np.array_equal(outputs[True], outputs[False])
    print(f"greedy outputs identical with and without the cache: {same}")
    if not same:
        first = int(np.argmax(outputs[True][0] != outputs[False][0]))
        print(f"first difference at position {first}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

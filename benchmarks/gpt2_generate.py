"""Generation at GPT-2 small's size (124M parameters, random weights): our NumPy GPT with and
without its KV cache, and Hugging Face's GPT2LMHeadModel.generate on torch CPU, in the same run.

    pip install -r requirements-reference.txt      # torch==2.13.0 CPU, transformers
    python benchmarks/gpt2_generate.py             # batch 1, a 16-token prompt, 50 new tokens

Both models hold the same weights (saved once as a Hugging Face directory, then loaded by each:
the load time is that of from_pretrained), decode greedily, and so must produce the same tokens
(asserted: a float32 tie between two logits could in principle break it). Rows alternate
between the models over --repeats rounds; medians. Peak memory: tracemalloc's peak during our
generation (NumPy reports its buffers to it), and for torch the growth of the process's maximum
resident set while it generates (torch's allocations are invisible to tracemalloc).
"""

import argparse
import resource
import statistics
import tempfile
import time
import tracemalloc

import numpy as np

from tinytransformer import GPT, PRESETS, GPTConfig


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompt-tokens", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = p.parse_args()
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="gpt2-random-") as folder:  # 500 MB, removed after
        GPT(GPTConfig(**PRESETS["gpt2"]), seed=0).save_pretrained(folder)
        t0 = time.perf_counter()
        ours = GPT.from_pretrained(folder)
        load_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
        load_theirs = time.perf_counter() - t0

    prompt = np.random.default_rng(0).integers(0, 50257, size=(1, args.prompt_tokens))
    seconds = {"ours, KV cache": [], "ours, no cache": [], "transformers": []}
    outputs, peaks = {}, {}
    for _ in range(args.repeats):
        for use_cache, name in ((True, "ours, KV cache"), (False, "ours, no cache")):
            tracemalloc.start()
            t0 = time.perf_counter()
            outputs[name] = ours.generate(prompt, args.new_tokens, temperature=0,
                                          use_cache=use_cache)  # fmt: skip
            seconds[name].append(time.perf_counter() - t0)
            peaks[name] = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
        before = rss_mb()
        with torch.no_grad():
            t0 = time.perf_counter()
            out = theirs.generate(torch.from_numpy(prompt), max_new_tokens=args.new_tokens,
                                  min_new_tokens=args.new_tokens, do_sample=False,
                                  pad_token_id=50256)  # fmt: skip
            seconds["transformers"].append(time.perf_counter() - t0)
        outputs["transformers"] = out.numpy()
        peaks["transformers"] = rss_mb() - before
    differ = [n for n in outputs if not np.array_equal(outputs[n], outputs["transformers"])]
    assert not differ, f"{differ}: other tokens than transformers' generate"
    same = not differ
    print(f"GPT-2 small shape, {ours.num_parameters():,} parameters, random weights; batch 1, "
          f"{args.prompt_tokens}-token prompt, {args.new_tokens} new tokens, greedy; "
          f"torch {torch.__version__} ({args.threads} threads); same tokens: {same}")  # fmt: skip
    print(f"load (from_pretrained): ours {load_ours:.2f} s, transformers {load_theirs:.2f} s")
    ref = statistics.median(seconds["transformers"])
    print(f"{'':16s}{'median s':>9s}{'tokens/s':>10s}{'vs transformers':>17s}{'peak MB':>9s}")
    for name, ts in seconds.items():
        med = statistics.median(ts)
        print(f"{name:16s}{med:9.2f}{args.new_tokens / med:10.1f}{med / ref:16.2f}x"
              f"{peaks[name]:9.0f}")  # fmt: skip
    print("peak MB: ours, tracemalloc's peak while generating; transformers, the growth of the "
          "process's max RSS while generating (0 once an earlier round reached it)")  # fmt: skip


if __name__ == "__main__":
    main()

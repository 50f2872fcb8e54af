"""Generation at GPT-2 small's size (124M parameters, random weights): our NumPy GPT against Hugging
Face's GPT2LMHeadModel.generate on torch CPU, and both against the memory-bandwidth bound measured
in the same run.

    pip install -r requirements-reference.txt      # torch==2.13.0 CPU, transformers
    python benchmarks/gpt2_generate.py             # batches 1, 4, 16 (16-token prompts), and
                                                   # batch 1 with a 512-token prompt; 50 tokens

Both models hold the same weights (saved once as a Hugging Face directory, then loaded by each),
decode greedily, and so must produce the same tokens (asserted for every setting: a float32 tie
between two logits could in principle break it).

The bound. A decode step reads every weight once: the 48 matrices of the 12 blocks and the tied
head, 497 MB in float32 (biases and layer norms are 0.1% of it). However fast the arithmetic, a
step cannot take less than the time the machine needs to stream those bytes through a matrix
product, so the script measures that: the model's own weight matrices, multiplied by a batch of
rows (x @ W for the blocks, x @ wte^T for the head, as the model computes them), with nothing
else, one pass per step. At batch 1 that is a matrix-vector product per weight, and bytes / its
time is the streaming bandwidth; bound tokens/s = batch / pass time, and "% of bound" is how
close a generation's tokens/s come to it. The bound counts no attention: with a 512-token prompt
the keys and values read per step (38 MB at batch 1) come on top, and the prompt's own pass is in
the generation's time but not in the bound.

Rows alternate between ours, transformers and the bound over --repeats rounds; medians. Peak
memory is measured once per setting, outside the timed runs (tracemalloc slows Python): our
tracemalloc peak while generating (NumPy reports its buffers to it).
"""

import argparse
import statistics
import tempfile
import time
import tracemalloc

import numpy as np

from tinytransformer import GPT, PRESETS, GPTConfig
from tinytransformer.models.transformer import WTE

SWITCH_PAUSE = 0.3  # seconds between rows: BLAS worker threads spin a while after their last call


def weight_matrices(model):
    """The weights a decode step streams: the blocks' matrices (multiplied as x @ W) and the
    tied head (x @ wte^T)."""
    out = []
    for i in range(model.config.n_layer):
        for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            out.append(model.params[f"transformer.h.{i}.{name}.weight"])
    return out, model.params[WTE]


def stream_weights(blocks, head, x):
    """One pass over every weight with the rows x (B, 4C): the matrix products of a decode step
    and nothing else."""
    C = head.shape[1]
    for w in blocks:
        x[:, : w.shape[0]] @ w  # (B, Cin) @ (Cin, Cout)
    x[:, :C] @ head.T  # (B, C) @ (C, V): the tied head


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", default="1,4,16", help="batch sizes with --prompt-tokens")
    p.add_argument("--prompt-tokens", type=int, default=16)
    p.add_argument("--long-prompt", type=int, default=512, help="batch 1 with this prompt; 0: none")
    p.add_argument("--new-tokens", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--no-cache-row", action="store_true", help="also time ours without the cache")
    args = p.parse_args()
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="gpt2-random-") as folder:  # 500 MB, removed after
        GPT(GPTConfig(**PRESETS["gpt2"]), seed=0).save_pretrained(folder)
        ours, load_ours = timed(GPT.from_pretrained, folder)
        theirs, load_theirs = timed(transformers.GPT2LMHeadModel.from_pretrained, folder)
        theirs.eval()
    blocks, head = weight_matrices(ours)
    weight_bytes = sum(w.nbytes for w in blocks) + head.nbytes
    n = args.new_tokens

    settings = [(int(b), args.prompt_tokens) for b in args.batches.split(",")]
    if args.long_prompt:
        settings.append((1, args.long_prompt))
    rng = np.random.default_rng(0)
    prompts = {s: rng.integers(0, 50257, size=s) for s in settings}  # (B, T) each
    rows = ["ours", "transformers", "bound"] + (["ours, no cache"] if args.no_cache_row else [])
    seconds = {(s, r): [] for s in settings for r in rows}
    outputs = {}

    def run(setting, row):
        prompt = prompts[setting]
        if row == "bound":  # n passes over the weights with B rows: the decode steps' products
            x = rng.standard_normal((setting[0], 4 * ours.config.n_embd)).astype(ours.dtype)
            return None, sum(timed(stream_weights, blocks, head, x)[1] for _ in range(n))
        if row == "transformers":
            with torch.no_grad():
                ids = torch.from_numpy(prompt)
                out, s = timed(
                    theirs.generate,
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=n,
                    min_new_tokens=n,
                    do_sample=False,
                    pad_token_id=50256,
                )
            return out.numpy(), s
        return timed(ours.generate, prompt, n, temperature=0, use_cache=row == "ours")

    for setting in settings:  # warm-up: first calls pay for page faults and lazy imports
        run(setting, "ours")
        run(setting, "transformers")
    for _ in range(args.repeats):  # alternate the rows, so that machine load hits all alike
        for setting in settings:
            for row in rows:
                if row == "ours, no cache" and setting != settings[0]:
                    continue
                time.sleep(SWITCH_PAUSE)
                out, s = run(setting, row)
                seconds[setting, row].append(s)
                if out is not None:
                    outputs[setting, row] = out
    for setting in settings:
        differ = [
            r
            for r in rows
            if (setting, r) in outputs
            and not np.array_equal(outputs[setting, r], outputs[setting, "transformers"])
        ]
        assert not differ, f"{setting}: {differ} gave other tokens than transformers' generate"
    peaks = {}
    for setting in settings:
        tracemalloc.start()
        ours.generate(prompts[setting], n, temperature=0)
        peaks[setting] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()

    print(
        f"GPT-2 small shape, {ours.num_parameters():,} parameters, random weights, float32; "
        f"{n} new tokens, greedy; numpy {np.__version__}, torch {torch.__version__} "
        f"({args.threads} threads), transformers {transformers.__version__}; "
        f"{args.repeats} rounds, medians; same tokens as transformers: asserted"
    )
    print(
        f"load (from_pretrained): ours {load_ours:.2f} s, transformers {load_theirs:.2f} s; "
        f"weights streamed per step: {weight_bytes / 1e6:.0f} MB"
    )
    print(
        f"{'batch x prompt':15}{'row':>16}{'s':>8}{'tokens/s':>10}{'% of bound':>11}"
        f"{'vs transformers':>16}{'GB/s':>7}{'peak MB':>8}"
    )
    for setting in settings:
        B, T = setting
        med = {r: statistics.median(seconds[setting, r]) for r in rows if seconds[setting, r]}
        bound_rate = B * n / med["bound"]
        for row, s in med.items():
            rate = B * n / s
            speed = f"{rate / (B * n / med['transformers']):15.2f}x" if row != "bound" else ""
            gbs = f"{weight_bytes * n / s / 1e9:7.1f}" if row == "bound" else ""
            peak = f"{peaks[setting]:8.0f}" if row == "ours" else ""
            print(
                f"{f'{B} x {T}':15}{row:>16}{s:8.2f}{rate:10.1f}{rate / bound_rate:10.0%} "
                f"{speed:>16}{gbs:>7}{peak:>8}"
            )
    print(
        "tokens/s: batch x new tokens / median seconds of the whole generate call (the prompt's "
        "pass included); bound: the same number of passes over the weights with batch rows, "
        "matrix products only; GB/s: the bound's weight bytes per second"
    )


if __name__ == "__main__":
    main()

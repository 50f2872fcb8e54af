"""Evaluation: `python -m tinytransformer eval`.

Two jobs:
- with a trained run (--out DIR): perplexity on a split of its corpus and generation latency
  (time to first token, tokens per second, p50/p95), printed and written to DIR/eval.json;
- with --task HYP REF [REF ...]: BLEU and ROUGE of a file of outputs against reference files,
  one segment per line.
The metrics themselves live in metrics.py (bleu.py, rouge.py); this file only wires them up.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from tinytransformer.checkpoint import CheckpointError, find_checkpoint, load_generator
from tinytransformer.checks import positive_int
from tinytransformer.files import write_atomic


def evaluate_run(out, checkpoint=None, split="val", n_prompts=5, prompt_tokens=16,
                 max_new_tokens=50, seed=0, progress=True):  # fmt: skip
    """Perplexity of the run's model on a split of its corpus, and generation latency."""
    from tinytransformer.data import prepare_data
    from tinytransformer.metrics import measure_latency, perplexity

    path = checkpoint or find_checkpoint(out)
    ckpt = load_generator(path)
    args = ckpt.meta["extra"].get("args", {})
    _, data = prepare_data(args.get("data", "python-docs"), tokenizer=ckpt.tokenizer)
    ids = data.train_ids if split == "train" else data.val_ids
    model = ckpt.model
    ppl = perplexity(model, ids, progress=progress)
    # latency prompts: windows of the same split, at evenly spaced offsets
    starts = np.linspace(0, len(ids) - prompt_tokens - 1, n_prompts).astype(int)
    prompts = [ids[s : s + prompt_tokens] for s in starts]
    lat = measure_latency(
        model, prompts, max_new_tokens, temperature=0.8, top_k=40, rng=np.random.default_rng(seed)
    )
    return {
        "checkpoint": str(path),
        "step": ckpt.step,
        "split": split,
        "perplexity": ppl.perplexity,
        "nll": ppl.nll,
        "n_tokens": ppl.n_tokens,
        "latency": lat.to_dict(),
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m tinytransformer eval",
        description="Perplexity and latency of a trained model, or BLEU/ROUGE of output files.",
    )
    p.add_argument("--out", default="out", help="the training run's directory")
    p.add_argument("--checkpoint", default=None, help="a checkpoint file (default: best)")
    p.add_argument("--split", default="val", choices=("train", "val"))
    p.add_argument(
        "--max-new-tokens", type=positive_int, default=50, help="tokens per latency prompt"
    )
    p.add_argument("--prompts", type=positive_int, default=5, help="number of latency prompts")
    p.add_argument("--task", nargs="+", metavar="FILE", default=None,
                   help="HYPOTHESES REFERENCES [REFERENCES ...]: score BLEU and ROUGE")  # fmt: skip
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        if args.task:
            from tinytransformer.metrics import score_files

            if len(args.task) < 2:
                p.error("--task needs a hypotheses file and at least one references file")
            result = score_files(args.task[0], args.task[1:])
            print(json.dumps(result, indent=2))
            return
        result = evaluate_run(
            args.out, args.checkpoint, args.split, args.prompts,
            max_new_tokens=args.max_new_tokens, progress=not args.quiet,
        )  # fmt: skip
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    lat = result["latency"]
    print(
        f"{result['split']} perplexity {result['perplexity']:.3f} "
        f"(mean NLL {result['nll']:.4f} over {result['n_tokens']:,} tokens)"
    )
    print(
        f"latency over {lat['n_responses']} prompts x {args.max_new_tokens} tokens: "
        f"time to first token p50 {lat['ttft_p50_s'] * 1e3:.1f} ms, "
        f"p95 {lat['ttft_p95_s'] * 1e3:.1f} ms; response p50 {lat['latency_p50_s']:.3f} s, "
        f"p95 {lat['latency_p95_s']:.3f} s; {lat['mean_tokens_per_s']:.0f} tokens/s"
    )
    path = Path(args.out) / "eval.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(result, indent=2).encode())
    print(f"wrote {path}")

"""Does pretraining help? Test accuracy on the topic classification task (tasks.py) of

    (a) the encoder trained from scratch            (a') the GPT trained from scratch
    (b) fine-tuned from the masked-LM checkpoint    (c) fine-tuned from the GPT checkpoint
    (d) the masked-LM checkpoint with only its last block (and the head) unfrozen

over several seeds, with wall time per fine-tuning step. Both pretraining runs read
python-docs-pretrain, which leaves out the task's val and test paragraphs.

    python benchmarks/transfer.py                       # pretrain both, then 5 x 3 fine-tunings
    python benchmarks/transfer.py --pretrain-iters 3000 --seeds 0 1 2 --out out-transfer

Pretrained checkpoints in OUT are reused when present (delete them to pretrain again).
Prints a table and writes OUT/transfer.json.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tinytransformer import finetune as ft
from tinytransformer import train as tr


def pretrain(objective, out, args):
    ckpt = out / "ckpt.npz"
    if ckpt.is_file():
        print(f"reusing {ckpt}")
        return ckpt
    argv = [
        "--objective",
        objective,
        "--data",
        "python-docs-pretrain",
        "--preset",
        args.preset,
        "--block-size",
        str(args.block_size),
        "--max-iters",
        str(args.pretrain_iters),
        "--eval-interval",
        "250",
        "--eval-iters",
        "20",
        "--out",
        str(out),
        "--quiet",
    ]
    t0 = time.perf_counter()
    tr.train(tr.build_parser().parse_args(argv))
    print(f"pretrained {objective} in {time.perf_counter() - t0:.0f} s")
    return ckpt


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out-transfer")
    p.add_argument("--preset", default="small")
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--pretrain-iters", type=int, default=2000)
    p.add_argument("--finetune-iters", type=int, default=400)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    out = Path(args.out)
    mlm = pretrain("mlm", out / "pretrain-mlm", args)
    gpt = pretrain("clm", out / "pretrain-gpt", args)
    common = ["--preset", args.preset, "--max-iters", str(args.finetune_iters), "--quiet"]
    runs = {
        "(a) encoder from scratch": ["--arch", "mlm"],
        "(a') GPT from scratch": ["--arch", "gpt"],
        "(b) fine-tuned from masked LM": ["--init-from", str(mlm)],
        "(c) fine-tuned from GPT": ["--init-from", str(gpt)],
        "(d) masked LM, last block only": ["--init-from", str(mlm), "--trainable-blocks", "1"],
    }
    results = {}
    for name, extra in runs.items():
        results[name] = []
        for seed in args.seeds:
            argv = (
                common
                + extra
                + ["--seed", str(seed), "--out", str(out / "ft" / f"{name[:4]}{seed}")]
            )
            if "--init-from" not in extra:
                argv += ["--block-size", str(args.block_size)]
            r, _ = ft.finetune(ft.build_parser().parse_args(argv), log=lambda *a: None)
            results[name].append(r)
            print(
                f"{name} seed {seed}: test acc {r['test_acc']:.3f}, {r['ms_per_step']:.1f} ms/step"
            )
    print(f"\n| run | test accuracy (mean ± sd over {len(args.seeds)} seeds) | macro F1 | "
          "trainable params | ms/step |\n|---|---|---|---|---|")  # fmt: skip
    summary = {}
    for name, rs in results.items():
        acc = np.array([r["test_acc"] for r in rs])
        f1 = np.array([r["test_macro_f1"] for r in rs])
        ms = np.median([r["ms_per_step"] for r in rs])
        summary[name] = {"test_acc": acc.tolist(), "test_macro_f1": f1.tolist(), "ms_per_step": ms,
                         "trainable_parameters": rs[0]["trainable_parameters"]}  # fmt: skip
        print(f"| {name} | {acc.mean():.3f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.3f} | "
              f"{f1.mean():.3f} | {rs[0]['trainable_parameters']:,} | {ms:.1f} |")  # fmt: skip
    (out / "transfer.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

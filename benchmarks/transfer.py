"""Does pretraining help? Test accuracy on the topic classification task (text/topic_task.py) of

    (a) the encoder trained from scratch            (a') the GPT trained from scratch
    (b) fine-tuned from the masked-LM checkpoint    (c) fine-tuned from the GPT checkpoint
    (d) the masked-LM checkpoint with only its last block (and the head) unfrozen
    (d') the same for the GPT checkpoint

over several seeds, with wall time per fine-tuning step. Both pretraining runs read
python-docs-pretrain by default, pydoc's topics without the task's val and test text (0.28 MB);
`--data python-docs-stdlib-pretrain` adds the standard library's docstrings (2.1 MB in all,
docstrings.py), again without the held-out text.

    python benchmarks/transfer.py                       # pretrain both, then 6 x 3 fine-tunings
    python benchmarks/transfer.py --block-size 64 --mlm-iters 2000 --seeds 0 1 2 --out out-64

The masked LM gets more pretraining steps than the GPT by default (6000 against 2000): it is
scored on the 15% of positions it masks, so a step teaches it less, and at 2000 steps with
block 256 its loss has not yet left the plateau of a model that ignores its context (2.46).
The context is 256 characters because the task's paragraphs are: with 64, a model sees the
first ten words of a paragraph whose median length is 148 characters.

The work is kept in OUT, so an interrupted run picks up where it stopped: a pretraining run
with the same flags is reused when finished and resumed when not (other flags are an error:
delete it or choose another OUT), and a fine-tuning run is reused when its
OUT/ft/<run>/results.json was written with the same arguments.
Prints a table and writes OUT/transfer.json.
"""

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from tinytransformer.commands import finetune as finetune_command
from tinytransformer.commands.args import settings_given
from tinytransformer.training.checkpoint import load_checkpoint
from tinytransformer.training.config import FinetuneConfig, PretrainConfig
from tinytransformer.training.finetune import finetune
from tinytransformer.training.pretrain import pretrain as pretrain_run
from tinytransformer.training.pretrain import resume, saved_config


def pretrain(model, out, args):
    """-> the checkpoint of a finished pretraining run in `out`: reused if one is there with
    the same settings, resumed if it stopped early, else trained from the start."""
    ckpt = out / "ckpt.npz"
    config = PretrainConfig(
        model=model,
        data=args.data,
        preset=args.preset,
        tokenizer=args.tokenizer,
        block_size=args.block_size,
        max_iters=args.mlm_iters if model == "mlm" else args.clm_iters,
        eval_interval=250,
        eval_iters=20,
    )
    t0 = time.perf_counter()
    if ckpt.is_file():
        done = load_checkpoint(ckpt)
        if saved_config(done) != config:
            raise SystemExit(
                f"{ckpt} was pretrained with other settings: delete {out} or use --out"
            )
        if done.step >= config.max_iters:
            print(f"reusing {ckpt} (step {done.step})")
            return ckpt
        print(f"{ckpt} stopped at step {done.step} of {config.max_iters}: resuming")
        resume(out)
    else:
        pretrain_run(config, out)
    print(f"pretrained {model} in {time.perf_counter() - t0:.0f} s")
    return ckpt


def _one_blas_thread():
    try:  # threadpoolctl is optional; without it, set OPENBLAS_NUM_THREADS=1 yourself
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def _finetune(argv):
    """-> the results of `finetune argv`: those in its --out directory if a finished run left
    them there with the same arguments, else from a new run. A flag added to finetune after
    the run counts as given its default, which is what the run did."""
    args = finetune_command.build_parser().parse_args(argv)
    config = FinetuneConfig(**settings_given(args, FinetuneConfig))
    done = Path(args.out) / "results.json"
    if done.is_file():
        results = json.loads(done.read_text())
        if "config" in results and FinetuneConfig.from_dict(results["config"]) == config:
            return results
    results, _ = finetune(config, args.out)
    return results


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out-transfer")
    p.add_argument("--data", default="python-docs-pretrain",
                   choices=("python-docs-pretrain", "python-docs-stdlib-pretrain"),
                   help="pretraining corpus (both without the task's val/test text)")  # fmt: skip
    p.add_argument("--preset", default="small")
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--clm-iters", type=int, default=2000, help="GPT pretraining steps")
    p.add_argument("--mlm-iters", type=int, default=6000, help="masked-LM pretraining steps")
    p.add_argument("--finetune-iters", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--tokenizer", default="char", choices=("char", "bpe"))
    p.add_argument("--pooling", default=None, choices=("cls", "mean", "last"),
                   help="default: [CLS] for the encoder, the last token for the GPT")  # fmt: skip
    p.add_argument("--jobs", type=int, default=2, help="fine-tuning runs at a time")
    return p


def finetuning_jobs(args, mlm, gpt):
    """-> [(row name, seed, finetune argv)] for the six rows and every seed."""
    common = ["--max-iters", str(args.finetune_iters), "--quiet"]
    common += ["--pooling", args.pooling] if args.pooling else []
    rows = {  # the scratch runs take the pretrained model's config and tokenizer, not its weights
        "(a) encoder from scratch": ["--init-from", str(mlm), "--scratch"],
        "(a') GPT from scratch": ["--init-from", str(gpt), "--scratch"],
        "(b) fine-tuned from masked LM": ["--init-from", str(mlm)],
        "(c) fine-tuned from GPT": ["--init-from", str(gpt)],
        "(d) masked LM, last block only": ["--init-from", str(mlm), "--trainable-blocks", "1"],
        "(d') GPT, last block only": ["--init-from", str(gpt), "--trainable-blocks", "1"],
    }
    ft_dir = Path(args.out) / "ft"
    return [(name, seed, common + extra + ["--seed", str(seed), "--out",
             str(ft_dir / f"{name[:4]}{seed}")]) for name, extra in rows.items()
            for seed in args.seeds]  # fmt: skip


def run_jobs(jobs, n_jobs):
    """Run the fine-tunings, each in its own process, n_jobs at a time (one BLAS thread each);
    -> {row name: [results of each seed, in seed order]}."""
    results = {name: {} for name, _, _ in jobs}
    with ProcessPoolExecutor(n_jobs, initializer=_one_blas_thread) as pool:
        futures = {pool.submit(_finetune, argv): (name, seed) for name, seed, argv in jobs}
        for future in as_completed(futures):
            name, seed = futures[future]
            r = future.result()
            results[name][seed] = r
            ms = r["ms_per_step"] or 0.0
            print(f"{name} seed {seed}: test acc {r['test_acc']:.3f}, {ms:.1f} ms/step", flush=True)
    return {name: [by_seed[s] for s in sorted(by_seed)] for name, by_seed in results.items()}


def main():
    args = build_parser().parse_args()
    out = Path(args.out)
    mlm = pretrain("mlm", out / "pretrain-mlm", args)
    gpt = pretrain("gpt", out / "pretrain-gpt", args)
    results = run_jobs(finetuning_jobs(args, mlm, gpt), args.jobs)
    print(f"\n| run | test accuracy (mean ± sd over {len(args.seeds)} seeds) | macro F1 | "
          "trainable params | ms/step |\n|---|---|---|---|---|")  # fmt: skip
    summary = {"args": vars(args)}
    for name, rs in results.items():
        acc = np.array([r["test_acc"] for r in rs])
        f1 = np.array([r["test_macro_f1"] for r in rs])
        ms = np.median([r["ms_per_step"] or np.nan for r in rs])
        summary[name] = {"test_acc": acc.tolist(), "test_macro_f1": f1.tolist(), "ms_per_step": ms,
                         "trainable_parameters": rs[0]["trainable_parameters"]}  # fmt: skip
        print(f"| {name} | {acc.mean():.3f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.3f} | "
              f"{f1.mean():.3f} | {rs[0]['trainable_parameters']:,} | {ms:.1f} |")  # fmt: skip
    (out / "transfer.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""Evaluation: `python -m tinytransformer eval`.

Two jobs:
- with a trained run (--out DIR): perplexity on a split of its corpus and generation latency
  (time to first token, tokens per second, p50/p95), printed and written to DIR/eval.json;
- with --task HYP REF [REF ...]: BLEU and ROUGE of a file of outputs against reference files,
  one segment per line.
The metrics themselves live in evaluation/ (perplexity, latency, bleu, rouge); this file reads
the run or the files, calls them and reports.
"""

import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tinytransformer.commands.args import add_run_flags, command_parser, positive_int
from tinytransformer.evaluation.bleu import corpus_bleu
from tinytransformer.evaluation.latency import measure_latency
from tinytransformer.evaluation.perplexity import perplexity
from tinytransformer.evaluation.rouge import DEFAULT_TYPES, corpus_rouge
from tinytransformer.files import describe_os_error, write_atomic
from tinytransformer.models.sampling import Sampling
from tinytransformer.text.corpora import CORPUS_NAMES
from tinytransformer.text.dataset import prepare_data
from tinytransformer.training.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_generator,
    saved_setting,
)


def evaluate_run(
    out,
    *,
    checkpoint=None,
    split="val",
    n_prompts=5,
    prompt_tokens=16,
    max_new_tokens=50,
    seed=0,
    progress=True,
    data=None,
):
    """Perplexity of the run's model on a split of its corpus, and generation latency.

    data: the corpus (a name or a path); default the one the run was trained on.
    """
    path = checkpoint or find_checkpoint(out)
    ckpt = load_generator(path)
    trained_on = saved_setting(ckpt, "data", "python-docs")
    corpus = trained_on if data is None else data
    if corpus not in CORPUS_NAMES and not Path(corpus).is_file():
        where = Path(corpus).resolve()
        if data is None:
            raise FileNotFoundError(
                f"{path} was trained on --data {corpus}, which is not there any more (looked "
                f"for {where}); pass --data PATH to point to where the text is now"
            )
        raise FileNotFoundError(f"--data {corpus}: no such file (looked for {where})")
    _, data = prepare_data(corpus, tokenizer=ckpt.tokenizer)
    ids = data.train_ids if split == "train" else data.val_ids
    model = ckpt.model
    ppl = perplexity(model, ids, progress=tqdm if progress else None)
    # latency prompts: windows of the same split, at evenly spaced offsets
    starts = np.linspace(0, len(ids) - prompt_tokens - 1, n_prompts).astype(int)
    prompts = [ids[s : s + prompt_tokens] for s in starts]
    sampling = Sampling(temperature=0.8, top_k=40)
    lat = measure_latency(model, prompts, max_new_tokens, sampling, rng=np.random.default_rng(seed))
    return {
        "checkpoint": str(path),
        "step": ckpt.step,
        "split": split,
        "perplexity": ppl.perplexity,
        "nll": ppl.nll,
        "n_tokens": ppl.n_tokens,
        "latency": lat.to_dict(),
    }


def read_segments(path):
    """The lines of a UTF-8 text file, without their line endings (one segment per line)."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]  # text mode already turned \r\n into \n


def score_files(hypotheses_path, reference_paths, metrics=("bleu", "rouge")):
    """BLEU and/or ROUGE of a file of system outputs against one or more reference files.

    Each file holds one segment per line (UTF-8), all with the same number of lines. BLEU is
    corpus BLEU with sacrebleu's defaults over every reference file; ROUGE is the mean F1 over
    lines of rouge1, rouge2, rougeL and rougeLsum (with several reference files, each line
    scores against its best reference). Returns a JSON-able dict.
    """
    if isinstance(reference_paths, str) or hasattr(reference_paths, "__fspath__"):
        reference_paths = [reference_paths]  # one reference file given on its own
    reference_paths = list(reference_paths)
    if not reference_paths:
        raise ValueError("reference_paths: expected at least one reference file, got none")
    unknown = [m for m in metrics if m not in ("bleu", "rouge")]
    if isinstance(metrics, str) or unknown:
        raise ValueError(f"metrics: expected a list drawn from ('bleu', 'rouge'), got {metrics!r}")

    hyps = read_segments(hypotheses_path)
    refs = [read_segments(p) for p in reference_paths]
    for path, stream in zip(reference_paths, refs, strict=True):
        if len(stream) != len(hyps):
            raise ValueError(
                f"reference_paths: {path} has {len(stream)} lines but the hypotheses file "
                f"{hypotheses_path} has {len(hyps)}; expected one line per segment in each"
            )
    if not hyps:
        raise ValueError(f"hypotheses_path: {hypotheses_path} is empty, expected segments")

    out = {"n_segments": len(hyps)}
    if "bleu" in metrics:
        b = corpus_bleu(hyps, refs)
        out["bleu"] = {
            "score": b.score,
            "precisions": list(b.precisions),
            "bp": b.bp,
            "sys_len": b.sys_len,
            "ref_len": b.ref_len,
        }
    if "rouge" in metrics:
        targets = refs[0] if len(refs) == 1 else [list(t) for t in zip(*refs, strict=True)]
        scores = corpus_rouge(targets, hyps, DEFAULT_TYPES)
        out["rouge"] = {name: s.fmeasure for name, s in scores.items()}
    return out


def main(argv=None):
    p = command_parser(
        "eval", "Perplexity and latency of a trained model, or BLEU/ROUGE of output files."
    )
    add_run_flags(p)
    p.add_argument("--split", default="val", choices=("train", "val"), help="which split")
    p.add_argument(
        "--max-new-tokens", type=positive_int, default=50, help="tokens per latency prompt"
    )
    p.add_argument("--prompts", type=positive_int, default=5, help="number of latency prompts")
    p.add_argument(
        "--task",
        nargs="+",
        metavar="FILE",
        default=None,
        help="HYPOTHESES REFERENCES [REFERENCES ...]: score BLEU and ROUGE",
    )
    p.add_argument("--data", default=None, help="the corpus to evaluate on (none: the run's own)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT/eval.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    path = Path(args.out) / "eval.json"
    if not args.task and path.exists() and not args.overwrite:
        sys.exit(f"error: {path} already exists; pass --overwrite to replace it")
    try:
        if args.task:
            if len(args.task) < 2:
                p.error("--task needs a hypotheses file and at least one references file")
            result = score_files(args.task[0], args.task[1:])
            print(json.dumps(result, indent=2))
            return
        result = evaluate_run(
            args.out,
            checkpoint=args.checkpoint,
            split=args.split,
            n_prompts=args.prompts,
            max_new_tokens=args.max_new_tokens,
            progress=not args.quiet,
            data=args.data,
        )
    except (CheckpointError, ValueError, FileNotFoundError, ConnectionError) as e:
        sys.exit(f"error: {e}")
    except OSError as e:
        sys.exit(f"error: {describe_os_error(e, 'reading the files')}")
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(result, indent=2).encode())
    except OSError as e:
        sys.exit(f"error: {describe_os_error(e, f'{path}: could not write')}")
    print(f"wrote {path}")

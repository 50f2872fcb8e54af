"""Evaluation: how good a model is (perplexity), how fast it answers (latency), and the text and
classification metrics, all importable from here.

- `perplexity(model, ids)`: exp of the mean negative log-likelihood (NLL) of every token of a
  split given the tokens before it (within a window of block_size). It is exp(mean NLL over all
  tokens), not the mean of per-batch perplexities: exp is convex, so averaging after exp would
  overstate it, and a short last batch would count as much as a full one.
- `measure_latency(model, prompts, max_new_tokens)`: time to first token, tokens per second and
  p50 / p95 over the responses.
- `score_files(hyp_path, ref_paths)`: BLEU and ROUGE of a file of outputs, one segment a line.
- Re-exported: `corpus_bleu`, `sentence_bleu` (bleu.py), `rouge`, `rouge_multi`, `corpus_rouge`
  (rouge.py), `accuracy`, `confusion_matrix`, `classification_report`, `plot_confusion_matrix`
  (classification.py).

The model contract: `logits, loss = model(idx, targets)` with idx, targets int (B, T), T at most
`model.config.block_size`, loss the mean cross-entropy over targets != -100; `model.training`,
`model.eval()`, `model.train()`; and `model.generate_iter(idx, max_new_tokens, **sampling)`
yielding one (B, 1) array per new token.

Left out: sliding-window (strided) perplexity, where every window after the first re-reads
earlier context; batched latency; memory use.
"""

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from tinytransformer.bleu import BLEUScore, corpus_bleu, sentence_bleu, tokenize_13a
from tinytransformer.classification import (
    ClassificationReport,
    accuracy,
    classification_report,
    confusion_matrix,
    plot_confusion_matrix,
)
from tinytransformer.model import evaluating
from tinytransformer.rouge import DEFAULT_TYPES, RougeScore, corpus_rouge, rouge, rouge_multi

__all__ = [
    "BLEUScore",
    "ClassificationReport",
    "LatencyResult",
    "PerplexityResult",
    "ResponseLatency",
    "RougeScore",
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "corpus_bleu",
    "corpus_rouge",
    "measure_latency",
    "perplexity",
    "plot_confusion_matrix",
    "rouge",
    "rouge_multi",
    "score_files",
    "sentence_bleu",
    "tokenize_13a",
]


# ----------------------------------------------------------------------------- perplexity


@dataclass
class PerplexityResult:
    """perplexity = exp(nll); nll is the mean NLL in nats per predicted token; n_tokens counts
    the predicted tokens (len(ids) - 1)."""

    perplexity: float
    nll: float
    n_tokens: int

    def to_dict(self):
        return asdict(self)


def perplexity(model, ids, block_size=None, batch_size=8, progress=True):
    """Perplexity of `model` on the 1-D token array `ids` (a whole split).

    ids is cut into non-overlapping windows of block_size inputs (default
    model.config.block_size); a window's targets are its inputs shifted by one, so every token
    but the first is predicted exactly once and the last window may be shorter. Full windows go
    through the model batch_size at a time, the short one alone, so nothing is padded. The
    model is put in eval mode and given back in the mode it was in.

    A model that gives every one of V tokens probability 1/V has perplexity exactly V.
    """
    if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer):
        got = getattr(ids, "dtype", type(ids).__name__)
        raise TypeError(f"ids: expected a numpy array of integer token ids, got {got}")
    if ids.ndim != 1:
        raise ValueError(f"ids: expected a 1-d array (a whole split), got shape {ids.shape}")
    if len(ids) < 2:
        raise ValueError(
            f"ids: expected at least 2 tokens (one to read, one to predict), got {len(ids)}"
        )
    model_block = model.config.block_size
    T = model_block if block_size is None else block_size
    if isinstance(T, bool) or not isinstance(T, int | np.integer) or not 1 <= T <= model_block:
        raise ValueError(f"block_size: expected an int in [1, {model_block}], got {block_size!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")

    n_pred = len(ids) - 1  # tokens that have a token before them
    n_full = n_pred // T  # full windows; the rest, n_pred % T tokens, make one short window
    starts = [s * T for s in range(n_full)]
    batches = [starts[b : b + batch_size] for b in range(0, n_full, batch_size)]
    if n_pred % T:
        batches.append([n_full * T])

    total_nll = 0.0  # summed in float64 whatever the model's dtype
    n_tokens = 0
    with evaluating(model):
        for batch in tqdm(batches, desc="perplexity", disable=not progress):
            width = min(T, n_pred - batch[0])  # T, or less for the last window
            x = np.stack([ids[s : s + width] for s in batch])  # (B, width)
            y = np.stack([ids[s + 1 : s + 1 + width] for s in batch])  # (B, width)
            _, loss = model(x, y)
            # loss is the mean over the batch's y.size tokens: weight it by that count.
            total_nll += float(loss) * y.size
            n_tokens += y.size
    nll = total_nll / n_tokens
    ppl = math.exp(nll) if nll < 709.0 else math.inf  # exp overflows a float64 near 709.8
    return PerplexityResult(perplexity=ppl, nll=nll, n_tokens=n_tokens)


# ----------------------------------------------------------------------------- latency


@dataclass
class ResponseLatency:
    """One response: time to first token and total time in seconds, tokens generated, and
    tokens per second of the whole response (n_tokens / total_s, first token included)."""

    ttft_s: float
    total_s: float
    n_tokens: int
    tokens_per_s: float


@dataclass
class LatencyResult:
    """Percentiles use numpy's default (linear interpolation between the sorted values: p95 of
    [1, 2, 3, 4] is 3 + 0.85 * (4 - 3) = 3.85)."""

    ttft_p50_s: float
    ttft_p95_s: float
    latency_p50_s: float
    latency_p95_s: float
    mean_tokens_per_s: float
    n_responses: int
    responses: list = field(default_factory=list)  # a ResponseLatency per prompt

    def to_dict(self):
        return asdict(self)  # nested dataclasses become dicts: ready for json.dump


def measure_latency(model, prompts, max_new_tokens, clock=time.perf_counter, **sampling):
    """Time one response per prompt (batch 1) with `model.generate_iter`.

    prompts: list of 1-D int arrays. sampling: passed on to generate_iter (temperature, top_k,
    top_p, rng, use_cache). clock: a function returning seconds; tests pass a fake one.
    The clock starts just before generate_iter is called, so the time to first token includes
    reading the prompt (the prefill).
    """
    if isinstance(prompts, np.ndarray) or not isinstance(prompts, list | tuple) or not prompts:
        raise TypeError(
            f"prompts: expected a non-empty list of 1-d int arrays, got {type(prompts).__name__}"
        )
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise TypeError(f"max_new_tokens: expected an int, got {type(max_new_tokens).__name__}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens: expected at least 1, got {max_new_tokens}")
    for i, p in enumerate(prompts):
        ok = isinstance(p, np.ndarray) and p.ndim == 1 and np.issubdtype(p.dtype, np.integer)
        if not ok or len(p) == 0:
            got = f"shape {p.shape}, dtype {p.dtype}" if isinstance(p, np.ndarray) else type(p)
            raise ValueError(f"prompts[{i}]: expected a non-empty 1-d int array, got {got}")

    responses = []
    with evaluating(model):
        for i, prompt in enumerate(prompts):
            idx = prompt[None, :]  # (1, T)
            start = clock()
            first = None
            n_tokens = 0
            for _ in model.generate_iter(idx, max_new_tokens, **sampling):  # each (1, 1)
                if first is None:
                    first = clock()
                n_tokens += 1
            end = clock()
            if n_tokens == 0:
                raise RuntimeError(f"prompts[{i}]: generate_iter yielded no tokens")
            if end <= start:
                raise RuntimeError(f"clock: did not advance during response {i} ({start=})")
            total = end - start
            responses.append(ResponseLatency(first - start, total, n_tokens, n_tokens / total))

    ttft = np.array([r.ttft_s for r in responses])  # (n,)
    total = np.array([r.total_s for r in responses])  # (n,)
    return LatencyResult(
        ttft_p50_s=float(np.percentile(ttft, 50)),
        ttft_p95_s=float(np.percentile(ttft, 95)),
        latency_p50_s=float(np.percentile(total, 50)),
        latency_p95_s=float(np.percentile(total, 95)),
        mean_tokens_per_s=float(np.mean([r.tokens_per_s for r in responses])),
        n_responses=len(responses),
        responses=responses,
    )


# ----------------------------------------------------------------------------- files


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

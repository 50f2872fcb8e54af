"""Generation latency: time to first token, tokens per second, p50 / p95 over responses.

The model contract: `model.generate_iter(idx, max_new_tokens, sampling, rng=...)` yielding one
(B, 1) array per new token, and `model.training`, `model.eval()`, `model.train()`.
Left out: batched latency, memory use.
"""

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from tinytransformer.checks import check_count
from tinytransformer.models.sampling import DEFAULT_SAMPLING
from tinytransformer.models.transformer import evaluating


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


def measure_latency(
    model, prompts, max_new_tokens, sampling=DEFAULT_SAMPLING, *, rng=None, clock=time.perf_counter
):
    """Time one response per prompt (batch 1) with `model.generate_iter`.

    prompts: list of 1-D int arrays. sampling, rng: how the tokens are drawn (a Sampling and a
    numpy Generator). clock: a function returning seconds; tests pass a fake one.
    The clock starts just before generate_iter is called, so the time to first token includes
    reading the prompt (the prefill).
    """
    if isinstance(prompts, np.ndarray) or not isinstance(prompts, list | tuple) or not prompts:
        raise TypeError(
            f"prompts: expected a non-empty list of 1-d int arrays, got {type(prompts).__name__}"
        )
    check_count("max_new_tokens", max_new_tokens, low=1)
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
            for _ in model.generate_iter(idx, max_new_tokens, sampling, rng=rng):  # (1, 1) each
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

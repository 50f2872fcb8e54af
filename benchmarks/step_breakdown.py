"""One training step taken apart op by op, ours next to torch.profiler's reading of PyTorch's,
so that the gap between the two steps is explained per op. Used by train_step.py --breakdown.

Ours: every op the model calls (the ops/ functions, as imported by models/transformer.py,
models/block.py and ops/attention.py) is wrapped in a clock for the profiled steps, and each
call is charged its own time, without the ops it calls (attention's linear layers are counted as
linear, its softmax as attention). What is left of a phase is the models' own code between the
ops (the residual adds and gradient sums in block_backward, dicts, reshapes): "the rest".

PyTorch: torch.profiler records each phase (forward, backward, clipping, optimizer) of the same
step separately; the self CPU time of each aten op and autograd node is put in the same
categories by its name. The profiler costs time of its own (a few microseconds per op), which
lands in the ops it measures; the step's unprofiled time is in train_step.py's main table.
Both columns are medians over the profiled steps, category by category.
"""

import statistics
import time
from collections import defaultdict
from contextlib import contextmanager

from tinytransformer.models import block as block_module
from tinytransformer.models import transformer as transformer_module
from tinytransformer.ops import attention as attention_module

# our ops by the name the models call them, and the category each is counted in
OUR_OPS = {
    "embedding_forward": "embedding",
    "embedding_backward": "embedding",
    "dropout_forward": "dropout",
    "dropout_backward": "dropout",
    "layernorm_forward": "layer norm",
    "layernorm_backward": "layer norm",
    "linear_forward": "linear (matmul + bias)",
    "linear_backward": "linear (matmul + bias)",
    "gelu_forward": "GELU",
    "gelu_backward": "GELU",
    "self_attention_forward": "attention (heads, scores, softmax, @ v)",
    "self_attention_backward": "attention (heads, scores, softmax, @ v)",
    "attention_forward": "attention (heads, scores, softmax, @ v)",
    "attention_backward": "attention (heads, scores, softmax, @ v)",
    "softmax_forward": "attention (heads, scores, softmax, @ v)",
    "softmax_backward": "attention (heads, scores, softmax, @ v)",
    "cross_entropy_forward": "cross-entropy",
    "cross_entropy_backward": "cross-entropy",
    "residual_forward": "residual adds",
    "residual_backward": "residual adds",
}
CATEGORIES = list(dict.fromkeys(OUR_OPS.values())) + ["the rest", "clipping", "optimizer"]

# torch's op names, by a piece of the name, in the same categories (first match wins). In this
# model index_select is the embedding lookup, copy_ the heads' merge (.contiguous()), cat the
# backward of the q, k, v split, and sum the bias gradients: each is put where ours does it.
TORCH_OPS = [
    ("embedding", "embedding"),
    ("index_select", "embedding"),
    ("dropout", "dropout"),
    ("layer_norm", "layer norm"),
    ("LayerNorm", "layer norm"),
    ("addmm", "linear (matmul + bias)"),
    ("Addmm", "linear (matmul + bias)"),
    ("aten::mm", "linear (matmul + bias)"),
    ("MmBackward", "linear (matmul + bias)"),
    ("aten::linear", "linear (matmul + bias)"),
    ("aten::matmul", "linear (matmul + bias)"),
    ("aten::sum", "linear (matmul + bias)"),
    ("gelu", "GELU"),
    ("Gelu", "GELU"),
    ("attention", "attention (heads, scores, softmax, @ v)"),
    ("Attention", "attention (heads, scores, softmax, @ v)"),
    ("aten::copy_", "attention (heads, scores, softmax, @ v)"),
    ("aten::cat", "attention (heads, scores, softmax, @ v)"),
    ("softmax", "cross-entropy"),
    ("Softmax", "cross-entropy"),
    ("nll_loss", "cross-entropy"),
    ("NllLoss", "cross-entropy"),
    ("cross_entropy", "cross-entropy"),
    ("aten::add", "residual adds"),
    ("AddBackward", "residual adds"),
]


def torch_category(name):
    for piece, category in TORCH_OPS:
        if piece in name:
            return category
    return "the rest"


class OpClock:
    """Charge each wrapped call its own time, without the wrapped calls inside it."""

    def __init__(self):
        self.totals = defaultdict(float)  # (category, phase) -> seconds in this step
        self.phase = "forward"
        self._inner = []  # per open call: the time of the wrapped calls inside it

    def wrap(self, fn, category):
        def timed(*args, **kwargs):
            self._inner.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                inner = self._inner.pop()
                self.totals[category, self.phase] += elapsed - inner
                if self._inner:
                    self._inner[-1] += elapsed

        return timed

    @contextmanager
    def installed(self):
        """Wrap our ops where the models look them up, and put them back afterwards."""
        saved = []
        for module in (transformer_module, block_module, attention_module):
            for name, category in OUR_OPS.items():
                if hasattr(module, name):
                    saved.append((module, name, getattr(module, name)))
                    setattr(module, name, self.wrap(getattr(module, name), category))
        try:
            yield self
        finally:
            for module, name, fn in saved:
                setattr(module, name, fn)


def our_breakdown(trainer, batches, steps):
    """-> {(category, phase): [ms per step]} over `steps` profiled steps of a NumpyTrainer."""
    per_step = defaultdict(list)
    clock = OpClock()
    with clock.installed():
        for i in range(steps):
            x, y = batches[i % len(batches)]
            clock.totals.clear()
            seconds = {}
            for phase, run in trainer.phases(x, y):
                clock.phase = phase
                t0 = time.perf_counter()
                run()
                seconds[phase] = time.perf_counter() - t0
            for phase in ("forward", "backward"):
                ops = sum(s for (_, p), s in clock.totals.items() if p == phase)
                clock.totals["the rest", phase] += seconds[phase] - ops
            for phase in ("clipping", "optimizer"):
                clock.totals[phase, phase] = seconds[phase]
            _append(per_step, {key: 1e3 * sec for key, sec in clock.totals.items()}, i)
    return per_step


def torch_breakdown(trainer, batches, steps):
    """-> {(category, phase): [ms per step]} from torch.profiler over `steps` steps."""
    from torch.profiler import ProfilerActivity, profile

    per_step = defaultdict(list)
    for i in range(steps):
        x, y = batches[i % len(batches)]
        totals = defaultdict(float)
        for phase, run in trainer.phases(x, y):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run()
            for event in prof.key_averages():
                whole = phase in ("clipping", "optimizer")  # counted as one, like ours
                category = phase if whole else torch_category(event.key)
                totals[category, phase] += event.self_cpu_time_total / 1e3  # us -> ms
        _append(per_step, totals, i)
    return per_step


def _append(per_step, totals, i):
    """Add step i's {key: ms} to per_step's lists, with 0 ms where a key is absent."""
    for key, ms in totals.items():
        per_step[key].extend([0.0] * (i - len(per_step[key])) + [ms])
    for values in per_step.values():
        values.extend([0.0] * (i + 1 - len(values)))


def print_breakdown(ours, theirs, steps):
    """The two breakdowns side by side, medians, with each category's share of the gap."""
    print(
        f"\nper-op breakdown, medians of {steps} profiled steps each (ms per step); "
        "torch: self CPU time by torch.profiler"
    )
    print(f"{'':42} {'phase':>9} {'ours':>7} {'pytorch':>8} {'ours - pytorch':>15}")
    total_ours = total_theirs = 0.0
    for category in CATEGORIES:
        for phase in ("forward", "backward", "clipping", "optimizer"):
            key = (category, phase)
            if key not in ours and key not in theirs:
                continue
            a = statistics.median(ours[key]) if key in ours else 0.0
            b = statistics.median(theirs[key]) if key in theirs else 0.0
            total_ours, total_theirs = total_ours + a, total_theirs + b
            print(f"{category:42} {phase:>9} {a:7.2f} {b:8.2f} {a - b:+15.2f}")
    print(
        f"{'sum of the medians':42} {'':>9} {total_ours:7.2f} {total_theirs:8.2f} "
        f"{total_ours - total_theirs:+15.2f}"
    )

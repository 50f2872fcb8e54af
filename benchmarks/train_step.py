"""Time one training step of tinytransformer and, when torch is installed, of PyTorch.

A step is forward, backward, gradient-norm clipping (max norm 1) and an AdamW step (lr 1e-3,
betas (0.9, 0.99), weight decay 0.1 on matrices only), on random token ids.

    pip install -e .                           # once, so tinytransformer imports
    python benchmarks/train_step.py            # nanoGPT's CPU config for Shakespeare, batch 12
    python benchmarks/train_step.py --n-layer 6 --n-embd 192 --steps 100 --dtype float64

Both models are timed in the same run, in alternating rounds of a few steps each, so that load
from other processes on the machine falls on both alike; the ratio NumPy / PyTorch is the number
to read. The PyTorch model is a small nanoGPT written out below (same sizes, tied head, tanh GELU,
LayerNorm with biases, causal scaled_dot_product_attention as nanoGPT uses), trained with
torch.optim.AdamW and clip_grad_norm_ with the same settings, on torch.set_num_threads(2)
(--torch-threads).

A third row, "matmuls", times only the matrix products of the NumPy step (every linear layer
forward and backward, and the attention products), on arrays of the same shapes: what is left of
the step if every element-wise pass were free.

Columns: ms per step (median, 10th and 90th percentile), the medians of its three phases
(forward; backward; clipping + optimizer), tokens per second at the median, and the peak memory
of one step: for NumPy the tracemalloc peak (NumPy reports its array buffers to tracemalloc), i.e.
activations, caches and gradients on top of the parameters and optimizer state; PyTorch's
allocations are invisible to tracemalloc, so its row has none. The process's maximum resident set
size (getrusage, both models and all libraries) is printed below the table.

With a 2-core machine that is also busy with something else, multithreaded BLAS can slow down
by 10x (a worker thread waits for a core); --blas-threads 1 (needs threadpoolctl) shows the
single-threaded time. PyTorch's own threads suffer the same way.
"""

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from collections import defaultdict

import numpy as np
from model_args import add_model_args, model_config
from step_breakdown import our_breakdown, print_breakdown, torch_breakdown

from tinytransformer import GPT, AdamW, clip_grad_norm

LR, BETAS, WEIGHT_DECAY, MAX_NORM = 1e-3, (0.9, 0.99), 0.1, 1.0
SWITCH_PAUSE = 0.3  # seconds between the rounds of the two models


class NumpyTrainer:
    """One tinytransformer training step, phase by phase."""

    name = "numpy"

    def __init__(self, config, dtype):
        self.model = GPT(config, seed=0, dtype=dtype)
        self.opt = AdamW(self.model, lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)

    def phases(self, x, y):
        """The step as (name, function) pairs, to be run in this order."""
        model = self.model
        return [
            ("forward", lambda: model(x, targets=y)),
            ("backward", model.backward),
            ("clipping", lambda: clip_grad_norm(model, MAX_NORM)),
            ("optimizer", self.opt.step),
        ]

    def step(self, x, y):
        """-> (forward, backward, clip + optimizer) seconds."""
        return timed_phases(self.phases(x, y))


class MatmulTrainer:
    """Only the matrix products of a tinytransformer step, on arrays of the same shapes: the part
    of the step that is OpenBLAS's, and the floor the NumPy code could reach if every other pass
    over memory cost nothing."""

    name = "matmuls"

    def __init__(self, config, dtype, batch_size):
        rng = np.random.default_rng(0)
        B, T, C, nh = batch_size, config.block_size, config.n_embd, config.n_head
        N, hs, V = B * T, C // nh, config.vocab_size

        def a(*shape):
            return rng.standard_normal(shape).astype(dtype)

        linears = [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)] * config.n_layer + [(C, V)]
        self.linears = [(a(N, i), a(i, o), a(N, o)) for i, o in linears]  # x, W, dy
        self.q, self.k, self.v = a(B, nh, T, hs), a(B, nh, T, hs), a(B, nh, T, hs)
        self.att = a(B, nh, T, T)
        self.n_layer = config.n_layer

    def step(self, x, y):
        """-> (forward, backward, 0.0) seconds."""
        q, k, v, att = self.q, self.k, self.v, self.att
        t0 = time.perf_counter()
        for x2, w, _ in self.linears:
            x2 @ w  # y = x W
        for _ in range(self.n_layer):
            q @ k.swapaxes(-1, -2)  # scores
            att @ v  # weighted values
        t1 = time.perf_counter()
        for x2, w, dy in self.linears:
            dy @ w.T  # dx
            x2.T @ dy  # dW
        for _ in range(self.n_layer):
            att.swapaxes(-1, -2) @ v  # dv = att^T dy
            att @ k  # dq = dscores k
            att.swapaxes(-1, -2) @ q  # dk = dscores^T q
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, 0.0


def torch_trainer(config, dtype, threads=2):
    """The same model and step in PyTorch; None when torch is not installed."""
    try:
        import torch
        from torch import nn
        from torch.nn import functional as F
    except ImportError:
        return None
    torch.set_num_threads(threads)

    class Block(nn.Module):
        def __init__(self, C, nh):
            super().__init__()
            self.nh = nh
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (a.view(B, T, self.nh, C // self.nh).transpose(1, 2) for a in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
            x = x + self.attn_proj(a.transpose(1, 2).contiguous().view(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class TorchGPT(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
            self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
            self.h = nn.ModuleList(Block(cfg.n_embd, cfg.n_head) for _ in range(cfg.n_layer))
            self.ln_f = nn.LayerNorm(cfg.n_embd)
            for p in self.parameters():  # biases stay 0 and layer-norm gains 1, as ours
                if p.dim() >= 2:
                    nn.init.normal_(p, 0.0, 0.02)

        def forward(self, idx, targets):
            pos = torch.arange(idx.shape[1])
            x = self.wte(idx) + self.wpe(pos)
            for block in self.h:
                x = block(x)
            logits = self.ln_f(x) @ self.wte.weight.T  # tied head, as ours
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[np.dtype(dtype).name]
    model = TorchGPT(config).to(torch_dtype)
    # the same grouping as our AdamW: weight decay only on parameters with ndim >= 2
    groups = [
        {"params": [p for p in model.parameters() if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS)

    class TorchTrainer:
        name = "pytorch"

        def phases(self, x, y):
            """The step as (name, function) pairs, to be run in this order."""
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            loss = []  # the forward's loss, for the backward

            def backward():
                opt.zero_grad(set_to_none=True)
                loss.pop().backward()

            return [
                ("forward", lambda: loss.append(model(xt, yt))),
                ("backward", backward),
                ("clipping", lambda: torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)),
                ("optimizer", opt.step),
            ]

        def step(self, x, y):
            return timed_phases(self.phases(x, y))

    return TorchTrainer()


def timed_phases(phases):
    """Run a step's phases -> (forward, backward, clipping + optimizer) seconds."""
    seconds = {}
    for name, run in phases:
        t0 = time.perf_counter()
        run()
        seconds[name] = time.perf_counter() - t0
    return seconds["forward"], seconds["backward"], seconds["clipping"] + seconds["optimizer"]


def tracemalloc_peak(trainer, x, y):
    """Peak bytes NumPy allocates during one step, above what was allocated before it."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    trainer.step(x, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base


def percentile(values, q):
    return float(np.percentile(values, q))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser, block_size=64)
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--steps", type=int, default=50, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per model first")
    parser.add_argument("--round", type=int, default=5, help="steps per model per round")
    parser.add_argument("--no-torch", action="store_true", help="time tinytransformer only")
    parser.add_argument(
        "--breakdown",
        type=int,
        default=20,
        help="profiled steps per model for the per-op breakdown, after the timing (0: none)",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit NumPy's BLAS to this many threads (needs threadpoolctl); default: untouched",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=2,
        help="torch.set_num_threads; with OPENBLAS_NUM_THREADS=1 and 1 here, both run on one core",
    )
    args = parser.parse_args(argv)

    config = model_config(args)
    B, T = args.batch_size, args.block_size
    rng = np.random.default_rng(0)
    batches = [
        (rng.integers(0, config.vocab_size, (B, T)), rng.integers(0, config.vocab_size, (B, T)))
        for _ in range(8)
    ]
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits  # benchmark-only, optional dependency

        # set before torch is imported, so that only NumPy's BLAS (OpenBLAS) is limited
        threadpool_limits(limits=args.blas_threads, user_api="blas")
    trainers = [NumpyTrainer(config, args.dtype), MatmulTrainer(config, args.dtype, B)]
    if not args.no_torch:
        reference = torch_trainer(config, args.dtype, args.torch_threads)
        if reference is None:
            print("torch is not installed: timing tinytransformer only", file=sys.stderr)
        else:
            trainers.append(reference)

    times = {t.name: [] for t in trainers}  # name -> [(forward, backward, optimizer)]
    for t in trainers:
        for i in range(args.warmup):
            t.step(*batches[i % len(batches)])
    done = 0
    while done < args.steps:  # alternate rounds, so that machine load hits both models alike
        n = min(args.round, args.steps - done)
        for t in trainers:
            # Idle a moment first: BLAS worker threads spin for a while after their last call
            # (OpenBLAS for ~0.1 s) and would otherwise steal a core from the other model.
            time.sleep(SWITCH_PAUSE)
            t.step(*batches[done % len(batches)])  # untimed: reload caches after the switch
            for i in range(done, done + n):
                times[t.name].append(t.step(*batches[i % len(batches)]))
        done += n
    peak_numpy = tracemalloc_peak(trainers[0], *batches[0])

    print(
        f"config: B={B} T={T} n_layer={args.n_layer} n_head={args.n_head} n_embd={args.n_embd} "
        f"V={args.vocab_size} {args.dtype}; {args.steps} steps after {args.warmup} warm-up, "
        f"numpy {np.__version__}"
    )
    header = (
        f"{'':8} {'median ms':>9} {'p10':>6} {'p90':>6} {'fwd':>6} {'bwd':>6} {'opt':>6} "
        f"{'tokens/s':>9} {'peak MB':>8}"
    )
    print(header)
    medians = {}
    for name, rows in times.items():
        total = [1e3 * sum(r) for r in rows]
        phase = [statistics.median(1e3 * r[j] for r in rows) for j in range(3)]
        medians[name] = statistics.median(total)
        peak = f"{peak_numpy / 2**20:8.1f}" if name == "numpy" else f"{'-':>8}"
        tokens_per_s = f"{B * T / medians[name] * 1e3:9.0f}" if name != "matmuls" else f"{'-':>9}"
        print(
            f"{name:8} {medians[name]:9.1f} {percentile(total, 10):6.1f} "
            f"{percentile(total, 90):6.1f} {phase[0]:6.1f} {phase[1]:6.1f} {phase[2]:6.1f} "
            f"{tokens_per_s} {peak}"
        )
    if "pytorch" in medians:
        print(f"ratio numpy / pytorch (median ms): {medians['numpy'] / medians['pytorch']:.2f}")
    print(
        f"matmuls: only the step's matrix products, same shapes, NumPy/OpenBLAS: "
        f"{medians['matmuls'] / medians['numpy']:.0%} of the NumPy step"
    )
    print(
        "peak MB: tracemalloc peak of one NumPy step above the parameters and optimizer state; "
        f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    if args.breakdown and "pytorch" in medians:
        ours, theirs = defaultdict(list), defaultdict(list)
        done = 0
        while done < args.breakdown:  # alternating rounds again
            n = min(args.round, args.breakdown - done)
            for trainer, breakdown, into in (
                (trainers[0], our_breakdown, ours),
                (trainers[-1], torch_breakdown, theirs),
            ):
                time.sleep(SWITCH_PAUSE)
                trainer.step(*batches[0])  # untimed, as above
                for key, values in breakdown(trainer, batches[done:] + batches, n).items():
                    into[key].extend([0.0] * (done - len(into[key])) + values)
            done += n
        print_breakdown(ours, theirs, args.breakdown)


if __name__ == "__main__":
    main()

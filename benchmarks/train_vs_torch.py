"""Train our NumPy GPT and a PyTorch twin in lock-step: same initial weights, same batches, same
schedule, same AdamW and clipping. Is our whole training step (forward, backward, clip, AdamW,
learning-rate schedule) PyTorch's, and what validation loss does PyTorch reach on the same run?

    pip install -e . "torch==2.13.0"                                   # once
    python benchmarks/train_vs_torch.py --dtype float64 --max-iters 50 \\
        --warmup-iters 10 --lr-decay-iters 50 --log-interval 5         # must agree to ~1e-10
    python benchmarks/train_vs_torch.py                                # nanoGPT's CPU recipe

The recipe is nanoGPT's for Shakespeare on a CPU: the "small" preset (4 layers, 4 heads, 128
channels, block 64), batch 12, 2000 steps, lr 1e-3 with 100 warmup steps and a cosine decay to 1e-4
at step 2000, AdamW betas (0.9, 0.99), weight decay 0.1 on matrices only, gradient clipping at
norm 1, no dropout, and no biases (nanoGPT's train.py sets bias=False; --bias true adds them).

The PyTorch model is written out below as a function of a dict of tensors that carries our
parameter names and shapes (GPT-2's Conv1D layout, y = x @ W + b), so copying weights either way is
a loop over names. It is nanoGPT's model: tanh GELU, LayerNorm eps 1e-5, causal
scaled_dot_product_attention, the head tied to the token embedding; torch.optim.AdamW with two
parameter groups (decay only for ndim >= 2) and torch.nn.utils.clip_grad_norm_.

Each step draws one batch (TokenData.get_batch with the generator training/pretrain.py uses for
--seed) and feeds it to both models, so our side is exactly `python -m tinytransformer train`
with that seed. The table shows each model's training loss at that step (before its update), their
difference, and the largest relative difference of a parameter tensor, ||p_ours - p_torch|| /
||p_ours||. In float64 both stay equal to rounding (~1e-15). In float32 the two differ by
rounding (a different summation order in every matmul), and that difference grows with every
step; measured on the full recipe it grows slowly, not exponentially: the parameters were still
within ~1e-5 of each other (relative) after 2000 steps, the losses within ~1e-6.

At the end both models are scored on the validation split three ways, each through our
metrics code (the PyTorch weights are loaded back into a GPT of ours): the exact NLL of every
token (tinytransformer.perplexity, non-overlapping windows), a 200-batch estimate, and
nanoGPT's 20-batch estimate (eval_iters=20 in its CPU recipe) over 10 seeds, to show how noisy
a 20-batch number is.

Left out: dropout (the two models' random masks could not be matched), nanoGPT's own data
loader and torch's random init (both models use ours), timing beyond a rough ms per step (see
train_step.py), and any GPU.
"""

import argparse
import math
import os
import statistics
import time

import numpy as np

from tinytransformer import (
    GPT,
    PRESETS,
    AdamW,
    GPTConfig,
    clip_grad_norm,
    get_lr,
    perplexity,
    prepare_data,
)

DEFAULT_DATA = "/work/shared/data/tinyshakespeare.txt"
LN_EPS = 1e-5  # nn.LayerNorm's default, and ours
MILESTONES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 1500, 2000)


# --- the PyTorch twin ------------------------------------------------------------------------


def torch_params(model, torch, dtype):
    """Our model.params -> a dict of leaf tensors with the same names, shapes and values."""
    return {
        name: torch.tensor(p, dtype=dtype).requires_grad_(True) for name, p in model.params.items()
    }


def torch_forward(P, idx, targets, config, F):
    """nanoGPT's forward on the parameter dict P: idx, targets (B, T) int64 -> mean loss."""
    B, T = idx.shape
    C, nh = config.n_embd, config.n_head

    def linear(x, name):  # GPT-2's Conv1D: y = x @ W + b, W (C_in, C_out)
        y = x @ P[name + ".weight"]
        b = P.get(name + ".bias")
        return y if b is None else y + b

    def layernorm(x, name):
        return F.layer_norm(x, (C,), P[name + ".weight"], P.get(name + ".bias"), LN_EPS)

    x = P["transformer.wte.weight"][idx] + P["transformer.wpe.weight"][:T]  # (B, T, C)
    for i in range(config.n_layer):
        h = f"transformer.h.{i}."
        q, k, v = linear(layernorm(x, h + "ln_1"), h + "attn.c_attn").split(C, dim=2)
        q, k, v = (a.view(B, T, nh, C // nh).transpose(1, 2) for a in (q, k, v))  # (B, nh, T, hs)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        x = x + linear(a.transpose(1, 2).reshape(B, T, C), h + "attn.c_proj")  # (B, T, C)
        u = F.gelu(linear(layernorm(x, h + "ln_2"), h + "mlp.c_fc"), approximate="tanh")
        x = x + linear(u, h + "mlp.c_proj")  # (B, T, C)
    x = layernorm(x, "transformer.ln_f")  # (B, T, C)
    logits = x @ P["transformer.wte.weight"].T  # (B, T, V), the tied head
    return F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))


# --- comparing and scoring -------------------------------------------------------------------


def max_rel_param_diff(ours, P):
    """max over parameters of ||p_ours - p_torch|| / ||p_ours|| (Frobenius norms)."""
    worst = 0.0
    for name, p in ours.params.items():
        q = P[name].detach().numpy()
        worst = max(worst, float(np.linalg.norm(p - q) / np.linalg.norm(p)))
    return worst


def model_from_torch(P, config, dtype):
    """A GPT of ours holding the PyTorch weights, so both models are scored by the same code."""
    model = GPT(config, dtype=dtype)
    model.load_state_dict({n: t.detach().numpy() for n, t in P.items()})
    return model.eval()


def estimate(model, data, n_batches, batch_size, rng):
    """nanoGPT's estimate_loss for the val split: the mean loss of n_batches random batches."""
    T = model.config.block_size
    losses = [float(model(*data.get_batch("val", batch_size, T, rng))[1]) for _ in range(n_batches)]
    return float(np.mean(losses))


def unseen_mass(model, data, unseen, n_batches, batch_size, rng):
    """Mean probability the model gives to the ids in `unseen` (never a target), over val batches.

    An id that never occurs (a special token of our tokenizer, absent from nanoGPT's 65-character
    vocabulary) still takes a share of every softmax; the NLL pays -log(1 - share) for it.
    """
    T = model.config.block_size
    shares = []
    for _ in range(n_batches):
        logits, _ = model(data.get_batch("val", batch_size, T, rng)[0])  # (B, T, V)
        z = np.exp(logits - logits.max(axis=-1, keepdims=True))  # (B, T, V)
        shares.append(float((z[..., unseen].sum(-1) / z.sum(-1)).mean()))
    return float(np.mean(shares))


def summary(values):
    """mean +- std (min .. max) of a list of numbers."""
    return (
        f"{statistics.mean(values):.4f} +- {statistics.stdev(values):.4f} "
        f"({min(values):.4f} .. {max(values):.4f})"
    )


# --- the run ---------------------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="a text file (or a corpus name)")
    p.add_argument("--max-iters", type=int, default=2000)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--log-interval", type=int, default=100, help="table rows every N steps")
    p.add_argument("--seed", type=int, default=1337, help="init and batches, as train --seed")
    p.add_argument("--torch-threads", type=int, default=1)
    p.add_argument("--bias", choices=("true", "false"), default="false")
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup-iters", type=int, default=100)
    p.add_argument("--lr-decay-iters", type=int, default=2000)
    p.add_argument("--eval-seeds", type=int, default=10, help="seeds of 20-batch estimates")
    args = p.parse_args(argv)
    if args.log_interval < 1 or args.max_iters < 1:
        p.error(f"--log-interval and --max-iters: expected >= 1, got {args.log_interval}, "
                f"{args.max_iters}")  # fmt: skip

    import torch  # a reference for this benchmark only; the package never imports it
    from torch.nn import functional as F

    torch.set_num_threads(args.torch_threads)
    dtype = np.dtype(args.dtype)
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype.name]
    beta1, beta2, wd, max_norm = 0.9, 0.99, 0.1, 1.0

    tokenizer, data = prepare_data(args.data)
    config = GPTConfig(
        **PRESETS["small"], vocab_size=tokenizer.vocab_size, dropout=0.0, bias=args.bias == "true"
    )
    ours = GPT(config, seed=args.seed, dtype=dtype)
    opt = AdamW(ours, args.learning_rate, betas=(beta1, beta2), weight_decay=wd)
    P = torch_params(ours, torch, tdtype)
    groups = [
        {"params": [t for t in P.values() if t.dim() >= 2], "weight_decay": wd},
        {"params": [t for t in P.values() if t.dim() < 2], "weight_decay": 0.0},
    ]
    topt = torch.optim.AdamW(groups, lr=args.learning_rate, betas=(beta1, beta2), eps=1e-8)
    data_rng = np.random.default_rng([args.seed, 0])  # pretrain.py's batch generator for --seed
    B, T = args.batch_size, config.block_size
    warmup = min(args.warmup_iters, args.lr_decay_iters)

    print(
        f"{config}\n{ours.num_parameters():,} parameters, {dtype.name}, batch {B}x{T}, "
        f"{args.max_iters} steps, lr {args.learning_rate} -> {args.min_lr} (warmup {warmup}, "
        f"decay to {args.lr_decay_iters}), seed {args.seed}\nnumpy {np.__version__} "
        f"(OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}), "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)\n"
    )
    print(
        f"{'step':>5} {'lr':>9} {'loss ours':>10} {'loss torch':>10} {'|diff|':>9} "
        f"{'gnorm ours':>10} {'|dgnorm|':>9} {'param rel':>9}"
    )
    rows = {}  # step -> (loss ours, loss torch, max rel param diff after the step's update)
    diffs, tail = [], {"ours": [], "torch": []}
    n_clipped, t_ours, t_torch = 0, 0.0, 0.0
    for step in range(args.max_iters):
        lr = get_lr(step, args.learning_rate, warmup, args.lr_decay_iters, args.min_lr)
        x, y = data.get_batch("train", B, T, data_rng)  # (B, T) each, drawn once, fed to both

        t0 = time.perf_counter()
        opt.lr = lr
        loss = float(ours(x, y)[1])
        ours.backward()
        norm = clip_grad_norm(ours, max_norm, names=opt.names)
        opt.step()
        t1 = time.perf_counter()
        for g in topt.param_groups:
            g["lr"] = lr
        tloss = torch_forward(P, torch.from_numpy(x), torch.from_numpy(y), config, F)
        topt.zero_grad(set_to_none=True)
        tloss.backward()
        tnorm = float(torch.nn.utils.clip_grad_norm_(list(P.values()), max_norm))
        topt.step()
        t2 = time.perf_counter()
        t_ours, t_torch = t_ours + t1 - t0, t_torch + t2 - t1

        tloss = tloss.item()
        if not (math.isfinite(loss) and math.isfinite(tloss)):
            raise SystemExit(f"step {step}: loss ours {loss}, torch {tloss}: not finite")
        n_clipped += norm > max_norm
        diffs.append(abs(loss - tloss))
        if step >= args.max_iters - 100:
            tail["ours"].append(loss)
            tail["torch"].append(tloss)
        last = step == args.max_iters - 1
        if step % args.log_interval == 0 or step in MILESTONES or last:
            rel = max_rel_param_diff(ours, P)
            rows[step] = (loss, tloss, rel)
            print(
                f"{step:5d} {lr:9.2e} {loss:10.6f} {tloss:10.6f} {abs(loss - tloss):9.2e} "
                f"{norm:10.4f} {abs(norm - tnorm):9.2e} {rel:9.2e}",
                flush=True,
            )

    n = args.max_iters
    print(
        f"\n{n_clipped} of {n} steps clipped (gradient norm > {max_norm}); "
        f"ms per step: ours {1e3 * t_ours / n:.1f}, torch {1e3 * t_torch / n:.1f}"
    )
    print("\nhow long the two runs stay together (param rel: after that step's update)")
    print(f"{'step':>5} {'|loss diff|':>11} {'mean |diff| to here':>20} {'param rel':>10}")
    for s in sorted(set(MILESTONES) | {n - 1}):
        if s in rows:
            mean = float(np.mean(diffs[: s + 1]))
            print(f"{s:5d} {abs(rows[s][0] - rows[s][1]):11.2e} {mean:20.2e} {rows[s][2]:10.2e}")
    print(
        f"mean training loss of the last {len(tail['ours'])} steps (same batches): "
        f"ours {np.mean(tail['ours']):.4f}, torch {np.mean(tail['torch']):.4f}"
    )

    # --- scoring on the validation split -----------------------------------------------------
    theirs = model_from_torch(P, config, dtype)
    ours.eval()
    xv, yv = data.get_batch("val", B, T, np.random.default_rng(0))
    with torch.no_grad():
        tv = float(torch_forward(P, torch.from_numpy(xv), torch.from_numpy(yv), config, F))
    print(
        f"\ncheck: torch's forward vs our forward on torch's weights, one val batch: "
        f"{tv:.6f} vs {float(theirs(xv, yv)[1]):.6f}"
    )
    unseen = np.setdiff1d(np.arange(config.vocab_size), data.train_ids)  # e.g. special tokens
    for name, model in (("ours", ours), ("torch", theirs)):
        mass = unseen_mass(model, data, unseen, 50, B, np.random.default_rng([args.seed, 9]))
        print(
            f"{name}: probability given to the {len(unseen)} ids absent from the training text: "
            f"{mass:.2e} per token (costs about that much NLL)"
        )
    print(f"\nvalidation split ({len(data.val_ids):,} tokens), after step {n}:")
    print(f"{'':40} {'ours':>8} {'torch':>8} {'torch-ours':>10}")
    scores = {}
    for name, model in (("ours", ours), ("torch", theirs)):
        res = perplexity(model, data.val_ids)
        scores[name] = [res.nll]
        scores[name].append(estimate(model, data, 200, B, np.random.default_rng([args.seed, 7])))
        scores[name].append(
            [
                estimate(model, data, 20, B, np.random.default_rng([args.seed, 8, k]))
                for k in range(args.eval_seeds)
            ]
        )
    labels = ("exact NLL, every token", "200-batch estimate (one seed)")
    for i, label in enumerate(labels):
        a, b = scores["ours"][i], scores["torch"][i]
        print(f"{label:40} {a:8.5f} {b:8.5f} {b - a:+10.1e}")
    for name in ("ours", "torch"):
        est = scores[name][2]
        print(f"20-batch estimates, {len(est)} seeds, {name:5}: {summary(est)}")
    paired = [abs(b - a) for a, b in zip(scores["ours"][2], scores["torch"][2])]
    print(f"20-batch, |torch - ours| on the same batches: at most {max(paired):.1e}")


if __name__ == "__main__":
    main()

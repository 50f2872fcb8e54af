"""How closely tinytransformer agrees with its independent references, measured: the numbers
behind the README's "What is checked against what" table (the tests assert tolerances; this
prints the measured differences).

    pip install -r requirements-reference.txt     # torch==2.13.0 CPU, transformers
    python benchmarks/agreement.py

Rows: our GPT against Hugging Face's GPT2LMHeadModel holding the same (randomly initialised,
then perturbed) weights, logits and loss as the largest absolute difference and every
parameter's gradient as the worst relative error (rel_error: max |a - b| / max |a|); ten AdamW
steps with weight decay and a changing learning rate against torch.optim.AdamW (largest absolute
difference of any parameter); gradient-norm clipping against torch.nn.utils.clip_grad_norm_
(relative difference of the norm and of the clipped gradients). The tests assert the same
comparisons (tests/test_model.py, tests/test_optim.py) on models of the same sizes; this file
builds its own, through the package's save_pretrained, and imports nothing from tests/.
"""

import tempfile

import numpy as np

from tinytransformer import GPT, AdamW, GPTConfig, clip_grad_norm, get_lr, rel_error

SMALL = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)


def ours_and_hf(dtype):
    """Our GPT (randomly initialised, then moved off GPT-2's init so biases and gains matter)
    and a GPT2LMHeadModel holding the same weights, loaded from our save_pretrained folder."""
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()  # no advisory warnings
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bars
    ours = GPT(SMALL, seed=1, dtype=dtype)
    rng = np.random.default_rng(3)
    for p in ours.params.values():
        p += (0.3 * rng.standard_normal(p.shape)).astype(dtype)
    with tempfile.TemporaryDirectory() as folder:
        ours.save_pretrained(folder)
        hf = transformers.GPT2LMHeadModel.from_pretrained(folder, attn_implementation="eager")
    hf = (hf.double() if dtype == np.float64 else hf).eval()
    with torch.no_grad():  # the exact weights in float64 too (the folder holds float32)
        for name, t in hf.named_parameters():
            if name in ours.params:
                t.copy_(torch.from_numpy(ours.params[name]))
    return torch, hf, ours


def gpt2(dtype):
    torch, hf, ours = ours_and_hf(dtype)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, SMALL.vocab_size, size=(3, 8))  # (B, T)
    targets = rng.integers(0, SMALL.vocab_size, size=(3, 8))
    targets[0, 1] = -100  # one ignored target, so that the mean counts right
    logits, loss = ours(idx, targets)
    grads = ours.backward()
    out = hf(input_ids=torch.from_numpy(idx))
    hf_loss = torch.nn.functional.cross_entropy(
        out.logits.reshape(-1, SMALL.vocab_size),
        torch.from_numpy(targets).reshape(-1),
        ignore_index=-100,
    )
    hf_loss.backward()
    hf_grads = {n: p.grad.numpy() for n, p in hf.named_parameters()}
    return (
        float(np.abs(logits - out.logits.detach().numpy()).max()),
        abs(float(loss) - hf_loss.item()),
        max(rel_error(grads[n], hf_grads[n]) for n in grads),
    )


class Params:
    """The optimizer's model contract at its smallest: params and grads, GPT-2's names, both
    kinds (matrices are decayed, vectors are not)."""

    SHAPES = {
        "transformer.wte.weight": (7, 4),
        "transformer.h.0.ln_1.weight": (4,),
        "transformer.h.0.attn.c_attn.weight": (4, 12),
        "transformer.h.0.attn.c_attn.bias": (12,),
    }

    def __init__(self, rng, dtype):
        self.params = {n: rng.standard_normal(s).astype(dtype) for n, s in self.SHAPES.items()}
        self.grads = {}

    def new_grads(self, rng):
        self.grads = {
            n: rng.standard_normal(p.shape).astype(p.dtype) for n, p in self.params.items()
        }


def adamw(dtype):
    import torch

    rng = np.random.default_rng(1)
    model = Params(rng, dtype)
    tparams = {n: torch.tensor(p.copy(), requires_grad=True) for n, p in model.params.items()}
    groups = [
        {"params": [t for t in tparams.values() if t.dim() >= 2], "weight_decay": 0.1},
        {"params": [t for t in tparams.values() if t.dim() < 2], "weight_decay": 0.0},
    ]
    lrs = [get_lr(it, 3e-2, 3, 8, 3e-3) for it in range(10)]
    topt = torch.optim.AdamW(groups, lr=lrs[0], betas=(0.9, 0.99), eps=1e-8, foreach=False)
    opt = AdamW(model, lr=lrs[0], betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    for lr in lrs:
        model.new_grads(rng)
        for name, t in tparams.items():
            t.grad = torch.tensor(model.grads[name].copy())
        for group in topt.param_groups:
            group["lr"] = lr
        opt.lr = lr
        topt.step()
        opt.step()
    diffs = [np.abs(model.params[n] - t.detach().numpy()).max() for n, t in tparams.items()]
    return float(max(diffs))


def clipping(dtype):
    import torch

    rng = np.random.default_rng(2)
    model = Params(rng, dtype)
    model.new_grads(rng)
    tensors = {
        n: torch.zeros(p.shape, dtype=torch.from_numpy(p).dtype, requires_grad=True)
        for n, p in model.params.items()
    }
    for n, t in tensors.items():
        t.grad = torch.tensor(model.grads[n].copy())
    ours = clip_grad_norm(model, 0.5)
    theirs = float(torch.nn.utils.clip_grad_norm_(list(tensors.values()), 0.5))
    grads = max(rel_error(model.grads[n], t.grad.numpy()) for n, t in tensors.items())
    return abs(ours - theirs) / theirs, grads


def main():
    print("| what | float32 | float64 |")
    print("|---|---|---|")
    g32, g64 = gpt2(np.float32), gpt2(np.float64)
    print(f"| GPT-2 logits, max abs diff | {g32[0]:.1e} | {g64[0]:.1e} |")
    print(f"| GPT-2 loss, abs diff | {g32[1]:.1e} | {g64[1]:.1e} |")
    print(f"| GPT-2 gradients, worst relative error | {g32[2]:.1e} | {g64[2]:.1e} |")
    a32, a64 = adamw(np.float32), adamw(np.float64)
    print(f"| 10 AdamW steps, max abs diff of parameters | {a32:.1e} | {a64:.1e} |")
    c32, c64 = clipping(np.float32), clipping(np.float64)
    print(f"| clipping: norm, relative diff | {c32[0]:.1e} | {c64[0]:.1e} |")
    print(f"| clipping: clipped gradients, worst relative error | {c32[1]:.1e} | {c64[1]:.1e} |")


if __name__ == "__main__":
    main()

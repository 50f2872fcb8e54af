"""Linear probes: how much of the topic task can be read off a frozen model's hidden states?

Fine-tuning mixes two questions: do the pretrained features hold what the task needs, and does
a few hundred steps of training find it? A probe answers the first alone. For each model, the
hidden states after the embedding and after each block are averaged over a paragraph's real
tokens (mean pooling; for the encoder that includes [CLS]), standardised with the training
split's mean and sd, and a ridge classifier (least squares onto one-hot labels, closed form)
is fitted on the 300 training paragraphs; its strength is the one of LAMBDAS with the best
validation accuracy, and the table shows test accuracy. The baselines are the same
architectures with random weights (several seeds): features that only mix character and
position statistics.

    python benchmarks/transfer.py --out out-transfer            # pretrains the two models
    python benchmarks/linear_probe.py --out out-transfer        # probes them: a minute or so

Prints one row per model, one column per layer (0 = the embedding).
"""

import argparse
from pathlib import Path

import numpy as np

from tinytransformer import LABEL_NAMES, MaskedLM, load_checkpoint, load_task
from tinytransformer.models.transformer import evaluating

LAMBDAS = (0.1, 1.0, 10.0, 100.0, 1000.0)  # ridge strengths tried, on standardised features


def layer_features(model, ids, mask, chunk=50):
    """ids, mask (N, T) -> (L + 1, N, C): the mean-pooled hidden state after the embedding and
    after each of the L blocks (eval mode: no dropout)."""
    out = []
    with evaluating(model):
        for i in range(0, len(ids), chunk):
            idx, am = ids[i : i + chunk], mask[i : i + chunk]  # (B, T) each
            w = am / am.sum(axis=1, keepdims=True)  # (B, T): 1/n on real tokens, 0 on padding
            states = model.hidden_states(idx, am)  # L + 1 arrays (B, T, C)
            out.append(np.stack([np.einsum("bt,btc->bc", w, x) for x in states]))  # (L+1, B, C)
    return np.concatenate(out, axis=1).astype(np.float64)  # (L + 1, N, C)


def ridge_probe(train, val, test, n_classes):
    """Each split is (X (N, C), y (N,)). -> (val accuracy, test accuracy) of the ridge
    classifier whose strength has the best val accuracy (ties: the stronger one)."""
    (Xtr, ytr), (Xva, yva), (Xte, yte) = train, val, test
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-8  # (C,) each

    def design(X):  # standardised features and a constant column for the bias
        Z = (X - mu) / sd  # (N, C)
        return np.hstack([Z, np.ones((len(Z), 1))])  # (N, C + 1)

    A, Y = design(Xtr), np.eye(n_classes)[ytr]  # (N, C + 1), (N, K) one-hot
    best = None
    for lam in sorted(LAMBDAS, reverse=True):
        reg = lam * np.eye(A.shape[1])
        reg[-1, -1] = 0.0  # the bias is not shrunk
        W = np.linalg.solve(A.T @ A + reg, A.T @ Y)  # (C + 1, K)
        acc_va = float(np.mean((design(Xva) @ W).argmax(1) == yva))
        acc_te = float(np.mean((design(Xte) @ W).argmax(1) == yte))
        if best is None or acc_va > best[0]:
            best = (acc_va, acc_te)
    return best


def probe(model, tokenizer):
    """-> test accuracy per layer (list of L + 1 floats) of a model on the topic task."""
    is_encoder = isinstance(model, MaskedLM)
    task = load_task(tokenizer, model.config.block_size, add_cls=is_encoder)
    feats = {s: (layer_features(model, *task[s][:2]), task[s][2]) for s in task}
    return [
        ridge_probe(
            *((feats[s][0][layer], feats[s][1]) for s in ("train", "val", "test")),
            len(LABEL_NAMES),
        )[1]
        for layer in range(model.config.n_layer + 1)
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out-transfer", help="transfer.py's output directory")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="random-weight seeds")
    args = p.parse_args()
    out = Path(args.out)
    rows = []
    for name, kind in (("masked LM", "pretrain-mlm"), ("GPT", "pretrain-gpt")):
        ckpt = load_checkpoint(out / kind / "ckpt.npz")
        model, tok = ckpt.model, ckpt.tokenizer
        scores = np.array([probe(type(model)(model.config, seed=s), tok) for s in args.seeds])
        rows.append((f"{name}, random weights ({len(args.seeds)} seeds)", scores))
        rows.append((f"{name}, pretrained ({ckpt.step} steps)", np.array([probe(model, tok)])))
    n_layers = rows[0][1].shape[1]
    print("test accuracy of a ridge probe on mean-pooled hidden states (mean ± sd over seeds)\n")
    print("| model | embedding | " + " | ".join(f"block {i}" for i in range(1, n_layers)) + " |")
    print("|---" * (n_layers + 1) + "|")
    for name, s in rows:
        cells = [f"{m:.3f}" + (f" ± {d:.3f}" if len(s) > 1 else "")
                 for m, d in zip(s.mean(0), s.std(0, ddof=1) if len(s) > 1 else s[0])]  # fmt: skip
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

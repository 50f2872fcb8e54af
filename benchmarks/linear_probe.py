"""Linear probes: how much of the topic task can be read off a frozen model's hidden states?

Fine-tuning mixes two questions: do the pretrained features hold what the task needs, and does
a few hundred steps of training find it? A probe answers the first alone. For each model, the
hidden states after the embedding and after each block are averaged over a paragraph's real
tokens (mean pooling; for the encoder that includes [CLS]), standardised with the training
split's mean and sd, and a ridge classifier (least squares onto one-hot labels, closed form)
is fitted on the 300 training paragraphs; its strength is the one of LAMBDAS with the best
validation accuracy, and the table shows test accuracy (the probe is the package's,
tinytransformer/evaluation/probe.py). The baselines are the same architectures with random
weights (several seeds): features that only mix character and position statistics.

    python benchmarks/transfer.py --out out-transfer            # pretrains the two models
    python benchmarks/linear_probe.py --out out-transfer        # probes them: a minute or so

Prints one row per model, one column per layer (0 = the embedding).
"""

import argparse
from pathlib import Path

import numpy as np

from tinytransformer import LABEL_NAMES, MaskedLM, load_checkpoint, load_task
from tinytransformer.evaluation.probe import probe_layers


def probe(model, tokenizer):
    """-> test accuracy per layer (list of L + 1 floats) of a model on the topic task."""
    is_encoder = isinstance(model, MaskedLM)
    task = load_task(tokenizer, model.config.block_size, add_cls=is_encoder)
    return probe_layers(model, task, len(LABEL_NAMES))


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

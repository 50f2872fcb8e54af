"""Figures the commands and the chapters share. Each function returns a matplotlib Figure (save
it with `fig.savefig(path)`, or let a notebook show it); none writes a file.

They use matplotlib's object interface with the Agg canvas, so they need no display and leave
pyplot's global state (and a notebook's backend) alone. This module is not imported by
`tinytransformer` itself: matplotlib takes half a second to load, and only plotting needs it.
"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _figure(width, height):
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # attaches itself to fig: savefig then renders with Agg
    return fig


def plot_losses(metrics):
    """Train and val loss against step, from metrics rows ({"step", "train_loss", "val_loss"}:
    the lines of a run's metrics.jsonl) -> Figure."""
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    steps = [m["step"] for m in metrics]
    ax.plot(steps, [m["train_loss"] for m in metrics], "o-", label="train")
    ax.plot(steps, [m["val_loss"] for m in metrics], "o-", label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (cross-entropy, nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_lr_schedule(schedule, max_iters):
    """The learning rate of steps 0 .. max_iters-1 -> Figure.

    schedule: a training.schedule.Schedule (called with a step; has warmup_iters, decay_iters).
    """
    if isinstance(max_iters, bool) or not isinstance(max_iters, int | np.integer) or max_iters < 1:
        raise ValueError(f"max_iters: expected an iteration count >= 1, got {max_iters!r}")
    steps = np.arange(max_iters)
    fig = _figure(6, 3.5)
    ax = fig.add_subplot()
    ax.plot(steps, [schedule(int(i)) for i in steps])
    ax.axvline(schedule.warmup_iters, color="gray", linestyle=":", label="end of warmup")
    ax.axvline(schedule.decay_iters, color="gray", linestyle="--", label="end of decay")
    ax.set_xlabel("iteration")
    ax.set_ylabel("learning rate")
    ax.set_title("linear warmup, cosine decay")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm, labels, title="Confusion matrix"):
    """A picture of the confusion matrix cm (K, K) -> Figure.

    Rows (true class) go down, columns (predicted class) go across; every cell shows its count.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or not np.issubdtype(cm.dtype, np.number):
        raise ValueError(f"cm: expected a square (K, K) array of counts, got shape {cm.shape}")
    if len(labels) != cm.shape[0]:
        raise ValueError(f"labels: expected {cm.shape[0]} class names, got {len(labels)}")
    K = cm.shape[0]
    size = max(3.0, 0.6 * K + 2.0)
    fig = _figure(size, size)
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(K), [str(x) for x in labels], rotation=45, ha="right")
    ax.set_yticks(range(K), [str(x) for x in labels])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    threshold = cm.max() / 2 if cm.size else 0
    for t in range(K):
        for p in range(K):
            text = f"{cm[t, p]:g}" if np.issubdtype(cm.dtype, np.floating) else f"{cm[t, p]}"
            colour = "white" if cm[t, p] > threshold else "black"  # readable on dark cells
            ax.text(p, t, text, ha="center", va="center", color=colour)
    fig.tight_layout()
    return fig

"""Figures the commands and the chapters share. Each function returns a matplotlib Figure (save
it with `fig.savefig(path)`, or let a notebook show it); none writes a file.

They use matplotlib's object interface with the Agg canvas, so they need no display and leave
pyplot's global state (and a notebook's backend) alone.

matplotlib takes half a second to load, so it is imported when the first figure is drawn, in
_figure: the package's one import that is not at the top of its file (tests/test_layout.py
allows it here and nowhere else). A command that draws nothing, or `--help`, never loads it.
"""

import io

import numpy as np

from tinytransformer.checks import check_count


def png_bytes(fig, dpi=100):
    """A figure as the bytes of a PNG file (to write atomically: files.write_atomic)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # attaches itself to fig: savefig then renders with Agg
    return fig


def plot_losses(metrics):
    """Train and val loss against step -> Figure.

    metrics: rows with "step", "train_loss", "val_loss" (the lines of a run's metrics.jsonl:
    training.metrics.read_metrics reads them).
    """
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
    check_count("max_iters", max_iters, low=1)
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


def plot_attention(maps, tokens=None, row=0, title="attention weights"):
    """A grid of heatmaps, one row per layer and one column per head -> Figure.

    maps: one (B, nh, T, T) array of attention probabilities per layer (model.attention_maps()
    after a forward pass); row: which sequence of the batch. tokens: T labels for the axes
    (queries down, keys across). A weight of exactly 0 is a blocked position (the causal
    mask's upper triangle, or padding) and is left blank.
    """
    maps = [np.asarray(m) for m in maps]
    if not maps or any(m.ndim != 4 for m in maps):
        raise ValueError("maps: expected a list of (B, nh, T, T) arrays, one per layer")
    n_layer, n_head, T = len(maps), maps[0].shape[1], maps[0].shape[-1]
    if tokens is not None and len(tokens) != T:
        raise ValueError(f"tokens: expected {T} labels, one per position, got {len(tokens)}")
    size = max(1.6, 0.28 * T)
    fig = _figure(size * n_head + 1.0, size * n_layer + 0.6)
    axes = fig.subplots(n_layer, n_head, squeeze=False)
    for layer, att in enumerate(maps):
        for head in range(n_head):
            ax = axes[layer][head]
            weights = np.ma.masked_equal(att[row, head], 0.0)  # blocked cells stay blank
            image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if tokens is not None and layer == n_layer - 1:
                ax.set_xticks(range(T), [repr(t)[1:-1] for t in tokens], rotation=90, fontsize=7)
            if tokens is not None and head == 0:
                ax.set_yticks(range(T), [repr(t)[1:-1] for t in tokens], fontsize=7)
            if layer == 0:
                ax.set_title(f"head {head}", fontsize=9)
            if head == 0:
                ax.set_ylabel(f"layer {layer}", fontsize=9)
    fig.colorbar(image, ax=axes, fraction=0.02, pad=0.02)
    fig.suptitle(title)
    return fig


def plot_gradcheck(errors, tolerance=1e-6, title="backward pass against finite differences"):
    """One bar per tensor: its relative error (gradcheck.check_gradients's result, name ->
    error), on a log scale, with the tolerance as a line -> Figure."""
    if not errors:
        raise ValueError("errors: expected at least one tensor's error, got none")
    names = list(errors)
    values = np.maximum([float(errors[n]) for n in names], 1e-17)  # log scale: no zeros
    fig = _figure(6, 0.35 * len(names) + 1.2)
    ax = fig.add_subplot()
    colours = ["#2e7d32" if v < tolerance else "#c62828" for v in values]  # green: passes
    ax.barh(range(len(names)), values, color=colours)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(tolerance, color="black", linestyle="--", label=f"tolerance {tolerance:g}")
    ax.set_xlabel("relative error (max |a - b| / max(max |a|, max |b|))")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig

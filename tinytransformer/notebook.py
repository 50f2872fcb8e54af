"""What every chapter's notebook needs, written once: the fast-mode switch, figures shown (and
saved for the chapter) at one size and resolution, a seeded source of training batches, an
evaluation over fixed batches, and a timer.

    from tinytransformer.notebook import FAST, Figures, Timer, batch_source, evaluator

    figures = Figures("4.1")                    # chapters/figures/4.1-NAME.png, in full mode
    next_batch = batch_source(data, "train", B, T, seed=3)
    evaluate = evaluator(model, data, B, T, n_batches=20, seed=4)
    with Timer() as timer:
        result = fit(model, optimizer, next_batch, evaluate, schedule, ...)
    figures.show(plot_losses(history), "loss")  # displayed; saved in full mode
    print(f"{timer.seconds:.0f} s")

FAST is True when the environment sets TINYTRANSFORMER_FAST=1: CI and graders run every
notebook that way, in well under a minute, and every size that costs time follows it. A full run
(FAST False) gives the numbers and figures its chapter quotes.
"""

import io
import os
import time
from pathlib import Path

import numpy as np
from IPython.display import Image, display

from tinytransformer.training.loop import mean_loss

FAST = os.environ.get("TINYTRANSFORMER_FAST") == "1"
FIGURE_DPI = 100
FIGURE_BUDGET = 200_000  # bytes: a chapter's PNG must stay small enough to read on a phone


class Figures:
    """Show a chapter's figures in the notebook; in full mode, also save each one as
    chapters/figures/<chapter>-<name>.png, the file the chapter's text shows.

    A figure is saved only from a full run started in notebooks/ (where ../chapters exists), so
    fast mode and a student's copy in notebooks/student/ never write the chapter's files.
    """

    def __init__(self, chapter, folder="../chapters/figures", save=None):
        self.chapter = chapter
        self.folder = Path(folder)
        self.save = (not FAST and self.folder.parent.is_dir()) if save is None else save

    def png(self, fig, name, dpi=FIGURE_DPI):
        """The figure as PNG bytes, at `dpi` (FIGURE_DPI unless a figure asks for another) with
        its margins trimmed; saved in full mode."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        data = buffer.getvalue()
        if self.save:
            path = self.folder / f"{self.chapter}-{name}.png"
            if len(data) > FIGURE_BUDGET:
                raise ValueError(f"{path}: {len(data):,} bytes, over the {FIGURE_BUDGET:,} budget")
            self.folder.mkdir(exist_ok=True)
            path.write_bytes(data)
        return data

    def show(self, fig, name, dpi=FIGURE_DPI):
        """Display the figure (saving it first in full mode). A figure of many panels, whose
        inches are set by what it shows (plots.plot_attention's one cell per token), may ask for
        a lower `dpi` to keep its pixels to a screen's width."""
        display(Image(self.png(fig, name, dpi)))


def batch_source(data, split, batch_size, block_size, seed):
    """A function of no arguments that returns the next training batch (a Batch) of a split,
    drawn from its own generator seeded by `seed`: the same seed, the same sequence of batches.

    >>> from tinytransformer.text.batching import TokenData
    >>> next_batch = batch_source(TokenData(np.arange(50), np.arange(20)), "train", 2, 4, seed=0)
    >>> next_batch().idx.shape
    (2, 4)
    """
    rng = np.random.default_rng(seed)
    return lambda: data.get_batch(split, batch_size, block_size, rng)


def fixed_batches(data, split, batch_size, block_size, n_batches, seed):
    """n_batches batches of a split drawn from a generator seeded by `seed` -> a list."""
    rng = np.random.default_rng(seed)
    return [data.get_batch(split, batch_size, block_size, rng) for _ in range(n_batches)]


def evaluator(model, data, batch_size, block_size, n_batches, seed, splits=("train", "val")):
    """The `evaluate(step)` that fit calls: the model's mean loss on the same fixed batches of
    each split at every evaluation (split i's drawn with the seed [seed, i]), so that the points
    of a learning curve compare -> {"train_loss": ..., "val_loss": ...}."""
    batches = {
        split: fixed_batches(data, split, batch_size, block_size, n_batches, [seed, i])
        for i, split in enumerate(splits)
    }

    def evaluate(step):
        return {f"{split}_loss": mean_loss(model, batches[split]) for split in splits}

    return evaluate


class Timer:
    """`with Timer() as timer: ...`, then `timer.seconds`: the wall-clock time of the body."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.seconds = None
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start

"""The notebooks' toolkit (tinytransformer/notebook.py): FAST from the environment, figures saved
only in a full run from notebooks/ and refused over the size budget, seeded batch sources, an
evaluator over fixed batches, and a timer.

The evaluator is run on a recording "model" whose loss is the mean of the ids it reads, so every
evaluation is a known answer and the batches it saw can be compared one by one.
"""

import importlib
import time

import numpy as np
import pytest
from matplotlib.figure import Figure

from tinytransformer import notebook
from tinytransformer.notebook import (
    FIGURE_BUDGET,
    Figures,
    Timer,
    batch_source,
    evaluator,
    fixed_batches,
)
from tinytransformer.text.batching import Batch, TokenData
from tinytransformer.training.loop import mean_loss

# ids 0..99 train, 1000..1099 validate: a batch's ids say which split it came from
DATA = TokenData(np.arange(100), np.arange(1000, 1100))


def test_fast_is_read_from_the_environment(monkeypatch):
    try:
        for value, fast in (("1", True), ("0", False), ("", False), (None, False)):
            if value is None:
                monkeypatch.delenv("TINYTRANSFORMER_FAST", raising=False)
            else:
                monkeypatch.setenv("TINYTRANSFORMER_FAST", value)
            assert importlib.reload(notebook).FAST is fast, value
    finally:
        monkeypatch.undo()
        importlib.reload(notebook)


def small_figure():
    """2 x 1 inches, a line in the middle half and nothing else: margins to trim."""
    fig = Figure(figsize=(2, 1))
    ax = fig.add_axes((0.25, 0.25, 0.5, 0.5))
    ax.plot([0, 1], [1, 0])
    ax.set_axis_off()
    return fig


def png_size_and_dpi(data):
    """A PNG's (width, height) in pixels from its IHDR chunk, and its dots per inch from pHYs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    at = data.index(b"pHYs") + 4
    per_metre = int.from_bytes(data[at : at + 4], "big")
    return (width, height), round(per_metre * 0.0254)


@pytest.fixture
def shown(monkeypatch):
    """What Figures.show displayed: the PNG bytes of each Image."""
    images = []
    monkeypatch.setattr(notebook, "display", lambda image: images.append(image.data))
    return images


def test_figures_are_written_only_in_a_full_run_started_in_notebooks(tmp_path, monkeypatch, shown):
    folder = tmp_path / "chapters" / "figures"  # as seen from notebooks/: ../chapters/figures
    (tmp_path / "chapters").mkdir()
    monkeypatch.setattr(notebook, "FAST", True)
    Figures("4.1", folder=folder).show(small_figure(), "demo")
    assert not folder.exists() and len(shown) == 1  # fast mode: shown, never written

    monkeypatch.setattr(notebook, "FAST", False)
    Figures("4.1", folder=folder).show(small_figure(), "demo")
    written = (folder / "4.1-demo.png").read_bytes()
    assert written == shown[-1]  # the file is what the notebook showed
    # 2 x 1 inches at 100 dpi would be 200 x 100 pixels; the margins are trimmed
    (width, height), dpi = png_size_and_dpi(written)
    assert dpi == notebook.FIGURE_DPI == 100 and 100 < width < 180 and 50 < height < 90

    # a student's copy runs in notebooks/student/, where ../chapters does not exist
    elsewhere = tmp_path / "student-view" / "figures"
    Figures("4.1", folder=elsewhere).show(small_figure(), "demo")
    assert not elsewhere.parent.exists() and len(shown) == 3


def test_a_figure_may_ask_for_another_dpi(tmp_path, shown):
    figures = Figures("5", folder=tmp_path / "figures", save=True)
    figures.show(small_figure(), "fine")
    figures.show(small_figure(), "coarse", dpi=50)
    (width, height), dpi = png_size_and_dpi(shown[0])
    (half_width, half_height), half_dpi = png_size_and_dpi(shown[1])
    assert (dpi, half_dpi) == (100, 50)
    assert abs(2 * half_width - width) <= 2 and abs(2 * half_height - height) <= 2
    assert (tmp_path / "figures" / "5-coarse.png").read_bytes() == shown[1]


def test_a_figure_over_the_budget_is_refused_and_not_written(tmp_path, shown):
    noise = np.random.default_rng(0).random((600, 600, 3))  # incompressible pixels
    fig = Figure(figsize=(6, 6))
    fig.add_axes((0, 0, 1, 1)).imshow(noise, interpolation="nearest")
    figures = Figures("4.2", folder=tmp_path / "figures", save=True)
    with pytest.raises(ValueError, match=r"4\.2-noise\.png: [\d,]+ bytes, over the 200,000"):
        figures.show(fig, "noise")
    assert not (tmp_path / "figures" / "4.2-noise.png").exists() and shown == []
    assert len(Figures("4.2", save=False).png(fig, "noise")) > FIGURE_BUDGET  # only saving checks


def test_a_batch_source_with_the_same_seed_gives_the_same_batches():
    first, again = batch_source(DATA, "train", 4, 8, seed=3), batch_source(DATA, "train", 4, 8, 3)
    rng = np.random.default_rng(3)  # what the source must be: get_batch on one seeded generator
    for _ in range(5):
        a, b, want = first(), again(), DATA.get_batch("train", 4, 8, rng)
        assert isinstance(a, Batch) and a.idx.shape == (4, 8) and a.attention_mask is None
        assert np.array_equal(a.idx, b.idx) and np.array_equal(a.targets, b.targets)
        assert np.array_equal(a.idx, want.idx) and (a.idx < 100).all()  # from the train split
    other = batch_source(DATA, "train", 4, 8, seed=4)
    assert not np.array_equal(other().idx, batch_source(DATA, "train", 4, 8, seed=3)().idx)


def test_fixed_batches_are_n_batches_of_one_seeded_generator():
    batches = fixed_batches(DATA, "val", 2, 5, n_batches=3, seed=[7, 1])
    rng = np.random.default_rng([7, 1])
    assert len(batches) == 3
    for batch in batches:
        assert np.array_equal(batch.idx, DATA.get_batch("val", 2, 5, rng).idx)
        assert (batch.idx >= 1000).all()  # from the validation split


class MeanOfIds:
    """A stand-in model: its loss is the mean of the ids it reads. Records every batch it is
    given, with the mode it was in."""

    def __init__(self):
        self.training = True
        self.seen = []  # (idx, training) of every call

    def __call__(self, idx, targets=None, attention_mask=None):
        self.seen.append((idx, self.training))
        return None, np.float32(idx.mean())

    def train(self):
        self.training = True

    def eval(self):
        self.training = False


def test_the_evaluator_scores_the_same_fixed_batches_of_each_split_every_time():
    model = MeanOfIds()
    evaluate = evaluator(model, DATA, 3, 6, n_batches=4, seed=9)
    first = evaluate(0)
    seen_first = [idx for idx, _ in model.seen]
    model.seen.clear()
    assert evaluate(500) == first  # another step: the same batches, the same losses
    assert all(np.array_equal(a, b) for (a, _), b in zip(model.seen, seen_first, strict=True))
    # split i is drawn by the generator [seed, i]: train [9, 0], then val [9, 1]
    train = fixed_batches(DATA, "train", 3, 6, 4, seed=[9, 0])
    val = fixed_batches(DATA, "val", 3, 6, 4, seed=[9, 1])
    assert first == {"train_loss": mean_loss(MeanOfIds(), train), "val_loss": mean_loss(model, val)}
    assert first["train_loss"] == pytest.approx(np.mean([b.idx.mean() for b in train]), rel=1e-6)
    assert first["val_loss"] > 1000 > first["train_loss"]  # each split its own ids
    # in eval mode (no dropout) while it scores, and back in training mode after
    assert not any(training for _, training in model.seen) and model.training


def test_the_evaluator_takes_the_splits_it_is_given():
    evaluate = evaluator(MeanOfIds(), DATA, 2, 4, n_batches=2, seed=1, splits=("val",))
    val = fixed_batches(DATA, "val", 2, 4, 2, seed=[1, 0])  # the first split listed: i = 0
    assert evaluate(0) == {"val_loss": mean_loss(MeanOfIds(), val)}


def test_the_timer_measures_its_body_even_when_it_raises():
    with Timer() as timer:
        assert timer.seconds is None  # nothing to read until the body is done
        time.sleep(0.05)
    assert 0.05 <= timer.seconds < 5
    with pytest.raises(KeyError), Timer() as failed:
        raise KeyError("inside")
    assert failed.seconds is not None and 0 <= failed.seconds < 5

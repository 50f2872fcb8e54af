"""Perplexity and latency with small fake models whose answers are known, classification
metrics on worked examples, and score_files on tiny files."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from tinytransformer.commands.evaluate import score_files
from tinytransformer.evaluation.bleu import corpus_bleu
from tinytransformer.evaluation.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
)
from tinytransformer.evaluation.latency import measure_latency
from tinytransformer.evaluation.perplexity import perplexity
from tinytransformer.evaluation.rouge import corpus_rouge
from tinytransformer.models.sampling import Sampling
from tinytransformer.plots import plot_confusion_matrix

# ----------------------------------------------------------------------------- fake models


class FakeModel:
    """Follows the model contract; `probs(idx)` gives next-token probabilities (B, T, V)."""

    def __init__(self, probs, V, block_size):
        self.probs, self.V = probs, V
        self.config = SimpleNamespace(block_size=block_size, vocab_size=V)
        self.training = True
        self.modes_seen = []  # the training flag at each forward call
        self.calls = []  # (idx, targets) of each forward call

    def eval(self):
        self.training = False

    def train(self):
        self.training = True

    def __call__(self, idx, targets):
        assert idx.shape == targets.shape and idx.shape[1] <= self.config.block_size
        self.modes_seen.append(self.training)
        self.calls.append((idx.copy(), targets.copy()))
        p = self.probs(idx)  # (B, T, V)
        picked = np.take_along_axis(p, targets[..., None], axis=-1)[..., 0]  # (B, T)
        return np.log(p), np.float32(-np.log(picked).mean())  # loss in float32, as training


def uniform(V):
    return lambda idx: np.full(idx.shape + (V,), 1.0 / V)


def by_current_token(idx):
    # V = 2. After token 0: P(next=1) = 0.5; after token 1: P(next=1) = 0.8.
    p1 = np.where(idx == 0, 0.5, 0.8)  # (B, T)
    return np.stack([1 - p1, p1], axis=-1)  # (B, T, 2)


# ----------------------------------------------------------------------------- perplexity


def test_uniform_model_has_perplexity_V():
    V = 7
    ids = np.random.default_rng(0).integers(0, V, size=101)
    r = perplexity(FakeModel(uniform(V), V, block_size=8), ids, batch_size=3)
    assert r.perplexity == pytest.approx(V, rel=1e-6)  # the model's loss is float32
    assert r.nll == pytest.approx(math.log(V), rel=1e-6)
    assert r.n_tokens == 100


def test_known_probabilities_by_hand():
    # ids 0 1 1 0: the model predicts 1 after 0 with p 0.5, 1 after 1 with p 0.8, 0 after 1
    # with p 0.2. Perplexity = (0.5 * 0.8 * 0.2) ** (-1/3) = 12.5 ** (1/3). With block_size 2
    # the windows hold 2 and 1 predictions: averaging the two windows' perplexities instead
    # would give (sqrt(1/0.4) + 1/0.2) / 2 = 3.29, not 2.32.
    ids = np.array([0, 1, 1, 0])
    model = FakeModel(by_current_token, 2, block_size=4)
    r = perplexity(model, ids, block_size=2, batch_size=8)
    assert r.perplexity == pytest.approx(12.5 ** (1 / 3), rel=1e-6)
    assert r.nll == pytest.approx(-math.log(0.08) / 3, rel=1e-6)
    assert r.n_tokens == 3
    assert [c[0].shape for c in model.calls] == [(1, 2), (1, 1)]  # full window, then the rest


@pytest.mark.parametrize(
    "n, block, batch", [(2, 4, 1), (9, 4, 1), (10, 3, 2), (17, 4, 8), (40, 5, 3)]
)
def test_every_token_predicted_exactly_once(n, block, batch):
    ids = np.arange(n) % 11
    model = FakeModel(uniform(11), 11, block_size=block)
    r = perplexity(model, ids, batch_size=batch)
    inputs = np.concatenate([x.ravel() for x, _ in model.calls])
    targets = np.concatenate([y.ravel() for _, y in model.calls])
    np.testing.assert_array_equal(inputs, ids[:-1])  # windows do not overlap
    np.testing.assert_array_equal(targets, ids[1:])  # each target is the next input
    assert r.n_tokens == n - 1
    assert all(x.shape[0] <= batch and x.shape[1] <= block for x, _ in model.calls)


def test_eval_mode_inside_and_previous_mode_restored():
    model = FakeModel(uniform(3), 3, block_size=4)
    ids = np.array([0, 1, 2, 0, 1, 2])
    perplexity(model, ids)
    assert model.modes_seen and not any(model.modes_seen) and model.training is True
    model.eval()
    perplexity(model, ids)
    assert model.training is False


@pytest.mark.parametrize(
    "ids, kwargs, error, words",
    [
        (np.array([3]), {}, ValueError, "ids: expected at least 2 tokens"),
        (np.zeros((2, 3), dtype=int), {}, ValueError, "1-d array"),
        (np.array([0.0, 1.0]), {}, TypeError, "integer token ids"),
        ([0, 1, 2], {}, TypeError, "ids: expected a numpy array"),
        (
            np.array([0, 1, 2]),
            {"block_size": 9},
            ValueError,
            "block_size: expected a whole number >= 1 and <= 4, got 9",
        ),
        (np.array([0, 1, 2]), {"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_perplexity_bad_input(ids, kwargs, error, words):
    with pytest.raises(error) as info:
        perplexity(FakeModel(uniform(3), 3, block_size=4), ids, **kwargs)
    assert words in str(info.value)


# ----------------------------------------------------------------------------- latency


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeGenerator:
    """Reading the prompt costs 0.1 s per token; each later token costs 0.05 s."""

    def __init__(self, clock):
        self.clock, self.training, self.calls = clock, False, []
        self.config = SimpleNamespace(block_size=16)

    def eval(self):
        self.training = False

    def train(self):
        self.training = True

    def generate_iter(self, idx, max_new_tokens, sampling, rng=None):
        self.calls.append((idx.shape, max_new_tokens, sampling, rng))
        for step in range(max_new_tokens):
            self.clock.now += 0.1 * idx.shape[1] if step == 0 else 0.05
            yield np.zeros((idx.shape[0], 1), dtype=np.int64)


def test_latency_with_a_fake_clock_by_hand():
    clock = FakeClock()
    model = FakeGenerator(clock)
    prompts = [np.arange(k) for k in (1, 2, 3, 4)]
    rng = np.random.default_rng(0)
    sampling = Sampling(temperature=0.8, top_k=3)
    r = measure_latency(model, prompts, 5, sampling, rng=rng, clock=clock)
    # time to first token 0.1, 0.2, 0.3, 0.4 s; each response then takes 4 * 0.05 s more:
    # totals 0.3, 0.4, 0.5, 0.6 s; tokens/s 5/0.3, 5/0.4, 5/0.5, 5/0.6, mean 11.875.
    # numpy's linear percentile of 4 sorted values: p50 sits at index 1.5, p95 at index 2.85.
    ttft = [x.ttft_s for x in r.responses]
    assert ttft == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=1e-12)
    assert [x.total_s for x in r.responses] == pytest.approx([0.3, 0.4, 0.5, 0.6], abs=1e-12)
    assert [x.n_tokens for x in r.responses] == [5, 5, 5, 5]
    assert r.ttft_p50_s == pytest.approx(0.25, abs=1e-12)
    assert r.ttft_p95_s == pytest.approx(0.3 + 0.85 * 0.1, abs=1e-12)
    assert r.latency_p50_s == pytest.approx(0.45, abs=1e-12)
    assert r.latency_p95_s == pytest.approx(0.5 + 0.85 * 0.1, abs=1e-12)
    assert r.mean_tokens_per_s == pytest.approx(11.875, abs=1e-9)
    assert r.n_responses == 4
    # batch 1 per prompt, sampling options passed through untouched
    assert [c[0] for c in model.calls] == [(1, 1), (1, 2), (1, 3), (1, 4)]
    assert model.calls[0][2:] == (sampling, rng)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["responses"][3]["tokens_per_s"] == pytest.approx(5 / 0.6, abs=1e-9)


def test_latency_bad_input():
    clock = FakeClock()
    model = FakeGenerator(clock)
    with pytest.raises(ValueError, match="max_new_tokens: expected a whole number >= 1, got 0"):
        measure_latency(model, [np.arange(3)], 0, clock=clock)
    with pytest.raises(ValueError, match=r"prompts\[1\]"):
        measure_latency(model, [np.arange(3), np.zeros((1, 3), dtype=int)], 2, clock=clock)
    with pytest.raises(TypeError, match="prompts"):
        measure_latency(model, np.arange(3), 2, clock=clock)
    with pytest.raises(RuntimeError, match="clock"):
        measure_latency(model, [np.arange(3)], 2, clock=lambda: 1.0)  # a clock that never moves


# ----------------------------------------------------------------------------- classification

# y_true 0 0 0 1 1 2, y_pred 0 0 1 1 2 2:
# confusion (rows true, cols predicted) [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
# precision TP / column sum: 2/2, 1/2, 1/2; recall TP / row sum: 2/3, 1/2, 1/1
# F1 2TP / (row + column): 4/5, 2/4, 2/3; macro F1 (4/5 + 1/2 + 2/3) / 3 = 59/90
Y_TRUE, Y_PRED = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]


def test_classification_worked_example():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6, abs=1e-15)
    cm = confusion_matrix(Y_TRUE, Y_PRED, n_classes=3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    r = classification_report(Y_TRUE, Y_PRED, labels=["cat", "dog", "eel"])
    np.testing.assert_allclose(r.precision, [1.0, 0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose(r.recall, [2 / 3, 0.5, 1.0], atol=1e-15)
    np.testing.assert_allclose(r.f1, [0.8, 0.5, 2 / 3], atol=1e-15)
    np.testing.assert_array_equal(r.support, [3, 2, 1])
    assert r.macro_f1 == pytest.approx(59 / 90, abs=1e-15)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["classes"]["dog"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert "macro F1" in str(r)


def test_zero_division_gives_zero():
    # A 4th class that never occurs: its precision, recall and F1 are 0/0 -> 0, and it still
    # counts in the macro mean: 59/90 * 3/4 = 59/120.
    r = classification_report(Y_TRUE, Y_PRED, n_classes=4)
    assert (r.precision[3], r.recall[3], r.f1[3]) == (0.0, 0.0, 0.0)
    assert r.macro_f1 == pytest.approx(59 / 120, abs=1e-15)
    # class 1 present but never predicted: precision 0/0 -> 0, recall 0/1 = 0
    r = classification_report([0, 1], [0, 0], n_classes=2)
    np.testing.assert_allclose(r.precision, [0.5, 0.0], atol=1e-15)
    np.testing.assert_allclose(r.f1, [2 / 3, 0.0], atol=1e-15)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: accuracy([0, 1], [0]), ValueError, "got 2 and 1"),
        (lambda: accuracy([], []), ValueError, "at least one item"),
        (lambda: accuracy([0.5], [0]), TypeError, "y_true: expected integer class ids"),
        (lambda: confusion_matrix([0, 3], [0, 1], 3), ValueError, "y_true: class ids must lie"),
        (
            lambda: confusion_matrix([0], [0], 0),
            ValueError,
            "n_classes: expected a whole number >= 1",
        ),
        (lambda: classification_report([0], [0]), ValueError, "got neither"),
        (lambda: classification_report([0], [0], 2, ["a"]), ValueError, "expected 2 class names"),
    ],
)
def test_classification_bad_input(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


def test_plot_confusion_matrix_draws_every_count(tmp_path):
    cm = confusion_matrix(Y_TRUE, Y_PRED, n_classes=3)
    fig = plot_confusion_matrix(cm, ["cat", "dog", "eel"])
    (ax, _colorbar) = fig.axes
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(n) for n in cm.ravel())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "eel"]
    fig.savefig(tmp_path / "cm.png")
    data = (tmp_path / "cm.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    with pytest.raises(ValueError, match="labels: expected 3"):
        plot_confusion_matrix(cm, ["a", "b"])


# ----------------------------------------------------------------------------- score_files


def test_score_files_matches_the_functions(tmp_path):
    hyps = ["the cat sat on the mat", "naïve café, 3.5 €"]
    refs_a = ["the cat sat on a mat", "naïve café 3.5 euros"]
    refs_b = ["a cat sat", "café"]
    (tmp_path / "hyp.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    (tmp_path / "a.txt").write_bytes(("\r\n".join(refs_a) + "\r\n").encode("utf-8"))  # CRLF
    (tmp_path / "b.txt").write_text("\n".join(refs_b), encoding="utf-8")  # no final newline
    out = score_files(tmp_path / "hyp.txt", [tmp_path / "a.txt", tmp_path / "b.txt"])
    bleu = corpus_bleu(hyps, [refs_a, refs_b])
    assert out["n_segments"] == 2
    assert out["bleu"]["score"] == pytest.approx(bleu.score, abs=1e-12)
    assert out["bleu"]["precisions"] == pytest.approx(bleu.precisions, abs=1e-12)
    targets = [[a, b] for a, b in zip(refs_a, refs_b)]
    expected = corpus_rouge(targets, hyps)
    for name, f1 in out["rouge"].items():
        assert f1 == pytest.approx(expected[name].fmeasure, abs=1e-12)
    json.dumps(out)  # JSON-able
    only = score_files(tmp_path / "hyp.txt", tmp_path / "a.txt", metrics=("rouge",))
    assert "bleu" not in only and set(only["rouge"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}


def test_score_files_mismatched_lines(tmp_path):
    (tmp_path / "hyp.txt").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ValueError) as info:
        score_files(tmp_path / "hyp.txt", [tmp_path / "ref.txt"])
    message = str(info.value)
    assert "ref.txt has 2 lines" in message and "hyp.txt has 3" in message
    with pytest.raises(ValueError, match="metrics"):
        score_files(tmp_path / "hyp.txt", [tmp_path / "ref.txt"], metrics=("meteor",))

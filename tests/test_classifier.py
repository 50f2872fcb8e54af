"""The sequence classifier: pooling, its gradients through a GPT or a MaskedLM trunk, padding,
freezing, the optimizer contract, and learning a tiny task.

Tolerances: gradient checks in float64 pass when the worst relative error (gradcheck.rel_error)
of every parameter is below 1e-6, as in test_gradients.py. Padding invariance is asserted
exactly where the arithmetic is the same, and to 1e-12 where the batch shape differs (a
different T changes the order of some sums).
"""

import numpy as np
import pytest

from tinytransformer.gradcheck import check_gradients, numerical_gradient, rel_error
from tinytransformer.models.classifier import (
    POOLINGS,
    SequenceClassifier,
    pool_backward,
    pool_forward,
)
from tinytransformer.models.config import TransformerConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.transformer import MaskedLM
from tinytransformer.training.optimizer import AdamW

TOL = 1e-6
BACKBONES = {"gpt": GPT, "mlm": MaskedLM}
HEAD = {"classifier.weight", "classifier.bias"}


def tiny_config(n_layer=1, n_embd=4, dropout=0.0):
    return TransformerConfig(
        vocab_size=7, block_size=6, n_layer=n_layer, n_head=2, n_embd=n_embd, dropout=dropout
    )


def tiny_classifier(kind, pooling=None, seed=0, dtype=np.float64, **config):
    """A classifier whose every parameter is moved off its symmetric initialisation."""
    backbone = BACKBONES[kind](tiny_config(**config), seed=seed, dtype=dtype)
    clf = SequenceClassifier(backbone, n_classes=3, pooling=pooling, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for name, p in clf.params.items():
        base = 1.0 if ".ln_" in name and name.endswith("weight") else 0.0
        p[...] = base + 0.3 * rng.standard_normal(p.shape)
    return clf


def padded_batch():
    """B=3, T=5: full, two pads, four pads (a single real token). Id 6 plays [PAD]."""
    idx = np.array([[1, 4, 2, 0, 3], [5, 0, 2, 6, 6], [3, 6, 6, 6, 6]])
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    labels = np.array([2, 0, 1])
    return idx, mask, labels


def test_pooling_worked_example():
    x = np.arange(12.0).reshape(2, 3, 2)  # row 0: [0,1] [2,3] [4,5]; row 1: [6,7] [8,9] [10,11]
    mask = np.array([[1, 1, 1], [1, 1, 0]])
    expected = {
        "cls": [[0, 1], [6, 7]],
        "mean": [[2, 3], [7, 8]],  # the mean of row 1 leaves out the padded [10, 11]
        "last": [[4, 5], [8, 9]],  # the last REAL token, not position T - 1
    }
    for pooling in POOLINGS:
        pooled, cache = pool_forward(x, mask, pooling)
        np.testing.assert_array_equal(pooled, expected[pooling])
        dx = pool_backward(np.ones((2, 2)), cache)
        assert dx[1, 2].tolist() == [0.0, 0.0], f"{pooling}: gradient reached the padding"


@pytest.mark.parametrize("pooling", POOLINGS)
def test_pooling_gradient(pooling):
    rng = np.random.default_rng(0)
    _, mask, _ = padded_batch()

    def forward(x):
        return pool_forward(x, mask, pooling)

    def backward(dout, cache):
        return (pool_backward(dout, cache),)

    errors = check_gradients(forward, backward, {"x": rng.standard_normal((3, 5, 4))}, rng=rng)
    assert errors["x"] < TOL


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("kind", BACKBONES)
def test_gradient_check_every_parameter(kind, pooling):
    clf = tiny_classifier(kind, pooling)
    idx, mask, labels = padded_batch()
    clf(idx, labels, attention_mask=mask)
    grads = dict(clf.backward())
    assert set(grads) == set(clf.params)

    def f():
        return clf(idx, labels, attention_mask=mask)[1]

    errors = {n: rel_error(grads[n], numerical_gradient(f, p, 1.0)) for n, p in clf.params.items()}
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{kind}/{pooling}: {worst} has relative error {errors[worst]:.2e}"


def test_backward_with_a_given_upstream_gradient():
    """backward(dlogits) differentiates sum(logits * dlogits), a random dlogits (never ones)."""
    clf = tiny_classifier("mlm", "mean")
    idx, mask, _ = padded_batch()
    logits, _ = clf(idx, attention_mask=mask)
    dout = np.random.default_rng(1).standard_normal(logits.shape)
    grads = dict(clf.backward(dout))

    def f():
        return clf(idx, attention_mask=mask)[0]

    for name in ("classifier.weight", "transformer.h.0.attn.c_attn.weight"):
        num = numerical_gradient(f, clf.params[name], dout)
        assert rel_error(grads[name], num) < TOL, name


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("kind", BACKBONES)
def test_padding_changes_nothing(kind, pooling):
    clf = tiny_classifier(kind, pooling)
    idx, mask, labels = padded_batch()
    logits, loss = clf(idx, labels, attention_mask=mask)
    other = np.where(mask == 1, idx, 2)  # other ids at every padded position
    logits2, loss2 = clf(other, labels, attention_mask=mask)
    np.testing.assert_array_equal(logits2, logits)
    assert float(loss2) == float(loss)
    # row 1 alone and unpadded gives the same logits
    alone, _ = clf(idx[1:2, :3])
    np.testing.assert_allclose(alone[0], logits[1], rtol=0, atol=1e-12)


def test_default_pooling_follows_the_backbone():
    assert SequenceClassifier(GPT(tiny_config()), 2).pooling == "last"
    assert SequenceClassifier(MaskedLM(tiny_config()), 2).pooling == "cls"


@pytest.mark.parametrize("kind", BACKBONES)
def test_frozen_parameters_get_no_gradient(kind):
    idx, mask, labels = padded_batch()
    clf = tiny_classifier(kind, n_layer=2)
    clf(idx, labels, attention_mask=mask)
    full = dict(clf.backward())

    clf.freeze(1)  # the last block, ln_f and the head train
    assert clf.frozen is clf.backbone.frozen and not HEAD & clf.frozen
    clf(idx, labels, attention_mask=mask)
    grads = clf.backward()
    trainable = {n for n in clf.params if n not in clf.frozen}
    assert set(grads) == trainable
    assert all(n.startswith(("transformer.h.1.", "transformer.ln_f.")) for n in trainable - HEAD)
    for name in trainable:  # stopping the backward early changes no gradient it does compute
        np.testing.assert_array_equal(grads[name], full[name])

    clf.freeze(0)
    clf(idx, labels, attention_mask=mask)
    assert set(clf.backward()) == HEAD | {"transformer.ln_f.weight", "transformer.ln_f.bias"}

    # AdamW honours clf.frozen: the trunk below ln_f stays exactly as it was
    before = clf.state_dict()
    opt = AdamW(clf, lr=0.1)
    opt.step()
    for name, p in clf.params.items():
        moved = not np.array_equal(p, before[name])
        assert moved == (name not in clf.frozen), name


def test_params_are_the_backbones_own_arrays():
    clf = tiny_classifier("gpt")
    backbone = clf.backbone
    for name, p in backbone.params.items():
        assert clf.params[name] is p
    clf.params["transformer.wpe.weight"][0, 0] = 42.0  # an in-place update reaches the backbone
    assert backbone.params["transformer.wpe.weight"][0, 0] == 42.0
    backbone.load_state_dict(GPT(tiny_config(), seed=9, dtype=np.float64).state_dict())
    assert clf.params["transformer.wpe.weight"] is backbone.params["transformer.wpe.weight"]
    assert clf.config is backbone.config and clf.rng is backbone.rng
    assert clf.dtype == np.float64
    C, K = backbone.config.n_embd, 3
    assert clf.num_parameters() == backbone.num_parameters() + C * K + K
    assert clf.eval() is clf and not clf.training and not backbone.training
    assert clf.train().training and backbone.training


def test_state_dict_round_trip_and_errors():
    clf = tiny_classifier("mlm")
    sd = clf.state_dict()
    assert HEAD < set(sd) and sd["classifier.weight"] is not clf.params["classifier.weight"]
    other = tiny_classifier("mlm", seed=5)
    other.load_state_dict(sd)
    for name, p in clf.params.items():
        np.testing.assert_array_equal(other.params[name], p)
    with pytest.raises(ValueError, match=r"missing \['classifier.bias'\]"):
        other.load_state_dict({n: p for n, p in sd.items() if n != "classifier.bias"})
    with pytest.raises(ValueError, match=r"classifier.weight: expected \(4, 3\), got \(4, 2\)"):
        other.load_state_dict({**sd, "classifier.weight": np.zeros((4, 2))})
    rebuilt = SequenceClassifier.from_spec(MaskedLM(tiny_config()), clf.spec())
    assert (
        rebuilt.spec()
        == clf.spec()
        == {
            "backbone": "MaskedLM",
            "n_classes": 3,
            "pooling": "cls",
            "dropout": 0.0,
        }
    )


def test_predict_and_head_dropout():
    clf = tiny_classifier("mlm", dtype=np.float64)
    clf.dropout = 0.5
    idx, mask, _ = padded_batch()
    clf.train()
    a, _ = clf(idx, attention_mask=mask)
    b, _ = clf(idx, attention_mask=mask)
    assert not np.array_equal(a, b)  # dropout draws a new mask each time in training
    pred = clf.predict(idx, mask)
    assert clf.training  # predict restores the mode it found
    clf.eval()
    np.testing.assert_array_equal(pred, clf(idx, attention_mask=mask)[0].argmax(axis=1))
    np.testing.assert_array_equal(clf.predict(idx, mask, batch_size=2), pred)


def test_bad_arguments():
    gpt = GPT(tiny_config())
    with pytest.raises(ValueError, match="pooling: expected one of"):
        SequenceClassifier(gpt, 2, pooling="max")
    with pytest.raises(ValueError, match="n_classes: expected a whole number >= 2, got 1"):
        SequenceClassifier(gpt, 1)
    with pytest.raises(TypeError, match=r"backbone: expected a Transformer \(GPT or MaskedLM\)"):
        SequenceClassifier(object(), 2)
    clf = SequenceClassifier(gpt, 3)
    idx, mask, labels = padded_batch()
    with pytest.raises(ValueError, match="attention_mask: row 1 has no real token"):
        clf(idx, labels, attention_mask=np.array([[1] * 5, [0] * 5, [1] * 5]))
    with pytest.raises(ValueError, match=r"labels: ids must lie in \[0, 3\), got 3"):
        clf(idx, np.array([0, 1, 3]), attention_mask=mask)
    with pytest.raises(ValueError, match="labels: expected 3 labels, one per row of idx, got 2"):
        clf(idx, np.array([0, 1]), attention_mask=mask)
    clf(idx, attention_mask=mask)
    with pytest.raises(RuntimeError, match="no labels, so no loss"):
        clf.backward()


@pytest.mark.parametrize("kind", BACKBONES)
def test_learns_a_tiny_task_to_full_train_accuracy(kind):
    """Label 1 if token 1 occurs anywhere in the sequence, else 0: the classifier must look at
    every position, through attention. 24 padded sequences of 2..5 tokens, float32, AdamW,
    100 steps (100% accuracy is first reached after about 10)."""
    rng = np.random.default_rng(0)
    cls_id, pad_id = 5, 6
    B, T = 24, 6
    idx = np.full((B, T), pad_id)
    mask = np.zeros((B, T), dtype=np.int64)
    labels = np.arange(B) % 2
    for b in range(B):
        n = rng.integers(2, 6)
        tokens = rng.integers(2, 5, size=n)  # ordinary tokens 2..4
        if labels[b]:
            tokens[rng.integers(0, n)] = 1
        row = [cls_id, *tokens] if kind == "mlm" else list(tokens)
        idx[b, : len(row)] = row
        mask[b, : len(row)] = 1
    backbone = BACKBONES[kind](tiny_config(n_layer=1, n_embd=16), seed=0)
    clf = SequenceClassifier(backbone, n_classes=2)
    opt = AdamW(clf, lr=1e-2)
    losses = []
    for _ in range(100):
        _, loss = clf(idx, labels, attention_mask=mask)
        losses.append(float(loss))
        clf.backward()
        opt.step()
    accuracy = (clf.predict(idx, mask) == labels).mean()
    assert accuracy == 1.0, f"{kind}: train accuracy {accuracy:.2f} after 100 steps"
    # from ln 2 = 0.69 at the start to under 0.01 (measured: 0.002 for the GPT, 0.0004 MaskedLM)
    assert losses[0] == pytest.approx(np.log(2), abs=0.05) and losses[-1] < 0.01, losses[::10]


def test_an_unknown_pooling_is_an_error():
    with pytest.raises(ValueError, match="pooling: expected one of .* got 'max'"):
        pool_forward(np.zeros((1, 2, 3)), np.ones((1, 2)), "max")


def test_backward_checks_its_upstream_gradient():
    backbone = GPT(TransformerConfig(vocab_size=7, block_size=4, n_layer=1, n_head=1, n_embd=4))
    clf = SequenceClassifier(backbone, 3)
    clf(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"dlogits: expected shape \(2, 3\), got \(3, 2\)"):
        clf.backward(np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError, match="dlogits: expected the model's dtype float32, got float64"):
        clf.backward(np.zeros((2, 3), np.float64))


def test_mean_pooling_keeps_float32():
    x = np.ones((2, 3, 4), np.float32)
    pooled, cache = pool_forward(x, np.array([[1, 1, 0], [1, 0, 0]]), "mean")
    assert pooled.dtype == np.float32
    np.testing.assert_array_equal(pooled, np.ones((2, 4)))
    assert pool_backward(np.ones((2, 4), np.float32), cache).dtype == np.float32


def test_head_initialisation_is_seeded_normal_0_02_and_zero_bias():
    """classifier.weight ~ N(0, 0.02) drawn from default_rng(seed), seed 0 by default; the bias
    starts at zero. A fresh classifier has no gradients yet."""
    backbone = GPT(tiny_config(), dtype=np.float32)
    clf = SequenceClassifier(backbone, n_classes=3)
    expected = np.random.default_rng(0).normal(0.0, 0.02, size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(clf.head["classifier.weight"], expected)
    np.testing.assert_array_equal(clf.head["classifier.bias"], np.zeros(3, np.float32))
    assert clf.head["classifier.weight"].dtype == np.float32
    seven = SequenceClassifier(backbone, n_classes=3, seed=7).head["classifier.weight"]
    np.testing.assert_array_equal(
        seven, np.random.default_rng(7).normal(0.0, 0.02, size=(4, 3)).astype(np.float32)
    )
    assert clf.grads == {}


def test_constructor_errors_name_the_argument():
    gpt = GPT(tiny_config())
    with pytest.raises(TypeError, match=r"^backbone: .* got object without \.trunk_forward$"):
        SequenceClassifier(object(), 2)
    with pytest.raises(TypeError, match=r"^n_classes: expected a whole number >= 2, got 2\.5$"):
        SequenceClassifier(gpt, 2.5)
    with pytest.raises(TypeError, match="^n_classes: expected a whole number >= 2, got True$"):
        SequenceClassifier(gpt, True)
    with pytest.raises(
        ValueError, match=r"^dropout: expected a probability in \[0, 1\), got 1\.0$"
    ):
        SequenceClassifier(gpt, 2, dropout=1.0)
    assert SequenceClassifier(gpt, np.int64(4)).n_classes == 4  # a NumPy integer is an int


def test_forward_errors_name_the_argument():
    clf = tiny_classifier("gpt")
    idx, mask, labels = padded_batch()  # (3, 5)
    with pytest.raises(ValueError, match=r"^idx: ids must lie in \[0, 7\), got 7$"):
        clf(np.array([[1, 7]]))
    with pytest.raises(ValueError, match=r"^idx: expected a 2-d array, got shape \(5,\)$"):
        clf(idx[0], labels[:1])
    with pytest.raises(
        ValueError, match=r"^attention_mask: expected shape \(3, 5\) like idx, got \(3, 4\)$"
    ):
        clf(idx, labels, attention_mask=mask[:, :4])
    with pytest.raises(
        ValueError, match=r"^attention_mask: expected shape \(3, 5\) like idx, got list$"
    ):
        clf(idx, labels, attention_mask=mask.tolist())
    with pytest.raises(ValueError, match=r"^labels: expected a 1-d array, got shape \(3, 1\)$"):
        clf(idx, labels[:, None], attention_mask=mask)


def test_backward_before_any_forward_is_an_error():
    clf = tiny_classifier("gpt")
    with pytest.raises(RuntimeError, match="^backward: run a forward pass first$"):
        clf.backward()


def test_gradient_check_with_head_dropout_in_training():
    """Dropout on the pooled vector (p = 0.5, the same mask at every forward by resetting the
    generator): backward must apply that mask too. Float64, relative error below 1e-6."""
    clf = tiny_classifier("gpt", "mean", dropout=0.0)
    clf.dropout = 0.5
    clf.train()
    idx, mask, labels = padded_batch()

    def f():
        clf.backbone.rng = np.random.default_rng(3)
        return clf(idx, labels, attention_mask=mask)[1]

    f()
    grads = dict(clf.backward())
    assert clf._cache["drop"] is not None  # the head's dropout really drew a mask
    for name in ("classifier.weight", "classifier.bias", "transformer.ln_f.weight"):
        assert rel_error(grads[name], numerical_gradient(f, clf.params[name], 1.0)) < TOL, name


def test_predict_runs_in_chunks_of_batch_size(monkeypatch):
    clf = tiny_classifier("mlm")
    idx, mask, _ = padded_batch()
    full = clf.predict(idx, mask)
    assert full.dtype == np.int64 and full.shape == (3,)
    rows = []
    real = clf.forward

    def spy(idx, labels=None, attention_mask=None):
        rows.append((idx.shape[0], None if attention_mask is None else attention_mask.shape[0]))
        return real(idx, labels, attention_mask)

    monkeypatch.setattr(clf, "forward", spy)
    np.testing.assert_array_equal(clf.predict(idx, mask, batch_size=2), full)
    assert rows == [(2, 2), (1, 1)]
    rows.clear()
    np.testing.assert_array_equal(clf.predict(idx, mask, batch_size=1), full)
    assert rows == [(1, 1)] * 3
    rows.clear()
    unmasked = clf.predict(idx)  # no mask: every position is a real token
    assert rows == [(3, None)] and unmasked.shape == (3,)
    empty = clf.predict(np.zeros((0, 5), dtype=np.int64))
    assert empty.shape == (0,) and empty.dtype == np.int64


def test_zero_grad_clears_head_and_backbone_gradients():
    clf = tiny_classifier("gpt")
    idx, mask, labels = padded_batch()
    clf(idx, labels, attention_mask=mask)
    clf.backward()
    clf.backbone(idx, np.zeros_like(idx))  # the backbone's own (language-model) gradients too
    clf.backbone.backward()
    assert clf.grads and clf.backbone.grads
    clf.zero_grad()
    assert clf.grads == {} and clf.backbone.grads == {}


def test_load_state_dict_rejects_unknown_head_names_and_resets_the_caches():
    clf = tiny_classifier("gpt", dtype=np.float32)
    sd = clf.state_dict()
    with pytest.raises(ValueError, match=r"unexpected \['classifier\.extra'\]"):
        clf.load_state_dict({**sd, "classifier.extra": np.zeros(3)})
    idx, mask, labels = padded_batch()
    clf(idx, labels, attention_mask=mask)
    clf.backward()
    clf.load_state_dict({n: p.astype(np.float64) for n, p in sd.items()})
    assert {p.dtype for p in clf.params.values()} == {np.dtype(np.float32)}  # the model's dtype
    assert clf.grads == {}  # gradients of the old weights are gone
    with pytest.raises(RuntimeError, match="run a forward pass first"):
        clf.backward()  # and so is the forward pass they came from


def test_from_spec_restores_pooling_and_dropout():
    clf = SequenceClassifier(GPT(tiny_config()), 3, pooling="mean", dropout=0.3)
    rebuilt = SequenceClassifier.from_spec(GPT(tiny_config()), clf.spec())
    assert (rebuilt.pooling, rebuilt.dropout, rebuilt.n_classes) == ("mean", 0.3, 3)
    with pytest.raises(ValueError, match="^backbone: expected a GPT, got MaskedLM$"):
        SequenceClassifier.from_spec(MaskedLM(tiny_config()), clf.spec())

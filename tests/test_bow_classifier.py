"""The bag of words and the logistic regression of chapter 1: known answers, the gradient by
finite differences in float64, a reference in PyTorch when it is installed, and a fit."""

import numpy as np
import pytest

from tinytransformer.gradcheck import numerical_gradient, rel_error
from tinytransformer.text.features import bag_of_words, word_ids, word_vocabulary, words
from tinytransformer.training.bow_classifier import BowClassifier, train_bow_classifier


def test_bag_of_words_worked_example():
    x = bag_of_words([[0, 2, 2, 1], [], [1]], 3)
    assert x.tolist() == [[0.25, 0.25, 0.5], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_vocabulary_by_count_then_name_and_unknown_words_dropped():
    vocab = word_vocabulary(["b a a", "c b a"], min_count=2)
    assert vocab == {"a": 0, "b": 1}
    assert word_ids("A c B", vocab) == [0, 1]
    assert words("x.__len__()") == ["x", "__len__"]


def test_bag_of_words_refuses_bad_ids():
    with pytest.raises(ValueError, match=r"docs\[1\]"):
        bag_of_words([[0], [3]], 3)


def _model(rng, V=7, K=3, N=5):
    clf = BowClassifier(V, K)
    clf.params["classifier.weight"][...] = rng.standard_normal((V, K))
    clf.params["classifier.bias"][...] = rng.standard_normal(K)
    x = rng.standard_normal((N, V))
    y = rng.integers(0, K, size=N)
    return clf, x, y


@pytest.mark.parametrize("seed", range(3))
def test_gradients_equal_finite_differences(seed):
    rng = np.random.default_rng(seed)
    clf, x, y = _model(rng)
    clf(x, y)
    dx = clf.backward()
    one = np.array(1.0)
    for name, p in clf.params.items():
        num = numerical_gradient(lambda: clf(x, y)[1], p, one)
        assert rel_error(clf.grads[name], num) < 1e-7, name
    assert rel_error(dx, numerical_gradient(lambda: clf(x, y)[1], x, one)) < 1e-7
    # from a random upstream gradient on the logits, too
    dlogits = rng.standard_normal((len(x), 3))
    clf(x)
    clf.backward(dlogits)
    num = numerical_gradient(lambda: clf(x)[0], clf.params["classifier.weight"], dlogits)
    assert rel_error(clf.grads["classifier.weight"], num) < 1e-7


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    clf, x, y = _model(rng)
    _, loss = clf(x, y)
    clf.backward()
    w = torch.tensor(clf.params["classifier.weight"], requires_grad=True)
    b = torch.tensor(clf.params["classifier.bias"], requires_grad=True)
    ref = torch.nn.functional.cross_entropy(torch.tensor(x) @ w + b, torch.tensor(y))
    ref.backward()
    assert float(loss) == pytest.approx(ref.item(), rel=1e-12)
    assert np.allclose(clf.grads["classifier.weight"], w.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert np.allclose(clf.grads["classifier.bias"], b.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_it_learns_a_separable_task_and_keeps_the_best_weights():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=90)
    # class k's documents use words 3k..3k+2 mostly, plus common words 9..11
    docs = [
        list(rng.integers(3 * k, 3 * k + 3, size=4)) + list(rng.integers(9, 12, size=4))
        for k in labels
    ]
    x = bag_of_words(docs, 12)
    clf, result = train_bow_classifier(x[:60], labels[:60], x[60:], labels[60:], steps=100)
    assert (clf.predict(x[60:]) == labels[60:]).mean() == 1.0
    assert result.best.val_loss < np.log(3) / 4
    assert clf(x[60:], labels[60:])[1] == pytest.approx(result.best.val_loss)

"""macro_f1 and f1_per_class on a confusion matrix: worked examples by hand, the 0/0 rule, the
agreement with classification_report (which is built on them), and bad input."""

import numpy as np
import pytest

from tinytransformer.evaluation.classification import (
    classification_report,
    confusion_matrix,
    f1_per_class,
    macro_f1,
)


def test_macro_f1_by_hand():
    # rows true, columns predicted. Class 0: TP 2, FP 0, FN 1 -> 4/5. Class 1: TP 1, FP 1,
    # FN 1 -> 2/4. Class 2: TP 1, FP 1, FN 0 -> 2/3. Mean (0.8 + 0.5 + 2/3) / 3 = 59/90.
    cm = np.array([[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_allclose(f1_per_class(cm), [0.8, 0.5, 2 / 3], atol=1e-15)
    assert macro_f1(cm) == pytest.approx(59 / 90, abs=1e-15)


def test_a_class_never_seen_nor_predicted_scores_zero_and_counts():
    # class 2 has an empty row and column: 0/0 -> 0, and the mean is over all three classes
    cm = np.array([[3, 0, 0], [0, 2, 0], [0, 0, 0]])
    assert f1_per_class(cm).tolist() == [1.0, 1.0, 0.0]
    assert macro_f1(cm) == pytest.approx(2 / 3, abs=1e-15)
    # a class never predicted but present: F1 = 0 / (0 + 0 + FN) = 0
    assert f1_per_class(np.array([[1, 0], [1, 0]])).tolist() == pytest.approx([2 / 3, 0.0])


def test_macro_f1_is_not_accuracy_on_imbalanced_classes():
    # 98 of class 0 all right, 2 of class 1 all called 0: accuracy 0.98, macro F1 about 0.49
    cm = np.array([[98, 0], [2, 0]])
    assert macro_f1(cm) == pytest.approx((2 * 98 / (2 * 98 + 2) + 0.0) / 2, abs=1e-15)


def test_classification_report_uses_them():
    rng = np.random.default_rng(0)
    for _ in range(20):
        K = int(rng.integers(2, 6))
        y, p = rng.integers(0, K, 30), rng.integers(0, K, 30)
        r = classification_report(y, p, n_classes=K)
        cm = confusion_matrix(y, p, K)
        np.testing.assert_array_equal(r.f1, f1_per_class(cm))
        assert r.macro_f1 == macro_f1(cm)
        # and both equal the definition written out, class by class
        for k in range(K):
            tp = np.sum((y == k) & (p == k))
            fp, fn = np.sum((y != k) & (p == k)), np.sum((y == k) & (p != k))
            assert r.f1[k] == (0.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn))


@pytest.mark.parametrize(
    "confusion, words",
    [
        (np.zeros((2, 3)), "square (K, K)"),
        (np.zeros(3), "square (K, K)"),
        (np.zeros((0, 0)), "K >= 1"),
        (np.array([[1, -1], [0, 1]]), "non-negative"),
        (np.array([[1.0, np.nan], [0, 1]]), "finite"),
    ],
)
def test_bad_confusion_names_the_argument(confusion, words):
    with pytest.raises(ValueError) as info:
        macro_f1(confusion)
    assert "confusion" in str(info.value) and words in str(info.value)

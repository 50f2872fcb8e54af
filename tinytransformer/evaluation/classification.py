"""Classification metrics: accuracy, the confusion matrix, per-class precision / recall / F1 and
macro F1 (its picture is plots.plot_confusion_matrix).

Classes are the integers 0 .. K-1. For class k, with TP the items of class k predicted k, FP the
items predicted k that are not k, and FN the items of class k predicted as something else:
precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN) (the harmonic
mean of the two). A ratio whose denominator is 0 is reported as 0.0, as scikit-learn does with
`zero_division=0`: a class never predicted has precision 0, a class absent from y_true has
recall 0. Macro F1 is the plain mean of the K per-class F1s, every class counting once, however
rare; so a class that is in neither y_true nor y_pred pulls macro F1 down.

Left out: micro / weighted averages, multi-label input, top-k accuracy and string labels (map
them to integers first; `labels` only names the classes in reports and plots).
"""

from dataclasses import dataclass

import numpy as np

from tinytransformer.checks import check_count


def accuracy(y_true, y_pred):
    """Fraction of positions where y_pred equals y_true.

    >>> accuracy([0, 1, 2, 2], [0, 2, 2, 2])
    0.75
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, n_classes):
    """cm (K, K) int64 with cm[t, p] = how many items of true class t were predicted as p.

    Rows are true classes, columns predicted classes, so row sums are the class supports.

    >>> confusion_matrix([0, 1, 1], [0, 1, 0], n_classes=2).tolist()
    [[1, 0], [1, 1]]
    """
    y_true, y_pred = _check_pair(y_true, y_pred, n_classes)
    flat = y_true * n_classes + y_pred  # (N,) the cell index t*K + p of each item
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@dataclass
class ClassificationReport:
    """Per-class arrays of shape (K,): precision, recall, f1 (floats) and support (true count)."""

    labels: list
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    macro_f1: float
    accuracy: float

    def to_dict(self):
        """A JSON-able dict: one entry per class name, plus macro_f1 and accuracy."""
        per_class = {
            str(name): {
                "precision": float(self.precision[k]),
                "recall": float(self.recall[k]),
                "f1": float(self.f1[k]),
                "support": int(self.support[k]),
            }
            for k, name in enumerate(self.labels)
        }
        return {"classes": per_class, "macro_f1": self.macro_f1, "accuracy": self.accuracy}

    def __str__(self):
        width = max(10, *(len(str(name)) for name in self.labels))
        lines = [f"{'':>{width}} precision    recall        f1   support"]
        for k, name in enumerate(self.labels):
            lines.append(
                f"{str(name):>{width}} {self.precision[k]:9.4f} {self.recall[k]:9.4f} "
                f"{self.f1[k]:9.4f} {int(self.support[k]):9d}"
            )
        lines.append(f"{'macro F1':>{width}} {self.macro_f1:29.4f}")
        lines.append(f"{'accuracy':>{width}} {self.accuracy:29.4f}")
        return "\n".join(lines)


def classification_report(y_true, y_pred, n_classes=None, labels=None):
    """Per-class precision, recall, F1 and support, plus macro F1 and accuracy.

    Give n_classes (K), or labels (K class names, for display), or both (then they must agree).
    0/0 is reported as 0.0 (scikit-learn's zero_division=0).

    >>> r = classification_report([0, 0, 1, 1], [0, 1, 1, 1], n_classes=2)
    >>> r.precision.tolist(), r.recall.tolist(), round(r.macro_f1, 4)
    ([1.0, 0.6666666666666666], [0.5, 1.0], 0.7333)
    """
    n_classes, labels = _resolve_classes(n_classes, labels)
    cm = confusion_matrix(y_true, y_pred, n_classes)  # (K, K)
    tp, predicted, support = _counts(cm)  # (K,) each
    return ClassificationReport(
        labels=labels,
        precision=_safe_divide(tp, predicted),
        recall=_safe_divide(tp, support),
        f1=f1_per_class(cm),
        support=support,
        macro_f1=macro_f1(cm),
        accuracy=float(tp.sum() / cm.sum()),
    )


def f1_per_class(confusion):
    """confusion (K, K), rows the true class, columns the predicted -> F1 of each class (K,):
    2 TP / (2 TP + FP + FN), 0.0 where that is 0/0 (a class neither present nor predicted).

    >>> f1_per_class(np.array([[2, 0], [1, 1]])).round(4).tolist()
    [0.8, 0.6667]
    """
    tp, predicted, support = _counts(_check_confusion(confusion))
    # predicted + support = (TP + FP) + (TP + FN) = 2 TP + FP + FN
    return _safe_divide(2 * tp, predicted + support)  # (K,)


def macro_f1(confusion):
    """confusion (K, K), rows the true class, columns the predicted -> the mean of the K
    per-class F1s (f1_per_class), every class counting once however rare, a float.

    >>> macro_f1(np.array([[2, 0], [1, 1]]))  # (0.8 + 0.6667) / 2
    0.7333333333333334
    """
    return float(f1_per_class(confusion).mean())


def _counts(cm):
    """-> TP (the diagonal), TP + FP (column sums) and TP + FN (row sums, the supports), (K,)."""
    return np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)


def _check_confusion(confusion):
    """A (K, K) array of counts, K >= 1: whole, non-negative numbers."""
    cm = np.asarray(confusion)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"confusion: expected a square (K, K) array, K >= 1, got shape {cm.shape}")
    if cm.dtype.kind not in "iuf" or not np.isfinite(cm).all() or (cm < 0).any():
        raise ValueError("confusion: expected non-negative finite counts")
    return cm


def _safe_divide(num, den):
    """num / den elementwise, 0.0 where den == 0 (and no divide-by-zero warning)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _resolve_classes(n_classes, labels):
    if n_classes is None and labels is None:
        raise ValueError("n_classes, labels: expected at least one of them, got neither")
    if labels is not None:
        if isinstance(labels, str):
            raise TypeError("labels: expected a list of class names, got a string")
        labels = list(labels)
        if n_classes is None:
            n_classes = len(labels)
    _check_n_classes(n_classes)
    if labels is None:
        labels = list(range(n_classes))
    if len(labels) != n_classes:
        raise ValueError(f"labels: expected {n_classes} class names, got {len(labels)}")
    return n_classes, labels


def _check_n_classes(n_classes):
    check_count("n_classes", n_classes, low=1)


def _check_pair(y_true, y_pred, n_classes=None):
    """Both as 1-D int64 arrays of one length (>= 1), with values in [0, n_classes) if given."""
    if n_classes is not None:
        _check_n_classes(n_classes)
    arrays = []
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        a = np.asarray(y)
        if a.ndim != 1:
            raise ValueError(f"{name}: expected a 1-d sequence of class ids, got shape {a.shape}")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name}: expected integer class ids, got dtype {a.dtype}")
        if n_classes is not None and a.size and (a.min() < 0 or a.max() >= n_classes):
            bad = a[(a < 0) | (a >= n_classes)][0]
            raise ValueError(f"{name}: class ids must lie in [0, {n_classes}), got {bad}")
        arrays.append(a.astype(np.int64))
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(
            f"y_true, y_pred: expected the same length, got {len(arrays[0])} and {len(arrays[1])}"
        )
    if arrays[0].size == 0:
        raise ValueError("y_true, y_pred: expected at least one item, got none")
    return arrays

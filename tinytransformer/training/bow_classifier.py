"""The classifier before pretraining (chapter 1): multinomial logistic regression on hand-made
features (text/features.py's bag of words), written with the package's ops and trained by its
loop and its AdamW.

    x (N, V) features -> linear: x @ W + b -> logits (N, K) -> softmax cross-entropy with y (N,)

    clf, result = train_bow_classifier(x_train, y_train, x_val, y_val, steps=300, lr=0.1)
    clf.predict(x_test)                                    # (N,) class ids

The forward pass is ops.linear_forward then ops.cross_entropy_forward (softmax and negative
log-likelihood fused, stable for any logits); the backward pass reads them in reverse:
d loss / d logits = (softmax(logits) - onehot(y)) / N, then dW = x^T dlogits, db = the column
sums of dlogits. The loss is convex in (W, b), so any run that converges finds the same fit, up
to the weight decay (AdamW decays W, the matrix, and not b), which is the only regulariser here.

The model keeps the training loop's contract (`model(idx, targets, attention_mask) -> (logits,
loss)`, `backward()`, params/grads, train()/eval(), state_dict()/load_state_dict()), with the
features in the place of the ids, so `fit` trains it: full-batch steps, the best validation
weights kept, early stopping.

Left out: feature scaling (bag-of-words rows already sum to 1), class weights, L1 penalties,
and second-order solvers (L-BFGS), which a library like scikit-learn would use.
"""

import numpy as np

from tinytransformer.checks import check_count, check_float, check_ids
from tinytransformer.models.transformer import evaluating, logits_gradient
from tinytransformer.ops.cross_entropy import cross_entropy_forward
from tinytransformer.ops.linear import linear_backward, linear_forward
from tinytransformer.text.batching import Batch
from tinytransformer.training.loop import fit
from tinytransformer.training.optimizer import AdamW

NAMES = ("classifier.weight", "classifier.bias")


class BowClassifier:
    """Logistic regression over n_features inputs and n_classes classes; weights start at zero
    (the loss is convex: no symmetry to break), so every class starts at probability 1/K."""

    def __init__(self, n_features, n_classes, dtype=np.float64):
        check_count("n_features", n_features, low=1)
        check_count("n_classes", n_classes, low=2)
        self.n_features, self.n_classes = n_features, n_classes
        self.dtype = np.dtype(dtype)
        self.params = {
            "classifier.weight": np.zeros((n_features, n_classes), self.dtype),  # (V, K)
            "classifier.bias": np.zeros(n_classes, self.dtype),  # (K,)
        }
        self.grads = {}
        self.training = True
        self._cache = None

    def train(self, mode=True):
        self.training = mode  # no dropout here: the mode only keeps the loop's contract
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x, targets=None, attention_mask=None):
        """x (N, V) float features, targets (N,) int class ids or None -> (logits (N, K), mean
        cross-entropy or None). attention_mask: not used (features have no padding)."""
        check_float("x", x, ndim=2)
        if x.shape[1] != self.n_features or x.dtype != self.dtype:
            raise ValueError(
                f"x: expected ({len(x)}, {self.n_features}) {self.dtype} features, got "
                f"{x.shape} {x.dtype}"
            )
        P = self.params
        # logits = x @ W + b
        logits, lin_cache = linear_forward(
            x, P["classifier.weight"], P["classifier.bias"], check=False
        )  # (N, K)
        loss, loss_cache = None, None
        if targets is not None:
            check_ids("targets", targets, self.n_classes, ndim=1)
            # loss = mean_i -ln softmax(logits_i)[y_i]
            loss, loss_cache = cross_entropy_forward(logits, targets, check=False)
        self._cache = (lin_cache, loss_cache, logits.shape)
        return logits, loss

    def backward(self, dlogits=None):
        """Fill self.grads from the last forward pass's loss (or from dlogits (N, K)); returns
        d loss / d x (N, V)."""
        if self._cache is None:
            raise RuntimeError("backward: call the model on a batch first")
        lin_cache, loss_cache, shape = self._cache
        # loss = cross_entropy(logits, targets)
        dlogits = logits_gradient(loss_cache, dlogits, shape, self.dtype)  # (N, K)
        # logits = x @ W + b
        dx, dw, db = linear_backward(dlogits, lin_cache)  # (N, V), (V, K), (K,)
        self.grads = {"classifier.weight": dw, "classifier.bias": db}
        return dx

    def predict(self, x):
        """x (N, V) -> (N,) int64: the most probable class of each row."""
        with evaluating(self):
            return self(x)[0].argmax(axis=-1)

    def state_dict(self):
        return {n: p.copy() for n, p in self.params.items()}

    def load_state_dict(self, sd):
        if set(sd) != set(NAMES):
            raise ValueError(f"state dict: expected the names {NAMES}, got {sorted(sd)}")
        for n in NAMES:
            if np.shape(sd[n]) != self.params[n].shape:
                raise ValueError(
                    f"{n}: expected shape {self.params[n].shape}, got {np.shape(sd[n])}"
                )
        for n in NAMES:
            self.params[n][...] = sd[n]  # in place: the optimizer holds these arrays


def train_bow_classifier(
    x_train,
    y_train,
    x_val,
    y_val,
    *,
    steps=300,
    lr=0.1,
    weight_decay=0.01,
    eval_interval=10,
    patience=None,
):
    """Fit a BowClassifier on all of (x_train, y_train) at every step (full batch), with AdamW
    at a constant rate, evaluating on (x_val, y_val) every eval_interval steps; the weights of
    the best validation loss are restored at the end -> (classifier, fit's LoopResult)."""
    n_classes = int(max(np.max(y_train), np.max(y_val))) + 1
    clf = BowClassifier(x_train.shape[1], n_classes, dtype=x_train.dtype)
    optimizer = AdamW(clf, lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay)
    batch = Batch(x_train, y_train)

    def evaluate(step):
        logits, loss = clf(x_val, y_val)
        return {"val_loss": float(loss), "val_acc": float((logits.argmax(-1) == y_val).mean())}

    result = fit(
        clf,
        optimizer,
        lambda: batch,
        evaluate,
        lambda step: lr,
        max_iters=steps,
        eval_interval=eval_interval,
        grad_clip=None,
        patience=patience,
    )
    result.best.restore(clf)
    return clf, result

"""Sequence classification: a linear head on a pooled hidden state of a pretrained trunk.

    idx (B, T) -> backbone.trunk_forward -> x (B, T, C) -> pool -> (B, C) -> dropout -> @ W + b
    -> logits (B, K) -> cross-entropy with labels (B,)

Pooling picks one vector per sequence out of the T hidden states:
- "cls":  position 0. For the encoder (MaskedLM) the task data puts [CLS] there, and since
          attention is bidirectional that position sees the whole sequence (BERT's choice).
- "mean": the average over the real tokens (attention_mask == 1).
- "last": the last real token. For the causal GPT it is the only position that has seen every
          token of the sequence (GPT-1's choice for its classification fine-tuning).
The default follows the backbone: "last" for a causal one, "cls" otherwise.

The classifier owns only the head, `classifier.weight` (C, K) and `classifier.bias` (K,); the
trunk's parameters stay in the backbone. `clf.params` joins both into one dict of the very same
arrays, so an optimizer updating it in place trains the backbone too, and `clf.frozen` is the
backbone's (freeze the trunk with `clf.freeze(k)`; the head always trains).

Left out: pooler layers (BERT's dense + tanh on [CLS]), multi-label and regression heads, and
attention pooling.
"""

import numpy as np

from tinytransformer.checks import check_count, check_ids
from tinytransformer.models.transformer import evaluating, logits_gradient
from tinytransformer.ops.cross_entropy import cross_entropy_forward
from tinytransformer.ops.dropout import dropout_backward, dropout_forward
from tinytransformer.ops.linear import linear_backward, linear_forward

POOLINGS = ("cls", "mean", "last")
HEAD = ("classifier.weight", "classifier.bias")


# --- pooling: one forward/backward pair ----------------------------------------------------------


def pool_forward(x, attention_mask, pooling):
    """x (B, T, C), attention_mask (B, T) of 1 (real) / 0 (padding) -> pooled (B, C).

    >>> x = np.arange(6.0).reshape(1, 3, 2)  # positions [0, 1], [2, 3], [4, 5]
    >>> mask = np.array([[1, 1, 0]])  # the third position is padding
    >>> [pool_forward(x, mask, p)[0].tolist() for p in POOLINGS]
    [[[0.0, 1.0]], [[1.0, 2.0]], [[2.0, 3.0]]]
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling: expected one of {POOLINGS}, got {pooling!r}")
    B, T, C = x.shape
    m = attention_mask.astype(bool)  # (B, T)
    if pooling == "mean":
        w = m.astype(x.dtype) / m.sum(axis=1, keepdims=True).astype(x.dtype)  # (B, T) 1/n or 0
        pooled = np.einsum("bt,btc->bc", w, x)  # (B, C)
        return pooled, (pooling, x.shape, w)
    if pooling == "cls":
        pos = np.zeros(B, dtype=np.int64)  # (B,)
    else:  # "last": T - 1 minus the distance of the last 1 from the end
        pos = T - 1 - np.argmax(m[:, ::-1], axis=1)  # (B,)
    pooled = x[np.arange(B), pos]  # (B, C)
    return pooled, (pooling, x.shape, pos)


def pool_backward(dpooled, cache):
    """dpooled (B, C) -> dx (B, T, C): the gradient goes back to the pooled positions only."""
    pooling, shape, aux = cache
    if pooling == "mean":
        # pooled = sum_t w[b, t] x[b, t]  ->  dx[b, t] = w[b, t] dpooled[b]
        return aux[:, :, None] * dpooled[:, None, :]  # (B, T, C)
    # pooled = x[b, pos[b]]  ->  dx is zero except at (b, pos[b])
    dx = np.zeros(shape, dtype=dpooled.dtype)  # (B, T, C)
    dx[np.arange(shape[0]), aux] = dpooled
    return dx


# --- the model -----------------------------------------------------------------------------------


class SequenceClassifier:
    """A pretrained GPT or MaskedLM with a K-way classification head.

    backbone:  a Transformer (GPT or MaskedLM); it is used, not copied.
    n_classes: K, the number of classes (>= 2).
    pooling:   "cls", "mean" or "last" (see the module docstring); None picks "last" for a
               causal backbone and "cls" for a bidirectional one.
    dropout:   dropout on the pooled vector in training; None means the backbone's config.dropout.
    seed:      seeds the head's initialisation, N(0, 0.02) weights and zero bias.

    `clf(idx, labels, attention_mask)` -> (logits (B, K), loss or None); `clf.backward()` fills
    `clf.grads` (backbone names + "classifier.*").
    """

    def __init__(self, backbone, n_classes, pooling=None, dropout=None, seed=0):
        for name in ("trunk_forward", "trunk_backward", "params", "config", "causal"):
            if not hasattr(backbone, name):
                raise TypeError(
                    f"backbone: expected a Transformer (GPT or MaskedLM), got "
                    f"{type(backbone).__name__} without .{name}"
                )
        check_count("n_classes", n_classes, low=2)
        if pooling is None:
            pooling = "last" if backbone.causal else "cls"
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: expected one of {POOLINGS} or None, got {pooling!r}")
        if dropout is None:
            dropout = backbone.config.dropout
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        self.backbone = backbone
        self.n_classes = int(n_classes)
        self.pooling = pooling
        self.dropout = float(dropout)
        C, dtype = backbone.config.n_embd, backbone.dtype
        rng = np.random.default_rng(check_count("seed", seed))
        self.head = {
            "classifier.weight": rng.normal(0.0, 0.02, size=(C, self.n_classes)).astype(dtype),
            "classifier.bias": np.zeros(self.n_classes, dtype),
        }
        self.grads = {}
        self._cache = None

    # --- what the optimizer, the checkpoint and the training loop read --------------------------

    @property
    def params(self):
        """One dict, name -> array: the backbone's own arrays and the head's (not copies).

        A new dict on every access, built from the current arrays, so it stays right after
        `load_state_dict` replaces them; update entries in place, do not assign new arrays.
        """
        return {**self.backbone.params, **self.head}

    @property
    def frozen(self):
        """The backbone's frozen names; the head is never frozen."""
        return self.backbone.frozen

    def freeze(self, trainable_blocks):
        """Train only the last `trainable_blocks` blocks, ln_f and the head; None: train all
        (see Transformer.freeze)."""
        self.backbone.freeze(trainable_blocks)
        return self

    @property
    def config(self):
        return self.backbone.config

    @property
    def dtype(self):
        return self.backbone.dtype

    @property
    def rng(self):
        """The backbone's dropout generator, which the head's dropout draws from too."""
        return self.backbone.rng

    @property
    def training(self):
        return self.backbone.training

    def train(self):
        self.backbone.train()
        return self

    def eval(self):
        self.backbone.eval()
        return self

    def zero_grad(self):
        self.grads = {}
        self.backbone.zero_grad()

    def num_parameters(self):
        return self.backbone.num_parameters() + sum(p.size for p in self.head.values())

    # --- forward and backward -------------------------------------------------------------------

    def __call__(self, idx, labels=None, attention_mask=None):
        return self.forward(idx, labels, attention_mask)

    def forward(self, idx, labels=None, attention_mask=None):
        """idx (B, T) ids, labels (B,) in [0, K) or None, attention_mask (B, T) or None (no
        padding) -> (logits (B, K), loss: mean cross-entropy over the batch, or None).

        The inputs are checked here (trunk_forward checks the mask's values); the head's ops
        trust them (check=False)."""
        check_ids("idx", idx, high=self.config.vocab_size, ndim=2)
        if attention_mask is not None:
            if not isinstance(attention_mask, np.ndarray) or attention_mask.shape != idx.shape:
                got = getattr(attention_mask, "shape", type(attention_mask).__name__)
                raise ValueError(f"attention_mask: expected shape {idx.shape} like idx, got {got}")
            empty = np.flatnonzero(~attention_mask.astype(bool).any(axis=1))
            if empty.size:
                raise ValueError(f"attention_mask: row {empty[0]} has no real token (all zeros)")
        if labels is not None:
            check_ids("labels", labels, high=self.n_classes, ndim=1)
            if labels.shape[0] != idx.shape[0]:
                raise ValueError(
                    f"labels: expected {idx.shape[0]} labels, one per row of idx, "
                    f"got {labels.shape[0]}"
                )
        # x = trunk(idx)
        x, trunk = self.backbone.trunk_forward(idx, attention_mask)  # (B, T, C), after ln_f
        real = np.ones(idx.shape, np.int64) if attention_mask is None else attention_mask
        # h = pool(x)
        h, pool = pool_forward(x, real, self.pooling)  # (B, C)
        # h = dropout(h)
        h, drop = dropout_forward(h, self.dropout, self.rng, self.training, check=False)  # (B, C)
        # logits = h @ W + b
        W, b = self.head["classifier.weight"], self.head["classifier.bias"]
        logits, head = linear_forward(h, W, b, check=False)  # (B, K)
        loss, loss_cache = None, None
        if labels is not None:
            # loss = cross_entropy(logits, labels)
            loss, loss_cache = cross_entropy_forward(logits, labels, check=False)
        self._cache = {"trunk": trunk, "pool": pool, "drop": drop, "head": head, "loss": loss_cache}
        return logits, loss

    def backward(self, dlogits=None):
        """Fill self.grads for the last forward pass; dlogits (B, K) backpropagates another
        objective than the loss. Frozen backbone parameters get no gradient."""
        if self._cache is None:
            raise RuntimeError("backward: run a forward pass first")
        c = self._cache
        logits_shape = (c["head"][0].shape[0], self.n_classes)  # (B, K)
        # loss = cross_entropy(logits, labels)
        dlogits = logits_gradient(c["loss"], dlogits, logits_shape, self.dtype, targets="labels")
        head_grads = {}
        # logits = h @ W + b
        dh, head_grads["classifier.weight"], head_grads["classifier.bias"] = linear_backward(
            dlogits, c["head"]
        )
        # h = dropout(h)
        dh = dropout_backward(dh, c["drop"])  # (B, C)
        # h = pool(x)
        dx = pool_backward(dh, c["pool"])  # (B, T, C), zero wherever pooling did not look
        # x = trunk(idx)
        trunk_grads = self.backbone.trunk_backward(dx, c["trunk"])
        self.grads = {**trunk_grads, **head_grads}
        return self.grads

    def predict(self, idx, attention_mask=None, batch_size=None):
        """The most likely class of each row of idx -> (B,) int64, in eval mode (no dropout).

        batch_size: run the rows in chunks of this many (bounds the attention's memory).
        """
        step = len(idx) if batch_size is None else batch_size
        out = []
        with evaluating(self):
            for i in range(0, len(idx), max(step, 1)):
                mask = None if attention_mask is None else attention_mask[i : i + step]
                logits, _ = self.forward(idx[i : i + step], attention_mask=mask)
                out.append(logits.argmax(axis=-1))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    # --- state ----------------------------------------------------------------------------------

    def state_dict(self):
        """name -> array (copies): the backbone's GPT-2 names and "classifier.weight"/".bias"."""
        return {**self.backbone.state_dict(), **{n: p.copy() for n, p in self.head.items()}}

    def load_state_dict(self, sd):
        """Load the backbone's and the head's arrays; every problem raises before any change."""
        head_sd = {n: sd[n] for n in sd if n.startswith("classifier.")}
        unexpected = sorted(set(head_sd) - set(HEAD))
        missing = sorted(set(HEAD) - set(head_sd))
        if missing or unexpected:
            raise ValueError(f"load_state_dict: missing {missing}, unexpected {unexpected}")
        for n, p in self.head.items():
            if tuple(np.shape(head_sd[n])) != p.shape:
                raise ValueError(
                    f"load_state_dict: {n}: expected {p.shape}, got {tuple(np.shape(head_sd[n]))}"
                )
        self.backbone.load_state_dict({n: p for n, p in sd.items() if n not in head_sd})
        for n in HEAD:
            self.head[n] = np.array(head_sd[n], dtype=self.dtype)  # a copy in the model's dtype
        self.grads = {}
        self._cache = None

    def spec(self):
        """What, besides the config and the arrays, rebuilds this classifier (JSON-able)."""
        return {
            "backbone": type(self.backbone).__name__,
            "n_classes": self.n_classes,
            "pooling": self.pooling,
            "dropout": self.dropout,
        }

    @classmethod
    def from_spec(cls, backbone, spec):
        """The inverse of spec(), on a freshly built backbone of the class spec["backbone"]."""
        if type(backbone).__name__ != spec["backbone"]:
            raise ValueError(
                f"backbone: expected a {spec['backbone']}, got {type(backbone).__name__}"
            )
        return cls(backbone, spec["n_classes"], spec["pooling"], spec["dropout"])

"""Every op pair with inputs to check it on: for each case, a function (rng, B, T, C, dtype) ->
(forward, backward, inputs) that builds a deterministic forward/backward pair and its inputs at
a small shape. The gradient checks of the tests (tests/test_gradients.py, test_layers.py), the
benchmarks' table (benchmarks/gradcheck_table.py) and a notebook all run this one table:

    for name, case in CASES.items():
        forward, backward, inputs = case(rng, *SHAPES[1], np.float64)
        errors = check_gradients(forward, backward, inputs)     # gradcheck.py

A case's name starts with the name of the op it checks ("attention_causal" checks
attention_forward/backward); tests/test_gradients.py refuses an op pair of ops/ that no case
checks, so a new op cannot arrive without its gradient check.
"""

import numpy as np

from tinytransformer.models.block import block_backward, block_forward, block_param_shapes
from tinytransformer.ops.attention import (
    attention_backward,
    attention_forward,
    self_attention_backward,
    self_attention_forward,
)
from tinytransformer.ops.cross_entropy import cross_entropy_backward, cross_entropy_forward
from tinytransformer.ops.dropout import dropout_backward, dropout_forward
from tinytransformer.ops.embedding import embedding_backward, embedding_forward
from tinytransformer.ops.gelu import gelu_backward, gelu_forward
from tinytransformer.ops.layernorm import layernorm_backward, layernorm_forward
from tinytransformer.ops.linear import linear_backward, linear_forward
from tinytransformer.ops.softmax import softmax_backward, softmax_forward

# (B, T, C): T = 1, odd sizes, B > 1. C is divisible by the head counts used below.
SHAPES = [(1, 1, 4), (2, 3, 6), (3, 5, 6)]


def seeded(forward, seed=1):
    """Wrap a forward that draws randomness so that every call draws the same numbers."""

    def f(**kw):
        return forward(**kw, rng=np.random.default_rng(seed))

    return f


def case_embedding(rng, B, T, C, dtype):
    V = 5  # fewer ids than B*T positions: repeated ids must accumulate their gradients
    inputs = {
        "idx": rng.integers(0, V, size=(B, T)),
        "wte": rng.standard_normal((V, C)).astype(dtype),
        "wpe": rng.standard_normal((T + 2, C)).astype(dtype),
    }

    def backward(dout, cache):
        return (None, *embedding_backward(dout, cache))

    return embedding_forward, backward, inputs


def case_linear(rng, B, T, C, dtype):
    inputs = {
        "x": rng.standard_normal((B, T, C)),
        "w": rng.standard_normal((C, 2 * C + 1)),
        "b": rng.standard_normal(2 * C + 1),
    }
    return linear_forward, linear_backward, {k: v.astype(dtype) for k, v in inputs.items()}


def case_layernorm(rng, B, T, C, dtype):
    inputs = {
        "x": 3 * rng.standard_normal((B, T, C)) + 1,
        "w": rng.standard_normal(C),
        "b": rng.standard_normal(C),
    }
    return layernorm_forward, layernorm_backward, {k: v.astype(dtype) for k, v in inputs.items()}


def case_gelu_tanh(rng, B, T, C, dtype):
    return gelu_forward, gelu_backward, {"x": (2 * rng.standard_normal((B, T, C))).astype(dtype)}


def case_gelu_exact(rng, B, T, C, dtype):
    def forward(x):
        return gelu_forward(x, approximate="exact")

    return forward, gelu_backward, {"x": (2 * rng.standard_normal((B, T, C))).astype(dtype)}


def case_dropout(rng, B, T, C, dtype):
    def forward(x, rng):
        return dropout_forward(x, 0.3, rng, training=True)

    return seeded(forward), dropout_backward, {"x": rng.standard_normal((B, T, C)).astype(dtype)}


def case_softmax(rng, B, T, C, dtype):
    return (
        softmax_forward,
        softmax_backward,
        {"x": (3 * rng.standard_normal((B, T, C))).astype(dtype)},
    )


def case_cross_entropy(rng, B, T, C, dtype):
    targets = rng.integers(0, C, size=(B, T))
    targets[0, 0] = -100  # ignored: not counted in the mean, no gradient
    if targets.size > 1:
        targets[-1, -1] = targets[0, -1]

    def forward(logits):
        return cross_entropy_forward(logits, targets)

    return (
        forward,
        cross_entropy_backward,
        {"logits": (2 * rng.standard_normal((B, T, C))).astype(dtype)},
    )


def case_attention(rng, B, T, C, dtype, causal=True, padded=False):
    nh = 2
    hs = C // nh
    mask = None
    if padded:
        mask = np.ones((B, T), dtype=np.int64)
        mask[:, T - 1 :] = 0 if T > 1 else 1  # pad the last key (keep at least one real key)

    def forward(q, k, v):
        return attention_forward(q, k, v, causal=causal, attention_mask=mask)

    inputs = {n: rng.standard_normal((B, nh, T, hs)).astype(dtype) for n in "qkv"}
    return forward, attention_backward, inputs


def case_attention_causal_left_padded(rng, B, T, C, dtype):
    """Causal attention with left padding: a query at a padded position sees no real key at
    all, so its whole row is masked (softmax gives zeros there, not NaN)."""
    nh = 2
    mask = np.ones((B, T), dtype=np.int64)
    mask[0, : T // 2] = 0  # the first half of row 0 is padding

    def forward(q, k, v):
        return attention_forward(q, k, v, causal=True, attention_mask=mask)

    inputs = {n: rng.standard_normal((B, nh, T, C // nh)).astype(dtype) for n in "qkv"}
    return forward, attention_backward, inputs


def case_attention_bidirectional_padded(rng, B, T, C, dtype):
    return case_attention(rng, B, T, C, dtype, causal=False, padded=True)


def case_attention_dropout(rng, B, T, C, dtype):
    nh = 2

    def forward(q, k, v, rng):
        return attention_forward(q, k, v, dropout_p=0.25, rng=rng, training=True)

    inputs = {n: rng.standard_normal((B, nh, T, C // nh)).astype(dtype) for n in "qkv"}
    return seeded(forward), attention_backward, inputs


def case_self_attention(rng, B, T, C, dtype):
    n_head = 3 if C % 3 == 0 else 2

    def forward(x, w_attn, b_attn, w_proj, b_proj):
        return self_attention_forward(x, w_attn, b_attn, w_proj, b_proj, n_head)

    inputs = {
        "x": rng.standard_normal((B, T, C)),
        "w_attn": 0.5 * rng.standard_normal((C, 3 * C)),
        "b_attn": rng.standard_normal(3 * C),
        "w_proj": 0.5 * rng.standard_normal((C, C)),
        "b_proj": rng.standard_normal(C),
    }
    return forward, self_attention_backward, {k: v.astype(dtype) for k, v in inputs.items()}


def block_params(rng, C, dtype, bias=True):
    """Random block parameters; layer-norm gains around 1, everything else around 0."""
    params = {}
    for name, shape in block_param_shapes(C, bias).items():
        scale = 1.0 if name.startswith("ln") else 0.5
        base = 1.0 if name in ("ln_1.weight", "ln_2.weight") else 0.0
        params[name] = (base + scale * rng.standard_normal(shape)).astype(dtype)
    return params


def case_block(rng, B, T, C, dtype, bias=True, dropout=0.0):
    n_head = 3 if C % 3 == 0 else 2

    def forward(x, params, rng):
        return block_forward(x, params, n_head, dropout=dropout, rng=rng, training=dropout > 0)

    inputs = {
        "x": rng.standard_normal((B, T, C)).astype(dtype),
        "params": block_params(rng, C, dtype, bias),
    }
    return seeded(forward), block_backward, inputs


def case_block_no_bias_dropout(rng, B, T, C, dtype):
    return case_block(rng, B, T, C, dtype, bias=False, dropout=0.2)


CASES = {
    "embedding": case_embedding,
    "linear": case_linear,
    "layernorm": case_layernorm,
    "gelu_tanh": case_gelu_tanh,
    "gelu_exact": case_gelu_exact,
    "dropout": case_dropout,
    "softmax": case_softmax,
    "cross_entropy": case_cross_entropy,
    "attention_causal": case_attention,
    "attention_bidirectional_padded": case_attention_bidirectional_padded,
    "attention_causal_left_padded": case_attention_causal_left_padded,
    "attention_dropout": case_attention_dropout,
    "self_attention": case_self_attention,
    "block": case_block,
    "block_no_bias_dropout": case_block_no_bias_dropout,
}

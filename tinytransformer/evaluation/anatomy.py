"""A GPT block taken apart: its sublayers as plain functions (B, T, C) -> (B, T, C), and the
pre-LN block written as a function of them, so that each piece can be looked at, swapped or
measured on its own (chapter 2.1 builds a GPT this way; the head ablation of ablation.py
zeroes one head inside the attention sublayer).

    ln_1, attn, ln_2, mlp = block_sublayers(model.block_params(0), n_head)
    out = prenorm_block(x, ln_1, attn, ln_2, mlp)       # x + attn(ln_1(x)), then + mlp(ln_2(.))
    out = mlp_forward(h, w_fc, b_fc, w_proj, b_proj)    # gelu_new(h @ w_fc + b_fc) @ w_proj + ...

They equal models.block.block_forward in eval mode (tests/test_anatomy.py), which stays the
model's own path: block_forward also keeps the caches its backward pass needs; these functions
keep nothing, have no backward pass, no dropout and no KV cache.
"""

from tinytransformer.checks import check_count, check_float
from tinytransformer.ops.attention import self_attention_forward
from tinytransformer.ops.gelu import gelu_forward
from tinytransformer.ops.layernorm import layernorm_forward
from tinytransformer.ops.linear import linear_forward

SUBLAYERS = ("layer norm", "attention", "mlp")
# the weights each kind of sublayer takes, under the block's local names without their prefix
SUBLAYER_WEIGHTS = {
    "layer norm": ("weight", "bias"),
    "attention": ("c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"),
    "mlp": ("c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias"),
}


def mlp_forward(x, w_fc, b_fc, w_proj, b_proj):
    """GPT-2's MLP: x (B, T, C), w_fc (C, 4C), b_fc (4C,), w_proj (4C, C), b_proj (C,) ->
    (B, T, C), gelu(x @ w_fc + b_fc) @ w_proj + b_proj with the tanh form of GELU (gelu_new).

    >>> import numpy as np
    >>> mlp_forward(np.ones((1, 1, 1)), np.ones((1, 4)), np.zeros(4), np.ones((4, 1)), np.zeros(1))
    array([[[3.36476...]]])
    """
    h, _ = linear_forward(x, w_fc, b_fc)  # (B, T, 4C): the widening projection
    g, _ = gelu_forward(h, "tanh")  # (B, T, 4C)
    out, _ = linear_forward(g, w_proj, b_proj)  # (B, T, C): back to the residual width
    return out


def prenorm_block(x, ln_1, attn, ln_2, mlp):
    """One pre-LN block: x (B, T, C) and four functions (B, T, C) -> (B, T, C) -> (B, T, C).

        x1  = x + attn(ln_1(x))      each sublayer reads a normalised copy of the stream
        out = x1 + mlp(ln_2(x1))     and adds its output to the un-normalised stream

    >>> import numpy as np
    >>> double, ident = (lambda h: 2 * h), (lambda h: h)
    >>> prenorm_block(np.ones((1, 1, 1)), ident, double, ident, double)  # 1 + 2 = 3, 3 + 6
    array([[[9.]]])
    """
    x1 = x + attn(ln_1(x))  # (B, T, C)
    return x1 + mlp(ln_2(x1))  # (B, T, C)


def sublayer(kind, weights, *, n_head=None):
    """A function (B, T, C) -> (B, T, C) made from one sublayer's weights: kind "layer norm"
    (weights "weight", "bias"), "attention" (causal, with n_head heads; "c_attn.weight", ...)
    or "mlp" ("c_fc.weight", ...), the names of SUBLAYER_WEIGHTS. A bias-free model has no
    "...bias" entries.

    >>> import numpy as np
    >>> ln = sublayer("layer norm", {"weight": np.ones(2), "bias": np.zeros(2)})
    >>> ln(np.array([[[1.0, 3.0]]])).round(3)
    array([[[-1.,  1.]]])
    """
    if kind not in SUBLAYERS:
        raise ValueError(f"kind: expected one of {SUBLAYERS}, got {kind!r}")
    if not isinstance(weights, dict):
        raise TypeError(f"weights: expected a dict of arrays, got {type(weights).__name__}")
    names = SUBLAYER_WEIGHTS[kind]
    unknown = set(weights) - set(names)
    missing = [n for n in names if not n.endswith("bias") and n not in weights]
    if unknown or missing:
        raise ValueError(
            f"weights: a {kind} takes {list(names)}, got {sorted(weights)}"
            + (f" (missing {missing})" if missing else "")
        )
    for name, w in weights.items():
        check_float(f"weights[{name!r}]", w)
    w = weights.get
    if kind == "layer norm":

        def layer_norm(x):
            return layernorm_forward(x, w("weight"), w("bias"))[0]  # (B, T, C)

        return layer_norm
    if kind == "attention":
        n_head = check_count("n_head", n_head, low=1)
        parts = (w("c_attn.weight"), w("c_attn.bias"), w("c_proj.weight"), w("c_proj.bias"))

        def attention(x):
            return self_attention_forward(x, *parts, n_head)[0]  # (B, T, C), causal

        return attention

    def mlp(x):
        return mlp_forward(
            x, w("c_fc.weight"), w("c_fc.bias"), w("c_proj.weight"), w("c_proj.bias")
        )

    return mlp


def block_sublayers(params, n_head):
    """A block's parameters under its local names (model.block_params(i)) -> the functions
    (ln_1, attn, ln_2, mlp) that prenorm_block takes."""

    def part(prefix):
        return {n[len(prefix) :]: p for n, p in params.items() if n.startswith(prefix)}

    return (
        sublayer("layer norm", part("ln_1.")),
        sublayer("attention", part("attn."), n_head=n_head),
        sublayer("layer norm", part("ln_2.")),
        sublayer("mlp", part("mlp.")),
    )

"""The pre-LN transformer block of GPT-2, and the residual add it is built from:

    x = x + attn(ln_1(x))
    x = x + mlp(ln_2(x)),    mlp(h) = c_proj(gelu(c_fc(h))),  C -> 4C -> C

block_backward is block_forward read from the bottom up: each step differentiates the forward
line quoted in its comment.

Parameters come in a dict with GPT-2's names local to the block ("ln_1.weight",
"attn.c_attn.weight", "mlp.c_proj.bias", ...); the model adds the "transformer.h.{i}." prefix.
Biases may be absent (a bias-free config); their gradients are then absent too.
"""

from tinytransformer.checks import check_float
from tinytransformer.ops.attention import self_attention_backward, self_attention_forward
from tinytransformer.ops.dropout import dropout_backward, dropout_forward
from tinytransformer.ops.gelu import gelu_backward, gelu_forward
from tinytransformer.ops.layernorm import layernorm_backward, layernorm_forward
from tinytransformer.ops.linear import linear_backward, linear_forward


def block_param_shapes(C, bias=True):
    """The block's parameters, local name -> shape, in GPT-2's order. C is n_embd."""
    shapes = {
        "ln_1.weight": (C,),
        "ln_1.bias": (C,),
        "attn.c_attn.weight": (C, 3 * C),  # q, k, v side by side
        "attn.c_attn.bias": (3 * C,),
        "attn.c_proj.weight": (C, C),
        "attn.c_proj.bias": (C,),
        "ln_2.weight": (C,),
        "ln_2.bias": (C,),
        "mlp.c_fc.weight": (C, 4 * C),
        "mlp.c_fc.bias": (4 * C,),
        "mlp.c_proj.weight": (4 * C, C),
        "mlp.c_proj.bias": (C,),
    }
    return {n: shape for n, shape in shapes.items() if bias or not n.endswith(".bias")}


BLOCK_PARAMS = tuple(block_param_shapes(1))


# the order self_attention_backward returns its parameter gradients in
ATTN_PARAMS = ("attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias")


def residual_forward(x, f):
    """The residual connection: out = x + f(x), with f(x) computed by the caller. (B, T, C)."""
    return x + f, None


def residual_backward(dout, cache):
    """out = x + f: the gradient flows unchanged into both branches. -> (dx, df)."""
    return dout, dout


def block_forward(
    x,
    params,
    n_head,
    *,
    causal=True,
    attention_mask=None,
    dropout=0.0,
    rng=None,
    training=False,
    gelu="tanh",
    kv_cache=None,
    check=True,
):
    """x (B, T, C) -> out (B, T, C). block_attention(cache) (B, nh, T, Tk) gives the attention
    probabilities (see self_attention_forward for kv_cache: generation's earlier positions).
    attention_mask (B, T): 1 real token, 0 padding.

    dropout is applied, in training, to the attention probabilities and to the output of each
    branch before its residual add (GPT-2's attn_pdrop and resid_pdrop), drawing from rng.

    Checks (check=True): x float (B, T, C), every weight present, and the first ops' checks of
    their inputs (the ops after them read what the block itself made); the trunk passes
    check=False: it checked its inputs once, at its entry.
    """
    if check:
        _check_block(x, params)
    p = params.get
    h, c_ln1 = layernorm_forward(x, p("ln_1.weight"), p("ln_1.bias"), check=check)  # (B, T, C)
    a, c_attn = self_attention_forward(
        h,
        p("attn.c_attn.weight"),
        p("attn.c_attn.bias"),
        p("attn.c_proj.weight"),
        p("attn.c_proj.bias"),
        n_head,
        causal=causal,
        attention_mask=attention_mask,
        dropout_p=dropout,
        rng=rng,
        training=training,
        kv_cache=kv_cache,
        check=check,
    )  # (B, T, C)
    a, c_drop1 = dropout_forward(a, dropout, rng, training, check=False)  # (B, T, C)
    x1, _ = residual_forward(x, a)  # (B, T, C)
    h2, c_ln2 = layernorm_forward(x1, p("ln_2.weight"), p("ln_2.bias"), check=check)  # (B, T, C)
    f, c_fc = linear_forward(h2, p("mlp.c_fc.weight"), p("mlp.c_fc.bias"), check=check)
    g, c_gelu = gelu_forward(f, gelu, check=False)  # (B, T, 4C)
    m, c_mproj = linear_forward(g, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"), check=check)
    m, c_drop2 = dropout_forward(m, dropout, rng, training, check=False)  # (B, T, C)
    out, _ = residual_forward(x1, m)  # (B, T, C)
    cache = {
        "ln1": c_ln1,
        "attn": c_attn,
        "drop1": c_drop1,
        "ln2": c_ln2,
        "fc": c_fc,
        "gelu": c_gelu,
        "mproj": c_mproj,
        "drop2": c_drop2,
    }
    return out, cache


def block_backward(dout, cache):
    """dout (B, T, C) -> (dx (B, T, C), grads dict with the block's parameter names).
    Checks: none (the caches hold what block_forward made)."""
    grads = {}
    # out = x1 + m
    dx1, dm = residual_backward(dout, None)  # (B, T, C) each
    # m = dropout(m)
    dm = dropout_backward(dm, cache["drop2"])  # (B, T, C)
    # m = g @ mlp.c_proj.weight + mlp.c_proj.bias
    dg, grads["mlp.c_proj.weight"], grads["mlp.c_proj.bias"] = linear_backward(dm, cache["mproj"])
    # g = gelu(f)
    df = gelu_backward(dg, cache["gelu"])  # (B, T, 4C)
    # f = h2 @ mlp.c_fc.weight + mlp.c_fc.bias
    dh2, grads["mlp.c_fc.weight"], grads["mlp.c_fc.bias"] = linear_backward(df, cache["fc"])
    # h2 = ln_2(x1); x1 also feeds the residual, so its two gradients add
    dx1_ln, grads["ln_2.weight"], grads["ln_2.bias"] = layernorm_backward(dh2, cache["ln2"])
    dx1 = dx1 + dx1_ln  # (B, T, C)
    # x1 = x + a
    dx, da = residual_backward(dx1, None)  # (B, T, C) each
    # a = dropout(a)
    da = dropout_backward(da, cache["drop1"])  # (B, T, C)
    # a = attn(h)
    dh, *attn_grads = self_attention_backward(da, cache["attn"])  # dh (B, T, C)
    grads.update(zip(ATTN_PARAMS, attn_grads))
    # h = ln_1(x); x also feeds the residual
    dx_ln, grads["ln_1.weight"], grads["ln_1.bias"] = layernorm_backward(dh, cache["ln1"])
    dx = dx + dx_ln  # (B, T, C)
    return dx, {name: grad for name, grad in grads.items() if grad is not None}


def block_attention(cache):
    """The attention probabilities (B, nh, T, Tk) of a block's forward pass, for attention maps."""
    return cache["attn"]["core"]["att"]


def _check_block(x, params):
    check_float("x", x, ndim=3)
    missing = [n for n in BLOCK_PARAMS if not n.endswith(".bias") and n not in params]
    if missing:
        raise ValueError(f"params: missing {missing}; expected the block names {BLOCK_PARAMS}")

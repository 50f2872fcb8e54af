"""The exercises of chapter 2.1 (Transformer架构, the Transformer): heads split and merged, the
parameter count of GPT-2's layout, GPT-2's MLP, and the pre-LN block.

The references are the library's: ops.attention.split_heads and merge_heads, the number of
parameters of a GPTConfig (models.memory.count_parameters, the sizes of the arrays the model
builds), and evaluation.anatomy's mlp_forward and prenorm_block. 2.1.5 takes its four sublayers
as functions; they cross into a graded notebook as weights (wire.SublayerWeights), and each side
builds them with evaluation.anatomy.sublayer, which an answer may call (it is what it is given).
"""

import math

import numpy as np

from tinytransformer.evaluation.anatomy import mlp_forward, prenorm_block
from tinytransformer.exercises.attention import shaped_like
from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.exercises.wire import SublayerWeights
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.memory import count_parameters
from tinytransformer.ops.attention import merge_heads, split_heads

# --- 2.1.1 split_heads ----------------------------------------------------------------------------


def _split_case(rng, B, T, nh, hs, name=None):
    x = rng.standard_normal((B, T, nh * hs))  # (B, T, C)
    return Case(name or f"random ({B}, {T}, {nh * hs}), {nh} heads", {"x": x, "n_head": nh})


def _split_edge_cases():
    rng = np.random.default_rng(211)
    return [
        _split_case(rng, 2, 3, 2, 4, "(2, 3, 8), 2 heads of 4"),
        _split_case(rng, 1, 4, 1, 6, "one head: all 6 channels in it"),
        _split_case(rng, 1, 3, 4, 1, "as many heads as channels: hs = 1"),
        _split_case(rng, 2, 1, 3, 2, "one position (2, 1, 6), 3 heads"),
        _split_case(rng, 1, 4, 2, 4, "T = hs = 4: (1, 4, 8), 2 heads"),
        _split_case(rng, 3, 5, 3, 2, "(3, 5, 6), 3 heads of 2"),
    ]


def _split_random_cases(rng):
    cases = []
    for _ in range(3):
        B, T, nh, hs = (int(n) for n in rng.integers(1, [4, 7, 5, 6]))
        cases.append(_split_case(rng, B, T, nh, hs))
    return cases


def _split_shape(inputs, got):
    B, T, C = inputs["x"].shape
    nh = inputs["n_head"]
    want = (B, nh, T, C // nh)
    shape = np.shape(got[0])
    return None if shape == want else f"its shape is {shape}, not (B, nh, T, hs) = {want}"


def _positions_kept(inputs, got):
    """Every position's C values stay at that position (in some order): x (B, T, C) and heads
    (B, nh, T, hs), whichever is the input."""
    x, out = inputs["x"], np.asarray(got[0])
    B, T = x.shape[0], x.shape[1 if x.ndim == 3 else 2]
    if out.size != x.size or out.ndim not in (3, 4) or out.shape[0] != B:
        return None  # said by the shape property
    if out.shape[1 if out.ndim == 3 else 2] != T:
        return None
    for b in range(B):
        for t in range(T):
            mine = np.sort((x[b, t] if x.ndim == 3 else x[b, :, t]).ravel())
            yours = np.sort((out[b, t] if out.ndim == 3 else out[b, :, t]).ravel())
            if not np.array_equal(mine, yours):
                return f"position {t} of sequence {b} holds values from other positions"
    return None


SPLIT_HEADS = Exercise(
    id="2.1.1",
    title="split the channels of every position into heads",
    signature="split_heads(x, n_head)",
    outputs=("heads",),
    reference=split_heads,
    edge_cases=_split_edge_cases,
    random_cases=_split_random_cases,
    # Not `library`: its two lines are exactly what a right answer writes, so a "copy" of them
    # (same names, same calls) cannot be told from an honest answer. Calling the reference is
    # still refused (it is the reference), and so is any other function of the library.
    library=(),
    mistakes=(
        Mistake(
            "reshaped to (B, nh, T, hs) without the transpose",
            lambda x, n_head: x.reshape(x.shape[0], n_head, x.shape[1], -1),
            "A reshape keeps the memory order, in which all the channels of position 0 come "
            "first: (B, nh, T, hs) read that way mixes positions into one head. Reshape to "
            "(B, T, nh, hs), where the split is only of the channels, then move the head axis.",
        ),
        Mistake(
            "heads interleaved: head h took every nh-th channel",
            lambda x, n_head: x.reshape(*x.shape[:2], -1, n_head).transpose(0, 3, 1, 2),
            "Head h owns the contiguous channels h*hs .. (h+1)*hs - 1: reshape the channels to "
            "(nh, hs), heads first, not to (hs, nh).",
        ),
        Mistake(
            "the last two axes swapped: (B, nh, hs, T)",
            lambda x, n_head: x.reshape(*x.shape[:2], n_head, -1).transpose(0, 2, 3, 1),
            "Attention multiplies q (T, hs) by k^T (hs, T) within a head: each head's array is "
            "(T, hs), positions before channels.",
        ),
    ),
    properties=(
        Property("the result has shape (B, nh, T, hs), hs = C // nh", _split_shape),
        Property(
            "each position's C channels stay at that position: out[b, :, t] holds x[b, t]",
            _positions_kept,
        ),
    ),
    formula="x.reshape(B, T, nh, hs).transpose(0, 2, 1, 3), with hs = C // nh: the channels "
    "split into (nh, hs), then the head axis moved in front of the time axis.",
)


# --- 2.1.2 merge_heads ----------------------------------------------------------------------------


def _merge_case(rng, B, nh, T, hs, name=None):
    x = rng.standard_normal((B, nh, T, hs))  # (B, nh, T, hs)
    return Case(name or f"random ({B}, {nh}, {T}, {hs})", {"x": x})


def _merge_edge_cases():
    rng = np.random.default_rng(212)
    return [
        _merge_case(rng, 2, 2, 3, 4, "(2, 2, 3, 4): 2 heads of 4"),
        _merge_case(rng, 1, 1, 4, 6, "one head (1, 1, 4, 6)"),
        _merge_case(rng, 1, 4, 3, 1, "heads of one channel (1, 4, 3, 1)"),
        _merge_case(rng, 2, 3, 1, 2, "one position (2, 3, 1, 2)"),
        _merge_case(rng, 1, 4, 4, 4, "nh = T = hs = 4"),
        _merge_case(rng, 3, 3, 5, 2, "(3, 3, 5, 2)"),
    ]


def _merge_random_cases(rng):
    cases = []
    for _ in range(3):
        B, nh, T, hs = (int(n) for n in rng.integers(1, [4, 5, 7, 6]))
        cases.append(_merge_case(rng, B, nh, T, hs))
    return cases


def _merge_shape(inputs, got):
    B, nh, T, hs = inputs["x"].shape
    want = (B, T, nh * hs)
    shape = np.shape(got[0])
    return None if shape == want else f"its shape is {shape}, not (B, T, C) = {want}"


MERGE_HEADS = Exercise(
    id="2.1.2",
    title="put the heads side by side again: the inverse of split_heads",
    signature="merge_heads(x)",
    outputs=("merged",),
    reference=merge_heads,
    edge_cases=_merge_edge_cases,
    random_cases=_merge_random_cases,
    library=(),  # as 2.1.1: calling merge_heads is refused, writing its two lines is the answer
    mistakes=(
        Mistake(
            "reshaped to (B, T, C) without the transpose",
            lambda x: x.reshape(x.shape[0], x.shape[2], -1),
            "In memory, (B, nh, T, hs) holds all of head 0's positions first: reshaping that to "
            "(B, T, C) mixes positions. Move the head axis back next to hs first: "
            "(B, T, nh, hs), then reshape.",
        ),
        Mistake(
            "heads interleaved: channel c came from head c % nh",
            lambda x: x.transpose(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], -1),
            "Head h's hs channels sit together, at h*hs .. (h+1)*hs - 1: order the axes "
            "(B, T, nh, hs) before the reshape, not (B, T, hs, nh).",
        ),
    ),
    properties=(
        Property("the result has shape (B, T, nh * hs)", _merge_shape),
        Property(
            "each position's values stay at that position: out[b, t] holds x[b, :, t]",
            _positions_kept,
        ),
    ),
    formula="x.transpose(0, 2, 1, 3).reshape(B, T, nh * hs): the head axis moved back next to "
    "the channels, then heads side by side.",
)


# --- 2.1.3 gpt_param_count ------------------------------------------------------------------------


def _param_count(vocab_size, block_size, n_layer, n_embd):
    """The number of parameters of the arrays tinytransformer builds for this size (one head)."""
    config = GPTConfig(
        vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=1, n_embd=n_embd
    )
    return count_parameters(config)


def _count_case(name, V, T, L, C):
    return Case(name, {"vocab_size": V, "block_size": T, "n_layer": L, "n_embd": C})


def _count_edge_cases():
    return [
        _count_case("GPT-2 small: 50257, 1024, 12 layers, 768", 50257, 1024, 12, 768),
        _count_case("GPT-2 XL: 50257, 1024, 48 layers, 1600", 50257, 1024, 48, 1600),
        _count_case("the package's default: 65, 64, 4 layers, 128", 65, 64, 4, 128),
        _count_case("one layer: 10, 8, 1 layer, 4", 10, 8, 1, 4),
        _count_case("the smallest: 1, 1, 1 layer, 1", 1, 1, 1, 1),
        _count_case("more positions than tokens: 3, 100, 2 layers, 6", 3, 100, 2, 6),
    ]


def _count_random_cases(rng):
    cases = []
    for _ in range(3):
        V, T = int(rng.integers(2, 60_000)), int(rng.integers(1, 2049))
        L, C = int(rng.integers(2, 25)), 8 * int(rng.integers(1, 129))
        cases.append(_count_case(f"random: {V}, {T}, {L} layers, {C}", V, T, L, C))
    return cases


def _count_variant(V, T, L, C, head=0, positions=1, width=4, biases=1, ln_f=1, lns=2, ln_bias=1):
    """A parameter count with one piece of the layout changed (the mistakes below)."""
    ln = (1 + ln_bias) * C  # one layer norm: its weight, and its bias
    attn = C * 3 * C + biases * 3 * C + C * C + biases * C  # c_attn and c_proj
    mlp = C * width * C + biases * width * C + width * C * C + biases * C  # c_fc and c_proj
    return V * C + positions * T * C + head * V * C + L * (lns * ln + attn + mlp) + ln_f * ln


def _whole_number(inputs, got):
    n = got[0]
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        return f"it is a {type(n).__name__}"
    return None


def _at_least_the_embeddings(inputs, got):
    n, C = got[0], inputs["n_embd"]
    least = (inputs["vocab_size"] + inputs["block_size"]) * C
    if not isinstance(n, int | np.integer | float) or n >= least:
        return None
    return f"it is {n}, fewer than the two embedding tables' {least}"


PARAM_COUNT = Exercise(
    id="2.1.3",
    title="the number of parameters of GPT-2's layout, from its four sizes",
    signature="gpt_param_count(vocab_size, block_size, n_layer, n_embd)",
    outputs=("n_params",),
    reference=_param_count,
    edge_cases=_count_edge_cases,
    random_cases=_count_random_cases,
    library=(
        "tinytransformer.models.memory.count_parameters",
        "tinytransformer.models.transformer.param_shapes",
        "tinytransformer.models.transformer.Transformer.num_parameters",
    ),
    mistakes=(
        Mistake(
            "the output head counted as a matrix of its own",
            lambda vocab_size, block_size, n_layer, n_embd: _count_variant(
                vocab_size, block_size, n_layer, n_embd, head=1
            ),
            "The head is tied to the token embedding: logits = x @ wte^T reuses the (V, C) table, "
            "so it adds no parameters.",
        ),
        Mistake(
            "the position embedding left out",
            lambda vocab_size, block_size, n_layer, n_embd: _count_variant(
                vocab_size, block_size, n_layer, n_embd, positions=0
            ),
            "GPT-2 learns one vector per position: wpe is (block_size, C).",
        ),
        Mistake(
            "an MLP of width C instead of 4C",
            lambda vocab_size, block_size, n_layer, n_embd: _count_variant(
                vocab_size, block_size, n_layer, n_embd, width=1
            ),
            "The MLP widens to 4C and comes back: c_fc is (C, 4C) with a bias of 4C, c_proj "
            "(4C, C) with a bias of C.",
        ),
        Mistake(
            "the linear layers' biases left out",
            lambda vocab_size, block_size, n_layer, n_embd: _count_variant(
                vocab_size, block_size, n_layer, n_embd, biases=0
            ),
            "Each of c_attn, attn.c_proj, c_fc and mlp.c_proj has a bias: 3C + C + 4C + C per "
            "block.",
        ),
        Mistake(
            "the final layer norm left out",
            lambda vocab_size, block_size, n_layer, n_embd: _count_variant(
                vocab_size, block_size, n_layer, n_embd, ln_f=0
            ),
            "After the last block, ln_f normalises the stream before the head: 2C more.",
        ),
        Mistake(
            "one layer norm per block instead of two",
            lambda vocab_size, block_size, n_layer, n_embd: _count_variant(
                vocab_size, block_size, n_layer, n_embd, lns=1
            ),
            "A pre-LN block normalises before each of its two sublayers: ln_1 and ln_2.",
        ),
        Mistake(
            "layer norms without a bias",
            lambda vocab_size, block_size, n_layer, n_embd: _count_variant(
                vocab_size, block_size, n_layer, n_embd, ln_bias=0
            ),
            "A layer norm has a gain and a bias, C each.",
        ),
    ),
    properties=(
        Property("the count is a whole number (an int)", _whole_number),
        Property(
            "the count is at least the embeddings' (vocab_size + block_size) * n_embd",
            _at_least_the_embeddings,
        ),
    ),
    formula="V C + T C (the two embeddings) + n_layer (12 C^2 + 13 C) (per block: two layer "
    "norms 4C, c_attn 3C^2 + 3C, c_proj C^2 + C, c_fc 4C^2 + 4C, mlp.c_proj 4C^2 + C) + 2C "
    "(ln_f); the head adds nothing, it is wte.",
    tolerance=0.0,  # a count is exact: off by one parameter is wrong
)


# --- 2.1.4 mlp_forward ----------------------------------------------------------------------------


def _mlp_case(rng, B, T, C, name=None, scale=1.0, offset=0.0):
    """x (B, T, C) and weights whose pre-activations have a spread of about `scale`."""
    x = offset + rng.standard_normal((B, T, C))  # (B, T, C)
    size = math.sqrt(C * (1.0 + offset * offset))
    w_fc = scale * rng.standard_normal((C, 4 * C)) / size  # (C, 4C)
    b_fc = 0.5 * scale * rng.standard_normal(4 * C)  # (4C,)
    w_proj = rng.standard_normal((4 * C, C)) / math.sqrt(4 * C)  # (4C, C)
    b_proj = 0.1 * rng.standard_normal(C)  # (C,)
    inputs = {"x": x, "w_fc": w_fc, "b_fc": b_fc, "w_proj": w_proj, "b_proj": b_proj}
    return Case(name or f"random ({B}, {T}, {C}), pre-activations x {scale:g}", inputs)


def _mlp_edge_cases():
    rng = np.random.default_rng(214)
    return [
        _mlp_case(rng, 2, 3, 4, "(2, 3, 4), width 16"),
        _mlp_case(rng, 1, 1, 1, "one position, one channel (width 4)"),
        _mlp_case(rng, 1, 5, 8, "pre-activations spread to +-60: tanh saturates", scale=30.0),
        _mlp_case(rng, 2, 2, 3, "pre-activations spread to +-600", scale=300.0),
        _mlp_case(rng, 2, 4, 6, "an input far from zero: x ~ 5 + N(0, 1)", offset=5.0),
    ]


def _mlp_random_cases(rng):
    cases = []
    for scale in (1.0, 3.0, float(rng.choice([30.0, 100.0]))):
        B, T, C = (int(n) for n in rng.integers(1, [4, 6, 9]))
        cases.append(_mlp_case(rng, B, T, C, scale=scale))
    return cases


_erf = np.frompyfunc(math.erf, 1, 1)


def _mlp_variant(x, w_fc, b_fc, w_proj, b_proj, act="gelu_new", bias_after=False):
    h = x @ w_fc if bias_after else x @ w_fc + b_fc  # (B, T, 4C)
    s = math.sqrt(2.0 / math.pi)
    if act == "gelu_new":
        g = 0.5 * h * (1.0 + np.tanh(s * (h + 0.044715 * h**3)))
    elif act == "erf":
        g = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)).astype(np.float64))
    elif act == "no cube":
        g = 0.5 * h * (1.0 + np.tanh(s * h))
    elif act == "sigmoid":
        g = h / (1.0 + np.exp(-1.702 * h))
    else:  # relu
        g = np.maximum(h, 0.0)
    if bias_after:
        g = g + b_fc
    return g @ w_proj + b_proj  # (B, T, C)


def _finite(inputs, got):
    out = np.asarray(got[0])
    if out.dtype.kind not in "fc" or np.isfinite(out).all():
        return None
    i = tuple(int(j) for j in np.argwhere(~np.isfinite(out))[0])
    return f"the entry at {i} is {out[i]}"


def _mlp_mistake(name, advice, **variant):
    def answer(x, w_fc, b_fc, w_proj, b_proj):
        return _mlp_variant(x, w_fc, b_fc, w_proj, b_proj, **variant)

    return Mistake(name, answer, advice)


MLP = Exercise(
    id="2.1.4",
    title="GPT-2's MLP: widen to 4C, gelu_new, project back",
    signature="mlp_forward(x, w_fc, b_fc, w_proj, b_proj)",
    outputs=("out",),
    reference=mlp_forward,
    edge_cases=_mlp_edge_cases,
    random_cases=_mlp_random_cases,
    library=(
        "tinytransformer.evaluation.anatomy.mlp_forward",
        "tinytransformer.evaluation.anatomy.sublayer",
        "tinytransformer.ops.gelu.gelu_forward",
        "tinytransformer.models.block.block_forward",
    ),
    mistakes=(
        _mlp_mistake(
            "the exact (erf) GELU instead of GPT-2's tanh form",
            "GPT-2 was trained with gelu_new, 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3))); "
            "the erf form differs by up to about 1e-3 and the weights expect the tanh one.",
            act="erf",
        ),
        _mlp_mistake(
            "ReLU instead of GELU",
            "GELU is smooth and slightly negative below 0: h * Phi(h), not max(h, 0).",
            act="relu",
        ),
        _mlp_mistake(
            "the 0.044715 h^3 term left out of the tanh",
            "The tanh's argument is sqrt(2/pi) (h + 0.044715 h^3).",
            act="no cube",
        ),
        _mlp_mistake(
            "the sigmoid approximation h * sigmoid(1.702 h)",
            "That is another approximation of GELU; GPT-2's is the tanh form.",
            act="sigmoid",
        ),
        _mlp_mistake(
            "b_fc added after the GELU instead of before",
            "The bias belongs to the linear layer: gelu(x @ w_fc + b_fc).",
            bias_after=True,
        ),
    ),
    properties=(shaped_like(0, "out", "x"), Property("out is finite", _finite)),
    formula="h = x @ w_fc + b_fc; g = 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3))); "
    "out = g @ w_proj + b_proj. np.tanh saturates to +-1 by itself: a tanh written with exp "
    "overflows for large h.",
)


# --- 2.1.5 prenorm_block --------------------------------------------------------------------------


def random_sublayers(rng, C, n_head):
    """(ln_1, attn, ln_2, mlp) as wire specs, weights far from their initial values, so that
    every sublayer changes what it is given and no two of them agree."""

    def ln():
        weights = {
            "weight": 1.0 + 0.5 * rng.standard_normal(C),
            "bias": 0.3 * rng.standard_normal(C),
        }
        return SublayerWeights("layer norm", weights)

    def linear(n_in, n_out):
        return rng.standard_normal((n_in, n_out)) / math.sqrt(n_in), 0.2 * rng.standard_normal(
            n_out
        )

    w_attn, b_attn = linear(C, 3 * C)
    w_attn *= 2.0  # sharper attention weights than at initialisation
    w_proj, b_proj = linear(C, C)
    attn = SublayerWeights(
        "attention",
        {
            "c_attn.weight": w_attn,
            "c_attn.bias": b_attn,
            "c_proj.weight": w_proj,
            "c_proj.bias": b_proj,
        },
        n_head,
    )
    w_fc, b_fc = linear(C, 4 * C)
    w_out, b_out = linear(4 * C, C)
    mlp = SublayerWeights(
        "mlp",
        {"c_fc.weight": w_fc, "c_fc.bias": b_fc, "c_proj.weight": w_out, "c_proj.bias": b_out},
    )
    return ln(), attn, ln(), mlp


def _block_case(rng, B, T, nh, hs, name=None, scale=1.0, offset=0.0):
    C = nh * hs
    x = offset + scale * rng.standard_normal((B, T, C))  # (B, T, C)
    ln_1, attn, ln_2, mlp = random_sublayers(rng, C, nh)
    inputs = {"x": x, "ln_1": ln_1, "attn": attn, "ln_2": ln_2, "mlp": mlp}
    return Case(name or f"random ({B}, {T}, {C}), {nh} heads", inputs)


def _block_edge_cases():
    rng = np.random.default_rng(215)
    return [
        _block_case(rng, 2, 4, 2, 4, "(2, 4, 8), 2 heads"),
        _block_case(rng, 1, 1, 1, 4, "one position (1, 1, 4)"),
        _block_case(rng, 1, 5, 1, 6, "one head (1, 5, 6)"),
        _block_case(rng, 2, 3, 2, 3, "a stream far from normalised: x ~ 50 + 20 N(0, 1)", 20, 50),
        _block_case(rng, 3, 6, 4, 2, "(3, 6, 8), 4 heads of 2"),
    ]


def _block_random_cases(rng):
    cases = []
    for scale in (1.0, float(rng.choice([5.0, 30.0]))):
        B, T, nh, hs = (int(n) for n in rng.integers([1, 1, 1, 2], [4, 7, 3, 5]))
        cases.append(_block_case(rng, B, T, nh, hs, f"random, stream x {scale:g}", scale))
    return cases


def _post_ln(x, ln_1, attn, ln_2, mlp):
    x1 = ln_1(x + attn(x))
    return ln_2(x1 + mlp(x1))


def _no_residual(x, ln_1, attn, ln_2, mlp):
    return mlp(ln_2(attn(ln_1(x))))


def _normalised_stream(x, ln_1, attn, ln_2, mlp):
    h = ln_1(x)
    x1 = h + attn(h)
    h2 = ln_2(x1)
    return h2 + mlp(h2)


def _parallel(x, ln_1, attn, ln_2, mlp):
    return x + attn(ln_1(x)) + mlp(ln_2(x))


def _ln_1_twice(x, ln_1, attn, ln_2, mlp):
    x1 = x + attn(ln_1(x))
    return x1 + mlp(ln_1(x1))


def _no_norms(x, ln_1, attn, ln_2, mlp):
    x1 = x + attn(x)
    return x1 + mlp(x1)


def _second_residual_from_x(x, ln_1, attn, ln_2, mlp):
    x1 = x + attn(ln_1(x))
    return x + mlp(ln_2(x1))


def _changes_x(inputs, got):
    out, x = np.asarray(got[0]), inputs["x"]
    if out.shape != x.shape or not np.array_equal(out, x):
        return None
    return "it is x unchanged"


PRENORM_BLOCK = Exercise(
    id="2.1.5",
    title="one pre-LN transformer block, from its four sublayers",
    signature="prenorm_block(x, ln_1, attn, ln_2, mlp)",
    outputs=("out",),
    reference=prenorm_block,
    edge_cases=_block_edge_cases,
    random_cases=_block_random_cases,
    # prenorm_block is the reference (calling it is refused) but not fingerprinted: its two
    # lines, with the name x1 for the stream after attention, are what a right answer writes.
    library=("tinytransformer.models.block.block_forward",),
    may_use=("tinytransformer.evaluation.anatomy.sublayer",),  # the functions it is given
    mistakes=(
        Mistake(
            "post-LN: the norm after the residual add (the original Transformer's order)",
            _post_ln,
            "GPT-2 normalises the INPUT of each sublayer and adds the sublayer's output to the "
            "un-normalised stream: x + attn(ln_1(x)). The 2017 Transformer normalised after the "
            "add; GPT-2 moved the norms.",
        ),
        Mistake(
            "no residual connections",
            _no_residual,
            "Each sublayer's output is ADDED to its input: the stream x runs through the block "
            "and every sublayer writes a correction into it.",
        ),
        Mistake(
            "the normalised stream carried on: ln_1(x) + attn(ln_1(x))",
            _normalised_stream,
            "The residual adds to x itself, not to its normalised copy: x1 = x + attn(ln_1(x)).",
        ),
        Mistake(
            "both sublayers read x (a parallel block)",
            _parallel,
            "In GPT-2 the MLP reads the stream AFTER attention has added to it: "
            "mlp(ln_2(x1)) with x1 = x + attn(ln_1(x)).",
        ),
        Mistake(
            "ln_1 used before the MLP too",
            _ln_1_twice,
            "Each sublayer has its own layer norm: ln_2 (its own gain and bias) before the MLP.",
        ),
        Mistake(
            "the layer norms left out",
            _no_norms,
            "Each sublayer reads a normalised copy of the stream: attn(ln_1(x)), mlp(ln_2(x1)).",
        ),
        Mistake(
            "the MLP's output added to x instead of x1",
            _second_residual_from_x,
            "The second residual add continues the stream: out = x1 + mlp(ln_2(x1)), so the "
            "attention's contribution stays in it.",
        ),
    ),
    properties=(
        shaped_like(0, "out", "x"),
        Property("out is finite", _finite),
        Property("the block changes x (its sublayers add to it)", _changes_x),
    ),
    formula="x1 = x + attn(ln_1(x)); out = x1 + mlp(ln_2(x1)).",
)

EXERCISES = [SPLIT_HEADS, MERGE_HEADS, PARAM_COUNT, MLP, PRENORM_BLOCK]

"""Wrong answers to the exercises, written the way students write them (full functions, their own
variable names), each with the known mistake the check should name, or None where the check
only has to reject it. tests/test_exercises.py runs every one through `check`.
"""

import json
import math

import numpy as np

# --- 4.1.1 softmax(x) -----------------------------------------------------------------------------


def softmax_no_max(x):
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_global_sum(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def softmax_keepdims_forgotten(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1)  # broadcasts the wrong way on every non-square batch


def softmax_in_float32(x):
    x = x.astype(np.float32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- 4.1.2 softmax_backward(dout, p) --------------------------------------------------------------


def softmax_backward_diagonal(dout, p):
    return dout * p * (1 - p)


def softmax_backward_no_sum(dout, probs):
    return probs * dout


def softmax_backward_sum_over_all(dout, p):
    return p * (dout - np.sum(dout * p))


# --- 4.1.3 attention(q, k, v, causal) -------------------------------------------------------------


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention_unscaled(q, k, v, causal):
    scores = q @ np.swapaxes(k, -1, -2)
    if causal:
        T = q.shape[-2]
        scores = scores + np.triu(np.full((T, T), -np.inf), 1)
    return _softmax(scores) @ v


def attention_weights_only(q, k, v, causal):  # the article's formula, without V
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        T = q.shape[-2]
        scores = np.where(np.tril(np.ones((T, T))) == 1, scores, -np.inf)
    return _softmax(scores)


def attention_diagonal_masked(q, k, v, causal):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        T = q.shape[-2]
        scores = np.where(
            np.triu(np.ones((T, T), dtype=bool)), -np.inf, scores
        )  # k=0: diagonal too
    w = np.nan_to_num(_softmax(scores))
    return w @ v


def attention_mask_after_softmax(q, k, v, causal):
    w = _softmax(q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]))
    if causal:
        w = w * np.tril(np.ones(w.shape[-2:]))
    return w @ v


def attention_sqrt_of_T(q, k, v, causal):
    T = q.shape[-2]
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(T)  # the sequence length, not the head size
    if causal:
        scores = scores + np.triu(np.full((T, T), -np.inf), 1)
    return _softmax(scores) @ v


# --- 4.1.4 attention_backward(dout, q, k, v, causal) ----------------------------------------------


def _weights(q, k, causal):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        T = q.shape[-2]
        s = s + np.triu(np.full((T, T), -np.inf), 1)
    return _softmax(s)


def attention_backward_no_scale(dout, q, k, v, causal):
    a = _weights(q, k, causal)
    da = dout @ np.swapaxes(v, -1, -2)
    ds = a * (da - (da * a).sum(-1, keepdims=True))  # the 1/sqrt(hs) of the scores is missing
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(a, -1, -2) @ dout


def attention_backward_dv_untransposed(dout, q, k, v, causal):
    a = _weights(q, k, causal)
    da = dout @ np.swapaxes(v, -1, -2)
    ds = a * (da - (da * a).sum(-1, keepdims=True)) / math.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, a @ dout


def attention_backward_no_mask(dout, q, k, v, causal):
    a = _weights(q, k, False)  # the forward masked; the recomputed weights do not
    da = dout @ np.swapaxes(v, -1, -2)
    ds = a * (da - (da * a).sum(-1, keepdims=True)) / math.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(a, -1, -2) @ dout


# --- 4.1.5 layernorm_backward(dout, x, w, eps=1e-5) -----------------------------------------------


def layernorm_backward_unbiased(dout, x, w, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, ddof=1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    g = dout * w
    dx = (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True)) / np.sqrt(
        var + eps
    )
    axes = tuple(range(x.ndim - 1))
    return dx, (dout * xhat).sum(axes), dout.sum(axes)


def layernorm_backward_constant_stats(dout, x, w, eps=1e-5):
    xhat = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
    axes = tuple(range(x.ndim - 1))
    return (
        dout * w / np.sqrt(x.var(-1, keepdims=True) + eps),
        (dout * xhat).sum(axes),
        dout.sum(axes),
    )


def layernorm_backward_dw_per_row(dout, x, w, eps=1e-5):
    rstd = 1 / np.sqrt(x.var(-1, keepdims=True) + eps)
    xhat = (x - x.mean(-1, keepdims=True)) * rstd
    g = dout * w
    dx = (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True)) * rstd
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)  # wrong for three axes


def layernorm_backward_eps_fixed(dout, x, w, eps=1e-5):
    rstd = 1 / np.sqrt(x.var(-1, keepdims=True) + 1e-5)  # the argument eps ignored
    xhat = (x - x.mean(-1, keepdims=True)) * rstd
    g = dout * w
    dx = (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True)) * rstd
    lead = tuple(range(x.ndim - 1))
    return dx, (dout * xhat).sum(axis=lead), dout.sum(axis=lead)


# --- 4.2.1 cross_entropy(logits, targets) ---------------------------------------------------------


def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def cross_entropy_summed(logits, targets):
    keep = targets != -100
    logp = _log_softmax(logits)
    return -logp[np.arange(len(targets))[keep], targets[keep]].sum()


def cross_entropy_divides_by_n(logits, targets):
    keep = targets != -100
    logp = _log_softmax(logits)
    return -logp[np.arange(len(targets))[keep], targets[keep]].sum() / len(targets)


def cross_entropy_naive(logits, targets):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    keep = targets != -100
    return -np.mean(np.log(p[keep, targets[keep]]))


def cross_entropy_log_of_softmax(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    keep = targets != -100
    return -np.mean(np.log(p[keep, targets[keep]]))


# --- 4.2.2 cross_entropy_backward(logits, targets) ------------------------------------------------


def _probs(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def cross_entropy_backward_summed(logits, targets):
    g = _probs(logits)
    keep = targets != -100
    g[np.arange(len(targets))[keep], targets[keep]] -= 1
    g[~keep] = 0
    return g


def cross_entropy_backward_ignored_kept(logits, targets):
    g = _probs(logits)
    keep = targets != -100
    g[np.arange(len(targets))[keep], targets[keep]] -= 1
    return g / keep.sum()


def cross_entropy_backward_no_onehot(logits, targets):
    g = _probs(logits)
    keep = targets != -100
    g[~keep] = 0
    return g / keep.sum()


# --- 5.1 greedy_decode(model, idx, max_new_tokens) ------------------------------------------------


def greedy_no_crop(model, idx, max_new_tokens):
    out = idx
    for _ in range(max_new_tokens):
        logits, _ = model(out)  # fails once the text outgrows block_size
        out = np.concatenate([out, logits[:, -1].argmax(-1)[:, None]], axis=1)
    return out


def greedy_first_position(model, idx, max_new_tokens):
    out = idx
    for _ in range(max_new_tokens):
        logits, _ = model(out[:, -model.config.block_size :])
        out = np.concatenate([out, logits[:, 0].argmax(-1)[:, None]], axis=1)
    return out


def greedy_new_tokens_only(model, idx, max_new_tokens):
    out, new = idx, []
    for _ in range(max_new_tokens):
        logits, _ = model(out[:, -model.config.block_size :])
        nxt = logits[:, -1].argmax(-1)[:, None]
        new.append(nxt)
        out = np.concatenate([out, nxt], axis=1)
    return np.concatenate(new, axis=1) if new else idx[:, :0]


# --- 5.2 top_p_filter(logits, p) ------------------------------------------------------------------


def top_p_exclusive(logits, p):
    probs = _softmax(logits)
    order = np.argsort(-probs, axis=-1)
    total = np.cumsum(np.take_along_axis(probs, order, axis=-1), axis=-1)
    keep = np.zeros(probs.shape, dtype=bool)
    np.put_along_axis(keep, order, total <= p, axis=-1)  # drops the token that crosses p
    return np.where(keep, logits, -np.inf)


def top_p_unsorted(logits, p):
    probs = _softmax(logits)
    before = np.cumsum(probs, axis=-1) - probs
    return np.where(before < p, logits, -np.inf)


# --- 5.3 bytes_to_unicode() -----------------------------------------------------------------------


def table_from_255():
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(255 + n)
            n += 1
    return table


def table_identity():
    return {b: chr(b) for b in range(256)}


def table_ascii_only():
    table, n = {}, 0
    for b in range(256):
        if 33 <= b <= 126:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


# --- 5.4 generate_text(model, tokenizer, prompt, n) -----------------------------------------------


def generate_text_articles_bug(model, tokenizer, prompt, n):
    logits, _ = model(np.array([tokenizer.encode(prompt)]))
    return tokenizer.decode(logits[0].argmax(-1).tolist())  # decodes one forward pass


def generate_text_no_prompt(model, tokenizer, prompt, n):
    out = model.generate(np.array([tokenizer.encode(prompt)]), n, temperature=0)
    return tokenizer.decode(out[0, len(tokenizer.encode(prompt)) :].tolist())


def generate_text_decodes_logits(model, tokenizer, prompt, n):
    logits, _ = model(np.array([tokenizer.encode(prompt)]))
    return tokenizer.decode(logits[0])  # the article's outputs[0]: not ids at all


# --- 7.1 conv1d_to_linear(weight) -----------------------------------------------------------------


def conv1d_reshaped(weight):
    return weight.reshape(weight.shape[1], weight.shape[0])


def conv1d_transposed_view(weight):
    return weight.T  # right values, but a view: safetensors would write it permuted


# --- 7.2 safetensors_header(path) -----------------------------------------------------------------


def header_with_metadata(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    tensors = {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items() if "dtype" in v}
    return {**tensors, "__metadata__": header["__metadata__"]}  # kept, as if it were a tensor


def header_big_endian(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "big")  # the length is little-endian
        header = json.loads(f.read(n))
    return {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items() if k != "__metadata__"}


def header_list_shapes(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    return {k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"}


# exercise id -> [(wrong answer, the mistake the check names, or None)]
MUTANTS = {
    "4.1.1": [
        (softmax_no_max, "no max subtraction"),
        (softmax_global_sum, "normalised over the whole array"),
        (softmax_keepdims_forgotten, None),
        (softmax_in_float32, None),
    ],
    "4.1.2": [
        (softmax_backward_diagonal, "only the diagonal of the Jacobian kept"),
        (softmax_backward_no_sum, "the sum term of the softmax Jacobian dropped"),
        (softmax_backward_sum_over_all, None),
    ],
    "4.1.3": [
        (attention_unscaled, "no 1/sqrt(hs) scaling"),
        (attention_weights_only, "V left out"),
        (attention_diagonal_masked, "mask off by one: a position cannot see itself"),
        (attention_mask_after_softmax, "the mask applied after the softmax"),
        (attention_sqrt_of_T, None),
    ],
    "4.1.4": [
        (attention_backward_no_scale, "the 1/sqrt(hs) scale left out"),
        (attention_backward_dv_untransposed, "dv = att @ dout"),
        (attention_backward_no_mask, None),
    ],
    "4.1.5": [
        (layernorm_backward_unbiased, "unbiased variance"),
        (layernorm_backward_constant_stats, "treated as constants"),
        (layernorm_backward_dw_per_row, None),
        (layernorm_backward_eps_fixed, None),
    ],
    "4.2.1": [
        (cross_entropy_summed, "summed instead of averaged"),
        (cross_entropy_divides_by_n, "ignored targets included"),
        (cross_entropy_naive, "no max subtraction"),
        (cross_entropy_log_of_softmax, "log of the softmax instead of log-sum-exp"),
    ],
    "4.2.2": [
        (cross_entropy_backward_summed, "not divided by the number of counted targets"),
        (cross_entropy_backward_ignored_kept, "ignored rows not zeroed"),
        (cross_entropy_backward_no_onehot, "the one-hot not subtracted"),
    ],
    "5.1": [
        (greedy_no_crop, None),
        (greedy_first_position, "the first position's logits used instead of the last"),
        (greedy_new_tokens_only, "only the new tokens returned"),
    ],
    "5.2": [
        (top_p_exclusive, "the token that crosses p left out"),
        (top_p_unsorted, "the cumulative sum taken before sorting"),
    ],
    "5.3": [
        (table_from_255, "the shifted bytes start at 255"),
        (table_identity, "every byte mapped to itself"),
        (table_ascii_only, "only ASCII's printable bytes kept as themselves"),
    ],
    "5.4": [
        (generate_text_articles_bug, "one forward pass decoded, nothing generated"),
        (generate_text_no_prompt, "only the continuation returned"),
        (generate_text_decodes_logits, None),
    ],
    "7.1": [
        (conv1d_reshaped, "reshaped instead of transposed"),
        (conv1d_transposed_view, None),
    ],
    "7.2": [
        (header_with_metadata, "__metadata__ listed as a tensor"),
        (header_big_endian, None),
        (header_list_shapes, "shapes as lists"),
    ],
}

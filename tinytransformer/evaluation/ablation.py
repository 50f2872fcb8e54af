"""Head ablation: how much a model's loss rises when one attention head is switched off.

A block's attention concatenates its heads' outputs, y = [y_0 | y_1 | ... ] (B, T, C), head h in
channels h*hs .. (h+1)*hs - 1, and projects them with c_proj: y @ W + b. Row c of W multiplies
channel c of y, so zeroing rows h*hs .. (h+1)*hs - 1 of W removes exactly head h's contribution
to the residual stream and leaves every other head, and the bias, as they were. That is done on
a copy of the weights: the model itself is never changed.

    ablated = ablate_head(model.state_dict(), layer=1, head=2, n_head=4)
    base, increase = head_importance(model, loss)   # increase[layer, head], loss(model) -> float

Left out: mean ablation (replacing a head's output by its average instead of 0) and ablating
several heads at once.
"""

import numpy as np

from tinytransformer.checks import check_count


def c_proj_name(layer):
    """The name of block `layer`'s attention output projection, (C, C), rows = the heads'
    channels."""
    return f"transformer.h.{layer}.attn.c_proj.weight"


def ablate_head(state_dict, layer, head, n_head):
    """A copy of `state_dict` in which head `head` of block `layer` adds nothing: the rows
    head*hs .. (head+1)*hs - 1 of that block's attn.c_proj.weight are zero. The arrays it
    does not change are shared with `state_dict`, the changed one is a new array.

    >>> sd = {c_proj_name(0): np.ones((4, 4))}
    >>> ablate_head(sd, 0, 1, n_head=2)[c_proj_name(0)].sum(axis=1)
    array([4., 4., 0., 0.])
    """
    n_head = check_count("n_head", n_head, low=1)
    head = check_count("head", head, high=n_head - 1)
    name = c_proj_name(check_count("layer", layer))
    if name not in state_dict:
        raise ValueError(f"layer: no {name} in the weights (is the model that deep?)")
    w = state_dict[name]  # (C, C)
    hs = w.shape[0] // n_head
    out = dict(state_dict)
    out[name] = w.copy()
    out[name][head * hs : (head + 1) * hs] = 0.0  # head h's channels of y no longer reach x
    return out


def head_importance(model, loss):
    """Ablate every head of `model` in turn -> (base, increase): base = loss(model), and
    increase (n_layer, n_head) = loss(ablated copy) - base, the copy built like the model
    (its class, config and dtype) with ablate_head's weights. `loss` is any function of a model
    returning a float (the mean validation loss over fixed batches, say)."""
    config = model.config
    weights = model.state_dict()
    base = float(loss(model))
    increase = np.zeros((config.n_layer, config.n_head))  # (n_layer, n_head)
    for layer in range(config.n_layer):
        for head in range(config.n_head):
            copy = type(model)(config, dtype=model.dtype)
            copy.load_state_dict(ablate_head(weights, layer, head, config.n_head))
            increase[layer, head] = float(loss(copy.eval())) - base
    return base, increase

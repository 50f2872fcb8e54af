"""The logit lens (nostalgebraist, 2020): read the residual stream after each block as if it
were the last, through the model's final layer norm and its tied head.

    lenses = logit_lens(model, idx)          # L + 1 arrays (B, T, V): embedding, block 1 .. L
    losses = lens_losses(model, batch)       # (L + 1,) the loss each of them would give

The stream after block l is x_l (B, T, C); the model's own logits are ln_f(x_L) @ wte^T, so
ln_f(x_l) @ wte^T asks "what would the model predict if it stopped here?". The last lens is the
model's logits exactly. It reads only the model's public attributes (hidden_states, params):
nothing of the model is changed. Left out: the tuned lens (a learned map per layer, Belrose et
al., 2023), which reads early layers better than ln_f and the head alone.
"""

import numpy as np

from tinytransformer.models.transformer import WTE, evaluating
from tinytransformer.ops.cross_entropy import cross_entropy_forward
from tinytransformer.ops.layernorm import layernorm_forward


def logit_lens(model, idx):
    """idx (B, T) ids -> [logits (B, T, V) read after the embedding, after block 1, ..., after
    block L]: each stream through ln_f and the head, in eval mode. The last is model(idx)'s."""
    P = model.params
    with evaluating(model):
        states = model.hidden_states(idx)  # L + 1 x (B, T, C), before ln_f
    lenses = []
    for x in states:
        h, _ = layernorm_forward(x, P["transformer.ln_f.weight"], P.get("transformer.ln_f.bias"))
        lenses.append(h @ P[WTE].T)  # (B, T, C) @ (C, V) -> (B, T, V): the tied head
    return lenses


def lens_losses(model, batches):
    """batches: Batch-es (idx, targets) -> (L + 1,) float64: the mean cross-entropy each lens's
    logits give on them (equal weight per batch, as training.loop.mean_loss); the last entry is
    the model's own loss."""
    totals = np.zeros(model.config.n_layer + 1)
    for batch in batches:
        for i, logits in enumerate(logit_lens(model, batch.idx)):
            loss, _ = cross_entropy_forward(logits, batch.targets)
            totals[i] += float(loss)
    return totals / len(batches)

"""The forward/backward pairs everything else is built from, in the order of the data flow.

Every op is a pair: `out, cache = op_forward(...)` and `grads = op_backward(dout, cache)`, with
the gradients in the order of forward's inputs. No op mutates its inputs or its upstream
gradient, and each imports nothing of the package but the input checks (and the ops it is made
of: attention uses linear, softmax and dropout).

    embedding.py      x = wte[idx] + wpe[pos]
    linear.py         y = x @ W + b
    layernorm.py      y = (x - mean) / sqrt(var + eps) * w + b
    gelu.py           y = x * Phi(x)
    dropout.py        y = x * mask / (1 - p)
    softmax.py        p = exp(x - max) / sum(exp(x - max))
    cross_entropy.py  loss = mean(-log softmax(z)[t])
    attention.py      softmax(q @ k^T / sqrt(hs) + M) @ v, heads, self-attention
"""

from tinytransformer.ops.attention import (
    attention_backward,
    attention_forward,
    self_attention_backward,
    self_attention_forward,
)
from tinytransformer.ops.cross_entropy import (
    IGNORE_INDEX,
    cross_entropy_backward,
    cross_entropy_forward,
)
from tinytransformer.ops.dropout import dropout_backward, dropout_forward
from tinytransformer.ops.embedding import embedding_backward, embedding_forward
from tinytransformer.ops.gelu import gelu_backward, gelu_forward
from tinytransformer.ops.layernorm import layernorm_backward, layernorm_forward
from tinytransformer.ops.linear import linear_backward, linear_forward
from tinytransformer.ops.softmax import softmax_backward, softmax_forward

__all__ = [
    "embedding_forward",
    "embedding_backward",
    "linear_forward",
    "linear_backward",
    "layernorm_forward",
    "layernorm_backward",
    "gelu_forward",
    "gelu_backward",
    "dropout_forward",
    "dropout_backward",
    "softmax_forward",
    "softmax_backward",
    "IGNORE_INDEX",
    "cross_entropy_forward",
    "cross_entropy_backward",
    "attention_forward",
    "attention_backward",
    "self_attention_forward",
    "self_attention_backward",
]

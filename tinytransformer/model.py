"""The GPT: token + position embedding, n_layer pre-LN blocks, a final layer norm and an output
head tied to the token embedding. Parameters carry Hugging Face GPT-2's state-dict names, so a
GPT-2 checkpoint maps onto this model one to one.

    idx (B, T) -> embedding -> dropout -> block x n_layer -> ln_f -> @ wte^T -> logits (B, T, V)

The Transformer base class holds everything the causal GPT and the bidirectional masked-LM
encoder share; a subclass only says whether attention is causal.
Left out: mixed precision, weight sharing beyond the tied head, and any training logic (train.py).
"""

import contextlib
import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np

from tinytransformer.block import block_backward, block_forward, block_param_shapes
from tinytransformer.checks import check_float, check_ids, check_same_dtype, check_shape
from tinytransformer.dropout import dropout_backward, dropout_forward
from tinytransformer.embedding import embedding_backward, embedding_forward
from tinytransformer.layernorm import layernorm_backward, layernorm_forward
from tinytransformer.linear import linear_backward, linear_forward
from tinytransformer.softmax import cross_entropy_backward, cross_entropy_forward


@dataclass
class GPTConfig:
    """Model size, with nanoGPT's (and GPT-2's) field names."""

    vocab_size: int = 65
    block_size: int = 64  # the longest sequence; the position table has this many rows
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in the linear layers and layer norms, as GPT-2

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd: expected a multiple of n_head={self.n_head}, got {self.n_embd}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {self.dropout}")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"config: unknown fields {sorted(unknown)}")
        return cls(**d)


# A neutral name for the config, used by the masked-LM encoder as well.
TransformerConfig = GPTConfig

PRESETS = {
    # for tests: big enough to exercise every path, small enough for finite differences
    "tiny": dict(block_size=16, n_layer=2, n_head=2, n_embd=16),
    # nanoGPT's CPU config for Shakespeare
    "small": dict(block_size=64, n_layer=4, n_head=4, n_embd=128),
    # GPT-2 small, for loading its weights
    "gpt2": dict(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768),
}


def logits_gradient(cache, dlogits, logits_shape, dtype, targets="targets"):
    """The gradient a backward pass starts from: d loss / d logits from the cached loss when
    dlogits is None, else dlogits itself, checked against the logits' shape and the model's
    dtype. Shared by every model with a loss on top (GPT, MaskedLM, SequenceClassifier)."""
    if cache is None:
        raise RuntimeError("backward: run a forward pass first")
    if dlogits is None:
        if "loss" not in cache:
            raise RuntimeError(f"backward: the last forward pass had no {targets}, so no loss")
        # loss = cross_entropy(logits, targets)
        return cross_entropy_backward(np.asarray(1.0, dtype), cache["loss"])
    check_float("dlogits", dlogits)
    check_shape("dlogits", dlogits, logits_shape)
    if dlogits.dtype != dtype:
        raise TypeError(f"dlogits: expected the model's dtype {dtype}, got {dlogits.dtype}")
    return dlogits


@contextlib.contextmanager
def evaluating(model):
    """Run the body with the model in eval mode (no dropout), then give it back in the mode it
    was in, even if the body raises. Works for anything with train(), eval() and .training."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()


def param_shapes(config):
    """name -> shape of every parameter, in GPT-2's names and order."""
    C, V, bias = config.n_embd, config.vocab_size, config.bias
    shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (config.block_size, C)}
    for i in range(config.n_layer):
        for name, shape in block_param_shapes(C, bias).items():
            shapes[f"transformer.h.{i}.{name}"] = shape
    shapes["transformer.ln_f.weight"] = (C,)
    if bias:
        shapes["transformer.ln_f.bias"] = (C,)
    return shapes


def init_params(config, rng, dtype=np.float32):
    """GPT-2's initialisation: weights ~ N(0, 0.02), the two residual projections scaled by
    1/sqrt(2 n_layer) (each block adds two branches to the residual stream, and this keeps its
    variance from growing with depth), biases 0, layer-norm gains 1."""
    params = {}
    for name, shape in param_shapes(config).items():
        if name.endswith(".bias"):
            params[name] = np.zeros(shape, dtype)
        elif ".ln_" in name:
            params[name] = np.ones(shape, dtype)
        else:
            std = 0.02
            if name.endswith("c_proj.weight"):
                std /= math.sqrt(2 * config.n_layer)
            params[name] = rng.normal(0.0, std, size=shape).astype(dtype)
    return params


class Transformer:
    """The shared trunk of GPT and MaskedLM: embeddings, blocks, final layer norm, tied head."""

    causal = True

    def __init__(self, config, seed=0, dtype=np.float32):
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config: expected a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"dtype: expected a floating-point dtype such as float32, got {dtype}")
        self.params = init_params(config, np.random.default_rng(seed), self.dtype)
        self.grads = {}
        self.frozen = set()  # names the optimizer leaves alone, see freeze()
        self.training = True
        self.rng = np.random.default_rng([seed, 1])  # dropout's randomness, separate from init
        self._cache = None

    # --- modes and bookkeeping -------------------------------------------------------------------

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def zero_grad(self):
        self.grads = {}

    def num_parameters(self):
        """Number of parameters; the tied head is the token embedding, counted once."""
        return sum(p.size for p in self.params.values())

    def block_params(self, i):
        """The parameters of block i, under the block's local names ("ln_1.weight", ...)."""
        prefix = f"transformer.h.{i}."
        return {n[len(prefix) :]: p for n, p in self.params.items() if n.startswith(prefix)}

    # --- forward ---------------------------------------------------------------------------------

    def __call__(self, idx, targets=None, attention_mask=None):
        return self.forward(idx, targets, attention_mask)

    def forward(self, idx, targets=None, attention_mask=None):
        """idx (B, T) ids -> (logits (B, T, V), loss or None).

        targets (B, T): the id each position should predict, -100 where nothing is predicted.
        attention_mask (B, T): 1 for a real token, 0 for padding (keys that nobody attends to).
        """
        x = self.hidden(idx, attention_mask)  # (B, T, C)
        c = self._cache
        # tied output head: logits = x @ wte^T, the embedding matrix used a second time
        logits, c["head"] = linear_forward(x, self.params["transformer.wte.weight"].T)
        loss = None
        if targets is not None:
            if not isinstance(targets, np.ndarray) or targets.shape != idx.shape:
                got = getattr(targets, "shape", type(targets).__name__)
                raise ValueError(f"targets: expected shape {idx.shape} like idx, got {got}")
            loss, c["loss"] = cross_entropy_forward(logits, targets)
        return logits, loss

    def hidden(self, idx, attention_mask=None):
        """idx (B, T) ids -> the final hidden states x (B, T, C), after ln_f.

        For a task head on top of the trunk (see classifier.py); backward_hidden is its pair.
        """
        check_ids("idx", idx, high=self.config.vocab_size, ndim=2)
        T = idx.shape[1]
        if T == 0:
            raise ValueError(f"idx: expected at least one position, got shape {idx.shape}")
        if T > self.config.block_size:
            raise ValueError(
                f"idx: sequence length {T} exceeds block_size {self.config.block_size}"
            )
        x, self._cache = self._trunk(idx, attention_mask)  # (B, T, C)
        return x

    def hidden_states(self, idx, attention_mask=None):
        """idx (B, T) ids -> the residual stream layer by layer: [x after the embedding, after
        block 1, ..., after block L], each (B, T, C), before ln_f. For probes of what each layer
        holds (benchmarks/linear_probe.py); run it in eval mode unless dropout is wanted."""
        self.hidden(idx, attention_mask)
        return list(self._cache["states"])

    def _trunk(self, idx, attention_mask=None, past_kv=None, pos0=0):
        """Everything before the head: idx (B, T) -> x (B, T, C) after ln_f, and the caches."""
        P, cfg = self.params, self.config
        drop = cfg.dropout if self.training else 0.0
        caches = {"blocks": [], "kv": []}
        x, caches["emb"] = embedding_forward(
            idx, P["transformer.wte.weight"], P["transformer.wpe.weight"], pos0
        )  # (B, T, C)
        x, caches["emb_drop"] = dropout_forward(x, drop, self.rng, self.training)
        caches["states"] = [x]  # the residual stream after each stage (hidden_states)
        for i in range(cfg.n_layer):
            x, c = block_forward(
                x,
                self.block_params(i),
                cfg.n_head,
                causal=self.causal,
                key_padding_mask=attention_mask,
                dropout=drop,
                rng=self.rng,
                training=self.training,
                past_kv=None if past_kv is None else past_kv[i],
            )  # (B, T, C)
            caches["blocks"].append(c)
            caches["kv"].append(c["kv"])
            caches["states"].append(x)
        x, caches["ln_f"] = layernorm_forward(
            x, P["transformer.ln_f.weight"], P.get("transformer.ln_f.bias")
        )  # (B, T, C)
        return x, caches

    def attention_maps(self):
        """The attention probabilities of the last forward pass: one (B, nh, T, T) per block."""
        if self._cache is None:
            raise RuntimeError("attention_maps: run a forward pass first")
        return [c["att"] for c in self._cache["blocks"]]

    # --- backward --------------------------------------------------------------------------------

    def backward(self, dlogits=None):
        """Fill self.grads with d loss / d param for the last forward pass (the forward, read in
        reverse). Pass dlogits (B, T, V) to backpropagate another objective than the loss.

        Frozen parameters get no gradient, and the pass stops below the lowest block that has
        a trainable parameter: nothing under it needs a gradient.
        """
        c = self._cache
        V = self.config.vocab_size
        logits_shape = None if c is None else c["head"][0].shape[:-1] + (V,)  # (B, T, V)
        dlogits = logits_gradient(c, dlogits, logits_shape, self.dtype)
        # logits = x @ wte^T
        dx, dwte_head_T, _ = linear_backward(dlogits, c["head"])
        return self.backward_hidden(dx, dwte_head=dwte_head_T.T)

    def backward_hidden(self, dx, dwte_head=None):
        """dx (B, T, C): the gradient of the final hidden states -> self.grads.

        dwte_head (V, C): the head's share of the tied token embedding's gradient, if any.
        """
        c = self._cache
        if c is None:
            raise RuntimeError("backward: run a forward pass first")
        check_float("dx", dx)
        check_shape("dx", dx, c["ln_f"][0].shape)
        check_same_dtype(dx=dx, params=self.params["transformer.wte.weight"])
        g = {}
        # x = ln_f(x)
        dx, g["transformer.ln_f.weight"], g["transformer.ln_f.bias"] = layernorm_backward(
            dx, c["ln_f"]
        )
        lowest = self._lowest_trainable_layer()
        for i in reversed(range(max(lowest, 0), self.config.n_layer)):
            # x = block_i(x)
            dx, block_grads = block_backward(dx, c["blocks"][i])
            g.update({f"transformer.h.{i}.{n}": d for n, d in block_grads.items()})
        dwte = dwte_head
        if lowest < 0:
            # x = dropout(x)
            dx = dropout_backward(dx, c["emb_drop"])
            # x = wte[idx] + wpe[:T]
            dwte_emb, g["transformer.wpe.weight"] = embedding_backward(dx, c["emb"])
            # the tied token embedding is used twice, at the input and in the head: both add
            dwte = dwte_emb if dwte_head is None else dwte_emb + dwte_head
        g["transformer.wte.weight"] = dwte
        self.grads = {n: d for n, d in g.items() if d is not None and n not in self.frozen}
        return self.grads

    def _lowest_trainable_layer(self):
        """-1 if the embeddings train, else the lowest block index with a trainable parameter."""
        if not {"transformer.wte.weight", "transformer.wpe.weight"} <= self.frozen:
            return -1
        for i in range(self.config.n_layer):
            if any(f"transformer.h.{i}.{n}" not in self.frozen for n in self.block_params(i)):
                return i
        return self.config.n_layer

    def freeze(self, trainable_blocks):
        """Freeze everything but the last `trainable_blocks` blocks and the final layer norm;
        None freezes nothing (every parameter trains again).

        The tied token embedding is also the output head, so it stays frozen: the head trains
        through the final layer norm (and a task head, if one sits on top).
        """
        if trainable_blocks is None:
            self.frozen = set()
            return self
        n = self.config.n_layer
        if not 0 <= trainable_blocks <= n:
            raise ValueError(f"trainable_blocks: expected 0..{n}, got {trainable_blocks}")
        keep = {f"transformer.h.{i}." for i in range(n - trainable_blocks, n)}
        self.frozen = {
            name
            for name in self.params
            if not name.startswith("transformer.ln_f") and not any(name.startswith(k) for k in keep)
        }
        return self

    # --- state -----------------------------------------------------------------------------------

    def state_dict(self):
        """name -> array (copies), GPT-2's names; the tied head is not a separate entry."""
        return {n: p.copy() for n, p in self.params.items()}

    def load_state_dict(self, sd):
        """Load arrays by name; missing, unexpected or misshaped names raise an error."""
        expected = param_shapes(self.config)
        missing = sorted(set(expected) - set(sd))
        unexpected = sorted(set(sd) - set(expected))
        misshaped = [
            f"{n}: expected {expected[n]}, got {tuple(np.shape(sd[n]))}"
            for n in expected
            if n in sd and tuple(np.shape(sd[n])) != expected[n]
        ]
        if missing or unexpected or misshaped:
            problems = []
            if missing:
                problems.append(f"missing {missing}")
            if unexpected:
                problems.append(f"unexpected {unexpected}")
            if misshaped:
                problems.append("wrong shape: " + "; ".join(misshaped))
            raise ValueError("load_state_dict: " + ", ".join(problems))
        for n in expected:
            self.params[n] = np.array(sd[n], dtype=self.dtype)  # a copy in the model's dtype
        self.grads = {}
        self._cache = None


class GPT(Transformer):
    """A causal language model: position t sees tokens 0..t and predicts token t + 1.

    >>> import numpy as np
    >>> model = GPT(GPTConfig(vocab_size=10, **PRESETS["tiny"]))
    >>> idx = np.random.default_rng(0).integers(0, 10, size=(4, 16))  # (B, T)
    >>> logits, loss = model(idx, targets=np.roll(idx, -1, axis=1))
    >>> logits.shape, round(float(loss), 1)  # at initialisation, about ln(10) = 2.3
    ((4, 16, 10), 2.3)
    """

    causal = True

    def generate(
        self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, rng=None, use_cache=True
    ):
        """Continue idx (B, T) by max_new_tokens sampled tokens -> (B, T + max_new_tokens).

        temperature=0 picks the most likely token (greedy). See sample.sample_next for top_k and
        top_p. A prompt longer than block_size is cropped from the left, with a warning.
        """
        steps = self.generate_iter(idx, max_new_tokens, temperature, top_k, top_p, rng, use_cache)
        return np.concatenate([idx, *steps], axis=1)

    def generate_iter(
        self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, rng=None, use_cache=True
    ):
        """Like generate, but yields each new token (B, 1) as soon as it is sampled."""
        from tinytransformer.sample import sample_next

        check_ids("idx", idx, high=self.config.vocab_size, ndim=2)
        if idx.shape[1] == 0:
            raise ValueError("idx: expected at least one prompt token, got an empty prompt")
        if rng is None:
            rng = np.random.default_rng()
        bs = self.config.block_size
        if idx.shape[1] > bs:
            warnings.warn(
                f"prompt of {idx.shape[1]} tokens is longer than block_size {bs}: "
                f"keeping its last {bs} tokens",
                stacklevel=2,
            )
            idx = idx[:, -bs:]
        with evaluating(self):
            context = idx  # (B, t): what the model sees, at most block_size tokens
            kv = None
            for _ in range(max_new_tokens):
                if use_cache and kv is not None and context.shape[1] <= bs:
                    # only the newest token goes through the model; its keys and values join
                    # the cache, which holds those of every earlier position
                    x, c = self._trunk(context[:, -1:], past_kv=kv, pos0=context.shape[1] - 1)
                else:
                    # the first step, generation without a cache, or a full window: positions
                    # shift when the window slides, so everything is recomputed
                    context = context[:, -bs:]
                    x, c = self._trunk(context)
                kv = c["kv"] if use_cache else None
                logits = x[:, -1] @ self.params["transformer.wte.weight"].T  # (B, V)
                nxt = sample_next(logits, temperature, top_k, top_p, rng)[:, None]  # (B, 1)
                context = np.concatenate([context, nxt], axis=1)
                yield nxt

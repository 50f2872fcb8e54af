"""The transformer trunk that the GPT and the masked-LM encoder share, and the MaskedLM itself.

    idx (B, T) -> embedding -> dropout -> block x n_layer -> ln_f -> x (B, T, C)   the trunk
    x -> @ wte^T -> logits (B, T, V) -> cross-entropy with targets -> loss         head and loss

trunk_forward returns x and its cache; trunk_backward reads that cache in reverse, one line for
each line of the forward. forward and backward add the tied output head (the token embedding
used a second time) and the loss on top. Parameters carry Hugging Face GPT-2's state-dict names,
so a GPT-2 checkpoint maps onto the model one to one.

A subclass only says whether attention is causal: GPT (models/gpt.py, which adds generation)
or MaskedLM (below). The optimizer, the training loop and checkpoints are in training/.
Left out: mixed precision, and weight sharing beyond the tied head.
"""

import contextlib
import math

import numpy as np

from tinytransformer.checks import (
    check_count,
    check_float,
    check_ids,
    check_same_dtype,
    check_shape,
)
from tinytransformer.models.block import (
    BLOCK_PARAMS,
    block_attention,
    block_backward,
    block_forward,
    block_param_shapes,
)
from tinytransformer.models.config import GPTConfig
from tinytransformer.ops.attention import check_attention_mask
from tinytransformer.ops.cross_entropy import cross_entropy_backward, cross_entropy_forward
from tinytransformer.ops.dropout import dropout_backward, dropout_forward
from tinytransformer.ops.embedding import embedding_backward, embedding_forward
from tinytransformer.ops.layernorm import layernorm_backward, layernorm_forward
from tinytransformer.ops.linear import linear_backward, linear_forward

WTE = "transformer.wte.weight"  # the token embedding, which is also the output head


def logits_gradient(loss_cache, dlogits, logits_shape, dtype, targets="targets"):
    """The gradient a backward pass starts from: d loss / d logits from the cached loss when
    dlogits is None, else dlogits itself, checked against the logits' shape and the model's
    dtype. Shared by every model with a loss on top (GPT, MaskedLM, SequenceClassifier)."""
    if dlogits is None:
        if loss_cache is None:
            raise RuntimeError(f"backward: the last forward pass had no {targets}, so no loss")
        # loss = cross_entropy(logits, targets)
        return cross_entropy_backward(np.asarray(1.0, dtype), loss_cache)
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

    def __init__(self, config, seed=0, dtype=np.float32, *, params=None):
        """config: a GPTConfig; seed: the initial weights' and dropout's; params: a state dict
        to start from instead of the random initialisation (checked and copied as
        load_state_dict does; loading GPT-2 small this way skips drawing 124M numbers that
        would be thrown away)."""
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config: expected a GPTConfig, got {type(config).__name__}")
        check_count("seed", seed)
        self.config = config
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"dtype: expected a floating-point dtype such as float32, got {dtype}")
        if params is None:
            self.params = init_params(config, np.random.default_rng(seed), self.dtype)
        else:
            self.params = {}
            self.load_state_dict(params)
        self.grads = {}
        self.frozen = set()  # names the optimizer leaves alone, see freeze()
        self.training = True
        self.rng = np.random.default_rng([seed, 1])  # dropout's randomness, separate from init
        self._cache = None  # what the last forward left for backward

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
        # looked up by name (a dozen lookups, not a scan of every parameter: generation calls
        # this for each block at every token); a bias-free config has no bias names
        P = self.params
        return {n: P[prefix + n] for n in BLOCK_PARAMS if prefix + n in P}

    # --- the trunk: forward, and backward as its mirror ------------------------------------------

    def trunk_forward(self, idx, attention_mask=None, *, kv_cache=None, states=None, check=True):
        """idx (B, T) ids -> (x (B, T, C) after ln_f, cache for trunk_backward).

        attention_mask (B, T): 1 for a real token, 0 for padding (keys nobody attends to).
        kv_cache: generation's KV cache (models/kv_cache.py), one KVCache per block holding the
        keys and values of the positions before idx, which therefore starts at position
        kv_cache[0].length; the new positions' keys and values are appended to it. states: a list
        that, when given, receives the residual stream after the embedding and after each block
        (for probes).

        The inputs are checked here, once (generation checks its own once, at its entry, and
        passes check=False for each step); the ops below trust them (check=False), and the
        weights are the model's own (load_state_dict checks what it loads).
        """
        pos0 = 0 if kv_cache is None else kv_cache[0].length  # the position of idx[:, 0]
        if check:
            self._check_trunk_inputs(idx, attention_mask, pos0, kv_cache)
        P, cfg = self.params, self.config
        drop = cfg.dropout if self.training else 0.0
        cache = {"blocks": []}
        # x = wte[idx] + wpe[pos]
        x, cache["emb"] = embedding_forward(
            idx, P[WTE], P["transformer.wpe.weight"], pos0, check=False
        )  # (B, T, C)
        # x = dropout(x)
        x, cache["emb_drop"] = dropout_forward(x, drop, self.rng, self.training, check=False)
        if states is not None:
            states.append(x)
        for i in range(cfg.n_layer):
            # x = block_i(x)
            x, c = block_forward(
                x,
                self.block_params(i),
                cfg.n_head,
                causal=self.causal,
                attention_mask=attention_mask,
                dropout=drop,
                rng=self.rng,
                training=self.training,
                kv_cache=None if kv_cache is None else kv_cache[i],
                check=False,
            )  # (B, T, C)
            cache["blocks"].append(c)
            if states is not None:
                states.append(x)
        # x = ln_f(x)
        x, cache["ln_f"] = layernorm_forward(
            x, P["transformer.ln_f.weight"], P.get("transformer.ln_f.bias"), check=False
        )  # (B, T, C)
        return x, cache

    def _check_trunk_inputs(self, idx, attention_mask, pos0, kv_cache):
        check_ids("idx", idx, high=self.config.vocab_size, ndim=2)
        T = idx.shape[1]
        if T == 0:
            raise ValueError(f"idx: expected at least one position, got shape {idx.shape}")
        if pos0 + T > self.config.block_size:
            raise ValueError(
                f"idx: sequence length {pos0 + T} exceeds block_size {self.config.block_size}"
            )
        if kv_cache is not None and len(kv_cache) != self.config.n_layer:
            raise ValueError(
                f"kv_cache: expected one KVCache per block ({self.config.n_layer}), "
                f"got {len(kv_cache)}"
            )
        check_attention_mask(attention_mask, idx.shape[0], pos0 + T)

    def trunk_backward(self, dx, cache, dwte_head=None):
        """dx (B, T, C), the gradient of the trunk's output -> grads of the trainable parameters.

        dwte_head (V, C): the head's share of the tied token embedding's gradient, if any.
        Frozen parameters are filtered out, and the pass stops below the lowest block that has a
        trainable parameter: nothing under it needs a gradient.
        """
        check_float("dx", dx)
        check_shape("dx", dx, cache["ln_f"][0].shape)
        check_same_dtype(dx=dx, params=self.params[WTE])
        grads = {}
        # x = ln_f(x)
        dx, grads["transformer.ln_f.weight"], grads["transformer.ln_f.bias"] = layernorm_backward(
            dx, cache["ln_f"]
        )
        lowest = self._lowest_trainable_layer()  # -1: the embeddings train too
        for i in reversed(range(max(lowest, 0), self.config.n_layer)):
            # x = block_i(x)
            dx, block_grads = block_backward(dx, cache["blocks"][i])
            grads.update({f"transformer.h.{i}.{n}": d for n, d in block_grads.items()})
        if lowest < 0:
            # x = dropout(x)
            dx = dropout_backward(dx, cache["emb_drop"])
            # x = wte[idx] + wpe[pos]
            grads[WTE], grads["transformer.wpe.weight"] = embedding_backward(dx, cache["emb"])
        if dwte_head is not None:
            # the tied token embedding is used twice, at the input and in the head: both add
            grads[WTE] = grads[WTE] + dwte_head if WTE in grads else dwte_head
        return {n: d for n, d in grads.items() if d is not None and n not in self.frozen}

    # --- the whole model: trunk, tied head, loss -------------------------------------------------

    def __call__(self, idx, targets=None, attention_mask=None):
        return self.forward(idx, targets, attention_mask)

    def forward(self, idx, targets=None, attention_mask=None):
        """idx (B, T) ids -> (logits (B, T, V), loss or None).

        targets (B, T): the id each position should predict, -100 where nothing is predicted.
        attention_mask (B, T): 1 for a real token, 0 for padding (keys that nobody attends to).
        """
        if targets is not None and (
            not isinstance(targets, np.ndarray) or targets.shape != np.shape(idx)
        ):
            got = getattr(targets, "shape", type(targets).__name__)
            raise ValueError(f"targets: expected shape {np.shape(idx)} like idx, got {got}")
        x, trunk = self.trunk_forward(idx, attention_mask)  # (B, T, C)
        # logits = x @ wte^T: the tied output head, the embedding matrix used a second time
        logits, head = linear_forward(x, self.params[WTE].T, check=False)  # (B, T, V)
        loss, loss_cache = None, None
        if targets is not None:
            # loss = cross_entropy(logits, targets); the targets are the caller's: checked here
            loss, loss_cache = cross_entropy_forward(logits, targets)
        self._cache = {"trunk": trunk, "head": head, "loss": loss_cache}
        return logits, loss

    def backward(self, dlogits=None):
        """Fill self.grads with d loss / d param for the last forward pass (the forward, read in
        reverse). Pass dlogits (B, T, V) to backpropagate another objective than the loss."""
        if self._cache is None:
            raise RuntimeError("backward: run a forward pass first")
        c = self._cache
        logits_shape = c["head"][0].shape[:-1] + (self.config.vocab_size,)  # (B, T, V)
        # loss = cross_entropy(logits, targets)
        dlogits = logits_gradient(c["loss"], dlogits, logits_shape, self.dtype)
        # logits = x @ wte^T
        dx, dwte_T, _ = linear_backward(dlogits, c["head"])  # dx (B, T, C), dwte_T (C, V)
        # x = trunk(idx)
        self.grads = self.trunk_backward(dx, c["trunk"], dwte_head=dwte_T.T)
        return self.grads

    # --- what a reader may look at ---------------------------------------------------------------

    def hidden_states(self, idx, attention_mask=None):
        """idx (B, T) ids -> the residual stream layer by layer: [x after the embedding, after
        block 1, ..., after block L], each (B, T, C), before ln_f. For probes of what each layer
        holds (benchmarks/linear_probe.py); run it in eval mode unless dropout is wanted."""
        states = []
        self.trunk_forward(idx, attention_mask, states=states)
        return states

    def attention_maps(self):
        """The attention probabilities of the last forward pass: one (B, nh, T, T) per block."""
        if self._cache is None:
            raise RuntimeError("attention_maps: run a forward pass first")
        return [block_attention(c) for c in self._cache["trunk"]["blocks"]]

    # --- freezing --------------------------------------------------------------------------------

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
        """Load arrays by name. Everything is checked before anything is loaded: missing,
        unexpected or misshaped names, and arrays that are not finite floats (integers, booleans,
        strings or objects are refused, not converted; so are nan and inf)."""
        expected = param_shapes(self.config)
        missing = sorted(set(expected) - set(sd))
        unexpected = sorted(set(sd) - set(expected))
        present = [n for n in expected if n in sd]
        misshaped = [
            f"{n}: expected {expected[n]}, got {tuple(np.shape(sd[n]))}"
            for n in present
            if tuple(np.shape(sd[n])) != expected[n]
        ]
        floats = [n for n in present if np.asarray(sd[n]).dtype.kind == "f"]
        not_float = [f"{n}: {np.asarray(sd[n]).dtype}" for n in present if n not in floats]
        not_finite = [n for n in floats if not np.isfinite(sd[n]).all()]
        if missing or unexpected or misshaped or not_float or not_finite:
            problems = []
            if missing:
                problems.append(f"missing {missing}")
            if unexpected:
                problems.append(f"unexpected {unexpected}")
            if misshaped:
                problems.append("wrong shape: " + "; ".join(misshaped))
            if not_float:
                problems.append("expected floating-point weights, got " + "; ".join(not_float))
            if not_finite:
                problems.append(f"nan or inf in {not_finite}")
            raise ValueError("load_state_dict: " + ", ".join(problems))
        for n in expected:
            self.params[n] = np.array(sd[n], dtype=self.dtype)  # a copy in the model's dtype
        self.grads = {}
        self._cache = None


class MaskedLM(Transformer):
    """A bidirectional encoder trained to fill in masked tokens (BERT's objective on GPT-2's trunk).

    Every position sees the whole (unpadded) sequence, before and after it. Everything else is
    the shared trunk: the same blocks, GPT-2's parameter names, the padding `attention_mask`,
    backward, freeze, state. Its inputs and targets come from text.masking.mask_tokens.

    The MLM head is the tied output projection the trunk already has: logits = ln_f(x) @ wte^T.
    BERT puts one more dense + GELU + layer norm transform (and an output bias) between the
    trunk and the tied projection; we leave it out, so the encoder has exactly the GPT's
    parameters and a checkpoint of either loads into the other.

    Takes a `GPTConfig` (alias `TransformerConfig`); `model(idx, targets, attention_mask)` returns
    (logits (B, T, V), loss), the loss averaged over positions whose target is not -100.

    >>> from tinytransformer.models.config import GPTConfig, PRESETS
    >>> model = MaskedLM(GPTConfig(vocab_size=10, **PRESETS["tiny"]))
    >>> logits, loss = model(np.array([[1, 8, 3]]), targets=np.array([[-100, 2, -100]]))
    >>> logits.shape, bool(abs(float(loss) - np.log(10)) < 0.1)
    ((1, 3, 10), True)
    """

    causal = False  # every query may attend every real key, before and after it

"""How much arithmetic one training step of a GPT costs, counted from its config by formula.

A matrix product (m, k) @ (k, n) is m k n multiply-accumulates (MACs), and a MAC is two floating-
point operations (a multiply and an add), so 2 m k n FLOPs. One sequence of T tokens through a
GPT of L blocks, width C, vocabulary V, in the order the forward pass runs:

    per block, per token      c_attn C x 3C, attn.c_proj C x C, mlp.c_fc C x 4C, mlp.c_proj 4C x C
                              -> 12 C^2 MACs
    per block, per sequence   attention's scores q k^T and its output A v: each head (T, hs) @
                              (hs, T) and (T, T) @ (T, hs), nh heads of hs = C / nh
                              -> 2 T^2 C MACs (the whole T x T square: the causal mask hides
                              half of it, but the product computes it all, as ours and torch's do)
    the head, per token       ln_f(x) @ wte^T, C x V -> C V MACs

    forward   = 2 B (T (12 L C^2 + C V) + 2 L T^2 C)     FLOPs
    backward  = 2 x forward: each product's gradient is two products of the same size, one for
                its input (dY W^T) and one for its weight (X^T dY)
    training step = forward + backward = 3 x forward

Everything else (layer norms, GELU, softmax, the residual adds, AdamW) is O(B T C) or O(P) per
step, a small fraction for any useful C, and left out; so are the embedding lookups (no
arithmetic). The usual rule of thumb (Kaplan et al., 2020) is 6 N per token with N the number of
parameters: 2 N for the forward pass (each weight used in one MAC per token) and 4 N for the
backward. It counts wte once for the head (right, the head is wte) and wpe too (which does no
arithmetic), and leaves out attention's 2 T^2 C per block, small while T is small next to 6 C.

The test (tests/test_flops.py) checks the formula against torch.utils.flop_counter.FlopCounterMode
on the model exported to Hugging Face's GPT-2, forward and backward.
"""

from dataclasses import dataclass

from tinytransformer.checks import check_count
from tinytransformer.models.memory import count_parameters


@dataclass(frozen=True)
class StepFlops:
    """The FLOPs of one training step on a batch of B sequences of T tokens, by part.

    blocks: the four linear layers of every block; attention: q k^T and A v of every block; head:
    the tied output head. forward is their sum; backward is 2 x forward; step is both.
    """

    blocks: int
    attention: int
    head: int

    @property
    def forward(self):
        return self.blocks + self.attention + self.head

    @property
    def backward(self):
        return 2 * self.forward

    @property
    def step(self):
        return self.forward + self.backward


def step_flops(config, batch_size, block_size=None):
    """The FLOPs of one training step of a GPT with this config (models.config.GPTConfig) on
    batch_size sequences of block_size tokens (default: config.block_size) -> StepFlops.

    >>> from tinytransformer.models.config import GPTConfig
    >>> f = step_flops(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=2), 1)
    >>> f.blocks, f.attention, f.head, f.step  # 2*4*12*2*2, 2*2*4*4*2, 2*4*2*10; 3 x forward
    (384, 128, 160, 2016)
    """
    B = check_count("batch_size", batch_size, low=1)
    T = config.block_size if block_size is None else check_count("block_size", block_size, low=1)
    L, C, V = config.n_layer, config.n_embd, config.vocab_size
    blocks = 2 * B * T * L * 12 * C * C  # c_attn 3C^2 + c_proj C^2 + c_fc 4C^2 + c_proj 4C^2
    attention = 2 * B * L * 2 * T * T * C  # q k^T and A v: T^2 C MACs each, over all heads
    head = 2 * B * T * C * V  # ln_f(x) @ wte^T
    return StepFlops(blocks, attention, head)


def six_n_flops(config, batch_size, block_size=None):
    """The rule of thumb: 6 x parameters x tokens, the FLOPs of one training step.

    >>> from tinytransformer.models.config import GPTConfig
    >>> six_n_flops(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=2), 1)
    2544
    """
    B = check_count("batch_size", batch_size, low=1)
    T = config.block_size if block_size is None else check_count("block_size", block_size, low=1)
    return 6 * count_parameters(config) * B * T

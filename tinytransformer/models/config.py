"""The model's size and shape: a config dataclass with nanoGPT's (and GPT-2's) field names, and
named presets.

One config serves both models built on the transformer trunk: the causal GPT and the
bidirectional masked LM (hence the neutral alias TransformerConfig).
"""

import dataclasses
from dataclasses import dataclass

import numpy as np


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
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd: expected a multiple of n_head={self.n_head}, got {self.n_embd}"
            )
        real = int | float | np.integer | np.floating
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, real):
            raise TypeError(f"dropout: expected a number, got {self.dropout!r}")
        self.dropout = float(self.dropout)  # np.float32(0.1) too, as a plain float
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {self.dropout}")
        if not isinstance(self.bias, bool | np.bool_):
            raise TypeError(f"bias: expected True or False, got {self.bias!r}")

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

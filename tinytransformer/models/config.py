"""The model's size and shape: a config dataclass with nanoGPT's (and GPT-2's) field names, and
named presets.

One config serves both models built on the transformer trunk: the causal GPT and the
bidirectional masked LM (hence the neutral alias TransformerConfig).
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from tinytransformer.checks import check_count, check_number


@dataclass(frozen=True)
class GPTConfig:
    """Model size, with nanoGPT's (and GPT-2's) field names. Frozen: two models built from one
    config cannot change each other's shape; `dataclasses.replace(config, dropout=0.1)` makes
    a changed copy (checked again)."""

    vocab_size: int = 65
    block_size: int = 64  # the longest sequence; the position table has this many rows
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in the linear layers and layer norms, as GPT-2

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            object.__setattr__(self, name, check_count(name, getattr(self, name), low=1))
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd: expected a multiple of n_head={self.n_head}, got {self.n_embd}"
            )
        # np.float32(0.1) too, stored as a plain float
        object.__setattr__(self, "dropout", check_number("dropout", self.dropout, 0.0, below=1.0))
        if not isinstance(self.bias, bool | np.bool_):
            raise TypeError(f"bias: expected True or False, got {self.bias!r}")
        object.__setattr__(self, "bias", bool(self.bias))

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

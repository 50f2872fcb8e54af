"""tinytransformer: a small transformer language model in pure NumPy, with hand-written forward
and backward passes, written to be read.

Data flow, one module per stage:
    tokenizer -> data (batches) -> embedding -> block (attention, MLP) -> softmax (loss)
    -> backward -> optim (AdamW) -> sample

Shape legend used in every comment: B batch, T time (sequence length), C channels (n_embd),
V vocabulary size, nh number of heads, hs head size (C // nh).
"""

__version__ = "0.1.0"

from tinytransformer.data import TokenData, clean_text, load_corpus, prepare_data, split_ids
from tinytransformer.gradcheck import check_gradients, numerical_gradient, rel_error
from tinytransformer.model import GPT, PRESETS, GPTConfig, TransformerConfig
from tinytransformer.optim import AdamW, clip_grad_norm, get_lr
from tinytransformer.tokenizer import (
    SPECIAL_TOKENS,
    BPETokenizer,
    CharTokenizer,
    load_tokenizer,
    tokenizer_from_dict,
)

__all__ = [
    "AdamW",
    "BPETokenizer",
    "CharTokenizer",
    "GPT",
    "GPTConfig",
    "PRESETS",
    "SPECIAL_TOKENS",
    "TokenData",
    "TransformerConfig",
    "check_gradients",
    "clean_text",
    "clip_grad_norm",
    "get_lr",
    "load_corpus",
    "load_tokenizer",
    "numerical_gradient",
    "prepare_data",
    "rel_error",
    "split_ids",
    "tokenizer_from_dict",
]

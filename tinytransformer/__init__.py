"""tinytransformer: a small transformer language model in pure NumPy, with hand-written forward
and backward passes, written to be read.

Data flow, one module per stage:
    tokenizer -> data (batches) -> embedding -> block (attention, MLP) -> softmax (loss)
    -> backward -> optim (AdamW) -> sample

Shape legend used in every comment: B batch, T time (sequence length), C channels (n_embd),
V vocabulary size, nh number of heads, hs head size (C // nh).
"""

__version__ = "0.1.0"

"""Models built from the ops, in reading order:

    config.py       GPTConfig (alias TransformerConfig) and the presets
    block.py        the pre-LN transformer block: x + attn(ln_1(x)), x + mlp(ln_2(x))
    transformer.py  the trunk (embedding, blocks, ln_f) with its tied head and loss; MaskedLM
    gpt.py          the causal GPT and generation with a KV cache
    sampling.py     the next token from logits: temperature, top-k, top-p, greedy
    classifier.py   a sequence classifier on a pooled hidden state of either model

Models import ops, never training or commands.
"""

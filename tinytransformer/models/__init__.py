"""Models built from the ops, in reading order:

    config.py       GPTConfig (alias TransformerConfig) and the presets
    memory.py       the memory one training step of a config needs, before it is allocated
    block.py        the pre-LN transformer block: x + attn(ln_1(x)), x + mlp(ln_2(x))
    transformer.py  the trunk (embedding, blocks, ln_f) with its tied head and loss; MaskedLM
    gpt.py          the causal GPT and generation with a KV cache
    kv_cache.py     that cache: every block's keys and values, allocated once per generation
    sampling.py     the next token from logits: temperature, top-k, top-p, greedy
    kinds.py        the kinds of model by name (gpt, mlm), as commands and checkpoints say them
    classifier.py   a sequence classifier on a pooled hidden state of either model
    hf.py           Hugging Face GPT-2 directories (config.json, model.safetensors) read and
                    written with NumPy

Models import ops, never training or commands.
"""

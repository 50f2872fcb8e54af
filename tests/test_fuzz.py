"""Fuzzing every reader of a file a user hands us: a checkpoint, a tokenizer's JSON, a run's
metrics.jsonl. Random truncations, flipped bytes and edited metadata of a valid file must end in
the project's own error (a ValueError subclass) whose message names the file -- never another
exception, never code execution (checkpoints are read with allow_pickle=False)."""

import functools
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_tokenizer import write_tiny_gpt2_files
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.text.pretrained import load_pretrained_tokenizer
from tinytransformer.text.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer
from tinytransformer.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinytransformer.training.metrics import read_metrics
from tinytransformer.training.optimizer import AdamW

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def good_files():
    """The bytes of a valid checkpoint, a char and a BPE tokenizer file, and a metrics file.
    (Not a fixture: hypothesis would print all of it with every failing example.)"""
    d = Path(tempfile.mkdtemp())
    tok = CharTokenizer.train("the quick brown fox jumps over the lazy dog")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1, n_embd=8))
    save_checkpoint(d / "ckpt.npz", model, tok, AdamW(model, 1e-3), step=3, extra={"args": {}})
    tok.save(d / "char.json")
    BPETokenizer.train("the quick brown fox jumps over the lazy dog " * 5, 270).save(d / "bpe.json")
    rows = [{"step": s, "train_loss": 4.0 - s / 10, "val_loss": 4.1 - s / 10} for s in (0, 5)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    names = ("ckpt.npz", "char.json", "bpe.json", "metrics.jsonl")
    files = {name: (d / name).read_bytes() for name in names}
    shutil.rmtree(d)
    return files


def damage(data, draw):
    """A truncation, a flipped byte, or a run of random bytes written over the file."""
    kind = draw(st.sampled_from(["truncate", "flip", "splice"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    i = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    junk = draw(st.binary(min_size=1, max_size=64))
    return data[:i] + junk + data[i + len(junk) :]


def edited_meta(data, draw):
    """A valid archive whose __meta__ JSON has one field replaced by something else."""
    with np.load(io.BytesIO(data)) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    key = draw(st.sampled_from(sorted(meta)))
    junk = st.none() | st.integers() | st.text(max_size=8) | st.lists(st.integers(), max_size=3)
    meta[key] = draw(junk | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@FUZZ
@given(st.data())
def test_a_damaged_checkpoint_is_a_checkpoint_error_naming_the_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "ckpt.npz"
    how = data.draw(st.sampled_from(["damage", "meta"]))
    raw = good_files()["ckpt.npz"]
    path.write_bytes(damage(raw, data.draw) if how == "damage" else edited_meta(raw, data.draw))
    try:
        load_checkpoint(path)
    except CheckpointError as e:
        assert str(path) in str(e)
    # a damage that leaves the file loadable (a flip inside padding) is fine too


def test_a_pickled_array_inside_a_checkpoint_is_refused_not_run(tmp_path):
    """An object array would unpickle, i.e. run code: it is refused by name."""
    path = tmp_path / "evil.npz"
    with (
        zipfile.ZipFile(io.BytesIO(good_files()["ckpt.npz"])) as src,
        zipfile.ZipFile(path, "w") as dst,
    ):
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        buf = io.BytesIO()
        np.save(buf, np.array([print], dtype=object), allow_pickle=True)
        dst.writestr("param/evil.npy", buf.getvalue())
    with pytest.raises(CheckpointError, match="object \\(pickled\\) array"):
        load_checkpoint(path)


@FUZZ
@given(st.data())
def test_a_damaged_tokenizer_file_is_a_value_error_naming_the_file(tmp_path_factory, data):
    name = data.draw(st.sampled_from(["char.json", "bpe.json"]))
    path = tmp_path_factory.mktemp("fuzz") / name
    if data.draw(st.booleans()):
        path.write_bytes(damage(good_files()[name], data.draw))
    else:  # valid JSON, one field replaced
        d = json.loads(good_files()[name])
        key = data.draw(st.sampled_from(sorted(d)))
        pairs = st.lists(st.lists(st.integers(-3, 300), max_size=3), max_size=3)
        d[key] = data.draw(st.none() | st.integers() | st.text(max_size=5) | pairs)
        path.write_text(json.dumps(d))
    try:
        load_tokenizer(path)
    except ValueError as e:
        assert str(path) in str(e)


@FUZZ
@given(st.data())
def test_a_damaged_metrics_file_is_a_value_error_naming_the_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "metrics.jsonl"
    path.write_bytes(damage(good_files()["metrics.jsonl"], data.draw))
    try:
        read_metrics(path)
    except ValueError as e:
        assert str(path) in str(e) and "line" in str(e)


@functools.cache
def good_tokenizer_files():
    """The bytes of GPT-2's two files for a tiny vocabulary, and of the tokenizer.json that our
    BPE tokenizer's save_pretrained writes."""
    d = Path(tempfile.mkdtemp())
    vocab, merges = write_tiny_gpt2_files(d / "gpt2")
    BPETokenizer.train("the quick brown fox jumps over the lazy dog " * 5, 270).save_pretrained(
        d / "ours"
    )
    files = {
        "vocab.json": vocab.read_bytes(),
        "merges.txt": merges.read_bytes(),
        "tokenizer.json": (d / "ours" / "tokenizer.json").read_bytes(),
    }
    shutil.rmtree(d)
    return files


@FUZZ
@given(st.data())
def test_damaged_gpt2_files_or_tokenizer_json_are_a_value_error_naming_the_file(
    tmp_path_factory, data
):
    """Damage one file of a folder; loading it either fails with a ValueError naming that file
    or gives a tokenizer that encodes and decodes (a token missing from vocab.json was found
    only when encoding, as a bare KeyError)."""
    folder = tmp_path_factory.mktemp("fuzz")
    names = data.draw(st.sampled_from([("vocab.json", "merges.txt"), ("tokenizer.json",)]))
    for name in names:
        (folder / name).write_bytes(good_tokenizer_files()[name])
    damaged = folder / data.draw(st.sampled_from(names))
    damaged.write_bytes(damage(damaged.read_bytes(), data.draw))
    try:
        tok = load_pretrained_tokenizer(folder)
    except ValueError as e:
        assert str(damaged) in str(e) and "\n" not in str(e), str(e)
        return
    # What loads is a whole byte-level vocabulary: every id decodes, and any text (here one whose
    # UTF-8 holds nearly every byte value) encodes and decodes back.
    assert isinstance(tok.decode(list(range(tok.vocab_size))), str)
    wide = "".join(map(chr, [*range(1, 0x800), 0xFFFF, 0x10000, 0x40000, 0x10FFFF]))
    text = f"the lazy dog, in the end: thé 🙂 <|endoftext|>{wide}"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode(text, allowed_special="all").count(tok.eot_id) == 1

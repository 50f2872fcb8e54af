"""Checkpoints: a save/load round trip restores everything bit for bit (so a resumed run
continues exactly as if it had never stopped), files are written atomically, no pickle is
involved, and every kind of bad file gives a CheckpointError that names it.
"""

import io
import json
import os
import re
import zipfile

import numpy as np
import pytest

from tinytransformer.models.config import PRESETS, GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.text.tokenizers import CharTokenizer
from tinytransformer.training.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from tinytransformer.training.optimizer import AdamW

TEXT = "to be, or not to be, that is the question:\nwhether 'tis nobler in the mind to suffer\n"


def batch(data, rng, B=4, T=8):
    """A random (x, y) training batch from the id array `data`, drawn with `rng`."""
    ix = rng.integers(0, len(data) - T - 1, size=B)
    x = np.stack([data[i : i + T] for i in ix])  # (B, T)
    y = np.stack([data[i + 1 : i + T + 1] for i in ix])  # (B, T)
    return x, y


def train(model, opt, data, rng, steps):
    for _ in range(steps):
        model(*batch(data, rng))
        model.backward()
        opt.step()


class Run:
    """A few AdamW steps of a tiny char-level GPT with dropout: every piece of state is live."""

    def __init__(self, dtype=np.float32):
        self.tok = CharTokenizer.train(TEXT)
        self.data = np.array(self.tok.encode(TEXT), dtype=np.int64)
        cfg = GPTConfig(vocab_size=self.tok.vocab_size, dropout=0.1, **PRESETS["tiny"])
        self.model = GPT(cfg, seed=3, dtype=dtype)
        self.opt = AdamW(self.model, lr=1e-2, weight_decay=0.1)
        self.data_rng = np.random.default_rng(11)
        train(self.model, self.opt, self.data, self.data_rng, 3)

    def save(self, path, **kwargs):
        save_checkpoint(
            path,
            self.model,
            self.tok,
            self.opt,
            step=3,
            rngs={"data": self.data_rng},
            extra={"lr": 1e-2, "note": "résumé"},
            **kwargs,
        )


@pytest.fixture
def run():
    return Run()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_restores_everything(tmp_path, dtype):
    r = Run(dtype)
    path = tmp_path / "ckpt.npz"
    r.save(path)
    ck = load_checkpoint(path)
    assert ck.path == path and ck.step == 3
    assert ck.meta["extra"] == {"lr": 1e-2, "note": "résumé"}
    model = ck.model
    assert type(model) is GPT and model.config == r.model.config and model.dtype == dtype
    assert list(model.params) == list(r.model.params)
    for name, p in r.model.params.items():
        assert model.params[name].dtype == dtype
        assert np.array_equal(model.params[name], p), f"{name} is not bit-identical"
    # the tokenizer: same alphabet, same ids
    assert ck.tokenizer.chars == r.tok.chars and ck.tokenizer.vocab_size == r.tok.vocab_size
    assert ck.tokenizer.encode(TEXT) == r.tok.encode(TEXT)
    # the optimizer: step count and moments (its hyperparameters are the run's settings, saved
    # with the run, not in the optimizer's state)
    opt = AdamW(model, lr=0.5)
    opt.load_state_dict(ck.optim_state)
    assert opt.t == 3 and opt.lr == 0.5
    for name in r.opt.names:
        assert np.array_equal(opt.m[name], r.opt.m[name]) and opt.m[name].dtype == dtype
        assert np.array_equal(opt.v[name], r.opt.v[name])
    # the generators continue where they stopped: the model's dropout one and the named ones
    assert np.array_equal(model.rng.random(5), r.model.rng.random(5))
    data_rng = np.random.default_rng()
    data_rng.bit_generator.state = ck.rng_states["data"]
    assert np.array_equal(data_rng.random(5), r.data_rng.random(5))


def test_resumed_training_is_bit_identical(tmp_path, run):
    """3 steps, save, 2 more steps; versus load and the same 2 steps: the same parameters, bit
    for bit (dropout masks and batches come from the restored generators)."""
    path = tmp_path / "ckpt.npz"
    run.save(path)
    train(run.model, run.opt, run.data, run.data_rng, 2)

    ck = load_checkpoint(path)
    opt = AdamW(ck.model, lr=1e-2, weight_decay=0.1)  # the run's settings
    opt.load_state_dict(ck.optim_state)
    data_rng = np.random.default_rng()
    data_rng.bit_generator.state = ck.rng_states["data"]
    train(ck.model, opt, run.data, data_rng, 2)
    for name, p in run.model.params.items():
        assert np.array_equal(ck.model.params[name], p), f"{name} diverged after resuming"


def test_load_with_another_dtype(tmp_path, run):
    path = tmp_path / "ckpt.npz"
    run.save(path)
    model = load_checkpoint(path, dtype=np.float64).model
    for name, p in run.model.params.items():
        assert model.params[name].dtype == np.float64
        assert np.array_equal(model.params[name], p.astype(np.float64))  # float32 -> 64 is exact


def test_model_only_checkpoint(tmp_path):
    model = GPT(GPTConfig(vocab_size=7, **PRESETS["tiny"]), seed=0)
    path = tmp_path / "deep" / "er" / "m.npz"  # missing directories are created
    save_checkpoint(path, model)
    ck = load_checkpoint(path)
    assert ck.tokenizer is None and ck.optim_state == {} and ck.step == 0
    assert set(ck.rng_states) == {"model"}


def test_no_pickle_anywhere(tmp_path, run):
    path = tmp_path / "ckpt.npz"
    run.save(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}  # would raise on any object array
    assert all(a.dtype != object for a in arrays.values())
    assert arrays["__meta__"].dtype == np.uint8
    meta = json.loads(arrays["__meta__"].tobytes().decode("utf-8"))
    assert meta["format"] == "tinytransformer-checkpoint" and meta["step"] == 3
    names = {k for k in arrays if k.startswith("param/")}
    assert names == {f"param/{n}" for n in run.model.params}
    assert "optim/t" in arrays and "optim/m.transformer.wte.weight" in arrays


# --- atomic writes --------------------------------------------------------------------------------


def test_save_leaves_no_temporary_files(tmp_path, run):
    run.save(tmp_path / "ckpt.npz")
    run.save(tmp_path / "ckpt.npz")  # overwriting as well
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


def test_failure_before_writing_keeps_the_old_file(tmp_path, run, monkeypatch):
    path = tmp_path / "ckpt.npz"
    run.save(path)
    old = path.read_bytes()
    train(run.model, run.opt, run.data, run.data_rng, 1)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run.save(path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_interrupted_write_keeps_the_old_file(tmp_path, run, monkeypatch):
    """Ctrl-C after half of the bytes reached the disk: the old checkpoint is intact, still
    loadable, and the half-written temporary file is gone."""
    path = tmp_path / "ckpt.npz"
    run.save(path)
    old = path.read_bytes()
    train(run.model, run.opt, run.data, run.data_rng, 1)
    real_open = open

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise KeyboardInterrupt

    def half_open(file, mode="r", *args, **kwargs):
        return HalfWriter(real_open(file, mode, *args, **kwargs))

    monkeypatch.setattr("tinytransformer.files.open", half_open, raising=False)
    with pytest.raises(KeyboardInterrupt):
        run.save(path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    assert load_checkpoint(path).step == 3


def test_failed_rename_keeps_the_old_file(tmp_path, run, monkeypatch):
    path = tmp_path / "ckpt.npz"
    run.save(path)
    old = path.read_bytes()

    def no_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(
        CheckpointError, match="ckpt.npz: could not write the checkpoint: disk full"
    ):
        run.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ckpt.npz"]


# --- bad files ------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(CheckpointError, match=re.escape(f"{path}: no such checkpoint file")):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="is a directory, expected a checkpoint file"):
        load_checkpoint(tmp_path)  # a directory is not a checkpoint file


def corrupt_variants(good):
    """name -> bytes of a damaged checkpoint, from the bytes of a good one."""
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF  # inside a stored array: the zip's CRC-32 catches it
    return {
        "random bytes": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "truncated end": good[:-10],
        "a flipped byte": bytes(flipped),
    }


@pytest.mark.parametrize(
    "kind", ["random bytes", "empty", "truncated", "truncated end", "a flipped byte"]
)
def test_corrupt_file_raises_checkpoint_error_naming_it(tmp_path, run, kind):
    good_path = tmp_path / "good.npz"
    run.save(good_path)
    path = tmp_path / "bad.npz"
    path.write_bytes(corrupt_variants(good_path.read_bytes())[kind])
    with pytest.raises(
        CheckpointError, match=re.escape(f"{path}: not a ") + "(readable )?checkpoint"
    ):
        load_checkpoint(path)


def test_a_plain_npy_file_raises_checkpoint_error(tmp_path):
    path = tmp_path / "ckpt.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))  # a valid .npy, not a zip
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load_checkpoint(path)


def write_npz(path, meta=None, **arrays):
    """An .npz with the given arrays and, if given, a __meta__ entry (a dict, or raw bytes)."""
    if meta is not None:
        raw = meta if isinstance(meta, bytes) else json.dumps(meta).encode("utf-8")
        arrays["__meta__"] = np.frombuffer(raw, dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def good_parts(path):
    """(meta dict, the other arrays) of the checkpoint at path."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(arrays.pop("__meta__").tobytes()), arrays


def test_npz_without_meta(tmp_path):
    path = tmp_path / "other.npz"
    write_npz(path, x=np.zeros(3))
    with pytest.raises(
        CheckpointError, match=re.escape(f"{path}: not a tinytransformer checkpoint")
    ):
        load_checkpoint(path)


def test_meta_that_is_not_json_or_another_format(tmp_path):
    path = tmp_path / "m.npz"
    write_npz(path, meta=b"\xff{not json")
    with pytest.raises(
        CheckpointError, match=re.escape(f"{path}: its __meta__ entry is not valid JSON")
    ):
        load_checkpoint(path)
    write_npz(path, meta={"format": "something-else", "version": 1})
    with pytest.raises(CheckpointError, match="expected format 'tinytransformer-checkpoint'"):
        load_checkpoint(path)
    write_npz(path, meta={"format": "tinytransformer-checkpoint", "version": 99})
    with pytest.raises(CheckpointError, match="version 1, got .* version 99"):
        load_checkpoint(path)


def test_mismatched_params_are_listed_by_name(tmp_path, run):
    path = tmp_path / "ckpt.npz"
    run.save(path)
    meta, arrays = good_parts(path)
    del arrays["param/transformer.ln_f.bias"]
    arrays["param/lm_head.weight"] = np.zeros((3, 3), np.float32)
    arrays["param/transformer.wpe.weight"] = np.zeros((5, 16), np.float32)
    write_npz(path, meta=meta, **arrays)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ")
    assert "missing ['transformer.ln_f.bias']" in msg
    assert "unexpected ['lm_head.weight']" in msg
    assert "transformer.wpe.weight: expected (16, 16), got (5, 16)" in msg


def test_bad_meta_fields_raise_checkpoint_error(tmp_path, run):
    path = tmp_path / "ckpt.npz"
    run.save(path)
    meta, arrays = good_parts(path)
    cases = [
        ({"model": "bert"}, "its model kind 'bert' is not one of gpt, mlm"),
        ({"config": {**meta["config"], "n_head": 3}}, "n_embd: expected a multiple of n_head=3"),
        ({"config": {**meta["config"], "flash": True}}, r"config: unknown fields \['flash'\]"),
        ({"dtype": "banana"}, "banana"),
    ]
    for change, message in cases:
        write_npz(path, meta={**meta, **change}, **arrays)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(path)


@pytest.mark.parametrize("problem", ["list", "no step", "bad tokenizer"])
def test_malformed_meta_raises_checkpoint_error(tmp_path, run, problem):
    path = tmp_path / "ckpt.npz"
    run.save(path)
    meta, arrays = good_parts(path)
    if problem == "list":
        meta = [meta]
    elif problem == "no step":
        del meta["step"]
    else:
        meta["tokenizer"] = {"type": "char"}
    write_npz(path, meta=meta, **arrays)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load_checkpoint(path)


# --- find_checkpoint ------------------------------------------------------------------------------


def test_find_checkpoint_prefers_best_then_ckpt(tmp_path):
    model = GPT(GPTConfig(vocab_size=7, **PRESETS["tiny"]), seed=0)
    with pytest.raises(
        CheckpointError, match=re.escape(f"{tmp_path}: no checkpoint (best.npz or ckpt.npz) found")
    ):
        find_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="train first"):
        find_checkpoint(tmp_path / "never-made")
    (tmp_path / "other.npz").write_bytes(b"")  # other names are not picked up
    with pytest.raises(CheckpointError):
        find_checkpoint(tmp_path)
    save_checkpoint(tmp_path / "ckpt.npz", model, step=1)
    assert find_checkpoint(tmp_path) == tmp_path / "ckpt.npz"
    save_checkpoint(tmp_path / "best.npz", model, step=2)
    assert find_checkpoint(str(tmp_path)) == tmp_path / "best.npz"
    assert load_checkpoint(find_checkpoint(tmp_path)).step == 2


def test_checkpoint_is_a_zip_of_npy_files(tmp_path, run):
    """The layout the module docstring promises: readable with zipfile, no compression needed."""
    path = tmp_path / "ckpt.npz"
    run.save(path)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    assert "__meta__.npy" in names and "param/transformer.wte.weight.npy" in names


# --- what the archive's directory and headers say is checked before any data is read --------


class CountingReads:
    """Counts the decompressed bytes zipfile hands out, to show what was (not) read."""

    def __init__(self, monkeypatch):
        self.bytes = 0
        read = zipfile.ZipExtFile.read

        def counting(member, n=-1):
            data = read(member, n)
            self.bytes += len(data)
            return data

        monkeypatch.setattr(zipfile.ZipExtFile, "read", counting)


def test_an_unexpected_entry_is_refused_without_being_decompressed(tmp_path, run, monkeypatch):
    """An extra 64 MiB entry (compressed to a few kB) beside a real checkpoint: refused by name
    from the zip's directory, having decompressed only the entries' small headers."""
    path = tmp_path / "ckpt.npz"
    run.save(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f4", "fortran_order": False, "shape": (2**24,)}
        )
        archive.writestr("extra.npy", header.getvalue() + bytes(4 * 2**24))
    assert path.stat().st_size < 2**20
    reads = CountingReads(monkeypatch)
    with pytest.raises(CheckpointError, match=r"holds an entry 'extra.npy' that no checkpoint"):
        load_checkpoint(path)
    assert reads.bytes < 2**16  # the headers, not the 64 MiB


def test_a_header_that_claims_more_than_the_entry_holds_is_refused(tmp_path, run):
    """A parameter whose .npy header declares 10^11 floats: one line, no MemoryError."""
    path = tmp_path / "ckpt.npz"
    run.save(path)
    meta, arrays = good_parts(path)
    write_npz(path, meta=meta, **arrays)
    name = "param/transformer.wpe.weight.npy"
    with zipfile.ZipFile(path) as archive:
        entries = {i.filename: archive.read(i) for i in archive.infolist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**11,)}
    )
    entries[name] = header.getvalue() + bytes(64)
    with zipfile.ZipFile(path, "w") as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    with pytest.raises(CheckpointError, match=r"header declares \(100000000000,\) float32"):
        load_checkpoint(path)


def test_an_entry_larger_than_the_config_allows_is_refused_before_it_is_read(tmp_path, run):
    path = tmp_path / "ckpt.npz"
    run.save(path)
    meta, arrays = good_parts(path)
    arrays["param/transformer.wpe.weight"] = np.zeros((1000, 1000), np.float32)
    write_npz(path, meta=meta, **arrays)
    with pytest.raises(CheckpointError, match=r"declares 1,000,000 values, more than the 256"):
        load_checkpoint(path)

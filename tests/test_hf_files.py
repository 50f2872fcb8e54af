"""Hugging Face model folders under hostile input (models/hf.py): every file read only if it is
a regular file of a bounded size, weights that are not finite floats refused by name, bfloat16
read as the float32 it is the top half of, and each fault one line naming the file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.hf import PretrainedError, bfloat16_to_float32, read_safetensors

SMALL = GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=8)


@pytest.fixture
def folder(tmp_path):
    """A small GPT saved as a Hugging Face folder -> (folder, the model)."""
    model = GPT(SMALL, seed=2)
    return model.save_pretrained(tmp_path / "hf"), model


def edit_weights(folder, change):
    """Rewrite model.safetensors with change(tensors) applied to its arrays."""
    tensors = dict(read_safetensors(folder / "model.safetensors"))
    tensors = {n: np.array(a) for n, a in tensors.items()}
    change(tensors)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t["transformer.h.0.ln_1.weight"].fill(np.nan),
            r"nan or inf in: transformer\.h\.0\.ln_1",
        ),
        (
            lambda t: t.update({"transformer.wte.weight": np.full((20, 8), np.inf, np.float32)}),
            "nan or inf in: transformer.wte.weight",
        ),
        (
            lambda t: t.update({"transformer.wpe.weight": np.ones((8, 8), np.int32)}),
            r"not floating-point weights: transformer\.wpe\.weight \(int32\)",
        ),
        (
            lambda t: t.update({"transformer.wpe.weight": np.ones((8, 8), bool)}),
            r"not floating-point weights: transformer\.wpe\.weight \(bool\)",
        ),
    ],
)
def test_weights_that_are_not_finite_floats_are_refused_by_name(folder, change, message):
    path, _ = folder
    edit_weights(path, change)
    with pytest.raises(PretrainedError, match=f"model.safetensors: {message}"):
        GPT.from_pretrained(path)


def test_the_sample_command_refuses_nan_weights_in_one_line(folder):
    path, _ = folder
    edit_weights(path, lambda t: t["transformer.h.0.attn.c_attn.weight"].fill(np.nan))
    result = subprocess.run(
        [sys.executable, "-m", "tinytransformer", "sample", "--hf", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: --hf {path / 'model.safetensors'}: nan or inf in: "
        "transformer.h.0.attn.c_attn.weight"
    ]


def test_bfloat16_weights_load_as_the_float32_they_are_the_top_half_of(folder):
    """bfloat16 keeps float32's exponent and the top 7 bits of its mantissa: each word shifted
    into the high half of a 32-bit word is that float32, which torch's conversion agrees with."""
    path, model = folder
    bits = {n: np.ascontiguousarray(p).view(np.uint32) >> 16 for n, p in model.params.items()}
    header, body, offset = {}, [], 0
    for name, words in bits.items():
        data = words.astype("<u2").tobytes()
        header[name] = {
            "dtype": "BF16",
            "shape": list(words.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        body.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    (path / "model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + b"".join(body))
    loaded = GPT.from_pretrained(path)
    for name, words in bits.items():
        expected = (words << 16).view(np.float32)  # the float32 cut to its top 16 bits
        assert np.array_equal(loaded.params[name], expected), name
        assert (
            np.abs(loaded.params[name] - model.params[name]).max()
            <= 2**-7 * np.abs(model.params[name]).max()
        )
    torch = pytest.importorskip("torch")
    word = np.array([0x3F80, 0xC0A0, 0x3E4D, 0x7F7F], dtype=np.uint16)  # 1, -5, 0.2..., max
    theirs = torch.from_numpy(word.view(np.int16)).view(torch.bfloat16).to(torch.float32).numpy()
    assert np.array_equal(bfloat16_to_float32(word), theirs)


def test_a_model_file_that_is_a_folder_or_a_damaged_header_is_one_line(folder):
    path, _ = folder
    (path / "model.safetensors").unlink()
    (path / "model.safetensors").mkdir()
    with pytest.raises(
        PretrainedError, match="model.safetensors: expected a safetensors file, got a folder"
    ):
        GPT.from_pretrained(path)
    (path / "model.safetensors").rmdir()
    (path / "model.safetensors").write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(PretrainedError, match="not a safetensors file"):
        GPT.from_pretrained(path)
    header = json.dumps(
        {"wte.weight": {"dtype": "F32", "shape": [20, 8], "data_offsets": [0, 10**9]}}
    )
    raw = header.encode()
    (path / "model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(640))
    with pytest.raises(
        PretrainedError, match=r"tensor wte.weight: offsets 0\.\.1000000000 do not hold"
    ):
        GPT.from_pretrained(path)


@pytest.mark.parametrize("how", ["fifo", "dev-zero", "nested", "null n_embd", "folder"])
def test_a_config_json_that_is_not_a_small_json_file_is_one_line(folder, how):
    """A FIFO hung the command, a link to /dev/zero was read until MemoryError, deep nesting gave
    RecursionError, "n_embd": null a TypeError, a folder "No such device"."""
    path, _ = folder
    config = path / "config.json"
    if how == "fifo":
        config.unlink()
        os.mkfifo(config)
        message = "config.json: expected a regular file, got a FIFO"
    elif how == "dev-zero":
        config.unlink()
        config.symlink_to("/dev/zero")
        message = "config.json: expected a regular file, got a character device"
    elif how == "nested":
        config.write_text("[" * 100_000 + "]" * 100_000)
        message = "config.json: "
    elif how == "null n_embd":
        config.write_text(json.dumps({**json.loads(config.read_text()), "n_embd": None}))
        message = "config.json: n_embd: expected a whole number >= 1, got None"
    else:
        config.unlink()
        config.mkdir()
        message = "config.json: expected a regular file, got a folder"
    result = subprocess.run(
        [sys.executable, "-m", "tinytransformer", "sample", "--hf", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and message in lines[0], lines

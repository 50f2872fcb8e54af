"""How much memory one training step of a model needs, estimated from its config before anything
is allocated, and how much the machine has.

What a step holds at its peak, in elements of the parameters' dtype:

    parameters, gradients, AdamW's two moments     4 P       (P = the number of parameters)
    per block: the cached activations              B T (20 C + 4 nh T)
        (the normalised inputs, q k v, the merged heads, the MLP's 4C-wide pre-activation,
        GELU's Phi and output, residuals; and the attention scores, probabilities and their
        softmax and dropout passes, (B, nh, T, T) each)
    the head: logits, probabilities, their gradient  4 B T V   (and the loss's temporaries)

The coefficients were measured with tracemalloc on the small preset (benchmarks/train_step.py
reports 45 MB of activations at batch 12; the formula gives 45 MB); they are an estimate, good
to tens of percent, which is all a refusal needs.
"""

import math
import os
from pathlib import Path

import numpy as np

from tinytransformer.models.transformer import param_shapes

GIB = 2**30


def count_parameters(config):
    """The number of parameters of a model with this config (the tied head counted once),
    without building it."""
    return sum(math.prod(shape) for shape in param_shapes(config).values())


def training_step_bytes(config, batch_size, dtype=np.float32):
    """The estimated peak memory of one training step, in bytes (see the module docstring)."""
    B, T, C, V = batch_size, config.block_size, config.n_embd, config.vocab_size
    nh, L = config.n_head, config.n_layer
    elements = 4 * count_parameters(config) + B * T * (L * (20 * C + 4 * nh * T) + 4 * V)
    return elements * np.dtype(dtype).itemsize


def available_bytes():
    """The memory this process can still use: MemAvailable from /proc/meminfo, capped by the
    cgroup's limit when there is one; None where neither can be read (not Linux)."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
            if text.isdigit():
                used = Path(path).with_name(
                    "memory.current" if path.endswith(".max") else "memory.usage_in_bytes"
                )
                found.append(int(text) - int(used.read_text().strip()))
        except (OSError, ValueError):
            pass
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            pass
    return min(found) if found else None


def check_fits(config, batch_size, dtype=np.float32, available=None):
    """Raise MemoryError (with the estimate) if one training step cannot fit in the memory
    available; `available` in bytes, default available_bytes(). Returns the estimate."""
    need = training_step_bytes(config, batch_size, dtype)
    have = available_bytes() if available is None else available
    if have is not None and need > have:
        raise MemoryError(
            f"--batch-size {batch_size}, --block-size {config.block_size}, {config.n_layer} "
            f"layers of {config.n_embd}: one training step needs about {need / GIB:.1f} GiB "
            f"(parameters, gradients, AdamW's moments and activations), and this machine has "
            f"{have / GIB:.1f} GiB available; use a smaller --batch-size, --block-size or model"
        )
    return need

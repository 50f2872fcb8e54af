"""examples/ddp_continue.py: our model exported and trained on by PyTorch's
DistributedDataParallel, two gloo processes under torchrun, its first loss our model's.
Skipped where torch is not installed; two tiny steps, well under a minute."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinytransformer import GPT, GPTConfig, prepare_data

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "ddp_continue.py"


def test_ddp_continues_from_our_weights(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed: the DDP example needs it")
    tokenizer, _ = prepare_data("python-docs")
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2,
                       n_embd=16)  # fmt: skip
    GPT(config, seed=3).save_pretrained(tmp_path / "model")
    log = tmp_path / "log.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(SCRIPT), "--model", str(tmp_path / "model"),
               "--steps", "3", "--batch-size", "8", "--json", str(log)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=150, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(log.read_text())
    assert result["world_size"] == 2 and result["backend"] == "gloo"
    assert len(result["losses"]) == 3 and np.isfinite(result["losses"]).all()
    assert result["relative_gap"] < 1e-4  # the first loss is ours (the script asserts it too)
    assert abs(result["our_loss"] - np.log(tokenizer.vocab_size)) < 0.1  # an untrained model

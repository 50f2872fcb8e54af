"""Training FLOPs by formula (training/flops.py): a worked example, the rule of thumb 6 N, and
the count against torch's FlopCounterMode on our model exported to Hugging Face's GPT-2."""

import numpy as np
import pytest

from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.memory import count_parameters
from tinytransformer.training.flops import six_n_flops, step_flops


def test_a_worked_example_by_hand():
    # B = 2, T = 8, L = 3, C = 16, V = 50
    f = step_flops(GPTConfig(vocab_size=50, block_size=8, n_layer=3, n_head=4, n_embd=16), 2)
    assert f.blocks == 2 * (2 * 8) * 3 * 12 * 16 * 16  # 2 FLOPs x tokens x L x 12 C^2
    assert f.attention == 2 * 2 * 3 * 2 * 8 * 8 * 16  # 2 x B x L x 2 T^2 C
    assert f.head == 2 * (2 * 8) * 16 * 50
    assert f.backward == 2 * f.forward and f.step == 3 * f.forward


def test_a_shorter_batch_costs_less_and_heads_cost_nothing():
    config = GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=16)
    assert step_flops(config, 1, 16).step < step_flops(config, 1).step
    assert step_flops(config, 3).step == 3 * step_flops(config, 1).step
    other = GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=8, n_embd=16)
    assert step_flops(other, 1) == step_flops(config, 1)  # nh heads of C / nh: the same products
    with pytest.raises(ValueError, match="batch_size"):
        step_flops(config, 0)


def test_six_n_is_the_formula_without_attention_plus_the_position_table():
    """6 N T = 6 T (V C + T C + L (12 C^2 + 13 C) + 2 C); the formula's matrices alone are
    6 T (12 L C^2 + C V): they differ by attention's T^2 term and the small tables and vectors."""
    config = GPTConfig(vocab_size=100, block_size=64, n_layer=4, n_head=4, n_embd=128)
    B, T, L, C, V = 3, 64, 4, 128, 100
    f = step_flops(config, B)
    assert six_n_flops(config, B) == 6 * count_parameters(config) * B * T
    assert f.step - 3 * f.attention == 6 * B * T * (12 * L * C * C + C * V)
    assert 3 * f.blocks + 3 * f.head < six_n_flops(config, B)  # N counts wpe, biases, norms too


def torch_step_flops(torch, transformers, folder, idx):
    """FlopCounterMode's count of one forward and backward of the exported model."""
    from torch.utils.flop_counter import FlopCounterMode

    theirs = transformers.GPT2LMHeadModel.from_pretrained(folder, attn_implementation="eager")
    theirs.train()
    x = torch.from_numpy(idx)
    with FlopCounterMode(display=False) as counter:
        loss = theirs(x, labels=x).loss
        loss.backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("n_layer,n_head,n_embd,T", [(2, 2, 16, 16), (3, 4, 32, 24)])
def test_the_formula_counts_what_torch_counts(tmp_path, n_layer, n_head, n_embd, T):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = GPTConfig(vocab_size=60, block_size=32, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    folder = GPT(config, seed=0).save_pretrained(tmp_path / "hf")
    B = 3
    idx = np.random.default_rng(0).integers(0, 60, size=(B, T))
    assert torch_step_flops(torch, transformers, folder, idx) == step_flops(config, B, T).step

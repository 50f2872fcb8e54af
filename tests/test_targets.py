"""Targets from raw text: next-token windows (text/batching.py) and BERT's masking in its parts
(text/masking.py: targets_at, mask_at, corrupt_at, choose_positions, mask_tokens).

Worked examples with known answers, plus one test that pins mask_tokens to its results before it
was split into parts: the implementation as it was is copied below, and both must give the same
arrays for the same generator state (exact equality: the same draws, the same integer writes).
"""

import numpy as np
import pytest

from tinytransformer.ops.cross_entropy import IGNORE_INDEX
from tinytransformer.text.batching import TokenData, next_token_windows
from tinytransformer.text.masking import (
    MASK_FRACTION,
    RANDOM_FRACTION,
    choose_positions,
    corrupt_at,
    mask_at,
    mask_tokens,
    mlm_batch,
    targets_at,
)
from tinytransformer.text.tokenizers import CharTokenizer

TOK = CharTokenizer("abcdefghijklmnopqrst")  # 20 ordinary ids 0..19, then the five specials

# --- next-token windows --------------------------------------------------------------------------


def test_next_token_windows_are_the_text_and_the_text_moved_one_on():
    ids = np.array([10, 11, 12, 13, 14, 15, 16])
    x, y = next_token_windows(ids, 3, [0, 3, 2])
    assert x.tolist() == [[10, 11, 12], [13, 14, 15], [12, 13, 14]]
    assert y.tolist() == [[11, 12, 13], [14, 15, 16], [13, 14, 15]]
    assert x.dtype == y.dtype == np.int64


def test_next_token_windows_edges_and_errors():
    ids = np.arange(5)
    x, y = next_token_windows(ids, 4, [0])  # the one start that fits: 5 - 4 - 1 = 0
    assert x.tolist() == [[0, 1, 2, 3]] and y.tolist() == [[1, 2, 3, 4]]
    x, y = next_token_windows(ids, 2, np.array([], dtype=int))  # no starts: no windows
    assert x.shape == y.shape == (0, 2)
    with pytest.raises(ValueError, match=r"starts: expected offsets in \[0, 1\].*got 2"):
        next_token_windows(ids, 3, [2])  # its last target would be ids[5]
    with pytest.raises(ValueError, match="got -1"):
        next_token_windows(ids, 2, [-1])
    with pytest.raises(ValueError, match="starts: expected a 1-d sequence of integer"):
        next_token_windows(ids, 2, [0.5])


def test_get_batch_is_next_token_windows_at_its_random_offsets():
    data = TokenData(np.arange(100) % 7, np.arange(30))
    batch = data.get_batch("train", 4, 5, np.random.default_rng(0))
    offsets = np.random.default_rng(0).integers(0, 100 - 5, size=4)  # the same draws
    x, y = next_token_windows(data.train_ids, 5, offsets)
    assert np.array_equal(batch.idx, x) and np.array_equal(batch.targets, y)
    assert batch.attention_mask is None


def test_next_token_windows_does_not_modify_or_alias_ids():
    ids = np.arange(8)
    x, y = next_token_windows(ids, 3, [1])
    x[...] = -1
    y[...] = -1
    assert ids.tolist() == list(range(8))


# --- masking in parts ----------------------------------------------------------------------------


def test_targets_at_keeps_only_the_chosen_positions():
    ids = np.array([[3, 4, 5], [6, 7, 8]])
    targets = targets_at(ids, [5, 1])  # flat indices: (1, 2) and (0, 1)
    assert targets.tolist() == [[-100, 4, -100], [-100, -100, 8]]
    assert targets_at(ids, []).tolist() == [[-100] * 3] * 2


def test_mask_at_puts_mask_at_every_chosen_position_and_nowhere_else():
    ids = np.array([3, 4, 5, 6])
    inputs, targets = mask_at(ids, [3, 0], mask_id=21)
    assert inputs.tolist() == [21, 4, 5, 21]
    assert targets.tolist() == [3, -100, -100, 6]
    assert ids.tolist() == [3, 4, 5, 6]  # not modified


def test_corrupt_at_applies_the_rule_to_the_kth_position_in_the_order_given():
    ids = np.array([0, 1, 2, 3, 4, 5])
    positions = [5, 0, 2, 3]  # not sorted: u[k] and random_ids[k] belong to positions[k]
    u = [0.79, 0.8, 0.9, 0.85]  # [MASK], random, kept, random (0.8 and 0.9 are the bounds)
    inputs, targets = corrupt_at(ids, positions, u, [9, 8, 7, 6], mask_id=20)
    assert inputs.tolist() == [8, 1, 2, 6, 4, 20]
    assert targets.tolist() == [0, -100, 2, 3, -100, 5]
    # with no random share, a draw of exactly 0.8 keeps its id: [MASK] is u < 0.8, strictly
    inputs, _ = corrupt_at(ids, [1, 4], [0.8, 0.2], None, mask_id=20, random_fraction=0.0)
    assert inputs.tolist() == [0, 1, 2, 3, 20, 5]


def test_corrupt_at_with_every_draw_below_one_and_no_random_share_is_mask_at():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 20, size=(3, 7))
    positions = rng.permutation(21)[:8]
    u = rng.random(8)
    masked = corrupt_at(ids, positions, u, None, 20, mask_fraction=1.0, random_fraction=0.0)
    want = mask_at(ids, positions, 20)
    assert all(np.array_equal(a, b) for a, b in zip(masked, want))


def test_positions_are_checked():
    ids = np.arange(4)
    with pytest.raises(ValueError, match=r"positions: expected indices in \[0, 4\), got 4"):
        mask_at(ids, [4], 9)
    with pytest.raises(ValueError, match="repeated"):
        mask_at(ids, [1, 1], 9)
    with pytest.raises(ValueError, match="u: expected one draw per position"):
        corrupt_at(ids, [0, 1], [0.5], [3, 3], 9)
    with pytest.raises(ValueError, match="random_ids: expected one id per position"):
        corrupt_at(ids, [0, 1], [0.85, 0.1], [3], 9)
    with pytest.raises(ValueError, match="random_fraction: expected at most 1 - mask_fraction"):
        corrupt_at(ids, [0], [0.5], [3], 9, mask_fraction=0.8, random_fraction=0.3)
    # 0.8 + 0.2 is exactly 1 in floating point (1 - 0.8 is not 0.2): the split is allowed
    inputs, _ = corrupt_at(ids, [0, 1], [0.5, 0.95], [3, 3], 9, random_fraction=0.2)
    assert inputs.tolist() == [9, 3, 2, 3]


def test_choose_positions_never_selects_special_tokens():
    ids = np.array([[0, 20, 1, 21, 2, 22, 3, 23, 4, 24]] * 50)  # every other one special
    select, positions = choose_positions(ids, np.random.default_rng(2), TOK.special_ids, 0.9)
    assert not select[ids >= 20].any() and select[ids < 20].mean() > 0.8
    assert np.array_equal(positions, np.flatnonzero(select))


def _mask_tokens_before_the_split(ids, rng, tokenizer, mask_prob=0.15):
    """mask_tokens as it was before it was built from choose_positions and corrupt_at (a copy
    of that commit's code, so the test can say that nothing changed for a given rng)."""
    V = tokenizer.vocab_size
    special = np.asarray(tokenizer.special_ids)
    ordinary = np.setdiff1d(np.arange(V), special)
    select = rng.random(ids.shape) < mask_prob
    action = rng.random(ids.shape)
    random_ids = ordinary[rng.integers(0, len(ordinary), size=ids.shape)]
    select &= ~np.isin(ids, special)
    inputs = ids.astype(np.int64)
    to_mask = select & (action < MASK_FRACTION)
    to_random = select & (action >= MASK_FRACTION) & (action < MASK_FRACTION + RANDOM_FRACTION)
    inputs[to_mask] = tokenizer.mask_id
    inputs[to_random] = random_ids[to_random]
    targets = np.where(select, ids, IGNORE_INDEX).astype(np.int64)
    return inputs, targets


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("shape, mask_prob", [((4, 16), 0.15), ((3, 5, 7), 0.5), ((40,), 1.0)])
def test_mask_tokens_gives_what_it_gave_before_the_split(seed, shape, mask_prob):
    ids = np.random.default_rng([seed, 9]).integers(0, TOK.vocab_size, size=shape)  # specials too
    got = mask_tokens(ids, np.random.default_rng(seed), TOK, mask_prob)
    want = _mask_tokens_before_the_split(ids, np.random.default_rng(seed), TOK, mask_prob)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert got[0].dtype == got[1].dtype == np.int64
    changed = got[0] != ids
    assert changed.any() and (got[1][changed] != IGNORE_INDEX).all()  # only chosen ones change


def test_mask_tokens_with_mask_fraction_one_masks_every_selected_token():
    ids = np.random.default_rng(4).integers(0, 20, size=(8, 32))
    inputs, targets = mask_tokens(
        ids, np.random.default_rng(4), TOK, 0.3, mask_fraction=1.0, random_fraction=0.0
    )
    chosen = targets != IGNORE_INDEX
    assert chosen.sum() > 40
    assert (inputs[chosen] == TOK.mask_id).all() and np.array_equal(inputs[~chosen], ids[~chosen])
    # the same selection as BERT's split, since the draws are the same
    _, bert_targets = mask_tokens(ids, np.random.default_rng(4), TOK, 0.3)
    assert np.array_equal(bert_targets, targets)


def test_mlm_batch_passes_the_split_on():
    data = TokenData(np.arange(200) % 20, np.arange(40) % 20)
    batch = mlm_batch(
        data,
        "train",
        4,
        16,
        np.random.default_rng(5),
        TOK,
        0.5,
        mask_fraction=1.0,
        random_fraction=0.0,
    )
    chosen = batch.targets != IGNORE_INDEX
    assert chosen.any() and (batch.idx[chosen] == TOK.mask_id).all()

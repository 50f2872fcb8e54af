"""The exercises of chapter 2.2 (自监督学习, self-supervised learning): the targets a language
model is trained on, made from the text itself.

2.2.1 cuts next-token pairs (x, y) from a stream of ids at given starts; 2.2.2 hides chosen
positions behind [MASK] and makes the masked-LM targets; 2.2.3 applies BERT's 80/10/10 rule to
the chosen positions with the random draws given, so the answer is exact. The references are the
library's: text.batching.next_token_windows, text.masking.mask_at and corrupt_at (which
mask_tokens, the package's masking of a training batch, is built from).
"""

import numpy as np

from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.ops.cross_entropy import IGNORE_INDEX
from tinytransformer.text.batching import next_token_windows
from tinytransformer.text.masking import corrupt_at, mask_at

VOCAB = 20  # the cases' ids are 0..19; [MASK] is an id outside them

# --- 2.2.1 next_token_pairs -----------------------------------------------------------------------


def _pairs_case(name, ids, block_size, starts):
    return Case(
        name,
        {
            "ids": np.asarray(ids, dtype=np.int64),
            "block_size": block_size,
            "starts": np.asarray(starts, dtype=np.int64),
        },
    )


def _pairs_edge_cases():
    rng = np.random.default_rng(221)
    text = rng.integers(0, VOCAB, size=40)  # (N,)
    return [
        _pairs_case("ids 0..9, block 3, starts [0, 4]", np.arange(10) + 10, 3, [0, 4]),
        _pairs_case("the last start that fits: 10 ids, block 4, start 5", np.arange(10), 4, [5]),
        _pairs_case("block 1: one next token per start", text, 1, [0, 7, 38]),
        _pairs_case("starts out of order and repeated", text, 5, [30, 2, 30, 11]),
        _pairs_case("the window is the whole text but its last id", text, 39, [0]),
        _pairs_case("a text of one repeated id", np.full(12, 3), 4, [1, 6]),
    ]


def _pairs_random_cases(rng):
    cases = []
    for _ in range(3):
        n, T = int(rng.integers(10, 200)), int(rng.integers(1, 9))
        N = int(rng.integers(1, 6))
        starts = rng.integers(0, n - T, size=N)  # 0 .. n - T - 1
        text = rng.integers(0, VOCAB, size=n)
        cases.append(_pairs_case(f"random: {n} ids, block {T}, {N} starts", text, T, starts))
    return cases


def _pairs_variant(ids, block_size, starts, x_shift=0, y_shift=1, y_len=0):
    x = np.array([ids[s + x_shift : s + x_shift + block_size] for s in starts])  # (N, T)
    y = np.array([ids[s + y_shift : s + y_shift + block_size + y_len] for s in starts])
    return x, y


def _pairs_shapes(inputs, got):
    want = (len(inputs["starts"]), inputs["block_size"])
    if len(got) != 2:
        return None
    shapes = tuple(np.shape(g) for g in got)
    return None if shapes == (want, want) else f"their shapes are {shapes}, not {want} each"


def _y_is_x_moved_on(inputs, got):
    x, y = (np.asarray(g) for g in got)
    if x.shape != y.shape or x.ndim != 2:
        return None  # said by the shape property
    if np.array_equal(y[:, :-1], x[:, 1:]):
        return None
    return "y[:, :-1] is not x[:, 1:]: each target must be the id that follows its input"


NEXT_TOKEN_PAIRS = Exercise(
    id="2.2.1",
    title="next-token pairs (x, y) cut from raw text at given starts",
    signature="next_token_pairs(ids, block_size, starts)",
    outputs=("x", "y"),
    reference=next_token_windows,
    edge_cases=_pairs_edge_cases,
    random_cases=_pairs_random_cases,
    library=(
        "tinytransformer.text.batching.next_token_windows",
        "tinytransformer.text.batching.TokenData.get_batch",
        "tinytransformer.text.batching._windows",
    ),
    mistakes=(
        Mistake(
            "y is x itself (the targets not shifted)",
            lambda ids, block_size, starts: _pairs_variant(ids, block_size, starts, y_shift=0),
            "A model trained to output its own input learns nothing about language: the target "
            "of position t is the NEXT id, ids[s + t + 1].",
        ),
        Mistake(
            "the starts ignored: windows at 0, 1, 2, ...",
            lambda ids, block_size, starts: _pairs_variant(ids, block_size, np.arange(len(starts))),
            "Window i starts at starts[i], wherever that is in the text (starts may repeat and "
            "need not be in order).",
        ),
        Mistake(
            "x moved on instead of y: x = ids[s + 1 : ...], y = ids[s : ...]",
            lambda ids, block_size, starts: _pairs_variant(
                ids, block_size, starts, x_shift=1, y_shift=0
            ),
            "x[i] starts at s itself: x[i] = ids[s : s + block_size]; y is x moved one on.",
        ),
        Mistake(
            "y one id longer than x",
            lambda ids, block_size, starts: _pairs_variant(ids, block_size, starts, y_len=1),
            "Both windows have block_size ids: y[i] = ids[s + 1 : s + block_size + 1].",
        ),
    ),
    properties=(
        Property("x and y are (len(starts), block_size) each", _pairs_shapes),
        Property("y[:, :-1] equals x[:, 1:]: y is x moved one id on", _y_is_x_moved_on),
    ),
    formula="x[i] = ids[s : s + block_size], y[i] = ids[s + 1 : s + block_size + 1] with "
    "s = starts[i]; e.g. index = starts[:, None] + np.arange(block_size), then ids[index] and "
    "ids[index + 1].",
    tolerance=0.0,  # ids are exact
)


# --- 2.2.2 mlm_targets ----------------------------------------------------------------------------


def _targets_case(name, ids, positions, mask_id=VOCAB):
    inputs = {"ids": np.asarray(ids, dtype=np.int64), "positions": np.asarray(positions, np.int64)}
    return Case(name, {**inputs, "mask_id": mask_id})


def _targets_edge_cases():
    rng = np.random.default_rng(222)
    text = rng.integers(0, VOCAB, size=12)
    return [
        _targets_case("ids 5..10, positions [1, 4]", np.arange(5, 11), [1, 4]),
        _targets_case("no position chosen", text, []),
        _targets_case("every position chosen, in reverse", text, np.arange(12)[::-1]),
        _targets_case("the first and the last position", text, [11, 0]),
        _targets_case("one id: position 0", [7], [0]),
        _targets_case("a repeated id, one of its copies chosen", [4, 4, 4, 9, 4], [2], 99),
        _targets_case("id 0 chosen (a target of 0 is not 'nothing')", [0, 3, 0, 5], [0, 3]),
    ]


def _targets_random_cases(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(2, 60))
        text = rng.integers(0, VOCAB, size=n)
        k = int(rng.integers(1, n + 1))
        positions = rng.permutation(n)[:k]  # distinct, in random order
        cases.append(_targets_case(f"random: {n} ids, {k} chosen", text, positions))
    return cases


def _targets_variant(ids, positions, mask_id, fill=IGNORE_INDEX, after=False, outside=False):
    inputs = ids.copy()
    inputs[positions] = mask_id
    targets = np.full_like(ids, fill) if not outside else ids.copy()
    if outside:
        targets[positions] = IGNORE_INDEX
    else:
        targets[positions] = (inputs if after else ids)[positions]
    return inputs, targets


def _unchosen_kept(inputs, got):
    ids = inputs["ids"]
    if len(got) < 1 or np.shape(got[0]) != ids.shape:
        return None
    others = np.setdiff1d(np.arange(len(ids)), inputs["positions"])
    moved = others[np.asarray(got[0])[others] != ids[others]]
    return None if not moved.size else f"inputs[{moved[0]}] changed, but it was not chosen"


def _both_like_ids(inputs, got):
    shapes = [np.shape(g) for g in got]
    want = inputs["ids"].shape
    return None if shapes == [want, want] else f"their shapes are {shapes}, not {want} each"


MLM_TARGETS = Exercise(
    id="2.2.2",
    title="masked-LM inputs and targets: hide the chosen positions",
    signature="mlm_targets(ids, positions, mask_id)",
    outputs=("inputs", "targets"),
    reference=mask_at,
    edge_cases=_targets_edge_cases,
    random_cases=_targets_random_cases,
    library=(
        "tinytransformer.text.masking.mask_at",
        "tinytransformer.text.masking.corrupt_at",
        "tinytransformer.text.masking.targets_at",
        "tinytransformer.text.masking.mask_tokens",
        "tinytransformer.text.masking._corrupt",
        "tinytransformer.text.masking._targets",
    ),
    mistakes=(
        Mistake(
            "targets hold the ids everywhere (nothing is -100)",
            lambda ids, positions, mask_id: (
                _targets_variant(ids, positions, mask_id)[0],
                ids.copy(),
            ),
            "Only the hidden positions are predicted: the loss ignores every position whose "
            "target is -100, so every other position must hold -100.",
        ),
        Mistake(
            "0 instead of -100 where nothing is predicted",
            lambda ids, positions, mask_id: _targets_variant(ids, positions, mask_id, fill=0),
            "0 is an ordinary id: a target of 0 asks the model to predict id 0 there. The "
            "cross-entropy skips -100 (IGNORE_INDEX).",
        ),
        Mistake(
            "targets read after masking: mask_id instead of the original id",
            lambda ids, positions, mask_id: _targets_variant(ids, positions, mask_id, after=True),
            "The target is what was hidden, the ORIGINAL id: take it from ids, not from the "
            "inputs after [MASK] was written into them.",
        ),
        Mistake(
            "targets the other way round: -100 at the chosen positions, ids elsewhere",
            lambda ids, positions, mask_id: _targets_variant(ids, positions, mask_id, outside=True),
            "The model predicts what it cannot see: the chosen positions hold the original id, "
            "every other one -100.",
        ),
    ),
    properties=(
        Property("inputs and targets are both shaped like ids", _both_like_ids),
        Property("inputs equal ids at every position that was not chosen", _unchosen_kept),
    ),
    formula="inputs = ids.copy(); inputs[positions] = mask_id; targets = np.full_like(ids, "
    "-100); targets[positions] = ids[positions].",
    tolerance=0.0,
)


# --- 2.2.3 mlm_corrupt ----------------------------------------------------------------------------


def _corrupt_case(name, ids, positions, u, random_ids, mask_id=VOCAB):
    inputs = {
        "ids": np.asarray(ids, dtype=np.int64),
        "positions": np.asarray(positions, dtype=np.int64),
        "u": np.asarray(u, dtype=np.float64),
        "random_ids": np.asarray(random_ids, dtype=np.int64),
        "mask_id": mask_id,
    }
    return Case(name, inputs)


def _corrupt_edge_cases():
    rng = np.random.default_rng(223)
    text = rng.integers(0, 10, size=16)  # ids 0..9, so a random id 10..19 is always different
    return [
        _corrupt_case(
            "one of each: [MASK], random, kept",
            np.arange(6),
            [1, 3, 4],
            [0.5, 0.85, 0.95],
            [15, 16, 17],
        ),
        _corrupt_case(
            "positions not sorted: draw k belongs to positions[k]",
            text,
            [12, 3, 7, 0, 9],
            [0.95, 0.1, 0.83, 0.87, 0.6],
            [11, 12, 13, 14, 15],
        ),
        _corrupt_case(
            "draws at the bounds: 0.0, 0.8 (random: [MASK] is u < 0.8), 0.9 + 1e-9",
            text,
            [2, 5, 8],
            [0.0, 0.8, 0.9 + 1e-9],
            [19, 18, 17],
        ),
        _corrupt_case("no position chosen", text, [], [], []),
        _corrupt_case("all [MASK]", text[:4], [3, 2, 1, 0], [0.1, 0.2, 0.3, 0.4], [10] * 4),
        _corrupt_case(
            "all random, one random id equal to the original",
            [4, 5, 6],
            [0, 1, 2],
            [0.81, 0.82, 0.89],
            [14, 5, 16],
        ),
        # not u = 0.9 itself: 0.8 + 0.1 is 0.9000000000000001 in floating point, a knife edge
        _corrupt_case("all kept: the inputs are the ids", text[:5], [4, 1], [0.99, 0.91], [11, 12]),
    ]


def _corrupt_random_cases(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(3, 60))
        text = rng.integers(0, 10, size=n)
        k = int(rng.integers(3, n + 1))
        positions = rng.permutation(n)[:k]
        u = rng.random(k)
        u[:3] = [0.4, 0.85, 0.95]  # at least one of each kind, then shuffled with the rest
        u = rng.permutation(u)
        random_ids = rng.integers(10, VOCAB, size=k)
        cases.append(_corrupt_case(f"random: {n} ids, {k} chosen", text, positions, u, random_ids))
    return cases


def _corrupt_variant(ids, positions, u, random_ids, mask_id, kind):
    inputs, targets = ids.copy(), np.full_like(ids, IGNORE_INDEX)
    if kind == "sorted":
        positions = np.sort(positions)  # the draws then go to the wrong positions
    for k, p in enumerate(positions):
        targets[p] = ids[p]
        if kind == "all mask" or u[k] < 0.8:
            inputs[p] = mask_id
        elif (u[k] < 0.9) != (kind == "swapped"):
            inputs[p] = random_ids[k]
        if kind == "targets at mask" and u[k] >= 0.8:
            targets[p] = IGNORE_INDEX
    return inputs, targets


def _corrupt_mistake(name, kind, advice):
    def answer(ids, positions, u, random_ids, mask_id):
        return _corrupt_variant(ids, positions, u, random_ids, mask_id, kind)

    return Mistake(name, answer, advice)


def _chosen_inputs_allowed(inputs, got):
    ids, positions = inputs["ids"], inputs["positions"]
    if len(got) < 1 or np.shape(got[0]) != ids.shape:
        return None
    out = np.asarray(got[0])
    for k, p in enumerate(positions):
        if out[p] not in (inputs["mask_id"], inputs["random_ids"][k], ids[p]):
            return f"inputs[{p}] is {out[p]}: neither mask_id, random_ids[{k}] nor the original"
    return None


def _targets_are_2_2_2s(inputs, got):
    if len(got) < 2:
        return None
    _, want = mask_at(inputs["ids"], inputs["positions"], inputs["mask_id"])
    g = np.asarray(got[1])
    if g.shape != want.shape or np.array_equal(g, want):
        return None
    wrong = int(np.flatnonzero(g != want)[0])
    return f"targets[{wrong}] is {g[wrong]}; the targets are exactly 2.2.2's"


MLM_CORRUPT = Exercise(
    id="2.2.3",
    title="BERT's 80/10/10 rule with the random draws given",
    signature="mlm_corrupt(ids, positions, u, random_ids, mask_id)",
    outputs=("inputs", "targets"),
    reference=corrupt_at,
    edge_cases=_corrupt_edge_cases,
    random_cases=_corrupt_random_cases,
    library=(
        "tinytransformer.text.masking.corrupt_at",
        "tinytransformer.text.masking.mask_at",
        "tinytransformer.text.masking.targets_at",
        "tinytransformer.text.masking.mask_tokens",
        "tinytransformer.text.masking._corrupt",
        "tinytransformer.text.masking._targets",
    ),
    mistakes=(
        _corrupt_mistake(
            "targets only at the [MASK]ed positions",
            "targets at mask",
            "The model must predict the original at EVERY chosen position, also where it sees a "
            "random id or the original itself: that is what makes it keep a good guess at "
            "positions without [MASK], the only kind there is after pretraining.",
        ),
        _corrupt_mistake(
            "the draws applied to the positions in sorted order",
            "sorted",
            "Draw k belongs to positions[k], in the order given: do not sort the positions "
            "without sorting u and random_ids the same way.",
        ),
        _corrupt_mistake(
            "random and kept swapped (0.8 <= u < 0.9 kept, u >= 0.9 random)",
            "swapped",
            "0.8 <= u[k] < 0.9 -> random_ids[k]; u[k] >= 0.9 -> the original id stays.",
        ),
        _corrupt_mistake(
            "every chosen position [MASK]ed (the 10% and 10% ignored)",
            "all mask",
            "Only u[k] < 0.8 gives [MASK]; 0.8 <= u[k] < 0.9 gives random_ids[k], and from 0.9 "
            "on the original id is kept.",
        ),
    ),
    properties=(
        Property("inputs and targets are both shaped like ids", _both_like_ids),
        Property("inputs equal ids at every position that was not chosen", _unchosen_kept),
        Property(
            "the k-th chosen input is mask_id, random_ids[k] or the original id",
            _chosen_inputs_allowed,
        ),
        Property(
            "targets are as in 2.2.2 (the original id at every chosen position)",
            _targets_are_2_2_2s,
        ),
    ),
    formula="inputs = ids.copy(); for k, p in enumerate(positions): u[k] < 0.8 -> inputs[p] = "
    "mask_id; 0.8 <= u[k] < 0.9 -> inputs[p] = random_ids[k]; else unchanged. targets = "
    "np.full_like(ids, -100); targets[positions] = ids[positions].",
    tolerance=0.0,
)

EXERCISES = [NEXT_TOKEN_PAIRS, MLM_TARGETS, MLM_CORRUPT]

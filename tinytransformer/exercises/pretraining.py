"""The exercises of chapter 3.1 (预训练流程, pretraining step by step): BPE training's two steps
and the learning-rate schedule.

The references are the library's: text.bpe.pair_counts and merge_pair (the functions
BPETokenizer.train counts and merges with) and training.schedule.get_lr (the rate every run of
the package trains at). Ids are lists of Python ints, as the BPE trainer holds them; a pair is a
tuple of two ids.
"""

import math

import numpy as np

from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.text.bpe import merge_pair, pair_counts
from tinytransformer.training.schedule import get_lr

# --- 3.1.1 pair_counts ----------------------------------------------------------------------------


def _ids_case(name, ids):
    return Case(name, {"ids": [int(i) for i in ids]})


def _counts_edge_cases():
    return [
        _ids_case("no ids: []", []),
        _ids_case("one id: [5]", [5]),
        _ids_case("two ids: [4, 2]", [4, 2]),
        _ids_case("a run of three: [1, 1, 1]", [1, 1, 1]),
        _ids_case("a run of four: [1, 1, 1, 1]", [1, 1, 1, 1]),
        _ids_case("both orders: [1, 2, 1]", [1, 2, 1]),
        _ids_case("alternating: [3, 1, 3, 1, 3]", [3, 1, 3, 1, 3]),
        _ids_case('the bytes of "aaabdaaabac"', list(b"aaabdaaabac")),
        _ids_case('the bytes of "the cat sat"', list(b"the cat sat")),
    ]


def _random_ids(rng, n_max=30):
    alphabet = int(rng.integers(2, 6))
    return [int(i) for i in rng.integers(0, alphabet, size=int(rng.integers(2, n_max)))]


def _counts_random_cases(rng):
    cases = []
    for _ in range(4):
        ids = _random_ids(rng)
        cases.append(_ids_case(f"random: {len(ids)} ids of {len(set(ids))} kinds", ids))
    return cases


def _is_a_dict_of_counts(inputs, got):
    d = got[0]
    if type(d) is not dict:
        return f"it is a {type(d).__name__} (dict(counter) turns a Counter into one)"
    for key, n in d.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            return f"the key {key!r} is not a pair (a tuple of two ids)"
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            return f"the count of {key!r} is {n!r}, not a whole number of at least 1"
    return None


def _sum_is_pairs(inputs, got):
    d, n = got[0], len(inputs["ids"])
    if type(d) is not dict:
        return None  # said by the first property
    total = sum(d.values())
    want = max(n - 1, 0)
    return None if total == want else f"the counts add up to {total}, not to {want}"


def _keys_are_neighbours(inputs, got):
    d, ids = got[0], inputs["ids"]
    if type(d) is not dict:
        return None
    neighbours = set(zip(ids, ids[1:], strict=False))
    extra = [k for k in d if k not in neighbours]
    return None if not extra else f"{extra[0]!r} is not two neighbours of ids, in that order"


PAIR_COUNTS = Exercise(
    id="3.1.1",
    title="count the adjacent pairs of a list of ids",
    signature="pair_counts(ids)",
    outputs=("counts",),
    reference=pair_counts,
    edge_cases=_counts_edge_cases,
    random_cases=_counts_random_cases,
    library=("tinytransformer.text.bpe.pair_counts",),
    mistakes=(
        Mistake(
            "pairs taken two at a time: (ids[0], ids[1]), (ids[2], ids[3]), ...",
            lambda ids: dict(_count(zip(ids[0::2], ids[1::2], strict=False))),
            "Every position but the last starts a pair: n ids hold n - 1 pairs, and neighbouring "
            "pairs share an id. [1, 1, 1] holds (1, 1) twice.",
        ),
        Mistake(
            "each distinct pair counted once",
            lambda ids: {pair: 1 for pair in zip(ids, ids[1:], strict=False)},
            "The count is how often the pair occurs: BPE merges the most frequent one, so a set "
            "of the pairs is not enough.",
        ),
        Mistake(
            "the last id paired with the first",
            lambda ids: dict(_count(zip(ids, ids[1:] + ids[:1], strict=False))) if ids else {},
            "The ids are a piece of text, not a ring: the last one has no right neighbour.",
        ),
        Mistake(
            "(a, b) and (b, a) counted as one pair",
            lambda ids: dict(_count(tuple(sorted(p)) for p in zip(ids, ids[1:], strict=False))),
            "Order matters: 'ab' and 'ba' are different pairs, merged into different tokens.",
        ),
    ),
    properties=(
        Property("a dict of pairs (tuples of two ids) -> whole counts", _is_a_dict_of_counts),
        Property("the counts add up to len(ids) - 1, one pair per neighbouring two", _sum_is_pairs),
        Property("every key is two neighbours of ids, left one first", _keys_are_neighbours),
    ),
    formula="for each i in 0 .. len(ids) - 2, add 1 to counts[(ids[i], ids[i + 1])] "
    "(counts starting empty).",
    tolerance=0.0,
)


def _count(pairs):
    counts = {}
    for pair in pairs:
        counts[pair] = counts.get(pair, 0) + 1
    return counts


# --- 3.1.2 merge_pair -----------------------------------------------------------------------------


def _merge_case(name, ids, pair, new_id=256):
    pair = (int(pair[0]), int(pair[1]))
    return Case(name, {"ids": [int(i) for i in ids], "pair": pair, "new_id": int(new_id)})


def _merge_edge_cases():
    return [
        _merge_case("a run of three: [1, 1, 1], (1, 1)", [1, 1, 1], (1, 1), 9),
        _merge_case("a run of four: [1, 1, 1, 1], (1, 1)", [1, 1, 1, 1], (1, 1), 9),
        _merge_case("a run of five: [2, 2, 2, 2, 2], (2, 2)", [2, 2, 2, 2, 2], (2, 2), 7),
        _merge_case("no ids", [], (1, 2)),
        _merge_case("one id: [1], (1, 1)", [1], (1, 1)),
        _merge_case("the pair absent: [1, 3, 2], (1, 2)", [1, 3, 2], (1, 2)),
        _merge_case("only the other order: [2, 1], (1, 2)", [2, 1], (1, 2)),
        _merge_case("the pair at the end: [3, 1, 2], (1, 2)", [3, 1, 2], (1, 2)),
        _merge_case("three times: [1, 2, 1, 2, 0, 1, 2], (1, 2)", [1, 2, 1, 2, 0, 1, 2], (1, 2)),
        _merge_case('"aaabdaaabac", (a, a)', list(b"aaabdaaabac"), (97, 97)),
        _merge_case('"aaabdaaabac", (a, b)', list(b"aaabdaaabac"), (97, 98), 257),
    ]


def _merge_random_cases(rng):
    cases = []
    for k in range(4):
        ids = _random_ids(rng)
        i = int(rng.integers(0, len(ids) - 1))
        pair = (ids[i], ids[i + 1])  # a pair that occurs, so that something is merged
        cases.append(_merge_case(f"random: {len(ids)} ids, the pair {pair}", ids, pair, 256 + k))
    return cases


def _merge_variant(ids, pair, new_id, step=2, reverse=False, first_only=False, both=False):
    a, b = pair
    seq = ids[::-1] if reverse else list(ids)
    if reverse:
        a, b = b, a
    out, i, n, merged = [], 0, len(seq), False
    while i < n:
        match = i + 1 < n and (seq[i], seq[i + 1]) == (a, b)
        match = match or (both and i + 1 < n and (seq[i], seq[i + 1]) == (b, a))
        if match and not (first_only and merged):
            out.append(new_id)
            i += step
            merged = True
        else:
            out.append(seq[i])
            i += 1
    return out[::-1] if reverse else out


def _last_dropped(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _is_a_list(inputs, got):
    out = got[0]
    if type(out) is not list:
        return f"it is a {type(out).__name__}"
    return None


def _expands_back(inputs, got):
    out, (a, b), new = got[0], inputs["pair"], inputs["new_id"]
    if type(out) is not list:
        return None
    back = [x for i in out for x in ((a, b) if i == new else (i,))]
    if back == inputs["ids"]:
        return None
    return f"writing each {new} as {a}, {b} gives {back[:12]}, not ids {inputs['ids'][:12]}"


def _no_pair_left(inputs, got):
    out, pair = got[0], tuple(inputs["pair"])
    if type(out) is not list:
        return None
    left = [i for i in range(len(out) - 1) if (out[i], out[i + 1]) == pair]
    return None if not left else f"the pair {pair} is still there, at position {left[0]}"


MERGE_PAIR = Exercise(
    id="3.1.2",
    title="replace every occurrence of a pair by a new id, left to right without overlap",
    signature="merge_pair(ids, pair, new_id)",
    outputs=("merged",),
    reference=merge_pair,
    edge_cases=_merge_edge_cases,
    random_cases=_merge_random_cases,
    library=("tinytransformer.text.bpe.merge_pair", "tinytransformer.text.bpe.apply_merges"),
    mistakes=(
        Mistake(
            "one step on after a merge, not two: ids were merged twice",
            lambda ids, pair, new_id: _merge_variant(ids, pair, new_id, step=1),
            "A merge uses up both ids of the pair: move past the two of them, so that the right "
            "one cannot start another pair ([1, 1, 1] -> [new_id, 1]).",
        ),
        Mistake(
            "scanned from the right",
            lambda ids, pair, new_id: _merge_variant(ids, pair, new_id, reverse=True),
            "Where occurrences overlap ([1, 1, 1] with (1, 1)) the leftmost wins: scan from the "
            "left, as tiktoken and the BPE trainer do.",
        ),
        Mistake(
            "only the first occurrence merged",
            lambda ids, pair, new_id: _merge_variant(ids, pair, new_id, first_only=True),
            "A merge replaces every occurrence of the pair, all the way to the end of ids.",
        ),
        Mistake(
            "the pair matched in either order",
            lambda ids, pair, new_id: _merge_variant(ids, pair, new_id, both=True),
            "(a, b) is the left id a followed by b: b followed by a is another pair.",
        ),
        Mistake(
            "the last id dropped when it ends no pair",
            _last_dropped,
            "A loop over i < len(ids) - 1 never copies the last id when it is not the end of a "
            "merged pair: copy what is left after the loop.",
        ),
    ),
    properties=(
        Property("a list of ids", _is_a_list),
        Property("writing each new_id as the pair again gives back ids", _expands_back),
        Property("no occurrence of the pair is left", _no_pair_left),
    ),
    formula="walk i from 0: if ids[i], ids[i + 1] is the pair, append new_id and move i on by "
    "2; else append ids[i] and move on by 1.",
    tolerance=0.0,
)


# --- 3.1.3 get_lr ---------------------------------------------------------------------------------


def _lr_case(name, it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    inputs = {
        "it": int(it),
        "learning_rate": float(learning_rate),
        "warmup_iters": int(warmup_iters),
        "lr_decay_iters": int(lr_decay_iters),
        "min_lr": float(min_lr),
    }
    return Case(name, inputs)


def _lr_edge_cases():
    return [
        _lr_case("the first step of a warm-up of 10", 0, 1e-3, 10, 110, 1e-4),
        _lr_case("the last warm-up step", 9, 1e-3, 10, 110, 1e-4),
        _lr_case("the first step of the decay: the peak", 10, 1e-3, 10, 110, 1e-4),
        _lr_case("a quarter of the way down", 35, 1e-3, 10, 110, 1e-4),
        _lr_case("near the end of the decay", 100, 1e-3, 10, 110, 1e-4),
        _lr_case("at lr_decay_iters", 110, 1e-3, 10, 110, 1e-4),
        _lr_case("after the decay", 5000, 1e-3, 10, 110, 1e-4),
        _lr_case("no warm-up, step 0", 0, 6e-4, 0, 50, 6e-5),
        _lr_case("no warm-up, step 20", 20, 6e-4, 0, 50, 6e-5),
        _lr_case("a decay to 0", 70, 3e-4, 20, 200, 0.0),
        _lr_case("warm-up as long as the decay, in the warm-up", 3, 1e-3, 5, 5, 1e-5),
        _lr_case("warm-up as long as the decay, at its end", 5, 1e-3, 5, 5, 1e-5),
        _lr_case("min_lr = learning_rate: constant after warm-up", 30, 1e-3, 10, 100, 1e-3),
    ]


def _lr_random_cases(rng):
    cases = []
    for where in ("warm-up", "decay", "decay", "after"):
        warmup = int(rng.integers(1, 200))
        decay = warmup + int(rng.integers(1, 2000))
        lr = float(10 ** rng.uniform(-5, -2))
        min_lr = lr * float(rng.uniform(0.0, 0.5))
        it = {
            "warm-up": int(rng.integers(0, warmup)),
            "decay": int(rng.integers(warmup, decay)),
            "after": int(rng.integers(decay, decay + 1000)),
        }[where]
        name = f"random, in the {where}: it {it}, warm-up {warmup}, decay to {decay}"
        cases.append(_lr_case(name, it, lr, warmup, decay, min_lr))
    return cases


def _lr_variant(
    it, learning_rate, warmup_iters, lr_decay_iters, min_lr, warm="+1", floor=True, shape="cos"
):
    if it < warmup_iters:
        if warm == "+1":
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if warm == "it":
            return learning_rate * it / warmup_iters
        return learning_rate * (it + 1) / warmup_iters
    if it >= lr_decay_iters:
        return min_lr if floor else 0.0
    if shape == "from 0":
        ratio = it / lr_decay_iters
    else:
        ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 1.0 - ratio if shape == "linear" else 0.5 * (1.0 + math.cos(math.pi * ratio))
    return (min_lr if floor else 0.0) + coeff * (learning_rate - (min_lr if floor else 0.0))


def _lr_mistake(name, advice, **variant):
    def answer(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
        return _lr_variant(it, learning_rate, warmup_iters, lr_decay_iters, min_lr, **variant)

    return Mistake(name, answer, advice)


def _a_number(inputs, got):
    lr = got[0]
    if isinstance(lr, bool) or not isinstance(lr, int | float | np.floating | np.integer):
        return f"it is a {type(lr).__name__}"
    return None if math.isfinite(lr) else f"it is {lr}"


def _below_the_peak(inputs, got):
    lr = got[0]
    if _a_number(inputs, got) is not None:
        return None
    if 0.0 <= lr <= inputs["learning_rate"] * (1 + 1e-12):
        return None
    return f"it is {lr:.6g}, outside [0, learning_rate = {inputs['learning_rate']:.6g}]"


def _not_below_the_floor(inputs, got):
    lr, x = got[0], inputs
    if _a_number(inputs, got) is not None or x["it"] < x["warmup_iters"]:
        return None
    if lr >= x["min_lr"] * (1 - 1e-12):
        return None
    return f"at it {x['it']}, after the warm-up, it is {lr:.6g}, below min_lr = {x['min_lr']:.6g}"


def _min_lr_after(inputs, got):
    lr, x = got[0], inputs
    if _a_number(inputs, got) is not None or x["it"] < x["lr_decay_iters"]:
        return None
    if abs(lr - x["min_lr"]) <= 1e-12 * max(x["min_lr"], 1e-300):
        return None
    return f"at it {x['it']} >= lr_decay_iters it is {lr:.6g}, not min_lr = {x['min_lr']:.6g}"


GET_LR = Exercise(
    id="3.1.3",
    title="the learning rate of a step: linear warm-up, cosine decay, a floor",
    signature="get_lr(it, learning_rate, warmup_iters, lr_decay_iters, min_lr)",
    outputs=("lr",),
    reference=get_lr,
    edge_cases=_lr_edge_cases,
    random_cases=_lr_random_cases,
    library=(
        "tinytransformer.training.schedule.get_lr",
        "tinytransformer.training.schedule.Schedule",
    ),
    mistakes=(
        _lr_mistake(
            "warm-up learning_rate * it / warmup_iters: the first step's rate is 0",
            "A step at rate 0 is a step wasted: the package's warm-up is "
            "learning_rate * (it + 1) / (warmup_iters + 1), small but not zero at it = 0, and "
            "still below the peak at the last warm-up step.",
            warm="it",
        ),
        _lr_mistake(
            "warm-up learning_rate * (it + 1) / warmup_iters: the peak comes a step early",
            "With (it + 1) / warmup_iters the last warm-up step already has the full rate; the "
            "package divides by warmup_iters + 1, so the peak is reached at it = warmup_iters.",
            warm="it+1",
        ),
        _lr_mistake(
            "a cosine decay to 0, not to min_lr",
            "The cosine runs from learning_rate down to min_lr: "
            "min_lr + coeff * (learning_rate - min_lr), and min_lr after lr_decay_iters.",
            floor=False,
        ),
        _lr_mistake(
            "a linear decay instead of the cosine",
            "The decay follows half a cosine, coeff = 0.5 * (1 + cos(pi * ratio)): flat at the "
            "start and the end, steepest in the middle.",
            shape="linear",
        ),
        _lr_mistake(
            "the decay's ratio counted from step 0, not from the end of the warm-up",
            "The decay starts when the warm-up ends: ratio = (it - warmup_iters) / "
            "(lr_decay_iters - warmup_iters), 0 at the peak and 1 at lr_decay_iters.",
            shape="from 0",
        ),
    ),
    properties=(
        Property("a finite number", _a_number),
        Property("between 0 and learning_rate", _below_the_peak),
        Property("from warmup_iters on, never below min_lr", _not_below_the_floor),
        Property("min_lr from lr_decay_iters on", _min_lr_after),
    ),
    formula="it < warmup_iters: learning_rate * (it + 1) / (warmup_iters + 1); it >= "
    "lr_decay_iters: min_lr; else ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters), "
    "min_lr + 0.5 * (1 + cos(pi * ratio)) * (learning_rate - min_lr).",
    tolerance=1e-12,
)


EXERCISES = [PAIR_COUNTS, MERGE_PAIR, GET_LR]
